//! Walks the nftables base chains a class of packets crosses, in priority order, and
//! says which one drops it. Not a check: firewall.forward, nat.masquerade and
//! port.publish use it for the tables Docker does not own (a hardened
//! /etc/nftables.conf, a VPN kill switch, firewalld).
//!
//! The reading is static, so it answers for a class of packets ("new connections from
//! app-net's subnet out of its bridge"), and a match it cannot decide (a port, a named
//! set) is "maybe": a maybe-drop is noted, never failed. When a live flow fails, its
//! packet trace (collect::trace) is the proof; this is the explanation and the offline
//! reading.

use ipnet::IpNet;

use netcheck_model::nftables::{NftChain, NftTable, NftVerdict, Ruleset};
use netcheck_model::snapshot::FirewallObs;

// Whether a rule's matches take a class of packets: the reading the walk stands on.
mod matching;
pub(crate) use matching::rule_applies;
use matching::{Tri, mentions, rule_matches};

/// An interface as a packet class knows it.
#[derive(Debug, Clone, Copy)]
pub enum Iface<'a> {
    /// Exactly this one.
    Is(&'a str),
    /// One of these (the uplinks), or another we do not know: never `not`.
    NotThis(&'a str),
    Unknown,
}

/// A class of packets: a network's traffic in one direction.
#[derive(Debug, Clone)]
pub struct Flow<'a> {
    pub v6: bool,
    pub iif: Iface<'a>,
    pub oif: Iface<'a>,
    /// The bridge the packet crosses (bridge family: ibrname/obrname).
    pub bridge: Option<&'a str>,
    /// The packet's source lies somewhere in this range (None: anywhere).
    pub saddr: Option<IpNet>,
    pub daddr: Option<IpNet>,
    /// Replies of a connection (conntrack established) rather than its first packet.
    pub established: bool,
}

/// The verdict of one base chain on a flow.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainVerdict {
    /// `inet filter`
    pub table: String,
    pub chain: String,
    pub hook: String,
    pub prio: i64,
    /// None: it lets the flow through. Some: what drops it, `policy drop` or
    /// `rule `...` (handle N)`.
    pub drop: Option<String>,
    /// How it lets it through, or what might drop part of it.
    pub notes: Vec<String>,
}

impl ChainVerdict {
    /// `table inet filter, chain forward (hook forward, priority 0)`.
    pub fn place(&self) -> String {
        format!(
            "table {}, chain {} (hook {}, priority {})",
            self.table, self.chain, self.hook, self.prio
        )
    }
}

pub use netcheck_model::protocol::TRACE_TABLE_PREFIX;

/// Tables iptables-nft writes (read through iptables-save by the checks already), and
/// Docker's, netavark's (Podman's engine) and netcheck's own: what "foreign" excludes.
pub fn is_foreign(t: &NftTable, fw: &FirewallObs) -> bool {
    let iptables_table = matches!(t.family.as_str(), "ip" | "ip6")
        && matches!(
            t.name.as_str(),
            "filter" | "nat" | "mangle" | "raw" | "security"
        )
        && fw.backend == "iptables-nft";
    let netavark = t.family == "inet" && t.name == "netavark";
    !(iptables_table
        || netavark
        || t.name.contains("docker")
        || t.name.starts_with(TRACE_TABLE_PREFIX))
}

/// The foreign base chains on `hooks` of `families` that a flow crosses, in priority
/// order, each with its verdict.
pub fn walk(
    rs: &Ruleset,
    fw: &FirewallObs,
    families: &[&str],
    hooks: &[&str],
    flow: &Flow,
) -> Vec<ChainVerdict> {
    let mut out = vec![];
    for t in rs
        .tables
        .iter()
        .filter(|t| families.contains(&t.family.as_str()) && is_foreign(t, fw))
    {
        for c in &t.chains {
            let Some(hook) = c.hook.as_deref().filter(|h| hooks.contains(h)) else {
                continue;
            };
            // A nat chain sees only a connection's first packet and does not filter.
            if c.kind.as_deref() == Some("nat") {
                continue;
            }
            out.push(base_chain(t, c, hook, flow));
        }
    }
    out.sort_by_key(|v| (hooks.iter().position(|h| *h == v.hook), v.prio));
    out
}

/// What drops a network's IPv4 traffic on its way out or back, statically, in a table
/// Docker does not own: `table inet filter, chain forward, policy drop`.
pub fn egress_blocker(
    snapshot: &netcheck_model::snapshot::Snapshot,
    n: &netcheck_model::snapshot::NetworkObs,
) -> Option<String> {
    let host = snapshot.host.ok()?;
    let fw = host.firewall.ok()?;
    let rs = fw.nftables.as_ref()?;
    let subnet = n.subnet_v4()?;
    let uplinks = host.netns.uplinks();
    let uplink = match uplinks.as_slice() {
        [one] => Iface::Is(one.name.as_str()),
        _ => Iface::NotThis(&n.bridge),
    };
    let out = Flow {
        v6: false,
        iif: Iface::Is(&n.bridge),
        oif: uplink,
        bridge: None,
        saddr: Some(subnet),
        daddr: None,
        established: false,
    };
    let back = Flow {
        iif: uplink,
        oif: Iface::Is(&n.bridge),
        saddr: None,
        daddr: Some(subnet),
        established: true,
        ..out.clone()
    };
    [out, back].iter().find_map(|flow| {
        walk(rs, fw, &["ip", "inet"], &["forward"], flow)
            .into_iter()
            .find_map(|v| {
                let by = v.drop?;
                Some(format!("table {}, chain {}, {by}", v.table, v.chain))
            })
    })
}

/// Why a request failed: its packet trace's verdict where one was taken ("the packet
/// trace shows it dropped by table inet filter, chain forward, policy drop"), else the
/// error the request met.
pub fn why_failed(
    snapshot: &netcheck_model::snapshot::Snapshot,
    r: &netcheck_model::snapshot::Request,
) -> String {
    let traced = snapshot.probe.ok().and_then(|p| {
        p.traces
            .iter()
            .find(|t| t.purpose == r.purpose)
            .and_then(|t| t.verdict.as_ref())
    });
    match traced {
        Some(v) => format!("the packet trace shows it {v}"),
        None => r.error.clone().unwrap_or_else(|| "no answer".into()),
    }
}

fn base_chain(t: &NftTable, c: &NftChain, hook: &str, flow: &Flow) -> ChainVerdict {
    let mut v = ChainVerdict {
        table: t.label(),
        chain: c.name.clone(),
        hook: hook.to_string(),
        prio: c.prio.unwrap_or(0),
        drop: None,
        notes: vec![],
    };
    let mut maybe_accept = None;
    match run(t, c, flow, 0, &mut v.notes, &mut maybe_accept) {
        End::Accept(by) => v.notes.push(format!("accepted by rule `{by}`")),
        End::Drop(by) => v.drop = Some(by),
        End::Fallthrough => {
            let policy = c.policy.as_deref().unwrap_or("accept");
            if policy == "drop" {
                match maybe_accept {
                    // A rule about this traffic, narrowed by what a static reading
                    // cannot decide: most likely the site's intended way through.
                    Some(r) => v.notes.push(format!(
                        "policy drop, but rule `{r}` may accept it (not decidable statically)"
                    )),
                    None => v.drop = Some("policy drop".into()),
                }
            } else {
                v.notes.push(format!("policy {policy}"));
            }
        }
    }
    v
}

enum End {
    Accept(String),
    Drop(String),
    Fallthrough,
}

fn run(
    t: &NftTable,
    c: &NftChain,
    flow: &Flow,
    depth: usize,
    notes: &mut Vec<String>,
    maybe_accept: &mut Option<String>,
) -> End {
    if depth > 16 {
        return End::Fallthrough;
    }
    for r in &c.rules {
        let m = rule_matches(r, flow);
        if m == Tri::No {
            continue;
        }
        let describe = || format!("{r} (handle {})", r.handle);
        match (&r.verdict, m) {
            (None | Some(NftVerdict::Continue), _) => {}
            (Some(NftVerdict::Accept), Tri::Yes) => return End::Accept(describe()),
            (Some(v), Tri::Yes) if v.stops() => return End::Drop(format!("rule `{}`", describe())),
            (Some(NftVerdict::Return), Tri::Yes) => return End::Fallthrough,
            (Some(NftVerdict::Jump { target } | NftVerdict::Goto { target }), _) => {
                let goto = matches!(r.verdict, Some(NftVerdict::Goto { .. }));
                let Some(sub) = t.chain(target) else { continue };
                match (run(t, sub, flow, depth + 1, notes, maybe_accept), m) {
                    (End::Fallthrough, Tri::Yes) if goto => return End::Fallthrough,
                    (End::Fallthrough, _) => {}
                    (end, Tri::Yes) => return end,
                    (End::Drop(by), _) => notes.push(format!("may drop part of it: {by}")),
                    (End::Accept(by), _) => {
                        maybe_accept.get_or_insert(by);
                    }
                }
            }
            // Only a rule that names this traffic counts as its way through.
            (Some(NftVerdict::Accept), _) if mentions(r, flow) => {
                maybe_accept.get_or_insert_with(describe);
            }
            (Some(v), _) if v.stops() => {
                notes.push(format!("may drop part of it (narrower): `{}`", describe()))
            }
            _ => {}
        }
    }
    End::Fallthrough
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(rs: &str) -> (Ruleset, FirewallObs) {
        let rs = netcheck_model::nftables::parse(rs).unwrap();
        // No iptables rules at all: the nftables ruleset is the whole firewall.
        let fw = serde_json::from_value(serde_json::json!({
            "backend": "iptables-nft", "version": "", "tables": {}
        }))
        .unwrap();
        (rs, fw)
    }

    fn egress() -> Flow<'static> {
        Flow {
            v6: false,
            iif: Iface::Is("br-1"),
            oif: Iface::NotThis("br-1"),
            bridge: None,
            saddr: Some("172.18.0.0/16".parse().unwrap()),
            daddr: None,
            established: false,
        }
    }

    fn doc(chain: &str, rules: &[&str]) -> String {
        let mut items = vec![
            r#"{"table": {"family": "inet", "name": "filter"}}"#.to_string(),
            chain.to_string(),
        ];
        for (i, r) in rules.iter().enumerate() {
            items.push(format!(
                r#"{{"rule": {{"family": "inet", "table": "filter", "chain": "forward", "handle": {}, "expr": {r}}}}}"#,
                i + 10
            ));
        }
        format!(r#"{{"nftables": [{}]}}"#, items.join(","))
    }

    const DROP_CHAIN: &str = r#"{"chain": {"family": "inet", "table": "filter", "name": "forward", "type": "filter", "hook": "forward", "prio": 0, "policy": "drop"}}"#;

    #[test]
    fn a_drop_policy_with_nothing_for_the_network_drops_it() {
        let (rs, fw) = load(&doc(
            DROP_CHAIN,
            &[
                r#"[{"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": ["established", "related"]}}, {"accept": null}]"#,
                r#"[{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 22}}, {"accept": null}]"#,
            ],
        ));
        let v = walk(&rs, &fw, &["ip", "inet"], &["forward"], &egress());
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].drop.as_deref(), Some("policy drop"));
        assert_eq!(v[0].table, "inet filter");
        // Replies pass the established rule.
        let back = Flow {
            established: true,
            ..egress()
        };
        assert_eq!(walk(&rs, &fw, &["inet"], &["forward"], &back)[0].drop, None);
    }

    #[test]
    fn an_accept_for_the_bridge_lets_it_through_and_a_rule_drop_is_named() {
        let (rs, fw) = load(&doc(
            DROP_CHAIN,
            &[
                r#"[{"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "br-*"}}, {"accept": null}]"#,
            ],
        ));
        assert_eq!(
            walk(&rs, &fw, &["inet"], &["forward"], &egress())[0].drop,
            None
        );
        let accept = r#"{"chain": {"family": "inet", "table": "filter", "name": "forward", "type": "filter", "hook": "forward", "prio": 0, "policy": "accept"}}"#;
        let (rs, fw) = load(&doc(
            accept,
            &[
                r#"[{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": {"prefix": {"addr": "172.16.0.0", "len": 12}}}}, {"drop": null}]"#,
            ],
        ));
        let v = walk(&rs, &fw, &["inet"], &["forward"], &egress());
        assert_eq!(
            v[0].drop.as_deref(),
            Some("rule `ip saddr 172.16.0.0/12 drop (handle 10)`")
        );
        // IPv6 traffic is not matched by an ip saddr rule.
        let v6 = Flow {
            v6: true,
            saddr: Some("fd00::/64".parse().unwrap()),
            ..egress()
        };
        assert_eq!(walk(&rs, &fw, &["inet"], &["forward"], &v6)[0].drop, None);
    }

    #[test]
    fn iptables_nft_docker_netavark_and_netcheck_tables_are_not_foreign() {
        let (rs, mut fw) = load(
            r#"{"nftables": [
            {"table": {"family": "ip", "name": "filter"}},
            {"chain": {"family": "ip", "table": "filter", "name": "FORWARD", "type": "filter", "hook": "forward", "prio": 0, "policy": "drop"}},
            {"table": {"family": "ip", "name": "docker-bridges"}},
            {"chain": {"family": "ip", "table": "docker-bridges", "name": "forward", "type": "filter", "hook": "forward", "prio": 0, "policy": "drop"}},
            {"table": {"family": "inet", "name": "netavark"}},
            {"chain": {"family": "inet", "table": "netavark", "name": "FORWARD", "type": "filter", "hook": "forward", "prio": 0, "policy": "drop"}}
        ]}"#,
        );
        fw.backend = "iptables-nft".into();
        assert!(walk(&rs, &fw, &["ip", "inet"], &["forward"], &egress()).is_empty());
    }
}
