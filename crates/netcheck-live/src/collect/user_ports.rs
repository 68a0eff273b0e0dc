//! port.publish's half for the users' own containers: a TCP connection from the host to
//! each port they publish, up to a cap per run. A connection that is accepted, or reset
//! (no listener behind the port), met something on the far side; the judge tells from
//! the nat rules whether that is the container the engine says owns the port.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use netcheck_model::snapshot::{ContainerObs, NetnsObs, PortTry};

use netcheck_model::snapshot::USER_PORTS_CAP as CAP;

/// Tries the first [`CAP`] published ports of `containers`, concurrently, when `wanted`
/// (port.publish is selected, and the engine's host is this one).
pub(super) async fn try_all(
    containers: &mut [ContainerObs],
    host: Option<&NetnsObs>,
    wanted: bool,
    timeout: Duration,
) {
    if !wanted {
        return;
    }
    let host_v4 = host.and_then(uplink_v4);
    let mut targets = vec![];
    for (ci, c) in containers.iter().enumerate() {
        for (pi, p) in c.published.iter().enumerate() {
            // `::` beside `0.0.0.0` is the same port: one try is enough.
            let twin = p.host_ip == IpAddr::V6(Ipv6Addr::UNSPECIFIED)
                && c.published.iter().any(|q| {
                    q.host_port == p.host_port && q.host_ip == IpAddr::V4(Ipv4Addr::UNSPECIFIED)
                });
            if twin || targets.len() >= CAP {
                continue;
            }
            let ip = match p.host_ip {
                // Where the world reaches it: the host's own address, through the
                // engine's DNAT (loopback would meet docker-proxy instead).
                IpAddr::V4(a) if a.is_unspecified() => {
                    host_v4.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
                }
                IpAddr::V6(a) if a.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
                ip => ip,
            };
            targets.push((ci, pi, SocketAddr::new(ip, p.host_port)));
        }
    }
    let tries =
        futures_util::future::join_all(targets.iter().map(|(_, _, to)| connect(*to, timeout)))
            .await;
    for ((ci, pi, _), t) in targets.into_iter().zip(tries) {
        containers[ci].published[pi].tried = Some(t);
    }
}

async fn connect(to: SocketAddr, timeout: Duration) -> PortTry {
    let started = Instant::now();
    let outcome = match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(to)).await {
        Ok(Ok(_)) => "answered".to_string(),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => "refused".into(),
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("no answer within {} ms", timeout.as_millis()),
    };
    PortTry {
        target: to.to_string(),
        outcome,
        elapsed_ms: started.elapsed().as_millis() as u64,
    }
}

/// The host's IPv4 address on its first uplink.
fn uplink_v4(ns: &NetnsObs) -> Option<IpAddr> {
    ns.uplinks()
        .into_iter()
        .flat_map(|l| ns.addrs_of(l.index))
        .map(|a| a.addr())
        .find(|a| a.is_ipv4())
}
