//! Whether an nftables rule's matches take a class of packets ([`Flow`]): yes, no, or
//! maybe, where a static reading cannot decide (a port, a named set, a statement it does
//! not understand).

use ipnet::IpNet;

use super::{Flow, Iface};
use netcheck_model::nftables::NftRule;

/// A match's answer for a class of packets: a static reading cannot always decide.
#[derive(Clone, Copy, PartialEq, Debug)]
pub(super) enum Tri {
    Yes,
    No,
    Maybe,
}

/// Whether a rule names this flow positively (its interface or addresses).
pub(super) fn mentions(r: &NftRule, flow: &Flow) -> bool {
    r.matches.iter().any(|m| {
        one(&m.left, &m.op, &m.right, flow) == Tri::Yes
            && (m.left.contains("if") || m.left.contains("addr") || m.left.contains("br"))
    })
}

/// Whether a rule surely matches every packet of `flow` (its statements aside).
pub(crate) fn rule_applies(r: &NftRule, flow: &Flow) -> bool {
    rule_matches(r, flow) == Tri::Yes
}

pub(super) fn rule_matches(r: &NftRule, flow: &Flow) -> Tri {
    let mut all = Tri::Yes;
    for m in &r.matches {
        match one(&m.left, &m.op, &m.right, flow) {
            Tri::No => return Tri::No,
            Tri::Maybe => all = Tri::Maybe,
            Tri::Yes => {}
        }
    }
    // Statements not understood (`xt match conntrack`) may narrow the rule.
    if r.other.iter().any(|o| o.starts_with("xt match")) {
        all = if all == Tri::Yes { Tri::Maybe } else { all };
    }
    all
}

fn negate(t: Tri) -> Tri {
    match t {
        Tri::Yes => Tri::No,
        Tri::No => Tri::Yes,
        Tri::Maybe => Tri::Maybe,
    }
}

/// The values of a match's right side: `{ a, b }` or `a,b` or one.
fn values(right: &str) -> Vec<&str> {
    right
        .trim_start_matches('{')
        .trim_end_matches('}')
        .split(',')
        .map(|v| v.trim().trim_matches('"'))
        .filter(|v| !v.is_empty())
        .collect()
}

fn one(left: &str, op: &str, right: &str, flow: &Flow) -> Tri {
    let positive = match op {
        "==" | "in" => true,
        "!=" => false,
        _ => return Tri::Maybe,
    };
    if right.starts_with('@') {
        return Tri::Maybe;
    }
    let vals = values(right);
    let any = |f: &dyn Fn(&str) -> Tri| {
        let mut r = Tri::No;
        for v in &vals {
            match f(v) {
                Tri::Yes => return Tri::Yes,
                Tri::Maybe => r = Tri::Maybe,
                Tri::No => {}
            }
        }
        r
    };
    let t = match left {
        "iifname" => any(&|v| iface(flow.iif, v)),
        "oifname" => any(&|v| iface(flow.oif, v)),
        "ibrname" | "ibridgename" | "obrname" | "obridgename" => match flow.bridge {
            Some(b) => any(&|v| if glob(v, b) { Tri::Yes } else { Tri::No }),
            None => Tri::No,
        },
        "nfproto" | "meta nfproto" => {
            let fam = if flow.v6 { "ipv6" } else { "ipv4" };
            any(&|v| if v == fam { Tri::Yes } else { Tri::No })
        }
        "ip saddr" | "ip daddr" | "ip6 saddr" | "ip6 daddr" => {
            if left.starts_with("ip6") != flow.v6 {
                // An ip match never matches an IPv6 packet, whatever the operator.
                return Tri::No;
            }
            let range = if left.ends_with("saddr") {
                flow.saddr
            } else {
                flow.daddr
            };
            any(&|v| addr(range, v))
        }
        "ct state" => any(&|v| match v {
            "established" | "related" => {
                if flow.established {
                    Tri::Yes
                } else {
                    Tri::No
                }
            }
            "new" => {
                if flow.established {
                    Tri::No
                } else {
                    Tri::Yes
                }
            }
            _ => Tri::No,
        }),
        _ => Tri::Maybe,
    };
    if positive { t } else { negate(t) }
}

/// nft's interface wildcard: `br-*`.
fn glob(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

fn iface(known: Iface, pattern: &str) -> Tri {
    match known {
        Iface::Is(name) => {
            if glob(pattern, name) {
                Tri::Yes
            } else {
                Tri::No
            }
        }
        Iface::NotThis(name) if glob(pattern, name) => Tri::No,
        _ => Tri::Maybe,
    }
}

fn addr(range: Option<IpNet>, v: &str) -> Tri {
    let Some(range) = range else {
        return Tri::Maybe;
    };
    let parsed = v
        .parse::<IpNet>()
        .or_else(|_| v.parse::<std::net::IpAddr>().map(IpNet::from));
    let Ok(net) = parsed else { return Tri::Maybe };
    if net.contains(&range.network()) && net.prefix_len() <= range.prefix_len() {
        Tri::Yes
    } else if range.contains(&net.network()) || net.contains(&range.network()) {
        Tri::Maybe
    } else {
        Tri::No
    }
}
