//! `--prometheus FILE`: the metrics of netcheck's runs (see [`crate::metrics`]) as a
//! textfile for node_exporter's textfile collector. They describe one engine: a fleet
//! refuses the format.

use crate::format::{Format, Runs};

pub const FORMAT: Format = Format {
    flag: "prometheus",
    help: "Write Prometheus metrics (the same as `serve`'s /metrics), atomically, for \
           node_exporter's textfile collector: name the file *.prom in its directory.",
    one_engine_only: true,
    render,
};

/// Not a fleet of one: the file is the metrics the run recorded, which in `serve` count
/// the runs before it too. A fleet's engines would mix, so `Outputs` refuses the format
/// before it could render one.
fn render(runs: &Runs) -> String {
    match runs {
        Runs::One(_, metrics) => metrics.encode_classic(),
        Runs::Fleet(..) => String::new(),
    }
}
