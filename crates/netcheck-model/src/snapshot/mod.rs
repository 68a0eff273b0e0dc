//! The snapshot: every observation one run made, as one serialisable value.
//!
//! Collection fills it; judging reads it and nothing else. That split is what lets a
//! snapshot travel in a bug ticket and be re-judged elsewhere, and what lets the
//! fixture tests exercise every judge without Docker.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

// One module a part of the snapshot; their types are used as `snapshot::NetworkObs`.
mod docker;
mod host;
mod netns;
mod probe;
mod routing;
mod tc;

pub use docker::*;
pub use host::*;
pub use netns::*;
pub use probe::*;
pub use routing::*;
pub use tc::*;

/// Written into every snapshot; `analyze` refuses versions it does not know.
pub const SNAPSHOT_SCHEMA: &str = "netcheck-snapshot/v1";

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Snapshot {
    pub schema: String,
    pub netcheck_version: String,
    pub collected_at: DateTime<Utc>,
    pub duration_ms: u64,
    /// The bridge networks the run was asked to check, by name.
    pub networks: Vec<String>,
    pub docker: Observed<DockerObs>,
    pub host: Observed<HostObs>,
    pub probe: Observed<ProbeObs>,
    /// Which engine was judged and how it was reached (absent in snapshots from before
    /// netcheck could reach other engines: the local socket).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<EngineRef>,
}

/// Which engine a run judged, and how: every report names it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EngineRef {
    /// The docker context's name: `default` unless a named context was used.
    pub name: String,
    /// Where the engine answers, e.g. `tcp://10.0.0.5:2376` (redacted by `--redact`).
    pub endpoint: String,
    /// The named context the endpoint came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// unix, tcp, tls or ssh.
    pub transport: String,
    /// Whether netcheck's host agent observed the engine's host.
    pub agent: bool,
}

impl EngineRef {
    /// One line for people: `prod (tcp://10.0.0.5:2376, context prod, TLS, via the host agent)`.
    pub fn describe(&self) -> String {
        let mut parts = vec![self.endpoint.clone()];
        if let Some(c) = &self.context {
            parts.push(format!("context {c}"));
        }
        parts.push(self.transport.clone());
        parts.push(if self.agent {
            "host observed by netcheck's agent".to_string()
        } else {
            "no agent".to_string()
        });
        format!("{} ({})", self.name, parts.join(", "))
    }
}

/// One observation: its value, or why there is none.
///
/// Skipped means "not observable here" (no root, remote engine) and leads a check to
/// skip; Error means netcheck tried and failed, which a check reports as an error.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Observed<T> {
    Ok { value: T },
    Skipped { reason: String },
    Error { error: String },
}

impl<T> Observed<T> {
    pub fn ok(&self) -> Option<&T> {
        match self {
            Observed::Ok { value } => Some(value),
            _ => None,
        }
    }

    /// Why there is no value, for a check's message.
    pub fn why_missing(&self) -> Option<&str> {
        match self {
            Observed::Ok { .. } => None,
            Observed::Skipped { reason } => Some(reason),
            Observed::Error { error } => Some(error),
        }
    }
}

impl<T, E: std::fmt::Display> From<Result<T, E>> for Observed<T> {
    fn from(r: Result<T, E>) -> Self {
        match r {
            Ok(value) => Observed::Ok { value },
            Err(e) => Observed::Error {
                error: e.to_string(),
            },
        }
    }
}

impl Snapshot {
    /// Reads a snapshot file, refusing versions this netcheck does not know.
    pub fn load(path: &std::path::Path) -> Result<Snapshot, crate::error::Error> {
        let bad = |detail: String| crate::error::Error::BadFile {
            path: path.to_path_buf(),
            detail,
        };
        let text = crate::input::read(path, crate::input::Kind::Snapshot, true)
            .map_err(|e| bad(e.to_string()))?;
        Snapshot::from_json(&text).map_err(bad)
    }

    /// Parses a snapshot, refusing versions this netcheck does not know. The error
    /// names the position (serde_json's line and column).
    pub fn from_json(text: &str) -> Result<Snapshot, String> {
        // The version first: a newer snapshot gets "unsupported version", not a
        // complaint about some field it added.
        #[derive(Deserialize)]
        struct Version {
            schema: Option<String>,
        }
        let version: Version =
            serde_json::from_str(text).map_err(|e| format!("not a snapshot: {e}"))?;
        match version.schema.as_deref() {
            Some(SNAPSHOT_SCHEMA) => {}
            Some(other) => {
                return Err(format!(
                    "snapshot version `{other}` is not supported (this netcheck reads {SNAPSHOT_SCHEMA})"
                ));
            }
            None => return Err("not a netcheck snapshot: no `schema` field".into()),
        }
        serde_json::from_str(text).map_err(|e| e.to_string())
    }

    pub fn network(&self, name: &str) -> Option<&NetworkObs> {
        self.docker.ok()?.networks.iter().find(|n| n.name == name)
    }

    /// The network the probe's traffic leaves through: the one its default route uses.
    /// The engine, not the order of --network, decides which that is.
    pub fn probe_egress(&self) -> Option<&NetworkObs> {
        self.probe.ok()?.egress(&self.docker.ok()?.networks)
    }

    pub fn container(&self, id: &str) -> Option<&ContainerObs> {
        self.docker.ok()?.containers.iter().find(|c| c.id == id)
    }
}
