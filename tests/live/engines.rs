//! netcheck on the engines people run today: Docker 29 (iptables, nftables, dual stack)
//! and 28 (iptables), from ../shared/engines, each in namespaces of its own
//! (tests/common/test_engine.rs). One test per configuration starts its engine once,
//! proves a healthy engine passes (locally inside the engine's namespaces, and from this
//! machine with the agent), then injects its faults one at a time inside the engine's
//! namespace, each undone by a guard, and asserts the right check fails naming the
//! cause, with no fix that edits the engine's own rules. A last healthy run proves every
//! fault was undone. Docker 29 with iptables also runs scripts/engine-layers (issue 21's
//! causes beyond netfilter) before that last run, on the same engine.
//!
//! The faults shared by several configurations are in tests/common/engine_faults.rs.
//! Each step's verdict is gathered (tests/common/engine_verdicts.rs) and the test fails
//! at its end with all of them, so one wrong verdict does not hide the next.
//!
//! `NETCHECK_CAPTURE_FIXTURES=1` also captures each state as a fixture (fixtures/).

use crate::common;

use std::path::Path;

use common::engine_faults::*;
use common::engine_verdicts::{Verdicts, engine_edit, fails, healthy};
use common::test_engine::{EngineNet, TestEngine, engines_available};
use common::*;
use serde_json::{Value, json};

#[test]
fn engine_edits_are_recognised_in_fixes() {
    for edit in [
        "nft insert rule ip docker-bridges raw-PREROUTING iifname br-1 accept",
        "let the bridge through it: nft insert rule ip raw PREROUTING iifname br-1 accept",
        "iptables -I DOCKER-USER -j ACCEPT",
        "ip6tables -t nat -A POSTROUTING -s fd00::/64 -j MASQUERADE",
        "`iptables -t raw -D PREROUTING -d 172.18.0.2/32 ! -i br-1 -j DROP`",
        "nft add rule ip docker-bridges nat-postrouting-out__br-1 masquerade",
    ] {
        assert!(engine_edit(edit).is_some(), "{edit}");
    }
    for fine in [
        "iptables -D FORWARD -j DROP",
        "nft delete table inet hostfw",
        "sysctl -w net.ipv4.ip_forward=1",
        "iptables -S DOCKER-USER; iptables -t nat -S POSTROUTING",
        "systemctl restart docker",
        "nft list table ip docker-bridges",
        "find what removed the rule (nft flush ruleset, a firewall reload)",
        "nft insert rule inet hostfw forward iifname br-1 accept",
    ] {
        assert!(engine_edit(fine).is_none(), "{fine}");
    }
}

/// The engine's setting for a test: its version, daemon.json and forwarding at start.
struct Config {
    name: &'static str,
    version: &'static str,
    daemon: Value,
    forwarding: bool,
    /// Also scripts/engine-layers' faults (issue 21's causes beyond netfilter), on this
    /// engine rather than one started for them alone: a start and stop cost ~10 s.
    layers: bool,
}

/// Starts the engine with a plain user network `a`, plus (`modes`) the networks that
/// turn a feature off on purpose: routed, nat-unprotected, internal, isolated, icc off.
fn start(config: &Config, modes: bool) -> Option<(TestEngine, EngineNet)> {
    let dir = engines_available()?;
    let mut engine = TestEngine::start(
        dir,
        config.version,
        config.daemon.clone(),
        config.forwarding,
    );
    // A bystander on the default bridge: bridge.icc tests isolation from it too.
    engine.container("bridge", "netcheck-test-bridge-c");
    let a = engine.network("a", &[]);
    if modes {
        let mode = "com.docker.network.bridge.gateway_mode_ipv4";
        engine.network("routed", &["-o", &format!("{mode}=routed")]);
        engine.network("unprotected", &["-o", &format!("{mode}=nat-unprotected")]);
        engine.network("internal", &["--internal"]);
        // Internal with no gateway at all (28.2 and later): its bridge has no address.
        engine.network(
            "isolated",
            &["--internal", "-o", &format!("{mode}=isolated")],
        );
        engine.network(
            "noicc",
            &["-o", "com.docker.network.bridge.enable_icc=false"],
        );
    }
    Some((engine, a))
}

/// The healthy runs: local, and from this machine with the agent.
fn healthy_runs(engine: &TestEngine, v: &mut Verdicts) {
    v.step("healthy, local run", healthy(&engine.run_local(&[])));
    v.step("healthy, agent run", healthy(&engine.run_agent(&[])));
}

fn iptables_engine(config: Config, fixture: &str) {
    let Some((engine, a)) = start(&config, true) else {
        return;
    };
    let mut v = Verdicts::new(config.name);
    healthy_runs(&engine, &mut v);
    fault_ip_forward(&engine, &a, &mut v);
    fault_veth(&engine, &a, &mut v);
    fault_masquerade_iptables(&engine, &a, ("iptables", &a.subnet), &mut v, Some(fixture));
    fault_forward_drop_iptables(&engine, &a, &mut v, fixture);
    // Docker 29 writes no DOCKER-ISOLATION chains; 28 does.
    let never: &[&str] = if config.version == "29" {
        &["DOCKER-ISOLATION"]
    } else {
        &[]
    };
    fault_flush(
        &engine,
        &a,
        &mut v,
        (
            "iptables-save >$F",
            "iptables -t nat -F && iptables -F",
            "iptables-restore <$F",
        ),
        &["masquerade"],
        never,
    );
    if config.layers {
        causes_beyond_netfilter(&engine, &mut v);
    }
    healthy_again(&engine, &mut v);
    v.step("stopped, nothing left", engine.stop());
    v.finish();
}

#[test]
fn engine_29_iptables() {
    iptables_engine(
        Config {
            name: "29 iptables",
            version: "29",
            daemon: json!({}),
            forwarding: false,
            layers: true,
        },
        "docker29-iptables",
    );
}

#[test]
fn engine_28_iptables_without_userland_proxy() {
    // userland-proxy off: published ports by DNAT alone, hairpin by route_localnet.
    iptables_engine(
        Config {
            name: "28 iptables, no userland proxy",
            version: "28",
            daemon: json!({"userland-proxy": false}),
            forwarding: false,
            layers: false,
        },
        "docker28-iptables",
    );
}

#[test]
fn engine_29_nftables() {
    let config = Config {
        name: "29 nftables",
        version: "29",
        daemon: json!({"firewall-backend": "nftables"}),
        // The nftables backend refuses to start with forwarding off.
        forwarding: true,
        layers: false,
    };
    let fixture = "docker29-nftables";
    let Some((engine, a)) = start(&config, true) else {
        return;
    };
    let mut v = Verdicts::new(config.name);
    healthy_runs(&engine, &mut v);
    // Docker's nftables rules as today's collector reads them (DNAT included).
    capture(&engine, &format!("healthy-{fixture}-gateway-modes"), &[]);
    fault_ip_forward(&engine, &a, &mut v);
    fault_veth(&engine, &a, &mut v);

    fault_masquerade_nftables(&engine, &a, &mut v);

    // Everything flushed: what is gone is Docker's table, not iptables chains.
    fault_flush(
        &engine,
        &a,
        &mut v,
        (
            "nft list ruleset >$F",
            "nft flush ruleset",
            "nft flush ruleset && nft -f $F",
        ),
        &["docker-bridges"],
        &["DOCKER-ISOLATION", "DOCKER-FORWARD"],
    );

    // A host firewall's own table whose forward chain drops by policy.
    {
        let mut undo = Restore::default();
        engine.change(
            &mut undo,
            &[
                "nft",
                "add table inet hostfw; add chain inet hostfw forward { type filter hook forward priority 0; policy drop; }",
            ],
            &["nft", "delete", "table", "inet", "hostfw"],
        );
        let run = fault_run(&engine, &a.name);
        v.step(
            "table inet hostfw, forward policy drop: firewall.forward",
            fails(&run, "firewall.forward", Some(&a.name), &["hostfw"], &[]),
        );
        capture(
            &engine,
            &format!("fault-firewall.forward-{fixture}-foreign-table-drop"),
            &["--network", &a.name],
        );
    }
    healthy_again(&engine, &mut v);
    v.step("stopped, nothing left", engine.stop());
    v.finish();
}

#[test]
fn engine_29_dual_stack() {
    let config = Config {
        name: "29 dual stack",
        version: "29",
        daemon: json!({"ip6tables": true, "ipv6": true, "fixed-cidr-v6": "fd00:1::/64"}),
        forwarding: false,
        layers: false,
    };
    let fixture = "docker29-dual-stack";
    let Some((mut engine, a)) = start(&config, false) else {
        return;
    };
    let v6 = engine.network("v6", &["--ipv6", "--subnet", "fd00:2::/64"]);
    // IPv6 routed, IPv4 NATed: a gateway mode per address family.
    engine.network(
        "v6-routed",
        &[
            "--ipv6",
            "--subnet",
            "fd00:3::/64",
            "-o",
            "com.docker.network.bridge.gateway_mode_ipv6=routed",
        ],
    );
    let mut v = Verdicts::new(config.name);
    healthy_runs(&engine, &mut v);
    fault_ip_forward(&engine, &a, &mut v);
    fault_veth(&engine, &v6, &mut v);
    let subnet6 = v6.subnet6.clone().expect("an IPv6 subnet");
    fault_masquerade_iptables(
        &engine,
        &v6,
        ("ip6tables", &subnet6),
        &mut v,
        Some(&format!("{fixture}-ipv6")),
    );

    // ip6tables drops all forwarding: the IPv6 network's forward path is cut.
    {
        let mut undo = Restore::default();
        engine.change(
            &mut undo,
            &["ip6tables", "-I", "FORWARD", "-j", "DROP"],
            &["ip6tables", "-D", "FORWARD", "-j", "DROP"],
        );
        let run = fault_run(&engine, &v6.name);
        v.step(
            "ip6tables -I FORWARD -j DROP: firewall.forward",
            fails(&run, "firewall.forward", Some(&v6.name), &["FORWARD"], &[]),
        );
        // fixtures/fault-firewall.forward-docker29-ip6tables-forward-drop.json is
        // shared/engines' capture of this state.
    }

    // IPv6 forwarding off: named, with the IPv6 fix.
    {
        let mut undo = Restore::default();
        engine.change(
            &mut undo,
            &["sysctl", "-qw", "net.ipv6.conf.all.forwarding=0"],
            &["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"],
        );
        let run = fault_run(&engine, &v6.name);
        let ipv6_fix = || {
            let r = run.check("kernel.ip-forward");
            let hint = r["hint"].as_str().unwrap_or("");
            if hint.contains("net.ipv6.conf.all.forwarding=1") && !hint.contains("ip_forward=1") {
                Ok(())
            } else {
                Err(format!("not the IPv6 fix: {hint}"))
            }
        };
        v.step(
            "net.ipv6.conf.all.forwarding=0: kernel.ip-forward",
            fails(
                &run,
                "kernel.ip-forward",
                None,
                &["net.ipv6.conf.all.forwarding"],
                &[],
            )
            .and_then(|()| ipv6_fix()),
        );
    }
    healthy_again(&engine, &mut v);
    v.step("stopped, nothing left", engine.stop());
    v.finish();
}

/// Issue 21's causes beyond netfilter (traffic control, neighbours, marks, conntrack,
/// redirects, both ends of a link, users' own ports) and their healthy twins:
/// scripts/engine-layers injects each inside the engine's namespaces, on a network of
/// its own, and says OK or BAD for the check and the cause it must name.
fn causes_beyond_netfilter(engine: &TestEngine, v: &mut Verdicts) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/engine-layers");
    let out = engine.exec(&[
        "env",
        &format!("DOCKER_HOST={}", engine.host),
        &format!("NETCHECK={}", bin()),
        script.to_str().unwrap(),
    ]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!("{said}");
    let bad: Vec<&str> = said.lines().filter(|l| l.starts_with("BAD")).collect();
    let ok = said.lines().filter(|l| l.starts_with("OK")).count();
    let verdict = if !bad.is_empty() {
        Err(format!("{} wrong:\n{}", bad.len(), bad.join("\n")))
    } else if ok < 20 {
        Err(format!(
            "only {ok} verdicts:\n{said}\n{}",
            String::from_utf8_lossy(&out.stderr)
        ))
    } else {
        Ok(())
    };
    v.step("scripts/engine-layers: causes beyond netfilter", verdict);
}
