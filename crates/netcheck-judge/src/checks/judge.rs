//! Judging: every instance against a snapshot, once per network where the check is
//! network-scoped; findings named and a suite's `allow` applied.

use super::{Common, Context, Finding, Gate, Instance, Outcome, REGISTRY, Scope, Status, Subject};
use netcheck_model::snapshot::Snapshot;

/// Judges a snapshot with the given instances: a network-scoped check once per checked
/// network, with a context that holds that network alone. Judges are pure, so this
/// cannot fail; a judge that panics is a bug, and is reported as an error, not a crash.
pub fn judge<'a>(snapshot: &Snapshot, instances: &'a [Instance]) -> Vec<Judged<'a>> {
    let ctx = Context::new(snapshot);
    let mut judged = Vec::new();
    for instance in instances {
        let per_network = instance.check.scope == Scope::Network && !ctx.networks.is_empty();
        if !per_network {
            judged.push(judge_one(&ctx, instance, None));
            continue;
        }
        for n in &ctx.networks {
            let narrowed = ctx.narrowed(n);
            judged.push(judge_one(&narrowed, instance, Some(n.name.clone())));
        }
    }
    judged
}

fn judge_one<'a>(ctx: &Context, instance: &'a Instance, network: Option<String>) -> Judged<'a> {
    let started = std::time::Instant::now();
    let run = std::panic::AssertUnwindSafe(|| instance.configured.judge(ctx, instance));
    let outcome = std::panic::catch_unwind(run).unwrap_or_else(|_| {
        Outcome::error(
            format!("the judge of {} panicked: a netcheck bug", instance.id),
            vec![],
        )
    });
    let mut outcome = classified(outcome, instance);
    if ctx.engine.podman {
        outcome.hint = outcome
            .hint
            .as_deref()
            .map(super::netavark::in_podmans_words);
    }
    Judged {
        instance,
        network,
        outcome,
        duration: started.elapsed(),
    }
}

/// Gives every finding its full code (`<check id>/<slug>`), a finding to an outcome that
/// failed, warned or errored without one, and applies the suite's `allow` list: a check
/// whose every finding is allowed passes, saying so.
fn classified(mut outcome: Outcome, instance: &Instance) -> Outcome {
    if outcome.findings.is_empty() && !matches!(outcome.status, Status::Pass | Status::Skip) {
        let code = match outcome.status {
            Status::Error => Common::NotObserved,
            _ => Common::Unclassified,
        };
        outcome = outcome.coded(code, Subject::Host);
    }
    for f in &mut outcome.findings {
        f.code = format!("{}/{}", instance.check.id, f.code);
    }
    if instance.allow.is_empty() || outcome.findings.is_empty() {
        return outcome;
    }
    let allowed = |f: &Finding| instance.allow.contains(&f.code);
    let remaining: Vec<&Finding> = outcome.findings.iter().filter(|f| !allowed(f)).collect();
    let worst = remaining.iter().map(|f| f.status).max_by_key(|s| match s {
        Status::Error => 3,
        Status::Fail => 2,
        Status::Warn => 1,
        _ => 0,
    });
    let allowed_codes: Vec<String> = outcome
        .findings
        .iter()
        .filter(|f| allowed(f))
        .map(|f| f.code.clone())
        .collect();
    if allowed_codes.is_empty() {
        return outcome;
    }
    outcome.evidence.push(format!(
        "allowed by the suite: {}",
        allowed_codes.join(", ")
    ));
    match worst {
        // Something not allowed still stands: it keeps the verdict, and names it where
        // the outcome's message named an allowed finding.
        Some(status) => {
            let first = outcome.findings.iter().find(|f| f.status == status);
            if status == outcome.status && first.is_some_and(|f| !allowed(f)) {
                return outcome;
            }
            let standing: Vec<&str> = remaining
                .iter()
                .filter(|f| f.status == status)
                .map(|f| f.message.as_str())
                .collect();
            let more = match standing.len() {
                0 | 1 => String::new(),
                n => format!(" (and {} more)", n - 1),
            };
            let message = format!("{}{more}", standing[0]);
            Outcome {
                status,
                message,
                ..outcome
            }
        }
        None => Outcome {
            status: Status::Pass,
            message: format!(
                "every finding is allowed by the suite ({})",
                allowed_codes.join(", ")
            ),
            hint: None,
            ..outcome
        },
    }
}

/// The suite's `allow` entries that no finding of their instance matched in this run, as
/// (instance id, code) in the suite's order: what they allowed is gone from the host, or
/// the entry is stale. An instance judged per network is matched on any of them; one
/// that skipped or errored anywhere is left out, since it may not have looked.
pub fn unmatched_allows(judged: &[Judged]) -> Vec<(String, String)> {
    let mut unmatched: Vec<(String, String)> = vec![];
    let mut seen: Vec<&str> = vec![];
    for j in judged {
        let id = j.instance.id.as_str();
        if seen.contains(&id) {
            continue;
        }
        seen.push(id);
        let results = || judged.iter().filter(|other| other.instance.id == id);
        if results().any(|r| matches!(r.outcome.status, Status::Skip | Status::Error)) {
            continue;
        }
        let found = |code: &String| {
            results()
                .flat_map(|r| &r.outcome.findings)
                .any(|f| &f.code == code)
        };
        for code in j.instance.allow.iter().filter(|c| !found(c)) {
            unmatched.push((id.to_string(), code.clone()));
        }
    }
    unmatched
}

pub struct Judged<'a> {
    pub instance: &'a Instance,
    /// The network a network-scoped check judged.
    pub network: Option<String>,
    pub outcome: Outcome,
    pub duration: std::time::Duration,
}

impl Judged<'_> {
    /// The result's id: the instance's, with the network for a network-scoped check
    /// (`bridge.veth[my-net]`), so that it is unique in a report and stable across runs.
    pub fn id(&self) -> String {
        match &self.network {
            Some(n) => format!("{}[{n}]", self.instance.id),
            None => self.instance.id.clone(),
        }
    }
}

/// Every built-in check, with default parameters, gating: what fixtures are judged with.
pub fn builtin_instances() -> Vec<Instance> {
    REGISTRY
        .iter()
        .filter(|c| !c.generic)
        .map(|c| Instance {
            id: c.id.to_string(),
            check: c,
            configured: (c.configure)(&toml::Table::new())
                .unwrap_or_else(|e| panic!("{} takes its defaults: {}", c.id, e.message)),
            gate: Gate::Fail,
            allow: vec![],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Findings;

    /// Codes for the tests alone: `classified` applies `allow` to whatever codes a
    /// judge gives (the suite checked them against the check's list before).
    #[derive(Clone, Copy, strum::IntoStaticStr, strum::EnumIter, strum::EnumMessage)]
    #[strum(serialize_all = "kebab-case")]
    enum TestCode {
        /// The table is full.
        TableFull,
        /// Another failure.
        Other,
        /// Dropped since boot.
        Overflowed,
    }

    /// kernel.conntrack's instance, with the suite's `allow` list.
    fn allowing(codes: &[&str]) -> Instance {
        let mut instance = builtin_instances()
            .into_iter()
            .find(|i| i.id == "kernel.conntrack")
            .unwrap();
        instance.allow = codes.iter().map(|c| c.to_string()).collect();
        instance
    }

    #[test]
    fn what_is_allowed_no_longer_names_the_verdict() {
        let mut f = Findings::default();
        f.warn_at(
            TestCode::Overflowed,
            Subject::Host,
            "W: dropped since boot",
            "fix w",
        );
        f.fail_at(TestCode::TableFull, Subject::Host, "A: table full", "fix a");
        f.fail_at(
            TestCode::Other,
            Subject::Host,
            "B: another failure",
            "fix b",
        );
        let outcome = f.finish("fine");
        assert_eq!(outcome.message, "A: table full (and 1 more)");

        let allowed = classified(outcome.clone(), &allowing(&["kernel.conntrack/table-full"]));
        assert_eq!(allowed.status, Status::Fail);
        assert_eq!(allowed.message, "B: another failure");

        let allowed = classified(
            outcome,
            &allowing(&["kernel.conntrack/table-full", "kernel.conntrack/other"]),
        );
        assert_eq!(allowed.status, Status::Warn);
        assert_eq!(allowed.message, "W: dropped since boot");
    }

    #[test]
    fn allow_entries_that_matched_nothing_are_named() {
        let instance = allowing(&[
            "kernel.conntrack/table-full",
            "kernel.conntrack/table-filling",
        ]);
        let judged = |outcome: Outcome, network: &str| Judged {
            instance: &instance,
            network: Some(network.into()),
            outcome: classified(outcome, &instance),
            duration: std::time::Duration::ZERO,
        };
        let full = || {
            let mut f = Findings::default();
            f.fail_at(TestCode::TableFull, Subject::Host, "A: table full", "fix a");
            f.finish("fine")
        };
        // Matched on one network of two: matched.
        let run = [
            judged(Outcome::pass("fine", vec![]), "a"),
            judged(full(), "b"),
        ];
        assert_eq!(
            unmatched_allows(&run),
            [(
                "kernel.conntrack".to_string(),
                "kernel.conntrack/table-filling".to_string()
            )]
        );
        // A result that did not look says nothing of what it would have found.
        let run = [
            judged(Outcome::skip("not observed", vec![]), "a"),
            judged(full(), "b"),
        ];
        assert!(unmatched_allows(&run).is_empty());
        // Nothing allowed, nothing to say.
        let plain = allowing(&[]);
        let run = [Judged {
            instance: &plain,
            network: None,
            outcome: Outcome::pass("fine", vec![]),
            duration: std::time::Duration::ZERO,
        }];
        assert!(unmatched_allows(&run).is_empty());
    }
}
