//! Contract B: what one run against one engine leaves behind, as every format renders
//! it. Formats render records: a single run is a fleet of one record (JSON and the
//! Prometheus metrics still write a single run's file in a shape of its own).

use crate::error::Error;
use crate::report::Report;
use crate::snapshot::Snapshot;

/// What reports call an engine, and where it answers (empty when a run ended before
/// one was chosen).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineName {
    /// The context's name, or the endpoint.
    pub name: String,
    pub endpoint: String,
}

/// One run's result. There is always a report: when nothing could be judged, it holds
/// one errored entry that says why, so that every format shows the cause.
#[derive(Debug)]
pub struct RunRecord {
    pub engine: EngineName,
    pub report: Report,
    /// The observations, when there were any (the HTML report draws them).
    pub snapshot: Option<Snapshot>,
    /// Why the run could not judge anything: no engine, a timeout, a signal. The
    /// report says it too; the typed error keeps its exit code and fix for the terminal.
    pub error: Option<Error>,
}

impl RunRecord {
    /// The process exit code this run stands for: the verdict's, or the error's.
    pub fn exit_code(&self) -> u8 {
        match &self.error {
            Some(e) => e.exit_code(),
            None => self.report.exit_code(),
        }
    }
}

/// A fleet's exit code: the worst of its records' (an interruption, then an error,
/// then a failure).
pub fn exit_code(records: &[RunRecord]) -> u8 {
    (records.iter())
        .map(RunRecord::exit_code)
        .max()
        .unwrap_or(crate::error::exit::OK)
}
