//! Which failed flows to trace: those that nothing but a firewall should stop.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use netcheck_model::protocol::Purpose;
use netcheck_model::snapshot::{ContainerObs, NetworkObs, ProbeObs};

use super::{Origin, Replay};

/// The flows that failed and that nothing but a firewall should stop: the probe's own
/// requests (outside peer, gateways, host.docker.internal, hairpin), the host's to the
/// published port, the egress from each network, and icc where it is on. Isolation
/// requests are meant to fail, and are not traced.
pub fn failed_flows(
    probe: &ProbeObs,
    networks: &[NetworkObs],
    containers: &[ContainerObs],
    timeout: Duration,
) -> Vec<Replay> {
    let ns = &probe.report.netns;
    let Some(probe_pid) = containers.iter().find(|c| c.probe).and_then(|c| c.pid) else {
        return vec![];
    };
    // The probe's interface toward an address: the one whose subnet holds it, else the
    // default route's, as the kernel would pick.
    let device_for = |ip: IpAddr| {
        ns.addrs
            .iter()
            .find(|a| a.addr.contains(&ip) && !a.addr.addr().is_loopback())
            .map(|a| a.index)
            .or_else(|| ns.default_routes_v4().find_map(|r| r.oif))
            .and_then(|i| ns.link(i))
            .map(|l| l.name.clone())
    };
    let on_network = |n: &NetworkObs, name: &str, c: &ContainerObs| {
        let ep = n.endpoints.iter().find(|e| e.container_name == name)?;
        let interior = if c.probe { Some(ns) } else { c.interior.ok() };
        Some(interior?.link_by_mac(ep.mac.as_deref()?)?.name.clone())
    };
    let probe_behind = |n: &NetworkObs| {
        n.endpoints
            .iter()
            .find(|e| e.container_name == probe.container_name)
            .and_then(|e| e.ipv4)
            .map(|a| SocketAddr::new(a.addr(), crate::collect::PROBE_PORT))
    };
    let first_net = probe.published.first().and(networks.iter().find(|n| {
        n.endpoints
            .iter()
            .any(|e| e.container_name == probe.container_name)
    }));
    let mut flows = vec![];
    let failed = probe
        .report
        .requests
        .iter()
        .map(|r| (r, true))
        .chain(probe.host_requests.iter().map(|r| (r, false)))
        .filter(|(r, _)| !r.ok);
    for (r, from_probe) in failed {
        let Some(target) = r.addr.as_deref().and_then(|a| a.parse::<SocketAddr>().ok()) else {
            continue;
        };
        let mut also = vec![];
        let source = if from_probe {
            if r.purpose == Purpose::Hairpin {
                also.extend(first_net.and_then(probe_behind));
            }
            let Some(device) = device_for(target.ip()) else {
                continue;
            };
            Origin::Netns {
                pid: probe_pid,
                device,
            }
        } else if let Purpose::Publish { .. } = r.purpose {
            also.extend(first_net.and_then(probe_behind));
            Origin::Host
        } else if let Purpose::OutsideFrom { network }
        | Purpose::OutsideV6From { network }
        | Purpose::Gateway { network } = &r.purpose
        {
            // From the probe's interface on the network, or from its stand-in's there.
            let Some(n) = networks.iter().find(|n| n.name == *network) else {
                continue;
            };
            let Some(who) = probe.vantage(n).map(|v| v.container_name) else {
                continue;
            };
            let Some(c) = containers.iter().find(|c| c.name == who) else {
                continue;
            };
            let (Some(pid), Some(device)) = (c.pid, on_network(n, who, c)) else {
                continue;
            };
            Origin::Netns { pid, device }
        } else if let Purpose::Icc { network, from: who } = &r.purpose {
            let Some(n) = networks.iter().find(|n| n.name == *network) else {
                continue;
            };
            if n.icc_disabled() {
                continue;
            }
            let Some(c) = containers.iter().find(|c| c.name == *who) else {
                continue;
            };
            let (Some(pid), Some(device)) = (c.pid, on_network(n, who, c)) else {
                continue;
            };
            Origin::Netns { pid, device }
        } else {
            continue;
        };
        flows.push(Replay {
            purpose: r.purpose.clone(),
            source,
            target,
            also,
            timeout,
        });
    }
    flows
}
