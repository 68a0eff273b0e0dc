//! What the package ships beside the binary, generated from the same clap definition as
//! --help so that it never drifts from it: completions and man pages.

use clap::CommandFactory;
use netcheck::error::{Error, exit};

use super::print;
use crate::cli::{self, Cli};

/// `netcheck completions SHELL`: the script the package installs, for any shell.
pub fn completions(shell: clap_complete::Shell) -> Result<u8, Error> {
    let mut script = Vec::new();
    let mut command = visible(&Cli::command()).version(cli::VERSION);
    clap_complete::generate(shell, &mut command, "netcheck", &mut script);
    print(&String::from_utf8_lossy(&script))?;
    Ok(exit::OK)
}

/// The command without its hidden subcommands and arguments, which clap_complete's
/// generators would otherwise offer (`netcheck probe-image`, `--probe-arg`).
fn visible(command: &clap::Command) -> clap::Command {
    let mut out = clap::Command::new(command.get_name().to_string());
    if let Some(about) = command.get_about() {
        out = out.about(about.clone());
    }
    for arg in command.get_arguments().filter(|a| !a.is_hide_set()) {
        out = out.arg(arg.clone());
    }
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        out = out.subcommand(visible(sub));
    }
    out
}

/// `netcheck manpages DIR`: netcheck.1 and a page per visible subcommand.
/// scripts/package runs it.
pub fn manpages(dir: &std::path::Path) -> Result<u8, Error> {
    let write_error = |source| Error::Write {
        path: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(write_error)?;
    clap_mangen::generate_to(Cli::command(), dir).map_err(write_error)?;
    Ok(exit::OK)
}
