//! The report-file flags, one per format of the render crate's registry.

use std::path::PathBuf;

use netcheck::report;

/// The report files asked for: a `--FLAG FILE` for each format of the registry
/// ([`report::FORMATS`]), so that a new format needs no line here.
#[derive(Debug, Clone, Default)]
pub struct OutputArgs(pub report::Outputs);

impl clap::FromArgMatches for OutputArgs {
    fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        let files = (report::FORMATS.iter())
            .filter_map(|f| Some((*f, matches.get_one::<PathBuf>(f.flag)?.clone())))
            .collect();
        Ok(OutputArgs(report::Outputs::new(files)))
    }

    fn update_from_arg_matches(&mut self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl clap::Args for OutputArgs {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        report::FORMATS.iter().fold(cmd, |cmd, f| {
            cmd.arg(
                clap::Arg::new(f.flag)
                    .long(f.flag)
                    .value_name("FILE")
                    .value_parser(clap::value_parser!(PathBuf))
                    .help(f.help),
            )
        })
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}
