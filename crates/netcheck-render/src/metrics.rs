//! Prometheus metrics of netcheck's runs, for `netcheck serve`'s /metrics and for the
//! textfile that `--prometheus FILE` writes for node_exporter (the format: `prometheus`).
//!
//! Labels carry check and network names only: never addresses, container ids or
//! names, so that the number of series stays that of the suite.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};
use strum::IntoEnumIterator;

use netcheck_model::escape;
use netcheck_model::report::{Report, Status};

/// The content type of [`Metrics::encode`]'s output, which Prometheus asks for.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The content type of [`Metrics::encode_classic`]'s output.
pub const CLASSIC: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CheckLabels {
    check: String,
    /// Empty for a host-scoped check.
    network: String,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RunLabels {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

/// A run's result, as `netcheck_runs_total{result}` counts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, strum::EnumIter, strum::IntoStaticStr)]
#[strum(serialize_all = "lowercase")]
pub enum RunResult {
    /// Every gating check passed or was skipped.
    Pass,
    /// A gating check failed: the host has a problem.
    Fail,
    /// netcheck could not tell: a check errored, the engine did not answer, a timeout.
    Error,
}

impl RunResult {
    pub fn of(report: &Report) -> RunResult {
        match report.exit_code() {
            netcheck_model::error::exit::OK => RunResult::Pass,
            netcheck_model::error::exit::FAILED => RunResult::Fail,
            _ => RunResult::Error,
        }
    }
}

pub struct Metrics {
    registry: Registry,
    check_status: Family<CheckLabels, Gauge>,
    run_duration: Gauge<f64, AtomicU64>,
    /// Without a series until the first run ends: "never ran" is not "ran in 1970".
    last_run: Family<Vec<(String, String)>, Gauge<f64, AtomicU64>>,
    runs: Family<RunLabels, Counter>,
    /// 1 when the last run observed the host, 0 when it ended before it could (absent
    /// before the first run, as the timestamp).
    observed: Family<Vec<(String, String)>, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("netcheck");
        let check_status = Family::<CheckLabels, Gauge>::default();
        registry.register(
            "check_status",
            "The last run's status of each check (and network), one-hot: 1 for the status it has, 0 for the others",
            check_status.clone(),
        );
        let run_duration = Gauge::<f64, AtomicU64>::default();
        registry.register_with_unit(
            "run_duration",
            "How long the last run took",
            Unit::Seconds,
            run_duration.clone(),
        );
        let last_run = Family::<Vec<(String, String)>, Gauge<f64, AtomicU64>>::default();
        registry.register_with_unit(
            "last_run_timestamp",
            "When the last run ended, in seconds since the epoch",
            Unit::Seconds,
            last_run.clone(),
        );
        let observed = Family::<Vec<(String, String)>, Gauge>::default();
        registry.register(
            "last_run_observed",
            "1 when the last run observed the host and judged its checks; 0 when it could not \
             (the engine unreachable, the run timed out, the agent failed): then no check status is news",
            observed.clone(),
        );
        let runs = Family::<RunLabels, Counter>::default();
        registry.register(
            "runs",
            "Runs by result: pass, fail (a gating check failed) or error (netcheck could not tell)",
            runs.clone(),
        );
        // Every result has a series from the start, so that rate() sees the first one.
        for result in RunResult::iter() {
            let _ = runs.get_or_create(&RunLabels {
                result: result.into(),
            });
        }
        let build = Family::<BuildLabels, Gauge>::default();
        registry.register("build_info", "netcheck's version; always 1", build.clone());
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        Metrics {
            registry,
            check_status,
            run_duration,
            last_run,
            runs,
            observed,
        }
    }

    /// Records a finished run: its checks replace the previous run's, so that a check
    /// that no longer runs (a network removed) leaves no stale series behind.
    pub fn record(&self, report: &Report) {
        self.check_status.clear();
        for c in &report.checks {
            for status in Status::iter() {
                self.check_status
                    .get_or_create(&CheckLabels {
                        // The encoder escapes `\`, `"` and a newline only: the rest of
                        // what an engine can put in a name is made visible first.
                        check: escape::terminal(&c.check).into_owned(),
                        network: escape::terminal(c.network.as_deref().unwrap_or("")).into_owned(),
                        status: status.as_str(),
                    })
                    .set((c.status == status).into());
            }
        }
        let wall = report.duration_ms as f64 / 1000.0;
        self.run_duration.set(wall);
        let ended = report.started.timestamp_millis() as f64 / 1000.0 + wall;
        self.last_run.get_or_create(&vec![]).set(ended);
        self.observed
            .get_or_create(&vec![])
            .set(report.observed().into());
        self.runs
            .get_or_create(&RunLabels {
                result: RunResult::of(report).into(),
            })
            .inc();
    }

    /// The OpenMetrics text exposition, which a Prometheus server asks for.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }

    /// The classic Prometheus text format (0.0.4), which node_exporter's textfile
    /// collector, `promtool check metrics` and older scrapers read.
    pub fn encode_classic(&self) -> String {
        classic(&self.encode())
    }
}

/// OpenMetrics text to the classic format: the two differ, for what netcheck exports,
/// in three ways only. A counter's family is named without `_total` in OpenMetrics
/// and with it in the classic format (where the family's name is its samples');
/// `# UNIT` and `# EOF` do not exist there.
fn classic(openmetrics: &str) -> String {
    let counters: Vec<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut text = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let meta = ["# HELP ", "# TYPE "]
            .into_iter()
            .find_map(|p| Some((p, line.strip_prefix(p)?)));
        match meta {
            Some((prefix, rest)) => {
                let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                let total = if counters.contains(&name) {
                    "_total"
                } else {
                    ""
                };
                text.push_str(&format!("{prefix}{name}{total} {tail}\n"));
            }
            None => {
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use netcheck_model::report::{CheckResult, HostFacts, Report};

    fn report(statuses: &[(&str, Option<&str>, Status)]) -> Report {
        let checks = statuses
            .iter()
            .map(|(check, network, status)| CheckResult {
                id: match network {
                    Some(n) => format!("{check}[{n}]"),
                    None => check.to_string(),
                },
                check: check.to_string(),
                network: network.map(str::to_string),
                title: String::new(),
                status: *status,
                gate: true,
                strict: false,
                duration_ms: 0.0,
                message: String::new(),
                evidence: vec![],
                hint: None,
                findings: vec![],
            })
            .collect();
        Report::assemble(
            HostFacts::default(),
            chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            std::time::Duration::from_millis(1500),
            checks,
        )
    }

    #[test]
    fn one_hot_over_every_status_and_no_stale_series() {
        let m = Metrics::new();
        m.record(&report(&[
            ("kernel.ip-forward", None, Status::Fail),
            ("bridge.veth", Some("app-net"), Status::Pass),
        ]));
        let text = m.encode();
        for status in Status::iter() {
            let want = if status == Status::Fail { 1 } else { 0 };
            let line = format!(
                "netcheck_check_status{{check=\"kernel.ip-forward\",network=\"\",status=\"{}\"}} {want}\n",
                status.as_str()
            );
            assert!(text.contains(&line), "{line} missing in:\n{text}");
        }
        assert!(text.contains(
            "netcheck_check_status{check=\"bridge.veth\",network=\"app-net\",status=\"pass\"} 1\n"
        ));
        assert!(text.contains("netcheck_runs_total{result=\"fail\"} 1\n"));
        assert!(text.contains("netcheck_runs_total{result=\"pass\"} 0\n"));
        assert!(text.contains("netcheck_run_duration_seconds 1.5\n"));
        assert!(text.contains("netcheck_last_run_timestamp_seconds 1700000001.5\n"));
        assert!(text.contains(&format!(
            "netcheck_build_info{{version=\"{}\"}} 1\n",
            env!("CARGO_PKG_VERSION")
        )));

        // The next run no longer covers app-net: its series go.
        m.record(&report(&[("kernel.ip-forward", None, Status::Pass)]));
        let text = m.encode();
        assert!(!text.contains("app-net"), "{text}");
        assert!(text.contains("netcheck_runs_total{result=\"pass\"} 1\n"));
        assert!(text.contains("netcheck_runs_total{result=\"fail\"} 1\n"));
    }

    #[test]
    fn classic_format_names_counters_by_their_samples() {
        let m = Metrics::new();
        m.record(&report(&[("kernel.ip-forward", None, Status::Pass)]));
        let text = m.encode_classic();
        assert!(
            text.contains("# HELP netcheck_runs_total Runs by result"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE netcheck_runs_total counter\n"),
            "{text}"
        );
        assert!(text.contains("# TYPE netcheck_run_duration_seconds gauge\n"));
        assert!(
            !text.contains("# UNIT") && !text.contains("# EOF"),
            "{text}"
        );
        // Samples are untouched.
        let samples = |t: &str| -> Vec<String> {
            t.lines()
                .filter(|l| !l.starts_with('#'))
                .map(String::from)
                .collect()
        };
        assert_eq!(samples(&text), samples(&m.encode()));
    }

    #[test]
    fn a_run_that_could_not_observe_says_so() {
        let m = Metrics::new();
        m.record(&report(&[("kernel.ip-forward", None, Status::Error)]));
        // A check that errored is still an observed run.
        assert!(m.encode().contains("netcheck_last_run_observed 1\n"));
        let dead = netcheck_model::error::Error::DaemonDown {
            endpoint: "unix:///var/run/docker.sock".into(),
            detail: "connection refused".into(),
        };
        m.record(&Report::from_error(
            &dead,
            chrono::Utc::now(),
            std::time::Duration::ZERO,
        ));
        let text = m.encode();
        assert!(text.contains("netcheck_last_run_observed 0\n"), "{text}");
        assert!(
            text.contains("netcheck_runs_total{result=\"error\"} 2\n"),
            "{text}"
        );
    }

    #[test]
    fn no_timestamp_before_the_first_run() {
        let text = Metrics::new().encode();
        assert!(
            !text.contains("netcheck_last_run_timestamp_seconds "),
            "{text}"
        );
        assert!(!text.contains("netcheck_last_run_observed "), "{text}");
        assert!(text.ends_with("# EOF\n"));
    }
}
