//! The catalogue of causes: why a flow of a network was lost, asked of the kernel layer
//! by layer, in the order its packets cross them: the link and its route, the
//! neighbour entries, traffic control, netfilter's rules that redirect it, and
//! conntrack. Every check whose live flow failed names the first layer that holds a
//! cause (and the check that owns it), rather than guess at the firewall; the packet
//! trace, which each check reads for itself, comes after these.

use std::net::SocketAddr;

use super::{Context, sh};
use crate::snapshot::NetworkObs;

mod marks;
mod neighbour;
mod netfilter;

pub(crate) use neighbour::pinned_wrong;
pub(crate) use netfilter::untracked;

/// The layer of the kernel that holds a cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layer {
    Link,
    Route,
    Neighbour,
    TrafficControl,
    Netfilter,
    Conntrack,
}

impl Layer {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Layer::Link => "link",
            Layer::Route => "route",
            Layer::Neighbour => "neighbour",
            Layer::TrafficControl => "traffic control",
            Layer::Netfilter => "netfilter",
            Layer::Conntrack => "conntrack",
        }
    }
}

/// One named cause: what the kernel holds, in which layer, and its fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cause {
    /// A stable code, as findings carry: `qdisc-dropped`, `neighbour-pinned`.
    pub code: &'static str,
    pub layer: Layer,
    /// The evidence, for a message: what holds the packets, by name.
    pub message: String,
    pub fix: String,
}

impl Cause {
    fn new(code: &'static str, layer: Layer, message: String, fix: String) -> Cause {
        Cause {
            code,
            layer,
            message,
            fix,
        }
    }

    /// As the older `(cause, fix)` pairs of the checks.
    pub(crate) fn pair(self) -> (String, String) {
        (self.message, self.fix)
    }
}

/// Why a flow of `network` (to `to`, where known) was lost: the first layer that holds
/// a cause. Only for flows that failed: a cause here is an explanation, not a verdict.
pub(crate) fn flow_lost(ctx: &Context, network: &str, to: Option<SocketAddr>) -> Option<Cause> {
    let n = ctx.snapshot.network(network)?;
    link_and_route(ctx, n)
        .or_else(|| marks::diverted(ctx, n, to))
        .or_else(|| neighbour::lost(ctx, n))
        .or_else(|| traffic_control(ctx, n))
        .or_else(|| netfilter::redirected(ctx, n, to))
        .or_else(|| netfilter::untracked(ctx, n, to))
}

/// The network's bridge is missing or down, its gateway is not on it, or the host's
/// route to its containers leads elsewhere.
fn link_and_route(ctx: &Context, n: &NetworkObs) -> Option<Cause> {
    let host = &ctx.snapshot.host.ok()?.netns;
    let network = &n.name;
    let Some(br) = host.link_by_name(&n.bridge) else {
        return Some(Cause::new(
            "bridge-missing",
            Layer::Link,
            format!(
                "bridge {} of {network} does not exist (see bridge.veth)",
                n.bridge
            ),
            "systemctl restart docker recreates it".into(),
        ));
    };
    if !br.up {
        return Some(Cause::new(
            "bridge-down",
            Layer::Link,
            format!("bridge {} of {network} is down (see bridge.veth)", n.bridge),
            format!("ip link set {} up", sh(&n.bridge)),
        ));
    }
    let subnet = n.subnet_v4()?;
    let gw = n
        .ipam
        .iter()
        .filter_map(|c| c.gateway)
        .find(|g| subnet.contains(g));
    let carried = host
        .addrs_of(br.index)
        .any(|a| gw.map_or(subnet.contains(&a.addr()), |g| a.addr() == g));
    if carried {
        let (message, fix) = super::routing::captured(ctx, n)?;
        return Some(Cause::new("route-captured", Layer::Route, message, fix));
    }
    Some(Cause::new(
        "gateway-not-on-bridge",
        Layer::Route,
        format!(
            "the gateway{} of {network} is not on bridge {} (see container.default-route)",
            gw.map(|g| format!(" {g}")).unwrap_or_default(),
            n.bridge
        ),
        format!(
            "ip addr add {}/{} dev {} (or systemctl restart docker)",
            gw.map(|g| g.to_string())
                .unwrap_or_else(|| "<gateway>".into()),
            subnet.prefix_len(),
            sh(&n.bridge)
        ),
    ))
}

/// A qdisc or class on the network's path (its bridge, its containers' host ends, the
/// uplinks) that dropped packets while the run's flows crossed it. A shaper that is
/// merely there drops nothing, and is no cause.
fn traffic_control(ctx: &Context, n: &NetworkObs) -> Option<Cause> {
    let host = ctx.snapshot.host.ok()?;
    let tc = host.traffic_control.as_ref()?.ok()?;
    let path = path_links(ctx, n);
    let worst = tc
        .items
        .iter()
        .filter(|i| path.contains(&i.dev.as_str()) && i.dropped_during() > 0)
        .max_by_key(|i| i.dropped_during())?;
    Some(Cause::new(
        "qdisc-dropped",
        Layer::TrafficControl,
        format!(
            "traffic control drops it: {} dropped {} packet(s) during the run's flows ({} over its limit in all), \
             before netfilter sees them",
            worst.describe(),
            worst.dropped_during(),
            worst.after.overlimits
        ),
        format!(
            "see it: tc -s {} show dev {}; if it is a leftover shaper or chaos tool, remove it: tc qdisc del dev {} {}",
            worst.object,
            sh(&worst.dev),
            sh(&worst.dev),
            if worst.parent == "ingress" {
                "ingress"
            } else {
                "root"
            }
        ),
    ))
}

/// The host's links a network's flows cross: its bridge, the host ends of its
/// containers' veths, and the uplinks.
fn path_links<'a>(ctx: &'a Context, n: &'a NetworkObs) -> Vec<&'a str> {
    let Some(host) = ctx.snapshot.host.ok() else {
        return vec![];
    };
    let ns = &host.netns;
    let mut links = vec![n.bridge.as_str()];
    if let Some(br) = ns.link_by_name(&n.bridge) {
        links.extend(
            ns.links
                .iter()
                .filter(|l| l.master == Some(br.index))
                .map(|l| l.name.as_str()),
        );
    }
    links.extend(ns.uplinks().into_iter().map(|l| l.name.as_str()));
    links
}
