//! Fleets: several engines in one run and one report.
//!
//! The fleet's engines are local unix sockets, named by -H or by docker contexts: the
//! host's own, and a second socket that a test makes, which passes requests through to
//! the host's engine. That second engine can lie about itself: it adds a warning to
//! `docker info`, a fault of that engine alone.

use crate::common;

use std::path::Path;

use common::*;

crate::trials!(a_fleet_refuses_prometheus_metrics);

/// Metrics are per engine: a fleet refuses --prometheus with the way to get them.
fn a_fleet_refuses_prometheus_metrics() {
    let run = netcheck_plain(&[
        "-H",
        "unix:///a.sock",
        "-H",
        "unix:///b.sock",
        "--prometheus",
        "/tmp/netcheck-test-never-written.prom",
    ]);
    assert_eq!(run.code, 2, "{}", run.explain());
    assert!(
        run.stderr
            .contains("--prometheus writes the metrics of one engine"),
        "{}",
        run.explain()
    );
    assert!(!Path::new("/tmp/netcheck-test-never-written.prom").exists());
}
