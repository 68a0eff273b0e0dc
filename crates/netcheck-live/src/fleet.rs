//! Many engines in one run: each engine's run goes on concurrently, at most `jobs` at
//! once, and their outcomes make one report (see [`netcheck_render::fleet`]). An engine
//! that cannot be reached gives an errored record, never an aborted fleet.

use std::future::Future;

use futures_util::StreamExt;

use crate::engine;
use crate::run::{self, Connected, Stop, Target};
use netcheck_judge::plan::Plan;
use netcheck_model::error::Error;
use netcheck_model::record::{EngineName, RunRecord};

/// Runs the plan on every target, at most `jobs` at once, and returns the members in
/// the targets' order. The first signal stops every run; each still removes what it made.
pub async fn run<F>(
    plan: &Plan,
    opts: &run::Options,
    targets: Vec<Target<F>>,
    jobs: usize,
    stop: &Stop,
) -> Vec<RunRecord>
where
    F: Future<Output = Connected>,
{
    let hidden = indicatif::ProgressBar::hidden();
    let hidden = &hidden;
    futures_util::stream::iter(targets)
        .map(|t| async move { run::live(plan, opts, t, || stop.wait(), hidden).await })
        .buffered(jobs.max(1))
        .collect()
        .await
}

/// The fleet's targets: each engine given with -H or --context, resolved alone, so
/// that one that cannot be (a missing context, a TLS file not there) is an errored
/// member, as an unreachable one is.
pub fn targets(
    flags: &engine::Flags,
) -> Result<Vec<Target<impl Future<Output = Connected> + use<>>>, Error> {
    let given = engine::each_given(flags)?;
    let resolved: Vec<(String, String, Result<engine::Engine, engine::EngineError>)> = given
        .into_iter()
        .map(
            |(as_given, f)| match engine::resolve(&f, &engine::ProcessEnv) {
                Ok(e) => {
                    let label = e.label();
                    (label.name, label.endpoint, Ok(e))
                }
                Err(err) => (as_given.clone(), as_given, Err(err)),
            },
        )
        .collect();
    let names: Vec<String> = resolved.iter().map(|(n, _, _)| n.clone()).collect();
    Ok(unique_names(&names)
        .into_iter()
        .zip(resolved)
        .map(|(name, (_, endpoint, engine))| {
            run::target(engine.map_err(Error::from), EngineName { name, endpoint })
        })
        .collect())
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
