//! Reports: one list of results, rendered by reporters (terminal, JSON, JUnit,
//! Markdown, HTML).

pub mod destination;
pub mod escape;
pub mod fleet;
pub mod github;
pub mod html;
pub mod human;
pub mod junit;
pub mod markdown;
pub mod metrics;

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::checks::{Gate, Judged, Status};
use crate::error::Error;
use crate::snapshot::Snapshot;

/// Written into every JSON report. `reports/netcheck-report.v2.schema.json` describes it.
/// v2 added the `warn` status and `summary.warned`: a v1 reader would not know them.
pub const REPORT_SCHEMA: &str = "netcheck-report/v2";

/// The id of the one entry of a run that could not judge anything.
pub const FROM_ERROR: &str = "netcheck";

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Report {
    pub schema: String,
    pub tool: Tool,
    pub host: HostFacts,
    /// Which engine was judged, how it was reached, and whether the host agent observed
    /// its host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<crate::snapshot::EngineRef>,
    pub started: DateTime<Utc>,
    pub duration_ms: u64,
    /// The signal that ended the run. Such a run judged nothing: its one errored entry
    /// says so (a run never reports partial results).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<String>,
    pub summary: Summary,
    pub checks: Vec<CheckResult>,
    /// What the run says beside the checks' verdicts (a suite's `allow` entry that matched
    /// no finding): it changes no status and no exit code.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<Note>,
}

/// A remark on the run, not a check's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Note {
    /// A suite's `allow` entry that no finding of its check matched in this run: what it
    /// allowed is gone from the host, or the entry is stale.
    AllowUnmatched {
        /// The check (suite instance) id whose `allow` holds it.
        check: String,
        /// The finding code allowed.
        code: String,
    },
}

impl Note {
    /// One line for a person.
    pub fn message(&self) -> String {
        match self {
            Note::AllowUnmatched { check, code } => format!(
                "the suite allows {code} on {check}, but no finding matched it in this run: \
                 remove it from the suite if the host no longer has it"
            ),
        }
    }
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct HostFacts {
    pub hostname: String,
    pub engine_version: String,
    pub api_version: String,
    pub os: String,
    pub kernel: String,
    pub firewall_backend: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Summary {
    pub total: usize,
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    /// Passed, but fragile or risky: `warn`.
    #[serde(default)]
    pub warned: usize,
    pub errors: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct CheckResult {
    /// Unique in the report: the check's id, with `[network]` for a network-scoped check.
    pub id: String,
    /// The check (suite instance) id alone, e.g. `bridge.veth`.
    #[serde(default)]
    pub check: String,
    /// The network a network-scoped check judged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    pub title: String,
    pub status: Status,
    /// False for a suite check whose failure is reported but does not fail the run.
    #[serde(default = "yes")]
    pub gate: bool,
    /// A warning of this check fails the run too: `--strict`, or a suite's `gate = "warn"`.
    #[serde(default)]
    pub strict: bool,
    pub duration_ms: f64,
    pub message: String,
    pub evidence: Vec<String>,
    pub hint: Option<String>,
    /// What was found, each under a stable code about a typed subject.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<crate::checks::Finding>,
}

/// The backend that holds the engine's rules, as the report's header names it:
/// `iptables-nft`, `iptables-legacy`, or `nftables` for Docker 29's own tables.
fn firewall_backend(snapshot: &Snapshot) -> String {
    let fw = snapshot.host.ok().and_then(|h| h.firewall.ok());
    let engine = crate::checks::engine_rules::EngineRules::of(snapshot);
    match (engine.backend, fw) {
        (crate::checks::engine_rules::Backend::Nftables, _) => "nftables".into(),
        (_, Some(fw)) => fw.backend.clone(),
        (_, None) => String::new(),
    }
}

impl Report {
    pub fn new(snapshot: &Snapshot, judged: &[Judged], wall: std::time::Duration) -> Report {
        let engine = snapshot.docker.ok().map(|d| &d.engine);
        let host = HostFacts {
            hostname: engine.map(|e| e.hostname.clone()).unwrap_or_default(),
            engine_version: engine.map(|e| e.version.clone()).unwrap_or_default(),
            api_version: engine.map(|e| e.api_version.clone()).unwrap_or_default(),
            os: engine.map(|e| e.os.clone()).unwrap_or_default(),
            kernel: engine.map(|e| e.kernel.clone()).unwrap_or_default(),
            firewall_backend: firewall_backend(snapshot),
        };
        let checks = judged
            .iter()
            .map(|j| CheckResult {
                id: j.id(),
                check: j.instance.id.clone(),
                network: j.network.clone(),
                title: j.instance.title(),
                status: j.outcome.status,
                gate: j.instance.gate != Gate::Off,
                strict: j.instance.gate == Gate::Warn,
                duration_ms: j.duration.as_secs_f64() * 1000.0,
                message: j.outcome.message.clone(),
                evidence: j.outcome.evidence.clone(),
                hint: j.outcome.hint.clone(),
                findings: j.outcome.findings.clone(),
            })
            .collect();
        let mut report = Report::assemble(host, snapshot.collected_at, wall, checks);
        report.engine = snapshot.engine.clone();
        report.notes = crate::checks::unmatched_allows(judged)
            .into_iter()
            .map(|(check, code)| Note::AllowUnmatched { check, code })
            .collect();
        report
    }

    /// The report of a run that could not judge anything: one errored entry that says
    /// why, so that a CI job shows the cause instead of an empty test list.
    pub fn from_error(error: &Error, started: DateTime<Utc>, wall: std::time::Duration) -> Report {
        // The fix is the entry's hint, which every format shows: not in the evidence too.
        let evidence = vec![];
        let check = CheckResult {
            id: FROM_ERROR.into(),
            check: FROM_ERROR.into(),
            network: None,
            title: "netcheck could run its checks".into(),
            status: Status::Error,
            gate: true,
            strict: false,
            duration_ms: wall.as_secs_f64() * 1000.0,
            message: error.to_string(),
            evidence,
            hint: error.hint(),
            findings: vec![],
        };
        let mut r = Report::assemble(HostFacts::default(), started, wall, vec![check]);
        if let Error::Interrupted(sig) = error {
            r.interrupted = Some(sig.to_string());
        }
        r
    }

    fn assemble(
        host: HostFacts,
        started: DateTime<Utc>,
        wall: std::time::Duration,
        checks: Vec<CheckResult>,
    ) -> Report {
        let count = |s: Status| checks.iter().filter(|c| c.status == s).count();
        let summary = Summary {
            total: checks.len(),
            passed: count(Status::Pass),
            failed: count(Status::Fail),
            skipped: count(Status::Skip),
            warned: count(Status::Warn),
            errors: count(Status::Error),
        };
        Report {
            schema: REPORT_SCHEMA.into(),
            tool: Tool {
                name: "netcheck".into(),
                version: env!("CARGO_PKG_VERSION").into(),
            },
            host,
            engine: None,
            started,
            duration_ms: wall.as_millis() as u64,
            interrupted: None,
            summary,
            checks,
            notes: vec![],
        }
    }

    /// Whether the run observed the host and judged its checks: false for a run that
    /// ended before (the engine unreachable, a timeout), whose one entry is
    /// [`Report::from_error`]'s.
    pub fn observed(&self) -> bool {
        !self
            .checks
            .iter()
            .any(|c| c.check == FROM_ERROR && c.status == Status::Error)
    }

    /// 0 when all passed, warned or skipped; 1 when one failed (or warned, where warnings
    /// gate); 2 when one errored (netcheck could not tell, which a CI gate must not read
    /// as a pass). Non-gating results never count.
    pub fn exit_code(&self) -> u8 {
        use crate::error::exit;
        let gating = |s: Status| {
            self.checks
                .iter()
                .any(|c| c.status == s && if s == Status::Warn { c.strict } else { c.gate })
        };
        if gating(Status::Error) {
            exit::ERROR
        } else if gating(Status::Fail) || gating(Status::Warn) {
            exit::FAILED
        } else {
            exit::OK
        }
    }

    /// Why a run exits 2 although it judged: each distinct cause among the gating checks
    /// that errored, the checks it hit, and its fix. The README promises a cause and a
    /// fix for every exit 2.
    pub fn error_causes(&self) -> Vec<ErrorCause> {
        let mut causes: Vec<ErrorCause> = vec![];
        for c in self
            .checks
            .iter()
            .filter(|c| c.gate && c.status == Status::Error)
        {
            match causes.iter_mut().find(|e| e.message == c.message) {
                Some(e) => e.checks.push(c.id.clone()),
                None => causes.push(ErrorCause {
                    message: c.message.clone(),
                    checks: vec![c.id.clone()],
                    fix: c
                        .hint
                        .clone()
                        .unwrap_or_else(|| crate::error::CHECK_ERROR_FIX.into()),
                }),
            }
        }
        causes
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report always serialises")
    }
}

/// The report files a run was asked for (`--json`, `--junit`, ...), written after every
/// run, whatever its outcome.
#[derive(Debug, Clone, Default)]
pub struct Outputs {
    pub json: Option<PathBuf>,
    pub junit: Option<PathBuf>,
    pub markdown: Option<PathBuf>,
    pub html: Option<PathBuf>,
    /// Prometheus metrics, for node_exporter's textfile collector.
    pub prometheus: Option<PathBuf>,
}

impl Outputs {
    /// How many of the reports go to standard output (`-`): the terminal report then
    /// goes to stderr, so that the file's reader gets the file alone.
    pub fn to_stdout(&self) -> usize {
        [
            &self.json,
            &self.junit,
            &self.markdown,
            &self.html,
            &self.prometheus,
        ]
        .into_iter()
        .flatten()
        .filter(|p| destination::is_stdout(p))
        .count()
    }

    /// `metrics` has recorded this run (and, in `serve`, the ones before it).
    pub fn write(
        &self,
        report: &Report,
        snapshot: Option<&Snapshot>,
        metrics: &metrics::Metrics,
    ) -> Result<(), Error> {
        if self.to_stdout() > 1 {
            return Err(Error::Write {
                path: destination::STDOUT.into(),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "only one report can go to standard output (`-`)",
                ),
            });
        }
        if let Some(path) = &self.json {
            write_atomic(path, report.to_json().as_bytes())?;
        }
        if let Some(path) = &self.junit {
            write_atomic(path, junit::render(report).as_bytes())?;
        }
        if let Some(path) = &self.markdown {
            write_atomic(path, markdown::render(report).as_bytes())?;
        }
        if let Some(path) = &self.html {
            write_atomic(path, html::render(report, snapshot).as_bytes())?;
        }
        if let Some(path) = &self.prometheus {
            write_atomic(path, metrics.encode_classic().as_bytes())?;
        }
        Ok(())
    }
}

/// One reason checks errored: see [`Report::error_causes`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorCause {
    pub message: String,
    pub checks: Vec<String>,
    pub fix: String,
}

/// Writes a report file: see [`destination`] (`-` is standard output; a device or FIFO
/// is written in place; a regular file is replaced atomically, keeping owner and mode).
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), Error> {
    destination::write(path, contents)
}

/// The JSON Schemas of the file formats netcheck reads and writes, as published in
/// `reports/`.
pub fn schemas() -> [(&'static str, serde_json::Value); 4] {
    let mut report =
        serde_json::to_value(schemars::schema_for!(Report)).expect("schema serialises");
    let mut snapshot = serde_json::to_value(schemars::schema_for!(crate::snapshot::Snapshot))
        .expect("schema serialises");
    report["$id"] = "https://netcheck.invalid/schemas/netcheck-report.v2.schema.json".into();
    report["properties"]["schema"]["const"] = REPORT_SCHEMA.into();
    snapshot["$id"] = "https://netcheck.invalid/schemas/netcheck-snapshot.v1.schema.json".into();
    snapshot["properties"]["schema"]["const"] = crate::snapshot::SNAPSHOT_SCHEMA.into();
    let mut suite = serde_json::to_value(schemars::schema_for!(crate::suite::SuiteFile))
        .expect("schema serialises");
    suite["$id"] = "https://netcheck.invalid/schemas/netcheck-suite.v1.schema.json".into();
    let mut fleet =
        serde_json::to_value(schemars::schema_for!(fleet::FleetReport)).expect("schema serialises");
    fleet["$id"] = "https://netcheck.invalid/schemas/netcheck-fleet.v1.schema.json".into();
    fleet["properties"]["schema"]["const"] = fleet::FLEET_SCHEMA.into();
    [
        ("netcheck-report.v2.schema.json", report),
        ("netcheck-fleet.v1.schema.json", fleet),
        ("netcheck-snapshot.v1.schema.json", snapshot),
        ("netcheck-suite.v1.schema.json", suite),
    ]
}
