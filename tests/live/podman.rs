//! netcheck on a rootful Podman (Debian's 4.3.1, netavark 1.4, aardvark-dns), serving its
//! Docker-compatible API in namespaces of its own (scripts/podman-engine, through
//! tests/common/podman_engine.rs). Each test starts its own service (~1 s, ~1 s more
//! for the probe image, 0.2 s to stop): one user network with a lingering container,
//! netcheck run inside Podman's namespaces, and its faults injected there alone, each
//! undone by a guard. Each step's verdict is gathered and the test fails at its end with
//! all of them; every run's text output is printed.
//!
//! netavark's rules of a network `a` (subnet S, bridge podman1, chain NETAVARK-<hash>):
//! nat `-A POSTROUTING -s S -j NETAVARK-<hash>`, `-A NETAVARK-<hash> -d S -j ACCEPT`,
//! `-A NETAVARK-<hash> ! -d 224.0.0.0/4 -j MASQUERADE`; filter `-A FORWARD -j
//! NETAVARK_FORWARD` with `-d S … RELATED,ESTABLISHED -j ACCEPT` and `-s S -j ACCEPT`.
//! Any container that joins the network re-adds whichever of them is missing.

use crate::common;

use common::engine_faults::FAULT_PROBE_TIMEOUT_MS;
use common::engine_verdicts::{Verdicts, results};
use common::podman_verdicts::*;
use common::*;

#[test]
fn healthy_rootful_podman_passes() {
    let Some((podman, _a)) = start() else {
        return;
    };
    let mut v = Verdicts::new("podman");
    let local = podman.run_local(&[]);
    show("healthy, local run", &local);
    v.step("healthy, local run", healthy(&local));
    let agent = podman.run_agent(&[]);
    show("healthy, agent run", &agent);
    v.step("healthy, agent run", healthy(&agent));
    v.step("stopped, nothing left", podman.stop());
    v.finish();
}

/// netavark's MASQUERADE of network `a` deleted from its chain: nat.masquerade fails
/// naming the missing masquerade. netavark re-adds it when a container joins the network,
/// and netcheck's probe is one: whether it was back after the run is said too.
#[test]
fn podman_masquerade_rule_deleted_fails_nat_masquerade() {
    let Some((podman, a)) = start() else {
        return;
    };
    let mut v = Verdicts::new("podman");
    let chain = masquerade_chain(&podman, &a);
    let rules = podman.sh(&["iptables", "-t", "nat", "-S", &chain]);
    let (position, rule) = rules
        .lines()
        .filter(|l| l.starts_with("-A "))
        .enumerate()
        .find(|(_, l)| l.ends_with("-j MASQUERADE"))
        .unwrap_or_else(|| panic!("no MASQUERADE in {chain}:\n{rules}"));
    let spec: Vec<&str> = rule.split_whitespace().skip(2).collect();
    let position = (position + 1).to_string();
    let quoted = |words: &[&str]| {
        words
            .iter()
            .map(|w| shlex::try_quote(w).unwrap().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let check: Vec<&str> = [&["iptables", "-t", "nat", "-C", &chain][..], &spec].concat();
    let delete: Vec<&str> = [&["iptables", "-t", "nat", "-D", &chain][..], &spec].concat();
    let insert: Vec<&str> = [
        &["iptables", "-t", "nat", "-I", &chain, &position][..],
        &spec,
    ]
    .concat();
    // Put back only where netavark has not already.
    let undo = format!("{} || {}", quoted(&check), quoted(&insert));
    let mut guard = Restore::default();
    podman.change(&mut guard, &delete, &["sh", "-c", &undo]);
    let run = fault_run(&podman, &a);
    show(&format!("{chain} MASQUERADE deleted"), &run);
    let back = podman.exec(&check).status.success();
    eprintln!(
        "after the run, the MASQUERADE rule of {chain} is {}",
        if back {
            "back (netavark re-added it)"
        } else {
            "still missing"
        }
    );
    v.step(
        &format!("MASQUERADE of {chain} deleted: nat.masquerade"),
        fails(&run, "nat.masquerade", &a.name, &["masquerade"]).map_err(|e| {
            if back {
                format!(
                    "{e}\n(netavark re-added the rule during the run: netcheck's probe joining {} set the network up again)",
                    a.name
                )
            } else {
                e
            }
        }),
    );
    drop(guard);
    v.step("stopped, nothing left", podman.stop());
    v.finish();
}

/// The seed's faults and a host firewall's, each injected in Podman's namespace alone
/// and undone by a guard before the next: a RETURN that bypasses netavark's MASQUERADE
/// (nat.masquerade), a FORWARD DROP above netavark's jump (firewall.forward), an INPUT
/// DROP of the network's traffic to the host (host.docker-internal), ip_forward
/// off (kernel.ip-forward: netavark turns it on again for the probe, so what the running
/// containers had is what fails), the bridge's gateway address removed (bridge.subnet),
/// a container's veth off its bridge (bridge.veth). A last run proves every one was
/// undone.
#[test]
fn podman_seed_faults_fail_the_right_checks() {
    let Some((podman, a)) = start() else {
        return;
    };
    let mut v = Verdicts::new("podman");
    let chain = masquerade_chain(&podman, &a);
    // A RETURN atop netavark's chain skips its MASQUERADE, and stays (netavark re-adds
    // missing rules, it removes none), unlike a deleted one.
    one_fault(
        (&podman, &a, &mut v),
        &format!("-I {chain} 1 -j RETURN: nat.masquerade"),
        (
            &["iptables", "-t", "nat", "-I", &chain, "1", "-j", "RETURN"],
            &["iptables", "-t", "nat", "-D", &chain, "-j", "RETURN"],
        ),
        |run| fails(run, "nat.masquerade", &a.name, &["RETURN"]),
    );
    one_fault(
        (&podman, &a, &mut v),
        "iptables -I FORWARD -j DROP: firewall.forward",
        (
            &["iptables", "-I", "FORWARD", "-j", "DROP"],
            &["iptables", "-D", "FORWARD", "-j", "DROP"],
        ),
        |run| fails(run, "firewall.forward", &a.name, &["FORWARD"]),
    );
    one_fault(
        (&podman, &a, &mut v),
        "ip_forward=0: kernel.ip-forward",
        (
            &["sysctl", "-qw", "net.ipv4.ip_forward=0"],
            &["sysctl", "-qw", "net.ipv4.ip_forward=1"],
        ),
        |run| fails_host(run, "kernel.ip-forward", &["net.ipv4.ip_forward"]),
    );
    let gateway = format!("{}/{}", a.gateway(), a.prefix_len());
    one_fault(
        (&podman, &a, &mut v),
        "gateway address removed: bridge.subnet",
        (
            &["ip", "addr", "del", &gateway, "dev", &a.bridge],
            &["ip", "addr", "add", &gateway, "dev", &a.bridge],
        ),
        |run| fails(run, "bridge.subnet", &a.name, &[&a.bridge]),
    );
    // A host firewall that drops what the network sends the host: Podman's name for the
    // host resolves, and the host does not answer there.
    one_fault(
        (&podman, &a, &mut v),
        "INPUT drops the network: host.docker-internal",
        (
            &["iptables", "-I", "INPUT", "-s", &a.subnet, "-j", "DROP"],
            &["iptables", "-D", "INPUT", "-s", &a.subnet, "-j", "DROP"],
        ),
        |run| {
            fails_host(
                run,
                "host.docker-internal",
                &["host.containers.internal", "does not answer"],
            )
        },
    );
    let veth = podman.host_veth(&a.container);
    one_fault(
        (&podman, &a, &mut v),
        "veth off its bridge: bridge.veth",
        (
            &["ip", "link", "set", &veth, "nomaster"],
            &["ip", "link", "set", &veth, "master", &a.bridge],
        ),
        |run| fails(run, "bridge.veth", &a.name, &[&veth]),
    );
    // The probe left the bridge while the veth was off it: netavark removed the bridge,
    // having seen no port left on it. Restarting the container sets it up again.
    podman.podman(&["restart", &a.container]);
    let run = podman.run_local(&[]);
    show("healthy again", &run);
    v.step("every fault undone", healthy(&run));
    v.step("stopped, nothing left", podman.stop());
    v.finish();
}

/// Two networks created with `--opt isolate=true`, which netavark keeps apart, and one
/// without, which reaches both by Podman's design. Healthy, nothing fails; with ACCEPTs
/// between the two isolated bridges above netavark's isolation, bridge.icc fails naming
/// them, and never the open one.
#[test]
fn podman_isolation_is_judged_as_netavark_writes_it() {
    let Some((mut podman, open)) = start() else {
        return;
    };
    let mut v = Verdicts::new("podman");
    let x = podman.network_with("x", &["--opt", "isolate=true"]);
    let y = podman.network_with("y", &["--opt", "isolate=true"]);
    let nets = [
        "--network",
        &open.name,
        "--network",
        &x.name,
        "--network",
        &y.name,
    ];
    let run = podman.run_local(&nets);
    show("two isolated networks and an open one", &run);
    v.step("isolated and open networks: healthy", healthy(&run));
    // ACCEPTs of a site's own, first in netavark's isolation chain, let x and y reach
    // each other (both ways: the isolation rules are stateless, a reply meets them too).
    // A deleted DROP of netavark's would not do: netavark writes it again when the probe
    // joins, as it does every rule of a network a container joins.
    let mut guard = Restore::default();
    for (from, to) in [(&x.bridge, &y.bridge), (&y.bridge, &x.bridge)] {
        let accept = ["-i", from.as_str(), "-o", to.as_str(), "-j", "ACCEPT"];
        let insert: Vec<&str> = [
            &["iptables", "-I", "NETAVARK_ISOLATION_1", "1"][..],
            &accept,
        ]
        .concat();
        let delete: Vec<&str> = [&["iptables", "-D", "NETAVARK_ISOLATION_1"][..], &accept].concat();
        podman.change(&mut guard, &insert, &delete);
    }
    let mut args = nets.to_vec();
    args.extend(["--probe-timeout-ms", FAULT_PROBE_TIMEOUT_MS]);
    let run = podman.run_local(&args);
    show("ACCEPTs between x and y above netavark's isolation", &run);
    v.step(
        "ACCEPT x <-> y: bridge.icc",
        fails(&run, "bridge.icc", &x.name, &[&y.name, "not isolated"]),
    );
    let open_ok = results(&run).map(|rs| {
        rs.iter()
            .any(|r| r["id"] == format!("bridge.icc[{}]", open.name) && r["status"] == "pass")
    });
    v.step(
        "ACCEPT x <-> y: the open network still passes",
        match open_ok {
            Ok(true) => Ok(()),
            _ => Err(run.explain()),
        },
    );
    drop(guard);
    v.step("stopped, nothing left", podman.stop());
    v.finish();
}

/// Networks that turn a feature off on purpose, or add IPv6, beside a plain one: an
/// internal network (no NAT, no way out, its bridge not forwarding), one without DNS
/// (`--disable-dns`), and a dual-stack one (netavark's NAT66). Nothing fails, and each
/// check that has nothing to judge there says why.
#[test]
fn podman_networks_that_turn_features_off_pass() {
    let Some((mut podman, _a)) = start() else {
        return;
    };
    let mut v = Verdicts::new("podman");
    podman.network_with("internal", &["--internal"]);
    podman.network_with("nodns", &["--disable-dns"]);
    podman.network_with("v6", &["--ipv6"]);
    let run = podman.run_local(&[]);
    show("internal, without DNS, dual stack", &run);
    v.step("internal, without DNS, dual stack: healthy", healthy(&run));
    // Without the probe (checks that need none), the default network has no container,
    // and so no bridge: Podman's design, not a fault.
    let run = podman.run_local(&["bridge.subnet", "bridge.veth"]);
    show("no probe: bridge.subnet, bridge.veth", &run);
    v.step(
        "no probe, the default network bridgeless: healthy",
        passes_or_skips(&run),
    );
    v.step("stopped, nothing left", podman.stop());
    v.finish();
}

/// A firewall reload that flushes every rule, netavark's with them, while a container
/// runs: netavark writes the network's rules again when netcheck's probe joins it, so
/// what the container met shows in the tables read before the probe. firewall.backend
/// and nat.masquerade fail saying so, with `podman network reload --all` as the fix, and
/// that fix, run as the guard, makes the host healthy again.
#[test]
fn podman_firewall_reload_fails_though_the_probe_heals_it() {
    let Some((podman, a)) = start() else {
        return;
    };
    let mut v = Verdicts::new("podman");
    let mut guard = Restore::default();
    let reload = podman.podman_argv(&["network", "reload", "--all"]);
    guard.push(&reload.iter().map(String::as_str).collect::<Vec<_>>());
    podman.sh(&[
        "sh",
        "-c",
        "iptables -t nat -F && iptables -t nat -X && iptables -F && iptables -X",
    ]);
    let run = fault_run(&podman, &a);
    show("every rule flushed", &run);
    v.step(
        "flushed: firewall.backend",
        fails_host(
            &run,
            "firewall.backend",
            &["while containers ran", "podman network reload"],
        ),
    );
    v.step(
        "flushed: nat.masquerade",
        fails(
            &run,
            "nat.masquerade",
            &a.name,
            &["while its containers ran"],
        ),
    );
    drop(guard);
    let run = podman.run_local(&[]);
    show("after podman network reload --all", &run);
    v.step("the fix restores a healthy host", healthy(&run));
    v.step("stopped, nothing left", podman.stop());
    v.finish();
}
