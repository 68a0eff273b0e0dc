//! Typed errors, each with the exit code it leads to and a fix to print.

use std::path::PathBuf;

/// Exit codes, documented in the README and `--help`.
pub mod exit {
    /// Every check passed or was skipped.
    pub const OK: u8 = 0;
    /// At least one check failed: the host has a problem.
    pub const FAILED: u8 = 1;
    /// netcheck could not do its job: bad arguments or files, no daemon, a check errored.
    pub const ERROR: u8 = 2;
    /// Interrupted by SIGINT (128 + 2), after removing what the run created.
    pub const SIGINT: u8 = 130;
    /// Interrupted by SIGTERM (128 + 15), after removing what the run created.
    pub const SIGTERM: u8 = 143;
    /// The terminal went away (SIGHUP, 128 + 1), after removing what the run
    /// created.
    pub const SIGHUP: u8 = 129;
}

/// What to do when the probe container could not run or report.
pub const PROBE_FIX: &str = "netcheck probes from a container of its own image (netcheck-probe): \
     the engine's log says why it could not run it (journalctl -u docker); `netcheck cleanup` removes leftovers";

/// What to do when the host could not be read (netlink, sysctls, firewall rules).
pub const HOST_FIX: &str =
    "run netcheck as root on the engine's host; rerun with -v to see which read failed";

/// What to do when the engine's answers could not be read.
pub const DOCKER_FIX: &str = "the engine refused a request: check its log (journalctl -u docker), \
     and that this netcheck speaks its API (docker version)";

/// What to do about a check that errored for a reason no other fix covers.
pub const CHECK_ERROR_FIX: &str = "rerun with -v for the evidence; if it persists, report it with \
     `netcheck collect -o snap.json` attached";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no Docker daemon answers at {endpoint}: {detail}")]
    DaemonDown { endpoint: String, detail: String },
    #[error("the Docker socket {endpoint} does not exist")]
    SocketMissing {
        endpoint: String,
        /// What chose the endpoint (`--host`, `DOCKER_HOST`, `--context`, ...), as
        /// `Engine::source` says: the hint points there.
        chosen_by: &'static str,
        context: Option<String>,
    },
    #[error("permission denied on the Docker socket {endpoint}")]
    SocketPermission { endpoint: String },
    #[error("cannot use the engine endpoint {endpoint}: {detail}")]
    BadDockerHost { endpoint: String, detail: String },
    #[error("{0}")]
    Engine(#[from] EngineError),
    #[error("something answers at {endpoint}, but it is not a Docker engine: {answer}")]
    NotDocker { endpoint: String, answer: String },
    #[error(
        "the engine's answer to {what} exceeds {limit_mib} MiB: netcheck stopped reading it there"
    )]
    AnswerTooLarge { what: String, limit_mib: usize },
    #[error(
        "the Docker engine is too old for {what}: it has no such endpoint (404 page not found)"
    )]
    EngineTooOld { what: String },
    #[error("the Docker engine failed a request ({what}): {detail}")]
    Docker { what: String, detail: String },
    #[error("unknown check id `{id}`{}", .suggestion.as_ref().map(|s| format!(": did you mean {s}?")).unwrap_or_default())]
    UnknownCheck {
        id: String,
        /// The ids it may have meant, quoted: `link.mtu` or `a`, `b`.
        suggestion: Option<String>,
    },
    #[error("no check matches the filters {filters:?}")]
    NothingSelected {
        filters: Vec<String>,
        /// The check ids the filters may have meant, quoted (`plan::did_you_mean`).
        meant: Vec<String>,
    },
    #[error("network `{0}` does not exist on this engine")]
    UnknownNetwork(String),
    #[error("{path}: {detail}")]
    BadFile { path: PathBuf, detail: String },
    #[error("the suite has {} problem(s):\n{}", .0.len(), .0.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
    BadSuite(Vec<SuiteProblem>),
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("timed out after {secs} s while {phase}")]
    Timeout { secs: u64, phase: String },
    #[error("the probe container failed: {0}")]
    Probe(String),
    #[error("the host agent failed: {0}")]
    Agent(String),
    #[error(
        "the engine's host is {engine}, and this netcheck is built for {ours}: its agent cannot run there"
    )]
    AgentArch { engine: String, ours: String },
    #[error("a netcheck bug: {0}")]
    Internal(String),
    #[error("redaction failed: {0}")]
    Redaction(String),
    #[error("cannot listen on {address}: {detail}")]
    Listen {
        address: std::net::SocketAddr,
        detail: String,
    },
    /// A fleet was asked for a format that describes one engine only (`--prometheus`).
    #[error("--{flag} writes the metrics of one engine, and {engines} engines were given")]
    FleetMetrics { flag: &'static str, engines: usize },
    #[error("interrupted by {0}")]
    Interrupted(&'static str),
}

/// Where to look when the socket is not there: the flag, variable or context that named
/// it, or, for the default socket, whether Docker is installed at all.
fn socket_missing_hint(chosen_by: &str, context: Option<&str>) -> String {
    let install = "is Docker installed and running? sudo apt-get install docker.io && sudo systemctl start docker";
    match (chosen_by, context) {
        ("--host", _) => format!(
            "-H/--host names it: give the engine's socket (`docker context ls` shows where the docker CLI finds it); {install}"
        ),
        ("DOCKER_HOST", _) => format!(
            "DOCKER_HOST names it: point it at the engine's socket, or unset it for /var/run/docker.sock; {install}"
        ),
        (by, Some(name)) => format!(
            "the context `{name}` (chosen by {by}) names it: `docker context inspect {}` shows it; \
             pick another with --context NAME or `docker context use default`",
            shlex::try_quote(name).unwrap_or_default()
        ),
        _ => format!("{install}; or point DOCKER_HOST (or -H, --context) at the engine's socket"),
    }
}

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Interrupted("SIGTERM") => exit::SIGTERM,
            Error::Interrupted("SIGHUP") => exit::SIGHUP,
            Error::Interrupted(_) => exit::SIGINT,
            _ => exit::ERROR,
        }
    }

    /// What the user can do about it, printed under the error.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            Error::DaemonDown { .. } => {
                "start the engine: sudo systemctl start docker (or: sudo dockerd &), then run netcheck again".into()
            }
            Error::SocketMissing {
                chosen_by, context, ..
            } => socket_missing_hint(chosen_by, context.as_deref()),
            Error::SocketPermission { .. } => "run netcheck as root, or add yourself to the docker group: \
                 sudo usermod -aG docker $USER, then log in again"
                .into(),
            Error::BadDockerHost { .. } => {
                "an endpoint (-H, DOCKER_HOST, a context) is unix:///path/to/docker.sock, tcp://HOST:PORT or ssh://[USER@]HOST[:PORT]".into()
            }
            Error::Engine(e) => e.hint(),
            Error::Agent(_) => "the agent is netcheck's probe image run with the host's network and PID namespaces, \
                 privileged: the engine must allow that (not a rootless or userns-remapped engine); \
                 netcheck cleanup removes leftovers; --no-agent runs without it"
                .into(),
            Error::AgentArch { engine, .. } => format!(
                "run a netcheck built for {engine} (cargo build --target {engine}-unknown-linux-gnu), \
                 or run netcheck on that host; without --agent the host-side checks are skipped"
            ),
            Error::Internal(_) => "report it, with the command line and `netcheck collect -o snap.json` if that works".into(),
            Error::Redaction(_) => "this is a netcheck bug: report it with the unredacted snapshot kept private; \
                 rerun without --redact meanwhile"
                .into(),
            Error::Docker { .. } => DOCKER_FIX.into(),
            Error::NotDocker { .. } => "point DOCKER_HOST (or --context) at the Docker engine's socket: \
                 `docker context ls` shows where the docker CLI finds it; unset DOCKER_HOST for /var/run/docker.sock"
                .into(),
            Error::AnswerTooLarge { .. } => "no engine answers that much: check what listens at DOCKER_HOST \
                 (a proxy, another service) with `docker version`; if it is the engine, report it with the output of \
                 `docker network ls | wc -l`"
                .into(),
            Error::EngineTooOld { .. } => "upgrade the engine: netcheck speaks the Docker API of 20.10 (1.41) and newer; \
                 docker version shows the engine's API version"
                .into(),
            Error::BadFile { .. } => "fix the file at the position given, or pass another one".into(),
            Error::Write { .. } => "check that the directory exists and is writable, and that the disk has room".into(),
            Error::UnknownCheck { .. } => "netcheck --list prints the check ids".into(),
            Error::NothingSelected { meant, .. } => match meant.is_empty() {
                true => "netcheck --list prints the check ids".into(),
                false => format!("did you mean {}? netcheck --list prints the check ids", meant.join(", ")),
            },
            Error::BadSuite(_) => "fix them and check again with: netcheck suite check FILE".into(),
            Error::UnknownNetwork(_) => "docker network ls lists the networks; pass one with --network NAME".into(),
            Error::Timeout { .. } => "raise --timeout, or look at what hangs: the engine (docker info) or a probe".into(),
Error::Listen { .. } => "another process holds the address, or it is not this machine's: \
                 pick another with --listen ADDRESS:PORT"
                .into(),
            Error::Probe(_) => PROBE_FIX.into(),
            _ => return None,
        })
    }
}

/// One problem in a suite file, located.
#[derive(Debug, Clone, PartialEq)]
pub struct SuiteProblem {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl std::fmt::Display for SuiteProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 {
            // A file that cannot be read at all has no position to give.
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file, self.line, self.column, self.message
            )
        }
    }
}

/// An engine the flags, the environment or a context name cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("conflicting options: either --host or --context, not both")]
    HostAndContext,
    #[error("{0} engines were given (-H/--context); a run checks one")]
    SeveralEngines(usize),
    #[error("context `{name}` does not exist (looked in {dir})")]
    NoSuchContext { name: String, dir: PathBuf },
    #[error("context `{name}`: {detail}")]
    BadContext { name: String, detail: String },
    #[error("cannot use the engine endpoint `{endpoint}`: {detail}")]
    BadEndpoint { endpoint: String, detail: String },
    #[error(
        "TLS without verifying the engine's certificate ({0}) is not supported: netcheck always verifies it"
    )]
    TlsWithoutVerify(&'static str),
    #[error("TLS file {path} cannot be used: {detail}")]
    TlsFile { path: PathBuf, detail: String },
}

impl EngineError {
    pub fn hint(&self) -> String {
        match self {
            EngineError::HostAndContext => "drop one of them: -H picks an endpoint, --context a stored one".into(),
            EngineError::SeveralEngines(_) => "give one -H or --context per run".into(),
            EngineError::NoSuchContext { .. } => "docker context ls lists the contexts; docker context create NAME --docker host=... makes one".into(),
            EngineError::BadContext { .. } => {
                "fix or recreate it: docker context rm NAME && docker context create NAME --docker host=...".into()
            }
            EngineError::BadEndpoint { .. } => {
                "an endpoint is unix:///path/to/docker.sock, tcp://HOST:PORT or ssh://[USER@]HOST[:PORT]".into()
            }
            EngineError::TlsWithoutVerify(_) => {
                "give the engine's CA: --tlsverify --tlscacert ca.pem (or DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH), \
                 or store it in the context: docker context update NAME --docker ca=ca.pem,skip-tls-verify=false"
                    .into()
            }
            EngineError::TlsFile { .. } => {
                "point --tlscacert/--tlscert/--tlskey (or DOCKER_CERT_PATH) at the engine's certificates".into()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_socket_points_at_what_chose_it() {
        let hint = |chosen_by, context: Option<&str>| {
            Error::SocketMissing {
                endpoint: "unix:///x.sock".into(),
                chosen_by,
                context: context.map(String::from),
            }
            .hint()
            .unwrap()
        };
        assert!(hint("--host", None).starts_with("-H/--host names it"));
        assert!(hint("DOCKER_HOST", None).starts_with("DOCKER_HOST names it"));
        let by_context = hint("DOCKER_CONTEXT", Some("prod box"));
        assert!(by_context.contains("the context `prod box` (chosen by DOCKER_CONTEXT)"));
        assert!(
            by_context.contains("docker context inspect 'prod box'"),
            "{by_context}"
        );
        assert!(!by_context.contains("DOCKER_HOST"));
        assert!(hint("default", None).contains("is Docker installed"));
    }
}
