//! JSON: the report as data, for programs (schema: reports/netcheck-report.v2.schema.json,
//! and netcheck-fleet.v1 for many engines).

use crate::format::{Format, Runs};

pub const FORMAT: Format = Format {
    flag: "json",
    help: "Write a JSON report (schema: reports/netcheck-report.v2.schema.json).",
    one_engine_only: false,
    render,
};

/// Two documents: a single run's file is its report alone (netcheck-report/v2), not a
/// fleet of one (netcheck-fleet/v1), because programs read the two schemas.
fn render(runs: &Runs) -> String {
    match runs {
        Runs::One(record, _) => record.report.to_json(),
        Runs::Fleet(fleet, _) => fleet.to_json(),
    }
}
