//! The neighbour layer: ARP and NDP entries that send a network's packets to the wrong
//! link-layer address (pinned by hand or by a tool, never corrected by the kernel), or
//! that say a gateway did not answer.

use super::{Cause, Context, Layer, sh};
use netcheck_model::snapshot::{NeighbourObs, NetnsObs, NetworkObs};

/// Every pinned (PERMANENT or NOARP) neighbour entry for an address of the network
/// whose link-layer address is not that interface's: on the host's bridge for a
/// container's address, and inside each container for its gateway or another
/// container's address.
pub(crate) fn pinned_wrong(ctx: &Context, n: &NetworkObs) -> Vec<Cause> {
    let mut out = vec![];
    let Some(host) = ctx.snapshot.host.ok().map(|h| &h.netns) else {
        return out;
    };
    let Some(br) = host.link_by_name(&n.bridge) else {
        return out;
    };
    // Each address of the network, with the MAC that owns it.
    let mut owners: Vec<(std::net::IpAddr, String, String)> = vec![];
    for ep in &n.endpoints {
        let Some(mac) = ep.mac.clone() else { continue };
        for ip in [ep.ipv4.map(|a| a.addr()), ep.ipv6.map(|a| a.addr())]
            .into_iter()
            .flatten()
        {
            owners.push((ip, mac.clone(), format!("{}'s", ep.container_name)));
        }
    }
    if let Some(mac) = &br.mac {
        for gw in [n.gateway_v4(Some(host)), n.gateway_v6(Some(host))]
            .into_iter()
            .flatten()
        {
            owners.push((gw, mac.clone(), "the gateway".into()));
        }
    }
    let wrong = |ns: &NetnsObs, index: u32, e: &NeighbourObs| -> Option<(String, String)> {
        if e.index != index || !e.pinned() {
            return None;
        }
        let (_, mac, whose) = owners.iter().find(|(ip, _, _)| *ip == e.addr)?;
        let ll = e.lladdr.as_deref().unwrap_or("none");
        (!ll.eq_ignore_ascii_case(mac)).then(|| {
            (
                format!(
                    "{} lladdr {ll} {} on {}, but {whose} {} is at {mac}",
                    e.addr,
                    e.state.to_uppercase(),
                    ns.link_name(index),
                    e.addr
                ),
                ns.link_name(index),
            )
        })
    };
    for e in &host.neighbours {
        if let Some((entry, dev)) = wrong(host, br.index, e) {
            out.push(Cause::new(
                Layer::Neighbour,
                format!(
                    "the host's neighbour entry {entry}: its packets to that address go astray"
                ),
                format!("ip neigh del {} dev {}", e.addr, sh(&dev)),
            ));
        }
    }
    for ep in &n.endpoints {
        let who = &ep.container_name;
        let interior = match ctx.snapshot.container(&ep.container_id) {
            Some(c) if c.probe => ctx.snapshot.probe.ok().map(|p| &p.report.netns),
            Some(c) => c.interior.ok(),
            None => None,
        };
        let Some(ns) = interior else { continue };
        let Some(iface) = ep.mac.as_deref().and_then(|m| ns.link_by_mac(m)) else {
            continue;
        };
        for e in &ns.neighbours {
            if let Some((entry, dev)) = wrong(ns, iface.index, e) {
                out.push(Cause::new(
                    Layer::Neighbour,
                    format!("container {who}'s neighbour entry {entry}: its packets to that address go astray"),
                    format!(
                        "docker exec {} ip neigh del {} dev {}   (or from the host: nsenter -t PID -n ip neigh del …), \
                         or docker restart {}",
                        sh(who),
                        e.addr,
                        sh(&dev),
                        sh(who)
                    ),
                ));
            }
        }
    }
    out
}

/// For a flow that failed: a pinned entry with a wrong address, else a FAILED or
/// INCOMPLETE entry for the gateway inside the probe (the gateway did not answer ARP).
pub(super) fn lost(ctx: &Context, n: &NetworkObs) -> Option<Cause> {
    if let Some(c) = pinned_wrong(ctx, n).into_iter().next() {
        return Some(c);
    }
    let probe = ctx.snapshot.probe.ok()?;
    let host = ctx.snapshot.host.ok().map(|h| &h.netns);
    let gw = n.gateway_v4(host)?;
    let ns = &probe.report.netns;
    let failed = ns
        .neighbours
        .iter()
        .find(|e| e.addr == gw && matches!(e.state.as_str(), "failed" | "incomplete"))?;
    Some(Cause::new(
        Layer::Neighbour,
        format!(
            "the probe's neighbour entry for the gateway {gw} on {} is {}: the gateway does not answer ARP",
            ns.link_name(failed.index),
            failed.state.to_uppercase()
        ),
        format!(
            "see what stops the host answering ARP on {}: sysctl {} {}, and arptables or nft's arp family",
            sh(&n.bridge),
            sh(&format!("net.ipv4.conf.{}.arp_ignore", n.bridge)),
            sh(&format!("net.ipv4.conf.{}.arp_filter", n.bridge)),
        ),
    ))
}
