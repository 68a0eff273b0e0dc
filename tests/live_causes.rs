//! Live tests of causes users hit on real hosts, beyond the catalogue's first faults:
//! warnings that must not gate, a host with no resolver, a full conntrack table. Each
//! breaks the host, asserts the right check names the cause, and restores it in a guard.

mod common;

use std::net::UdpSocket;

use common::*;

#[test]
fn warn_bridge_nf_call_off_with_nothing_relying_on_it() {
    let Some(_live) = live() else { return };
    let net = TestNet::new("brnf-warn");
    let mut restore = Restore::default();
    set_sysctl(&mut restore, "net.bridge.bridge-nf-call-iptables", "0");
    let args = ["--network", net.name.as_str()];
    let run = netcheck(&args);
    // Nothing relies on it yet: a warning, and the run still passes.
    assert_warns_only(
        &run,
        "kernel.br-netfilter",
        "net.bridge.bridge-nf-call-iptables=0: nothing relies on it yet",
    );
    // --strict makes the same warning gate.
    let strict = netcheck(&["--network", &net.name, "--strict"]);
    assert_eq!(strict.code, 1, "{}", strict.explain());
    assert_eq!(strict.status("kernel.br-netfilter"), "warn");
    drop(restore);
    assert_healthy(&netcheck(&args));
}

#[test]
fn fault_host_resolv_conf_names_no_nameserver() {
    let Some(_live) = live() else { return };
    let net = TestNet::new("noresolv");
    // An empty /etc/resolv.conf (a broken network manager, a wiped file): a bind mount
    // over it, undone on drop.
    let dir = tempdir();
    let empty = dir.path().join("resolv.conf");
    std::fs::write(&empty, "# nothing here\n").unwrap();
    let mut restore = Restore::default();
    sh(&[
        "mount",
        "--bind",
        empty.to_str().unwrap(),
        "/etc/resolv.conf",
    ]);
    restore.push(&["umount", "/etc/resolv.conf"]);
    let args = ["--network", "bridge", "--network", net.name.as_str()];
    let run = netcheck(&args);
    // Every network is affected: the engine has nothing but its fallback to give or to
    // forward to.
    let cause = "the host's /etc/resolv.conf names no nameserver";
    assert_only(
        &run,
        "dns.resolver[bridge]",
        cause,
        &[&format!("dns.resolver[{}]", net.name)],
    );
    assert_eq!(run.status(&format!("dns.resolver[{}]", net.name)), "fail");
    assert!(
        run.message(&format!("dns.resolver[{}]", net.name))
            .contains(cause)
    );
    assert!(
        run.check("dns.resolver[bridge]")["hint"]
            .as_str()
            .unwrap()
            .contains("daemon.json")
    );
    drop(restore);
    assert_healthy(&netcheck(&args));
}

#[test]
fn fault_conntrack_table_nearly_full() {
    let Some(_live) = live() else { return };
    let net = TestNet::new("conntrack");
    let max = "net.netfilter.nf_conntrack_max";
    let count = || -> u64 {
        sh(&["sysctl", "-n", "net.netfilter.nf_conntrack_count"])
            .parse()
            .unwrap()
    };
    // Fill the table with entries of the test's own: UDP datagrams over loopback to
    // closed ports, each an unreplied entry that expires by itself (30 s).
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    for port in 40000..42000u16 {
        let _ = socket.send_to(b"netcheck-test", ("127.0.0.1", port));
    }
    let mut restore = Restore::default();
    // A limit just above the fill, with room for the run's own few connections: 95%.
    let filled = count();
    set_sysctl(&mut restore, max, &(filled * 100 / 95).to_string());
    let run = netcheck(&["--network", &net.name]);
    assert_only(&run, "kernel.conntrack", "the conntrack table is 9", &[]);
    assert!(
        run.check("kernel.conntrack")["hint"]
            .as_str()
            .unwrap()
            .contains("sysctl -w net.netfilter.nf_conntrack_max="),
    );
    drop(restore);
    assert_healthy(&netcheck(&["--network", &net.name]));
}
