//! The JSON Schemas of the files netcheck reads and writes, across the crates that
//! define them.

/// The JSON Schemas of the file formats netcheck reads and writes, as published in
/// `reports/`.
pub fn schemas() -> [(&'static str, serde_json::Value); 4] {
    let mut report = serde_json::to_value(schemars::schema_for!(netcheck_model::report::Report))
        .expect("schema serialises");
    let mut snapshot =
        serde_json::to_value(schemars::schema_for!(netcheck_model::snapshot::Snapshot))
            .expect("schema serialises");
    report["$id"] = "https://netcheck.invalid/schemas/netcheck-report.v2.schema.json".into();
    report["properties"]["schema"]["const"] = netcheck_model::report::REPORT_SCHEMA.into();
    snapshot["$id"] = "https://netcheck.invalid/schemas/netcheck-snapshot.v1.schema.json".into();
    snapshot["properties"]["schema"]["const"] = netcheck_model::snapshot::SNAPSHOT_SCHEMA.into();
    let mut suite = serde_json::to_value(schemars::schema_for!(netcheck_judge::suite::SuiteFile))
        .expect("schema serialises");
    suite["$id"] = "https://netcheck.invalid/schemas/netcheck-suite.v1.schema.json".into();
    let mut fleet =
        serde_json::to_value(schemars::schema_for!(netcheck_render::fleet::FleetReport))
            .expect("schema serialises");
    fleet["$id"] = "https://netcheck.invalid/schemas/netcheck-fleet.v1.schema.json".into();
    fleet["properties"]["schema"]["const"] = netcheck_render::fleet::FLEET_SCHEMA.into();
    [
        ("netcheck-report.v2.schema.json", report),
        ("netcheck-fleet.v1.schema.json", fleet),
        ("netcheck-snapshot.v1.schema.json", snapshot),
        ("netcheck-suite.v1.schema.json", suite),
    ]
}
