//! Every engine given with -H or --context, concurrently, into one report; the exit
//! code is the worst.

use std::io::Write;
use std::time::{Duration, Instant};

use netcheck::error::{Error, exit};
use netcheck::fleet;
use netcheck::plan::Plan;
use netcheck::record::RunRecord;
use netcheck::report::fleet::FleetReport;
use netcheck::report::{self, Runs};
use netcheck::run;

use super::{causes, live};
use crate::cli::{EngineArgs, RunArgs};

pub async fn run(args: &RunArgs, engines: &EngineArgs, plan: &Plan) -> Result<u8, Error> {
    let outputs = &args.outputs.0;
    outputs.refuse_in_fleet(engines.hosts.len() + engines.contexts.len())?;
    let targets = fleet::targets(&engines.flags())?;
    let progress = indicatif::ProgressBar::new_spinner()
        .with_message(format!("checking {} engines", targets.len()));
    progress.enable_steady_tick(Duration::from_millis(100));
    let (started, t0) = (chrono::Utc::now(), Instant::now());
    let stop = run::Stop::on_signals();
    let jobs = args.jobs as usize;
    let records = fleet::run(plan, &live::options(args), targets, jobs, &stop).await;
    progress.finish_and_clear();
    let report = FleetReport::new(&records, started, t0.elapsed());
    outputs.write(&Runs::Fleet(&report, &records))?;
    show(args, &records);
    for r in records.iter().filter(|r| r.exit_code() >= exit::ERROR) {
        match &r.error {
            Some(e) => causes::print_error(e, Some(&format!("engine {}", r.engine.name))),
            None => causes::print_report_causes(&r.report),
        }
    }
    Ok(report.exit_code)
}

/// Each member's report on the terminal, under its engine's name.
fn show(args: &RunArgs, records: &[RunRecord]) {
    let mut out = anstream::stdout().lock();
    for r in records {
        let m = &r.engine;
        // A closed pipe (`netcheck ... | head`) ends the listing, not the run.
        let title = if m.name == m.endpoint {
            m.name.clone()
        } else {
            format!("{} ({})", m.name, m.endpoint)
        };
        // An engine never reached has no results: its one error line and fix are on
        // stderr, after the listing, as a single run's would be.
        let shown = if r.error.is_some() {
            writeln!(out, "== {title}: not checked")
        } else {
            writeln!(out, "== {title}")
                .and_then(|()| report::human::render(&mut out, &r.report, args.detail()))
        };
        if shown.is_err() {
            break;
        }
    }
}
