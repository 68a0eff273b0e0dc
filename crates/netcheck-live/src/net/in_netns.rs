//! Connections made from inside another network namespace: a container's, entered from
//! the host. bridge.icc's connections, the stand-ins' requests and the egress tests from
//! the probe's interfaces all go through here.
//!
//! The socket is made in a short-lived thread that entered the container's namespace
//! (/proc/PID/ns/net), as the interior reads do: no exec, nothing runs in the container,
//! and the process itself never leaves the host's namespace. Needs root.

use std::fs::File;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::net::listener::{Listener, Seen};
use netcheck_model::protocol::{ErrorKind, Purpose};
use netcheck_model::snapshot::Request;

/// An HTTP GET to netcheck's listener at `target`, from the namespace of process `pid`,
/// out of its interface `device` alone. `ok` means the listener answered and said whom
/// it saw.
pub async fn get_from(
    pid: u32,
    device: &str,
    purpose: Purpose,
    target: SocketAddr,
    timeout: Duration,
) -> Request {
    get_within(pid, device, purpose, target, (timeout, timeout)).await
}

/// [`get_from`], with a deadline of its own for the connection (the TCP handshake):
/// where a firewall is expected to drop it, the run waits that long, not the whole
/// request's deadline; once connected, the answer has `answer`.
pub async fn get_within(
    pid: u32,
    device: &str,
    purpose: Purpose,
    target: SocketAddr,
    (connect, answer): (Duration, Duration),
) -> Request {
    let timeout = connect + answer;
    let started = Instant::now();
    let mut req = Request::to(purpose, target.to_string(), Some(target.to_string()));
    match tokio::time::timeout(timeout, exchange(pid, device, target, connect)).await {
        Err(_) => req.fail(
            ErrorKind::NoAnswer,
            format!("no answer within {} ms", timeout.as_millis()),
        ),
        Ok(Err((kind, e))) => req.fail(kind, e),
        Ok(Ok(seen)) => {
            req.ok = true;
            req.status = Some(200);
            req.seen_source = Some(seen);
        }
    }
    req.elapsed_ms = started.elapsed().as_millis() as u64;
    req
}

/// Whom the listener saw; or why not, and whether the network or netcheck's own setup
/// (the namespace, the interface) is to blame.
async fn exchange(
    pid: u32,
    device: &str,
    target: SocketAddr,
    connect: Duration,
) -> Result<IpAddr, (ErrorKind, String)> {
    let setup = |e: String| (ErrorKind::Setup, e);
    let connection = |e: std::io::Error| (ErrorKind::Connection, e.to_string());
    let socket = socket_in(pid, target.is_ipv4()).map_err(setup)?;
    socket
        .bind_device(Some(device.as_bytes()))
        .map_err(|e| setup(format!("binding to {device}: {e}")))?;
    let mut stream = tokio::time::timeout(connect, socket.connect(target))
        .await
        .map_err(|_| {
            let e = format!("no answer within {} ms", connect.as_millis());
            (ErrorKind::NoAnswer, e)
        })?
        .map_err(connection)?;
    stream
        .write_all(b"GET / HTTP/1.0\r\nHost: netcheck\r\n\r\n")
        .await
        .map_err(connection)?;
    let mut answer = Vec::new();
    stream
        .take(64 * 1024)
        .read_to_end(&mut answer)
        .await
        .map_err(connection)?;
    let text = String::from_utf8_lossy(&answer);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    serde_json::from_str::<Seen>(body)
        .map(|s| s.seen)
        .map_err(|_| {
            (
                ErrorKind::NotListener,
                "answered, but not as netcheck's listener".to_string(),
            )
        })
}

/// A TCP socket that belongs to the network namespace of `pid`.
fn socket_in(pid: u32, v4: bool) -> Result<tokio::net::TcpSocket, String> {
    in_netns(pid, || {
        if v4 {
            tokio::net::TcpSocket::new_v4()
        } else {
            tokio::net::TcpSocket::new_v6()
        }
    })
}

/// netcheck's HTTP listener, on `ip` inside the network namespace of `pid` (an address
/// the container holds there): served by this process, seen as the container.
pub fn listen_in(pid: u32, ip: IpAddr) -> Result<Listener, String> {
    let listener = in_netns(pid, || std::net::TcpListener::bind((ip, 0)))?;
    crate::net::listener::serve(listener).map_err(|e| e.to_string())
}

/// Makes a socket in a thread that entered the namespace: a socket keeps the namespace
/// it was made in. The caller's runtime is entered for the sockets that register with it.
pub(crate) fn in_netns<T: Send>(
    pid: u32,
    make: impl FnOnce() -> std::io::Result<T> + Send,
) -> Result<T, String> {
    let runtime = tokio::runtime::Handle::current();
    std::thread::scope(|s| {
        s.spawn(|| {
            enter_netns(pid)?;
            let _guard = runtime.enter();
            make().map_err(|e| e.to_string())
        })
        .join()
        .expect("netns thread does not panic")
    })
}

/// Moves the calling thread into the network namespace of `pid`. Only for a thread of
/// its own, which ends with the work it entered for: the runtime's threads stay home.
pub(crate) fn enter_netns(pid: u32) -> Result<(), String> {
    let path = format!("/proc/{pid}/ns/net");
    let ns = File::open(&path).map_err(|e| format!("{path}: {e}"))?;
    nix::sched::setns(ns.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
        .map_err(|e| format!("entering {path}: {e}"))
}
