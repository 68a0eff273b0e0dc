//! Live tests: the whole CLI against the real daemon, on a healthy host and under one
//! fault per check. Each fault test breaks a throw-away network where it can, asserts
//! that the check fails and names the cause, and restores the host in a guard.

use crate::common;

use std::process::Command;

use common::*;

/// The whole catalogue on the host as it is, plus a container on the default bridge and
/// a user network with one: every check passes on every network (none skips), and
/// the reports validate.
#[test]
fn healthy_host_passes_and_reports_validate() {
    let Some(_live) = live() else { return };
    let mut net = TestNet::new("healthy-all");
    net.sleeper("app");
    let on_bridge = "netcheck-test-bridge-app";
    run_sleeper(on_bridge, &["--label", "netcheck.test=1"], &[]);
    let _gone = Restore(vec![vec![
        "docker".into(),
        "rm".into(),
        "-f".into(),
        on_bridge.into(),
    ]]);
    let dir = tempdir();
    let junit = dir.path().join("junit.xml");
    let run = netcheck(&["--junit", junit.to_str().unwrap()]);
    assert_healthy(&run);
    // No --network: bridge and every network with containers, each with its own results.
    for id in [
        "bridge.veth[bridge]".to_string(),
        format!("bridge.veth[{}]", net.name),
    ] {
        assert_eq!(run.status(&id), "pass", "{id}:\n{}", run.explain());
    }
    let results = run.results().len();
    let statuses: Vec<&str> = run
        .results()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert!(statuses.iter().all(|s| *s == "pass"), "{}", run.explain());
    assert!(
        run.stdout
            .contains(&format!("{results} passed, 0 failed, 0 skipped")),
        "{}",
        run.stdout
    );
    capture_fixture("healthy-default-bridge", &["--network", "bridge"]);
    capture_fixture("healthy-all-networks", &[]);

    // The JSON report matches its published schema.
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/reports/netcheck-report.v2.schema.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let report = run.report.as_ref().unwrap();
    let errors: Vec<String> = validator
        .iter_errors(report)
        .map(|e| e.to_string())
        .collect();
    assert!(
        errors.is_empty(),
        "JSON report violates its schema: {errors:?}"
    );
    assert_eq!(report["schema"], "netcheck-report/v2");

    // The JUnit report validates against Jenkins' xUnit schema.
    validate_junit(&junit);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("<testcase ").count(), results, "{xml}");
    assert!(
        xml.contains(&format!("name=\"bridge.veth[{}]\"", net.name)),
        "{xml}"
    );
    drop(_gone);
    drop(net);
    assert_no_leftovers();
}

/// Several networks, other containers on them: the checks cover every container, and a
/// healthy host stays green.
#[test]
fn healthy_user_network_with_other_containers() {
    let Some(_live) = live() else { return };
    let mut net = TestNet::new("healthy");
    let sleeper = net.sleeper("app");
    // One on the default bridge too, so that bridge.icc has a container to test from.
    let on_bridge = "netcheck-test-healthy-bridge-app";
    run_sleeper(on_bridge, &["--label", "netcheck.test=1"], &[]);
    let _gone = Restore(vec![vec![
        "docker".into(),
        "rm".into(),
        "-f".into(),
        on_bridge.into(),
    ]]);
    let run = netcheck(&["--network", &net.name, "--network", "bridge", "-v"]);
    assert_healthy(&run);
    // The sleeper is covered, not only netcheck's probe.
    assert!(
        run.stdout.contains(&format!("{sleeper}: eth0")),
        "{}",
        run.stdout
    );
    capture_fixture(
        "healthy-user-network-and-bridge",
        &["--network", &net.name, "--network", "bridge"],
    );
    drop(_gone);
    drop(net);
    assert_no_leftovers();
}

#[test]
fn fault_bridge_subnet_vpn_route_overlaps() {
    let Some(_live) = live() else { return };
    let net = TestNet::new("subnet");
    let mut restore = Restore::default();
    // A "VPN" interface carrying a /28 at the top of the network's subnet: its route
    // covers container addresses. A veth pair stands in: the kernel may lack `dummy`.
    let top = u32::from(net.subnet.broadcast()) & !0xf;
    let vpn_addr = format!("{}/28", std::net::Ipv4Addr::from(top + 1));
    sh(&[
        "ip",
        "link",
        "add",
        "netcheck-tvpn0",
        "type",
        "veth",
        "peer",
        "name",
        "netcheck-tvpn1",
    ]);
    restore.push(&["ip", "link", "del", "netcheck-tvpn0"]);
    sh(&["ip", "addr", "add", &vpn_addr, "dev", "netcheck-tvpn0"]);
    sh(&["ip", "link", "set", "netcheck-tvpn0", "up"]);
    sh(&["ip", "link", "set", "netcheck-tvpn1", "up"]);

    let run = netcheck(&["--network", &net.name]);
    assert_only(&run, "bridge.subnet", "netcheck-tvpn0", &[]);
    restored_and_healthy(&net, restore, "fault-bridge.subnet-vpn-route-overlap");
}

#[test]
fn fault_bridge_veth_host_end_detached() {
    let Some(_live) = live() else { return };
    let mut net = TestNet::new("veth");
    let app = net.sleeper("app");
    let veth = net.host_veth(&app);
    let mut restore = Restore::default();
    sh(&["ip", "link", "set", &veth, "nomaster"]);
    restore.push(&["ip", "link", "set", &veth, "master", &net.bridge]);

    let run = netcheck(&["--network", &net.name]);
    assert_only(
        &run,
        "bridge.veth",
        &format!("host end {veth} of {app}'s eth0 is on no bridge"),
        // The detached container cannot reach the probe either.
        &["bridge.icc"],
    );
    assert!(
        run.check("bridge.veth")["hint"]
            .as_str()
            .unwrap()
            .contains(&format!("ip link set {veth} master {}", net.bridge))
    );
    restored_and_healthy(&net, restore, "fault-bridge.veth-nomaster");
}

#[test]
fn fault_default_route_gateway_removed_from_bridge() {
    let Some(_live) = live() else { return };
    let net = TestNet::new("gw");
    let gw = format!("{}/{}", net.gateway, net.subnet.prefix_len());
    let mut restore = Restore::default();
    sh(&["ip", "addr", "del", &gw, "dev", &net.bridge]);
    restore.push(&["ip", "addr", "add", &gw, "dev", &net.bridge]);

    let run = netcheck(&["--network", &net.name]);
    // Without its gateway nothing leaves the network: the bridge has no address
    // (bridge.subnet), the outside peer and the host are unreachable (nat.masquerade,
    // host.docker-internal). Each of those names the unreachable target.
    assert_only(
        &run,
        "container.default-route",
        &format!(
            "gateway {} of network {} is not on bridge {}",
            net.gateway, net.name, net.bridge
        ),
        &[
            "bridge.subnet",
            "nat.masquerade",
            "host.docker-internal",
            "port.publish",
        ],
    );
    assert!(
        run.message("bridge.subnet").contains("carries no address"),
        "{}",
        run.explain()
    );
    restored_and_healthy(
        &net,
        restore,
        "fault-container.default-route-gateway-removed",
    );
}

#[test]
fn fault_masquerade_rule_deleted() {
    let Some(_live) = live() else { return };
    let net = TestNet::new("masq");
    let subnet = net.subnet.to_string();
    let mut restore = Restore::default();
    net.delete_masquerade(&mut restore);

    let run = netcheck(&["--network", &net.name]);
    assert_only(
        &run,
        "nat.masquerade",
        &format!("no MASQUERADE rule for {subnet}"),
        &[],
    );
    // The live half proves it too: the outside peer saw the container's own address.
    let evidence = run.check("nat.masquerade")["evidence"].to_string();
    assert!(
        evidence.contains("saw the container's own address"),
        "{evidence}"
    );
    restored_and_healthy(&net, restore, "fault-nat.masquerade-rule-deleted");
}

#[test]
fn fault_masquerade_ip_forward_off() {
    let Some(_live) = live() else { return };
    let net = TestNet::new("fwd");
    let before = sh(&["sysctl", "-n", "net.ipv4.ip_forward"]);
    let mut restore = Restore::default();
    restore.push(&["sysctl", "-qw", &format!("net.ipv4.ip_forward={before}")]);
    sh(&["sysctl", "-qw", "net.ipv4.ip_forward=0"]);

    let run = netcheck(&["--network", &net.name]);
    // The kernel's own check and the engine's warning name the same cause.
    assert_only(
        &run,
        "nat.masquerade",
        "net.ipv4.ip_forward=0",
        &["kernel.ip-forward", "daemon.warnings"],
    );
    assert!(
        run.message("kernel.ip-forward")
            .contains("net.ipv4.ip_forward=0")
    );
    assert!(
        run.message("daemon.warnings")
            .contains("IPv4 forwarding is disabled"),
        "{}",
        run.explain()
    );
    let evidence = run.check("nat.masquerade")["evidence"].to_string();
    assert!(
        evidence.contains("could not reach the outside peer"),
        "{evidence}"
    );
    restored_and_healthy(&net, restore, "fault-nat.masquerade-ip-forward-off");
}

#[test]
fn fault_host_docker_internal_input_dropped() {
    let Some(_live) = live() else { return };
    let net = TestNet::new("hdi");
    let subnet = net.subnet.to_string();
    // host-gateway maps to the default bridge's address, whichever network the
    // container is on: drop the test network's traffic to it, as a host firewall would.
    let restore = net.drop_input_to_docker0();

    let run = netcheck(&["--network", &net.name]);
    assert_only(
        &run,
        "host.docker-internal",
        "but the host does not answer",
        &[],
    );
    assert!(
        run.check("host.docker-internal")["hint"]
            .as_str()
            .unwrap()
            .contains(&subnet)
    );
    restored_and_healthy(&net, restore, "fault-host.docker-internal-input-dropped");
}

/// `collect --redact` writes a snapshot without the host's name or any MAC address.
#[test]
fn collect_redact_hides_the_host() {
    let Some(_live) = live() else { return };
    let dir = tempdir();
    let snap = dir.path().join("snap.json");
    let text = collect_to(&snap, &["--redact"]);
    let hostname = sh(&["docker", "info", "--format", "{{.Name}}"]);
    assert!(
        text.contains("\"hostname\": \"host-1\""),
        "no pseudonym for the host"
    );
    assert!(
        !text.contains(&format!("\"{hostname}\"")),
        "the host's name survived"
    );
    let docker0_mac = std::fs::read_to_string("/sys/class/net/docker0/address").unwrap();
    assert!(!text.contains(docker0_mac.trim()), "docker0's MAC survived");
    // Still a snapshot that judges like the host.
    let offline = netcheck(&["analyze", snap.to_str().unwrap()]);
    assert_eq!(offline.code, 0, "{}", offline.explain());
}

/// A snapshot judged offline gives the outcomes a live run gives.
#[test]
fn analyze_of_collect_matches_a_live_run() {
    let Some(_live) = live() else { return };
    let dir = tempdir();
    let snap = dir.path().join("snap.json");
    collect_to(&snap, &[]);
    let offline = netcheck(&["analyze", snap.to_str().unwrap()]);
    let live = netcheck(&[]);
    assert_eq!(
        offline.code,
        live.code,
        "{}\n{}",
        offline.explain(),
        live.explain()
    );
    let ids = |run: &Run| -> Vec<(String, String)> {
        run.results()
            .iter()
            .map(|r| (r["id"].to_string(), r["status"].to_string()))
            .collect()
    };
    assert_eq!(ids(&offline), ids(&live));
}

#[test]
fn unknown_network_is_an_error() {
    let Some(_live) = live() else { return };
    let run = netcheck(&["--network", "netcheck-test-does-not-exist"]);
    assert_eq!(run.code, 2, "{}", run.explain());
    assert!(
        run.stderr
            .contains("network `netcheck-test-does-not-exist` does not exist"),
        "{}",
        run.explain()
    );
}

/// Ctrl-C while the probe is running: netcheck removes what it created, writes a
/// report marked interrupted, and exits 130.
#[test]
fn sigint_mid_probe_cleans_up() {
    let Some(_live) = live() else { return };
    let net = TestNet::new("sigint");
    // Make the probe wait: its request to the host hangs on a dropped packet.
    let restore = net.drop_input_to_docker0();

    let dir = tempdir();
    let json = dir.path().join("report.json");
    let child = Command::new(bin())
        .args([
            "--network",
            &net.name,
            "--probe-timeout-ms",
            "30000",
            "--json",
        ])
        .arg(&json)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    loop {
        let probes = sh(&[
            "docker",
            "ps",
            "--filter",
            "label=netcheck.run",
            "--format",
            "{{.Names}}",
        ]);
        if !probes.is_empty() {
            break;
        }
        assert!(started.elapsed().as_secs() < 30, "the probe never started");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted by SIGINT"), "{stderr}");
    assert!(
        started.elapsed().as_secs() < 20,
        "the interrupt did not cut the run short"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["interrupted"], "SIGINT");
    drop(restore);
    drop(net);
    assert_no_leftovers();
}
