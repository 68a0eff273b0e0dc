//! What a fleet's report files share: the fleet's own data ([`FleetReport`]: its start,
//! wall time, worst exit code and each engine's report, the fleet JSON document) and the
//! words for an engine's verdict in the overviews. Each format's fleet rendering is in
//! that format's file; this module depends on no format.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use netcheck_model::record::{self, RunRecord};
use netcheck_model::report::{Report, Tool};

/// Written into every fleet JSON report; `reports/netcheck-fleet.v1.schema.json`
/// describes it.
pub const FLEET_SCHEMA: &str = "netcheck-fleet/v1";

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct FleetReport {
    pub schema: String,
    pub tool: Tool,
    pub started: DateTime<Utc>,
    pub duration_ms: u64,
    /// The worst of the engines' exit codes, which netcheck exits with.
    pub exit_code: u8,
    pub engines: Vec<EngineReport>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct EngineReport {
    /// The context's name or the endpoint; unique in the report.
    pub name: String,
    pub endpoint: String,
    /// This engine's own exit code, as a run against it alone would give.
    pub exit_code: u8,
    /// Its report; for an engine that could not be checked (unreachable, a timeout),
    /// one errored entry that says why.
    pub report: Report,
}

impl FleetReport {
    pub fn new(records: &[RunRecord], started: DateTime<Utc>, wall: std::time::Duration) -> Self {
        FleetReport {
            schema: FLEET_SCHEMA.into(),
            tool: Tool {
                name: "netcheck".into(),
                version: env!("CARGO_PKG_VERSION").into(),
            },
            started,
            duration_ms: wall.as_millis() as u64,
            exit_code: record::exit_code(records),
            engines: records
                .iter()
                .map(|r| EngineReport {
                    name: r.engine.name.clone(),
                    endpoint: r.engine.endpoint.clone(),
                    exit_code: r.exit_code(),
                    report: r.report.clone(),
                })
                .collect(),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report always serialises")
    }
}

/// An engine's verdict in a fleet's overview table (Markdown, HTML), from its exit code.
pub fn verdict(code: u8) -> &'static str {
    match code {
        0 => "healthy",
        1 => "problems found",
        2 => "could not check",
        _ => "interrupted",
    }
}
