//! Live tests of the layers a packet crosses below the filter chains: the route's type,
//! both ends of a veth, neighbour entries, traffic control, and internal networks. Each
//! fault is made on the test's own network and links, asserted named by the right check,
//! and undone by a guard; each has a healthy twin (the feature present, harmless) that
//! passes.

use crate::common;

use common::*;

/// Exit 1, `check` fails, and every check that fails names `cause`: a fault below the
/// filter chains is never blamed on the firewall.
fn assert_every_failure_names(run: &Run, check: &str, cause: &str) {
    assert_eq!(run.code, 1, "{}", run.explain());
    assert_eq!(run.status(check), "fail", "{}", run.explain());
    for result in run.results().iter().filter(|r| r["status"] == "fail") {
        let message = result["message"].as_str().unwrap();
        assert!(
            message.contains(cause),
            "{}: {message}\n{}",
            result["id"],
            run.explain()
        );
    }
}

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
    restored_and_healthy(&net, restore, "fault-bridge.subnet-blackhole-route");
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
    restored_and_healthy(&net, restore, "fault-link.mtu-veth-ends-differ");
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
    restored_and_healthy(
        &net,
        restore,
        "fault-bridge.veth-host-end-in-another-namespace",
    );
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
    // Nor does the probe reach the host's address for host.docker.internal from there
    // (Docker 29 says so with "network unreachable"; older engines did not route it).
    assert_ne!(
        run.status("host.docker-internal"),
        "fail",
        "{}",
        run.explain()
    );
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
    restored_and_healthy(
        &net,
        restore,
        "fault-bridge.veth-container-gateway-neighbour-wrong-mac",
    );
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
    // Every failure names the qdisc: none blames the firewall.
    assert_every_failure_names(&run, "container.default-route", &cause);
    restored_and_healthy(
        &net,
        restore,
        "fault-container.default-route-qdisc-starves-bridge",
    );
}

#[test]
fn fault_gateway_ignoring_arp_is_named_by_the_neighbour_entry() {
    let Some(_live) = live() else { return };
    let net = TestNet::new("arp");
    let mut restore = Restore::default();
    // The host answers no ARP on the bridge: containers never learn the gateway's MAC.
    set_sysctl(
        &mut restore,
        &format!("net.ipv4.conf.{}.arp_ignore", net.bridge),
        "8",
    );
    let run = netcheck(&["--network", &net.name]);
    let cause = format!(
        "the probe's neighbour entry for the gateway {} on eth0 is",
        net.gateway
    );
    // Every failure names the entry (INCOMPLETE or FAILED, by how long it asked).
    assert_every_failure_names(&run, "container.default-route", &cause);
    restored_and_healthy(
        &net,
        restore,
        "fault-container.default-route-gateway-ignores-arp",
    );
}
