//! Live fault tests of the catalogue's checks (firewall, MTU, published ports, DNS, icc,
//! IPv6): each breaks the host in its check's way, asserts that the check fails and
//! names the cause, and restores the host in a guard. The kernel's sysctls and the
//! engine's warnings about them are in kernel.rs.

use crate::common;

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

use common::*;

#[test]
fn fault_forward_drop_above_dockers_jump() {
    let Some(_live) = live() else { return };
    let net = TestNet::new("fdrop");
    let subnet = net.subnet.to_string();
    let mut restore = Restore::default();
    insert_rule(
        &mut restore,
        "iptables",
        "filter",
        "FORWARD",
        &["-s", &subnet, "-j", "DROP"],
    );
    let run = netcheck(&["--network", &net.name]);
    assert_only(
        &run,
        "firewall.forward",
        "FORWARD rule 1",
        &["nat.masquerade"],
    );
    assert!(
        run.message("firewall.forward")
            .contains("before Docker's rules")
    );
    capture_fixture(
        "fault-firewall.forward-drop-above-docker",
        &["--network", &net.name],
    );
    drop(restore);

    // The same, as a site rule in DOCKER-USER.
    let mut restore = Restore::default();
    insert_rule(
        &mut restore,
        "iptables",
        "filter",
        "DOCKER-USER",
        &["-d", &subnet, "-j", "DROP"],
    );
    let run = netcheck(&["--network", &net.name]);
    assert_only(
        &run,
        "firewall.forward",
        "DOCKER-USER rule",
        &["nat.masquerade"],
    );
    restored_and_healthy(&net, restore, "fault-firewall.forward-docker-user-drop");
}

#[test]
fn fault_rule_in_the_other_iptables_backend() {
    let Some(_live) = live() else { return };
    let active = sh(&["iptables", "--version"]);
    let other = if active.contains("nf_tables") {
        "iptables-legacy"
    } else {
        "iptables-nft"
    };
    if Command::new(other).arg("--version").output().is_err() {
        assert!(!in_ci(), "{other} is needed under CI");
        return eprintln!("skipping: {other} is not installed");
    }
    let net = TestNet::new("legacy");
    let subnet = net.subnet.to_string();
    let mut restore = Restore::default();
    insert_rule(
        &mut restore,
        other,
        "filter",
        "FORWARD",
        &["-s", &subnet, "-j", "DROP"],
    );
    let run = netcheck(&["--network", &net.name]);
    // The kernel applies both backends: the network's traffic is dropped, and
    // `iptables` shows nothing of it.
    assert_only(
        &run,
        "firewall.backend",
        &format!("{other} holds a rule the kernel applies"),
        &["nat.masquerade"],
    );
    assert_eq!(run.status("firewall.forward"), "pass");
    restored_and_healthy(
        &net,
        restore,
        "fault-firewall.backend-rule-in-other-backend",
    );
}

#[test]
fn fault_network_mtu_above_the_uplinks() {
    let Some(_live) = live() else { return };
    let uplink = uplink_mtu();
    let too_big = format!("com.docker.network.driver.mtu={}", uplink + 100);
    let mut net = TestNet::named("netcheck-test-mtu", &["-o", &too_big]);
    let app = net.sleeper("app");
    let run = netcheck(&["--network", &net.name]);
    assert_only(
        &run,
        "link.mtu",
        &format!("MTU {} exceeds the uplink", uplink + 100),
        &[],
    );
    // The app names the verdict; the probe, on the same network, is evidence only and
    // is not counted as one more affected container.
    let message = run.message("link.mtu");
    assert!(
        message.contains(&app) && !message.contains("more)"),
        "{message}"
    );
    let evidence = run.check("link.mtu")["evidence"].to_string();
    assert!(evidence.contains("netcheck-probe-"), "{evidence}");
    assert!(
        run.check("link.mtu")["hint"]
            .as_str()
            .unwrap()
            .contains(&format!("com.docker.network.driver.mtu={uplink}"))
    );
    capture_fixture(
        "fault-link.mtu-network-above-uplink",
        &["--network", &net.name],
    );
    drop(net);
    // A network made to fit passes.
    let mut net = TestNet::new("mtu-fits");
    net.sleeper("app");
    assert_healthy(&netcheck(&["--network", &net.name]));
}

/// Runs `f` while a thread deletes Docker's DNAT rules to port 8080 (the probe's) as
/// soon as they appear, as a firewalld reload would; returns how many it deleted.
fn wiping_dnat<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let done = std::sync::Arc::new(AtomicBool::new(false));
    let wiper = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut wiped = 0;
            while !done.load(Ordering::Relaxed) {
                let rules = sh(&["iptables", "-t", "nat", "-S", "DOCKER"]);
                for rule in rules
                    .lines()
                    .filter(|l| l.contains("-j DNAT") && l.ends_with(":8080"))
                {
                    let mut args = vec!["-t", "nat", "-D"];
                    args.extend(rule.split_whitespace().skip(1));
                    let deleted = Command::new("iptables").args(&args).status();
                    wiped += usize::from(deleted.is_ok_and(|s| s.success()));
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            wiped
        })
    };
    let result = f();
    done.store(true, Ordering::Relaxed);
    (result, wiper.join().unwrap())
}

#[test]
fn fault_published_port_dnat_rules_wiped() {
    let Some(_live) = live() else { return };
    let net = TestNet::new("publish");
    // The probe stalls a moment, so that the wipe lands before its rules are read.
    let args = [
        "--network",
        &net.name,
        "--probe-arg",
        "--stall-ms",
        "--probe-arg",
        "1500",
    ];
    let (run, wiped) = wiping_dnat(|| netcheck(&args));
    assert!(wiped > 0, "no DNAT rule was wiped");
    assert_only(&run, "port.publish", "DNAT rule for 127.0.0.1:", &[]);
    // docker-proxy still carries the port: the evidence shows it.
    let evidence = run.check("port.publish")["evidence"].to_string();
    assert!(evidence.contains("docker-proxy 127.0.0.1:"), "{evidence}");
    assert!(
        run.check("port.publish")["hint"]
            .as_str()
            .unwrap()
            .contains("restart the Docker daemon")
    );
    wiping_dnat(|| capture_fixture("fault-port.publish-dnat-wiped", &args));
    assert_healthy(&netcheck(&["--network", &net.name]));
}

#[test]
fn fault_host_resolv_conf_only_loopback() {
    let Some(_live) = live() else { return };
    let net = TestNet::new("dns");
    // The systemd-resolved host without an upstream list: /etc/resolv.conf names only
    // 127.0.0.53. A bind mount over it, undone on drop.
    let dir = tempdir();
    let fake = dir.path().join("resolv.conf");
    std::fs::write(&fake, "nameserver 127.0.0.53\noptions edns0\n").unwrap();
    let mut restore = Restore::default();
    sh(&[
        "mount",
        "--bind",
        fake.to_str().unwrap(),
        "/etc/resolv.conf",
    ]);
    restore.push(&["umount", "/etc/resolv.conf"]);
    // A container started now, on the default bridge alone, gets the engine's fallback.
    let app = "netcheck-test-dns-bridge-app";
    run_sleeper(app, &["--label", "netcheck.test=1"], &[]);
    restore.push(&["docker", "rm", "-f", app]);
    let run = netcheck(&["--network", "bridge", "--network", &net.name]);
    // The embedded DNS of a user network forwards from the host's side, where the
    // loopback resolver is reachable: only the default bridge is caught.
    assert_only(
        &run,
        "dns.resolver[bridge]",
        "names only loopback resolvers (127.0.0.53)",
        &[],
    );
    assert!(
        run.message("dns.resolver[bridge]")
            .contains("the engine's public fallback resolvers")
    );
    assert!(
        run.check("dns.resolver[bridge]")["hint"]
            .as_str()
            .unwrap()
            .contains("daemon.json")
    );
    capture_fixture(
        "fault-dns.resolver-host-loopback-only",
        &["--network", "bridge", "--network", &net.name],
    );
    drop(restore);
    assert_healthy(&netcheck(&["--network", "bridge", "--network", &net.name]));
}

#[test]
fn fault_networks_not_isolated() {
    let Some(_live) = live() else { return };
    let mut a = TestNet::new("iso-a");
    let mut b = TestNet::new("iso-b");
    let app = a.sleeper("app");
    let db = b.sleeper("db");
    let args = ["--network", &a.name, "--network", &b.name];
    let mut restore = Restore::default();
    // A site rule that lets two networks talk, above Docker's isolation.
    for (from, to) in [(&a.bridge, &b.bridge), (&b.bridge, &a.bridge)] {
        insert_rule(
            &mut restore,
            "iptables",
            "filter",
            "DOCKER-USER",
            &["-i", from, "-o", to, "-j", "ACCEPT"],
        );
    }
    let run = netcheck(&args);
    // Isolation drops each direction on its own: it takes a rule both ways to break it,
    // and then each network reaches the other.
    assert_only(
        &run,
        &format!("bridge.icc[{}]", a.name),
        &format!("{app} on {} reaches {db}", a.name),
        &[&format!("bridge.icc[{}]", b.name)],
    );
    assert!(
        run.message(&format!("bridge.icc[{}]", b.name))
            .contains(&format!("{db} on {} reaches {app}", b.name))
    );
    assert!(
        run.message(&format!("bridge.icc[{}]", a.name))
            .contains("not isolated")
    );
    capture_fixture("fault-bridge.icc-networks-not-isolated", &args);
    drop(restore);
    let run = netcheck(&args);
    assert_healthy(&run);
    let evidence = run.check(&format!("bridge.icc[{}]", a.name))["evidence"].to_string();
    assert!(
        evidence.contains(&format!("blocked toward 1 other network(s): {}", b.name)),
        "{evidence}"
    );
}

/// A container that drops what it sends itself (a VPN client's kill switch, rules in its
/// own namespace) is bridge.icc's source: its failed connection is not the network's.
/// Its own gateway fails it too, which the probe reached, and bridge.icc says so and
/// judges nothing from it; nothing fails.
#[test]
fn a_container_that_drops_its_own_traffic_is_not_the_networks_fault() {
    let Some(_live) = live() else { return };
    let mut net = TestNet::new("own-drop");
    let app = net.sleeper("app");
    let pid = sh(&["docker", "inspect", "-f", "{{.State.Pid}}", &app]);
    // Inside the container's namespace only; the rule goes with the container.
    let netns = format!("--net=/proc/{pid}/ns/net");
    sh(&["nsenter", &netns, "iptables", "-I", "OUTPUT", "-j", "DROP"]);
    let run = netcheck(&["--network", &net.name]);
    assert_eq!(run.code, 0, "{}", run.explain());
    let icc = format!("bridge.icc[{}]", net.name);
    assert_eq!(run.status(&icc), "skip", "{}", run.explain());
    assert!(
        run.message(&icc).contains("drops what it sends itself"),
        "{}",
        run.explain()
    );
    for r in run.results() {
        assert!(
            r["id"] == icc.as_str() || fine(r),
            "{}:\n{}",
            r["id"],
            run.explain()
        );
    }
}

#[test]
fn ipv6_is_covered_where_enabled() {
    let Some(_live) = live() else { return };
    // Creating an IPv6 network turns IPv6 forwarding on: put it back afterwards.
    let mut forwarding = Restore::default();
    let before = sh(&["sysctl", "-n", "net.ipv6.conf.all.forwarding"]);
    forwarding.push(&[
        "sysctl",
        "-qw",
        &format!("net.ipv6.conf.all.forwarding={before}"),
    ]);
    let mut net = TestNet::named(
        "netcheck-test-v6",
        &["--ipv6", "--subnet", "fd00:6e63:6b::/64"],
    );
    let app = net.sleeper("app");
    let args = ["--network", "bridge", "--network", &net.name];
    let run = netcheck(&args);
    assert_healthy(&run);
    let evidence = |id: &str| run.check(id)["evidence"].to_string();
    let subnet = evidence(&format!("bridge.subnet[{}]", net.name));
    assert!(subnet.contains("IPv6 subnet fd00:6e63:6b::/64"), "{subnet}");
    assert!(subnet.contains("(IPv6, as assigned)"), "{subnet}");
    let route = evidence(&format!("container.default-route[{}]", net.name));
    assert!(
        route.contains(&format!("{app}: IPv6 default via fd00:6e63:6b::1")),
        "{route}"
    );
    let nat = evidence(&format!("nat.masquerade[{}]", net.name));
    assert!(
        nat.contains("IPv6 NAT") || nat.contains("ip6tables: nat"),
        "{nat}"
    );
    // Where IPv6 is off, the evidence says so, and nothing fails.
    assert!(evidence("bridge.subnet[bridge]").contains("IPv6: off on network bridge"));

    // The bridge loses its IPv6 gateway address.
    let gw = "fd00:6e63:6b::1/64";
    let mut restore = Restore::default();
    sh(&["ip", "-6", "addr", "del", gw, "dev", &net.bridge]);
    restore.push(&["ip", "-6", "addr", "add", gw, "dev", &net.bridge]);
    let run = netcheck(&["--network", &net.name]);
    // The probe's IPv6 flow has no gateway either: nat.masquerade names the same cause.
    assert_only(
        &run,
        "bridge.subnet",
        "carries no address in fd00:6e63:6b::/64",
        &["nat.masquerade"],
    );
    assert!(
        run.message(&format!("nat.masquerade[{}]", net.name))
            .contains("carries no address in fd00:6e63:6b::/64"),
        "{}",
        run.explain()
    );
    restored_and_healthy(&net, restore, "fault-bridge.subnet-ipv6-gateway-removed");

    // The container loses its IPv6 default route.
    let pid = sh(&["docker", "inspect", "-f", "{{.State.Pid}}", &app]);
    let mut restore = Restore::default();
    sh(&[
        "nsenter", "-t", &pid, "-n", "ip", "-6", "route", "del", "default",
    ]);
    restore.push(&[
        "nsenter",
        "-t",
        &pid,
        "-n",
        "ip",
        "-6",
        "route",
        "add",
        "default",
        "via",
        "fd00:6e63:6b::1",
        "dev",
        "eth0",
    ]);
    let run = netcheck(&["--network", &net.name]);
    assert_only(
        &run,
        "container.default-route",
        &format!("container {app} has no IPv6 default route"),
        &[],
    );
    drop(restore);
    assert_healthy(&netcheck(&["--network", &net.name]));
    drop(net);
    drop(forwarding);
}
