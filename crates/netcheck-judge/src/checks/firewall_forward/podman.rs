//! firewall.forward on Podman: netavark's FORWARD jump and its accepts for each
//! network, and nothing in FORWARD that drops the network's traffic before that jump.

use super::super::netavark;
use super::super::rules::{self, Rule};
use super::super::{Context, Findings};
use super::Code;
use netcheck_model::snapshot::FirewallObs;

pub(super) fn netavark(ctx: &Context, f: &mut Findings, fw: &FirewallObs, v6: bool) {
    if !ctx.engine.netavark {
        f.note(netavark::CNI);
        return;
    }
    if netavark::in_nftables(fw) {
        f.note(format!(
            "netavark keeps its rules in nftables (table {}); the other tables' forward chains are judged below",
            netavark::NFT_TABLE
        ));
        return;
    }
    let tool = if v6 { "ip6tables" } else { "iptables" };
    let forward = rules::chain(fw, "filter", "FORWARD");
    let policy = (fw.tables.get("filter"))
        .and_then(|t| rules::policy(t, "FORWARD"))
        .unwrap_or("ACCEPT");
    f.note(format!("{}: FORWARD policy {policy}", fw.backend));
    let jump = netavark::forward_jump(&forward);
    let before: &[Rule] = &forward[..jump.unwrap_or(forward.len())];
    for n in ctx
        .networks
        .iter()
        .filter(|n| !v6 || (n.enable_ipv6 && n.subnet_v6().is_some()))
    {
        let subnet = if v6 { n.subnet_v6() } else { n.subnet_v4() };
        let Some(subnet) = subnet else { continue };
        let blocked = super::iptables::drops_before_engine(
            f,
            before,
            n,
            (v6, tool),
            super::iptables::Engine::Netavark,
        );
        if blocked {
            continue;
        }
        if n.internal {
            f.note(format!(
                "network {}: internal, cut off from outside by design",
                n.name
            ));
            f.pass(format!("nothing drops {} before netavark's rules", n.name));
            continue;
        }
        if !netavark::has_rules(n) {
            f.note(format!(
                "network {}: no container runs on it, so netavark has written no FORWARD rules for it yet",
                n.name
            ));
            continue;
        }
        if !v6 && dropped_before_probe(f, fw, n, &subnet.to_string()) {
            continue;
        }
        match netavark::forward(fw, &subnet.to_string()) {
            Ok((out, back)) if jump.is_some() => {
                f.pass(format!("{}: filter {out}; {back}", fw.backend))
            }
            _ if policy == "ACCEPT" => f.pass(format!(
                "{}: FORWARD policy ACCEPT, and nothing before it drops {}",
                fw.backend, n.name
            )),
            Ok(_) => f.fail_at(
                Code::NoDockerJump,
                rules::subject("filter", "FORWARD", None),
                format!(
                    "FORWARD (policy {policy}) has no jump to NETAVARK_FORWARD: {}'s traffic is dropped",
                    n.name
                ),
                format!("{}: netavark writes its jump again", netavark::RELOAD),
            ),
            Err(why) => f.fail_at(
                Code::NoWayThrough,
                rules::subject("filter", "NETAVARK_FORWARD", None),
                format!(
                    "FORWARD policy {policy}, and {why}: {}'s traffic is dropped",
                    n.name
                ),
                format!(
                    "{}: netavark writes its accepts again (they are Podman's own: never add one by hand)",
                    netavark::RELOAD
                ),
            ),
        }
    }
}

/// What the running containers' traffic met before netavark wrote `n`'s rules again
/// for the probe (IPv4's tables alone were kept): a way through FORWARD, or a failure
/// found (true).
fn dropped_before_probe(
    f: &mut Findings,
    fw: &FirewallObs,
    n: &netcheck_model::snapshot::NetworkObs,
    subnet: &str,
) -> bool {
    let Some(before) = netavark::before_probe(fw, n) else {
        return false;
    };
    let policy = (before.tables.get("filter"))
        .and_then(|t| rules::policy(t, "FORWARD"))
        .unwrap_or("ACCEPT");
    let Err(why) = netavark::forward(&before, subnet) else {
        return false;
    };
    if policy == "ACCEPT" {
        return false;
    }
    f.fail_at(
        Code::NoWayThrough,
        rules::subject("filter", "NETAVARK_FORWARD", None),
        format!(
            "while {}'s containers ran, FORWARD policy was {policy} and {why}: their traffic was \
             dropped until netavark wrote its rules again for netcheck's probe",
            n.name
        ),
        format!(
            "{}, after every firewall reload (a reload removes netavark's rules, and Podman \
             writes a network's again only when a container joins it)",
            netavark::RELOAD
        ),
    );
    true
}
