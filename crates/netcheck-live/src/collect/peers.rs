//! Connections from inside other containers' network namespaces to the probe: whether
//! containers on one network reach each other (icc), and whether networks are isolated.
//!
//! The socket is made in a short-lived thread that entered the container's namespace
//! (/proc/PID/ns/net), as the interior reads do: no exec, nothing runs in the container,
//! and the process itself never leaves the host's namespace. Needs root.

use std::collections::HashMap;
use std::fs::File;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::PROBE_PORT;
use crate::net::listener::{Listener, Seen};
use netcheck_model::protocol::{ErrorKind, Purpose};
use netcheck_model::snapshot::{Concurrency, ContainerObs, NetworkObs, Request};

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
    crate::net::listener::serve(listener).map_err(|e| e.to_string())
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

use netcheck_model::protocol::ISOLATION_SAMPLE;

/// The networks the isolation of `checked[i]` is tested toward (`checked` sorted by
/// name), each with its target: the default bridge, then the next
/// [`ISOLATION_SAMPLE`] networks by name, cyclically, that have a target.
fn sample<'n, T>(
    checked: &[&'n NetworkObs],
    i: usize,
    target: impl Fn(&'n NetworkObs) -> Option<T>,
) -> Vec<(&'n NetworkObs, T)> {
    let others = checked
        .iter()
        .copied()
        .cycle()
        .skip(i + 1)
        .take(checked.len().saturating_sub(1));
    let (bridge, rest): (Vec<_>, Vec<_>) = others.partition(|m| m.name == "bridge");
    bridge
        .into_iter()
        .filter_map(|m| Some((m, target(m)?)))
        .chain(
            rest.into_iter()
                .filter_map(|m| Some((m, target(m)?)))
                .take(ISOLATION_SAMPLE),
        )
        .collect()
}

/// What bridge.icc asks, from the first running container (not the probe) on each
/// checked network: the probe's address on that network (icc), and the address of a
/// container on each sampled other network that is not on this one (isolation). Also
/// how many connections were open at once, where the open-file limit made that fewer
/// than netcheck would have opened.
pub(super) async fn requests<'a>(
    networks: &'a [NetworkObs],
    checked: &[String],
    containers: &[ContainerObs],
    probe: &str,
    timeout: Duration,
) -> (Vec<netcheck_model::snapshot::Request>, Option<Concurrency>) {
    let mut checked: Vec<&NetworkObs> = networks
        .iter()
        .filter(|n| checked.contains(&n.name))
        .collect();
    checked.sort_by(|a, b| a.name.cmp(&b.name));
    let probe_addr = |n: &NetworkObs| {
        n.endpoints
            .iter()
            .find(|e| e.container_name == probe)
            .and_then(|e| e.ipv4)
            .map(|a| std::net::SocketAddr::new(a.addr(), PROBE_PORT))
    };
    let on = |net: &NetworkObs, id: &str| net.endpoints.iter().any(|e| e.container_id == id);
    let mut asks = vec![];
    // One listener per target container and address, whichever networks connect to it.
    let mut listeners: HashMap<(u32, IpAddr), Listener> = HashMap::new();
    for (i, n) in checked.iter().enumerate() {
        // The source: a container (not the probe) whose interface on this network is
        // known. The socket is bound to that interface, so that nothing in the
        // container's own routing (a VPN container's policy rules) can send it
        // elsewhere: it reaches the bridge or nothing.
        let source = |e: &netcheck_model::snapshot::EndpointObs| {
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
        // The target must be on the other network alone: a container on both (the
        // probe, for one) answers through its interface on the source's network,
        // around the firewall, and the test would prove nothing.
        let target =
            |m: &'a NetworkObs| -> Option<(&'a netcheck_model::snapshot::EndpointObs, u32, IpAddr)> {
                if on(m, &ep.container_id) {
                    return None;
                }
                m.endpoints.iter().find_map(|e| {
                    let c = containers
                        .iter()
                        .find(|c| c.id == e.container_id && !c.probe)?;
                    let ip = e.ipv4.map(|a| a.addr())?;
                    (!on(n, &e.container_id)).then_some((e, c.pid?, ip))
                })
            };
        let sampled = sample(&checked, i, target);
        for (m, (t, t_pid, t_ip)) in sampled {
            // netcheck's own listener, opened inside the target's namespace.
            let addr = match listeners.entry((t_pid, t_ip)) {
                std::collections::hash_map::Entry::Occupied(l) => l.get().addr,
                std::collections::hash_map::Entry::Vacant(v) => match listen_in(t_pid, t_ip) {
                    Ok(l) => v.insert(l).addr,
                    Err(_) => continue,
                },
            };
            asks.push((
                pid,
                device.clone(),
                Purpose::isolation(&n.name, &m.name, who, &t.container_name),
                addr,
                BLOCKED_DEADLINE,
            ));
        }
    }
    // As many at once as the open-file limit leaves room for; in order, so that the
    // requests come back as they were asked.
    let at_once = crate::net::limits::connections_at_once();
    let reduced = at_once < asks.len().min(crate::net::limits::CONNECTIONS_AT_ONCE);
    let requests =
        futures_util::stream::iter(asks.iter().map(|(pid, device, purpose, target, deadline)| {
            get_from(*pid, device, purpose.clone(), *target, *deadline)
        }))
        .buffered(at_once)
        .collect::<Vec<_>>()
        .await;
    drop(listeners);
    let concurrency = reduced.then(|| Concurrency {
        at_once,
        requests: requests.len(),
        open_files: crate::net::limits::nofile(),
    });
    (requests, concurrency)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn network(name: &str) -> NetworkObs {
        serde_json::from_value(serde_json::json!({
            "id": name, "name": name, "driver": "bridge", "bridge": "br", "options": {},
            "ipam": [], "endpoints": [], "internal": false, "ip_masquerade": true,
            "enable_ipv6": false
        }))
        .unwrap()
    }

    /// 100 networks: each tested toward the default bridge and 4 others, each a target
    /// 4 or 5 times (the bridge: by all), the same on every run; networks without a
    /// target are passed over for the next.
    #[test]
    fn the_isolation_sample_is_bounded_deterministic_and_fair() {
        let mut nets: Vec<NetworkObs> = (0..99).map(|i| network(&format!("n{i:02}"))).collect();
        nets.push(network("bridge"));
        nets.sort_by(|a, b| a.name.cmp(&b.name));
        let checked: Vec<&NetworkObs> = nets.iter().collect();
        let mut targeted: HashMap<&str, usize> = HashMap::new();
        for i in 0..checked.len() {
            let s = sample(&checked, i, |m| Some(m.name.clone()));
            assert!(s.len() <= 1 + ISOLATION_SAMPLE, "{}", s.len());
            assert!(s.iter().all(|(m, _)| m.name != checked[i].name));
            if checked[i].name != "bridge" {
                assert_eq!(s[0].0.name, "bridge");
            }
            for (m, _) in &s {
                *targeted.entry(m.name.as_str()).or_default() += 1;
            }
            let again = sample(&checked, i, |m| Some(m.name.clone()));
            assert_eq!(s.len(), again.len());
        }
        assert_eq!(targeted["bridge"], 99);
        // By its 4 predecessors, and the first 4 by the default bridge too.
        assert!(
            targeted
                .iter()
                .filter(|(n, _)| **n != "bridge")
                .all(|(_, c)| (ISOLATION_SAMPLE..=ISOLATION_SAMPLE + 1).contains(c))
        );
        // Only even networks have a target: the sample skips to the next that does.
        let s = sample(&checked, 0, |m| {
            (m.name.ends_with(['0', '2', '4', '6', '8'])).then_some(())
        });
        assert_eq!(s.len(), ISOLATION_SAMPLE);
    }
}
