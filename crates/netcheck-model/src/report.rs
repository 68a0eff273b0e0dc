//! The report: what a run found, check by check, as every format renders it. Built by
//! the judges (`netcheck_judge::report`), or from the error that stopped a run.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::finding::Finding;
pub use crate::status::Status;

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
    /// The engine's product where it is not Docker's (`Podman`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_product: Option<String>,
    /// A rootless engine: its networks are the user's own, and the host's checks skip.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub engine_rootless: bool,
    pub engine_version: String,
    pub api_version: String,
    pub os: String,
    pub kernel: String,
    pub firewall_backend: String,
}

impl HostFacts {
    /// The engine as a header names it: `Docker`, `Podman`, `Podman (rootless)`.
    pub fn engine_name(&self) -> String {
        let product = self.engine_product.as_deref().unwrap_or("Docker");
        match self.engine_rootless {
            true => format!("{product} (rootless)"),
            false => product.to_string(),
        }
    }
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
    pub findings: Vec<Finding>,
}

impl Report {
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

    pub fn assemble(
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

/// One reason checks errored: see [`Report::error_causes`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorCause {
    pub message: String,
    pub checks: Vec<String>,
    pub fix: String,
}
