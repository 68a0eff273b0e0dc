//! The formats: a run's report rendered for people (terminal, Markdown, HTML), for CI
//! (JUnit, GitHub annotations), for programs (JSON) and for monitoring (Prometheus).
//! Reporters see only the model: a report, its snapshot, the run's record.

pub mod destination;
pub mod fleet;
pub mod github;
pub mod html;
pub mod human;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod metrics;

use std::path::{Path, PathBuf};

use netcheck_model::error::Error;
use netcheck_model::escape;
use netcheck_model::record::RunRecord;
use netcheck_model::report::Report;

use crate::fleet::FleetReport;
use crate::metrics::Metrics;

// The registry of report files: each format's `--FLAG FILE`, and how it renders one run
// or a fleet. The command line's flags, the writing and the fleet's variants all come
// from FORMATS: a new format is its file plus one line there. It sits at the root, which
// the format files see without a circle of imports.

/// One report file format.
pub struct Format {
    /// The long flag, without its dashes: `json` is `--json FILE`. Stable: CI jobs use it.
    pub flag: &'static str,
    /// The flag's help, as `--help` and the man page show it.
    pub help: &'static str,
    /// One run's file. `metrics` has recorded this run (in `serve`, the ones before too).
    pub one: fn(&RunRecord, &Metrics) -> String,
    /// A fleet's file: None for a format that describes one engine only.
    pub fleet: Option<fn(&FleetReport, &[RunRecord]) -> String>,
}

impl std::fmt::Debug for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "--{}", self.flag)
    }
}

/// Every format, in the order `--help` lists their flags.
pub static FORMATS: &[&Format] = &[
    &crate::json::FORMAT,
    &crate::junit::FORMAT,
    &crate::html::FORMAT,
    &crate::markdown::FORMAT,
    &crate::metrics::FORMAT,
];

/// The report files a run was asked for (`--json`, `--junit`, ...), written after every
/// run, whatever its outcome.
#[derive(Debug, Clone, Default)]
pub struct Outputs {
    files: Vec<(&'static Format, PathBuf)>,
}

impl Outputs {
    pub fn new(files: Vec<(&'static Format, PathBuf)>) -> Outputs {
        Outputs { files }
    }

    /// How many of the reports go to standard output (`-`): the terminal report then
    /// goes to stderr, so that the file's reader gets the file alone.
    pub fn to_stdout(&self) -> usize {
        (self.files.iter())
            .filter(|(_, p)| destination::is_stdout(p))
            .count()
    }

    /// The first format asked for that describes one engine only (`--prometheus`): a
    /// fleet refuses it.
    pub fn one_engine_only(&self) -> Option<&'static Format> {
        (self.files.iter())
            .map(|(f, _)| *f)
            .find(|f| f.fleet.is_none())
    }

    /// One run's files. `metrics` has recorded this run (and, in `serve`, the ones
    /// before it).
    pub fn write(&self, run: &RunRecord, metrics: &Metrics) -> Result<(), Error> {
        self.write_each(|format| Some((format.one)(run, metrics)))
    }

    /// A fleet's files: each format's fleet variant (the caller refuses the others).
    pub fn write_fleet(&self, fleet: &FleetReport, runs: &[RunRecord]) -> Result<(), Error> {
        self.write_each(|format| format.fleet.map(|render| render(fleet, runs)))
    }

    fn write_each(&self, render: impl Fn(&Format) -> Option<String>) -> Result<(), Error> {
        if self.to_stdout() > 1 {
            return Err(Error::Write {
                path: destination::STDOUT.into(),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "only one report can go to standard output (`-`)",
                ),
            });
        }
        for (format, path) in &self.files {
            if let Some(text) = render(format) {
                write_atomic(path, text.as_bytes())?;
            }
        }
        Ok(())
    }
}

/// Writes a report file: see [`destination`] (`-` is standard output; a device or FIFO
/// is written in place; a regular file is replaced atomically, keeping owner and mode).
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), Error> {
    destination::write(path, contents)
}

#[cfg(test)]
mod tests {
    use super::FORMATS;

    #[test]
    fn flags_are_unique_and_fleets_refuse_only_what_they_cannot_merge() {
        let mut flags: Vec<&str> = FORMATS.iter().map(|f| f.flag).collect();
        flags.sort();
        flags.dedup();
        assert_eq!(flags.len(), FORMATS.len());
        let single: Vec<&str> = (FORMATS.iter())
            .filter(|f| f.fleet.is_none())
            .map(|f| f.flag)
            .collect();
        assert_eq!(single, ["prometheus"], "metrics describe one engine");
    }
}
