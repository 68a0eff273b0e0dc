//! nat.masquerade's IPv6 half: the engine's NAT66 rule where it keeps one, and the live
//! IPv6 flow from each IPv6 network to the outside peer's IPv6 address.

use super::Code;
use super::{all_networks, masquerade_rule};
use crate::checks::engine_rules::{self, Backend};
use crate::checks::{Context, Findings};
use netcheck_model::protocol::Purpose;
use netcheck_model::snapshot::{FirewallObs, NetworkObs};

/// The IPv6 half, where the network has it. Docker NATs IPv6 with ip6tables on (the
/// default from Docker 27; in its own ip6 table with the nftables backend); without it,
/// or in routed mode, IPv6 traffic leaves routed with the container's own address, by
/// design: that is said, not failed. Then the live IPv6 flow to the outside peer.
pub(super) fn judge(
    f: &mut Findings,
    ctx: &Context,
    n: &NetworkObs,
    host: &netcheck_model::snapshot::HostObs,
) {
    if !n.enable_ipv6 {
        f.note(format!("IPv6: off on network {}", n.name));
        return;
    }
    let Some(subnet) = n.subnet_v6() else {
        f.note(format!(
            "network {}: IPv6 on, but no IPv6 subnet (see bridge.subnet)",
            n.name
        ));
        return;
    };
    let routed = engine_rules::GatewayMode::of(n, true) == engine_rules::GatewayMode::Routed;
    // Whether the engine masquerades this network's IPv6 traffic; None: not known.
    let nat = match host.firewall.ok() {
        _ if routed => {
            f.note(format!(
                "network {}: gateway_mode_ipv6=routed, no IPv6 NAT by design",
                n.name
            ));
            Some(false)
        }
        None => {
            f.note(format!(
                "network {}: IPv6 NAT rules not read (no firewall reading)",
                n.name
            ));
            None
        }
        Some(fw) if ctx.engine.backend == Backend::Nftables => {
            match engine_rules::nft_masquerade(fw, n, true) {
                Ok(rule) => f.pass(format!("nftables: {rule}")),
                Err(why) if fw.nftables.is_none() => f.note(format!("IPv6 NAT not read: {why}")),
                Err(why) => f.fail_at(
                    Code::MasqueradeRuleMissingV6,
                    crate::checks::rules::subject(
                        &format!("ip6 {}", engine_rules::NFT_TABLE),
                        &format!("nat-postrouting-out__{}", n.bridge),
                        None,
                    ),
                    format!("no IPv6 masquerade rule for {subnet} ({}): {why}", n.name),
                    "restart the Docker daemon to restore its rules (systemctl restart docker); \
                     the engine owns its ip6 table, so never edit it by hand",
                ),
            }
            Some(true)
        }
        Some(fw) => {
            let v6 = FirewallObs {
                tables: fw.tables_v6.clone(),
                ..fw.clone()
            };
            if !crate::checks::rules::docker_in_iptables(&v6) {
                f.note(format!(
                    "network {}: the engine does no IPv6 NAT (\"ip6tables\" off in daemon.json): IPv6 traffic leaves \
                     routed, with the container's own address",
                    n.name
                ));
                Some(false)
            } else {
                match masquerade_rule(&v6, n, &subnet.to_string()) {
                    Some(rule) => f.pass(format!("ip6tables: nat {rule}")),
                    None => f.fail_at(
                        Code::MasqueradeRuleMissingV6,
                        crate::checks::rules::subject("nat", "POSTROUTING", None),
                        format!(
                            "no IPv6 MASQUERADE rule for {subnet} ({}) in ip6tables nat POSTROUTING",
                            n.name
                        ),
                        "restart the Docker daemon to restore its ip6tables rules (systemctl restart docker)",
                    ),
                }
                Some(true)
            }
        }
    };
    live_egress_v6(f, ctx, n, subnet, nat);
}

/// The live IPv6 flow from the network to the outside peer's IPv6 address: NAT66 shows
/// as the host's address, routing as the container's own.
fn live_egress_v6(
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
                (Some(_), _) => "the probe has no IPv6 route on it".to_string(),
                (None, Some(why)) => format!("the outside peer has no IPv6 address: {why}"),
                (None, None) =>
                    "the outside peer has no IPv6 address: a snapshot from an older netcheck"
                        .to_string(),
            }
        ));
        return;
    };
    let Some(outside) = outside else { return };
    let from = format!("the probe's interface on {}", n.name);
    match (req.ok, req.seen_source) {
        (true, Some(seen)) if seen == outside.host_addr && nat != Some(false) => f.pass(format!(
            "IPv6 from {from}: outside peer {} saw {seen}: the host's address (NAT66)",
            outside.peer_addr
        )),
        (true, Some(seen)) if subnet.contains(&seen) && nat == Some(true) => f.fail_at(
            Code::UnNattedV6,
            crate::checks::Subject::network(&n.name),
            format!(
                "the outside peer saw the container's own IPv6 address {seen}: traffic from {subnet} leaves un-NATed"
            ),
            "restore the engine's IPv6 rules: systemctl restart docker",
        ),
        (true, Some(seen)) => f.pass(format!(
            "IPv6 from {from}: outside peer {} saw {seen}{}",
            outside.peer_addr,
            if subnet.contains(&seen) {
                ": the container's own address, routed as the engine is configured"
            } else {
                ""
            }
        )),
        (true, None) => f.pass(format!("IPv6 from {from}: reached the outside peer {}", req.target)),
        (false, _) => {
            let failed = format!("{from} could not reach the outside peer {} over IPv6", req.target);
            let traced = probe
                .traces
                .iter()
                .find(|t| t.purpose == req.purpose)
                .and_then(|t| t.verdict.as_ref());
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
                    Some(!h.netns.addrs_of(br.index).any(|a| subnet.contains(&a.addr())))
                })
                .unwrap_or(false);
            match (forwarding, traced) {
                _ if bridge_bare => f.fail_at(
                    Code::OutsideUnreachableV6,
                    crate::checks::Subject::interface(&n.bridge),
                    format!(
                        "{failed}: bridge {} carries no address in {subnet}, so the network has no IPv6 gateway \
                         (see bridge.subnet)",
                        n.bridge
                    ),
                    "follow bridge.subnet's fix: give the bridge its IPv6 gateway back, or restart docker",
                ),
                (Some(v), _) => f.fail_at(
                    Code::OutsideUnreachableV6,
                    crate::checks::Subject::sysctl("net.ipv6.conf.all.forwarding"),
                    format!("{failed}: net.ipv6.conf.all.forwarding={v}, the host does not route IPv6"),
                    "see kernel.ip-forward: sysctl -w net.ipv6.conf.all.forwarding=1",
                ),
                (None, Some(v)) if engine_rules::owns(v, all_networks(ctx)) => f.fail_at(
                    Code::OutsideUnreachableV6,
                    crate::checks::Subject::network(&n.name),
                    format!(
                        "{failed}: the packet trace shows it {v}, a rule the engine wrote itself: a symptom \
                         (see the findings above)"
                    ),
                    "the engine's rules are not to be edited: restart it (systemctl restart docker) if they were changed by hand",
                ),
                (None, Some(v)) => f.fail_at(
                    Code::OutsideUnreachableV6,
                    crate::checks::rules::subject(&v.table, &v.chain, v.rule.as_deref()),
                    format!("{failed}: the packet trace shows it {v}"),
                    format!(
                        "see firewall.forward's finding and fix for IPv6 ({})",
                        if crate::checks::rules::is_iptables_table(v) {
                            format!("ip6tables -S {}", crate::checks::sh(&v.chain))
                        } else {
                            format!("nft list chain {} {} {}", v.family, crate::checks::sh(&v.table), crate::checks::sh(&v.chain))
                        }
                    ),
                ),
                (None, None) => f.fail_at(
                    Code::OutsideUnreachableV6,
                    crate::checks::Subject::network(&n.name),
                    format!("{failed}: {}", req.error.as_deref().unwrap_or("no answer")),
                    "IPv6 container traffic does not leave the host: check ip6tables -S FORWARD, \
                     net.ipv6.conf.all.forwarding and the container's IPv6 default route",
                ),
            }
        }
    }
}
