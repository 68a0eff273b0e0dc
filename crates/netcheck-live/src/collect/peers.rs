//! bridge.icc's connections, from inside containers' network namespaces (entered from
//! the host: see `net::in_netns`): whether containers on one network reach each other
//! (icc, to the probe or its stand-in), and whether networks are isolated (to a listener
//! of netcheck's inside a container on another network). Needs root.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use futures_util::StreamExt;

use super::PROBE_PORT;
use crate::net::in_netns::{get_within, listen_in};
use crate::net::listener::Listener;
use netcheck_model::protocol::Purpose;
use netcheck_model::snapshot::{Concurrency, ContainerObs, EndpointObs, NetworkObs, Request};

/// How long the handshake of a connection that should be blocked is given before it
/// counts as blocked: through a local bridge, a handshake takes microseconds.
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

/// One connection to make: from the namespace of `pid`, out of its interface `device`
/// alone, for `purpose`, to `target`, its handshake given `deadline`.
type Ask = (u32, String, Purpose, SocketAddr, Duration);

/// The checked networks, by name: the order the isolation sample follows.
fn by_name<'a>(networks: &'a [NetworkObs], checked: &[String]) -> Vec<&'a NetworkObs> {
    let mut checked: Vec<&NetworkObs> = networks
        .iter()
        .filter(|n| checked.contains(&n.name))
        .collect();
    checked.sort_by(|a, b| a.name.cmp(&b.name));
    checked
}

/// The containers (not the probe) on network `n` that a connection can come from, in
/// its endpoints' order: each with its pid and its interface on `n`. The socket is bound
/// to that interface, so that nothing in the container's own routing (a VPN container's
/// policy rules) can send it elsewhere: it reaches the bridge or nothing.
fn sources<'a>(
    n: &'a NetworkObs,
    containers: &'a [ContainerObs],
) -> impl Iterator<Item = (&'a EndpointObs, u32, String)> + Clone + 'a {
    n.endpoints.iter().filter_map(move |e| {
        let c = containers
            .iter()
            .find(|c| c.id == e.container_id && !c.probe)?;
        let iface = c.interior.ok()?.link_by_mac(e.mac.as_deref()?)?;
        Some((e, c.pid?, iface.name.clone()))
    })
}

/// netcheck's listeners inside containers' namespaces: one per container and address,
/// whichever networks connect to it; closed when dropped.
#[derive(Default)]
struct Listeners(HashMap<(u32, IpAddr), Listener>);

impl Listeners {
    fn at(&mut self, pid: u32, ip: IpAddr) -> Option<SocketAddr> {
        Some(match self.0.entry((pid, ip)) {
            std::collections::hash_map::Entry::Occupied(l) => l.get().addr,
            std::collections::hash_map::Entry::Vacant(v) => v.insert(listen_in(pid, ip).ok()?).addr,
        })
    }
}

/// bridge.icc's isolation connections: from the first running container on each
/// checked network, to a listener inside a container on each sampled other network
/// that is not on this one. None involves the probe, so they are made while the engine
/// starts it, from the containers as they were then (`containers`, the probe not
/// among them). Also how many were open at once, where the open-file limit made that
/// fewer than netcheck would have opened; `spare` descriptors are left for what runs
/// beside.
pub(super) async fn isolation<'a>(
    networks: &'a [NetworkObs],
    checked: &[String],
    containers: &[ContainerObs],
    (timeout, spare): (Duration, usize),
) -> (Vec<Request>, Option<Concurrency>) {
    let checked = by_name(networks, checked);
    let on = |net: &NetworkObs, id: &str| net.endpoints.iter().any(|e| e.container_id == id);
    let mut asks = vec![];
    let mut listeners = Listeners::default();
    for (i, n) in checked.iter().enumerate() {
        let Some((ep, pid, device)) = sources(n, containers).next() else {
            continue;
        };
        let who = &ep.container_name;
        // The target must be on the other network alone: a container on both (the
        // probe, for one) answers through its interface on the source's network,
        // around the firewall, and the test would prove nothing.
        let target = |m: &'a NetworkObs| -> Option<(&'a EndpointObs, u32, IpAddr)> {
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
        for (m, (t, t_pid, t_ip)) in sample(&checked, i, target) {
            let Some(addr) = listeners.at(t_pid, t_ip) else {
                continue;
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
    connect_all(asks, listeners, timeout, spare).await
}

/// bridge.icc's icc connections: on each checked network, from a running container to
/// the probe's address there, or, where the probe did not join it, to a listener
/// inside its stand-in (from another container: see `stand_ins`).
pub(super) async fn icc(
    networks: &[NetworkObs],
    checked: &[String],
    (containers, dropping): (&[ContainerObs], &[&str]),
    (probe, stand_ins): (&str, &[super::stand_ins::Located<'_>]),
    timeout: Duration,
) -> (Vec<Request>, Option<Concurrency>) {
    let mut asks = vec![];
    let mut listeners = Listeners::default();
    for n in by_name(networks, checked) {
        let stand_in = stand_ins.iter().find(|s| s.network.name == n.name);
        let probe_there = (n.endpoints.iter())
            .find(|e| e.container_name == probe)
            .and_then(|e| e.ipv4)
            .map(|a| SocketAddr::new(a.addr(), PROBE_PORT));
        let target = probe_there.or_else(|| {
            let s = stand_in?;
            listeners.at(s.pid, s.addr_v4?)
        });
        // Not from its stand-in (icc's target), nor from a container that drops what it
        // sends itself (`dropping`: stand-ins the probe replaced).
        let source = sources(n, containers).find(|(e, ..)| {
            stand_in.is_none_or(|s| s.container.id != e.container_id)
                && !dropping.contains(&e.container_name.as_str())
        });
        let (Some(target), Some((from, pid, device))) = (target, source) else {
            continue;
        };
        // Traffic that icc forbids is dropped, not refused: a short deadline keeps a
        // healthy run fast, and is ample for a local bridge.
        let deadline = if n.icc_disabled() {
            BLOCKED_DEADLINE
        } else {
            timeout
        };
        let purpose = Purpose::icc(&n.name, &from.container_name);
        asks.push((pid, device, purpose, target, deadline));
    }
    connect_all(asks, listeners, timeout, 0).await
}

/// For each icc connection that failed where icc is on, the same container's request
/// to its network's gateway listener, where the probe (or its stand-in) reached that
/// listener (`reached`: their gateway requests). A container that cannot reach it
/// either drops what it sends itself (a VPN client's kill switch), and its icc result
/// says nothing of the network.
pub(super) async fn controls(
    icc: &[Request],
    networks: &[NetworkObs],
    containers: &[ContainerObs],
    reached: &[&Request],
    timeout: Duration,
) -> Vec<Request> {
    let asks = icc.iter().filter_map(|r| {
        let Purpose::Icc { network, from } = &r.purpose else {
            return None;
        };
        if r.ok || r.error_kind() == Some(netcheck_model::protocol::ErrorKind::Setup) {
            return None;
        }
        let n = networks.iter().find(|n| n.name == *network)?;
        if n.icc_disabled() {
            return None;
        }
        let gateway = (reached.iter())
            .find(|g| g.ok && g.purpose == Purpose::gateway(network))
            .and_then(|g| g.addr.as_deref()?.parse::<SocketAddr>().ok())?;
        let (_, pid, device) = sources(n, containers).find(|(e, ..)| e.container_name == *from)?;
        let purpose = Purpose::IccControl {
            network: network.clone(),
            from: from.clone(),
        };
        Some(async move { get_within(pid, &device, purpose, gateway, (timeout, timeout)).await })
    });
    futures_util::future::join_all(asks).await
}

/// Makes the connections, as many at once as the open-file limit leaves room for (but
/// `spare`), one descriptor each: most are dropped, and a dropped one never holds a
/// second (see `sockets_at_once`). In order, so that the requests come back as they
/// were asked. The listeners close after.
async fn connect_all(
    asks: Vec<Ask>,
    listeners: Listeners,
    timeout: Duration,
    spare: usize,
) -> (Vec<Request>, Option<Concurrency>) {
    let at_once = crate::net::limits::sockets_at_once()
        .saturating_sub(spare)
        .max(1);
    let reduced = at_once < asks.len().min(crate::net::limits::SOCKETS_AT_ONCE);
    let requests =
        futures_util::stream::iter(asks.iter().map(|(pid, device, purpose, target, deadline)| {
            get_within(*pid, device, purpose.clone(), *target, (*deadline, timeout))
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
