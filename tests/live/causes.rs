//! Live tests of causes users hit on real hosts, beyond the catalogue's first faults:
//! a host with no resolver, a full conntrack table, a network exempted from NAT, and
//! networks that turn a feature off on purpose. Each
//! breaks the host, asserts the right check names the cause, and restores it in a guard.

use crate::common;

use std::net::UdpSocket;

use common::*;

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

/// Every checked network's egress is tested live, not only the network the probe's
/// default route uses: a rule that exempts one network from NAT, above Docker's
/// MASQUERADE (a VPN's or a site's "no NAT" rule), leaves the static reading intact and
/// is caught only by the live request from that network.
#[test]
fn fault_nat_exempted_on_a_network_that_is_not_the_probes_egress() {
    let Some(_live) = live() else { return };
    let net = TestNet::new("egress");
    let args = ["--network", "bridge", "--network", net.name.as_str()];
    let healthy = netcheck(&args);
    assert_healthy(&healthy);
    let id = format!("nat.masquerade[{}]", net.name);
    let evidence = healthy.check(&id)["evidence"].to_string();
    assert!(
        evidence.contains(&format!(
            "from the probe's interface on {}: outside peer",
            net.name
        )) && evidence.contains("the host's address"),
        "{evidence}"
    );

    let mut restore = Restore::default();
    let subnet = net.subnet.to_string();
    insert_rule(
        &mut restore,
        "iptables",
        "nat",
        "POSTROUTING",
        &["-s", &subnet, "-d", "198.18.0.0/15", "-j", "ACCEPT"],
    );
    let run = netcheck(&args);
    assert_only(
        &run,
        &id,
        "the outside peer saw the container's own address",
        &[],
    );
    assert_eq!(run.status("nat.masquerade[bridge]"), "pass");
    drop(restore);
    assert_healthy(&netcheck(&args));
}

/// Networks that turn a feature off on purpose never fail for it: an internal network,
/// one without masquerading, one with icc=false, and one with a custom (smaller) MTU.
/// Every check passes on each, or skips saying why.
#[test]
fn networks_that_turn_a_feature_off_on_purpose_do_not_fail() {
    let Some(_live) = live() else { return };
    let mtu = (uplink_mtu() - 120).to_string();
    let mut nets = vec![
        TestNet::named("netcheck-test-off-internal", &["--internal"]),
        TestNet::named(
            "netcheck-test-off-nomasq",
            &["-o", "com.docker.network.bridge.enable_ip_masquerade=false"],
        ),
        TestNet::named(
            "netcheck-test-off-noicc",
            &["-o", "com.docker.network.bridge.enable_icc=false"],
        ),
        TestNet::named(
            "netcheck-test-off-mtu",
            &["-o", &format!("com.docker.network.driver.mtu={mtu}")],
        ),
    ];
    let mut args = vec!["--network".to_string(), "bridge".to_string()];
    for n in &mut nets {
        n.sleeper("app");
        args.extend(["--network".to_string(), n.name.clone()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = netcheck(&args);
    assert_eq!(run.code, 0, "{}", run.explain());
    for result in run.results() {
        let status = result["status"].as_str().unwrap();
        assert!(
            status == "pass"
                || (status == "skip" && !result["message"].as_str().unwrap().is_empty()),
            "{} is {status}:\n{}",
            result["id"],
            run.explain()
        );
    }
    // The features are off, and the evidence says so rather than passing silently.
    let said = |id: &str, text: &str| {
        let r = run.check(id);
        let all = format!("{} {}", r["message"], r["evidence"]);
        assert!(all.contains(text), "{id}: expected {text:?} in {all}");
    };
    said(
        "nat.masquerade[netcheck-test-off-internal]",
        "internal, no NAT by design",
    );
    said(
        "nat.masquerade[netcheck-test-off-nomasq]",
        "masquerading disabled",
    );
    said("bridge.icc[netcheck-test-off-noicc]", "blocked");
}
