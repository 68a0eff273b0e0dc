//! netfilter's rules that take a network's flow away before the filter chains judge
//! it: a nat PREROUTING REDIRECT or DNAT to the host itself, a mangle TPROXY (a
//! transparent proxy's capture), and a raw NOTRACK or `CT --notrack` (un-tracked
//! traffic is never NATed, and its replies match no ESTABLISHED rule).

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

use super::{Cause, Context, Layer};
use crate::checks::rules::{self, Rule};
use netcheck_model::snapshot::NetworkObs;

/// A PREROUTING rule that captures the flow into a local port.
pub(super) fn redirected(ctx: &Context, n: &NetworkObs, to: Option<SocketAddr>) -> Option<Cause> {
    let fw = ctx.snapshot.host.ok()?.firewall.ok()?;
    let host = &ctx.snapshot.host.ok()?.netns;
    let local = |ip: IpAddr| ip.is_loopback() || host.addrs.iter().any(|a| a.addr.addr() == ip);
    let captures = |r: &Rule| match r.target {
        Some("REDIRECT" | "TPROXY") => true,
        Some("DNAT") => rules::to_destination(r.line).is_some_and(|(ip, _)| local(ip)),
        _ => false,
    };
    let found = ["nat", "mangle"].into_iter().find_map(|table| {
        rules::chain(fw, table, "PREROUTING")
            .into_iter()
            .enumerate()
            .find(|(_, r)| captures(r) && matches_flow(r, n, to))
            .map(|(i, r)| (table, i + 1, r))
    });
    let Some((table, pos, rule)) = found else {
        let (place, delete, rule) = nft_statement(ctx, n, to, &["redirect", "tproxy"])?;
        return Some(Cause::new(
            Layer::Netfilter,
            format!(
                "{place}: rule `{rule}` captures the network's traffic into a port of the host (a proxy's or VPN \
                 client's capture): the far end never sees it"
            ),
            format!(
                "if that capture is not meant for containers, exclude them (ip saddr != {}), or delete the rule: {delete}",
                n.subnet_v4().map(|s| s.to_string()).unwrap_or_default(),
            ),
        ));
    };
    Some(Cause::new(
        Layer::Netfilter,
        format!(
            "{table} PREROUTING rule {pos} `{}` ({}) captures the network's traffic into a port of the host \
             (a proxy's or VPN client's capture): the far end never sees it",
            rule.line, fw.backend
        ),
        format!(
            "if that capture is not meant for containers, exclude them: insert `! -s {}` (or `! -i {}`) into it, \
             or delete it: iptables -t {table} -D PREROUTING {pos}",
            n.subnet_v4().map(|s| s.to_string()).unwrap_or_default(),
            crate::checks::sh(&n.bridge)
        ),
    ))
}

/// A raw rule that exempts the flow from connection tracking.
pub(crate) fn untracked(ctx: &Context, n: &NetworkObs, to: Option<SocketAddr>) -> Option<Cause> {
    let fw = ctx.snapshot.host.ok()?.firewall.ok()?;
    let notrack = |r: &Rule| {
        r.target == Some("NOTRACK") || (r.target == Some("CT") && r.line.contains("--notrack"))
    };
    let found = rules::chain(fw, "raw", "PREROUTING")
        .into_iter()
        .enumerate()
        .find(|(_, r)| notrack(r) && matches_flow(r, n, to))
        .map(|(i, r)| (i + 1, r));
    let Some((pos, rule)) = found else {
        let (place, delete, rule) = nft_statement(ctx, n, to, &["notrack"])?;
        return Some(Cause::new(
            Layer::Conntrack,
            format!(
                "{place}: rule `{rule}` exempts the network's traffic from connection tracking: un-tracked \
                 packets are never NATed, and their replies match no established rule"
            ),
            format!(
                "exclude Docker's subnet from it (ip saddr != {}), or delete the rule: {delete}",
                n.subnet_v4().map(|s| s.to_string()).unwrap_or_default(),
            ),
        ));
    };
    Some(Cause::new(
        Layer::Conntrack,
        format!(
            "raw PREROUTING rule {pos} `{}` ({}) exempts the network's traffic from connection tracking: \
             un-tracked packets are never NATed, and their replies match no ESTABLISHED rule",
            rule.line, fw.backend
        ),
        format!(
            "exclude Docker's subnet from it (! -s {}), or delete it: iptables -t raw -D PREROUTING {pos}",
            n.subnet_v4().map(|s| s.to_string()).unwrap_or_default()
        ),
    ))
}

/// A rule of an nftables table that is not iptables' or Docker's, in a base chain on
/// the prerouting hook, holding one of `statements` and surely matching the network's
/// flow: where it is (`table inet proxy, chain pre (hook prerouting, priority -150)`),
/// the command that deletes it, and the rule. Rules in chains reached by a jump are not
/// followed.
fn nft_statement<'a>(
    ctx: &'a Context,
    n: &NetworkObs,
    to: Option<SocketAddr>,
    statements: &[&str],
) -> Option<(String, String, &'a netcheck_model::nftables::NftRule)> {
    use crate::checks::nft_path::{self, Flow, Iface};
    let fw = ctx.snapshot.host.ok()?.firewall.ok()?;
    let flow = Flow {
        v6: false,
        iif: Iface::Is(&n.bridge),
        oif: Iface::Unknown,
        bridge: None,
        saddr: n.subnet_v4(),
        daddr: to.map(|t| IpNet::from(t.ip())),
        established: false,
    };
    fw.nftables
        .as_ref()?
        .tables
        .iter()
        .filter(|t| matches!(t.family.as_str(), "ip" | "inet") && nft_path::is_foreign(t, fw))
        .flat_map(|t| t.chains.iter().map(move |c| (t, c)))
        .filter(|(_, c)| c.hook.as_deref() == Some("prerouting"))
        .find_map(|(t, c)| {
            let r = c.rules.iter().find(|r| {
                // A NAT statement keeps its target after its name: `redirect to :9`.
                r.other.iter().any(|o| {
                    let name = o.split_whitespace().next().unwrap_or_default();
                    statements.contains(&name)
                }) && nft_path::rule_applies(&addressed(r, to), &flow)
            })?;
            Some((
                format!(
                    "table {}, chain {} (hook prerouting, priority {})",
                    t.label(),
                    c.name,
                    c.prio.unwrap_or(0)
                ),
                format!(
                    "nft delete rule {} {} {} handle {}",
                    t.family,
                    crate::checks::sh(&t.name),
                    crate::checks::sh(&c.name),
                    r.handle
                ),
                r,
            ))
        })
}

/// The rule without the matches a TCP flow to `to` meets for sure (`meta l4proto tcp`,
/// `tcp dport 80` where `to`'s port is 80), which the walker of packet classes, knowing
/// no protocols, leaves undecided.
fn addressed(
    r: &netcheck_model::nftables::NftRule,
    to: Option<SocketAddr>,
) -> netcheck_model::nftables::NftRule {
    let mut r = r.clone();
    r.matches.retain(|m| {
        let tcp = m.op == "==" && m.right == "tcp";
        let port = to.is_some_and(|t| m.op == "==" && m.right == t.port().to_string());
        !(matches!(m.left.as_str(), "meta l4proto" | "l4proto" | "ip protocol") && tcp
            || m.left == "tcp dport" && port)
    });
    r
}

/// Whether `r` matches a TCP flow from a container of `n`, in on its bridge, to `to`
/// (where known). A match this does not understand counts as not matching: naming a
/// rule that does not apply would send the user after the wrong fix.
pub(super) fn matches_flow(r: &Rule, n: &NetworkObs, to: Option<SocketAddr>) -> bool {
    let subnet = n.subnet_v4();
    let net = |v: &str| {
        v.parse::<IpNet>()
            .or_else(|_| v.parse::<IpAddr>().map(IpNet::from))
            .ok()
    };
    r.matches.iter().all(|&(negated, flag, value)| {
        let hit = match flag {
            "-i" => match value.strip_suffix('+') {
                Some(prefix) => n.bridge.starts_with(prefix),
                None => value == n.bridge,
            },
            // Some container's address is in the range.
            "-s" => match (net(value), subnet) {
                (Some(v), Some(s)) if !negated => {
                    v.contains(&s.network()) || s.contains(&v.network())
                }
                // `! -s X` spares the containers only if X holds the whole subnet.
                (Some(v), Some(s)) => {
                    !(v.contains(&s.network()) && v.prefix_len() <= s.prefix_len())
                }
                _ => return false,
            },
            "-d" => match (net(value), to) {
                (Some(v), Some(to)) => v.contains(&to.ip()),
                _ => return false,
            },
            "-p" => matches!(value, "tcp" | "6" | "all"),
            "--dport" => match (value.parse::<u16>(), to) {
                (Ok(p), Some(to)) => p == to.port(),
                _ => return false,
            },
            "-m" => matches!(value, "tcp" | "comment"),
            _ => return false,
        };
        // `-s` has settled its negation above.
        if flag == "-s" { hit } else { hit != negated }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net() -> NetworkObs {
        serde_json::from_value(serde_json::json!({
            "id": "x", "name": "app", "driver": "bridge", "bridge": "br-1",
            "ipam": [{"subnet": "172.20.0.0/16", "gateway": null}], "options": {}, "endpoints": [],
            "internal": false, "ip_masquerade": true, "enable_ipv6": false
        }))
        .unwrap()
    }

    #[test]
    fn a_rule_names_the_flows_it_matches_and_only_those() {
        let n = net();
        let out: SocketAddr = "198.18.0.2:80".parse().unwrap();
        let m = |line| matches_flow(&Rule::parse(line).unwrap(), &n, Some(out));
        assert!(m(
            "-A PREROUTING -s 172.20.0.0/16 -d 198.18.0.0/15 -j NOTRACK"
        ));
        assert!(m(
            "-A PREROUTING -i br-+ -p tcp -m tcp --dport 80 -j REDIRECT --to-ports 1"
        ));
        assert!(m("-A PREROUTING -p tcp -j REDIRECT --to-ports 12345"));
        assert!(!m(
            "-A PREROUTING -s 192.0.2.0/24 -p tcp -j REDIRECT --to-ports 1"
        ));
        assert!(!m(
            "-A PREROUTING ! -s 172.16.0.0/12 -p tcp -j REDIRECT --to-ports 1"
        ));
        assert!(!m("-A PREROUTING -i eth0 -p tcp -j REDIRECT --to-ports 1"));
        assert!(!m("-A PREROUTING -p udp -j REDIRECT --to-ports 1"));
        assert!(!m(
            "-A PREROUTING -p tcp --dport 443 -j REDIRECT --to-ports 1"
        ));
        assert!(!m("-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER"));
        assert_eq!(
            rules::to_destination("-A PREROUTING -p tcp -j DNAT --to-destination 127.0.0.1:8080"),
            Some((IpAddr::from([127, 0, 0, 1]), Some(8080)))
        );
    }
}
