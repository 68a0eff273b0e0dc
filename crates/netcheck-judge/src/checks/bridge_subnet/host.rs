//! bridge.subnet on the host's side: the bridge carries the gateway, and no host route
//! or other interface claims the subnet.

use ipnet::IpNet;

use super::Code;
use super::overlaps;
use crate::checks::engine_rules::GatewayMode;
use crate::checks::{Findings, Subject, describe_link, routing, sh};
use netcheck_model::snapshot::{HostObs, LinkObs, NetnsObs, NetworkObs, TABLE_MAIN};

/// The fix for a bridge that is gone: the engine recreates it when it starts.
const RESTART_FOR_BRIDGE: &str =
    "restart the Docker daemon so that it recreates the bridge: systemctl restart docker";

/// The fix for a host route over a Docker subnet.
const ROUTE_OVER_SUBNET_FIX: &str = "a VPN or LAN route covers Docker's subnet, so replies to \
     containers go astray: move Docker's pools away (\"default-address-pools\" in \
     /etc/docker/daemon.json) or recreate the network with --subnet outside the route";

/// The host's side: the bridge carries the gateway, no other route or interface claims
/// the subnet, policy routing leaves it alone, and no network manager touched it.
pub(super) fn on_the_host(
    f: &mut Findings,
    host: &HostObs,
    n: &NetworkObs,
    subnet: IpNet,
    docker_bridges: &[&str],
) {
    let ns = &host.netns;
    let Some(br) = ns.link_by_name(&n.bridge) else {
        f.fail_at(
            Code::BridgeMissing,
            Subject::interface(&n.bridge),
            format!(
                "bridge {} of network {} does not exist on the host",
                n.bridge, n.name
            ),
            RESTART_FOR_BRIDGE,
        );
        return;
    };
    let carries_subnet = bridge_carries_gateway(f, ns, n, br, subnet);
    routes_overlapping(f, ns, n, subnet, docker_bridges);
    addresses_overlapping(f, ns, n, br, subnet, docker_bridges);
    // Where the bridge is sound, the kernel's own answers say whether policy routing
    // takes its subnet elsewhere.
    if let Some(r) = routing::observed(f, host)
        && carries_subnet
    {
        super::routing::judge_capture(f, r, ns, n, subnet, docker_bridges);
    }
    super::manager::judge_manager_leftovers(f, ns, n, br);
}

/// Whether the bridge carries an address in the subnet; a failure when it carries none,
/// or not the IPAM gateway.
fn bridge_carries_gateway(
    f: &mut Findings,
    ns: &NetnsObs,
    n: &NetworkObs,
    br: &LinkObs,
    subnet: IpNet,
) -> bool {
    let inside: Vec<IpNet> = ns
        .addrs_of(br.index)
        .filter(|a| subnet.contains(&a.addr()))
        .collect();
    let ipam_gw = n
        .ipam
        .iter()
        .filter_map(|c| c.gateway)
        .find(|g| subnet.contains(g));
    if inside.is_empty() && GatewayMode::of(n, false) == GatewayMode::Isolated {
        // Docker 28.2 and later: an internal network in gateway mode `isolated` has no
        // gateway, so its bridge carries no address on purpose.
        f.note(format!(
            "bridge {} carries no address in {subnet}: {} gives the network no gateway, by design",
            n.bridge,
            GatewayMode::Isolated.option(false)
        ));
        return false;
    }
    if inside.is_empty() {
        f.fail_at(
            Code::BridgeWithoutAddress,
            Subject::interface(&n.bridge),
            format!(
                "bridge {} carries no address in {} (network {})",
                n.bridge, subnet, n.name
            ),
            format!(
                "give the bridge its gateway back: ip addr add {}/{} dev {} (or restart docker)",
                ipam_gw
                    .map(|g| g.to_string())
                    .unwrap_or_else(|| "<gateway>".into()),
                subnet.prefix_len(),
                sh(&n.bridge)
            ),
        );
    } else if let Some(gw) = ipam_gw.filter(|g| !inside.iter().any(|a| a.addr() == *g)) {
        f.fail_at(
            Code::BridgeGatewayMismatch,
            Subject::interface(&n.bridge),
            format!(
                "bridge {} carries {} but the IPAM gateway of {} is {gw}",
                n.bridge, inside[0], n.name
            ),
            format!(
                "ip addr add {gw}/{} dev {} (or restart docker)",
                subnet.prefix_len(),
                sh(&n.bridge)
            ),
        );
    } else {
        f.pass(format!("bridge {}", describe_link(ns, br.index)));
    }
    !inside.is_empty()
}

/// Host routes of the main table that cover part of the subnet through an interface
/// that is not a Docker bridge: the classic VPN clash.
fn routes_overlapping(
    f: &mut Findings,
    ns: &NetnsObs,
    n: &NetworkObs,
    subnet: IpNet,
    docker_bridges: &[&str],
) {
    // Split-default routes (0.0.0.0/1 and 128.0.0.0/1 from a VPN client, or anything
    // wider than /8) stand in for a default route: the bridge's own, longer route wins
    // for its subnet, so they clash with nothing.
    let main_routes = ns
        .routes
        .iter()
        .filter(|r| r.table == TABLE_MAIN && r.dst.prefix_len() >= 8);
    for r in main_routes {
        let dev = r.oif.map(|i| ns.link_name(i)).unwrap_or_default();
        if overlaps(&r.dst, &subnet) && !docker_bridges.contains(&dev.as_str()) {
            // A blackhole, unreachable or prohibit route has no device: its type is
            // what it does to the subnet's traffic, so it is what the message names.
            let what = match (&r.kind, dev.as_str()) {
                (Some(kind), "") => format!("{kind} {}", r.dst),
                (Some(kind), dev) => format!("{kind} {} dev {dev}", r.dst),
                (None, dev) => format!("{} dev {dev}", r.dst),
            };
            f.fail_at(
                Code::OverlapsRoute,
                Subject::Route {
                    destination: r.dst.to_string(),
                    table: Some(r.table),
                },
                format!(
                    "host route {what} overlaps {} of network {}",
                    subnet, n.name
                ),
                match &r.kind {
                    // Nothing routes the subnet anywhere: it is dropped, not sent astray.
                    Some(kind) => format!(
                        "a {kind} route drops the traffic to Docker's subnet: delete it (ip route del {kind} {}), \
                         and find what adds it (a VPN's kill switch, a script); else move Docker's subnet away",
                        r.dst
                    ),
                    None => ROUTE_OVER_SUBNET_FIX.to_string(),
                },
            );
        }
    }
}

/// Addresses inside the subnet on host interfaces other than the Docker bridges.
fn addresses_overlapping(
    f: &mut Findings,
    ns: &NetnsObs,
    n: &NetworkObs,
    br: &LinkObs,
    subnet: IpNet,
    docker_bridges: &[&str],
) {
    let elsewhere = ns
        .addrs
        .iter()
        .filter(|a| a.index != br.index && subnet.contains(&a.addr.addr()));
    for a in elsewhere {
        let dev = ns.link_name(a.index);
        if !docker_bridges.contains(&dev.as_str()) {
            f.fail_at(
                Code::OverlapsHostAddress,
                Subject::interface(&dev),
                format!(
                    "host interface {dev} carries {}, inside {} of network {}",
                    a.addr, subnet, n.name
                ),
                format!(
                    "remove the address (ip addr del {} dev {}) or move Docker's subnet away",
                    a.addr,
                    sh(&dev)
                ),
            );
        }
    }
}
