//! The catalogue of causes: why a flow of a network was lost, asked of the kernel layer
//! by layer, in the order its packets cross them: the link and its route, the
//! neighbour entries, traffic control, netfilter's rules that redirect it, and
//! conntrack. Every check whose live flow failed names the first layer that holds a
//! cause (and the check that owns it), rather than guess at the firewall; the packet
//! trace, which each check reads for itself, comes after these.

use std::net::SocketAddr;

use super::{Context, sh};
use netcheck_model::snapshot::NetworkObs;

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

/// One named cause: what the kernel holds, in which layer, and its fix. A check that
/// reports a cause as its own finding names it with a code of its own (`Code`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cause {
    pub layer: Layer,
    /// The evidence, for a message: what holds the packets, by name.
    pub message: String,
    pub fix: String,
}

impl Cause {
    fn new(layer: Layer, message: String, fix: String) -> Cause {
        Cause {
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
/// a cause, and, after it, what every later layer it crossed holds too (a flow can meet
/// two faults; the first lost it, the next would have). Only for flows that failed: a
/// cause here is an explanation, not a verdict.
pub(crate) fn flow_lost(ctx: &Context, network: &str, to: Option<SocketAddr>) -> Option<Cause> {
    let n = ctx.snapshot.network(network)?;
    let layers = [
        link_and_route(ctx, n),
        marks::diverted(ctx, n, to),
        neighbour::lost(ctx, n),
        traffic_control(ctx, n),
        netfilter::redirected(ctx, n, to),
        netfilter::untracked(ctx, n, to),
    ];
    let mut causes = layers.into_iter().flatten();
    let mut first = causes.next()?;
    for later in causes {
        first.message = format!(
            "{}; the {} layer holds a cause too: {}",
            first.message,
            later.layer.name(),
            later.message
        );
        first.fix = format!("{}; then {}", first.fix, later.fix);
    }
    Some(first)
}

/// The network's bridge is missing or down, its gateway is not on it, or the host's
/// route to its containers leads elsewhere.
fn link_and_route(ctx: &Context, n: &NetworkObs) -> Option<Cause> {
    let host = &ctx.snapshot.host.ok()?.netns;
    let network = &n.name;
    let Some(br) = host.link_by_name(&n.bridge) else {
        return Some(Cause::new(
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
        return Some(Cause::new(Layer::Route, message, fix));
    }
    Some(Cause::new(
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

/// The host's links the run's flows of a network cross: its bridge, the host ends of its
/// containers' veths, and the link to the outside peer. Not the uplinks: no flow of the
/// run leaves by them, and what they drop of the host's other traffic is not its cause.
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
    if let Some(outside) = ctx.snapshot.probe.ok().and_then(|p| p.outside.ok()) {
        links.push(outside.host_link.as_str());
    }
    links
}

/// Why one failed request of `network` was lost, where the host shows it: the first
/// layer that holds a cause ([`flow_lost`]: the bridge, its route,
/// neighbour entries, traffic control, captures and conntrack exemptions that match
/// its destination). Checks whose probe request failed name it (and the check that
/// owns it) instead of guessing. Returns the cause and its fix.
pub(crate) fn request_lost(
    ctx: &Context,
    network: &str,
    r: &netcheck_model::snapshot::Request,
) -> Option<(String, String)> {
    let to = [r.addr.as_deref(), Some(r.target.as_str())]
        .into_iter()
        .flatten()
        .find_map(|t| t.parse::<std::net::SocketAddr>().ok());
    flow_lost(ctx, network, to).map(Cause::pair)
}

#[cfg(test)]
mod tests {
    use super::*;
    use netcheck_model::snapshot::{Observed, Snapshot, TcCounters, TcItem, TcObs};

    /// A flow lost to a conntrack exemption, on a bridge whose qdisc dropped packets
    /// too: traffic control comes first (it is crossed first), and the exemption is
    /// named after it.
    #[test]
    fn every_layer_that_holds_a_cause_is_named_in_the_order_crossed() {
        let text = include_str!("../../../../fixtures/fault-nat.masquerade-notrack.json");
        let mut snapshot = Snapshot::from_json(text).unwrap();
        let network = snapshot.networks[0].clone();
        let bridge = snapshot.network(&network).unwrap().bridge.clone();
        let Observed::Ok { value: host } = &mut snapshot.host else {
            panic!("the fixture observed the host");
        };
        host.traffic_control = Some(Observed::Ok {
            value: TcObs {
                items: vec![TcItem {
                    dev: bridge.clone(),
                    object: "qdisc".into(),
                    kind: "tbf".into(),
                    handle: "21:".into(),
                    parent: "root".into(),
                    before: Some(TcCounters::default()),
                    after: TcCounters {
                        packets: 9,
                        drops: 4,
                        overlimits: 4,
                    },
                }],
            },
        });
        let ctx = Context::new(&snapshot);
        let to = "198.18.0.2:80".parse().ok();
        let cause = flow_lost(&ctx, &network, to).unwrap();
        assert_eq!(cause.layer, Layer::TrafficControl);
        assert!(
            cause
                .message
                .starts_with("traffic control drops it: qdisc tbf 21:"),
            "{}",
            cause.message
        );
        assert!(
            cause
                .message
                .contains("; the conntrack layer holds a cause too: raw PREROUTING rule 1"),
            "{}",
            cause.message
        );
        assert!(
            cause.fix.contains("; then exclude Docker's subnet"),
            "{}",
            cause.fix
        );
    }
}
