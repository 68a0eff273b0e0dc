//! What a report file format is, as the registry (`FORMATS`, at the crate's root) lists
//! it, and what every format renders: [`Runs`], the records of one run (a fleet of one)
//! or of a fleet's engines.

use std::time::Duration;

use netcheck_model::record::RunRecord;

use crate::fleet::FleetReport;
use crate::metrics::Metrics;

/// One report file format.
pub struct Format {
    /// The long flag, without its dashes: `json` is `--json FILE`. Stable: CI jobs use it.
    pub flag: &'static str,
    /// The flag's help, as `--help` and the man page show it.
    pub help: &'static str,
    /// Whether the format describes one engine only (`--prometheus`): a fleet refuses
    /// it, naming its flag (`Outputs::refuse_in_fleet`).
    pub one_engine_only: bool,
    /// The file: one run's, or a fleet's.
    pub render: fn(&Runs) -> String,
}

impl std::fmt::Debug for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "--{}", self.flag)
    }
}

/// What a report file renders: each engine's record, one for a single run and several
/// for a fleet ([`Runs::records`]).
#[derive(Clone, Copy)]
pub enum Runs<'a> {
    /// A single run: a fleet of one record, with the metrics that recorded it (in
    /// `serve`, with the runs before it).
    One(&'a RunRecord, &'a Metrics),
    /// A fleet: its report, and its engines' records in the same order.
    Fleet(&'a FleetReport, &'a [RunRecord]),
}

impl<'a> Runs<'a> {
    /// Each engine's record, in the order the engines were given.
    pub fn records(&self) -> &'a [RunRecord] {
        match self {
            Runs::One(record, _) => std::slice::from_ref(record),
            Runs::Fleet(_, records) => records,
        }
    }

    /// Whether the file is a fleet's: it then has an overview, and names each engine.
    pub fn is_fleet(&self) -> bool {
        matches!(self, Runs::Fleet(..))
    }

    /// How long the run took: the single run's duration, or the fleet's wall time.
    pub fn wall(&self) -> Duration {
        Duration::from_millis(match self {
            Runs::One(record, _) => record.report.duration_ms,
            Runs::Fleet(fleet, _) => fleet.duration_ms,
        })
    }
}
