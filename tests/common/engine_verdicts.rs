//! The verdicts the engine tests (tests/live/engines.rs) expect of a report: a healthy
//! engine, a fault caught by the right check naming its cause, and no fix that edits
//! the engine's own rules. Each step's verdict is gathered ([`Verdicts`]) so that one
//! wrong verdict does not hide the next.

use serde_json::Value;

use super::{ALL, Run, is};

/// What went wrong in a configuration, step by step.
#[derive(Default)]
pub struct Verdicts {
    config: String,
    wrong: Vec<String>,
}

impl Verdicts {
    pub fn new(config: &str) -> Verdicts {
        Verdicts {
            config: config.into(),
            wrong: vec![],
        }
    }

    pub fn step(&mut self, what: &str, outcome: Result<(), String>) {
        match outcome {
            Ok(()) => eprintln!("{}: {what}: ok", self.config),
            Err(e) => {
                eprintln!("{}: {what}: WRONG: {e}", self.config);
                self.wrong.push(format!("{what}: {e}"));
            }
        }
    }

    pub fn finish(self) {
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
pub fn result_text(r: &Value) -> String {
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
pub fn cause_text(r: &Value) -> String {
    let mut text = vec![r["message"].as_str().unwrap_or("").to_string()];
    for f in r["findings"].as_array().into_iter().flatten() {
        text.push(f["message"].as_str().unwrap_or("").into());
    }
    text.join("\n")
}

/// The report's results, or why there is none.
pub fn results(run: &Run) -> Result<&Vec<Value>, String> {
    run.report
        .as_ref()
        .and_then(|r| r["checks"].as_array())
        .ok_or_else(|| format!("no JSON report:\n{}", run.explain()))
}

/// Every built-in check is reported, each passes or skips with its reason, and the exit
/// code is 0. A network open to everything by configuration (nat-unprotected, routed)
/// may warn, naming its option; it never fails.
pub fn healthy(run: &Run) -> Result<(), String> {
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
            // "nothing to check" alone is the placeholder of a check that found no
            // item; on a routed or internal network the skip says why after a colon
            // (issue 20, item 3).
            Some("skip") => match message.trim().strip_prefix("nothing to check") {
                Some(rest) => rest.trim_start().starts_with(':'),
                None => !message.trim().is_empty(),
            },
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
pub fn fails(
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
pub fn no_engine_fix(run: &Run) -> Result<(), String> {
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
pub fn engine_edit(line: &str) -> Option<String> {
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
