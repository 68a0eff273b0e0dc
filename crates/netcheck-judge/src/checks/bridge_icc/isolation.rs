//! bridge.icc's isolation half: a container on one network reaching one on another, and
//! which other networks a network's isolation was not tested toward.

use super::super::{Context, Findings, Subject};
use super::{Code, keeps_no_rules, outcome_of};
use netcheck_model::protocol::Purpose;
use netcheck_model::snapshot::{NetworkObs, Request};

/// Container `who` on network `n` reached container `to` on network `other`: networks
/// are isolated unless the engine opens one to the others (or keeps no rules at all).
pub(super) fn judge_isolation(
    f: &mut Findings,
    ctx: &Context,
    n: &NetworkObs,
    r: &Request,
    (who, to, other): (&str, &str, &str),
) {
    let host = ctx.snapshot.host.ok();
    let seen = format!(
        "{who} on {} -> {to} at {} on {other}: {}",
        n.name,
        r.target,
        outcome_of(r)
    );
    let open = ctx.snapshot.network(other).and_then(|o| {
        ctx.engine
            .open_to_other_networks((Some(n), o), host.and_then(|h| h.firewall.ok()))
    });
    if keeps_no_rules(ctx) {
        f.pass(format!(
            "{seen}: the engine keeps no firewall rules (iptables=false), so networks are not isolated, by its configuration"
        ));
    } else if let Some(why) = open {
        f.pass(format!("{seen}: {why}"));
    } else {
        f.fail_at(
            Code::NotIsolated,
            Subject::network(&n.name),
            format!(
                "{who} on {} reaches {to} at {} on {other}: the networks are not isolated",
                n.name, r.target
            ),
            not_isolated_fix(ctx, &n.bridge, other),
        );
    }
}

/// Where to look for what lets one network into another, in the running engine's
/// terms: its isolation chains up to Docker 28, each network's default rule in DOCKER
/// from 29 (or its nftables table); never a rule to add to the engine's own chains.
fn not_isolated_fix(ctx: &Context, bridge: &str, other: &str) -> String {
    let bridge = super::super::sh(bridge);
    let other_bridge = ctx
        .snapshot
        .network(other)
        .map_or_else(|| super::super::sh(other), |o| super::super::sh(&o.bridge));
    if ctx.engine.podman {
        return format!(
            "find the rule that lets {bridge} through to {other_bridge}: iptables -S FORWARD; \
             iptables -S NETAVARK_ISOLATION_1 (a rule of yours above netavark's); if netavark's own \
             isolation rules are missing, {}",
            super::super::netavark::RELOAD
        );
    }
    let fw = ctx.snapshot.host.ok().and_then(|h| h.firewall.ok());
    let engine = match (ctx.engine.backend, fw) {
        (super::super::engine_rules::Backend::Nftables, _) => format!(
            "the engine isolates networks in table ip {} (chain filter-forward-in__{other_bridge}): \
             nft list table ip {}",
            super::super::engine_rules::NFT_TABLE,
            super::super::engine_rules::NFT_TABLE
        ),
        (_, Some(fw)) if !ctx.engine.isolation_chains(fw) => format!(
            "the engine isolates networks by each network's default rule in DOCKER (`! -i {other_bridge} -o {other_bridge} -j DROP`): \
             iptables -S DOCKER"
        ),
        _ => {
            "Docker's DOCKER-ISOLATION chains must come first: iptables -S DOCKER-ISOLATION-STAGE-2"
                .to_string()
        }
    };
    format!(
        "find the rule that lets {bridge} through to {other_bridge}: iptables -S DOCKER-USER; iptables -S FORWARD; {engine}; \
         if the engine's own rules are missing, restart it (systemctl restart docker)"
    )
}

/// Which other networks `network`'s isolation was not tested toward: one line. On a
/// small host each is named (it lacks a container on it alone); on a larger one the
/// sample is what leaves most out, and only the count is given.
pub(super) fn note_untested(
    f: &mut Findings,
    ctx: &Context,
    probe: &netcheck_model::snapshot::ProbeObs,
    network: &str,
) {
    // One pass over the requests, then one over the networks: a host of a thousand
    // networks must not cost their square times the requests.
    let tested: std::collections::HashSet<&str> = probe
        .host_requests
        .iter()
        .filter_map(|r| match &r.purpose {
            Purpose::Isolation {
                network: from,
                other,
                ..
            } if from == network => Some(other.as_str()),
            _ => None,
        })
        .collect();
    let others: Vec<&String> = ctx
        .snapshot
        .networks
        .iter()
        .filter(|m| *m != network)
        .collect();
    let untested: Vec<&str> = others
        .iter()
        .map(|m| m.as_str())
        .filter(|m| !tested.contains(m))
        .collect();
    if untested.is_empty() {
        return;
    }
    if others.len() <= netcheck_model::protocol::ISOLATION_SAMPLE + 1 {
        for m in untested {
            f.note(format!(
                "isolation from {network} to {m} not tested: it takes a container on {network} and one on {m} alone"
            ));
        }
    } else {
        f.note(format!(
            "isolation from {network} tested toward {} of the {} other networks: netcheck samples the default bridge \
             and {} others by name (each network is a target as often), and a network needs a container on it alone",
            others.len() - untested.len(),
            others.len(),
            netcheck_model::protocol::ISOLATION_SAMPLE
        ));
    }
}
