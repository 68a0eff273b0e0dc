//! Live tests of netfilter's rules beside the filter chains, and of the users' own
//! ports: captures into a local port, conntrack exemptions, SNAT above MASQUERADE, a
//! mark that a policy rule routes elsewhere, a stale DNAT rule that steals a published
//! port. Each fault is made on the test's own network, asserted named (rule and
//! position) by the right check, and undone by a guard; each has a healthy twin.

use crate::common;

use common::*;

/// An iptables rule inserted at the top of `table chain`, deleted on drop.
fn insert_rule(restore: &mut Restore, table: &str, rule: &[&str]) {
    let mut add = vec!["iptables", "-t", table, "-I"];
    add.extend_from_slice(rule);
    sh(&add);
    let mut del = vec!["iptables", "-t", table, "-D"];
    del.extend_from_slice(rule);
    restore.push(&del);
}

#[test]
fn fault_notrack_on_the_way_out_is_named() {
    let Some(_live) = live() else { return };
    let net = TestNet::new("notrack");
    let subnet = net.subnet.to_string();
    let mut restore = Restore::default();
    let rule = [
        "PREROUTING",
        "-s",
        &subnet,
        "-d",
        "198.18.0.0/15",
        "-m",
        "comment",
        "--comment",
        "netcheck-test",
        "-j",
        "NOTRACK",
    ];
    insert_rule(&mut restore, "raw", &rule);
    let run = netcheck(&["--network", &net.name]);
    assert_only(
        &run,
        "nat.masquerade",
        &format!("raw PREROUTING rule 1 `-A PREROUTING -s {subnet} -d 198.18.0.0/15"),
        &[],
    );
    assert!(
        run.message("nat.masquerade")
            .contains("exempts the network's traffic from connection tracking")
    );
    capture_fixture("fault-nat.masquerade-notrack", &["--network", &net.name]);
    drop(restore);
    assert_healthy(&netcheck(&["--network", &net.name]));
}

#[test]
fn fault_redirect_capturing_container_traffic_is_named() {
    let Some(_live) = live() else { return };
    let mut net = TestNet::new("redirect");
    // A container besides the probe: bridge.icc has something to connect from.
    net.sleeper("app");
    let subnet = net.subnet.to_string();
    // Healthy twin: a capture for another source matches no container traffic.
    {
        let mut restore = Restore::default();
        let rule = [
            "PREROUTING",
            "-s",
            "192.0.2.0/24",
            "-p",
            "tcp",
            "-m",
            "comment",
            "--comment",
            "netcheck-test",
            "-j",
            "REDIRECT",
            "--to-ports",
            "9",
        ];
        insert_rule(&mut restore, "nat", &rule);
        assert_healthy(&netcheck(&["--network", &net.name]));
        capture_fixture(
            "healthy-redirect-matching-no-container",
            &["--network", &net.name],
        );
    }
    let mut restore = Restore::default();
    let rule = [
        "PREROUTING",
        "-s",
        &subnet,
        "-d",
        "198.18.0.0/15",
        "-p",
        "tcp",
        "-m",
        "comment",
        "--comment",
        "netcheck-test",
        "-j",
        "REDIRECT",
        "--to-ports",
        "9",
    ];
    insert_rule(&mut restore, "nat", &rule);
    let run = netcheck(&["--network", &net.name]);
    assert_only(
        &run,
        "nat.masquerade",
        &format!("nat PREROUTING rule 1 `-A PREROUTING -s {subnet} -d 198.18.0.0/15 -p tcp"),
        &[],
    );
    capture_fixture(
        "fault-nat.masquerade-redirect-captures",
        &["--network", &net.name],
    );
    drop(restore);
    assert_healthy(&netcheck(&["--network", &net.name]));
}

#[test]
fn fault_snat_above_masquerade_is_named_by_rule() {
    let Some(_live) = live() else { return };
    let net = TestNet::new("snat");
    let subnet = net.subnet.to_string();
    // docker0's address: the host's, so replies come back, but neither the address
    // of the outside link nor one of the network's.
    let addr = sh(&["ip", "-4", "-o", "addr", "show", "dev", "docker0"]);
    let to = addr
        .split_whitespace()
        .nth(3)
        .and_then(|a| a.split('/').next())
        .expect("docker0 has an address")
        .to_string();
    let mut restore = Restore::default();
    let rule = [
        "POSTROUTING",
        "-s",
        &subnet,
        "-d",
        "198.18.0.0/15",
        "-m",
        "comment",
        "--comment",
        "netcheck-test",
        "-j",
        "SNAT",
        "--to-source",
        &to,
    ];
    insert_rule(&mut restore, "nat", &rule);
    let run = netcheck(&["--network", &net.name]);
    assert_only(
        &run,
        "nat.masquerade",
        &format!("nat POSTROUTING rule 1 `-A POSTROUTING -s {subnet} -d 198.18.0.0/15"),
        &[],
    );
    assert!(
        run.message("nat.masquerade")
            .contains("above Docker's MASQUERADE")
    );
    capture_fixture(
        "fault-nat.masquerade-snat-above-masquerade",
        &["--network", &net.name],
    );
    drop(restore);
    assert_healthy(&netcheck(&["--network", &net.name]));
}

/// A free port on loopback now, for a test container to publish.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn fault_stale_dnat_steals_a_users_published_port() {
    let Some(_live) = live() else { return };
    let net = TestNet::new("userport");
    let port = free_port().to_string();
    let app = format!("{}-app", net.name);
    let mut restore = Restore::default();
    restore.push(&["docker", "rm", "-f", &app]);
    // No listener behind it: a port published by a container that serves nothing yet
    // is reached all the same.
    run_sleeper(
        &app,
        &[
            "--label",
            "netcheck.test=1",
            "--network",
            &net.name,
            "-p",
            &format!("127.0.0.1:{port}:8080"),
        ],
        &[],
    );
    let healthy = netcheck(&["--network", &net.name]);
    assert_healthy(&healthy);
    let evidence = healthy.check("port.publish")["evidence"].to_string();
    assert!(
        evidence.contains(&format!("127.0.0.1:{port} of {app} (port 8080)")),
        "{evidence}"
    );
    assert!(
        evidence.contains("1 port(s) published by the running containers"),
        "{evidence}"
    );
    capture_fixture(
        "healthy-users-port-without-listener",
        &["--network", &net.name],
    );
    // A leftover rule above the engine's, to an address of the network no container
    // has: nothing leaves the bridge.
    let nowhere = format!(
        "{}:8080",
        std::net::Ipv4Addr::from(net.subnet.broadcast().to_bits() - 5)
    );
    let rule = [
        "DOCKER",
        "-d",
        "127.0.0.1/32",
        "-p",
        "tcp",
        "-m",
        "tcp",
        "--dport",
        &port,
        "-m",
        "comment",
        "--comment",
        "netcheck-test",
        "-j",
        "DNAT",
        "--to-destination",
        &nowhere,
    ];
    insert_rule(&mut restore, "nat", &rule);
    let run = netcheck(&["--network", &net.name]);
    assert_only(
        &run,
        "port.publish",
        &format!(
            "127.0.0.1:{port} published by {app} goes elsewhere: nat DOCKER rule 1 `-A DOCKER -d 127.0.0.1/32"
        ),
        &[],
    );
    assert!(
        run.check("port.publish")["hint"]
            .as_str()
            .unwrap()
            .contains("iptables -t nat -D DOCKER 1")
    );
    capture_fixture(
        "fault-port.publish-stale-dnat-steals-users-port",
        &["--network", &net.name],
    );
    drop(restore);
    assert_healthy(&netcheck(&["--network", &net.name]));
}

#[test]
fn fault_mark_and_policy_rule_divert_container_traffic() {
    let Some(_live) = live() else { return };
    let mut net = TestNet::new("marks");
    net.sleeper("app");
    let subnet = net.subnet.to_string();
    let mut restore = Restore::default();
    // A transparent proxy's pair: a mangle rule marks the containers' traffic to the
    // outside, and a policy rule sends marked packets to a table of its own.
    let rule = [
        "PREROUTING",
        "-s",
        &subnet,
        "-d",
        "198.18.0.0/15",
        "-m",
        "comment",
        "--comment",
        "netcheck-test",
        "-j",
        "MARK",
        "--set-mark",
        "0x2155",
    ];
    insert_rule(&mut restore, "mangle", &rule);
    sh(&[
        "ip", "rule", "add", "fwmark", "0x2155", "lookup", "2155", "priority", "2155",
    ]);
    restore.push(&[
        "ip", "rule", "del", "fwmark", "0x2155", "lookup", "2155", "priority", "2155",
    ]);
    // Healthy twin: the table throws every lookup back: the marks route nowhere special.
    sh(&["ip", "route", "add", "throw", "default", "table", "2155"]);
    restore.push(&["ip", "route", "flush", "table", "2155"]);
    assert_healthy(&netcheck(&["--network", &net.name]));
    capture_fixture(
        "healthy-marks-routing-nowhere-special",
        &["--network", &net.name],
    );
    // The proxy's table leads nowhere (its daemon is gone).
    sh(&[
        "ip",
        "route",
        "replace",
        "unreachable",
        "default",
        "table",
        "2155",
    ]);
    let run = netcheck(&["--network", &net.name]);
    assert_only(
        &run,
        "nat.masquerade",
        &format!("mangle PREROUTING rule 1 `-A PREROUTING -s {subnet} -d 198.18.0.0/15"),
        &[],
    );
    let message = run.message("nat.masquerade");
    assert!(
        message.contains("marks the network's packets 0x2155"),
        "{message}"
    );
    assert!(
        message.contains("policy rule `2155: from all fwmark 0x2155"),
        "{message}"
    );
    capture_fixture(
        "fault-nat.masquerade-mark-diverts-to-dead-table",
        &["--network", &net.name],
    );
    drop(restore);
    assert_healthy(&netcheck(&["--network", &net.name]));
}

/// An nftables table of a host's own (not iptables', not Docker's), deleted on drop.
fn nft_table(restore: &mut Restore, name: &str, chain: &str, rule: &str) {
    let _ = std::process::Command::new("nft")
        .args(["delete", "table", "inet", name])
        .output();
    sh(&["nft", "add", "table", "inet", name]);
    restore.push(&["nft", "delete", "table", "inet", name]);
    sh(&["nft", "add", "chain", "inet", name, "pre", chain]);
    let mut add = vec!["nft", "add", "rule", "inet", name, "pre"];
    add.extend(rule.split_whitespace());
    sh(&add);
}

#[test]
fn fault_nftables_notrack_and_redirect_are_named() {
    let Some(_live) = live() else { return };
    let mut net = TestNet::new("nftcause");
    net.sleeper("app");
    let subnet = net.subnet.to_string();
    // nftables' own notrack, in a table of the host's (netcheck_test*: no run's owner).
    {
        let mut restore = Restore::default();
        nft_table(
            &mut restore,
            "netcheck_test21",
            "{ type filter hook prerouting priority raw; }",
            &format!("ip saddr {subnet} ip daddr 198.18.0.0/15 notrack"),
        );
        let run = netcheck(&["--network", &net.name]);
        assert_only(
            &run,
            "nat.masquerade",
            &format!(
                "table inet netcheck_test21, chain pre (hook prerouting, priority -300): rule `ip saddr {subnet} ip daddr 198.18.0.0/15 notrack` exempts"
            ),
            &[],
        );
        assert!(
            run.check("nat.masquerade")["hint"]
                .as_str()
                .unwrap()
                .contains("nft delete rule inet netcheck_test21 pre handle")
        );
        capture_fixture(
            "fault-nat.masquerade-nft-notrack",
            &["--network", &net.name],
        );
    }
    // A transparent proxy's capture in nftables, and its healthy twin for another source.
    {
        let mut restore = Restore::default();
        nft_table(
            &mut restore,
            "netcheck_test21",
            "{ type nat hook prerouting priority dstnat - 10; }",
            "ip saddr 192.0.2.0/24 meta l4proto tcp redirect to :9",
        );
        assert_healthy(&netcheck(&["--network", &net.name]));
    }
    let mut restore = Restore::default();
    nft_table(
        &mut restore,
        "netcheck_test21",
        "{ type nat hook prerouting priority dstnat - 10; }",
        &format!("ip saddr {subnet} ip daddr 198.18.0.0/15 meta l4proto tcp redirect to :9"),
    );
    let run = netcheck(&["--network", &net.name]);
    assert_only(
        &run,
        "nat.masquerade",
        "table inet netcheck_test21, chain pre (hook prerouting, priority -110)",
        &[],
    );
    assert!(
        run.message("nat.masquerade")
            .contains("captures the network's traffic")
    );
    capture_fixture(
        "fault-nat.masquerade-nft-redirect",
        &["--network", &net.name],
    );
    drop(restore);
    assert_healthy(&netcheck(&["--network", &net.name]));
}
