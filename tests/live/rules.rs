//! Live tests of netfilter's rules beside the filter chains, and of the users' own
//! ports: captures into a local port, conntrack exemptions, SNAT above MASQUERADE, a
//! mark that a policy rule routes elsewhere, a stale DNAT rule that steals a published
//! port. Each fault is made on the test's own network, asserted named (rule and
//! position) by the right check, and undone by a guard; each has a healthy twin.

use crate::common;

use common::*;

#[test]
fn fault_notrack_on_the_way_out_is_named() {
    let Some(_live) = live() else { return };
    let net = TestNet::new("notrack");
    let subnet = net.subnet.to_string();
    let mut restore = Restore::default();
    insert_rule(
        &mut restore,
        "iptables",
        "raw",
        "PREROUTING",
        &["-s", &subnet, "-d", "198.18.0.0/15", "-j", "NOTRACK"],
    );
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
    restored_and_healthy(&net, restore, "fault-nat.masquerade-notrack");
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
        insert_rule(
            &mut restore,
            "iptables",
            "nat",
            "PREROUTING",
            &[
                "-s",
                "192.0.2.0/24",
                "-p",
                "tcp",
                "-j",
                "REDIRECT",
                "--to-ports",
                "9",
            ],
        );
        assert_healthy(&netcheck(&["--network", &net.name]));
        capture_fixture(
            "healthy-redirect-matching-no-container",
            &["--network", &net.name],
        );
    }
    let mut restore = Restore::default();
    insert_rule(
        &mut restore,
        "iptables",
        "nat",
        "PREROUTING",
        &[
            "-s",
            &subnet,
            "-d",
            "198.18.0.0/15",
            "-p",
            "tcp",
            "-j",
            "REDIRECT",
            "--to-ports",
            "9",
        ],
    );
    let run = netcheck(&["--network", &net.name]);
    assert_only(
        &run,
        "nat.masquerade",
        &format!("nat PREROUTING rule 1 `-A PREROUTING -s {subnet} -d 198.18.0.0/15 -p tcp"),
        &[],
    );
    restored_and_healthy(&net, restore, "fault-nat.masquerade-redirect-captures");
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
    insert_rule(
        &mut restore,
        "iptables",
        "nat",
        "POSTROUTING",
        &[
            "-s",
            &subnet,
            "-d",
            "198.18.0.0/15",
            "-j",
            "SNAT",
            "--to-source",
            &to,
        ],
    );
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
    restored_and_healthy(&net, restore, "fault-nat.masquerade-snat-above-masquerade");
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
    insert_rule(
        &mut restore,
        "iptables",
        "nat",
        "DOCKER",
        &[
            "-d",
            "127.0.0.1/32",
            "-p",
            "tcp",
            "-m",
            "tcp",
            "--dport",
            &port,
            "-j",
            "DNAT",
            "--to-destination",
            &nowhere,
        ],
    );
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
    restored_and_healthy(
        &net,
        restore,
        "fault-port.publish-stale-dnat-steals-users-port",
    );
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
    insert_rule(
        &mut restore,
        "iptables",
        "mangle",
        "PREROUTING",
        &[
            "-s",
            &subnet,
            "-d",
            "198.18.0.0/15",
            "-j",
            "MARK",
            "--set-mark",
            "0x2155",
        ],
    );
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
    restored_and_healthy(
        &net,
        restore,
        "fault-nat.masquerade-mark-diverts-to-dead-table",
    );
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
    restored_and_healthy(&net, restore, "fault-nat.masquerade-nft-redirect");
}
