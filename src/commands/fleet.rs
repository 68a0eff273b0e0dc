//! Every engine given with -H or --context, concurrently, into one report; the exit
//! code is the worst.

use std::io::Write;
use std::time::{Duration, Instant};

use netcheck::error::{Error, exit};
use netcheck::fleet;
use netcheck::plan::Plan;
use netcheck::report;
use netcheck::report::fleet::FleetReport;
use netcheck::run;

use super::{causes, check, live};
use crate::cli::{EngineArgs, RunArgs};

pub async fn run(run: &RunArgs, engines: &EngineArgs, plan: &Plan) -> Result<u8, Error> {
    if run.prometheus.is_some() {
        return Err(Error::FleetMetrics(
            engines.hosts.len() + engines.contexts.len(),
        ));
    }
    let targets = fleet::targets(&engines.flags())?;
    let progress = indicatif::ProgressBar::new_spinner()
        .with_message(format!("checking {} engines", targets.len()));
    progress.enable_steady_tick(Duration::from_millis(100));
    let (started, t0) = (chrono::Utc::now(), Instant::now());
    let stop = run::Stop::on_signals();
    let jobs = run.jobs as usize;
    let members = fleet::run(plan, &live::options(run), targets, jobs, &stop).await;
    progress.finish_and_clear();
    let report = FleetReport::new(&members, started, t0.elapsed());
    report.write(&members, &check::outputs(run))?;
    show(run, &members);
    for m in members
        .iter()
        .filter(|m| m.outcome.exit_code() >= exit::ERROR)
    {
        match &m.outcome.error {
            Some(e) => causes::print_error(e, Some(&format!("engine {}", m.name))),
            None => causes::print_report_causes(&m.outcome.report),
        }
    }
    Ok(report.exit_code)
}

/// Each member's report on the terminal, under its engine's name.
fn show(run: &RunArgs, members: &[fleet::Member]) {
    let mut out = anstream::stdout().lock();
    for m in members {
        // A closed pipe (`netcheck ... | head`) ends the listing, not the run.
        let title = if m.name == m.endpoint {
            m.name.clone()
        } else {
            format!("{} ({})", m.name, m.endpoint)
        };
        // An engine never reached has no results: its one error line and fix are on
        // stderr, after the listing, as a single run's would be.
        let shown = if m.outcome.error.is_some() {
            writeln!(out, "== {title}: not checked")
        } else {
            writeln!(out, "== {title}").and_then(|()| {
                report::human::render(&mut out, &m.outcome.report, check::detail(run))
            })
        };
        if shown.is_err() {
            break;
        }
    }
}
