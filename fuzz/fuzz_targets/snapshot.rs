//! Any bytes as a snapshot file: parsing never panics, and a snapshot that parses
//! judges and renders in every format without panicking either.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netcheck::{checks, report, snapshot::Snapshot};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(snapshot) = Snapshot::from_json(text) else {
        return;
    };
    let instances = checks::builtin_instances();
    let judged = checks::judge(&snapshot, &instances);
    let r = report::Report::new(&snapshot, &judged, std::time::Duration::ZERO);
    let _ = r.to_json();
    let _ = report::junit::render(&r);
    let _ = report::markdown::render(&r);
    let _ = report::html::render(&r, Some(&snapshot));
    let _ = netcheck::redact::redact(&snapshot);
});
