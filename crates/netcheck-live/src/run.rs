//! One run against one engine: collect under a deadline and a stop signal, remove what
//! the run made, judge, and make the report. A single `netcheck` run, every round of
//! `netcheck serve`, and each engine of a fleet all go through here.

use std::future::Future;
use std::time::{Duration, Instant};

use bollard::Docker;

use crate::collect::{self, Teardown};
use netcheck_judge::plan::Plan;
use netcheck_model::error::Error;
use netcheck_model::record::{EngineName, RunRecord};
use netcheck_model::report::Report;
use netcheck_model::snapshot::{EngineRef, Snapshot};

/// How a live run collects: the command line's settings, the same for every run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The networks asked for; empty means `bridge` and every bridge network with containers.
    pub networks: Vec<String>,
    /// Extra settings for the probe (tests make it hang with one).
    pub probe_args: netcheck_model::protocol::ProbeArgs,
    pub probe_timeout: Duration,
    /// The most checked networks the probe joins every one of (see `stand_ins`).
    pub probe_joins: usize,
    /// Bounds collection; the teardown after it has its own bound.
    pub timeout: Duration,
    pub redact: bool,
    /// Whether the engine's host may be observed through the host agent.
    pub agent: collect::agent::Mode,
}

/// One engine to run against: what reports call it, how to reach it, and what a run
/// must know of it. The same settings ([`Options`]) then serve every engine.
pub struct Target<C> {
    pub name: EngineName,
    /// Connects to it; awaited inside the run, under its deadline and the stop.
    pub connect: C,
    /// The engine's unix socket, where it is reached through one: whether the host
    /// agent is needed is decided by it.
    pub socket: Option<std::path::PathBuf>,
    /// What its snapshot and report name it by; None where it could not be resolved.
    pub reference: Option<EngineRef>,
}

/// A client of an engine, and whether the engine is on this machine.
pub type Connected = Result<(Docker, bool), Error>;

/// The engine the flags resolved to (or why they did not), connected to inside the run.
pub fn target(
    engine: Result<crate::engine::Engine, Error>,
    name: EngineName,
) -> Target<impl Future<Output = Connected>> {
    Target {
        name,
        socket: engine.as_ref().ok().and_then(crate::engine::Engine::socket),
        reference: engine.as_ref().ok().map(|e| e.reference(false)),
        connect: async move { crate::engine::connect(&engine?).await },
    }
}

/// A run that could not judge anything: its report is the one error that says why.
pub fn failed(
    engine: EngineName,
    error: Error,
    started: chrono::DateTime<chrono::Utc>,
    wall: Duration,
) -> RunRecord {
    RunRecord {
        engine,
        report: Report::from_error(&error, started, wall),
        snapshot: None,
        error: Some(error),
    }
}

/// Judges a snapshot (from a file, or just collected) and reports on it.
pub fn judge(
    plan: &Plan,
    engine: EngineName,
    snapshot: Result<Snapshot, Error>,
    redact: bool,
    started: chrono::DateTime<chrono::Utc>,
    t0: Instant,
) -> RunRecord {
    let snapshot = match snapshot {
        Ok(s) if redact => netcheck_judge::redact::redact(&s).map_err(Error::Redaction),
        other => other,
    };
    match snapshot {
        Ok(snapshot) => RunRecord {
            engine,
            report: netcheck_judge::judge(&snapshot, &plan.instances, t0),
            snapshot: Some(snapshot),
            error: None,
        },
        Err(e) => failed(engine, e, started, t0.elapsed()),
    }
}

/// A live run: connects (through `connect`), collects, tears down, and judges.
///
/// `stop` makes a future that resolves, with the signal's name, when the run must end
/// early: collection is abandoned, and what it created is still removed.
pub async fn live<S, F>(
    plan: &Plan,
    opts: &Options,
    target: Target<impl Future<Output = Connected>>,
    stop: S,
    progress: &indicatif::ProgressBar,
) -> RunRecord
where
    S: Fn() -> F,
    F: Future<Output = &'static str>,
{
    let started = chrono::Utc::now();
    let t0 = Instant::now();
    let Target {
        name,
        connect,
        socket,
        reference,
    } = target;
    let snapshot = collect_bounded(plan, opts, (connect, socket, reference), stop, progress).await;
    judge(plan, name, snapshot, opts.redact, started, t0)
}

/// Collects under the run's deadline and `stop`; whatever happens, what the run
/// created is removed before this returns.
async fn collect_bounded<S, F>(
    plan: &Plan,
    opts: &Options,
    (connect, socket, engine): (
        impl Future<Output = Connected>,
        Option<std::path::PathBuf>,
        Option<EngineRef>,
    ),
    stop: S,
    progress: &indicatif::ProgressBar,
) -> Result<Snapshot, Error>
where
    S: Fn() -> F,
    F: Future<Output = &'static str>,
{
    progress.set_message("collecting observations");
    let laps = crate::log::Laps::new("run", std::time::Instant::now());
    let teardown = Teardown::default();
    let options = collect::Collection {
        networks: plan.networks(&opts.networks),
        all_networks: opts.networks.is_empty(),
        suite_probe_args: {
            let mut args = plan.probe_args();
            args.extend(opts.probe_args.clone());
            args
        },
        needs: plan.needs(),
        probe_timeout: opts.probe_timeout,
        probe_joins: opts.probe_joins,
        must_join: plan.suite_networks(),
        run_id: format!("{:05x}", rand::random::<u32>() & 0xfffff),
        agent: opts.agent,
        deadline: opts.timeout,
        socket,
        engine,
        relay: None,
    };
    let work = async {
        let (docker, local) = connect.await?;
        laps.lap("connected");
        // Beside collection, not before it: on a healthy host the sweep finds nothing,
        // and costs the run no time.
        let (snapshot, swept) = tokio::join!(
            collect::collect(&docker, local, &options, &teardown),
            async {
                let swept = crate::leftovers::sweep(&docker, local).await;
                laps.lap("swept dead runs' leftovers");
                swept
            },
        );
        match swept {
            Ok(swept) => note_swept(&swept),
            Err(e) => crate::log::debug(format_args!("sweeping dead runs' leftovers: {e}")),
        }
        snapshot
    };
    // A panic in collection is a bug, but it must not skip the teardown below.
    let work = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(work));
    let result = tokio::select! {
        r = tokio::time::timeout(opts.timeout, work) => match r {
            Err(_) => Err(Error::Timeout {
                secs: opts.timeout.as_secs(),
                phase: "collecting observations".into(),
            }),
            Ok(Err(_)) => Err(Error::Internal("collection panicked".into())),
            Ok(Ok(r)) => r,
        },
        sig = stop() => Err(Error::Interrupted(sig)),
    };
    laps.lap("collected");
    progress.set_message("removing what the run created");
    // The teardown always runs to its end, bounded so that a hung engine cannot hold netcheck.
    // A stop that arrives meanwhile is honoured once it is done.
    let tearing_down = tokio::time::timeout(Duration::from_secs(30), teardown.run());
    tokio::pin!(tearing_down);
    let mut late_stop = None;
    loop {
        tokio::select! {
            done = &mut tearing_down => {
                if done.is_err() {
                    crate::log::warn(format_args!("removing what the run created did not finish within 30 s; `netcheck cleanup` removes what is left"));
                }
                break;
            }
            sig = stop(), if late_stop.is_none() => late_stop = Some(sig),
        }
    }
    laps.lap("removed what it created");
    match (result, late_stop) {
        (Ok(_), Some(sig)) => Err(Error::Interrupted(sig)),
        (result, _) => result,
    }
}

/// One line for what the sweep removed: dead runs' leftovers are news, but not trouble.
fn note_swept(swept: &crate::leftovers::Removed) {
    if swept.is_empty() {
        return;
    }
    let what: Vec<String> = (swept.containers.iter().map(|c| format!("container {c}")))
        .chain(swept.links.iter().map(|l| format!("link {l}")))
        .chain(swept.tables.iter().map(|t| format!("nftables table {t}")))
        .chain(
            swept
                .processes
                .iter()
                .map(|p| format!("helper process {p}")),
        )
        .collect();
    crate::log::info(format_args!(
        "removed what killed netcheck runs left behind: {}",
        what.join(", ")
    ));
}

/// The stop of runs that go on at once or one after another (a fleet, `serve`): the
/// first SIGINT, SIGTERM or SIGHUP stops every one of them, also those that start later.
#[derive(Clone)]
pub struct Stop(tokio::sync::watch::Receiver<Option<&'static str>>);

impl Stop {
    /// Listens for the signals from now on (in a task of the current runtime).
    pub fn on_signals() -> Stop {
        let (tx, rx) = tokio::sync::watch::channel(None);
        tokio::spawn(async move {
            let _ = tx.send(Some(signal().await));
        });
        Stop(rx)
    }

    /// Resolves with the signal's name once one has arrived.
    pub async fn wait(&self) -> &'static str {
        let mut rx = self.0.clone();
        match rx.wait_for(Option::is_some).await {
            Ok(sig) => sig.unwrap_or("SIGTERM"),
            // The signal task is gone: nothing but a kill can stop the runs now.
            Err(_) => std::future::pending().await,
        }
    }
}

/// Resolves with the name of the first of SIGINT, SIGTERM or SIGHUP to arrive.
pub async fn signal() -> &'static str {
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
