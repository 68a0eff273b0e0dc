//! netcheck on the engines people run today: Docker 29 (iptables, nftables, dual stack)
//! and 28 (iptables), from ../shared/engines, each in namespaces of its own
//! (tests/common/test_engine.rs). One test per configuration starts its engine once,
//! proves a healthy engine passes (locally inside the engine's namespaces, and from this
//! machine with the agent), then injects its faults one at a time inside the engine's
//! namespace, each undone by a guard, and asserts the right check fails naming the
//! cause, with no fix that edits the engine's own rules. A last healthy run proves every
//! fault was undone.
//!
//! Each step's verdict is gathered and the test fails at its end with all of them, so one
//! wrong verdict does not hide the next.
//!
//! `NETCHECK_CAPTURE_FIXTURES=1` also captures each state as a fixture (fixtures/).

mod common;

use std::path::Path;

use common::test_engine::{EngineNet, TestEngine, engines_available};
use common::*;
use serde_json::{Value, json};

/// What went wrong in a configuration, step by step.
#[derive(Default)]
struct Verdicts {
    config: String,
    wrong: Vec<String>,
}

impl Verdicts {
    fn new(config: &str) -> Verdicts {
        Verdicts {
            config: config.into(),
            wrong: vec![],
        }
    }

    fn step(&mut self, what: &str, outcome: Result<(), String>) {
        match outcome {
            Ok(()) => eprintln!("{}: {what}: ok", self.config),
            Err(e) => {
                eprintln!("{}: {what}: WRONG: {e}", self.config);
                self.wrong.push(format!("{what}: {e}"));
            }
        }
    }

    fn finish(self) {
        assert!(
            self.wrong.is_empty(),
            "{}: {} wrong:\n\n{}",
            self.config,
            self.wrong.len(),
            self.wrong.join("\n\n")
        );
    }
}

/// A result's whole text: headline, findings, evidence and fix.
fn result_text(r: &Value) -> String {
    let mut text = vec![
        r["message"].as_str().unwrap_or("").to_string(),
        r["hint"].as_str().unwrap_or("").to_string(),
    ];
    for list in ["findings", "evidence"] {
        for item in r[list].as_array().into_iter().flatten() {
            text.push(
                item["message"]
                    .as_str()
                    .or(item.as_str())
                    .unwrap_or("")
                    .into(),
            );
        }
    }
    text.join("\n")
}

/// A result's headline and its findings: what it says the cause is.
fn cause_text(r: &Value) -> String {
    let mut text = vec![r["message"].as_str().unwrap_or("").to_string()];
    for f in r["findings"].as_array().into_iter().flatten() {
        text.push(f["message"].as_str().unwrap_or("").into());
    }
    text.join("\n")
}

/// The report's results, or why there is none.
fn results(run: &Run) -> Result<&Vec<Value>, String> {
    run.report
        .as_ref()
        .and_then(|r| r["checks"].as_array())
        .ok_or_else(|| format!("no JSON report:\n{}", run.explain()))
}

/// Every built-in check is reported, each passes or skips with a reason, and the exit
/// code is 0. A network open to everything by configuration (nat-unprotected, routed)
/// may warn, naming its option; it never fails.
fn healthy(run: &Run) -> Result<(), String> {
    let results = results(run)?;
    for id in ALL {
        if !results.iter().any(|r| is(r, id)) {
            return Err(format!("{id} not reported:\n{}", run.explain()));
        }
    }
    let mut wrong = vec![];
    for r in results {
        let message = r["message"].as_str().unwrap_or("");
        let ok = match r["status"].as_str() {
            Some("pass") => true,
            Some("skip") => !message.trim().is_empty(),
            Some("warn") => ["gateway_mode", "nat-unprotected", "routed"]
                .iter()
                .any(|o| message.contains(o)),
            _ => false,
        };
        if !ok {
            wrong.push(format!("{} is {}: {message}", r["id"], r["status"]));
        }
    }
    no_engine_fix(run)?;
    if !wrong.is_empty() || run.code != 0 {
        return Err(format!(
            "exit {}; {}\n{}",
            run.code,
            wrong.join("; "),
            run.stdout
        ));
    }
    Ok(())
}

/// `check` (on `network`, where given) fails, and its headline or findings name every
/// one of `causes` (case-insensitive) and none of `not`; the exit code is 1; no fix edits
/// the engine's rules.
fn fails(
    run: &Run,
    check: &str,
    network: Option<&str>,
    causes: &[&str],
    not: &[&str],
) -> Result<(), String> {
    let results = results(run)?;
    let id = network.map(|n| format!("{check}[{n}]"));
    let r = results
        .iter()
        .find(|r| match &id {
            Some(id) => r["id"] == id.as_str(),
            None => r["check"] == check,
        })
        .ok_or_else(|| format!("{check} {network:?} not reported:\n{}", run.explain()))?;
    if r["status"] != "fail" {
        return Err(format!(
            "{} is {}, not fail: {}\n{}",
            r["id"], r["status"], r["message"], run.stdout
        ));
    }
    let said = cause_text(r).to_lowercase();
    for cause in causes {
        if !said.contains(&cause.to_lowercase()) {
            return Err(format!(
                "{} fails without naming {cause:?}:\n{}",
                r["id"],
                result_text(r)
            ));
        }
    }
    let headline = r["message"].as_str().unwrap_or("").to_lowercase();
    for wrong in not {
        if headline.contains(&wrong.to_lowercase()) {
            return Err(format!("{} blames {wrong:?}:\n{}", r["id"], result_text(r)));
        }
    }
    if run.code != 1 {
        return Err(format!("exit {}, not 1:\n{}", run.code, run.explain()));
    }
    no_engine_fix(run)?;
    eprintln!(
        "  {} fails: {}\n    fix: {}",
        r["id"],
        r["message"].as_str().unwrap_or(""),
        r["hint"]
            .as_str()
            .unwrap_or("")
            .replace('\n', "\n         ")
    );
    Ok(())
}

/// No fix, of any result, inserts into or deletes from a table or chain the engine
/// owns: `table ip docker-bridges`, the DOCKER* chains, raw PREROUTING (the direct-access
/// drops) and nat POSTROUTING (its masquerade). Text after "expected:" describes the
/// rule the engine writes, and is no command.
fn no_engine_fix(run: &Run) -> Result<(), String> {
    for r in results(run)? {
        for line in r["hint"].as_str().unwrap_or("").lines() {
            let line = line.split("expected:").next().unwrap_or("");
            if let Some(command) = engine_edit(line) {
                return Err(format!(
                    "{}: a fix edits the engine's rules: {command}\n{}",
                    r["id"],
                    result_text(r)
                ));
            }
        }
    }
    Ok(())
}

/// The first iptables, ip6tables or nft command in `line` that edits the engine's
/// rules, where there is one.
fn engine_edit(line: &str) -> Option<String> {
    let words: Vec<String> = line
        .split_whitespace()
        .map(|w| w.trim_matches(|c| "`'\",;()".contains(c)).to_string())
        .collect();
    let engine_chain = |table: &str, chain: &str| {
        chain.starts_with("DOCKER")
            || (table == "raw" && chain == "PREROUTING")
            || (table == "nat" && chain == "POSTROUTING")
            || table == "docker-bridges"
    };
    for (i, w) in words.iter().enumerate() {
        let rest = &words[i + 1..];
        let end = rest.len().min(12);
        let rest = &rest[..end];
        let command = || format!("{w} {}", rest.join(" "));
        if w.ends_with("iptables") || w.ends_with("ip6tables") || w.contains("iptables-") {
            let mut table = "filter";
            let mut j = 0;
            while j < rest.len() {
                match rest[j].as_str() {
                    "-t" | "--table" => {
                        table = rest.get(j + 1).map(String::as_str).unwrap_or("");
                        j += 2;
                    }
                    "-I" | "-A" | "-D" | "-R" | "-F" | "-X" | "-P" | "--insert" | "--append"
                    | "--delete" | "--replace" | "--flush" => {
                        let chain = rest.get(j + 1).map(String::as_str).unwrap_or("");
                        if engine_chain(table, chain) {
                            return Some(command());
                        }
                        break;
                    }
                    _ => j += 1,
                }
            }
        } else if w == "nft" {
            // nft VERB OBJECT [FAMILY] TABLE [CHAIN] …
            let verb = rest.first().map(String::as_str).unwrap_or("");
            if ![
                "insert", "add", "delete", "replace", "flush", "create", "destroy",
            ]
            .contains(&verb)
            {
                continue;
            }
            let mut args: Vec<&str> = rest.iter().skip(2).map(String::as_str).collect();
            if args
                .first()
                .is_some_and(|f| ["ip", "ip6", "inet", "arp", "bridge", "netdev"].contains(f))
            {
                args.remove(0);
            }
            let table = args.first().copied().unwrap_or("");
            let chain = args.get(1).copied().unwrap_or("");
            if engine_chain(table, chain) {
                return Some(command());
            }
        }
    }
    None
}

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

/// Captures the engine's state as fixtures/NAME.json when NETCHECK_CAPTURE_FIXTURES is set.
fn capture(engine: &TestEngine, name: &str, args: &[&str]) {
    if std::env::var_os("NETCHECK_CAPTURE_FIXTURES").is_none() {
        return;
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(format!("{name}.json"));
    engine.collect(&path, args);
}

/// The engine's setting for a test: its version, daemon.json and forwarding at start.
struct Config {
    name: &'static str,
    version: &'static str,
    daemon: Value,
    forwarding: bool,
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

/// ip_forward off: kernel.ip-forward fails naming it, with the IPv4 fix.
fn fault_ip_forward(engine: &TestEngine, a: &EngineNet, v: &mut Verdicts) {
    let mut undo = Restore::default();
    engine.change(
        &mut undo,
        &["sysctl", "-qw", "net.ipv4.ip_forward=0"],
        &["sysctl", "-qw", "net.ipv4.ip_forward=1"],
    );
    let run = engine.run_local(&["--network", &a.name]);
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
fn fault_veth(engine: &TestEngine, a: &EngineNet, v: &mut Verdicts) {
    let veth = engine.host_veth(&a.container);
    let mut undo = Restore::default();
    engine.change(
        &mut undo,
        &["ip", "link", "set", &veth, "nomaster"],
        &["ip", "link", "set", &veth, "master", &a.bridge],
    );
    let run = engine.run_local(&["--network", &a.name]);
    v.step(
        "veth off its bridge: bridge.veth",
        fails(&run, "bridge.veth", Some(&a.name), &[&veth], &[]),
    );
}

/// Docker's masquerade rule of network `net` for `subnet` deleted from `tool`'s (iptables
/// or ip6tables) nat POSTROUTING: nat.masquerade fails naming the missing masquerade,
/// not the direct-access drop that the un-NATed reply then meets.
fn fault_masquerade_iptables(
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
    let run = engine.run_local(&["--network", &net.name]);
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

/// A foreign DROP first in iptables' FORWARD: firewall.forward fails naming FORWARD.
fn fault_forward_drop_iptables(
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
    let run = engine.run_local(&["--network", &a.name]);
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

/// The last run: every fault was undone, and the engine is healthy again.
fn healthy_again(engine: &TestEngine, v: &mut Verdicts) {
    v.step("healthy after the faults", healthy(&engine.run_local(&[])));
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
    healthy_again(&engine, &mut v);
    drop(engine);
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

    // Docker's masquerade of network `a`, in its own table's per-bridge chain, deleted.
    {
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
        let run = engine.run_local(&["--network", &a.name]);
        v.step(
            "masquerade deleted from docker-bridges: nat.masquerade",
            fails(
                &run,
                "nat.masquerade",
                Some(&a.name),
                &["masquerade", &chain],
                &["DROP DIRECT ACCESS", "raw-PREROUTING"],
            ),
        );
        // fixtures/fault-nat.masquerade-docker29-nftables-rule-deleted.json is
        // shared/engines' capture of this state.
    }

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
        let run = engine.run_local(&["--network", &a.name]);
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
    drop(engine);
    v.finish();
}

#[test]
fn engine_29_dual_stack() {
    let config = Config {
        name: "29 dual stack",
        version: "29",
        daemon: json!({"ip6tables": true, "ipv6": true, "fixed-cidr-v6": "fd00:1::/64"}),
        forwarding: false,
    };
    let fixture = "docker29-dual-stack";
    let Some((mut engine, a)) = start(&config, false) else {
        return;
    };
    let v6 = engine.network("v6", &["--ipv6", "--subnet", "fd00:2::/64"]);
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
        let run = engine.run_local(&["--network", &v6.name]);
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
        let run = engine.run_local(&["--network", &v6.name]);
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
    drop(engine);
    v.finish();
}

/// Issue 21's causes beyond netfilter (traffic control, neighbours, marks, conntrack,
/// redirects, both ends of a link, users' own ports) and their healthy twins, on
/// Docker 29: scripts/engine-layers injects each inside the engine's namespaces and
/// says OK or BAD for the check and the cause it must name.
#[test]
fn engine_29_causes_beyond_netfilter() {
    let Some(dir) = engines_available() else {
        return;
    };
    let engine = TestEngine::start(dir, "29", json!({}), false);
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
    assert!(
        bad.is_empty(),
        "{} wrong on Docker 29:\n{}",
        bad.len(),
        bad.join("\n")
    );
    assert!(
        ok >= 20,
        "only {ok} verdicts:\n{said}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
