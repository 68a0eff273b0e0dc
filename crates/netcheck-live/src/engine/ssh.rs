//! `ssh://[user@]host[:port]`: the engine's API through `docker system dial-stdio` on the
//! remote host, run by the system `ssh`, as the docker CLI does.
//!
//! Each HTTP connection is one `ssh` child whose stdin and stdout carry the bytes; hyper
//! keeps connections alive between requests, so a run pays the handshake once per
//! concurrent request rather than once per request. The system `ssh` is used rather
//! than a library so that the user's `~/.ssh/config`, agent, keys and known_hosts apply
//! exactly as for `docker -H ssh://...`, and so that the static binary needs nothing
//! more.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bollard::{API_DEFAULT_VERSION, BollardRequest, Docker};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use super::{Engine, Transport};

/// Parses what follows `ssh://`: `[user@]host[:port]`, nothing after.
pub fn parse(rest: &str) -> Result<Transport, String> {
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains('/') || rest.contains('?') {
        return Err("an ssh:// endpoint takes no path or query".into());
    }
    let (user, hostport) = match rest.rsplit_once('@') {
        Some((u, h)) if !u.is_empty() => (Some(u.to_string()), h),
        Some(_) => return Err("empty user before `@`".into()),
        None => (None, rest),
    };
    let (host, port) = super::split_host_port(hostport)?;
    // A host that ssh would read as an option.
    if host.starts_with('-') {
        return Err("the host may not start with `-`".into());
    }
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .map(str::to_string)
        .unwrap_or(host);
    Ok(Transport::Ssh { user, host, port })
}

/// The `ssh` command line (without the program) that runs `docker system dial-stdio`.
pub fn args(user: Option<&str>, host: &str, port: Option<u16>) -> Vec<String> {
    let mut args = vec![];
    if let Some(u) = user {
        args.extend(["-l".to_string(), u.to_string()]);
    }
    if let Some(p) = port {
        args.extend(["-p".to_string(), p.to_string()]);
    }
    // Never prompt: netcheck runs in CI and behind a progress bar. `--` ends the
    // options, so the host is never read as one.
    args.extend(
        [
            "-o",
            "BatchMode=yes",
            "-T",
            "--",
            host,
            "docker",
            "system",
            "dial-stdio",
        ]
        .map(String::from),
    );
    args
}

/// A client whose every connection is an `ssh ... docker system dial-stdio` child.
pub fn client(engine: &Engine, timeout_secs: u64) -> Result<Docker, bollard::errors::Error> {
    let Transport::Ssh { user, host, port } = &engine.transport else {
        unreachable!("ssh::client is only called for ssh transports");
    };
    let connector = SshConnector {
        args: Arc::new(args(user.as_deref(), host, *port)),
        stderr: Arc::new(Mutex::new(String::new())),
    };
    let stderr = connector.stderr.clone();
    let client = Arc::new(Client::builder(TokioExecutor::new()).build(connector));
    Docker::connect_with_custom_transport(
        move |req: BollardRequest| {
            let client = client.clone();
            let stderr = stderr.clone();
            Box::pin(async move {
                client.request(req).await.map_err(|e| {
                    // What ssh said (no route, refused key, no docker there) is the
                    // cause; hyper only saw the pipe close.
                    let said = stderr.lock().unwrap().trim().to_string();
                    let detail = if said.is_empty() {
                        format!("through ssh: {e}")
                    } else {
                        format!("ssh: {said}")
                    };
                    bollard::errors::Error::IOError {
                        err: io::Error::new(io::ErrorKind::ConnectionAborted, detail),
                    }
                })
            })
        },
        // Requests need a well-formed URI; the connector ignores it.
        Some("http://docker.ssh"),
        timeout_secs,
        API_DEFAULT_VERSION,
    )
}

#[derive(Clone)]
struct SshConnector {
    args: Arc<Vec<String>>,
    /// The last thing any ssh child wrote to stderr, for error messages.
    stderr: Arc<Mutex<String>>,
}

impl tower_service::Service<hyper::Uri> for SshConnector {
    type Response = TokioIo<super::bounded::Bounded<SshStream>>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: hyper::Uri) -> Self::Future {
        let args = self.args.clone();
        let said = self.stderr.clone();
        Box::pin(async move {
            let mut child = crate::owner::bind_child(&mut Command::new("ssh"))
                .args(args.iter())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| io::Error::new(e.kind(), format!("running ssh: {e}")))?;
            let stdin = child.stdin.take().expect("piped");
            let stdout = child.stdout.take().expect("piped");
            if let Some(mut err) = child.stderr.take() {
                tokio::spawn(async move {
                    let mut text = String::new();
                    let _ = err.read_to_string(&mut text).await;
                    if !text.trim().is_empty() {
                        *said.lock().unwrap() = text;
                    }
                });
            }
            let stream = SshStream {
                _child: child,
                stdin,
                stdout,
            };
            Ok(TokioIo::new(super::bounded::Bounded::new(
                stream,
                super::bounded::ANSWER_LIMIT,
            )))
        })
    }
}

/// One ssh child's stdout and stdin as one duplex stream; the child dies with it.
pub struct SshStream {
    _child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
}

impl Connection for SshStream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl AsyncRead for SshStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stdout).poll_read(cx, buf)
    }
}

impl AsyncWrite for SshStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stdin).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stdin).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Closing stdin is dial-stdio's half-close: the engine sees the end of the
        // request body (an attach's stdin) and the response still flows back.
        Pin::new(&mut self.get_mut().stdin).poll_shutdown(cx)
    }
}
