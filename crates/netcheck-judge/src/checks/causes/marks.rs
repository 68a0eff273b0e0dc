//! The route a network's packets take once the firewall marks them: a mangle rule that
//! sets a mark, and an `ip rule fwmark` that sends marked packets to another table (a
//! transparent proxy's or a VPN client's routing). The unmarked lookups never see it.

use std::net::SocketAddr;

use super::netfilter::matches_flow;
use super::{Cause, Context, Layer};
use crate::checks::rules;
use netcheck_model::snapshot::{LookupPath, NetworkObs, Observed, set_mark};

/// A mark the network's flow gets, whose lookup goes elsewhere than the unmarked one.
pub(super) fn diverted(ctx: &Context, n: &NetworkObs, to: Option<SocketAddr>) -> Option<Cause> {
    let host = ctx.snapshot.host.ok()?;
    let fw = host.firewall.ok()?;
    let Some(Observed::Ok { value: routing }) = &host.routing else {
        return None;
    };
    let (pos, rule, mark) = rules::chain(fw, "mangle", "PREROUTING")
        .into_iter()
        .enumerate()
        .find_map(|(i, r)| {
            let mark = set_mark(r.line)?;
            matches_flow(&r, n, to).then_some((i + 1, r, mark))
        })?;
    let marked = routing
        .marked
        .iter()
        .find(|m| m.mark == mark && m.lookup.network == n.name && !m.lookup.to.is_ipv6())?;
    let plain = routing.lookup(&n.name, LookupPath::Egress, false);
    let same = |a: &netcheck_model::snapshot::RouteLookup,
                b: &netcheck_model::snapshot::RouteLookup| {
        a.error == b.error
            && a.route.as_ref().map(|r| (&r.oif, r.table))
                == b.route.as_ref().map(|r| (&r.oif, r.table))
    };
    if plain.is_some_and(|p| same(p, &marked.lookup)) {
        return None;
    }
    let policy = routing
        .rules
        .iter()
        .filter(|r| !r.v6)
        .find(|r| {
            r.fwmark
                .is_some_and(|f| mark & r.fwmask.unwrap_or(u32::MAX) == f)
                && !r.invert
        })
        .map(|r| format!("policy rule `{}`", r.describe()))
        .unwrap_or_else(|| "a policy rule".into());
    Some(Cause::new(
        Layer::Route,
        format!(
            "mangle PREROUTING rule {pos} `{}` marks the network's packets {mark:#x}, and {policy} routes marked \
             packets elsewhere: {} (unmarked: {})",
            rule.line,
            marked.lookup.describe_answer(),
            plain.map_or("not looked up".into(), |p| p.describe_answer())
        ),
        format!(
            "if the mark is not meant for containers (a proxy's or VPN client's), exclude them from the marking rule \
             (! -s {}), or delete it: iptables -t mangle -D PREROUTING {pos}; see it: ip route get {} from {} iif {} mark {mark:#x}",
            n.subnet_v4().map(|s| s.to_string()).unwrap_or_default(),
            marked.lookup.to,
            marked
                .lookup
                .from
                .map(|f| f.to_string())
                .unwrap_or_default(),
            crate::checks::sh(&n.bridge)
        ),
    ))
}
