//! Connections from inside other containers' network namespaces to the probe: whether
//! containers on one network reach each other (icc), and whether networks are isolated.
//!
//! The socket is made in a short-lived thread that entered the container's namespace
//! (/proc/PID/ns/net), as the interior reads do: no exec, nothing runs in the container,
//! and the process itself never leaves the host's namespace. Needs root.

use std::fs::File;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::PROBE_PORT;
use crate::collect::listener::{Listener, Seen};
use crate::protocol::{ErrorKind, Purpose};
use crate::snapshot::{ContainerObs, NetworkObs, Request};

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
    let started = Instant::now();
    let mut req = Request {
        purpose,
        target: target.to_string(),
        addr: Some(target.to_string()),
        ok: false,
        seen_source: None,
        status: None,
        body: None,
        error: None,
        error_kind: None,
        elapsed_ms: 0,
    };
    match tokio::time::timeout(timeout, exchange(pid, device, target)).await {
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
) -> Result<IpAddr, (ErrorKind, String)> {
    let setup = |e: String| (ErrorKind::Setup, e);
    let connection = |e: std::io::Error| (ErrorKind::Connection, e.to_string());
    let socket = socket_in(pid, target.is_ipv4()).map_err(setup)?;
    socket
        .bind_device(Some(device.as_bytes()))
        .map_err(|e| setup(format!("binding to {device}: {e}")))?;
    let mut stream = socket.connect(target).await.map_err(connection)?;
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
    crate::collect::listener::serve(listener).map_err(|e| e.to_string())
}

/// Makes a socket in a thread that entered the namespace: a socket keeps the namespace
/// it was made in. The caller's runtime is entered for the sockets that register with it.
pub(crate) fn in_netns<T: Send>(
    pid: u32,
    make: impl FnOnce() -> std::io::Result<T> + Send,
) -> Result<T, String> {
    let path = format!("/proc/{pid}/ns/net");
    let ns = File::open(&path).map_err(|e| format!("{path}: {e}"))?;
    let runtime = tokio::runtime::Handle::current();
    std::thread::scope(|s| {
        s.spawn(|| {
            nix::sched::setns(ns.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
                .map_err(|e| format!("entering {path}: {e}"))?;
            let _guard = runtime.enter();
            make().map_err(|e| e.to_string())
        })
        .join()
        .expect("netns thread does not panic")
    })
}

/// How long a connection that should be blocked is given before it counts as blocked.
pub(super) const BLOCKED_DEADLINE: Duration = Duration::from_millis(300);

/// What bridge.icc asks, from the first running container (not the probe) on each
/// checked network: the probe's address on that network (icc), and its address on each
/// checked network the container is not on (isolation). The probe listens on all.
pub(super) async fn requests(
    networks: &[NetworkObs],
    checked: &[String],
    containers: &[ContainerObs],
    probe: &str,
    timeout: Duration,
) -> Vec<crate::snapshot::Request> {
    let checked: Vec<&NetworkObs> = networks
        .iter()
        .filter(|n| checked.contains(&n.name))
        .collect();
    let probe_addr = |n: &NetworkObs| {
        n.endpoints
            .iter()
            .find(|e| e.container_name == probe)
            .and_then(|e| e.ipv4)
            .map(|a| std::net::SocketAddr::new(a.addr(), PROBE_PORT))
    };
    let mut asks = vec![];
    let mut listeners = vec![];
    for n in &checked {
        // The source: a container (not the probe) whose interface on this network is
        // known. The socket is bound to that interface, so that nothing in the
        // container's own routing (a VPN container's policy rules) can send it
        // elsewhere: it reaches the bridge or nothing.
        let source = |e: &crate::snapshot::EndpointObs| {
            let c = containers
                .iter()
                .find(|c| c.id == e.container_id && !c.probe)?;
            let iface = c.interior.ok()?.link_by_mac(e.mac.as_deref()?)?;
            Some((c.pid?, iface.name.clone()))
        };
        let Some((ep, (pid, device))) = n.endpoints.iter().find_map(|e| Some((e, source(e)?)))
        else {
            continue;
        };
        let who = &ep.container_name;
        // Traffic that icc forbids is dropped, not refused: a short deadline keeps a
        // healthy run fast, and is ample for a local bridge.
        let icc_off = n.icc_disabled();
        if let Some(target) = probe_addr(n) {
            let deadline = if icc_off { BLOCKED_DEADLINE } else { timeout };
            asks.push((
                pid,
                device.clone(),
                Purpose::icc(&n.name, who),
                target,
                deadline,
            ));
        }
        for m in checked.iter().filter(|m| m.name != n.name) {
            let on =
                |net: &NetworkObs, id: &str| net.endpoints.iter().any(|e| e.container_id == id);
            if on(m, &ep.container_id) {
                continue;
            }
            // The target must be on the other network alone: a container on both (the
            // probe, for one) answers through its interface on the source's network,
            // around the firewall, and the test would prove nothing.
            let target = m.endpoints.iter().find_map(|e| {
                let c = containers
                    .iter()
                    .find(|c| c.id == e.container_id && !c.probe)?;
                (!on(n, &e.container_id)).then_some((e, c.pid?))
            });
            let Some((t, t_pid)) = target else { continue };
            let Some(t_ip) = t.ipv4.map(|a| a.addr()) else {
                continue;
            };
            // netcheck's own listener, opened inside the target's namespace.
            let Ok(l) = listen_in(t_pid, t_ip) else {
                continue;
            };
            asks.push((
                pid,
                device.clone(),
                Purpose::isolation(&n.name, &m.name, who, &t.container_name),
                l.addr,
                BLOCKED_DEADLINE,
            ));
            listeners.push(l);
        }
    }
    let requests = futures_util::future::join_all(asks.iter().map(
        |(pid, device, purpose, target, deadline)| {
            get_from(*pid, device, purpose.clone(), *target, *deadline)
        },
    ))
    .await;
    drop(listeners);
    requests
}
