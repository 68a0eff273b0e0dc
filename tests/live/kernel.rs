//! Live fault tests of the kernel's settings for bridged traffic (ip_forward,
//! br_netfilter) and of the engine's own warnings about them: each turns a sysctl off,
//! asserts that its check (or daemon.warnings) names the cause, and restores the sysctl
//! in a guard.

use crate::common;

use common::*;

#[test]
fn fault_ip_forward_off_on_one_bridge() {
    let Some(_live) = live() else { return };
    let net = TestNet::new("ifwd");
    let mut restore = Restore::default();
    set_sysctl(
        &mut restore,
        &format!("net.ipv4.conf.{}.forwarding", net.bridge),
        "0",
    );
    let run = netcheck(&["--network", &net.name]);
    // The bridge routes nothing out: the live NAT test cannot reach the outside peer.
    assert_only(
        &run,
        "kernel.ip-forward",
        &format!("net.ipv4.conf.{}.forwarding=0", net.bridge),
        &["nat.masquerade"],
    );
    assert!(
        run.check("kernel.ip-forward")["hint"]
            .as_str()
            .unwrap()
            .contains("sysctl -w net.ipv4.ip_forward=1")
    );
    restored_and_healthy(
        &net,
        restore,
        "fault-kernel.ip-forward-bridge-forwarding-off",
    );
}

#[test]
fn fault_br_netfilter_off_under_icc_false() {
    let Some(_live) = live() else { return };
    let mut net = TestNet::named(
        "netcheck-test-noicc",
        &["-o", "com.docker.network.bridge.enable_icc=false"],
    );
    net.sleeper("app");
    // icc=false holds while bridged traffic reaches iptables.
    let run = netcheck(&["--network", &net.name]);
    assert_healthy(&run);
    assert!(
        run.check("bridge.icc")["evidence"]
            .to_string()
            .contains("blocked"),
        "{}",
        run.explain()
    );

    let mut restore = Restore::default();
    set_sysctl(&mut restore, "net.bridge.bridge-nf-call-iptables", "0");
    let run = netcheck(&["--network", &net.name]);
    assert_only(
        &run,
        "kernel.br-netfilter",
        &format!("but network {} sets icc=false", net.name),
        // The isolation it was for is off.
        &["bridge.icc"],
    );
    let icc = run.message("bridge.icc");
    assert!(
        icc.contains("although") && icc.contains("bridge-nf-call-iptables is 0"),
        "{icc}"
    );
    restored_and_healthy(&net, restore, "fault-kernel.br-netfilter-off-icc-false");
}

#[test]
fn fault_daemon_warns_ip_forwarding_disabled() {
    let Some(_live) = live() else { return };
    let net = TestNet::new("warn");
    let mut restore = Restore::default();
    set_sysctl(&mut restore, "net.ipv4.ip_forward", "0");
    let run = netcheck(&["--network", &net.name]);
    // The engine's own warning, beside the kernel check that names the same cause and
    // the NAT test it breaks.
    assert_only(
        &run,
        "daemon.warnings",
        "IPv4 forwarding is disabled",
        &["kernel.ip-forward", "nat.masquerade"],
    );
    assert!(
        run.check("daemon.warnings")["hint"]
            .as_str()
            .unwrap()
            .contains("sysctl -w net.ipv4.ip_forward=1")
    );
    restored_and_healthy(&net, restore, "fault-daemon.warnings-ip-forward-off");
}

#[test]
fn engine_warning_about_br_netfilter_is_left_to_its_check() {
    let Some(_live) = live() else { return };
    let net = TestNet::new("warn-brnf");
    let mut restore = Restore::default();
    set_sysctl(&mut restore, "net.bridge.bridge-nf-call-iptables", "0");
    // Nothing on this network relies on br_netfilter: the engine warns, and no check
    // fails; kernel.br-netfilter warns (a trap for the next icc=false network), which
    // does not gate unless asked.
    let run = netcheck(&["--network", &net.name]);
    assert_warns_only(
        &run,
        "kernel.br-netfilter",
        "net.bridge.bridge-nf-call-iptables=0: nothing relies on it yet",
    );
    assert!(
        run.check("daemon.warnings")["evidence"]
            .to_string()
            .contains("left to kernel.br-netfilter"),
        "{}",
        run.explain()
    );
    // --strict makes the same warning gate.
    let strict = netcheck(&["--network", &net.name, "--strict"]);
    assert_eq!(strict.code, 1, "{}", strict.explain());
    assert_eq!(strict.status("kernel.br-netfilter"), "warn");
    drop(restore);
    assert_healthy(&netcheck(&["--network", &net.name]));
}
