//! The formats: a run's report rendered for people (terminal, Markdown, HTML), for CI
//! (JUnit, GitHub annotations), for programs (JSON) and for monitoring (Prometheus).
//! Reporters see only the model: a report, its snapshot, the run's record.

pub mod destination;
pub mod fleet;
pub mod format;
pub mod github;
pub mod html;
pub mod human;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod metrics;
pub mod prometheus;

use std::path::{Path, PathBuf};

use netcheck_model::error::Error;

pub use crate::format::{Format, Runs};

// The registry of report files. The command line's flags, the writing (`Outputs`) and
// what a fleet takes all come from FORMATS: a new format is its file (its `FORMAT`,
// whose one renderer writes a single run and a fleet) plus one line here. The imports
// go one way, so there is no circle: the root uses the formats; a format uses `format`
// (what a format is, and what it renders: `Runs`) and, for a fleet's overview, `fleet`;
// `format` uses `fleet` and `metrics`, which use no module of this crate.

/// Every format, in the order `--help` lists their flags.
pub static FORMATS: &[&Format] = &[
    &json::FORMAT,
    &junit::FORMAT,
    &html::FORMAT,
    &markdown::FORMAT,
    &prometheus::FORMAT,
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

    /// A fleet of `engines` refuses the formats that describe one engine only
    /// (`--prometheus`): the error names the first one's flag.
    pub fn refuse_in_fleet(&self, engines: usize) -> Result<(), Error> {
        match (self.files.iter()).find(|(f, _)| f.one_engine_only) {
            Some((f, _)) => Err(Error::FleetMetrics {
                flag: f.flag,
                engines,
            }),
            None => Ok(()),
        }
    }

    /// The files of one run or of a fleet. `Runs::One`'s metrics have recorded the run
    /// (in `serve`, the ones before it too).
    pub fn write(&self, runs: &Runs) -> Result<(), Error> {
        if let Runs::Fleet(_, records) = runs {
            self.refuse_in_fleet(records.len())?;
        }
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
            write_atomic(path, (format.render)(runs).as_bytes())?;
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
    use std::time::Duration;

    use netcheck_model::error::Error;

    use super::{FORMATS, Outputs, Runs};
    use crate::fleet::FleetReport;

    #[test]
    fn flags_are_unique() {
        let mut flags: Vec<&str> = FORMATS.iter().map(|f| f.flag).collect();
        flags.sort();
        flags.dedup();
        assert_eq!(flags.len(), FORMATS.len());
    }

    /// A fleet refuses each format that describes one engine only, by its flag, before
    /// writing anything; it writes every other format.
    #[test]
    fn a_fleet_refuses_one_engine_only_formats_by_their_flags() {
        let dir = tempfile::tempdir().unwrap();
        let fleet = FleetReport::new(&[], chrono::Utc::now(), Duration::ZERO);
        for format in FORMATS {
            let path = dir.path().join(format.flag);
            let outputs = Outputs::new(vec![(*format, path.clone())]);
            let written = outputs.write(&Runs::Fleet(&fleet, &[]));
            if !format.one_engine_only {
                written.unwrap_or_else(|e| panic!("{format:?}: {e}"));
                assert!(path.exists(), "{format:?}");
                continue;
            }
            let error = written.expect_err(format.flag);
            let Error::FleetMetrics { flag, engines: 0 } = &error else {
                panic!("{format:?}: {error:?}");
            };
            assert_eq!(*flag, format.flag);
            assert!(
                (error.to_string()).starts_with(&format!("--{} ", format.flag)),
                "{error}"
            );
            assert!(!path.exists(), "{format:?}");
        }
    }
}
