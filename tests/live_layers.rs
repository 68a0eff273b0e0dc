//! Live tests of the layers a packet crosses below and beside the filter chains: the
//! route's type, both ends of a veth, neighbour entries, traffic control, captures into
//! a local port, conntrack exemptions, SNAT rules, and internal networks. Each fault is
//! made on the test's own network and links, asserted named by the right check, and
//! undone by a guard; each has a healthy twin (the feature present, harmless) that passes.

mod common;

use common::*;

/// The host-side neighbour table's entry, or a container's, pinned by `ip neigh replace`.
fn pin_neighbour(restore: &mut Restore, netns_pid: Option<&str>, addr: &str, mac: &str, dev: &str) {
    let mut prefix: Vec<String> = vec![];
    if let Some(pid) = netns_pid {
        prefix = ["nsenter", "-t", pid, "-n"].map(String::from).to_vec();
    }
    let with = |args: &[&str]| -> Vec<String> {
        prefix
            .iter()
            .cloned()
            .chain(args.iter().map(|s| s.to_string()))
            .collect()
    };
    let add = with(&[
        "ip",
        "neigh",
        "replace",
        addr,
        "lladdr",
        mac,
        "nud",
        "permanent",
        "dev",
        dev,
    ]);
    let del = with(&["ip", "neigh", "del", addr, "dev", dev]);
    sh(&add.iter().map(String::as_str).collect::<Vec<_>>());
    restore.push(&del.iter().map(String::as_str).collect::<Vec<_>>());
}

fn container_ip(name: &str, net: &TestNet) -> String {
    sh(&[
        "docker",
        "inspect",
        "-f",
        &format!(
            "{{{{(index .NetworkSettings.Networks \"{}\").IPAddress}}}}",
            net.name
        ),
        name,
    ])
}

fn container_mac(name: &str, net: &TestNet) -> String {
    sh(&[
        "docker",
        "inspect",
        "-f",
        &format!(
            "{{{{(index .NetworkSettings.Networks \"{}\").MacAddress}}}}",
            net.name
        ),
        name,
    ])
}

fn link_mac(dev: &str) -> String {
    std::fs::read_to_string(format!("/sys/class/net/{dev}/address"))
        .unwrap()
        .trim()
        .to_string()
}

fn pid_of(name: &str) -> String {
    sh(&["docker", "inspect", "-f", "{{.State.Pid}}", name])
}

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
fn fault_blackhole_route_is_named_by_its_type() {
    let Some(_live) = live() else { return };
    let net = TestNet::new("blackhole");
    // The top /28 of the subnet: no container has an address there, so only the
    // overlap itself is the fault.
    let top = ipnet::Ipv4Net::new(net.subnet.broadcast(), 28)
        .unwrap()
        .trunc();
    let mut restore = Restore::default();
    sh(&["ip", "route", "add", "blackhole", &top.to_string()]);
    restore.push(&["ip", "route", "del", "blackhole", &top.to_string()]);
    let run = netcheck(&["--network", &net.name]);
    assert_only(
        &run,
        "bridge.subnet",
        &format!("host route blackhole {top} overlaps"),
        &[],
    );
    let hint = run.check("bridge.subnet")["hint"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        hint.contains(&format!("ip route del blackhole {top}")),
        "{hint}"
    );
    capture_fixture(
        "fault-bridge.subnet-blackhole-route",
        &["--network", &net.name],
    );
    drop(restore);
    assert_healthy(&netcheck(&["--network", &net.name]));
}

#[test]
fn fault_veth_ends_with_different_mtus() {
    let Some(_live) = live() else { return };
    let mut net = TestNet::new("vethmtu");
    let app = net.sleeper("app");
    let veth = net.host_veth(&app);
    let before = std::fs::read_to_string(format!("/sys/class/net/{veth}/mtu")).unwrap();
    let before = before.trim().to_string();
    let lower = (before.parse::<u32>().unwrap() - 100).to_string();
    let mut restore = Restore::default();
    sh(&["ip", "link", "set", &veth, "mtu", &lower]);
    restore.push(&["ip", "link", "set", &veth, "mtu", &before]);
    let run = netcheck(&["--network", &net.name]);
    assert_only(
        &run,
        "link.mtu",
        &format!("{app}: eth0 MTU {before} but its host end {veth} MTU {lower}"),
        &[],
    );
    assert!(
        run.check("link.mtu")["hint"]
            .as_str()
            .unwrap()
            .contains(&format!("ip link set {veth} mtu {before}"))
    );
    capture_fixture("fault-link.mtu-veth-ends-differ", &["--network", &net.name]);
    drop(restore);
    assert_healthy(&netcheck(&["--network", &net.name]));
}

#[test]
fn fault_veth_host_end_down_or_in_another_namespace() {
    let Some(_live) = live() else { return };
    let mut net = TestNet::new("vethend");
    let app = net.sleeper("app");
    let veth = net.host_veth(&app);
    {
        let mut restore = Restore::default();
        sh(&["ip", "link", "set", &veth, "down"]);
        restore.push(&["ip", "link", "set", &veth, "up"]);
        let run = netcheck(&["--network", &net.name]);
        // The probe cannot reach the container either.
        assert_only(
            &run,
            "bridge.veth",
            &format!("host end {veth} of {app}'s eth0 is down"),
            &["bridge.icc"],
        );
    }
    let ns = "netcheck-test-vethns";
    let _ = std::process::Command::new("ip")
        .args(["netns", "del", ns])
        .output();
    let mut restore = Restore::default();
    sh(&["ip", "netns", "add", ns]);
    restore.push(&["ip", "netns", "del", ns]);
    sh(&["ip", "link", "set", &veth, "netns", ns]);
    // Undone in reverse: back into the host's namespace, onto the bridge, up.
    restore.push(&["ip", "link", "set", &veth, "up"]);
    restore.push(&["ip", "link", "set", &veth, "master", &net.bridge]);
    restore.push(&["ip", "-n", ns, "link", "set", &veth, "netns", "1"]);
    let run = netcheck(&["--network", &net.name]);
    assert_only(
        &run,
        "bridge.veth",
        "it is in another namespace",
        &["bridge.icc"],
    );
    assert!(run.message("bridge.veth").contains(&format!(
        "container {app}'s eth0 has no veth peer on the host"
    )));
    capture_fixture(
        "fault-bridge.veth-host-end-in-another-namespace",
        &["--network", &net.name],
    );
    drop(restore);
    assert_healthy(&netcheck(&["--network", &net.name]));
}

#[test]
fn internal_network_alone_skips_port_publish() {
    let Some(_live) = live() else { return };
    let mut net = TestNet::named("netcheck-test-internal-only", &["--internal"]);
    net.sleeper("app");
    let run = netcheck(&["--network", &net.name]);
    assert_eq!(run.code, 0, "{}", run.explain());
    assert_eq!(run.status("port.publish"), "skip", "{}", run.explain());
    assert_eq!(run.message("port.publish"), "internal: publishes nothing");
    for result in run.results() {
        let status = result["status"].as_str().unwrap();
        assert!(
            status == "pass" || status == "skip",
            "{} is {status}:\n{}",
            result["id"],
            run.explain()
        );
    }
    capture_fixture(
        "skipped-port.publish-internal-network",
        &["--network", &net.name],
    );
}

#[test]
fn fault_pinned_neighbour_entries_with_a_wrong_mac() {
    let Some(_live) = live() else { return };
    let mut net = TestNet::new("neigh");
    let app = net.sleeper("app");
    let ip = container_ip(&app, &net);
    let mac = container_mac(&app, &net);
    let gw = net.gateway.to_string();
    let pid = pid_of(&app);
    // Healthy twin first: entries pinned to the right addresses pass.
    {
        let mut restore = Restore::default();
        pin_neighbour(&mut restore, None, &ip, &mac, &net.bridge);
        pin_neighbour(
            &mut restore,
            Some(&pid),
            &gw,
            &link_mac(&net.bridge),
            "eth0",
        );
        assert_healthy(&netcheck(&["--network", &net.name]));
        capture_fixture(
            "healthy-pinned-neighbours-right-macs",
            &["--network", &net.name],
        );
    }
    // The host's entry for the container, then the container's for its gateway.
    let wrong = "02:00:00:00:21:99";
    {
        let mut restore = Restore::default();
        pin_neighbour(&mut restore, None, &ip, wrong, &net.bridge);
        let run = netcheck(&["--network", &net.name]);
        assert_only(
            &run,
            "bridge.veth",
            &format!(
                "the host's neighbour entry {ip} lladdr {wrong} PERMANENT on {}",
                net.bridge
            ),
            &[],
        );
        let hint = run.check("bridge.veth")["hint"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            hint.contains(&format!("ip neigh del {ip} dev {}", net.bridge)),
            "{hint}"
        );
        capture_fixture(
            "fault-bridge.veth-host-neighbour-wrong-mac",
            &["--network", &net.name],
        );
    }
    let mut restore = Restore::default();
    pin_neighbour(&mut restore, Some(&pid), &gw, wrong, "eth0");
    let run = netcheck(&["--network", &net.name]);
    assert_only(
        &run,
        "bridge.veth",
        &format!("container {app}'s neighbour entry {gw} lladdr {wrong} PERMANENT on eth0"),
        &[],
    );
    capture_fixture(
        "fault-bridge.veth-container-gateway-neighbour-wrong-mac",
        &["--network", &net.name],
    );
    drop(restore);
    assert_healthy(&netcheck(&["--network", &net.name]));
}

#[test]
fn fault_starving_qdisc_on_the_bridge_is_named() {
    let Some(_live) = live() else { return };
    let mut net = TestNet::new("tc");
    // A container besides the probe: bridge.icc has something to connect from.
    net.sleeper("app");
    // Healthy twin: a generous shaper drops nothing.
    {
        let mut restore = Restore::default();
        sh(&[
            "tc",
            "qdisc",
            "add",
            "dev",
            &net.bridge,
            "root",
            "tbf",
            "rate",
            "1gbit",
            "burst",
            "1mb",
            "latency",
            "50ms",
        ]);
        restore.push(&["tc", "qdisc", "del", "dev", &net.bridge, "root"]);
        assert_healthy(&netcheck(&["--network", &net.name]));
        capture_fixture(
            "healthy-generous-shaper-on-bridge",
            &["--network", &net.name],
        );
    }
    // A shaper that starves: one byte a second, and no packet larger than an ARP reply
    // fits its bucket.
    let mut restore = Restore::default();
    sh(&[
        "tc",
        "qdisc",
        "add",
        "dev",
        &net.bridge,
        "root",
        "handle",
        "21:",
        "tbf",
        "rate",
        "8bit",
        "burst",
        "64",
        "limit",
        "64",
    ]);
    restore.push(&["tc", "qdisc", "del", "dev", &net.bridge, "root"]);
    let run = netcheck(&["--network", &net.name]);
    let cause = format!("qdisc tbf 21: dev {} root dropped", net.bridge);
    assert_eq!(run.code, 1, "{}", run.explain());
    assert_eq!(
        run.status("container.default-route"),
        "fail",
        "{}",
        run.explain()
    );
    // Every failure names the qdisc: none blames the firewall.
    for result in run.results().iter().filter(|r| r["status"] == "fail") {
        let message = result["message"].as_str().unwrap();
        assert!(
            message.contains(&cause),
            "{}: {message}\n{}",
            result["id"],
            run.explain()
        );
    }
    capture_fixture(
        "fault-container.default-route-qdisc-starves-bridge",
        &["--network", &net.name],
    );
    drop(restore);
    assert_healthy(&netcheck(&["--network", &net.name]));
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
