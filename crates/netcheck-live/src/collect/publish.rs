//! port.publish's half of the probe container: the host ports it is published on, picked
//! before it starts, and what the engine's refusals to publish them mean.

use std::net::{IpAddr, SocketAddr};

use netcheck_model::protocol::{Ask, Purpose};
use netcheck_model::snapshot::{NetnsObs, NetworkObs, Published};

use super::PROBE_PORT;

/// How often the probe is started again with new ports when a picked one was taken.
pub(super) const ATTEMPTS: usize = 3;

/// How a port is picked: where this process shares the engine's host, a port found
/// free there ([`free_port`]); elsewhere (the agent's engine), one drawn unchecked
/// ([`drawn_port`]), since a taken one is picked again anyway.
pub(super) type Pick = fn(IpAddr) -> Option<u16>;

/// The probe's bindings: on loopback (for the host) and on the gateway of the probe's
/// first network (for the hairpin from inside); never on a wildcard, so that nothing is
/// exposed beyond the engine's host.
pub(super) fn bindings(
    checked: &[&NetworkObs],
    host: Option<&NetnsObs>,
    pick: Pick,
) -> Vec<Published> {
    // An internal network publishes nothing by design: the engine would accept the
    // bindings and carry none of them.
    if checked.first().is_some_and(|n| n.internal) {
        return vec![];
    }
    let gateway = checked.first().and_then(|n| n.gateway_v4(host));
    [Some(IpAddr::from([127, 0, 0, 1])), gateway]
        .into_iter()
        .flatten()
        .filter_map(|ip| {
            Some(Published {
                host_ip: ip,
                host_port: pick(ip)?,
                container_port: PROBE_PORT,
            })
        })
        .collect()
}

/// The same bindings on newly picked ports.
pub(super) fn repick(published: &mut [Published], pick: Pick) {
    for p in published {
        if let Some(port) = pick(p.host_ip) {
            p.host_port = port;
        }
    }
}

/// The probe's requests through its own published ports: the hairpin, from inside, to
/// every binding that is not on loopback.
pub(super) fn hairpin_asks(published: &[Published]) -> Vec<Ask> {
    published
        .iter()
        .filter(|p| !p.host_ip.is_loopback())
        .map(|p| Ask::new(Purpose::Hairpin, SocketAddr::new(p.host_ip, p.host_port)))
        .collect()
}

/// A port that is free on `ip` now, for the engine to bind next.
///
/// It is drawn below the kernel's ephemeral range: a port the kernel handed out and
/// this process released goes straight back into that range, where any socket bound
/// to port 0 meanwhile (a concurrent run's listener, for one) can take it before the
/// engine binds it. Below the range only another explicit pick can collide, and that
/// is retried.
pub(super) fn free_port(ip: IpAddr) -> Option<u16> {
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(EPHEMERAL_LOW);
    (0..32)
        .map(|_| draw(low))
        .find(|&port| std::net::TcpListener::bind((ip, port)).is_ok())
        .or_else(|| {
            let l = std::net::TcpListener::bind((ip, 0)).ok()?;
            l.local_addr().ok().map(|a| a.port())
        })
}

/// A port below the ephemeral range of Linux's default, unchecked: for an engine whose
/// host this process cannot bind on.
pub(super) fn drawn_port(_: IpAddr) -> Option<u16> {
    Some(draw(EPHEMERAL_LOW))
}

fn draw(ephemeral_low: u16) -> u16 {
    use rand::Rng;
    rand::rng().random_range(FLOOR..ephemeral_low.max(FLOOR + 1000))
}

/// The lowest port picked for publishing: above the well-known and most registered
/// services' ports.
const FLOOR: u16 = 10000;

/// Where Linux's ephemeral range starts by default.
const EPHEMERAL_LOW: u16 = 32768;

/// How the probe's start error begins when the engine refused to start the container.
pub(super) const START_FAILED: &str = "starting the probe container";

/// Whether the engine refused to start the probe because a published port was taken.
pub(super) fn port_taken(e: &str) -> bool {
    e.starts_with(START_FAILED) && e.contains("address already in use")
}

/// The engine's error on one line, without the container id it repeats.
pub(super) fn clean_engine_error(e: &str) -> String {
    let e = e.strip_prefix(START_FAILED).unwrap_or(e);
    let e = e.trim_start_matches(": ");
    let e = e
        .strip_prefix("Docker responded with status code 500: ")
        .unwrap_or(e);
    e.split_whitespace()
        .filter(|w| !(w.len() == 66 && w.starts_with('(') && w.ends_with("):")))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ephemeral_low() -> u16 {
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    }

    #[test]
    fn published_ports_are_drawn_below_the_ephemeral_range() {
        let lo = IpAddr::from([127, 0, 0, 1]);
        for _ in 0..20 {
            let port = free_port(lo).unwrap();
            assert!((FLOOR..ephemeral_low()).contains(&port), "{port}");
            let port = drawn_port(lo).unwrap();
            assert!((FLOOR..EPHEMERAL_LOW).contains(&port), "{port}");
        }
    }

    #[test]
    fn the_hairpin_follows_a_repicked_port_and_skips_loopback() {
        let gw = IpAddr::from([172, 17, 0, 1]);
        let lo = IpAddr::from([127, 0, 0, 1]);
        let mut published = [lo, gw].map(|ip| Published {
            host_ip: ip,
            host_port: 12345,
            container_port: PROBE_PORT,
        });
        repick(&mut published, |_| Some(23456));
        assert_eq!(
            hairpin_asks(&published),
            [Ask::new(Purpose::Hairpin, SocketAddr::new(gw, 23456))]
        );
    }

    #[test]
    fn a_taken_port_is_told_apart_from_other_start_failures() {
        assert!(port_taken(&format!(
            "{START_FAILED}: Docker responded with status code 500: driver failed programming \\
             external connectivity on endpoint p (x): Error starting userland proxy: listen \\
             tcp4 172.17.0.1:36361: bind: address already in use"
        )));
        assert!(!port_taken(&format!(
            "{START_FAILED}: iptables failed: iptables --wait -t nat -A DOCKER: No chain"
        )));
    }
}
