//! netcheck's judges: pure functions of a snapshot. [`plan`] picks the checks (from
//! filters and [`suite`]s), [`checks`] judge the snapshot, and [`report()`] turns their
//! outcomes into a report (contract A). [`redact`] rewrites a snapshot's names and
//! addresses before it is shared. Depends on the model only: no engine, no host.

pub mod checks;
pub mod plan;
pub mod redact;
pub mod report;
pub mod spelling;
pub mod suite;

pub use report::report;

use netcheck_model::report::Report;
use netcheck_model::snapshot::Snapshot;

/// Contract A: judges the snapshot with the given checks and reports, its duration
/// counted from `since` (the run's start: collection included).
pub fn judge(
    snapshot: &Snapshot,
    instances: &[checks::Instance],
    since: std::time::Instant,
) -> Report {
    let judged = checks::judge(snapshot, instances);
    report(snapshot, &judged, since.elapsed())
}
