//! `ip rule`: the rules as the kernel reports them, which firewall marks they select,
//! and which rule picked the table a lookup's answer came from.

use ipnet::IpNet;
use rtnetlink::packet_route::rule::{RuleAction, RuleAttribute, RuleFlags, RuleMessage};

use netcheck_model::snapshot::RuleObs;

use super::Packet;

/// The marks the firewall's mangle rules set (`--set-mark`, `--set-xmark`) that an
/// `ip rule fwmark` selects, at most four: the marks that can change a route.
pub(super) fn selected_marks(
    fw: Option<&netcheck_model::snapshot::FirewallObs>,
    rules: &[RuleObs],
) -> Vec<u32> {
    let mut marks: Vec<u32> = fw
        .and_then(|fw| fw.tables.get("mangle"))
        .into_iter()
        .flatten()
        .filter_map(|line| netcheck_model::snapshot::set_mark(line))
        .filter(|m| {
            rules.iter().any(|r| {
                r.fwmark
                    .is_some_and(|f| m & r.fwmask.unwrap_or(u32::MAX) == f)
            })
        })
        .collect();
    marks.sort_unstable();
    marks.dedup();
    marks.truncate(4);
    marks
}

/// The rule that picked `table` for the packet: the first, in priority order, whose
/// selectors match it and that looks up that table, unless its answer was too short for
/// its `suppress_prefixlength`. Packets from containers carry no mark unless asked with one.
pub(super) fn chosen_rule(
    rules: &[RuleObs],
    p: &Packet,
    table: u32,
    matched: Option<IpNet>,
) -> Option<u32> {
    let v6 = p.to.is_ipv6();
    // The host's own packets arrive on `lo` as far as rules are concerned.
    let iif = p.iif.as_ref().map(|(_, n)| n.as_str()).unwrap_or("lo");
    for r in rules.iter().filter(|r| r.v6 == v6) {
        if r.other_selectors {
            // Whether it matches cannot be told: nor, then, which rule decided.
            if r.action == "lookup" && r.table == table {
                return None;
            }
            continue;
        }
        let selects = r
            .from
            .is_none_or(|f| p.from.is_some_and(|a| f.contains(&a)))
            && r.to.is_none_or(|t| t.contains(&p.to))
            && r.iif.as_deref().is_none_or(|i| i == iif)
            && r.oif.is_none()
            && r.fwmark
                .is_none_or(|m| p.mark.unwrap_or(0) & r.fwmask.unwrap_or(u32::MAX) == m);
        if selects == r.invert || r.action != "lookup" || r.table != table {
            continue;
        }
        let suppressed = r
            .suppress_prefixlength
            .zip(matched)
            .is_some_and(|(s, m)| u32::from(m.prefix_len()) <= s);
        if !suppressed {
            return Some(r.priority);
        }
    }
    None
}

/// A rule as the snapshot records it.
pub(super) fn rule_obs(msg: RuleMessage) -> RuleObs {
    let h = &msg.header;
    let mut r = RuleObs {
        v6: h.family == rtnetlink::packet_route::AddressFamily::Inet6,
        action: match h.action {
            RuleAction::ToTable => "lookup".into(),
            RuleAction::Goto => "goto".into(),
            RuleAction::Nop => "nop".into(),
            RuleAction::Blackhole => "blackhole".into(),
            RuleAction::Unreachable => "unreachable".into(),
            RuleAction::Prohibit => "prohibit".into(),
            other => format!("{other:?}").to_lowercase(),
        },
        table: u32::from(h.table),
        invert: h.flags.contains(RuleFlags::Invert),
        ..RuleObs::default()
    };
    for attr in &msg.attributes {
        match attr {
            RuleAttribute::Priority(p) => r.priority = *p,
            RuleAttribute::Table(t) => r.table = *t,
            RuleAttribute::Source(a) => r.from = IpNet::new(*a, h.src_len).ok(),
            RuleAttribute::Destination(a) => r.to = IpNet::new(*a, h.dst_len).ok(),
            RuleAttribute::Iifname(i) => r.iif = Some(i.clone()),
            RuleAttribute::Oifname(o) => r.oif = Some(o.clone()),
            RuleAttribute::FwMark(m) => r.fwmark = Some(*m),
            RuleAttribute::FwMask(m) => r.fwmask = Some(*m),
            RuleAttribute::SuppressPrefixLen(s) if *s != u32::MAX => {
                r.suppress_prefixlength = Some(*s)
            }
            RuleAttribute::UidRange(_)
            | RuleAttribute::IpProtocol(_)
            | RuleAttribute::SourcePortRange(_)
            | RuleAttribute::DestinationPortRange(_)
            | RuleAttribute::TunId(_)
            | RuleAttribute::L3MDev(true) => r.other_selectors = true,
            _ => {}
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use netcheck_model::snapshot::LookupPath;

    use super::super::EGRESS_PROBE_V4;
    use super::*;

    fn rule(priority: u32, table: u32) -> RuleObs {
        RuleObs {
            priority,
            action: "lookup".into(),
            table,
            ..RuleObs::default()
        }
    }

    fn egress(iif: &str) -> Packet {
        Packet {
            network: "n".into(),
            path: LookupPath::Egress,
            from: Some("172.18.0.2".parse().unwrap()),
            iif: Some((7, iif.into())),
            to: IpAddr::V4(EGRESS_PROBE_V4),
            mark: None,
        }
    }

    /// wg-quick: main first with suppress_prefixlength 0, then `not fwmark` to its table.
    fn wg_quick() -> Vec<RuleObs> {
        vec![
            rule(0, 255),
            RuleObs {
                suppress_prefixlength: Some(0),
                ..rule(32764, 254)
            },
            RuleObs {
                fwmark: Some(0xca6c),
                invert: true,
                ..rule(32765, 51820)
            },
            rule(32766, 254),
        ]
    }

    #[test]
    fn the_rule_that_picked_the_table_is_named() {
        let rules = wg_quick();
        let default: IpNet = "0.0.0.0/0".parse().unwrap();
        // The default route of main is suppressed: the tunnel's table answers, by 32765.
        assert_eq!(
            chosen_rule(&rules, &egress("br-x"), 51820, Some(default)),
            Some(32765)
        );
        // A specific route of main is not suppressed: 32764 decided.
        let bridge: IpNet = "172.18.0.0/16".parse().unwrap();
        assert_eq!(
            chosen_rule(&rules, &egress("br-x"), 254, Some(bridge)),
            Some(32764)
        );
    }

    #[test]
    fn selectors_are_honoured() {
        let mut rules = vec![
            RuleObs {
                iif: Some("br-other".into()),
                ..rule(100, 52)
            },
            RuleObs {
                fwmark: Some(0x80000),
                fwmask: Some(0xff0000),
                ..rule(200, 52)
            },
            RuleObs {
                from: Some("10.0.0.0/8".parse().unwrap()),
                ..rule(300, 52)
            },
        ];
        // None matches an unmarked packet from 172.18.0.2 on br-x.
        assert_eq!(chosen_rule(&rules, &egress("br-x"), 52, None), None);
        // A packet with the mark (under the rule's mask) is selected by the fwmark rule.
        let marked = Packet {
            mark: Some(0x80001),
            ..egress("br-x")
        };
        assert_eq!(chosen_rule(&rules, &marked, 52, None), Some(200));
        assert_eq!(
            netcheck_model::snapshot::set_mark(
                "-A PREROUTING -s 172.18.0.0/16 -j MARK --set-xmark 0x80001/0xffffffff"
            ),
            Some(0x80001)
        );
        rules.push(rule(5270, 52));
        assert_eq!(chosen_rule(&rules, &egress("br-x"), 52, None), Some(5270));
        // A rule netcheck cannot evaluate hides which one decided.
        rules.insert(
            0,
            RuleObs {
                other_selectors: true,
                ..rule(50, 52)
            },
        );
        assert_eq!(chosen_rule(&rules, &egress("br-x"), 52, None), None);
    }
}
