//! netcheck's whole flow: plan → run (collect → snapshot → judge) → report; and the
//! subcommands around it. This file reads the command line and dispatches; each
//! subcommand's body is in `commands/`, and the work itself in the
//! crates (crates/netcheck-*, re-exported by lib.rs).

mod cli;
mod commands;
mod plugin;

use std::process::ExitCode;
use std::time::Duration;

use netcheck::error::{Error, exit};
use netcheck::log;
use netcheck::report::{self, Report};

use crate::cli::{Cli, ColorWhen, Command, StdoutFormat, SuiteAction};
use crate::commands::check::Observations;
use crate::commands::{agent, causes, check, leftovers, live, package, print, probe, suites};

fn main() -> ExitCode {
    // Before anything opens a file: a shell's 1024 is too few for a host with many
    // networks (see net::limits).
    netcheck::net::limits::raise_nofile();
    let (args, plugin) = match plugin::invocation(std::env::args_os().collect()) {
        plugin::Invocation::Metadata => {
            return match print(&plugin::metadata(cli::VERSION)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(_) => ExitCode::from(exit::ERROR),
            };
        }
        plugin::Invocation::Complete {
            words,
            partial,
            descriptions,
        } => {
            let request = commands::complete::CompletionRequest {
                words,
                partial,
                descriptions,
            };
            // cobra's scripts read stdout only; a closed pipe is nothing to report.
            let _ = print(&commands::complete::answer(&request));
            return ExitCode::SUCCESS;
        }
        plugin::Invocation::Run { args, plugin } => (args, plugin),
    };
    if plugin {
        plugin::watch_docker_cli();
    }
    let cli = Cli::parse_args(args, plugin);
    // Before any runtime starts its threads: the agent changes its mount namespace.
    if let Some(Command::Agent { spec }) = &cli.command {
        return agent::run(spec);
    }
    log::init(cli.global.debug, &cli.global.log_level);
    // anstream already honours NO_COLOR, CLICOLOR_FORCE and pipes under `auto`.
    match cli.global.color {
        ColorWhen::Auto => {}
        ColorWhen::Always => anstream::ColorChoice::Always.write_global(),
        ColorWhen::Never => anstream::ColorChoice::Never.write_global(),
    }
    log::debug(format_args!("{cli:?}"));
    let format = match &cli.command {
        None => cli.run.format,
        Some(Command::Analyze { run, .. }) => run.format,
        _ => StdoutFormat::Human,
    };
    let runtime = commands::runtime();
    let result = match cli.command {
        None => runtime.block_on(check::run(&cli.run, Observations::Live(&cli.engine))),
        Some(Command::Analyze { snapshot, run }) => {
            runtime.block_on(check::run(&run, Observations::File(&snapshot)))
        }
        Some(Command::Collect { output, run }) => {
            runtime.block_on(live::collect(&run, &cli.engine, &output))
        }
        Some(Command::Serve(args)) => runtime.block_on(commands::serve::run(&args, &cli.engine)),
        Some(Command::Explain { id, suite }) => suites::explain(&id, &suite),
        Some(Command::Suite {
            action: SuiteAction::Check { file },
        }) => suites::check(&file),
        Some(Command::Cleanup { images }) => {
            runtime.block_on(leftovers::remove(&cli.engine, images))
        }
        Some(Command::Completions { shell }) => package::completions(shell),
        Some(Command::Manpages { dir }) => package::manpages(&dir),
        Some(Command::Probe(args)) => return probe::run(&runtime, args),
        Some(Command::ProbeImage) => runtime.block_on(probe::image(&cli.engine)),
        // Handled above, before the runtime's threads exist.
        Some(Command::Agent { .. }) => unreachable!("the agent returns before the runtime starts"),
    };
    exit_code(result, format)
}

/// The process's exit: the verdict's code, or the error's after its cause and fix.
fn exit_code(result: Result<u8, Error>, format: StdoutFormat) -> ExitCode {
    match result {
        Ok(code) => ExitCode::from(code),
        Err(Error::Write { source, .. }) if source.kind() == std::io::ErrorKind::BrokenPipe => {
            ExitCode::SUCCESS
        }
        Err(e) => {
            causes::print_error(&e, None);
            if format == StdoutFormat::Github {
                // The job's summary page then says why netcheck could not run.
                let report = Report::from_error(&e, chrono::Utc::now(), Duration::ZERO);
                let _ = print(&report::github::render(&report));
            }
            ExitCode::from(e.exit_code())
        }
    }
}
