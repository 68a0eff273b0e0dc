//! bridge.subnet's routing half: the kernel's answers for the network's addresses must
//! leave by its bridge, and no policy table consulted before main may claim part of it.

use ipnet::IpNet;

use super::{Code, overlaps};
use crate::checks::routing::{CAPTURE_FIX, describe, explain};
use crate::checks::{Findings, Subject};
use netcheck_model::snapshot::{
    LookupPath, NetnsObs, NetworkObs, RouteLookup, RoutingObs, RuleObs, TABLE_DEFAULT, TABLE_LOCAL,
    TABLE_MAIN, table_name,
};

/// bridge.subnet's routing half: the host's packets to the network's containers, and
/// the answers to their traffic from outside, must leave by the network's bridge.
pub(super) fn judge_capture(
    f: &mut Findings,
    routing: &RoutingObs,
    ns: &NetnsObs,
    n: &NetworkObs,
    subnet: IpNet,
    docker_bridges: &[&str],
) {
    for l in routing.lookups.iter().filter(|l| l.network == n.name) {
        f.note(describe(l));
    }
    let mut captured_tables = vec![];
    for v6 in [false, true] {
        let mut reported_oif = None;
        for path in [LookupPath::Host, LookupPath::Return] {
            let Some(l) = routing.lookup(&n.name, path, v6) else {
                continue;
            };
            // A refused answer on the return path is source validation (rp_filter)
            // about the outside address, not a verdict on the subnet.
            if path == LookupPath::Return && l.route.is_none() {
                continue;
            }
            let oif = l.route.as_ref().and_then(|r| r.oif.clone());
            if oif.as_deref() == Some(n.bridge.as_str()) || reported_oif == Some(oif.clone()) {
                continue;
            }
            captured_tables.extend(lookup_captured(f, routing, n, l, path, oif.as_deref()));
            reported_oif = Some(oif);
        }
    }
    judge_policy_tables(f, routing, ns, n, subnet, docker_bridges, &captured_tables);
}

/// Lookup `l` on `path` leaves by `oif` (or nowhere), not by the network's bridge: a
/// failure. Returns the table whose route took it, which the policy tables then skip.
fn lookup_captured(
    f: &mut Findings,
    routing: &RoutingObs,
    n: &NetworkObs,
    l: &RouteLookup,
    path: LookupPath,
    oif: Option<&str>,
) -> Option<u32> {
    let who = match path {
        LookupPath::Host => "the host's packets",
        _ => "answers from outside",
    };
    let message = match oif {
        Some(o) => format!(
            "{who} to {} (network {}) leave by {o}, not bridge {}: {}",
            l.to,
            n.name,
            n.bridge,
            explain(routing, l)
        ),
        None => format!(
            "{who} to {} (network {}) do not reach bridge {}: {}",
            l.to,
            n.name,
            n.bridge,
            explain(routing, l)
        ),
    };
    let table = l.route.as_ref().map(|r| r.table);
    let hint = if table.is_some_and(|t| t != TABLE_MAIN) {
        format!("{CAPTURE_FIX}; see it: ip route get {}", l.to)
    } else {
        format!(
            "a route or rule takes Docker's subnet away from the bridge: see it with ip route get {}, \
             then remove it or move the network (docker network create --subnet)",
            l.to
        )
    };
    let subject = Subject::Route {
        destination: l
            .route
            .as_ref()
            .and_then(|r| r.matched)
            .map_or_else(|| l.to.to_string(), |m| m.to_string()),
        table: table.filter(|t| *t != TABLE_MAIN),
    };
    f.fail_at(Code::RouteCapturesSubnet, subject, message, hint);
    table
}

/// The tables that unmarked packets consult before main: a route in them over part of
/// the subnet takes those addresses away, whichever address the lookups used. Tables
/// already `captured` by a lookup were reported there.
fn judge_policy_tables(
    f: &mut Findings,
    routing: &RoutingObs,
    ns: &NetnsObs,
    n: &NetworkObs,
    subnet: IpNet,
    docker_bridges: &[&str],
    captured: &[u32],
) {
    let v6 = subnet.addr().is_ipv6();
    let main_at = routing
        .rules
        .iter()
        .filter(|r| r.v6 == v6 && r.action == "lookup" && r.table == TABLE_MAIN)
        .find(|r| plain(r) && r.suppress_prefixlength.is_none())
        .map_or(u32::MAX, |r| r.priority);
    for rule in routing.rules.iter().filter(|r| {
        r.v6 == v6
            && r.priority < main_at
            && r.action == "lookup"
            && ![TABLE_MAIN, TABLE_LOCAL, TABLE_DEFAULT].contains(&r.table)
            && !captured.contains(&r.table)
            && plain(r)
            && r.to.is_none_or(|t| overlaps(&t, &subnet))
    }) {
        for r in ns.routes.iter().filter(|r| {
            r.table == rule.table
                && r.dst.prefix_len() >= 8
                && r.kind.as_deref() != Some("throw")
                && overlaps(&r.dst, &subnet)
        }) {
            let dev = r.oif.map(|i| ns.link_name(i)).unwrap_or_default();
            if docker_bridges.contains(&dev.as_str()) {
                continue;
            }
            let what = match &r.kind {
                Some(k) => format!("{k} {}", r.dst),
                None => format!("{} dev {dev}", r.dst),
            };
            let subject = Subject::Route {
                destination: r.dst.to_string(),
                table: Some(rule.table),
            };
            f.fail_at(
                Code::PolicyTableOverlapsSubnet,
                subject,
                format!(
                    "rule \"{}\" sends packets to {} of network {} to table {}, whose route {what} \
                     overlaps it",
                    rule.describe(),
                    subnet,
                    n.name,
                    table_name(rule.table)
                ),
                CAPTURE_FIX,
            );
        }
    }
}

/// A rule that applies to any unmarked packet: no source, interface or other selector
/// (wg-quick's `not fwmark 51820` applies to every unmarked packet too).
fn plain(r: &RuleObs) -> bool {
    r.from.is_none()
        && r.iif.is_none()
        && r.oif.is_none()
        && !r.other_selectors
        && r.fwmark.is_some() == r.invert
}
