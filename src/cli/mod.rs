//! The command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use netcheck::report;

mod outputs;

pub use outputs::OutputArgs;

const EXIT_CODES: &str = "\
Exit codes:
  0    every check passed, warned or was skipped
  1    at least one check failed: the host has a problem (with --strict, or a
       suite's gate = \"warn\": a warning too)
  2    netcheck could not do its job: bad arguments or files, no daemon,
       a socket it may not use, a check that errored
  130  interrupted by SIGINT (143: SIGTERM, 129: SIGHUP), after removing what it
       created";

/// Diagnoses Docker networking on this host
///
/// Checks bridge subnets, veths, default routes, masquerading, host.docker.internal,
/// forwarding, br_netfilter, the firewall, MTU, published ports, DNS, isolation and
/// the engine's warnings, from a probe container of its own.
#[derive(Debug, Parser)]
// Not `args_conflicts_with_subcommands`: that would make `netcheck -D explain x` (and
// `docker -D netcheck explain x`) read `explain` as a filter. `Cli::parse_args` rejects
// run arguments given before a subcommand instead.
#[command(version = VERSION, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
}

impl Cli {
    /// Parses argv (as the plugin layer left it), exiting with clap's message and code 2
    /// on bad arguments. As a plugin, usage lines say `docker netcheck`.
    pub fn parse_args(args: Vec<std::ffi::OsString>, plugin: bool) -> Cli {
        use clap::FromArgMatches;
        let mut command = definition();
        if plugin {
            command = command.bin_name("docker netcheck");
        }
        let matches = command.clone().get_matches_from(args);
        if let Some((name, _)) = matches.subcommand() {
            let run_args = RunArgs::augment_args(clap::Command::new("run"));
            let given = run_args.get_arguments().find(|a| {
                matches.value_source(a.get_id().as_str())
                    == Some(clap::parser::ValueSource::CommandLine)
            });
            if let Some(arg) = given {
                let shown = match arg.get_long() {
                    Some(long) => format!("--{long}"),
                    None => format!("{}", arg.get_id()),
                };
                command
                    .error(
                        clap::error::ErrorKind::ArgumentConflict,
                        format!(
                            "`{shown}` is an argument of a run, not of `{name}`: \
                             give it after the subcommand, or drop the subcommand"
                        ),
                    )
                    .exit();
            }
        }
        if let Some(message) = serve_misfit(&matches) {
            command
                .error(clap::error::ErrorKind::ArgumentConflict, message)
                .exit();
        }
        Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
    }
}

/// Why `serve`'s arguments are wrong, if one of them means nothing to serve (`serve
/// --list` would otherwise start serving as if the flag were not there).
fn serve_misfit(matches: &clap::ArgMatches) -> Option<String> {
    let (_, serve) = matches.subcommand().filter(|(name, _)| *name == "serve")?;
    let given = NOT_FOR_SERVE
        .iter()
        .find(|id| serve.value_source(id) == Some(clap::parser::ValueSource::CommandLine))?;
    let flag = match *given {
        "quiet" => "-q/--quiet",
        "verbose" => "-v/--verbose",
        other => other,
    };
    let flag = if flag.starts_with('-') {
        flag.to_string()
    } else {
        format!("--{flag}")
    };
    Some(format!(
        "`{flag}` means nothing to serve: it prints no report and lists nothing; \
         read /report.json or /metrics, or run netcheck without `serve`"
    ))
}

/// The version, with the commit it was built from (build.rs).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("NETCHECK_GIT_COMMIT"),
    ")"
);

/// Flags that mean the same before and after a subcommand. `-D` and `-l` are docker's
/// global flags too: `docker -D netcheck` hands them to the plugin, which honours them
/// rather than rejecting them.
#[derive(Debug, clap::Args)]
pub struct GlobalArgs {
    /// Print what netcheck does on stderr (the plan, each phase, an error's causes); the
    /// same as --log-level debug.
    #[arg(short = 'D', long, global = true)]
    pub debug: bool,
    /// How much netcheck says on stderr besides the report: debug, info, warn, error or
    /// fatal (warnings are hidden from `error` on).
    #[arg(
        short = 'l',
        long,
        global = true,
        value_name = "LEVEL",
        default_value = "info",
        value_parser = ["debug", "info", "warn", "error", "fatal"]
    )]
    pub log_level: String,
    /// Colour the terminal report: auto (on a terminal, unless NO_COLOR is set), always
    /// or never.
    #[arg(long, global = true, value_name = "WHEN", default_value = "auto")]
    pub color: ColorWhen,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ColorWhen {
    Auto,
    Always,
    Never,
}

/// What the report on stdout looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StdoutFormat {
    /// One line per check, evidence and fix under failures, a summary line.
    Human,
    /// The human report, then one GitHub Actions `::error` annotation per failure, with
    /// its fix (`::warning` for a failure that does not gate).
    Github,
}

/// Which engine, spelt as the docker CLI's global flags: as a CLI plugin netcheck is
/// handed them (`docker --context prod netcheck`), and they mean the same here.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Engine (as for the docker CLI)")]
pub struct EngineArgs {
    /// Daemon socket to connect to: unix:///PATH, tcp://HOST:PORT or
    /// ssh://[USER@]HOST[:PORT] (default: DOCKER_HOST, else the context's).
    #[arg(short = 'H', long = "host", value_name = "ENDPOINT", global = true)]
    pub hosts: Vec<String>,
    /// Name of the docker context to use (default: DOCKER_CONTEXT, else config.json's
    /// currentContext).
    #[arg(short = 'c', long = "context", value_name = "NAME", global = true)]
    pub contexts: Vec<String>,
    /// Location of the docker CLI's configuration (default: DOCKER_CONFIG, ~/.docker).
    #[arg(long, value_name = "DIR", global = true)]
    pub config: Option<PathBuf>,
    /// Use TLS; implied by --tlsverify (netcheck always verifies the engine).
    #[arg(long, global = true)]
    pub tls: bool,
    /// Use TLS and verify the engine (default: DOCKER_TLS_VERIFY non-empty).
    #[arg(long, global = true)]
    pub tlsverify: bool,
    /// Trust certs signed only by this CA (default: DOCKER_CERT_PATH/ca.pem).
    #[arg(long, value_name = "FILE", global = true)]
    pub tlscacert: Option<PathBuf>,
    /// Path to the client's TLS certificate (default: DOCKER_CERT_PATH/cert.pem).
    #[arg(long, value_name = "FILE", global = true)]
    pub tlscert: Option<PathBuf>,
    /// Path to the client's TLS key (default: DOCKER_CERT_PATH/key.pem).
    #[arg(long, value_name = "FILE", global = true)]
    pub tlskey: Option<PathBuf>,
}

impl EngineArgs {
    pub fn flags(&self) -> netcheck::engine::Flags {
        netcheck::engine::Flags {
            hosts: self.hosts.clone(),
            contexts: self.contexts.clone(),
            config: self.config.clone(),
            tls: self.tls,
            tlsverify: self.tlsverify,
            tlscacert: self.tlscacert.clone(),
            tlscert: self.tlscert.clone(),
            tlskey: self.tlskey.clone(),
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Run only checks whose id contains one of these (with --exact: equals one).
    #[arg(value_name = "FILTER")]
    pub filters: Vec<String>,
    /// Skip checks whose id contains PATTERN (with --exact: equals it).
    #[arg(long, value_name = "PATTERN")]
    pub skip: Vec<String>,
    /// Match filters and --skip against whole ids; an unknown id is an error.
    #[arg(long)]
    pub exact: bool,
    /// List the selected checks' ids and titles, and run nothing.
    #[arg(long)]
    pub list: bool,
    /// The bridge networks to check (default: `bridge` and every bridge network with
    /// containers attached); the first one carries the probe's default route.
    #[arg(long = "network", value_name = "NAME")]
    pub networks: Vec<String>,
    #[command(flatten)]
    pub suite: SuiteArgs,
    /// One `--FLAG FILE` per report format (`--json`, `--junit`, ...).
    #[command(flatten)]
    pub outputs: OutputArgs,
    /// Replace hostnames, MACs, container names and ids, and addresses outside Docker's
    /// subnets with consistent pseudonyms, in every report and in `collect`'s snapshot.
    #[arg(long)]
    pub redact: bool,
    /// Bound the whole run (1 to 86400 seconds).
    #[arg(long, value_name = "SECS", default_value_t = 120,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub timeout: u64,
    /// Deadline of each lookup and connection the probe makes (1 to 600000 ms).
    #[arg(long, value_name = "MS", default_value_t = 2000,
          value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub probe_timeout_ms: u64,
    /// The most checked networks the probe container joins every one of. Past that, it
    /// joins the first, and each other network with a container on it alone is tested
    /// from that container's network namespace, entered from the host (root, local
    /// engine): each join costs the engine about 0.2 s, and as much again to leave.
    #[arg(long, value_name = "N", default_value_t = 4,
          value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub probe_joins: u64,
    /// For tests: an extra argument for the probe (e.g. --stall-ms 60000 makes it hang).
    #[arg(long, hide = true, value_name = "ARG", allow_hyphen_values = true)]
    pub probe_arg: Vec<String>,
    /// Observe the engine's host through netcheck's agent: its probe image, run on that
    /// host with the host's network and PID namespaces, privileged, for the length of
    /// the run. Needed for every check to run against a tcp:// or ssh:// engine;
    /// automatic where the engine is your own in another namespace (Docker Desktop,
    /// rootless, netcheck in a container).
    #[arg(long, conflicts_with = "no_agent")]
    pub agent: bool,
    /// Never start the agent: host-side checks of an engine whose network is not this
    /// machine's are skipped, with the reason.
    #[arg(long)]
    pub no_agent: bool,
    /// Show the evidence of passing checks too.
    #[arg(short, long, conflicts_with = "quiet")]
    pub verbose: bool,
    /// How many engines of a fleet (-H or --context given several times) are checked
    /// at once.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=256))]
    pub jobs: u64,
    /// Print only the failures, errors and warnings, and the summary line; no progress.
    #[arg(short, long)]
    pub quiet: bool,
    /// The report on stdout: human, or github (annotations for GitHub Actions).
    #[arg(long, value_name = "FORMAT", default_value = "human")]
    pub format: StdoutFormat,
    /// Warnings fail the run (exit 1), as failures do: for a gate that wants a host
    /// with nothing fragile or risky on it.
    #[arg(long)]
    pub strict: bool,
}

/// Which suite runs.
#[derive(Debug, Clone, clap::Args)]
pub struct SuiteArgs {
    /// A suite file (TOML) to run instead of the default suite.
    #[arg(long, value_name = "FILE", conflicts_with = "profile")]
    pub suite: Option<PathBuf>,
    /// A shipped suite: default, onboarding (every check, gating only what a laptop can
    /// fix) or ci (every check, warnings gate too).
    #[arg(long, value_name = "NAME", default_value = "default")]
    pub profile: String,
}

#[derive(Debug, Subcommand)]
pub enum SuiteAction {
    /// Validate a suite file (and its includes) without running it: every problem is
    /// listed with its file, line and column. Exits 2 on any problem.
    Check {
        /// The suite file.
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the documentation of a check, a generic kind, or a suite's check.
    Explain {
        /// A check id, as --list prints it, or a kind (tcp, http, dns, route).
        id: String,
        #[command(flatten)]
        suite: SuiteArgs,
    },
    /// Work with suite files.
    Suite {
        #[command(subcommand)]
        action: SuiteAction,
    },
    /// Collect the observations into a snapshot file, and judge nothing.
    Collect {
        /// Where to write the snapshot (JSON).
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Judge a snapshot file offline: no daemon, no root, no network.
    Analyze {
        /// A snapshot written by `netcheck collect`.
        snapshot: PathBuf,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Remove what crashed netcheck runs left behind: probe containers, links and nftables
    /// tables carrying netcheck's label or prefix, never anything else. A running
    /// netcheck's probe is kept.
    Cleanup {
        /// Also remove the cached probe images.
        #[arg(long)]
        images: bool,
    },
    /// Print the shell completion script for SHELL (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Write netcheck's man pages (netcheck.1 and one per subcommand) into DIR.
    #[command(hide = true)]
    Manpages {
        /// The directory to write them to (created if missing).
        dir: PathBuf,
    },
    /// Run the suite every --interval and serve the latest result over HTTP:
    /// /healthz (200 when the last run passed, 503 with the reasons when not),
    /// /metrics (Prometheus), /report.json and /report.html. Stops on SIGTERM or
    /// SIGINT, after removing what the run in progress made, with exit code 0.
    Serve(ServeArgs),
    /// Inside the agent container on the engine's host: collect there and print the
    /// snapshot as one JSON line.
    #[command(hide = true)]
    Agent {
        /// What to collect (JSON).
        #[arg(long)]
        spec: String,
    },
    /// Inside the probe container: observe and print a JSON report.
    #[command(hide = true)]
    Probe(netcheck::protocol::ProbeArgs),
    /// Build the probe image if it is missing, and print its reference.
    #[command(hide = true)]
    ProbeImage,
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Where to serve. An address other than loopback exposes the reports (which name
    /// this host's networks and containers) to other machines: give it only on purpose.
    #[arg(long, value_name = "ADDRESS:PORT", default_value = "127.0.0.1:9955")]
    pub listen: std::net::SocketAddr,
    /// Time from the end of one run to the start of the next: seconds, or with units
    /// (30s, 5m, 1h), from 1s to 24h; give or take 10% so that a fleet does not run in
    /// step.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = interval)]
    pub interval: std::time::Duration,
    #[command(flatten)]
    pub run: RunArgs,
}

/// The shortest and longest serve interval: a run a second is already more than any
/// scrape needs, and a day is as rare as a health check can be and still be one.
const INTERVAL_RANGE: std::ops::RangeInclusive<std::time::Duration> =
    std::time::Duration::from_secs(1)..=std::time::Duration::from_secs(86_400);

/// Bare seconds (`60`, as before units were taken) or a duration with units (`30s`,
/// `5m`, `1h`, `1h 30m`), within [`INTERVAL_RANGE`].
fn interval(text: &str) -> Result<std::time::Duration, String> {
    let parsed = match text.trim().parse::<u64>() {
        Ok(secs) => Ok(std::time::Duration::from_secs(secs)),
        Err(_) => humantime::parse_duration(text.trim()),
    };
    let interval = parsed.map_err(|_| {
        format!(
            "`{text}` is not an interval: give seconds (60) or a duration with units (30s, 5m, 1h)"
        )
    })?;
    if !INTERVAL_RANGE.contains(&interval) {
        return Err(format!("`{text}`: the interval is from 1s to 1 day (24h)"));
    }
    Ok(interval)
}

/// Arguments of a run that serve takes through the same definition but that mean
/// nothing there: serve lists nothing, prints no report on stdout, and checks one engine.
pub const NOT_FOR_SERVE: &[&str] = &["list", "format", "quiet", "verbose", "jobs"];

/// The command-line definition, as parsing, --help, the man pages and the completions
/// all see it: [`Cli`]'s, with serve's meaningless run arguments hidden.
pub fn definition() -> clap::Command {
    use clap::CommandFactory;
    Cli::command().mut_subcommand("serve", |serve| {
        NOT_FOR_SERVE
            .iter()
            .fold(serve, |serve, id| serve.mut_arg(*id, |a| a.hide(true)))
    })
}

impl RunArgs {
    /// How much of the report the terminal shows.
    pub fn detail(&self) -> report::human::Detail {
        match (self.quiet, self.verbose) {
            (true, _) => report::human::Detail::Quiet,
            (_, true) => report::human::Detail::Verbose,
            _ => report::human::Detail::Normal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn intervals_take_units_and_stay_within_a_second_and_a_day() {
        assert_eq!(interval("60"), Ok(Duration::from_secs(60)));
        assert_eq!(interval("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(interval("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(interval("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(interval("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(interval("24h"), Ok(Duration::from_secs(86_400)));
        for bad in [
            "0",
            "0.5",
            "500ms",
            "25h",
            "1e20",
            "-1",
            "",
            "s",
            "99999999999999999999999s",
            "NaN",
            "inf",
        ] {
            let e = interval(bad).unwrap_err();
            assert!(e.contains("interval"), "{bad}: {e}");
        }
    }

    #[test]
    fn serve_rejects_what_means_nothing_to_it() {
        for flag in ["--list", "--format=github", "-q", "-v", "--jobs=2"] {
            let e = definition()
                .try_get_matches_from(["netcheck", "serve", flag])
                .map(|m| serve_misfit(&m))
                .unwrap();
            assert!(e.is_some_and(|e| e.contains("serve")), "{flag}");
        }
        let m = definition()
            .try_get_matches_from(["netcheck", "serve", "--interval", "5m", "bridge"])
            .unwrap();
        assert_eq!(serve_misfit(&m), None);
    }
}
