//! Routing as the kernel decides it, for `bridge.subnet` and `link.mtu`: the kernel's
//! answers to route lookups (collected per network), explained by `ip rule` and the
//! policy tables, with the main table as the fallback for snapshots without them.

use super::Findings;
use netcheck_model::snapshot::{
    HostObs, LookupPath, NetworkObs, Observed, RouteLookup, RoutingObs, TABLE_MAIN, table_name,
};

pub(crate) const CAPTURE_FIX: &str = "a policy rule and its table take Docker's subnet away from the bridge \
(a VPN: Tailscale's table 52, wg-quick's 51820): move the network off the VPN's range \
(docker network create --subnet, \"default-address-pools\" in /etc/docker/daemon.json), or \
stop the VPN from routing it (Tailscale: do not accept a subnet route over it; WireGuard: \
AllowedIPs without it)";

/// The kernel's routing answers of the snapshot, or the note that says why the main
/// table alone is read.
pub(crate) fn observed<'a>(f: &mut Findings, host: &'a HostObs) -> Option<&'a RoutingObs> {
    match &host.routing {
        Some(Observed::Ok { value }) => Some(value),
        None => {
            f.note(
                "no kernel route lookups in this snapshot (taken by an older netcheck): \
                 routes judged from the main table alone",
            );
            None
        }
        Some(other) => {
            f.note(format!(
                "kernel route lookups failed ({}): routes judged from the main table alone",
                other.why_missing().unwrap_or("")
            ));
            None
        }
    }
}

/// The rule that picked an answer's table, as `ip rule` prints it.
fn rule_text(routing: &RoutingObs, l: &RouteLookup) -> Option<String> {
    let r = l.route.as_ref()?;
    let rule = routing.rule(l.to.is_ipv6(), r.rule?)?;
    Some(format!("rule \"{}\"", rule.describe()))
}

/// `rule "5270: from all lookup 52" picks table 52, route 172.20.0.0/16 dev wg0`.
pub(crate) fn explain(routing: &RoutingObs, l: &RouteLookup) -> String {
    let Some(r) = &l.route else {
        return format!(
            "the kernel answers: {}",
            l.error.as_deref().unwrap_or("no route")
        );
    };
    let route = format!(
        "route {}{}",
        r.matched.map(|m| format!("{m} ")).unwrap_or_default(),
        r.oif
            .as_deref()
            .map(|o| format!("dev {o}"))
            .unwrap_or_default()
    );
    match rule_text(routing, l) {
        Some(rule) => format!("{rule} picks table {}, {route}", table_name(r.table)),
        None => format!("table {}, {route}", table_name(r.table)),
    }
}

/// Where a network's traffic leaves the host, as the kernel routes it: its egress
/// answers (IPv4, and IPv6 where enabled), the one with the smallest MTU.
pub(crate) fn egress<'a>(routing: &'a RoutingObs, n: &NetworkObs) -> Option<&'a RouteLookup> {
    routing
        .lookups
        .iter()
        .filter(|l| l.network == n.name && l.path == LookupPath::Egress)
        .filter(|l| {
            l.route
                .as_ref()
                .is_some_and(|r| r.oif.is_some() && r.mtu.is_some())
        })
        .min_by_key(|l| l.route.as_ref().and_then(|r| r.mtu))
}

/// `rule "5000: iif br-x lookup 1380" picks table 1380`: why the egress leaves where it
/// does, for a message; None where the main table decided.
pub(crate) fn policy(routing: &RoutingObs, l: &RouteLookup) -> Option<String> {
    let r = l.route.as_ref()?;
    if r.table == TABLE_MAIN {
        return None;
    }
    Some(match rule_text(routing, l) {
        Some(rule) => format!("{rule} picks table {}", table_name(r.table)),
        None => format!("table {} routes it", table_name(r.table)),
    })
}

/// A lookup as evidence.
pub(crate) fn describe(l: &RouteLookup) -> String {
    format!(
        "kernel, {} path: {} -> {}",
        path_name(l.path),
        l.describe_packet(),
        l.describe_answer()
    )
}

fn path_name(p: LookupPath) -> &'static str {
    match p {
        LookupPath::Egress => "egress",
        LookupPath::Return => "return",
        LookupPath::Host => "host",
    }
}

/// For checks whose requests failed: the host's packets to the network's containers
/// leave by another interface than its bridge (bridge.subnet names the rule). Returns
/// the cause and its fix, as `request_lost` does.
pub(crate) fn captured(ctx: &super::Context, n: &NetworkObs) -> Option<(String, String)> {
    let Some(Observed::Ok { value: routing }) = &ctx.snapshot.host.ok()?.routing else {
        return None;
    };
    let l = routing.lookup(&n.name, LookupPath::Host, false)?;
    let oif = l.route.as_ref()?.oif.as_deref()?;
    (oif != n.bridge).then(|| {
        (
            format!(
                "the host's packets to {} of {} leave by {oif}, not bridge {} (see bridge.subnet)",
                l.to, n.name, n.bridge
            ),
            format!("{CAPTURE_FIX}; see it: ip route get {}", l.to),
        )
    })
}
