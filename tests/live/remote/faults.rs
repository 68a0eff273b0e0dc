//! The five seed checks' faults, made inside the second engine's network namespace
//! and caught through the agent: a module of its own so that remote.rs stays one
//! concept (the transports) and under the size limit.

use super::{Transport, assert_clean, over};
use crate::common::remote_engine::RemoteEngine;
use crate::common::*;

/// Runs `args` inside the second engine's network namespace; must succeed.
fn inside(engine: &RemoteEngine, args: &[&str]) {
    let out = engine.inside(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Commands run inside the engine's namespace on drop: how a fault is undone.
struct Undo<'a>(&'a RemoteEngine, Vec<Vec<String>>);

impl Undo<'_> {
    fn push(&mut self, args: &[&str]) {
        self.1.push(args.iter().map(|s| s.to_string()).collect());
    }
}

impl Drop for Undo<'_> {
    fn drop(&mut self) {
        for args in self.1.iter().rev() {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let _ = self.0.inside(&args);
        }
    }
}

/// The five seed checks' faults, made inside the second engine's namespace, are caught
/// through the agent as a local run catches them. Each fault is undone (its `Undo`
/// drops) before the next is made, on failure too.
pub(super) fn faults_inside_the_engine_are_caught(engine: &RemoteEngine, t: &Transport) {
    a_route_over_the_bridge_subnet(engine, t);
    the_gateway_off_the_bridge(engine, t);
    no_masquerade_rule(engine, t);
    a_veth_off_the_bridge(engine, t);
    the_host_drops_traffic_to_host_gateway(engine, t);
    assert_clean(engine);
}

/// netcheck over `t` with the agent.
fn agent(t: &Transport, extra: &[&str]) -> Run {
    let mut args = vec!["--agent"];
    args.extend_from_slice(extra);
    over(t, &args)
}

/// bridge.subnet: a "VPN" route over the top of the default bridge's subnet.
fn a_route_over_the_bridge_subnet(engine: &RemoteEngine, t: &Transport) {
    let mut undo = Undo(engine, vec![]);
    inside(
        engine,
        &[
            "ip",
            "link",
            "add",
            "netcheck-tvpn0",
            "type",
            "veth",
            "peer",
            "name",
            "netcheck-tvpn1",
        ],
    );
    undo.push(&["ip", "link", "del", "netcheck-tvpn0"]);
    inside(
        engine,
        &[
            "ip",
            "addr",
            "add",
            "172.17.255.241/28",
            "dev",
            "netcheck-tvpn0",
        ],
    );
    inside(engine, &["ip", "link", "set", "netcheck-tvpn0", "up"]);
    inside(engine, &["ip", "link", "set", "netcheck-tvpn1", "up"]);
    let run = agent(t, &[]);
    assert_only(&run, "bridge.subnet", "netcheck-tvpn0", &[]);
}

/// container.default-route: the gateway's address taken off the bridge.
fn the_gateway_off_the_bridge(engine: &RemoteEngine, t: &Transport) {
    let mut undo = Undo(engine, vec![]);
    inside(
        engine,
        &["ip", "addr", "del", "172.17.0.1/16", "dev", "docker0"],
    );
    undo.push(&["ip", "addr", "add", "172.17.0.1/16", "dev", "docker0"]);
    let run = agent(t, &[]);
    assert_only(
        &run,
        "container.default-route",
        "gateway 172.17.0.1 of network bridge is not on bridge docker0",
        &[
            "bridge.subnet",
            "nat.masquerade",
            "host.docker-internal",
            "port.publish",
        ],
    );
}

/// nat.masquerade: the engine's MASQUERADE rule deleted.
fn no_masquerade_rule(engine: &RemoteEngine, t: &Transport) {
    let rule = [
        "POSTROUTING",
        "-s",
        "172.17.0.0/16",
        "!",
        "-o",
        "docker0",
        "-j",
        "MASQUERADE",
    ];
    let mut undo = Undo(engine, vec![]);
    inside(
        engine,
        &[&["iptables", "-t", "nat", "-D"][..], &rule].concat(),
    );
    undo.push(&[&["iptables", "-t", "nat", "-A"][..], &rule].concat());
    let run = agent(t, &[]);
    assert_only(
        &run,
        "nat.masquerade",
        "no MASQUERADE rule for 172.17.0.0/16",
        &[],
    );
    let evidence = run.check("nat.masquerade")["evidence"].to_string();
    assert!(
        evidence.contains("saw the container's own address"),
        "{evidence}"
    );
}

/// bridge.veth: a container's host end taken off the bridge.
fn a_veth_off_the_bridge(engine: &RemoteEngine, t: &Transport) {
    engine.docker(&[
        "run",
        "-d",
        "--name",
        "netcheck-test-app",
        "--read-only",
        "--cap-drop",
        "ALL",
        &probe_image(engine),
        "probe",
        "--linger-secs",
        "600",
    ]);
    let links = engine.inside(&["ip", "-o", "link", "show", "master", "docker0"]);
    let links = String::from_utf8_lossy(&links.stdout).into_owned();
    let veth = links
        .lines()
        .next()
        .and_then(|l| l.split(": ").nth(1))
        .and_then(|n| n.split('@').next())
        .expect("the app's veth is on docker0")
        .to_string();
    let mut undo = Undo(engine, vec![]);
    inside(engine, &["ip", "link", "set", &veth, "nomaster"]);
    undo.push(&["ip", "link", "set", &veth, "master", "docker0"]);
    let run = agent(t, &[]);
    drop(undo);
    engine.docker(&["rm", "-f", "netcheck-test-app"]);
    assert_only(
        &run,
        "bridge.veth",
        &format!("host end {veth} of netcheck-test-app's eth0 is on no bridge"),
        &["bridge.icc"],
    );
}

/// host.docker-internal: the host's firewall drops a network's traffic to the
/// default bridge's address, where host-gateway points.
fn the_host_drops_traffic_to_host_gateway(engine: &RemoteEngine, t: &Transport) {
    let net = "netcheck-test-hdi";
    engine.docker(&[
        "network",
        "create",
        "-o",
        "com.docker.network.driver.mtu=1400",
        "--subnet",
        "172.30.77.0/24",
        net,
    ]);
    let rule = [
        "INPUT",
        "-s",
        "172.30.77.0/24",
        "-d",
        "172.17.0.1",
        "-j",
        "DROP",
    ];
    let mut undo = Undo(engine, vec![]);
    inside(engine, &[&["iptables", "-I"][..], &rule].concat());
    undo.push(&[&["iptables", "-D"][..], &rule].concat());
    let run = agent(t, &["--network", net]);
    drop(undo);
    engine.docker(&["network", "rm", net]);
    assert_only(
        &run,
        "host.docker-internal",
        "but the host does not answer",
        &[],
    );
}

fn probe_image(engine: &RemoteEngine) -> String {
    let out = engine.docker(&[
        "images",
        "netcheck-probe",
        "--format",
        "{{.Repository}}:{{.Tag}}",
    ]);
    out.lines()
        .next()
        .expect("the probe image is on the engine")
        .to_string()
}
