//! netcheck's whole flow: plan → run (collect → snapshot → judge) → report; and the
//! subcommands around it.

mod cli;
mod plugin;

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::CommandFactory;
use netcheck::checks;
use netcheck::collect::{self, docker};
use netcheck::error::{Error, exit};
use netcheck::fleet;
use netcheck::log;
use netcheck::plan::{Filters, Plan};
use netcheck::report::fleet::FleetReport;
use netcheck::report::metrics::Metrics;
use netcheck::report::{self, Outputs, Report};
use netcheck::run::{self, Outcome};
use netcheck::serve;
use netcheck::snapshot::Snapshot;
use netcheck::suite::Suite;

use crate::cli::{
    Cli, ColorWhen, Command, EngineArgs, Format, RunArgs, ServeArgs, SuiteAction, SuiteArgs,
};
use crate::report::human::Detail;

fn main() -> ExitCode {
    let args = match plugin::invocation(std::env::args_os().collect()) {
        plugin::Invocation::Metadata => {
            return match print(&plugin::metadata(cli::VERSION)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(_) => ExitCode::from(exit::ERROR),
            };
        }
        plugin::Invocation::Run { args, plugin } => (args, plugin),
    };
    if args.1 {
        plugin::watch_docker_cli();
    }
    let cli = Cli::parse_args(args.0, args.1);
    if let Some(Command::Agent { spec }) = &cli.command {
        return agent(spec);
    }
    log::init(cli.global.debug, &cli.global.log_level);
    // anstream already honours NO_COLOR, CLICOLOR_FORCE and pipes under `auto`.
    match cli.global.color {
        ColorWhen::Auto => {}
        ColorWhen::Always => anstream::ColorChoice::Always.write_global(),
        ColorWhen::Never => anstream::ColorChoice::Never.write_global(),
    }
    log::debug(format_args!("{cli:?}"));
    let format = match &cli.command {
        None => cli.run.format,
        Some(Command::Analyze { run, .. }) => run.format,
        _ => Format::Human,
    };
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
        Some(Command::Serve(args)) => runtime.block_on(serve(&args, &cli.engine)),
        // Handled above, before the runtime's threads exist.
        Some(Command::Agent { .. }) => unreachable!("the agent returns before the runtime starts"),
        Some(Command::Completions { shell }) => completions(shell),
        Some(Command::Manpages { dir }) => manpages(&dir),
        Some(Command::ProbeImage) => runtime.block_on(probe_image(&cli.engine)),
        Some(Command::Cleanup { images }) => {
            runtime.block_on(remove_leftovers(&cli.engine, images))
        }
        Some(Command::Collect { output, run }) => {
            runtime.block_on(collect_only(&run, &cli.engine, &output))
        }
        Some(Command::Analyze { snapshot, run }) => {
            runtime.block_on(judge_and_report(&run, Source::File(&snapshot)))
        }
        None => runtime.block_on(judge_and_report(&cli.run, Source::Live(&cli.engine))),
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
            let mut cause = std::error::Error::source(&e);
            while let Some(c) = cause {
                log::debug(format_args!("caused by: {c}"));
                cause = c.source();
            }
            if format == Format::Github {
                // The job's summary page then says why netcheck could not run.
                let report = Report::from_error(&e, chrono::Utc::now(), Duration::ZERO);
                let _ = print(&report::github::render(&report));
            }
            ExitCode::from(e.exit_code())
        }
    }
}

enum Source<'a> {
    Live(&'a EngineArgs),
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
        // A CI job that asked for reports gets one that says why nothing ran.
        Err(e) => return failed(run, Outcome::failed(e, chrono::Utc::now(), Duration::ZERO)),
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
    let outcome = match source {
        Source::File(path) => {
            let (started, t0) = (chrono::Utc::now(), Instant::now());
            run::judge(&plan, Snapshot::load(path), run.redact, started, t0)
        }
        Source::Live(engines) if engines.hosts.len() + engines.contexts.len() > 1 => {
            return fleet(run, engines, &plan).await;
        }
        Source::Live(engine) => live(run, engine, &plan).await,
    };
    if outcome.error.is_some() {
        return failed(run, outcome);
    }
    write_reports(run, &outcome)?;
    let detail = detail(run);
    let report = &outcome.report;
    let mut out = anstream::stdout().lock();
    let rendered = if run.format == Format::Github {
        let (pause, resume) = report::github::pause_commands();
        out.write_all(pause.as_bytes())
            .and_then(|()| report::human::render(&mut out, report, detail))
            .and_then(|()| out.write_all(resume.as_bytes()))
            .and_then(|()| out.write_all(report::github::render(report).as_bytes()))
    } else {
        report::human::render(&mut out, report, detail)
    };
    match rendered {
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
    if outcome.report.exit_code() == exit::ERROR {
        print_error_causes(&outcome.report);
    }
    Ok(outcome.report.exit_code())
}

fn detail(run: &RunArgs) -> Detail {
    match (run.quiet, run.verbose) {
        (true, _) => Detail::Quiet,
        (_, true) => Detail::Verbose,
        _ => Detail::Normal,
    }
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

/// Writes the report files asked for, also when checks fail.
fn write_reports(run: &RunArgs, outcome: &Outcome) -> Result<(), Error> {
    let metrics = Metrics::new();
    metrics.record(&outcome.report);
    outputs(run).write(&outcome.report, outcome.snapshot.as_ref(), &metrics)
}

/// A run that judged nothing: its reports still say why, then the error is the exit.
fn failed(run: &RunArgs, outcome: Outcome) -> Result<u8, Error> {
    write_reports(run, &outcome)?;
    Err(outcome
        .error
        .unwrap_or_else(|| Error::Internal("a failed run without its error".into())))
}

/// The host agent, in its container on the engine's host (see collect::agent).
fn agent(spec: &str) -> ExitCode {
    use netcheck::collect::agent;
    let failed = |error: String| agent::Reply {
        snapshot: None,
        error: Some(error),
    };
    let mut runtime = None;
    let reply = match serde_json::from_str::<agent::Spec>(spec) {
        Err(e) => failed(format!("unreadable agent spec: {e}")),
        // Before the runtime starts its threads: a threaded process cannot change its
        // mount namespace.
        Ok(spec) => match agent::enter_host() {
            Err(e) => failed(format!(
                "entering the host's mount namespace (does the agent have --pid host and SYS_ADMIN?): {e}"
            )),
            Ok(()) => {
                let rt = runtime.insert(
                    tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(2)
                        .enable_all()
                        .build()
                        .expect("a tokio runtime starts"),
                );
                rt.block_on(agent::serve(spec))
            }
        },
    };
    let line = serde_json::to_string(&reply).expect("a reply serialises");
    let printed = print(&format!("{line}\n"));
    // The watch on stdin is a blocking read that only the end of stdin ends: do not
    // wait for it.
    if let Some(rt) = runtime {
        rt.shutdown_background();
    }
    match printed {
        Ok(()) if reply.error.is_none() => ExitCode::SUCCESS,
        _ => ExitCode::from(exit::ERROR),
    }
}

fn outputs(run: &RunArgs) -> Outputs {
    Outputs {
        json: run.json.clone(),
        junit: run.junit.clone(),
        markdown: run.markdown.clone(),
        html: run.html.clone(),
        prometheus: run.prometheus.clone(),
    }
}

/// The engine's unix socket, when it is reached through one.
fn socket(engine: &netcheck::engine::Engine) -> Option<std::path::PathBuf> {
    match &engine.transport {
        netcheck::engine::Transport::Unix { path } => Some(path.clone()),
        _ => None,
    }
}

/// The one engine the flags and the environment name, as the docker CLI picks it.
fn engine(args: &EngineArgs) -> Result<netcheck::engine::Engine, Error> {
    let engine = netcheck::engine::resolve(&args.flags(), &netcheck::engine::ProcessEnv)?;
    log::debug(format_args!(
        "engine {} (context {}, chosen by {})",
        engine.endpoint, engine.name, engine.source
    ));
    Ok(engine)
}

/// `netcheck cleanup`: what runs left behind, removed, and listed.
async fn remove_leftovers(args: &EngineArgs, images: bool) -> Result<u8, Error> {
    let (docker, local) = docker::connect(&engine(args)?).await?;
    let removed = netcheck::leftovers::remove(&docker, local, images).await?;
    let mut text = String::new();
    for (what, names) in [
        ("removed container", &removed.containers),
        ("removed link", &removed.links),
        ("removed nftables table", &removed.tables),
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

/// `netcheck completions SHELL`: the script the package installs, for any shell.
fn completions(shell: clap_complete::Shell) -> Result<u8, Error> {
    let mut script = Vec::new();
    let mut command = visible(&Cli::command()).version(cli::VERSION);
    clap_complete::generate(shell, &mut command, "netcheck", &mut script);
    print(&String::from_utf8_lossy(&script))?;
    Ok(exit::OK)
}

/// The command without its hidden subcommands and arguments, which clap_complete's
/// generators would otherwise offer (`netcheck probe-image`, `--probe-arg`).
fn visible(command: &clap::Command) -> clap::Command {
    let mut out = clap::Command::new(command.get_name().to_string());
    if let Some(about) = command.get_about() {
        out = out.about(about.clone());
    }
    for arg in command.get_arguments().filter(|a| !a.is_hide_set()) {
        out = out.arg(arg.clone());
    }
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        out = out.subcommand(visible(sub));
    }
    out
}

/// `netcheck manpages DIR`: netcheck.1 and a page per visible subcommand, from the same
/// clap definition as --help, so the pages never drift from it. scripts/package runs it.
fn manpages(dir: &std::path::Path) -> Result<u8, Error> {
    let write_error = |source| Error::Write {
        path: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(write_error)?;
    clap_mangen::generate_to(Cli::command(), dir).map_err(write_error)?;
    Ok(exit::OK)
}

/// For benchmarks and tests that run the probe image themselves.
async fn probe_image(args: &EngineArgs) -> Result<u8, Error> {
    let (docker, _) = docker::connect(&engine(args)?).await?;
    let image = collect::image::ensure(&docker).await?;
    print(&format!("{image}\n"))?;
    Ok(exit::OK)
}

async fn collect_only(
    run: &RunArgs,
    engine: &EngineArgs,
    output: &std::path::Path,
) -> Result<u8, Error> {
    let plan = plan(run)?;
    let outcome = live(run, engine, &plan).await;
    let snapshot = match (outcome.error, outcome.snapshot) {
        (Some(e), _) => return Err(e),
        (None, snapshot) => snapshot.ok_or_else(|| Error::Internal("no snapshot".into()))?,
    };
    let json = serde_json::to_string_pretty(&snapshot).expect("a snapshot always serialises");
    report::write_atomic(output, json.as_bytes())?;
    Ok(exit::OK)
}

fn run_options(run: &RunArgs) -> run::Options {
    run::Options {
        networks: run.networks.clone(),
        probe_args: run.probe_arg.clone(),
        probe_timeout: Duration::from_millis(run.probe_timeout_ms),
        timeout: Duration::from_secs(run.timeout),
        redact: run.redact,
        agent: match (run.agent, run.no_agent) {
            (true, _) => netcheck::collect::agent::Mode::On,
            (_, true) => netcheck::collect::agent::Mode::Off,
            _ => netcheck::collect::agent::Mode::Auto,
        },
        socket: None,
        engine: None,
    }
}

/// One live run against the engine, with a spinner; a signal ends it early, after
/// removing what it created.
async fn live(run: &RunArgs, engine_args: &EngineArgs, plan: &Plan) -> Outcome {
    // A spinner for a person watching a terminal; none in a pipe, a CI log, -q, or -D
    // (whose lines it would garble). indicatif draws on stderr, and hides itself when
    // stderr is not a terminal.
    let progress = if std::io::stdout().is_terminal()
        && !run.quiet
        && run.format == Format::Human
        && !log::enabled(log::Level::Debug)
    {
        indicatif::ProgressBar::new_spinner()
    } else {
        indicatif::ProgressBar::hidden()
    };
    progress.enable_steady_tick(Duration::from_millis(100));
    let engine = engine(engine_args);
    let mut options = run_options(run);
    options.socket = engine.as_ref().ok().and_then(socket);
    options.engine = engine.as_ref().ok().map(|e| e.reference(false));
    log::debug(format_args!(
        "collecting for {} check(s); networks {:?}",
        plan.instances.len(),
        run.networks
    ));
    let outcome = run::live(
        plan,
        &options,
        async { docker::connect(&engine?).await },
        run::signal,
        &progress,
    )
    .await;
    progress.finish_and_clear();
    outcome
}

/// Every engine given with -H or --context, concurrently, into one report; the exit
/// code is the worst.
async fn fleet(run: &RunArgs, engines: &EngineArgs, plan: &Plan) -> Result<u8, Error> {
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
    let members = fleet::run(plan, &run_options(run), targets, jobs, &stop).await;
    progress.finish_and_clear();
    let report = FleetReport::new(&members, started, t0.elapsed());
    report.write(&members, &outputs(run))?;
    let mut out = anstream::stdout().lock();
    for m in &members {
        // A closed pipe (`netcheck ... | head`) ends the listing, not the run.
        let title = if m.name == m.endpoint {
            m.name.clone()
        } else {
            format!("{} ({})", m.name, m.endpoint)
        };
        let shown = writeln!(out, "== {title}")
            .and_then(|()| report::human::render(&mut out, &m.outcome.report, detail(run)));
        if shown.is_err() {
            break;
        }
    }
    drop(out);
    for m in members
        .iter()
        .filter(|m| m.outcome.exit_code() >= exit::ERROR)
    {
        match &m.outcome.error {
            Some(e) => {
                eprintln!("error: engine {}: {e}", m.name);
                if let Some(hint) = e.hint() {
                    eprintln!("  fix: {hint}");
                }
            }
            None => print_error_causes(&m.outcome.report),
        }
    }
    Ok(report.exit_code)
}

async fn serve(args: &ServeArgs, engine_args: &EngineArgs) -> Result<u8, Error> {
    let engine = engine(engine_args)?;
    let config = serve::Config {
        listen: args.listen,
        interval: args.interval,
        plan: plan(&args.run)?,
        options: run::Options {
            socket: socket(&engine),
            engine: Some(engine.reference(false)),
            ..run_options(&args.run)
        },
        outputs: outputs(&args.run),
    };
    serve::serve(config, || docker::connect(&engine)).await
}
