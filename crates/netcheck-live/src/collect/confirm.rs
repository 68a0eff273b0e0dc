//! A stand-in's failure, confirmed from the probe. A stand-in is a container of the
//! user's: rules inside it (a VPN client's kill switch, a firewall of its own) can drop
//! what netcheck asks from its namespace, and a network would be blamed for them. So
//! where a stand-in could not reach its gateway or its own name, the probe joins that
//! network now, and speaks for it instead: the gateway is asked again from the probe's
//! namespace, and the rest (the outside peer, icc) is asked of the probe there. Failures
//! are rare, so this costs a join only where something is wrong.

use std::net::SocketAddr;

use bollard::Docker;
use bollard::models::NetworkConnectRequest;

use super::early::Early;
use super::stand_ins::Chosen;
use crate::net::in_netns;
use netcheck_model::protocol::{ErrorKind, Purpose};
use netcheck_model::snapshot::{ContainerObs, NetworkObs, Observed, ProbeObs, Request};

/// The networks the probe is on now: `joined`, and those it joined here because its
/// stand-in failed there. Those stand-ins leave `chosen` and `early`'s requests, each
/// recorded with why the probe took over (`StandIn::replaced`), and the gateway targets
/// they had go to `early.requests.rejoined`, for the probe to ask.
pub(super) async fn rejoin(
    docker: &Docker,
    probe: &Observed<ProbeObs>,
    early: &mut Early,
    mut joined: Vec<String>,
    chosen: &mut Vec<Chosen>,
) -> Vec<String> {
    let Observed::Ok { value: probe } = probe else {
        return joined;
    };
    let (stand_ins, requests) = &mut early.requests.stand_ins;
    let unreached = |purpose: &Purpose| {
        (requests.iter())
            .find(|r| r.purpose == *purpose && !r.ok && r.error_kind() != Some(ErrorKind::Setup))
    };
    for s in stand_ins.iter_mut() {
        let gateway = unreached(&Purpose::gateway(&s.network));
        let dns = s.embedded_dns.as_ref().filter(|l| l.addrs.is_empty());
        let why = match (gateway, dns) {
            (Some(r), _) => format!(
                "it could not reach its gateway ({})",
                r.error.as_deref().unwrap_or("no answer")
            ),
            (None, Some(l)) => format!(
                "its embedded DNS server did not answer ({})",
                l.error.as_deref().unwrap_or("no address")
            ),
            (None, None) => continue,
        };
        let target = gateway.and_then(|r| r.addr.as_deref()?.parse::<SocketAddr>().ok());
        let connect = NetworkConnectRequest {
            container: probe.container_name.clone(),
            endpoint_config: None,
        };
        if docker.connect_network(&s.network, connect).await.is_err() {
            // The stand-in's findings stand, with their caveat.
            continue;
        }
        joined.push(s.network.clone());
        chosen.retain(|c| c.network != s.network);
        if let Some(target) = target {
            early.requests.rejoined.push((s.network.clone(), target));
        }
        s.replaced = Some(why);
    }
    let replaced: Vec<String> = (stand_ins.iter())
        .filter(|s| s.replaced.is_some())
        .map(|s| s.network.clone())
        .collect();
    requests.retain(
        |r| !matches!(&r.purpose, Purpose::Gateway { network } if replaced.contains(network)),
    );
    joined
}

/// The gateway requests of the networks the probe joined late (`rejoined`: each with
/// its gateway listener), from the probe's own namespace, read again since it joined
/// them; the probe's report takes that namespace, so that the judges and the requests
/// after these see its interfaces there.
pub(super) async fn from_the_probe(
    probe: &mut ProbeObs,
    networks: &[NetworkObs],
    containers: &[ContainerObs],
    rejoined: &[(String, SocketAddr)],
    timeout: std::time::Duration,
) -> Vec<Request> {
    let Some(c) = containers.iter().find(|c| c.probe) else {
        return vec![];
    };
    let (Some(pid), Some(ns)) = (c.pid, c.interior.ok()) else {
        return vec![];
    };
    probe.report.netns = ns.clone();
    let asks = rejoined.iter().filter_map(|(network, target)| {
        let n = networks.iter().find(|n| n.name == *network)?;
        let e = (n.endpoints.iter()).find(|e| e.container_name == probe.container_name)?;
        let device = ns.link_by_mac(e.mac.as_deref()?)?.name.clone();
        Some(async move {
            in_netns::get_from(pid, &device, Purpose::gateway(network), *target, timeout).await
        })
    });
    futures_util::future::join_all(asks).await
}
