//! `netcheck serve`: runs the suite every interval and serves the latest result over
//! HTTP: /healthz, /metrics (Prometheus), /report.json and /report.html.
//!
//! One task runs the suite, one run after another (runs never overlap: the next one is
//! scheduled when the last has ended and cleaned up); the HTTP side only reads what the
//! last run left, rendered once per run.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};

use crate::run::{self, Connected, Target};
use netcheck_judge::checks::Status;
use netcheck_judge::plan::Plan;
use netcheck_model::error::Error;
use netcheck_model::record::RunRecord;
use netcheck_model::report::Report;
use netcheck_render::metrics::{self, Metrics, RunResult};
use netcheck_render::{Outputs, Runs, html};

pub struct Config {
    pub listen: SocketAddr,
    /// The time between the end of one run and the start of the next, give or take
    /// [`JITTER`].
    pub interval: Duration,
    pub plan: Plan,
    pub options: run::Options,
    /// Report files to rewrite after each run (`--json`, `--prometheus`, ...).
    pub outputs: Outputs,
}

/// Each wait is the interval times a random factor within 1 ± JITTER, so that a fleet
/// started together does not run (and load its engines) in step.
pub const JITTER: f64 = 0.1;

/// What the last run left, rendered once so that requests cost nothing.
struct Latest {
    healthy: bool,
    /// /healthz's body: the verdict, then one line per gating failure or error.
    health: String,
    json: String,
    html: String,
}

struct Shared {
    metrics: Metrics,
    latest: RwLock<Option<Latest>>,
}

/// Serves until SIGINT, SIGTERM or SIGHUP. The run in progress is then abandoned, what
/// it created is removed, and serve exits 0.
pub async fn serve<T, C>(config: Config, target: T) -> Result<u8, Error>
where
    T: Fn() -> Target<C>,
    C: Future<Output = Connected>,
{
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| Error::Listen {
            address: config.listen,
            detail: e.to_string(),
        })?;
    let address = listener.local_addr().unwrap_or(config.listen);
    eprintln!(
        "netcheck serve: listening on http://{address}/ (/healthz, /metrics, /report.json, /report.html); \
         a run every {} s ± {:.0}%",
        config.interval.as_secs_f64(),
        JITTER * 100.0
    );
    if !address.ip().is_loopback() {
        eprintln!(
            "netcheck serve: {address} is not a loopback address: other machines can read the reports, \
             which name this host's networks and containers"
        );
    }

    let stop = run::Stop::on_signals();
    let shared = Arc::new(Shared {
        metrics: Metrics::new(),
        latest: RwLock::new(None),
    });
    let http = accept_loop(listener, shared.clone(), stop.clone());
    let runs = run_loop(&config, &shared, &target, stop.clone());
    let ((), ()) = tokio::join!(http, runs);
    eprintln!("netcheck serve: {}: stopped", stop.wait().await);
    Ok(netcheck_model::error::exit::OK)
}

/// Runs the suite until told to stop.
async fn run_loop<T, C>(config: &Config, shared: &Shared, target: &T, signals: run::Stop)
where
    T: Fn() -> Target<C>,
    C: Future<Output = Connected>,
{
    let stop = || signals.wait();
    let progress = indicatif::ProgressBar::hidden();
    for n in 1u64.. {
        let record = run::live(&config.plan, &config.options, target(), stop, &progress).await;
        if matches!(record.error, Some(Error::Interrupted(_))) {
            return;
        }
        eprintln!("netcheck serve: run {n}: {}", summary(&record.report));
        shared.metrics.record(&record.report);
        if let Err(e) = config.outputs.write(&Runs::One(&record, &shared.metrics)) {
            eprintln!("netcheck serve: {e}");
        }
        let latest = render(&record);
        *shared.latest.write().unwrap_or_else(|e| e.into_inner()) = Some(latest);
        drop(record);
        let factor = rand::random_range(1.0 - JITTER..=1.0 + JITTER);
        tokio::select! {
            () = tokio::time::sleep(config.interval.mul_f64(factor)) => {}
            _ = stop() => return,
        }
    }
}

/// One log line per run: the verdict, and what failed.
fn summary(report: &Report) -> String {
    let s = &report.summary;
    let mut line = format!(
        "{} in {:.1} s: {} passed, {} failed, {} skipped, {} errored",
        <&str>::from(RunResult::of(report)),
        report.duration_ms as f64 / 1000.0,
        s.passed,
        s.failed,
        s.skipped,
        s.errors
    );
    let bad: Vec<&str> = report
        .checks
        .iter()
        .filter(|c| c.gate && matches!(c.status, Status::Fail | Status::Error))
        .map(|c| c.id.as_str())
        .collect();
    if !bad.is_empty() {
        line.push_str(&format!(" ({})", bad.join(", ")));
    }
    line
}

fn render(record: &RunRecord) -> Latest {
    let report = &record.report;
    let healthy = report.exit_code() == netcheck_model::error::exit::OK;
    let mut health = format!("{}\n", summary(report));
    for c in &report.checks {
        if c.gate && matches!(c.status, Status::Fail | Status::Error) {
            // One line each: a message never spans lines, but engine text is untrusted.
            let message = c.message.replace(['\n', '\r'], " ");
            health.push_str(&format!("{} {}: {message}\n", c.status.as_str(), c.id));
        }
    }
    Latest {
        healthy,
        health,
        json: report.to_json(),
        html: html::render(report, record.snapshot.as_ref()),
    }
}

/// How many connections serve holds at once. Any local user can open connections and
/// sit on them; past this many, the longest-idle one is dropped for the newcomer, so
/// that a scraper's /healthz or /metrics is always let in.
pub const MAX_CONNECTIONS: usize = 128;

/// How long a connection may take to send a request's headers, the first or the next
/// on a kept-alive connection: a scraper sends them at once.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// The connections being served, oldest first, each with whether it is answering a
/// request now (a connection that is not is idle: waiting for headers).
#[derive(Default)]
struct Connections {
    live: std::collections::VecDeque<Connection>,
}

struct Connection {
    busy: Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::AbortHandle,
}

impl Connections {
    /// Makes room for one more: forgets the ended ones, then, at the cap, drops the
    /// oldest idle one. False when every connection is answering a request.
    fn make_room(&mut self, cap: usize) -> bool {
        self.live.retain(|c| !c.task.is_finished());
        if self.live.len() < cap {
            return true;
        }
        let idle = self
            .live
            .iter()
            .position(|c| !c.busy.load(std::sync::atomic::Ordering::Acquire));
        match idle.and_then(|i| self.live.remove(i)) {
            Some(oldest) => {
                oldest.task.abort();
                true
            }
            None => false,
        }
    }
}

/// The cap on connections: [`MAX_CONNECTIONS`], or fewer where the open-file limit
/// leaves less room beside the runs' own needs.
fn connection_cap() -> usize {
    let limit = crate::net::limits::nofile() as usize;
    MAX_CONNECTIONS.min(limit / 4).max(8)
}

async fn accept_loop(listener: tokio::net::TcpListener, shared: Arc<Shared>, signals: run::Stop) {
    let stop = signals.wait();
    tokio::pin!(stop);
    let cap = connection_cap();
    let mut connections = Connections::default();
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of descriptors, say: wait, rather than spin or die.
                    eprintln!("netcheck serve: accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut stop => return,
        };
        if !connections.make_room(cap) {
            // Every connection is mid-answer (they take microseconds): this one waits
            // for nothing, it is closed.
            drop(stream);
            continue;
        }
        let shared = shared.clone();
        let busy = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = busy.clone();
        let task = tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let shared = shared.clone();
                let flag = flag.clone();
                async move {
                    flag.store(true, std::sync::atomic::Ordering::Release);
                    let response = respond(&req, &shared);
                    flag.store(false, std::sync::atomic::Ordering::Release);
                    Ok::<_, Infallible>(response)
                }
            });
            // A client that stalls mid-request, or keeps a connection open without
            // asking, does not hold it for long.
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
        connections.live.push_back(Connection {
            busy,
            task: task.abort_handle(),
        });
    }
}

fn respond<B>(req: &Request<B>, shared: &Shared) -> Response<Full<Bytes>> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n".into());
    }
    let latest = shared.latest.read().unwrap_or_else(|e| e.into_inner());
    let no_run = || {
        text(
            StatusCode::SERVICE_UNAVAILABLE,
            "no run has finished yet\n".into(),
        )
    };
    match req.uri().path() {
        "/healthz" => match latest.as_ref() {
            Some(l) if l.healthy => text(StatusCode::OK, l.health.clone()),
            Some(l) => text(StatusCode::SERVICE_UNAVAILABLE, l.health.clone()),
            None => no_run(),
        },
        // A Prometheus server asks for OpenMetrics; curl, promtool and older scrapers
        // get the classic format.
        "/metrics" if accepts_openmetrics(req) => body(
            StatusCode::OK,
            metrics::OPENMETRICS,
            shared.metrics.encode(),
        ),
        "/metrics" => body(
            StatusCode::OK,
            metrics::CLASSIC,
            shared.metrics.encode_classic(),
        ),
        "/report.json" => match latest.as_ref() {
            Some(l) => body(StatusCode::OK, "application/json", l.json.clone()),
            None => no_run(),
        },
        "/report.html" => match latest.as_ref() {
            Some(l) => body(StatusCode::OK, "text/html; charset=utf-8", l.html.clone()),
            None => no_run(),
        },
        "/" => body(
            StatusCode::OK,
            "text/html; charset=utf-8",
            r#"<!DOCTYPE html><title>netcheck</title><ul><li><a href="/healthz">/healthz</a><li><a href="/metrics">/metrics</a><li><a href="/report.json">/report.json</a><li><a href="/report.html">/report.html</a></ul>"#.into(),
        ),
        _ => text(StatusCode::NOT_FOUND, "not found\n".into()),
    }
}

fn accepts_openmetrics<B>(req: &Request<B>) -> bool {
    req.headers()
        .get_all(hyper::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"))
}

fn text(status: StatusCode, text: String) -> Response<Full<Bytes>> {
    body(status, "text/plain; charset=utf-8", text)
}

fn body(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(v) = hyper::header::HeaderValue::from_str(content_type) {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// At the cap, the oldest idle connection goes for a newcomer; one answering a
    /// request stays; when all are answering, there is no room.
    #[tokio::test]
    async fn the_oldest_idle_connection_makes_room() {
        let mut c = Connections::default();
        let mut add = |busy: bool| {
            let task = tokio::spawn(std::future::pending::<()>());
            let flag = Arc::new(std::sync::atomic::AtomicBool::new(busy));
            c.live.push_back(Connection {
                busy: flag,
                task: task.abort_handle(),
            });
            task
        };
        let busy = add(true);
        let idle_old = add(false);
        let idle_new = add(false);
        assert!(c.make_room(3));
        tokio::task::yield_now().await;
        assert!(idle_old.is_finished(), "the oldest idle one stays");
        assert!(!busy.is_finished() && !idle_new.is_finished());
        assert_eq!(c.live.len(), 2);
        c.live[1]
            .busy
            .store(true, std::sync::atomic::Ordering::Release);
        assert!(!c.make_room(2), "room made by dropping a busy connection");
    }
}
