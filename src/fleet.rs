//! Many engines in one run: each engine's run goes on concurrently, at most `jobs` at
//! once, and their outcomes make one report (see [`crate::report::fleet`]). An engine
//! that cannot be reached gives an errored member, never an aborted fleet.

use std::future::Future;

use bollard::Docker;
use futures_util::StreamExt;

use crate::error::Error;
use crate::plan::Plan;
use crate::run::{self, Outcome, Stop};

/// One engine of the fleet, before its run.
pub struct Target<F> {
    /// What reports call it: the context's name, or the endpoint.
    pub name: String,
    pub endpoint: String,
    /// Connects to it; awaited inside the run, under its deadline and the stop.
    pub connect: F,
}

/// One engine of the fleet, after its run.
pub struct Member {
    pub name: String,
    pub endpoint: String,
    pub outcome: Outcome,
}

/// Runs the plan on every target, at most `jobs` at once, and returns the members in
/// the targets' order. The first signal stops every run; each still removes what it made.
pub async fn run<F>(
    plan: &Plan,
    opts: &run::Options,
    targets: Vec<Target<F>>,
    jobs: usize,
    stop: &Stop,
) -> Vec<Member>
where
    F: Future<Output = Result<(Docker, bool), Error>>,
{
    let hidden = indicatif::ProgressBar::hidden();
    let hidden = &hidden;
    futures_util::stream::iter(targets)
        .map(|t| async move {
            let outcome = run::live(plan, opts, t.connect, || stop.wait(), hidden).await;
            Member {
                name: t.name,
                endpoint: t.endpoint,
                outcome,
            }
        })
        .buffered(jobs.max(1))
        .collect()
        .await
}

/// The fleet's exit code: the worst of its members' (an interruption, then an error,
/// then a failure).
pub fn exit_code(members: &[Member]) -> u8 {
    members
        .iter()
        .map(|m| m.outcome.exit_code())
        .max()
        .unwrap_or(crate::error::exit::OK)
}

/// Names that tell the members apart in every report: the same engine given twice gets
/// `#2` after its second name, so that JUnit's testsuites and HTML's anchors stay unique.
pub fn unique_names(names: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(names.len());
    for name in names {
        let mut candidate = name.clone();
        let mut n = 1;
        while out.contains(&candidate) {
            n += 1;
            candidate = format!("{name}#{n}");
        }
        out.push(candidate);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::unique_names;

    #[test]
    fn the_same_engine_twice_gets_two_names() {
        let names = ["a".to_string(), "b".into(), "a".into(), "a".into()];
        assert_eq!(unique_names(&names), ["a", "b", "a#2", "a#3"]);
    }
}
