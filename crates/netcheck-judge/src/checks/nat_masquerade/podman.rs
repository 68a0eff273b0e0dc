//! Podman's half: the network's masquerade and FORWARD accepts are netavark's.

use super::Code;
use crate::checks::{Findings, Subject, netavark, rules};
use netcheck_model::snapshot::{FirewallObs, NetworkObs};

pub(super) fn rules(f: &mut Findings, fw: &FirewallObs, n: &NetworkObs, subnet: ipnet::IpNet) {
    if netavark::in_nftables(fw) {
        f.note(format!(
            "netavark keeps its rules in nftables (table {}), which netcheck does not parse: the live test decides",
            netavark::NFT_TABLE
        ));
        return;
    }
    if !netavark::has_rules(n) {
        f.note(format!(
            "network {}: no container runs on it, so netavark has written no rules for it yet (it does when one starts)",
            n.name
        ));
        return;
    }
    let subnet = subnet.to_string();
    // Where containers ran on the network before the probe joined it, their rules were
    // there to read before netavark wrote them again for the probe.
    let before = netavark::before_probe(fw, n);
    if let Some(Err(netavark::Unmasqueraded::Missing(why))) =
        before.as_ref().map(|b| netavark::masquerade(b, &subnet))
    {
        f.fail_at(
            Code::MasqueradeRuleMissing,
            rules::subject("nat", "POSTROUTING", None),
            format!(
                "no masquerade for {subnet} ({}) in {} while its containers ran: {why}; netavark wrote it \
                 again only when netcheck's probe joined the network",
                n.name, fw.backend
            ),
            format!(
                "{}, after every firewall reload (firewalld, `nft flush ruleset`, iptables -t nat -F remove \
                 netavark's rules, and Podman writes a network's again only when a container joins it)",
                netavark::RELOAD
            ),
        );
        return;
    }
    match netavark::masquerade(fw, &subnet) {
        Ok(rule) => f.pass(format!("{}: {rule}", fw.backend)),
        Err(netavark::Unmasqueraded::Bypassed { line, why }) => f.fail_at(
            Code::MasqueradeRuleMissing,
            rules::subject("nat", "POSTROUTING", Some(&line)),
            format!("{}'s traffic leaves un-NATed: {why}", n.name),
            format!(
                "delete it (it is not netavark's): {} -t nat -D {}",
                if fw.backend.starts_with("ip6tables") { "ip6tables" } else { "iptables" },
                crate::checks::sh_words(line.trim_start_matches("-A "))
            ),
        ),
        Err(why) if !netavark::present(fw) => f.fail_at(
            Code::DockerChainsMissing,
            Subject::Host,
            format!(
                "netavark's rules are missing from {} (no NETAVARK chain at all): its masquerade for {subnet} ({}) went with them",
                fw.backend, n.name
            ),
            format!(
                "{}: netavark writes them again for every running container; then find what removed them \
                 (a firewall reload, `nft flush ruleset`, iptables -t nat -F); {why}",
                netavark::RELOAD
            ),
        ),
        Err(why) => f.fail_at(
            Code::MasqueradeRuleMissing,
            rules::subject("nat", "POSTROUTING", None),
            format!("no masquerade for {subnet} ({}) in {}: {why}", n.name, fw.backend),
            format!(
                "{}: netavark writes its rules again (they are Podman's own: never add one by hand); \
                 then find what deleted it",
                netavark::RELOAD
            ),
        ),
    }
    let policy = fw
        .tables
        .get("filter")
        .and_then(|t| rules::policy(t, "FORWARD"));
    match netavark::forward(fw, &subnet) {
        Ok((out, _)) => f.pass(format!("{}: filter {out}", fw.backend)),
        Err(_) if policy.is_none_or(|p| p == "ACCEPT") => {
            f.pass(format!("{}: FORWARD policy ACCEPT", fw.backend))
        }
        Err(why) => f.fail_at(
            Code::ForwardClosed,
            rules::subject("filter", "NETAVARK_FORWARD", None),
            format!(
                "FORWARD lets no traffic out of {} ({}): policy {} and {why}",
                n.bridge,
                n.name,
                policy.unwrap_or("?")
            ),
            format!(
                "{}: netavark writes its FORWARD accepts again",
                netavark::RELOAD
            ),
        ),
    }
}
