//! `netcheck [FILTER…]` and `netcheck analyze SNAPSHOT`: plan, observe (a live run, a
//! fleet of engines, or a snapshot file), judge, then write the reports and show the
//! verdict. The exit code is the verdict's.

use std::io::Write;
use std::time::{Duration, Instant};

use netcheck::error::{Error, exit};
use netcheck::record::{EngineName, RunRecord};
use netcheck::report::metrics::Metrics;
use netcheck::report::{self, Report, Runs};
use netcheck::run;
use netcheck::snapshot::Snapshot;

use super::{causes, print, suites};
use crate::cli::{EngineArgs, RunArgs, StdoutFormat};

/// Where the observations come from.
pub enum Observations<'a> {
    Live(&'a EngineArgs),
    File(&'a std::path::Path),
}

pub async fn run(args: &RunArgs, source: Observations<'_>) -> Result<u8, Error> {
    let plan = match suites::plan(args) {
        Ok(plan) => plan,
        // A CI job that asked for reports gets one that says why nothing ran.
        Err(e) => {
            let engine = EngineName::default();
            return failed(
                args,
                run::failed(engine, e, chrono::Utc::now(), Duration::ZERO),
            );
        }
    };
    if args.list {
        let lines: String = plan
            .instances
            .iter()
            .map(|c| format!("{:<26} {}\n", c.id, c.title()))
            .collect();
        print(&lines)?;
        return Ok(exit::OK);
    }
    let record = match source {
        Observations::File(path) => {
            let (started, t0) = (chrono::Utc::now(), Instant::now());
            let engine = EngineName {
                name: path.display().to_string(),
                endpoint: path.display().to_string(),
            };
            run::judge(
                &plan,
                engine,
                Snapshot::load(path),
                args.redact,
                started,
                t0,
            )
        }
        Observations::Live(engines) if engines.hosts.len() + engines.contexts.len() > 1 => {
            return super::fleet::run(args, engines, &plan).await;
        }
        Observations::Live(engine) => super::live::run(args, engine, &plan).await,
    };
    if record.error.is_some() {
        return failed(args, record);
    }
    write_reports(args, &record)?;
    show(args, &record.report)?;
    if record.report.exit_code() == exit::ERROR {
        causes::print_report_causes(&record.report);
    }
    Ok(record.report.exit_code())
}

/// The report on the terminal (and, under GitHub Actions, the job summary after it).
fn show(args: &RunArgs, report: &Report) -> Result<(), Error> {
    let detail = args.detail();
    // `--json -`: standard output carries that report alone.
    let mut out: Box<dyn Write> = if args.outputs.0.to_stdout() > 0 {
        Box::new(anstream::stderr().lock())
    } else {
        Box::new(anstream::stdout().lock())
    };
    let rendered = if args.format == StdoutFormat::Github {
        let (pause, resume) = report::github::pause_commands();
        out.write_all(pause.as_bytes())
            .and_then(|()| report::human::render(&mut *out, report, detail))
            .and_then(|()| out.write_all(resume.as_bytes()))
            .and_then(|()| out.write_all(report::github::render(report).as_bytes()))
    } else {
        report::human::render(&mut *out, report, detail)
    };
    match rendered {
        // `netcheck | head`: the reader left; the verdict still decides the exit code.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(source) => Err(Error::Write {
            path: "<stdout>".into(),
            source,
        }),
        Ok(()) => Ok(()),
    }
}

/// Writes the report files asked for, also when checks fail.
fn write_reports(args: &RunArgs, record: &RunRecord) -> Result<(), Error> {
    let metrics = Metrics::new();
    metrics.record(&record.report);
    args.outputs.0.write(&Runs::One(record, &metrics))
}

/// A run that judged nothing: its reports still say why, then the error is the exit.
fn failed(args: &RunArgs, record: RunRecord) -> Result<u8, Error> {
    write_reports(args, &record)?;
    Err(record
        .error
        .unwrap_or_else(|| Error::Internal("a failed run without its error".into())))
}
