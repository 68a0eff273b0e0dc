//! A live run against the one engine the flags name: its options from the command
//! line, a spinner for a person watching; and `netcheck collect`, which keeps the
//! snapshot instead of judging it.

use std::io::IsTerminal;
use std::time::Duration;

use netcheck::collect::agent;
use netcheck::engine::{self, Engine};
use netcheck::error::{Error, exit};
use netcheck::log;
use netcheck::plan::Plan;
use netcheck::record::RunRecord;
use netcheck::report;
use netcheck::run;

use super::suites;
use crate::cli::{EngineArgs, RunArgs, StdoutFormat};

/// The one engine the flags and the environment name, as the docker CLI picks it.
pub fn engine(args: &EngineArgs) -> Result<Engine, Error> {
    let engine = engine::resolve(&args.flags(), &engine::ProcessEnv)?;
    log::debug(format_args!(
        "engine {} (context {}, chosen by {})",
        engine.endpoint, engine.name, engine.source
    ));
    Ok(engine)
}

/// How every live run collects, from the command line: the same for every engine.
pub fn options(args: &RunArgs) -> run::Options {
    run::Options {
        networks: args.networks.clone(),
        // A hidden flag for tests: a bad word ends the run as a usage error would.
        probe_args: netcheck::protocol::ProbeArgs::from_argv(&args.probe_arg)
            .unwrap_or_else(|e| e.exit()),
        probe_timeout: Duration::from_millis(args.probe_timeout_ms),
        probe_joins: args.probe_joins as usize,
        timeout: Duration::from_secs(args.timeout),
        redact: args.redact,
        agent: match (args.agent, args.no_agent) {
            (true, _) => agent::Mode::On,
            (_, true) => agent::Mode::Off,
            _ => agent::Mode::Auto,
        },
    }
}

/// One live run against the engine, with a spinner; a signal ends it early, after
/// removing what it created.
pub async fn run(args: &RunArgs, engine_args: &EngineArgs, plan: &Plan) -> RunRecord {
    // A spinner for a person watching a terminal; none in a pipe, a CI log, -q, or -D
    // (whose lines it would garble). indicatif draws on stderr, and hides itself when
    // stderr is not a terminal.
    let progress = if std::io::stdout().is_terminal()
        && !args.quiet
        && args.format == StdoutFormat::Human
        && !log::enabled(log::Level::Debug)
    {
        indicatif::ProgressBar::new_spinner()
    } else {
        indicatif::ProgressBar::hidden()
    };
    progress.enable_steady_tick(Duration::from_millis(100));
    let engine = engine(engine_args);
    let name = (engine.as_ref().ok())
        .map(Engine::label)
        .unwrap_or_default();
    log::debug(format_args!(
        "collecting for {} check(s); networks {:?}",
        plan.instances.len(),
        args.networks
    ));
    let record = run::live(
        plan,
        &options(args),
        run::target(engine, name),
        run::signal,
        &progress,
    )
    .await;
    progress.finish_and_clear();
    record
}

/// `netcheck collect -o FILE`: the snapshot, written for `analyze` elsewhere.
pub async fn collect(
    args: &RunArgs,
    engine: &EngineArgs,
    output: &std::path::Path,
) -> Result<u8, Error> {
    let plan = suites::plan(args)?;
    let record = self::run(args, engine, &plan).await;
    let snapshot = match (record.error, record.snapshot) {
        (Some(e), _) => return Err(e),
        (None, snapshot) => snapshot.ok_or_else(|| Error::Internal("no snapshot".into()))?,
    };
    let json = serde_json::to_string_pretty(&snapshot).expect("a snapshot always serialises");
    report::write_atomic(output, json.as_bytes())?;
    Ok(exit::OK)
}
