//! Live tests of routing as the kernel decides it: a fake VPN (a veth pair into a
//! namespace of the test's own, on 198.18.0.0/15) whose `ip rule` and table capture a
//! test network's subnet or carry its egress, and a network manager's leftovers on a
//! bridge. Each asserts the check that must fail names the rule, table and interface,
//! and restores the host (rules, tables, routes, namespaces) in a guard.

use crate::common;

use common::*;

/// A fake VPN: `netcheck-rt<tag>0` on the host, its peer in namespace
/// `netcheck-test-rt<tag>`, a /30 of 198.19.254.0/24 between them. Removed on drop of
/// `restore` (deleting the namespace deletes the pair).
fn fake_vpn(restore: &mut Restore, tag: &str, block: u8, mtu: u32) -> String {
    let host_if = format!("netcheck-rt{tag}0");
    let peer_if = format!("netcheck-rt{tag}1");
    let ns = format!("netcheck-test-rt{tag}");
    // Leftovers of a killed run would make the adds fail.
    let _ = std::process::Command::new("ip")
        .args(["netns", "del", &ns])
        .output();
    let _ = std::process::Command::new("ip")
        .args(["link", "del", &host_if])
        .output();
    sh(&["ip", "netns", "add", &ns]);
    restore.push(&["ip", "netns", "del", &ns]);
    sh(&[
        "ip", "link", "add", &host_if, "type", "veth", "peer", "name", &peer_if,
    ]);
    restore.push(&["ip", "link", "del", &host_if]);
    sh(&["ip", "link", "set", &peer_if, "netns", &ns]);
    let base = u32::from(std::net::Ipv4Addr::new(198, 19, 254, 0)) + 4 * u32::from(block);
    let host_addr = format!("{}/30", std::net::Ipv4Addr::from(base + 1));
    let peer_addr = format!("{}/30", std::net::Ipv4Addr::from(base + 2));
    let mtu = mtu.to_string();
    sh(&["ip", "link", "set", &host_if, "mtu", &mtu]);
    sh(&["ip", "addr", "add", &host_addr, "dev", &host_if]);
    sh(&["ip", "link", "set", &host_if, "up"]);
    let in_ns = |args: &[&str]| {
        let mut cmd = vec!["ip", "netns", "exec", &ns, "ip"];
        cmd.extend_from_slice(args);
        sh(&cmd);
    };
    in_ns(&["link", "set", &peer_if, "mtu", &mtu]);
    in_ns(&["addr", "add", &peer_addr, "dev", &peer_if]);
    in_ns(&["link", "set", &peer_if, "up"]);
    host_if
}

/// `ip rule add ARGS`, deleted on drop.
fn add_rule(restore: &mut Restore, args: &[&str]) {
    let mut add = vec!["ip", "rule", "add"];
    add.extend_from_slice(args);
    sh(&add);
    let mut del = vec!["ip", "rule", "del"];
    del.extend_from_slice(args);
    restore.push(&del);
}

/// `ip route add ROUTE table TABLE`; the table is flushed on drop.
fn add_table_route(restore: &mut Restore, table: &str, route: &[&str]) {
    let mut add = vec!["ip", "route", "add"];
    add.extend_from_slice(route);
    add.extend(["table", table]);
    sh(&add);
    restore.push(&["ip", "route", "flush", "table", table]);
}

/// The end of a fault test: the fault's snapshot captured as a fixture, the fault
/// undone, the network healthy again, and then nothing of it left once it is gone.
fn capture_and_restore(fixture: &str, net: TestNet, restore: Restore) {
    capture_fixture(fixture, &["--network", &net.name]);
    drop(restore);
    assert_healthy(&netcheck(&["--network", &net.name]));
    drop(net);
    assert_routing_restored();
}

/// Nothing of the fake VPNs is left: no rule, table, route, link or namespace.
fn assert_routing_restored() {
    let rules = sh(&["ip", "rule", "show"]);
    for gone in ["5270", "5180", "5181", "5190", "5191"] {
        assert!(
            !rules.lines().any(|l| l.starts_with(&format!("{gone}:"))),
            "rule {gone} left behind:\n{rules}"
        );
    }
    for table in ["52", "51820", "51821"] {
        // A table that was never made does not exist: that is as clean as empty.
        let out = std::process::Command::new("ip")
            .args(["route", "show", "table", table])
            .output()
            .unwrap();
        let routes = String::from_utf8_lossy(&out.stdout);
        assert!(
            routes.trim().is_empty(),
            "table {table} left behind: {routes}"
        );
    }
    let netns = sh(&["ip", "netns", "list"]);
    assert!(
        !netns.contains("netcheck-test-rt"),
        "namespace left behind: {netns}"
    );
    assert_no_leftovers();
}

/// (a) A Tailscale-style rule before main (`5270: from all lookup 52`) whose table
/// routes the test network's subnet into the fake VPN: the host's packets to the
/// network's containers, and the answers to their traffic, leave by the tunnel.
#[test]
fn fault_policy_rule_captures_a_docker_subnet() {
    let Some(_live) = live() else { return };
    let net = TestNet::new("rtcap");
    let mut restore = Restore::default();
    let vpn = fake_vpn(&mut restore, "cap", 1, 1400);
    add_table_route(&mut restore, "52", &[&net.subnet.to_string(), "dev", &vpn]);
    add_rule(&mut restore, &["pref", "5270", "lookup", "52"]);

    let run = netcheck(&["--network", &net.name]);
    // What the capture breaks follows from it: every reply from the host or from
    // outside to the network's containers goes into the tunnel.
    assert_only(
        &run,
        "bridge.subnet",
        &format!("leave by {vpn}, not bridge {}", net.bridge),
        &[
            "container.default-route",
            "host.docker-internal",
            "nat.masquerade",
            "port.publish",
        ],
    );
    let message = run.message("bridge.subnet");
    assert!(
        message.contains("rule \"5270: from all lookup 52\" picks table 52")
            && message.contains(&format!("route {} dev {vpn}", net.subnet)),
        "{message}"
    );
    let hint = run.check("bridge.subnet")["hint"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        hint.contains("Tailscale") && hint.contains("ip route get"),
        "{hint}"
    );
    // The checks the capture breaks name it as their cause, not a firewall.
    for id in ["container.default-route", "nat.masquerade"] {
        let m = run.message(id);
        assert!(
            m.contains(&format!("leave by {vpn}")) && m.contains("see bridge.subnet"),
            "{id}: {m}"
        );
    }
    // The link's MTU is not the subject: the egress still leaves by the uplink.
    assert_eq!(run.status("link.mtu"), "pass", "{}", run.explain());
    eprintln!("verdict: {}", message);
    capture_and_restore(
        "fault-bridge.subnet-policy-rule-captures-subnet",
        net,
        restore,
    );
}

/// (b) wg-quick's pattern, scoped to the test network's bridge: main first with
/// `suppress_prefixlength 0` (so specific routes such as netcheck's own outside peer
/// still win), then a table whose default route is a tunnel of MTU 1380, below the
/// network's 1400. Only link.mtu may fail, and it names the rule, table and tunnel.
#[test]
fn fault_policy_rule_sends_egress_into_a_smaller_mtu() {
    let Some(_live) = live() else { return };
    let mut net = TestNet::new("rtmtu");
    net.sleeper("app");
    let mut restore = Restore::default();
    let vpn = fake_vpn(&mut restore, "mtu", 2, 1380);
    add_table_route(&mut restore, "51820", &["default", "dev", &vpn]);
    add_rule(
        &mut restore,
        &[
            "pref",
            "5180",
            "iif",
            &net.bridge,
            "lookup",
            "main",
            "suppress_prefixlength",
            "0",
        ],
    );
    add_rule(
        &mut restore,
        &["pref", "5181", "iif", &net.bridge, "lookup", "51820"],
    );

    let run = netcheck(&["--network", &net.name]);
    assert_only(&run, "link.mtu", &format!("exceeds the 1380 of {vpn}"), &[]);
    let message = run.message("link.mtu");
    assert!(
        message.contains(&format!(
            "rule \"5181: from all iif {} lookup 51820\" picks table 51820",
            net.bridge
        )),
        "{message}"
    );
    assert!(
        run.check("link.mtu")["hint"]
            .as_str()
            .unwrap()
            .contains("com.docker.network.driver.mtu=1380"),
        "{}",
        run.explain()
    );
    eprintln!("verdict: {}", message);
    capture_and_restore("fault-link.mtu-policy-rule-tunnel-1380", net, restore);
}

/// (c) A network manager's leftovers on a test network's bridge: an IPv4 link-local
/// address, then a default route (with a high metric, so that the host's own traffic
/// keeps its uplink). bridge.subnet fails for each, naming the address or route.
#[test]
fn fault_network_manager_leftovers_on_a_bridge() {
    let Some(_live) = live() else { return };
    let net = TestNet::new("rtnm");
    let mut restore = Restore::default();
    sh(&["ip", "addr", "add", "169.254.77.1/16", "dev", &net.bridge]);
    restore.push(&["ip", "addr", "del", "169.254.77.1/16", "dev", &net.bridge]);
    let run = netcheck(&["--network", &net.name]);
    assert_only(
        &run,
        "bridge.subnet",
        &format!(
            "bridge {} of network {} carries 169.254.77.1/16, a link-local address",
            net.bridge, net.name
        ),
        &[],
    );
    assert!(
        run.check("bridge.subnet")["hint"]
            .as_str()
            .unwrap()
            .contains("unmanaged-devices"),
        "{}",
        run.explain()
    );
    eprintln!("verdict: {}", run.message("bridge.subnet"));
    capture_fixture(
        "fault-bridge.subnet-link-local-on-bridge",
        &["--network", &net.name],
    );
    drop(restore);

    let mut restore = Restore::default();
    sh(&[
        "ip",
        "route",
        "add",
        "default",
        "dev",
        &net.bridge,
        "metric",
        "4242",
    ]);
    restore.push(&[
        "ip",
        "route",
        "del",
        "default",
        "dev",
        &net.bridge,
        "metric",
        "4242",
    ]);
    let run = netcheck(&["--network", &net.name]);
    assert_only(
        &run,
        "bridge.subnet",
        &format!(
            "a default route 0.0.0.0/0 dev {} metric 4242 (table main)",
            net.bridge
        ),
        &[],
    );
    eprintln!("verdict: {}", run.message("bridge.subnet"));
    capture_and_restore("fault-bridge.subnet-default-route-on-bridge", net, restore);
}

/// No false failures: the normal host (main table, lookups made), and a VPN that
/// carries the network's egress by a policy rule, split into 0/1 and 128/1, through a
/// tunnel whose MTU (1420) fits the network's.
#[test]
fn healthy_main_table_and_vpn_split_default_pass() {
    let Some(_live) = live() else { return };
    let mut net = TestNet::new("rtok");
    net.sleeper("app");
    let run = netcheck(&["--network", &net.name]);
    assert_healthy(&run);
    let subnet = run.check("bridge.subnet")["evidence"].to_string();
    assert!(
        subnet.contains("kernel, host path")
            && subnet.contains(&format!("dev {} table main", net.bridge)),
        "{subnet}"
    );
    let mtu = run.check("link.mtu")["evidence"].to_string();
    assert!(mtu.contains("kernel, egress path"), "{mtu}");

    let mut restore = Restore::default();
    let vpn = fake_vpn(&mut restore, "ok", 3, 1420);
    add_table_route(&mut restore, "51821", &["0.0.0.0/1", "dev", &vpn]);
    add_table_route(&mut restore, "51821", &["128.0.0.0/1", "dev", &vpn]);
    add_rule(
        &mut restore,
        &[
            "pref",
            "5190",
            "iif",
            &net.bridge,
            "lookup",
            "main",
            "suppress_prefixlength",
            "0",
        ],
    );
    add_rule(
        &mut restore,
        &["pref", "5191", "iif", &net.bridge, "lookup", "51821"],
    );
    let run = netcheck(&["--network", &net.name]);
    assert_healthy(&run);
    let mtu = run.check("link.mtu")["evidence"].to_string();
    assert!(
        mtu.contains(&format!("egress by {vpn}, MTU 1420")),
        "the egress is the tunnel's: {mtu}"
    );
    capture_fixture(
        "healthy-vpn-policy-split-default",
        &["--network", &net.name],
    );
    drop(restore);
    drop(net);
    assert_routing_restored();
}
