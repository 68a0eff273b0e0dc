//! JSON: the report as data, for programs (schema: reports/netcheck-report.v2.schema.json,
//! and netcheck-fleet.v1 for many engines).

use crate::Format;

pub const FORMAT: Format = Format {
    flag: "json",
    help: "Write a JSON report (schema: reports/netcheck-report.v2.schema.json).",
    one: |run, _| run.report.to_json(),
    fleet: Some(|fleet, _| fleet.to_json()),
};
