//! Live fault tests of the firewall as hosts have it: a foreign nftables table that
//! drops forwarded traffic, Docker's chains removed, an OUTPUT allow-list that cuts the
//! host off from its containers; and a host with an unrelated table that must pass.
//! Each breaks the host in a guarded way (the host-wide lock held, the inverse in a
//! Drop guard) and asserts that no netcheck trace table outlives the run.

use crate::common;

use std::process::Command;

use common::*;

/// netcheck's trace tables on the host now.
fn trace_tables() -> Vec<String> {
    sh(&["nft", "list", "tables"])
        .lines()
        .filter(|l| l.contains("netcheck_trace"))
        .map(str::to_string)
        .collect()
}

/// No trace table of netcheck's is left beyond those there `before` (another
/// checkout's tests may keep one of their own while they hold the lock).
fn assert_no_trace_tables(before: &[String]) {
    let left: Vec<String> = trace_tables()
        .into_iter()
        .filter(|t| !before.contains(t))
        .collect();
    assert!(
        left.is_empty(),
        "netcheck trace tables left behind: {left:?}"
    );
}

/// An nftables table of the test's own, deleted on drop.
struct NftTable {
    family: &'static str,
    name: &'static str,
}

impl NftTable {
    fn new(family: &'static str, name: &'static str, script: &str) -> NftTable {
        assert!(name.starts_with("netcheck_test_"));
        let _ = Command::new("nft")
            .args(["delete", "table", family, name])
            .output();
        let t = NftTable { family, name };
        let mut child = Command::new("nft")
            .args(["-f", "-"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("table {family} {name} {{\n{script}\n}}\n").as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success(), "nft -f of {name}");
        t
    }
}

impl Drop for NftTable {
    fn drop(&mut self) {
        let _ = Command::new("nft")
            .args(["delete", "table", self.family, self.name])
            .output();
    }
}

/// The host's iptables rules, saved now and put back on drop with iptables-restore:
/// the way back from a flush without restarting the engine. Restoration is verified.
struct SavedRules {
    v4: String,
}

/// `iptables-save` without its comments and packet counters: what restoring must match.
fn normalized_save() -> String {
    let out = Command::new("iptables-save").output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| match l.rfind(" [") {
            Some(i) if l.starts_with(':') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

impl SavedRules {
    fn now() -> SavedRules {
        let out = Command::new("iptables-save").output().unwrap();
        assert!(out.status.success());
        SavedRules {
            v4: String::from_utf8_lossy(&out.stdout).into_owned(),
        }
    }

    fn restore(&self) {
        use std::io::Write;
        let mut child = Command::new("iptables-restore")
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(self.v4.as_bytes())
            .unwrap();
        let _ = child.wait();
    }
}

impl Drop for SavedRules {
    fn drop(&mut self) {
        self.restore();
    }
}

#[test]
fn fault_foreign_inet_forward_chain_policy_drop() {
    let Some(_live) = live() else { return };
    // A hardened /etc/nftables.conf: forward policy drop, in a table Docker does not own.
    let _table = NftTable::new(
        "inet",
        "netcheck_test_fw",
        "chain forward { type filter hook forward priority 0; policy drop; }",
    );
    let before = trace_tables();
    let run = netcheck(&["--network", "bridge"]);
    let cause = "dropped by table inet netcheck_test_fw, chain forward, policy drop";
    assert_only(&run, "firewall.forward", cause, &["nat.masquerade"]);
    // nat.masquerade names the same cause, proven by the trace of its own packets.
    assert_eq!(run.status("nat.masquerade"), "fail", "{}", run.explain());
    let masq = run.message("nat.masquerade");
    assert!(
        masq.contains(&format!("the packet trace shows it {cause}")),
        "{masq}"
    );
    assert!(!masq.contains("check ip_forward"), "{masq}");
    assert_no_trace_tables(&before);
    capture_fixture(
        "fault-firewall.forward-foreign-inet-policy-drop",
        &["--network", "bridge"],
    );
    drop(_table);
    assert_healthy(&netcheck(&["--network", "bridge"]));
    assert_no_trace_tables(&before);
}

#[test]
fn sigint_mid_trace_leaves_no_trace_table() {
    let Some(_live) = live() else { return };
    let _table = NftTable::new(
        "inet",
        "netcheck_test_int",
        "chain forward { type filter hook forward priority 0; policy drop; }",
    );
    let before = trace_tables();
    let mut child = Command::new(bin())
        .args(["--network", "bridge", "nat.masquerade"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The egress fails, so the run traces it: interrupt it while its table exists.
    let started = std::time::Instant::now();
    let mut seen = false;
    while started.elapsed() < std::time::Duration::from_secs(30) {
        if trace_tables().iter().any(|t| !before.contains(t)) {
            seen = true;
            break;
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(seen, "the run never made its trace table");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "interrupted by SIGINT");
    assert_no_trace_tables(&before);
    assert_no_leftovers();
}

#[test]
fn healthy_with_an_unrelated_accepting_table() {
    let Some(_live) = live() else { return };
    // Someone's own table: forward policy accept, one narrow drop, an output chain.
    let _table = NftTable::new(
        "inet",
        "netcheck_test_ok",
        "chain forward { type filter hook forward priority 10; policy accept; tcp dport 9 drop; }\n\
         chain out { type filter hook output priority 0; policy accept; }",
    );
    let before = trace_tables();
    let run = netcheck(&["--network", "bridge"]);
    assert_healthy(&run);
    let evidence = run.check("firewall.forward")["evidence"].to_string();
    assert!(
        evidence.contains("inet netcheck_test_ok, chain forward"),
        "{evidence}"
    );
    assert_eq!(trace_tables(), before, "a healthy run traces nothing");
}

#[test]
fn fault_dockers_nat_chains_removed() {
    let Some(_live) = live() else { return };
    let tables = trace_tables();
    let before = normalized_save();
    let saved = SavedRules::now();
    // What a firewall reload or a careless script does: Docker's nat rules and chain go.
    sh(&["iptables", "-t", "nat", "-F"]);
    sh(&["iptables", "-t", "nat", "-X", "DOCKER"]);
    let run = netcheck(&["--network", "bridge"]);
    // A verdict, not exit 2: the engine cannot publish the probe's ports, and says so.
    assert_only(
        &run,
        "port.publish",
        "the engine could not publish the probe's ports: Docker's chains are missing (nat DOCKER)",
        &["nat.masquerade"],
    );
    assert!(
        run.check("port.publish")["hint"]
            .as_str()
            .unwrap()
            .contains("systemctl restart docker"),
        "{}",
        run.explain()
    );
    assert!(
        run.message("nat.masquerade")
            .contains("no MASQUERADE rule for 172.17.0.0/16"),
        "{}",
        run.explain()
    );
    saved.restore();
    drop(saved);
    assert_eq!(
        normalized_save(),
        before,
        "iptables-restore put every rule back"
    );
    assert_healthy(&netcheck(&["--network", "bridge"]));
    assert_no_trace_tables(&tables);
}

#[test]
fn fault_output_allow_list_blocks_the_host_from_its_containers() {
    let Some(_live) = live() else { return };
    let net = TestNet::new("fwout");
    let subnet = net.subnet.to_string();
    // An egress allow-list: the host may not open connections into the network.
    let tables = trace_tables();
    let mut restore = Restore::default();
    insert_rule(
        &mut restore,
        "iptables",
        "filter",
        "OUTPUT",
        &[
            "-d",
            &subnet,
            "-m",
            "conntrack",
            "--ctstate",
            "NEW",
            "-j",
            "DROP",
        ],
    );
    let run = netcheck(&["--network", &net.name]);
    // The trace of the host's own request names the rule.
    assert_only(
        &run,
        "port.publish",
        "the packet trace shows it dropped by table ip filter, chain OUTPUT, rule",
        &[],
    );
    assert!(
        run.message("port.publish").contains(&subnet),
        "{}",
        run.explain()
    );
    assert_no_trace_tables(&tables);
    restored_and_healthy(&net, restore, "fault-port.publish-output-allow-list");
    assert_no_trace_tables(&tables);
}

/// The host's IPv6 forwarding as it was, put back on drop: the engine turns it on when
/// it makes an IPv6 network. Declared before the network, so that it is dropped after.
fn ipv6_forwarding_as_it_was() -> Restore {
    let mut restore = Restore::default();
    let before = sh(&["sysctl", "-n", "net.ipv6.conf.all.forwarding"]);
    restore.push(&[
        "sysctl",
        "-qw",
        &format!("net.ipv6.conf.all.forwarding={}", before.trim()),
    ]);
    restore
}

/// An IPv6 network, used at once: no wait here for its bridge's IPv6 address to leave
/// duplicate address detection, since netcheck waits for it itself, as a user's run
/// right after `docker network create` needs.
fn ipv6_net(tag: &str) -> TestNet {
    TestNet::named(
        &format!("netcheck-test-{tag}"),
        &["--ipv6", "--subnet", "fd00:c6:6::/64"],
    )
}

#[test]
fn healthy_ipv6_network_leaves_over_ipv6_as_the_engine_is_configured() {
    let Some(_live) = live() else { return };
    let _forwarding = ipv6_forwarding_as_it_was();
    let mut net = ipv6_net("v6ok");
    net.sleeper("app");
    let run = netcheck(&["--network", &net.name]);
    assert_healthy(&run);
    // The live IPv6 flow was made, to the outside peer's IPv6 address: NAT66 where the
    // engine's ip6tables is on, the container's own address where it routes.
    let evidence = run.check("nat.masquerade")["evidence"].to_string();
    assert!(
        evidence.contains(&format!("IPv6 from the probe's interface on {}", net.name)),
        "{evidence}"
    );
}

#[test]
fn fault_ip6tables_forward_policy_drop_is_named_for_the_ipv6_network() {
    let Some(_live) = live() else { return };
    let _forwarding = ipv6_forwarding_as_it_was();
    let mut net = ipv6_net("v6drop");
    net.sleeper("app");
    let tables = trace_tables();
    // ufw's default on a host whose engine keeps no ip6tables rules (20.10), or any
    // host firewall's: IPv6 forwarding dropped, IPv4's untouched.
    let mut fault = Restore::default();
    let policy = sh(&["sh", "-c", "ip6tables -S FORWARD | head -1 | cut -d' ' -f3"]);
    fault.push(&["ip6tables", "-P", "FORWARD", policy.trim()]);
    sh(&["ip6tables", "-P", "FORWARD", "DROP"]);
    let run = netcheck(&["--network", &net.name]);
    assert_only(&run, "firewall.forward", "ip6tables", &["nat.masquerade"]);
    let forward = run.check("firewall.forward");
    assert!(
        forward["hint"]
            .as_str()
            .unwrap()
            .contains("ip6tables -I FORWARD"),
        "{}",
        run.explain()
    );
    // The live IPv6 flow failed, and its trace names the policy: not an IPv4 fix.
    let masq = run.message("nat.masquerade");
    assert!(masq.contains("over IPv6"), "{}", run.explain());
    assert!(
        masq.contains("dropped by table ip6 filter, chain FORWARD, policy drop"),
        "{}",
        run.explain()
    );
    assert!(
        !run.check("nat.masquerade")["hint"]
            .as_str()
            .unwrap()
            .contains("net.ipv4"),
        "{}",
        run.explain()
    );
    assert_no_trace_tables(&tables);
    drop(fault);
    assert_healthy(&netcheck(&["--network", &net.name]));
}
