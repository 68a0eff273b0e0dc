//! The formats: a run's report rendered for people (terminal, Markdown, HTML), for CI
//! (JUnit, GitHub annotations), for programs (JSON) and for monitoring (Prometheus).
//! Reporters see only the model: a report, its snapshot, the run's record.

pub mod destination;
pub mod fleet;
pub mod github;
pub mod html;
pub mod human;
pub mod junit;
pub mod markdown;
pub mod metrics;

use std::path::{Path, PathBuf};

use netcheck_model::error::Error;
use netcheck_model::escape;
use netcheck_model::report::{CheckResult, Report};
use netcheck_model::snapshot::Snapshot;

/// The report files a run was asked for (`--json`, `--junit`, ...), written after every
/// run, whatever its outcome.
#[derive(Debug, Clone, Default)]
pub struct Outputs {
    pub json: Option<PathBuf>,
    pub junit: Option<PathBuf>,
    pub markdown: Option<PathBuf>,
    pub html: Option<PathBuf>,
    /// Prometheus metrics, for node_exporter's textfile collector.
    pub prometheus: Option<PathBuf>,
}

impl Outputs {
    /// How many of the reports go to standard output (`-`): the terminal report then
    /// goes to stderr, so that the file's reader gets the file alone.
    pub fn to_stdout(&self) -> usize {
        [
            &self.json,
            &self.junit,
            &self.markdown,
            &self.html,
            &self.prometheus,
        ]
        .into_iter()
        .flatten()
        .filter(|p| destination::is_stdout(p))
        .count()
    }

    /// `metrics` has recorded this run (and, in `serve`, the ones before it).
    pub fn write(
        &self,
        report: &Report,
        snapshot: Option<&Snapshot>,
        metrics: &metrics::Metrics,
    ) -> Result<(), Error> {
        if self.to_stdout() > 1 {
            return Err(Error::Write {
                path: destination::STDOUT.into(),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "only one report can go to standard output (`-`)",
                ),
            });
        }
        if let Some(path) = &self.json {
            write_atomic(path, report.to_json().as_bytes())?;
        }
        if let Some(path) = &self.junit {
            write_atomic(path, junit::render(report).as_bytes())?;
        }
        if let Some(path) = &self.markdown {
            write_atomic(path, markdown::render(report).as_bytes())?;
        }
        if let Some(path) = &self.html {
            write_atomic(path, html::render(report, snapshot).as_bytes())?;
        }
        if let Some(path) = &self.prometheus {
            write_atomic(path, metrics.encode_classic().as_bytes())?;
        }
        Ok(())
    }
}

/// Writes a report file: see [`destination`] (`-` is standard output; a device or FIFO
/// is written in place; a regular file is replaced atomically, keeping owner and mode).
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), Error> {
    destination::write(path, contents)
}
