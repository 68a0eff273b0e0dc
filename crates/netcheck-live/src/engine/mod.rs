//! Which engine a run talks to, and how to reach it: the docker CLI's own rules.
//!
//! Precedence, as in docker/cli's `cli/command/cli.go`:
//! 1. `--context NAME`;
//! 2. `-H/--host` (means the "default" context, with that endpoint);
//! 3. `DOCKER_HOST` (the "default" context too);
//! 4. `DOCKER_CONTEXT`;
//! 5. `currentContext` in `$DOCKER_CONFIG/config.json`;
//! 6. the "default" context: the local socket.
//!
//! The "default" context's endpoint comes from `-H` and the `--tls*` flags, else from
//! `DOCKER_HOST` with `DOCKER_TLS_VERIFY`/`DOCKER_CERT_PATH`. A named context's comes
//! from its stored metadata and TLS files (see [`context`]).
//!
//! Resolution is pure (flags + environment + files in, [`Engine`] out), so that its
//! precedence is unit-tested; [`connect`] turns the result into a bollard client.

pub mod bounded;
mod connect;
pub mod docker_context;
pub mod ssh;
pub mod tls;

/// Connecting is the engine's: the first request says whether a Docker engine answers.
pub use connect::connect;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bollard::Docker;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The engine flags, spelt as the docker CLI's global flags so that netcheck can run as
/// a CLI plugin, which receives them (`docker --context prod netcheck`).
#[derive(Debug, Clone, Default)]
pub struct Flags {
    /// `-H/--host`: repeatable for fleets; a single run takes one.
    pub hosts: Vec<String>,
    /// `-c/--context`.
    pub contexts: Vec<String>,
    /// `--config DIR`: the docker CLI's configuration directory.
    pub config: Option<PathBuf>,
    /// `--tls`: encrypt, without verifying the server (netcheck refuses it: see
    /// [`EngineError::TlsWithoutVerify`]).
    pub tls: bool,
    /// `--tlsverify`.
    pub tlsverify: bool,
    pub tlscacert: Option<PathBuf>,
    pub tlscert: Option<PathBuf>,
    pub tlskey: Option<PathBuf>,
}

/// How netcheck talks to the engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Transport {
    /// A unix socket on this machine.
    Unix { path: PathBuf },
    /// Plain TCP: no encryption, no authentication.
    Tcp { addr: String },
    /// TCP with TLS, verifying the server against `ca`, with a client certificate.
    Tls {
        addr: String,
        ca: PathBuf,
        cert: PathBuf,
        key: PathBuf,
    },
    /// `docker system dial-stdio` on the remote host, through the system `ssh`.
    Ssh {
        user: Option<String>,
        host: String,
        port: Option<u16>,
    },
}

impl Transport {
    /// A short word for reports: unix, tcp, tls or ssh.
    pub fn kind(&self) -> &'static str {
        match self {
            Transport::Unix { .. } => "unix",
            Transport::Tcp { .. } => "tcp",
            Transport::Tls { .. } => "tls",
            Transport::Ssh { .. } => "ssh",
        }
    }

    /// Whether the engine is on this machine by its address (a unix socket). It may
    /// still live in another network namespace: collection checks that separately.
    pub fn is_local(&self) -> bool {
        matches!(self, Transport::Unix { .. })
    }
}

/// The engine a run judges, as resolved: what reports print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Engine {
    /// The context's name: "default" unless a named context was chosen.
    pub name: String,
    /// The endpoint as the user (or the context) gave it, e.g. `tcp://10.0.0.5:2376`.
    pub endpoint: String,
    /// The named context it came from, if any.
    pub context: Option<String>,
    /// What chose it: `--context`, `--host`, `DOCKER_HOST`, `DOCKER_CONTEXT`,
    /// `config.json`, or `default`.
    pub source: &'static str,
    pub transport: Transport,
}

impl Engine {
    /// What reports call it: the context's name where one was given, else the endpoint.
    pub fn label(&self) -> netcheck_model::record::EngineName {
        netcheck_model::record::EngineName {
            name: self.context.clone().unwrap_or(self.endpoint.clone()),
            endpoint: self.endpoint.clone(),
        }
    }

    /// The engine's unix socket, when it is reached through one.
    pub fn socket(&self) -> Option<std::path::PathBuf> {
        match &self.transport {
            Transport::Unix { path } => Some(path.clone()),
            _ => None,
        }
    }

    /// What reports print about it; `agent` says whether the host agent observed it.
    pub fn reference(&self, agent: bool) -> netcheck_model::snapshot::EngineRef {
        netcheck_model::snapshot::EngineRef {
            name: self.name.clone(),
            endpoint: self.endpoint.clone(),
            context: self.context.clone(),
            transport: self.transport.kind().to_string(),
            agent,
        }
    }
}

pub use netcheck_model::error::EngineError;
pub use netcheck_model::protocol::DEFAULT_SOCKET;

/// Reads the environment; a test passes its own.
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl<F: Fn(&str) -> Option<String>> Env for F {
    fn var(&self, name: &str) -> Option<String> {
        self(name)
    }
}

/// A variable counts only when non-empty, as for the docker CLI.
fn set(env: &dyn Env, name: &str) -> Option<String> {
    env.var(name).filter(|v| !v.is_empty())
}

/// The docker CLI's configuration directory: `--config`, `DOCKER_CONFIG`, `~/.docker`.
pub fn config_dir(flags: &Flags, env: &dyn Env) -> PathBuf {
    if let Some(dir) = &flags.config {
        return dir.clone();
    }
    if let Some(dir) = set(env, "DOCKER_CONFIG") {
        return dir.into();
    }
    let home = set(env, "HOME").unwrap_or_else(|| "/root".into());
    Path::new(&home).join(".docker")
}

/// Resolves the one engine a run talks to.
pub fn resolve(flags: &Flags, env: &dyn Env) -> Result<Engine, EngineError> {
    let count = flags.hosts.len() + flags.contexts.len();
    if !flags.hosts.is_empty() && !flags.contexts.is_empty() {
        return Err(EngineError::HostAndContext);
    }
    if count > 1 {
        return Err(EngineError::SeveralEngines(count));
    }
    resolve_one(flags, env)
}

/// Every engine given with -H or --context, each with the flags that name it alone and
/// as the user gave it: a fleet's members, resolved one by one (so that one that cannot
/// be is an errored member, not a failed fleet).
pub fn each_given(flags: &Flags) -> Result<Vec<(String, Flags)>, EngineError> {
    if !flags.hosts.is_empty() && !flags.contexts.is_empty() {
        // As the docker CLI: either endpoints or contexts.
        return Err(EngineError::HostAndContext);
    }
    let one = |hosts: Vec<String>, contexts: Vec<String>| Flags {
        hosts,
        contexts,
        ..flags.clone()
    };
    Ok((flags.hosts.iter())
        .map(|h| (h.clone(), one(vec![h.clone()], vec![])))
        .chain((flags.contexts.iter()).map(|c| (c.clone(), one(vec![], vec![c.clone()]))))
        .collect())
}

fn resolve_one(flags: &Flags, env: &dyn Env) -> Result<Engine, EngineError> {
    let dir = config_dir(flags, env);
    let (name, source) = if let Some(c) = flags.contexts.first() {
        (c.clone(), "--context")
    } else if !flags.hosts.is_empty() {
        ("default".to_string(), "--host")
    } else if set(env, "DOCKER_HOST").is_some() {
        ("default".to_string(), "DOCKER_HOST")
    } else if let Some(c) = set(env, "DOCKER_CONTEXT") {
        (c, "DOCKER_CONTEXT")
    } else if let Some(c) = docker_context::current(&dir) {
        (c, "config.json")
    } else {
        ("default".to_string(), "default")
    };
    if name == "default" {
        return default_engine(flags, env, &dir, source);
    }
    let stored = docker_context::load(&dir, &name)?;
    let tls = match (&stored.tls, stored.skip_tls_verify) {
        (_, true) => {
            return Err(EngineError::TlsWithoutVerify(
                "the context's skip-tls-verify",
            ));
        }
        (Some(files), false) => Some(files.clone()),
        (None, false) => None,
    };
    let transport = transport(&stored.host, tls)?;
    Ok(Engine {
        endpoint: stored.host,
        context: Some(name.clone()),
        name,
        source,
        transport,
    })
}

/// The "default" context: -H and --tls*, else DOCKER_HOST and the TLS variables, else
/// the local socket.
fn default_engine(
    flags: &Flags,
    env: &dyn Env,
    dir: &Path,
    source: &'static str,
) -> Result<Engine, EngineError> {
    let endpoint = flags
        .hosts
        .first()
        .cloned()
        .or_else(|| set(env, "DOCKER_HOST"))
        .unwrap_or_else(|| format!("unix://{DEFAULT_SOCKET}"));
    // As the docker CLI: --tlsverify defaults to DOCKER_TLS_VERIFY being non-empty, and
    // either --tls or --tlsverify turns TLS on.
    let verify = flags.tlsverify || set(env, "DOCKER_TLS_VERIFY").is_some();
    let tls_on = flags.tls || verify;
    if tls_on && !verify {
        return Err(EngineError::TlsWithoutVerify("--tls without --tlsverify"));
    }
    let tls = tls_on.then(|| {
        let certs = set(env, "DOCKER_CERT_PATH")
            .map(PathBuf::from)
            .unwrap_or_else(|| dir.to_path_buf());
        docker_context::TlsFiles {
            ca: flags
                .tlscacert
                .clone()
                .unwrap_or_else(|| certs.join("ca.pem")),
            cert: flags
                .tlscert
                .clone()
                .unwrap_or_else(|| certs.join("cert.pem")),
            key: flags
                .tlskey
                .clone()
                .unwrap_or_else(|| certs.join("key.pem")),
        }
    });
    let transport = transport(&endpoint, tls)?;
    Ok(Engine {
        name: "default".into(),
        endpoint,
        context: None,
        source,
        transport,
    })
}

/// Parses an endpoint as the docker CLI's `ParseHost` does: unix://, tcp:// (2375, or
/// 2376 with TLS, when no port is given), ssh://; a bare HOST:PORT is TCP.
fn transport(
    endpoint: &str,
    tls: Option<docker_context::TlsFiles>,
) -> Result<Transport, EngineError> {
    let bad = |detail: &str| EngineError::BadEndpoint {
        endpoint: endpoint.to_string(),
        detail: detail.to_string(),
    };
    let (scheme, rest) = endpoint.split_once("://").unwrap_or(("tcp", endpoint));
    match scheme {
        "unix" => {
            if tls.is_some() {
                return Err(bad("TLS is for tcp:// endpoints, not a unix socket"));
            }
            if rest.is_empty() {
                return Err(bad("no socket path"));
            }
            Ok(Transport::Unix { path: rest.into() })
        }
        "tcp" | "http" | "https" => {
            let hostport = rest.trim_end_matches('/');
            let (host, port) = split_host_port(hostport).map_err(|d| bad(&d))?;
            let tls = match (tls, scheme) {
                (None, "https") => {
                    return Err(EngineError::TlsWithoutVerify(
                        "https:// without --tlsverify",
                    ));
                }
                (tls, _) => tls,
            };
            let port = port.unwrap_or(if tls.is_some() { 2376 } else { 2375 });
            let addr = format!("{host}:{port}");
            Ok(match tls {
                None => Transport::Tcp { addr },
                Some(files) => Transport::Tls {
                    addr,
                    ca: files.ca,
                    cert: files.cert,
                    key: files.key,
                },
            })
        }
        "ssh" => {
            if tls.is_some() {
                return Err(bad(
                    "TLS settings do not apply to ssh://: ssh encrypts and authenticates",
                ));
            }
            ssh::parse(rest).map_err(|detail| bad(&detail))
        }
        "npipe" => Err(bad("named pipes exist on Windows only")),
        "fd" => Err(bad(
            "fd:// is a daemon's listener, not an address a client can use",
        )),
        _ => Err(bad(&format!("unknown scheme `{scheme}://`"))),
    }
}

/// Splits `HOST[:PORT]` or `[V6][:PORT]`; the host keeps its brackets.
pub(crate) fn split_host_port(s: &str) -> Result<(String, Option<u16>), String> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (v6, after) = rest
            .split_once(']')
            .ok_or("an IPv6 address needs its closing `]`")?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or("expected `:PORT` after `]`")?),
        };
        (format!("[{v6}]"), port)
    } else {
        match s.split_once(':') {
            Some((h, p)) if !p.contains(':') => (h.to_string(), Some(p)),
            Some(_) => return Err("an IPv6 address goes in brackets: [ADDR]:PORT".into()),
            None => (s.to_string(), None),
        }
    };
    if host.is_empty() || host.contains('/') {
        return Err("expected HOST or HOST:PORT".into());
    }
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => Some(n),
            _ => return Err(format!("the port `{p}` is not a number from 1 to 65535")),
        },
    };
    Ok((host, port))
}

/// A bollard client for the engine. Nothing is sent yet: the first request tells whether
/// it answers.
pub fn client(engine: &Engine) -> Result<Docker, bollard::errors::Error> {
    // The run's own deadline (--timeout) bounds the whole; this bounds one request.
    const TIMEOUT_SECS: u64 = 120;
    match &engine.transport {
        // Every transport reads through the answer bound (bounded.rs).
        Transport::Unix { path } => {
            bounded::client(bounded::Direct::Unix(Arc::new(path.clone())), TIMEOUT_SECS)
        }
        Transport::Tcp { addr } => {
            bounded::client(bounded::Direct::Tcp(Arc::from(addr.as_str())), TIMEOUT_SECS)
        }
        Transport::Tls {
            addr,
            ca,
            cert,
            key,
        } => {
            let target = tls::TlsEndpoint::new(addr, ca, cert, key).map_err(|e| {
                bollard::errors::Error::IOError {
                    err: std::io::Error::other(e),
                }
            })?;
            bounded::client(bounded::Direct::Tls(target), TIMEOUT_SECS)
        }
        Transport::Ssh { .. } => ssh::client(engine, TIMEOUT_SECS),
    }
}

/// Checks that the TLS files a transport names can be read as what they should be, so
/// that a typo or a wrong file is reported as such rather than as a failed handshake.
pub fn check_files(engine: &Engine) -> Result<(), EngineError> {
    if let Transport::Tls {
        addr,
        ca,
        cert,
        key,
    } = &engine.transport
    {
        tls::TlsEndpoint::new(addr, ca, cert, key)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
