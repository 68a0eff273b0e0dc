//! The faults tests/live/engines.rs injects into an engine's namespace (never into this
//! machine's own firewall), each undone by a [`Restore`] guard, each asserting through
//! [`Verdicts`] that the right check fails naming its cause, with no fix that edits the
//! engine's own rules.

use std::path::Path;

use super::engine_verdicts::{Verdicts, fails, healthy, result_text};
use super::test_engine::{EngineNet, TestEngine};
use super::{Restore, Run, tempdir};

/// Captures the engine's state as fixtures/NAME.json when NETCHECK_CAPTURE_FIXTURES is set.
pub fn capture(engine: &TestEngine, name: &str, args: &[&str]) {
    if std::env::var_os("NETCHECK_CAPTURE_FIXTURES").is_none() {
        return;
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(format!("{name}.json"));
    engine.collect(&path, args);
}

/// ip_forward off: kernel.ip-forward fails naming it, with the IPv4 fix.
pub fn fault_ip_forward(engine: &TestEngine, a: &EngineNet, v: &mut Verdicts) {
    let mut undo = Restore::default();
    engine.change(
        &mut undo,
        &["sysctl", "-qw", "net.ipv4.ip_forward=0"],
        &["sysctl", "-qw", "net.ipv4.ip_forward=1"],
    );
    let run = fault_run(engine, &a.name);
    v.step(
        "ip_forward=0: kernel.ip-forward",
        fails(
            &run,
            "kernel.ip-forward",
            None,
            &["net.ipv4.ip_forward"],
            &[],
        ),
    );
    v.step(
        "ip_forward=0: nat.masquerade",
        fails(&run, "nat.masquerade", Some(&a.name), &["ip_forward"], &[]),
    );
}

/// A container's veth taken off its bridge: bridge.veth fails naming it.
pub fn fault_veth(engine: &TestEngine, a: &EngineNet, v: &mut Verdicts) {
    let veth = engine.host_veth(&a.container);
    let mut undo = Restore::default();
    engine.change(
        &mut undo,
        &["ip", "link", "set", &veth, "nomaster"],
        &["ip", "link", "set", &veth, "master", &a.bridge],
    );
    let run = fault_run(engine, &a.name);
    v.step(
        "veth off its bridge: bridge.veth",
        fails(&run, "bridge.veth", Some(&a.name), &[&veth], &[]),
    );
}

/// Docker's masquerade rule of network `net` for `subnet` deleted from `tool`'s (iptables
/// or ip6tables) nat POSTROUTING: nat.masquerade fails naming the missing masquerade,
/// not the direct-access drop that the un-NATed reply then meets.
pub fn fault_masquerade_iptables(
    engine: &TestEngine,
    net: &EngineNet,
    (tool, subnet): (&str, &str),
    v: &mut Verdicts,
    fixture: Option<&str>,
) {
    let rules = engine.sh(&[tool, "-t", "nat", "-S", "POSTROUTING"]);
    let (position, rule) = rules
        .lines()
        .filter(|l| l.starts_with("-A "))
        .enumerate()
        // The egress masquerade (`-s SUBNET ! -o BRIDGE`), not the hairpin one that
        // userland-proxy off adds (`-o BRIDGE -m addrtype --src-type LOCAL`).
        .find(|(_, l)| {
            l.contains(&format!("-s {subnet} ! -o {} ", net.bridge)) && l.contains("MASQUERADE")
        })
        .unwrap_or_else(|| panic!("no MASQUERADE rule for {subnet}:\n{rules}"));
    let spec: Vec<&str> = rule.split_whitespace().skip(2).collect();
    let position = (position + 1).to_string();
    let delete: Vec<&str> = [&[tool, "-t", "nat", "-D", "POSTROUTING"][..], &spec].concat();
    let insert: Vec<&str> = [
        &[tool, "-t", "nat", "-I", "POSTROUTING", &position][..],
        &spec,
    ]
    .concat();
    let mut undo = Restore::default();
    engine.change(&mut undo, &delete, &insert);
    let run = fault_run(engine, &net.name);
    v.step(
        &format!("{tool} MASQUERADE for {subnet} deleted: nat.masquerade"),
        fails(
            &run,
            "nat.masquerade",
            Some(&net.name),
            &["masquerade", subnet],
            &["DROP DIRECT ACCESS", "raw", "PREROUTING"],
        ),
    );
    if let Some(fixture) = fixture {
        capture(
            engine,
            &format!("fault-nat.masquerade-{fixture}-rule-deleted"),
            &["--network", &net.name],
        );
    }
}

/// Docker's masquerade of network `a` deleted from its own nftables table's per-bridge
/// chain (W1): nat.masquerade fails naming the chain, not the raw-PREROUTING direct-access
/// drop the un-NATed reply meets, locally and by the agent.
pub fn fault_masquerade_nftables(engine: &TestEngine, a: &EngineNet, v: &mut Verdicts) {
    let chain = format!("nat-postrouting-out__{}", a.bridge);
    let listing = engine.sh(&["nft", "-a", "list", "chain", "ip", "docker-bridges", &chain]);
    let line = listing
        .lines()
        .find(|l| l.contains("masquerade"))
        .unwrap_or_else(|| panic!("no masquerade in {chain}:\n{listing}"));
    let (rule, handle) = line
        .trim()
        .rsplit_once("# handle ")
        .unwrap_or_else(|| panic!("no handle: {line}"));
    let mut undo = Restore::default();
    let mut add = vec!["nft", "add", "rule", "ip", "docker-bridges", &chain];
    add.extend(rule.split_whitespace());
    let delete = [
        "nft",
        "delete",
        "rule",
        "ip",
        "docker-bridges",
        &chain,
        "handle",
        handle,
    ];
    engine.change(&mut undo, &delete, &add);
    // Seen from inside the engine's namespaces, and from this machine by the agent.
    for (how, run) in [
        ("local", fault_run(engine, &a.name)),
        (
            "agent",
            engine.run_agent(&[
                "--network",
                &a.name,
                "--probe-timeout-ms",
                FAULT_PROBE_TIMEOUT_MS,
            ]),
        ),
    ] {
        v.step(
            &format!("masquerade deleted from docker-bridges: nat.masquerade ({how})"),
            fails(
                &run,
                "nat.masquerade",
                Some(&a.name),
                &["masquerade", &chain],
                &["DROP DIRECT ACCESS", "raw-PREROUTING"],
            ),
        );
    }
    // fixtures/fault-nat.masquerade-docker29-nftables-rule-deleted.json is
    // shared/engines' capture of this state.
}

/// A foreign DROP first in iptables' FORWARD: firewall.forward fails naming FORWARD.
pub fn fault_forward_drop_iptables(
    engine: &TestEngine,
    a: &EngineNet,
    v: &mut Verdicts,
    fixture: &str,
) {
    let mut undo = Restore::default();
    engine.change(
        &mut undo,
        &["iptables", "-I", "FORWARD", "-j", "DROP"],
        &["iptables", "-D", "FORWARD", "-j", "DROP"],
    );
    let run = fault_run(engine, &a.name);
    v.step(
        "iptables -I FORWARD -j DROP: firewall.forward",
        fails(&run, "firewall.forward", Some(&a.name), &["FORWARD"], &[]),
    );
    capture(
        engine,
        &format!("fault-firewall.forward-{fixture}-forward-drop"),
        &["--network", &a.name],
    );
}

/// A firewall script's flush of the engine's rules (W4), undone by reloading the ruleset
/// saved before: `save` and `reload` are shell lines with `$F` the saved file. The
/// checks name what the running version writes (`names`), never chains it does not
/// (`never`, anywhere in any result), and no fix edits the engine's rules.
pub fn fault_flush(
    engine: &TestEngine,
    a: &EngineNet,
    v: &mut Verdicts,
    (save, flush, reload): (&str, &str, &str),
    names: &[&str],
    never: &[&str],
) {
    let dir = tempdir();
    let file = dir.path().join("saved-rules");
    let f = shlex::try_quote(file.to_str().unwrap())
        .unwrap()
        .into_owned();
    engine.sh(&["sh", "-c", &save.replace("$F", &f)]);
    let mut undo = Restore::default();
    engine.change(
        &mut undo,
        &["sh", "-c", flush],
        &["sh", "-c", &reload.replace("$F", &f)],
    );
    let run = fault_run(engine, &a.name);
    let unnamed = || {
        for r in run.results() {
            let text = result_text(r);
            if let Some(n) = never.iter().find(|n| text.contains(*n)) {
                return Err(format!(
                    "{} names {n}, which this engine never writes:\n{text}",
                    r["id"]
                ));
            }
        }
        Ok(())
    };
    v.step(
        &format!("{flush}: nat.masquerade"),
        fails(&run, "nat.masquerade", Some(&a.name), names, &[]).and_then(|()| unnamed()),
    );
    drop(undo);
}

/// The probe's deadline per connection under a fault: what a fault blocks is waited for
/// once per flow, and inside one machine an answer comes in milliseconds. Healthy runs
/// keep the default (2000 ms), so a slow machine cannot turn them into failures.
pub const FAULT_PROBE_TIMEOUT_MS: &str = "1000";

/// A run under a fault, over one network, inside the engine's namespaces.
pub fn fault_run(engine: &TestEngine, network: &str) -> Run {
    engine.run_local(&[
        "--network",
        network,
        "--probe-timeout-ms",
        FAULT_PROBE_TIMEOUT_MS,
    ])
}

/// The last run: every fault was undone, and the engine is healthy again.
pub fn healthy_again(engine: &TestEngine, v: &mut Verdicts) {
    v.step("healthy after the faults", healthy(&engine.run_local(&[])));
}
