//! bridge.subnet for the containers: each endpoint's address inside the subnet, not
//! shared, and configured inside its container.

use std::collections::BTreeMap;

use ipnet::IpNet;

use super::Code;
use crate::checks::{Context, Findings, Subject, sh};
use netcheck_model::snapshot::{EndpointObs, NetworkObs};

/// Every endpoint's address: inside the subnet, not shared, and configured inside its
/// container.
pub(super) fn endpoints_in_subnet(f: &mut Findings, ctx: &Context, n: &NetworkObs, subnet: IpNet) {
    let mut seen: BTreeMap<std::net::IpAddr, &str> = BTreeMap::new();
    for ep in &n.endpoints {
        let Some(ip) = ep.ipv4 else {
            f.note(format!(
                "{}: no IPv4 address on {}",
                ep.container_name, n.name
            ));
            continue;
        };
        if !subnet.contains(&ip.addr()) {
            f.fail_at(
                Code::EndpointOutsideSubnet,
                Subject::container(&ep.container_name),
                format!(
                    "container {} has {} on {}, outside {}",
                    ep.container_name, ip, n.name, subnet
                ),
                reconnect(n, ep),
            );
            continue;
        }
        if let Some(first) = seen.insert(ip.addr(), &ep.container_name) {
            f.fail_at(
                Code::DuplicateAddress,
                Subject::network(&n.name),
                format!(
                    "containers {first} and {} share {} on {}",
                    ep.container_name,
                    ip.addr(),
                    n.name
                ),
                "restart one of them so that IPAM assigns a fresh address",
            );
            continue;
        }
        configured_inside(f, ctx, ep, ip);
    }
}

/// Whether the container's interface with the endpoint's MAC carries the address the
/// engine assigned; where the inside was not observed, the engine's view passes.
fn configured_inside(f: &mut Findings, ctx: &Context, ep: &EndpointObs, ip: IpNet) {
    let interior = ctx
        .snapshot
        .container(&ep.container_id)
        .map(|c| &c.interior);
    let (Some(ns), Some(mac)) = (interior.and_then(|i| i.ok()), ep.mac.as_deref()) else {
        f.pass(format!(
            "{}: {} (engine view; inside not observed: {})",
            ep.container_name,
            ip,
            interior.and_then(|i| i.why_missing()).unwrap_or("no MAC")
        ));
        return;
    };
    let restart = format!(
        "restart the container: docker restart {}",
        sh(&ep.container_name)
    );
    match ns.link_by_mac(mac) {
        Some(l) if ns.addrs_of(l.index).any(|a| a.addr() == ip.addr()) => f.pass(format!(
            "{}: {} {} (as assigned)",
            ep.container_name, l.name, ip
        )),
        Some(l) => f.fail_at(
            Code::AddressNotConfigured,
            Subject::container(&ep.container_name),
            format!(
                "container {}'s {} does not carry its assigned {} (has: {})",
                ep.container_name,
                l.name,
                ip,
                ns.addrs_of(l.index)
                    .map(|a| a.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            restart,
        ),
        None => f.fail_at(
            Code::NoInterface,
            Subject::container(&ep.container_name),
            format!(
                "container {} has no interface with its endpoint's MAC {mac}",
                ep.container_name
            ),
            restart,
        ),
    }
}

/// The fix for an endpoint outside its network's subnet.
pub(super) fn reconnect(n: &NetworkObs, ep: &EndpointObs) -> String {
    format!(
        "reconnect it: docker network disconnect {0} {1} && docker network connect {0} {1}",
        sh(&n.name),
        sh(&ep.container_name)
    )
}
