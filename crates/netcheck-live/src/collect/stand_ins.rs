//! Stand-ins: a container of the user's that speaks for the probe on a network the
//! probe did not join.
//!
//! Each network the probe joins costs the engine a fifth of a second or more to join
//! and as much to leave (20.10, measured: a probe on 100 networks took 20 to 27 s to
//! start and about 20 s to be removed). Past `--probe-joins` networks, the probe joins
//! the first that leads out, and a network with a running container on it alone is
//! observed from that container's namespace instead, entered from the host as
//! bridge.icc's connections are: the gateway's listener, the outside peer and the
//! embedded DNS server are asked from there, and icc's connection goes to a listener
//! there. Nothing runs in the container and none of its settings change (netcheck only
//! opens sockets there): a container on one network alone has its default route
//! through it, so no policy route is needed, as the probe's own egress tests need.
//!
//! The probe stays netcheck's own vantage wherever it can be: on every network of a
//! host with few; on a host with more, on the first network, on every network with no
//! such container, and on every network whose stand-in failed (see `confirm`).

use std::net::IpAddr;
use std::time::Duration;

use futures_util::StreamExt;

use super::PROBE_PREFIX;
use crate::net::in_netns;
use netcheck_model::protocol::Purpose;
use netcheck_model::snapshot::{ContainerObs, Lookup, NetnsObs, NetworkObs, Request, StandIn};

/// A container chosen, before the probe starts, to stand in for it on `network`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Chosen {
    pub(super) network: String,
    pub(super) container_id: String,
    pub(super) container_name: String,
}

/// Where more networks are checked than `--probe-joins`, the stand-ins for all but the
/// probe's own (the first that leads out) and those the suite's own checks run from;
/// none where stand-ins may not be used at all (`allowed`: root, and the engine's host
/// is this one, so that namespaces can be entered). Past the threshold every further
/// network the probe joined would cost the engine as much again, so it joins the first
/// alone, and the networks that have no stand-in. A stand-in is a
/// running container on that network and no other one (`all`, every network the
/// engine has), and not netcheck's own; the first by name.
pub(super) fn choose(
    checked: &[&NetworkObs],
    all: &[NetworkObs],
    opts: &super::Collection,
    local_root: bool,
) -> Vec<Chosen> {
    // In the agent, netcheck started the probe on every network before it looked; and
    // without the probe there is nothing to stand in for. Not on Podman either (the
    // caller passes `local_root` false there): a stand-in asks the embedded DNS at
    // 127.0.0.11, and Podman's answers at each network's gateway.
    let allowed = local_root && opts.relay.is_none() && opts.needs.probe;
    choose_among(checked, all, (opts.probe_joins, &opts.must_join), allowed)
}

fn choose_among(
    checked: &[&NetworkObs],
    all: &[NetworkObs],
    (joins, must_join): (usize, &[String]),
    allowed: bool,
) -> Vec<Chosen> {
    if !allowed || checked.len() <= joins {
        return vec![];
    }
    let mut networks_of: std::collections::HashMap<&str, usize> = Default::default();
    for e in all.iter().flat_map(|n| &n.endpoints) {
        *networks_of.entry(e.container_id.as_str()).or_default() += 1;
    }
    // The probe's own network: the first that leads out (not internal, with IPv4), so
    // that it has a default route, and reaches the host and the outside peer, as a
    // container of the user's would.
    let anchor = (checked.iter())
        .find(|n| !n.internal && n.subnet_v4().is_some())
        .or(checked.first())
        .map(|n| n.name.as_str());
    checked
        .iter()
        .filter(|n| Some(n.name.as_str()) != anchor)
        .filter(|n| !must_join.contains(&n.name))
        .filter_map(|n| {
            let e = (n.endpoints.iter())
                .filter(|e| networks_of[e.container_id.as_str()] == 1)
                .filter(|e| e.ipv4.is_some() && !e.container_name.starts_with(PROBE_PREFIX))
                .min_by(|a, b| a.container_name.cmp(&b.container_name))?;
            Some(Chosen {
                network: n.name.clone(),
                container_id: e.container_id.clone(),
                container_name: e.container_name.clone(),
            })
        })
        .collect()
}

/// A stand-in as the requests need it: its namespace (by pid) and its interface on
/// its network.
pub(super) struct Located<'a> {
    pub(super) network: &'a NetworkObs,
    pub(super) container: &'a ContainerObs,
    pub(super) pid: u32,
    pub(super) device: String,
    pub(super) addr_v4: Option<IpAddr>,
}

/// The chosen stand-ins whose namespace was read, with their interface on their
/// network; a container that left since it was chosen is passed over, and its network
/// goes untested by connections (the judges say so).
pub(super) fn locate<'a>(
    chosen: &[Chosen],
    networks: &'a [NetworkObs],
    containers: &'a [ContainerObs],
) -> Vec<Located<'a>> {
    chosen
        .iter()
        .filter_map(|s| {
            let network = networks.iter().find(|n| n.name == s.network)?;
            let e = (network.endpoints.iter()).find(|e| e.container_id == s.container_id)?;
            let container = containers.iter().find(|c| c.id == s.container_id)?;
            let link = container.interior.ok()?.link_by_mac(e.mac.as_deref()?)?;
            Some(Located {
                network,
                container,
                pid: container.pid?,
                device: link.name.clone(),
                addr_v4: e.ipv4.map(|a| a.addr()),
            })
        })
        .collect()
}

/// What the stand-ins were asked, as the snapshot keeps it: each its network's gateway
/// (a listener of netcheck's there, as the probe's), and its own name of the embedded
/// DNS server (user-defined networks). Made while the engine starts the probe.
pub(super) async fn observe(
    located: &[Located<'_>],
    host: Option<&NetnsObs>,
    teardown: &super::Teardown,
    timeout: Duration,
) -> (Vec<StandIn>, Vec<Request>) {
    let at_once = AT_ONCE;
    let mut asks = vec![];
    for s in located {
        let gateway = s.network.gateway_v4(host);
        let Some(l) = gateway.and_then(|gw| crate::net::listener::bind(gw).ok()) else {
            continue;
        };
        asks.push((s, l.addr));
        teardown.listeners.lock().unwrap().push(l);
    }
    let gateways = asks.iter().map(|(s, target)| {
        let purpose = Purpose::gateway(&s.network.name);
        in_netns::get_from(s.pid, &s.device, purpose, *target, timeout)
    });
    let lookups = located.iter().map(|s| async move {
        let name = s.container.name.clone();
        // The default bridge has no embedded DNS server; its resolver is the host's.
        if s.network.name == "bridge" {
            return None;
        }
        let pid = s.pid;
        // A thread of its own, never the runtime's blocking pool: it leaves the host's
        // namespace for good.
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || tx.send(lookup_in(pid, &name, timeout)));
        rx.await.ok()
    });
    // Both at once, each a few at a time: bridge.icc's isolation connections, made
    // beside, take what descriptors the limit leaves but these (`DESCRIPTORS`).
    let (requests, lookups) = tokio::join!(
        futures_util::stream::iter(gateways)
            .buffered(at_once)
            .collect::<Vec<_>>(),
        futures_util::stream::iter(lookups)
            .buffered(at_once)
            .collect::<Vec<_>>(),
    );
    let stand_ins = located
        .iter()
        .zip(lookups)
        .map(|(s, lookup)| {
            let (embedded_dns, unasked) = match lookup {
                Some(Err(e)) => (None, Some(e)),
                Some(Ok(l)) => (Some(l), None),
                None => (None, None),
            };
            StandIn {
                network: s.network.name.clone(),
                container_name: s.container.name.clone(),
                embedded_dns,
                unasked,
                replaced: None,
            }
        })
        .collect();
    (stand_ins, requests)
}

/// The embedded DNS server asked for `name`, from the namespace of `pid`: in a thread
/// that entered it, with a runtime of its own, so that every socket the resolver makes
/// is made there. The server is asked whatever the container's resolv.conf names: the
/// engine serves it in every user-defined network's namespace, and a container that
/// wrote its own resolv.conf (a VPN client's) chose that itself, which says nothing of
/// the network. An error is netcheck's own: its namespace could not be entered.
fn lookup_in(pid: u32, name: &str, timeout: Duration) -> Result<Lookup, String> {
    let entered = in_netns::enter_netns(pid).and_then(|()| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
    });
    let runtime = entered.map_err(|e| format!("entering its namespace: {e}"))?;
    Ok(runtime.block_on(crate::probe::embedded_lookup(
        name,
        Some(std::net::IpAddr::V4(crate::probe::EMBEDDED_DNS)),
        timeout,
    )))
}

/// Stand-ins asked at once, for their gateways and for their names.
const AT_ONCE: usize = 16;

/// The descriptors the stand-ins' requests hold at most: each lookup's thread holds
/// its namespace, its runtime's and its socket's; each gateway request two.
pub(super) const DESCRIPTORS: usize = AT_ONCE * 8;

#[cfg(test)]
mod tests {
    use super::*;

    fn network(name: &str, endpoints: &[(&str, &str)]) -> NetworkObs {
        let endpoints: Vec<_> = endpoints
            .iter()
            .enumerate()
            .map(|(i, (id, name))| {
                serde_json::json!({
                    "container_id": id, "container_name": name,
                    "ipv4": format!("10.9.{i}.2/24"), "mac": null
                })
            })
            .collect();
        serde_json::from_value(serde_json::json!({
            "id": name, "name": name, "driver": "bridge", "bridge": "br", "options": {},
            "ipam": [{"subnet": "10.9.0.0/16", "gateway": null}], "endpoints": endpoints,
            "internal": name.starts_with("internal"), "ip_masquerade": true,
            "enable_ipv6": false
        }))
        .unwrap()
    }

    /// The probe keeps the first network that leads out: with an internal network
    /// asked first, the probe still gets a default route, and the internal one a
    /// stand-in.
    #[test]
    fn the_probe_keeps_the_first_network_that_leads_out() {
        let all = vec![
            network("internal-a", &[("a", "alpha")]),
            network("n1", &[("b", "bravo")]),
            network("n2", &[("c", "charlie")]),
        ];
        let checked: Vec<&NetworkObs> = all.iter().collect();
        let chosen = choose_among(&checked, &all, (1, &[]), true);
        let networks: Vec<&str> = chosen.iter().map(|c| c.network.as_str()).collect();
        assert_eq!(networks, ["internal-a", "n2"]);
    }

    /// Past `joins` networks, each network but the first has as its stand-in the first
    /// container by name that is on it alone, not netcheck's; a network without one is
    /// the probe's.
    #[test]
    fn stand_ins_are_containers_on_one_network_alone_past_the_joins() {
        let all = vec![
            network("bridge", &[("a", "alpha")]),
            network("n1", &[("b", "zulu"), ("c", "bravo")]),
            // On n2 and n3 both: stands in for neither.
            network("n2", &[("d", "both")]),
            network("n3", &[("d", "both"), ("e", "netcheck-probe-abcde")]),
            network("n4", &[("f", "foxtrot")]),
        ];
        let checked: Vec<&NetworkObs> = all.iter().collect();
        let chosen = choose_among(&checked, &all, (3, &[]), true);
        let pairs: Vec<(&str, &str)> = (chosen.iter())
            .map(|c| (c.network.as_str(), c.container_name.as_str()))
            .collect();
        assert_eq!(pairs, [("n1", "bravo"), ("n4", "foxtrot")]);
        // Within the threshold, or where namespaces cannot be entered: none.
        assert!(choose_among(&checked, &all, (5, &[]), true).is_empty());
        assert!(choose_among(&checked, &all, (1, &[]), false).is_empty());
        // A network the suite's own checks run from is the probe's, past the joins too.
        let n4 = ["n4".to_string()];
        assert_eq!(choose_among(&checked, &all, (3, &n4), true).len(), 1);
    }
}
