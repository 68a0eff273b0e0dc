//! netcheck's whole flow: plan → collect → snapshot → judge → report.

mod cli;

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use netcheck::checks;
use netcheck::collect::{self, Cleanup, docker};
use netcheck::error::{Error, exit};
use netcheck::plan::{Filters, Plan};
use netcheck::report::{self, Report};
use netcheck::snapshot::Snapshot;
use netcheck::suite::Suite;

use crate::cli::{Cli, Command, RunArgs, SuiteAction, SuiteArgs};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime starts");
    let result = match cli.command {
        Some(Command::Probe(args)) => {
            return match runtime.block_on(netcheck::probe::run(args)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("netcheck probe: {e}");
                    ExitCode::from(exit::ERROR)
                }
            };
        }
        Some(Command::Explain { id, suite }) => explain(&id, &suite),
        Some(Command::Suite {
            action: SuiteAction::Check { file },
        }) => suite_check(&file),
        Some(Command::ProbeImage) => runtime.block_on(probe_image()),
        Some(Command::Cleanup { images }) => runtime.block_on(cleanup(images)),
        Some(Command::Collect { output, run }) => runtime.block_on(collect_only(&run, &output)),
        Some(Command::Analyze { snapshot, run }) => {
            runtime.block_on(judge_and_report(&run, Source::File(&snapshot)))
        }
        None => runtime.block_on(judge_and_report(&cli.run, Source::Live)),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(Error::Write { source, .. }) if source.kind() == std::io::ErrorKind::BrokenPipe => {
            ExitCode::SUCCESS
        }
        Err(e) => {
            // The cause can quote the engine (a network's name, an answer's text).
            let esc = |t: &str| report::escape::terminal(t).into_owned();
            let cause = match &e {
                // The user's own file, its problems one per line.
                Error::BadSuite(_) => e.to_string(),
                _ => esc(&e.to_string()),
            };
            eprintln!("error: {cause}");
            if let Some(hint) = e.hint() {
                eprintln!("  fix: {}", esc(&hint));
            }
            ExitCode::from(e.exit_code())
        }
    }
}

enum Source<'a> {
    Live,
    File(&'a std::path::Path),
}

fn load_suite(args: &SuiteArgs) -> Result<Suite, Error> {
    match &args.suite {
        Some(path) => Suite::from_file(path),
        None => Suite::shipped(&args.profile),
    }
    .map_err(Error::BadSuite)
}

fn plan(run: &RunArgs) -> Result<Plan, Error> {
    let plan = Plan::new(
        load_suite(&run.suite)?,
        &Filters {
            include: run.filters.clone(),
            skip: run.skip.clone(),
            exact: run.exact,
        },
    )?;
    Ok(if run.strict { plan.strict() } else { plan })
}

fn suite_check(file: &std::path::Path) -> Result<u8, Error> {
    let suite = Suite::from_file(file).map_err(Error::BadSuite)?;
    print(&format!(
        "{}: suite `{}` is valid: {} checks\n",
        file.display(),
        suite.name,
        suite.instances.len()
    ))?;
    Ok(exit::OK)
}

/// Prints to stdout; a closed pipe (`netcheck --list | head`) ends quietly.
fn print(text: &str) -> Result<(), Error> {
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .map_err(|source| Error::Write {
            path: "<stdout>".into(),
            source,
        })
}

fn explain(id: &str, suite: &SuiteArgs) -> Result<u8, Error> {
    let (check, instance) = match checks::find(id) {
        Some(check) => (check, None),
        None => {
            let suite = load_suite(suite)?;
            let instance = suite.instances.into_iter().find(|i| i.id == id);
            let instance = instance.ok_or_else(|| Error::UnknownCheck(id.to_string()))?;
            (instance.check, Some(instance))
        }
    };
    let mut text = match &instance {
        Some(i) => format!(
            "{}: {}\n(a `{}` check{})\n\n",
            i.id,
            i.title(),
            check.id,
            match i.gate {
                checks::Gate::Off => ", not gating",
                checks::Gate::Fail => "",
                checks::Gate::Warn => ", warnings gate too",
            }
        ),
        None => format!("{}: {}\n\n", check.id, check.title),
    };
    text.push_str(check.doc);
    text.push('\n');
    print(&text)?;
    Ok(exit::OK)
}

async fn judge_and_report(run: &RunArgs, source: Source<'_>) -> Result<u8, Error> {
    let plan = match plan(run) {
        Ok(plan) => plan,
        Err(e) => {
            // A CI job that asked for reports gets one that says why nothing ran.
            let report = Report::from_error(&e, chrono::Utc::now(), Duration::ZERO);
            write_reports(run, &report, None)?;
            return Err(e);
        }
    };
    if run.list {
        let lines: String = plan
            .instances
            .iter()
            .map(|c| format!("{:<26} {}\n", c.id, c.title()))
            .collect();
        print(&lines)?;
        return Ok(exit::OK);
    }
    let started = chrono::Utc::now();
    let t0 = Instant::now();
    let snapshot = match source {
        Source::File(path) => Snapshot::load(path),
        Source::Live => live_snapshot(run, &plan).await,
    };
    let snapshot = match snapshot {
        Ok(s) if run.redact => netcheck::redact::redact(&s).map_err(Error::Redaction),
        other => other,
    };
    let snapshot = match snapshot {
        Ok(s) => s,
        Err(e) => {
            // Still write the requested reports, so that a CI job shows the cause.
            let report = Report::from_error(&e, started, t0.elapsed());
            write_reports(run, &report, None)?;
            return Err(e);
        }
    };
    let judged = checks::judge(&snapshot, &plan.instances);
    let report = Report::new(&snapshot, &judged, t0.elapsed());
    write_reports(run, &report, Some(&snapshot))?;
    let mut out = anstream::stdout().lock();
    match report::human::render(&mut out, &report, run.verbose) {
        // `netcheck | head`: the reader left; the verdict still decides the exit code.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        Err(source) => {
            return Err(Error::Write {
                path: "<stdout>".into(),
                source,
            });
        }
        Ok(()) => {}
    }
    drop(out);
    if report.exit_code() == exit::ERROR {
        print_error_causes(&report);
    }
    Ok(report.exit_code())
}

/// The cause and fix of each distinct error, on stderr: a CI log shows why a run that
/// judged still exits 2 without anyone reading the whole report.
fn print_error_causes(report: &Report) {
    let esc = |t: &str| report::escape::terminal(t).into_owned();
    let mut err = anstream::stderr().lock();
    for cause in report.error_causes() {
        let n = cause.checks.len();
        let _ = writeln!(
            err,
            "error: {} ({}): {}",
            if n == 1 {
                "a check could not judge".to_string()
            } else {
                format!("{n} checks could not judge")
            },
            esc(&cause.checks.join(", ")),
            esc(&cause.message)
        );
        for (i, line) in cause.fix.lines().enumerate() {
            let lead = if i == 0 { "  fix:" } else { "      " };
            let _ = writeln!(err, "{lead} {}", esc(line));
        }
    }
}

fn write_reports(run: &RunArgs, report: &Report, snapshot: Option<&Snapshot>) -> Result<(), Error> {
    if let Some(path) = &run.json {
        report::write_atomic(path, report.to_json().as_bytes())?;
    }
    if let Some(path) = &run.junit {
        report::write_atomic(path, report::junit::render(report).as_bytes())?;
    }
    if let Some(path) = &run.markdown {
        report::write_atomic(path, report::markdown::render(report).as_bytes())?;
    }
    if let Some(path) = &run.html {
        report::write_atomic(path, report::html::render(report, snapshot).as_bytes())?;
    }
    Ok(())
}

async fn cleanup(images: bool) -> Result<u8, Error> {
    let (docker, local) = docker::connect().await?;
    let removed = netcheck::cleanup::cleanup(&docker, local, images).await?;
    let mut text = String::new();
    for (what, names) in [
        ("removed container", &removed.containers),
        ("removed link", &removed.links),
        ("removed image", &removed.images),
        ("kept the probe of a running netcheck", &removed.kept),
        ("could not remove", &removed.failed),
    ] {
        for n in names {
            text.push_str(&format!("{what} {n}\n"));
        }
    }
    if text.is_empty() {
        text.push_str("nothing to clean up\n");
    }
    print(&text)?;
    Ok(exit::OK)
}

/// For benchmarks and tests that run the probe image themselves.
async fn probe_image() -> Result<u8, Error> {
    let (docker, _) = docker::connect().await?;
    let image = collect::image::ensure(&docker).await?;
    print(&format!("{image}\n"))?;
    Ok(exit::OK)
}

async fn collect_only(run: &RunArgs, output: &std::path::Path) -> Result<u8, Error> {
    let plan = plan(run)?;
    let mut snapshot = live_snapshot(run, &plan).await?;
    if run.redact {
        snapshot = netcheck::redact::redact(&snapshot).map_err(Error::Redaction)?;
    }
    let json = serde_json::to_string_pretty(&snapshot).expect("a snapshot always serialises");
    report::write_atomic(output, json.as_bytes())?;
    Ok(exit::OK)
}

/// Collects under the run's deadline and signals; whatever happens, what the run created
/// is removed before this returns.
async fn live_snapshot(run: &RunArgs, plan: &Plan) -> Result<Snapshot, Error> {
    let progress = indicatif::ProgressBar::new_spinner().with_message("collecting observations");
    progress.enable_steady_tick(Duration::from_millis(100));
    let cleanup = Cleanup::default();
    let options = collect::Options {
        networks: plan.networks(&run.networks),
        all_networks: run.networks.is_empty(),
        suite_probe_args: plan
            .probe_args()
            .into_iter()
            .chain(run.probe_arg.iter().cloned())
            .collect(),
        needs: plan.needs(),
        probe_timeout: Duration::from_millis(run.probe_timeout_ms),
        run_id: format!("{:05x}", rand::random::<u32>() & 0xfffff),
    };
    let work = async {
        let (docker, local) = docker::connect().await?;
        collect::collect(&docker, local, &options, &cleanup).await
    };
    // A panic in collection is a bug, but it must not skip the cleanup below.
    let work = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(work));
    let result = tokio::select! {
        r = tokio::time::timeout(Duration::from_secs(run.timeout), work) => match r {
            Err(_) => Err(Error::Timeout {
                secs: run.timeout,
                phase: "collecting observations".into(),
            }),
            Ok(Err(_)) => Err(Error::Internal("collection panicked".into())),
            Ok(Ok(r)) => r,
        },
        sig = signal() => Err(Error::Interrupted(sig)),
    };
    progress.set_message("cleaning up");
    // Cleanup always runs to its end, bounded so that a hung engine cannot hold netcheck.
    // A signal that arrives meanwhile is honoured once it is done.
    let cleaning = tokio::time::timeout(Duration::from_secs(30), cleanup.run());
    tokio::pin!(cleaning);
    let mut late_signal = None;
    loop {
        tokio::select! {
            done = &mut cleaning => {
                if done.is_err() {
                    eprintln!("warning: cleanup did not finish within 30 s; `netcheck cleanup` removes what is left");
                }
                break;
            }
            sig = signal(), if late_signal.is_none() => late_signal = Some(sig),
        }
    }
    progress.finish_and_clear();
    match (result, late_signal) {
        (Ok(_), Some(sig)) => Err(Error::Interrupted(sig)),
        (result, _) => result,
    }
}

async fn signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => "SIGINT",
        _ = term.recv() => "SIGTERM",
        // A dropped ssh session: clean up as for Ctrl-C.
        _ = hup.recv() => "SIGHUP",
    }
}
