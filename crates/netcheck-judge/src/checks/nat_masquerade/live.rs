//! nat.masquerade's active half, for both families: the outside peer says which source
//! address it saw for a request from each network; where none arrived, the packet
//! trace, the host's forwarding and its rules say why. The two families share the flow
//! but not their verdicts: IPv4 must leave masqueraded, IPv6 may leave routed by design.

use std::net::IpAddr;

use super::{Code, HOST_IPV4, all_networks, snat_source, unnatted_fix};
use crate::checks::engine_rules;
use crate::checks::{Context, Findings, Subject, request_lost, rules, sh};
use netcheck_model::protocol::Purpose;
use netcheck_model::snapshot::{
    NetworkObs, OutsidePeer, OutsideV6, ProbeObs, Request, TraceVerdict,
};

/// One network's request to the outside peer, with what judging it needs: the same
/// for both families.
#[derive(Clone, Copy)]
struct Attempt<'a> {
    ctx: &'a Context<'a>,
    probe: &'a ProbeObs,
    n: &'a NetworkObs,
    subnet: ipnet::IpNet,
    req: &'a Request,
    /// Who sent it, as the findings say: the probe, or its interface on the network.
    from: &'a str,
}

impl Attempt<'_> {
    /// What a failure from a stand-in leaves open (see `Vantage::caveat`).
    fn caveat(&self) -> String {
        (self.probe.vantage(self.n))
            .map(|v| v.caveat())
            .unwrap_or_default()
    }

    /// The packet trace's verdict on the request, where the probe traced it.
    fn traced(&self) -> Option<&TraceVerdict> {
        self.probe
            .traces
            .iter()
            .find(|t| t.purpose == self.req.purpose)
            .and_then(|t| t.verdict.as_ref())
    }
}

/// The IPv4 flow. The probe's default route carries one network's request; the others
/// leave from the probe's interface on them (collect/egress.rs).
pub(super) fn live_egress(f: &mut Findings, ctx: &Context, n: &NetworkObs, subnet: ipnet::IpNet) {
    let Some(probe) = ctx.snapshot.probe.ok() else {
        f.note(format!(
            "network {}: no live NAT test ({})",
            n.name,
            ctx.snapshot.probe.why_missing().unwrap_or("")
        ));
        return;
    };
    let Some(outside) = probe.outside.ok() else {
        f.note(format!(
            "no live NAT test: {}",
            probe.outside.why_missing().unwrap_or("")
        ));
        return;
    };
    let Some((req, from)) = request_v4(f, ctx, probe, n) else {
        return;
    };
    if unmade(f, req, &from) {
        return;
    }
    let a = Attempt {
        ctx,
        probe,
        n,
        subnet,
        req,
        from: &from,
    };
    if req.ok {
        judge_seen_v4(f, a, outside);
    } else {
        judge_unreached_v4(f, a);
    }
}

/// The IPv4 request that left from network `n`, and who sent it; or `None`, noted.
fn request_v4<'a>(
    f: &mut Findings,
    ctx: &Context,
    probe: &'a ProbeObs,
    n: &NetworkObs,
) -> Option<(&'a Request, String)> {
    let egress = ctx.snapshot.probe_egress().map(|e| e.name.as_str());
    let (req, from) = if egress == Some(n.name.as_str()) {
        let req = probe
            .report
            .requests
            .iter()
            .find(|r| r.purpose == Purpose::Outside);
        (req, "the probe".to_string())
    } else {
        let wanted = Purpose::outside_from(&n.name);
        let req = probe.host_requests.iter().find(|r| r.purpose == wanted);
        (req, sender(probe, n))
    };
    let Some(req) = req else {
        // A snapshot from before every network's egress was tested, one taken without
        // root, or a stand-in whose own routes lead elsewhere: the rules above are all
        // there is.
        f.note(format!(
            "network {}: no live NAT test (the probe's default route uses {}, and no request left through {} itself{})",
            n.name,
            egress.unwrap_or("no network"),
            n.name,
            unasked(probe, n),
        ));
        return None;
    };
    Some((req, from))
}

/// The IPv4 request arrived: the source the outside peer saw must be the host's address
/// (masqueraded) or the network's own chosen one, never the container's.
fn judge_seen_v4(f: &mut Findings, a: Attempt, outside: &OutsidePeer) {
    let Attempt {
        ctx,
        n,
        subnet,
        req,
        from,
        ..
    } = a;
    let untracked = crate::checks::causes::untracked(ctx, n, req.target.parse().ok());
    match req.seen_source {
        Some(seen) if seen == outside.host_addr => f.pass(format!(
            "from {from}: outside peer {} (in a namespace behind {}) saw {seen}: the host's address",
            outside.peer_addr, outside.host_link
        )),
        Some(seen) if Some(seen) == snat_source(n) => f.pass(format!(
            "from {from}: outside peer {} saw {seen}: the network's own source address ({HOST_IPV4})",
            outside.peer_addr
        )),
        // A conntrack exemption is why: un-tracked packets skip the nat table.
        Some(seen) if subnet.contains(&seen) && untracked.is_some() => {
            if let Some(c) = untracked {
                f.fail_at(Code::Untracked, rules::subject("raw", "PREROUTING", None),
                    format!("the outside peer saw the container's own address {seen} (from {from}): traffic from {subnet} leaves un-NATed: {}", c.message),
                    c.fix,
                );
            }
        }
        Some(seen) if subnet.contains(&seen) => f.fail_at(Code::UnNatted, Subject::network(&n.name),
            format!("the outside peer saw the container's own address {seen} (from {from}): traffic from {subnet} leaves un-NATed"),
            unnatted_fix(ctx, n, subnet),
        ),
        seen => {
            let seen_text = seen.map(|s: IpAddr| s.to_string()).unwrap_or_else(|| "nothing".into());
            let message = format!(
                "the outside peer saw {seen_text} (from {from}), neither the host's {} nor a container address",
                outside.host_addr
            );
            match seen.and_then(|s| snat_rule(ctx, s)) {
                Some((pos, line)) => f.fail_at(Code::SnatRewritten, rules::subject("nat", "POSTROUTING", Some(line)),
                    format!("{message}: nat POSTROUTING rule {pos} `{line}` rewrites it, above Docker's MASQUERADE"),
                    format!("exclude Docker's subnet from it (! -s {subnet}), or delete it: iptables -t nat -D POSTROUTING {pos}"),
                ),
                None => f.fail_at(Code::SnatRewritten, rules::subject("nat", "POSTROUTING", None), message,
                    "look for SNAT rules that rewrite Docker's traffic: iptables -t nat -S POSTROUTING",
                ),
            }
        }
    }
}

/// The IPv4 request did not arrive: why, from the most telling evidence down, i.e. a
/// known cause, the packet trace's verdict, a foreign table that drops the network's
/// traffic, or only the error.
fn judge_unreached_v4(f: &mut Findings, a: Attempt) {
    let Attempt {
        ctx,
        n,
        subnet,
        req,
        from,
        ..
    } = a;
    let failed = format!(
        "{from} could not reach the outside peer {}{}",
        req.target,
        a.caveat()
    );
    let blocker = crate::checks::nft_path::egress_blocker(ctx.snapshot, n);
    match (request_lost(ctx, &n.name, req), a.traced(), blocker) {
        (Some((cause, fix)), _, _) => f.fail_at(Code::OutsideUnreachable, Subject::network(&n.name), format!("{failed}: {cause}"), fix),
        (None, Some(v), _) if engine_rules::owns(v, all_networks(ctx)) => {
            engine_rule_dropped(f, ctx, n, subnet, &failed, v)
        }
        (None, Some(v), _) if rules::is_iptables_table(v) => f.fail_at(Code::OutsideUnreachable, Subject::network(&n.name),
            format!("{failed}: the packet trace shows it {v}"),
            format!(
                "an iptables rule drops container traffic: see firewall.forward's finding and fix \
                 ({} -S {})",
                if v.family == "ip6" { "ip6tables" } else { "iptables" },
                sh(&v.chain)
            ),
        ),
        (None, Some(v), _) => f.fail_at(Code::OutsideUnreachable, Subject::network(&n.name),
            format!("{failed}: the packet trace shows it {v}"),
            format!(
                "that chain drops container traffic (see firewall.forward); if it is not Docker's, \
                 let the bridge through it: nft insert rule {} {} {} iifname {} accept",
                v.family,
                sh(&v.table),
                sh(&v.chain),
                sh(&n.bridge)
            ),
        ),
        (None, None, Some(by)) => f.fail_at(Code::OutsideUnreachable, Subject::network(&n.name),
            format!("{failed}: its traffic is dropped by {by} (see firewall.forward)"),
            "that table is not Docker's: let the bridge through it (firewall.forward's fix), \
             or find who wrote it (/etc/nftables.conf, a VPN's kill switch, firewalld)",
        ),
        (None, None, None) => f.fail_at(Code::OutsideUnreachable, Subject::network(&n.name),
            format!("{failed}: {}", req.error.as_deref().unwrap_or("no answer")),
            "container traffic does not leave the host: check ip_forward, FORWARD (iptables -S FORWARD) \
             and the container's default route",
        ),
    }
}

/// A live flow dropped by a rule the engine wrote: a protection working as designed,
/// so the drop is the symptom. Docker's direct-access rule dropping the reply to the
/// container's own address means the request left un-NATed: the cause is the missing
/// masquerade, and the fix restores it. No fix touches the engine's rule.
fn engine_rule_dropped(
    f: &mut Findings,
    ctx: &Context,
    n: &NetworkObs,
    subnet: ipnet::IpNet,
    failed: &str,
    v: &TraceVerdict,
) {
    match engine_rules::direct_access(v, all_networks(ctx)) {
        Some((addr, _)) => f.fail_at(
            Code::UnNatted,
            Subject::network(&n.name),
            format!(
                "{failed}: the reply to the container's own address {addr} was {v}, Docker's protection \
                 against direct access: the request left the host un-NATed, so traffic from {subnet} is not masqueraded"
            ),
            unnatted_fix(ctx, n, subnet),
        ),
        None => f.fail_at(
            Code::OutsideUnreachable,
            Subject::network(&n.name),
            format!(
                "{failed}: the packet trace shows it {v}, a rule the engine wrote itself ({}): a symptom; \
                 the engine drops what its configuration does not allow",
                ctx.engine.describe()
            ),
            "the engine's rules are not to be edited: check the network's options (docker network inspect) \
             and the findings above; restart the engine (systemctl restart docker) if its rules were changed by hand",
        ),
    }
}

/// The nat POSTROUTING rule (its position and line) that rewrites a source to `seen`,
/// above Docker's MASQUERADE: an SNAT to that address.
fn snat_rule<'a>(ctx: &'a Context, seen: IpAddr) -> Option<(usize, &'a str)> {
    let fw = ctx.snapshot.host.ok()?.firewall.ok()?;
    let to = seen.to_string();
    rules::chain(fw, "nat", "POSTROUTING")
        .into_iter()
        .enumerate()
        .take_while(|(_, r)| r.target != Some("MASQUERADE"))
        .find(|(_, r)| {
            r.target == Some("SNAT")
                && r.line
                    .split_whitespace()
                    .skip_while(|w| *w != "--to-source")
                    .nth(1)
                    .is_some_and(|v| v.split([':', '-']).next() == Some(to.as_str()))
        })
        .map(|(i, r)| (i + 1, r.line))
}

/// The IPv6 flow from the network to the outside peer's IPv6 address: NAT66 shows as
/// the host's address, routing as the container's own. `nat`: whether the engine
/// masquerades this network's IPv6 traffic, None where not known.
pub(super) fn live_egress_v6(
    f: &mut Findings,
    ctx: &Context,
    n: &NetworkObs,
    subnet: ipnet::IpNet,
    nat: Option<bool>,
) {
    let Some(probe) = ctx.snapshot.probe.ok() else {
        return;
    };
    let outside = probe.outside.ok().and_then(|o| o.v6.as_ref());
    let wanted = Purpose::outside_v6_from(&n.name);
    let Some(req) = probe.host_requests.iter().find(|r| r.purpose == wanted) else {
        f.note(format!(
            "network {}: no live IPv6 test ({})",
            n.name,
            match (
                outside,
                probe.outside.ok().and_then(|o| o.v6_missing.as_deref())
            ) {
                (Some(_), _) => format!(
                    "{} has no IPv6 route on it{}",
                    probe
                        .vantage(n)
                        .map_or("the probe".to_string(), |v| v.to_string()),
                    unasked(probe, n)
                ),
                (None, Some(why)) => format!("the outside peer has no IPv6 address: {why}"),
                (None, None) =>
                    "the outside peer has no IPv6 address: a snapshot from an older netcheck"
                        .to_string(),
            }
        ));
        return;
    };
    let Some(outside) = outside else { return };
    let from = sender(probe, n);
    if unmade(f, req, &from) {
        return;
    }
    let a = Attempt {
        ctx,
        probe,
        n,
        subnet,
        req,
        from: &from,
    };
    if req.ok {
        judge_seen_v6(f, a, outside, nat);
    } else {
        judge_unreached_v6(f, a);
    }
}

/// The IPv6 request arrived: the host's address where the engine does NAT66, the
/// container's own where it routes; the container's own despite NAT66 fails.
fn judge_seen_v6(f: &mut Findings, a: Attempt, outside: &OutsideV6, nat: Option<bool>) {
    let Attempt {
        n,
        subnet,
        req,
        from,
        ..
    } = a;
    match req.seen_source {
        Some(seen) if seen == outside.host_addr && nat != Some(false) => f.pass(format!(
            "IPv6 from {from}: outside peer {} saw {seen}: the host's address (NAT66)",
            outside.peer_addr
        )),
        Some(seen) if subnet.contains(&seen) && nat == Some(true) => f.fail_at(
            Code::UnNattedV6,
            Subject::network(&n.name),
            format!(
                "the outside peer saw the container's own IPv6 address {seen} (from {from}): traffic from {subnet} leaves un-NATed"
            ),
            "restore the engine's IPv6 rules: systemctl restart docker",
        ),
        Some(seen) => f.pass(format!(
            "IPv6 from {from}: outside peer {} saw {seen}{}",
            outside.peer_addr,
            if subnet.contains(&seen) {
                ": the container's own address, routed as the engine is configured"
            } else {
                ""
            }
        )),
        None => f.pass(format!("IPv6 from {from}: reached the outside peer {}", req.target)),
    }
}

/// The IPv6 request did not arrive: why, from the most telling evidence down, i.e. the
/// bridge lost its IPv6 gateway, the host does not route IPv6, the packet trace's
/// verdict, or only the error.
fn judge_unreached_v6(f: &mut Findings, a: Attempt) {
    let Attempt {
        ctx,
        n,
        subnet,
        req,
        from,
        ..
    } = a;
    let failed = format!(
        "{from} could not reach the outside peer {} over IPv6{}",
        req.target,
        a.caveat()
    );
    let forwarding = ctx
        .snapshot
        .host
        .ok()
        .and_then(|h| h.sysctl.get("net.ipv6.conf.all.forwarding"))
        .filter(|v| *v != "1");
    // The network's IPv6 gateway gone from its bridge: nothing routes the flow.
    let bridge_bare = ctx
        .snapshot
        .host
        .ok()
        .and_then(|h| {
            let br = h.netns.link_by_name(&n.bridge)?;
            Some(
                !h.netns
                    .addrs_of(br.index)
                    .any(|a| subnet.contains(&a.addr())),
            )
        })
        .unwrap_or(false);
    match (forwarding, a.traced()) {
        _ if bridge_bare => f.fail_at(
            Code::OutsideUnreachableV6,
            Subject::interface(&n.bridge),
            format!(
                "{failed}: bridge {} carries no address in {subnet}, so the network has no IPv6 gateway \
                 (see bridge.subnet)",
                n.bridge
            ),
            "follow bridge.subnet's fix: give the bridge its IPv6 gateway back, or restart docker",
        ),
        (Some(v), _) => f.fail_at(
            Code::OutsideUnreachableV6,
            Subject::sysctl("net.ipv6.conf.all.forwarding"),
            format!("{failed}: net.ipv6.conf.all.forwarding={v}, the host does not route IPv6"),
            "see kernel.ip-forward: sysctl -w net.ipv6.conf.all.forwarding=1",
        ),
        (None, Some(v)) if engine_rules::owns(v, all_networks(ctx)) => f.fail_at(
            Code::OutsideUnreachableV6,
            Subject::network(&n.name),
            format!(
                "{failed}: the packet trace shows it {v}, a rule the engine wrote itself: a symptom \
                 (see the findings above)"
            ),
            "the engine's rules are not to be edited: restart it (systemctl restart docker) if they were changed by hand",
        ),
        (None, Some(v)) => f.fail_at(
            Code::OutsideUnreachableV6,
            rules::subject(&v.table, &v.chain, v.rule.as_deref()),
            format!("{failed}: the packet trace shows it {v}"),
            format!(
                "see firewall.forward's finding and fix for IPv6 ({})",
                if rules::is_iptables_table(v) {
                    format!("ip6tables -S {}", sh(&v.chain))
                } else {
                    format!("nft list chain {} {} {}", v.family, sh(&v.table), sh(&v.chain))
                }
            ),
        ),
        (None, None) => f.fail_at(
            Code::OutsideUnreachableV6,
            Subject::network(&n.name),
            format!("{failed}: {}", req.error.as_deref().unwrap_or("no answer")),
            "IPv6 container traffic does not leave the host: check ip6tables -S FORWARD, \
             net.ipv6.conf.all.forwarding and the container's IPv6 default route",
        ),
    }
}

/// Who sent network `n`'s request to the outside peer, as the findings say: the probe's
/// interface on it, or its stand-in's.
fn sender(probe: &ProbeObs, n: &NetworkObs) -> String {
    match probe.vantage(n) {
        Some(v) if v.stand_in.is_some() => format!("{v}'s interface on {}", n.name),
        _ => format!("the probe's interface on {}", n.name),
    }
}

/// Why no request left through network `n` from a stand-in, where one stood in there;
/// or that none did.
fn unasked(probe: &ProbeObs, n: &NetworkObs) -> String {
    match probe.vantage(n) {
        Some(v) if v.stand_in.is_some() => {
            format!(": {v}'s own default route does not leave through it")
        }
        Some(_) => String::new(),
        None => ": neither the probe nor a stand-in for it is on it".to_string(),
    }
}

/// Whether netcheck could not make the request at all (a namespace it could not enter,
/// a route it could not add): an error of its own, said as one, never the network's.
fn unmade(f: &mut Findings, req: &Request, from: &str) -> bool {
    let unmade = req.error_kind() == Some(netcheck_model::protocol::ErrorKind::Setup);
    if unmade {
        f.error(format!(
            "the outside peer was not asked from {from}: {}",
            req.error.as_deref().unwrap_or_default()
        ));
    }
    unmade
}
