//! Routing as the kernel decides it, for `bridge.subnet` and `link.mtu`: the kernel's
//! answers to route lookups (collected per network), explained by `ip rule` and the
//! policy tables, with the main table as the fallback for snapshots without them.

use ipnet::IpNet;

use super::bridge_subnet::Code;
use super::{Findings, Subject, sh};
use netcheck_model::snapshot::{
    HostObs, LinkObs, LookupPath, NetnsObs, NetworkObs, Observed, RouteLookup, RoutingObs, RuleObs,
    TABLE_DEFAULT, TABLE_LOCAL, TABLE_MAIN, table_name,
};

/// Where the network manager's hands are to be kept off Docker's interfaces.
const MANAGER_FIX: &str = "tell the network manager to leave Docker's interfaces alone: \
NetworkManager: unmanaged-devices=interface-name:docker*;interface-name:br-*;interface-name:veth* \
in /etc/NetworkManager/conf.d/docker.conf; dhcpcd: denyinterfaces docker* br-* veth* in \
/etc/dhcpcd.conf; connman: NetworkInterfaceBlacklist=docker,br-,veth in /etc/connman/main.conf";

const CAPTURE_FIX: &str = "a policy rule and its table take Docker's subnet away from the bridge \
(a VPN: Tailscale's table 52, wg-quick's 51820): move the network off the VPN's range \
(docker network create --subnet, \"default-address-pools\" in /etc/docker/daemon.json), or \
stop the VPN from routing it (Tailscale: do not accept a subnet route over it; WireGuard: \
AllowedIPs without it)";

/// The kernel's routing answers of the snapshot, or the note that says why the main
/// table alone is read.
pub(crate) fn observed<'a>(f: &mut Findings, host: &'a HostObs) -> Option<&'a RoutingObs> {
    match &host.routing {
        Some(Observed::Ok { value }) => Some(value),
        None => {
            f.note(
                "no kernel route lookups in this snapshot (taken by an older netcheck): \
                 routes judged from the main table alone",
            );
            None
        }
        Some(other) => {
            f.note(format!(
                "kernel route lookups failed ({}): routes judged from the main table alone",
                other.why_missing().unwrap_or("")
            ));
            None
        }
    }
}

/// The rule that picked an answer's table, as `ip rule` prints it.
fn rule_text(routing: &RoutingObs, l: &RouteLookup) -> Option<String> {
    let r = l.route.as_ref()?;
    let rule = routing.rule(l.to.is_ipv6(), r.rule?)?;
    Some(format!("rule \"{}\"", rule.describe()))
}

/// `rule "5270: from all lookup 52" picks table 52, route 172.20.0.0/16 dev wg0`.
fn explain(routing: &RoutingObs, l: &RouteLookup) -> String {
    let Some(r) = &l.route else {
        return format!(
            "the kernel answers: {}",
            l.error.as_deref().unwrap_or("no route")
        );
    };
    let route = format!(
        "route {}{}",
        r.matched.map(|m| format!("{m} ")).unwrap_or_default(),
        r.oif
            .as_deref()
            .map(|o| format!("dev {o}"))
            .unwrap_or_default()
    );
    match rule_text(routing, l) {
        Some(rule) => format!("{rule} picks table {}, {route}", table_name(r.table)),
        None => format!("table {}, {route}", table_name(r.table)),
    }
}

/// bridge.subnet's routing half: the host's packets to the network's containers, and
/// the answers to their traffic from outside, must leave by the network's bridge.
pub(crate) fn judge_capture(
    f: &mut Findings,
    routing: &RoutingObs,
    ns: &NetnsObs,
    n: &NetworkObs,
    subnet: IpNet,
    docker_bridges: &[&str],
) {
    for l in routing.lookups.iter().filter(|l| l.network == n.name) {
        f.note(describe(l));
    }
    let mut captured_tables = vec![];
    for v6 in [false, true] {
        let mut reported_oif = None;
        for path in [LookupPath::Host, LookupPath::Return] {
            let Some(l) = routing.lookup(&n.name, path, v6) else {
                continue;
            };
            // A refused answer on the return path is source validation (rp_filter)
            // about the outside address, not a verdict on the subnet.
            if path == LookupPath::Return && l.route.is_none() {
                continue;
            }
            let oif = l.route.as_ref().and_then(|r| r.oif.clone());
            if oif.as_deref() == Some(n.bridge.as_str()) || reported_oif == Some(oif.clone()) {
                continue;
            }
            captured_tables.extend(lookup_captured(f, routing, n, l, path, oif.as_deref()));
            reported_oif = Some(oif);
        }
    }
    judge_policy_tables(f, routing, ns, n, subnet, docker_bridges, &captured_tables);
}

/// Lookup `l` on `path` leaves by `oif` (or nowhere), not by the network's bridge: a
/// failure. Returns the table whose route took it, which the policy tables then skip.
fn lookup_captured(
    f: &mut Findings,
    routing: &RoutingObs,
    n: &NetworkObs,
    l: &RouteLookup,
    path: LookupPath,
    oif: Option<&str>,
) -> Option<u32> {
    let who = match path {
        LookupPath::Host => "the host's packets",
        _ => "answers from outside",
    };
    let message = match oif {
        Some(o) => format!(
            "{who} to {} (network {}) leave by {o}, not bridge {}: {}",
            l.to,
            n.name,
            n.bridge,
            explain(routing, l)
        ),
        None => format!(
            "{who} to {} (network {}) do not reach bridge {}: {}",
            l.to,
            n.name,
            n.bridge,
            explain(routing, l)
        ),
    };
    let table = l.route.as_ref().map(|r| r.table);
    let hint = if table.is_some_and(|t| t != TABLE_MAIN) {
        format!("{CAPTURE_FIX}; see it: ip route get {}", l.to)
    } else {
        format!(
            "a route or rule takes Docker's subnet away from the bridge: see it with ip route get {}, \
             then remove it or move the network (docker network create --subnet)",
            l.to
        )
    };
    let subject = Subject::Route {
        destination: l
            .route
            .as_ref()
            .and_then(|r| r.matched)
            .map_or_else(|| l.to.to_string(), |m| m.to_string()),
        table: table.filter(|t| *t != TABLE_MAIN),
    };
    f.fail_at(Code::RouteCapturesSubnet, subject, message, hint);
    table
}

/// The tables that unmarked packets consult before main: a route in them over part of
/// the subnet takes those addresses away, whichever address the lookups used. Tables
/// already `captured` by a lookup were reported there.
fn judge_policy_tables(
    f: &mut Findings,
    routing: &RoutingObs,
    ns: &NetnsObs,
    n: &NetworkObs,
    subnet: IpNet,
    docker_bridges: &[&str],
    captured: &[u32],
) {
    let v6 = subnet.addr().is_ipv6();
    let main_at = routing
        .rules
        .iter()
        .filter(|r| r.v6 == v6 && r.action == "lookup" && r.table == TABLE_MAIN)
        .find(|r| plain(r) && r.suppress_prefixlength.is_none())
        .map_or(u32::MAX, |r| r.priority);
    for rule in routing.rules.iter().filter(|r| {
        r.v6 == v6
            && r.priority < main_at
            && r.action == "lookup"
            && ![TABLE_MAIN, TABLE_LOCAL, TABLE_DEFAULT].contains(&r.table)
            && !captured.contains(&r.table)
            && plain(r)
            && r.to.is_none_or(|t| overlaps(&t, &subnet))
    }) {
        for r in ns.routes.iter().filter(|r| {
            r.table == rule.table
                && r.dst.prefix_len() >= 8
                && r.kind.as_deref() != Some("throw")
                && overlaps(&r.dst, &subnet)
        }) {
            let dev = r.oif.map(|i| ns.link_name(i)).unwrap_or_default();
            if docker_bridges.contains(&dev.as_str()) {
                continue;
            }
            let what = match &r.kind {
                Some(k) => format!("{k} {}", r.dst),
                None => format!("{} dev {dev}", r.dst),
            };
            let subject = Subject::Route {
                destination: r.dst.to_string(),
                table: Some(rule.table),
            };
            f.fail_at(
                Code::PolicyTableOverlapsSubnet,
                subject,
                format!(
                    "rule \"{}\" sends packets to {} of network {} to table {}, whose route {what} \
                     overlaps it",
                    rule.describe(),
                    subnet,
                    n.name,
                    table_name(rule.table)
                ),
                CAPTURE_FIX,
            );
        }
    }
}

/// What a network manager leaves on Docker's interfaces: a link-local address, an
/// address on a bridge port, a second IPv6 link-local address, a default route. Docker
/// puts none of these there; they mean the manager treats the interface as its own.
pub(crate) fn judge_manager_leftovers(
    f: &mut Findings,
    ns: &NetnsObs,
    n: &NetworkObs,
    br: &LinkObs,
) {
    let ports: Vec<&LinkObs> = ns
        .links
        .iter()
        .filter(|l| l.master == Some(br.index))
        .collect();
    let link_local_v4: IpNet = "169.254.0.0/16".parse().expect("a prefix");
    let link_local_v6: IpNet = "fe80::/10".parse().expect("a prefix");
    for link in std::iter::once(br).chain(ports.iter().copied()) {
        let role = if link.index == br.index {
            format!("bridge {} of network {}", link.name, n.name)
        } else {
            format!(
                "{}, a port of bridge {} (network {})",
                link.name, br.name, n.name
            )
        };
        let addrs: Vec<IpNet> = ns.addrs_of(link.index).collect();
        let mut flagged_ll = false;
        for a in &addrs {
            let stray = if link_local_v4.contains(&a.addr()) {
                Some((Code::LinkLocalAddress, "a link-local address"))
            } else if link.index != br.index && a.addr().is_ipv4() {
                Some((Code::AddressOnBridgePort, "an address on a bridge port"))
            } else {
                None
            };
            if let Some((slug, what)) = stray {
                flagged_ll = true;
                f.fail_at(
                    slug,
                    Subject::interface(&link.name),
                    format!(
                        "{role} carries {a}, {what} that a network manager (NetworkManager, connman, dhcpcd) put there"
                    ),
                    format!("ip addr del {a} dev {}; then {MANAGER_FIX}", sh(&link.name)),
                );
            }
        }
        // The kernel gives an interface one IPv6 link-local address (Docker adds
        // fe80::1 to its bridges): another is a manager's (stable-privacy, DHCP).
        let v6_ll: Vec<&IpNet> = addrs
            .iter()
            .filter(|a| link_local_v6.contains(&a.addr()))
            .filter(|a| a.addr() != "fe80::1".parse::<std::net::IpAddr>().expect("an address"))
            .collect();
        if v6_ll.len() > 1 {
            f.fail_at(
                Code::ExtraLinkLocalAddress,
                Subject::interface(&link.name),
                format!(
                    "{role} carries {} IPv6 link-local addresses ({}): a network manager added its own",
                    v6_ll.len(),
                    v6_ll.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(", ")
                ),
                format!(
                    "ip addr del {} dev {}; then {MANAGER_FIX}",
                    v6_ll[1],
                    sh(&link.name)
                ),
            );
        }
        for r in ns.routes.iter().filter(|r| r.oif == Some(link.index)) {
            let (is_default, is_ll) = (
                r.dst.prefix_len() == 0,
                r.dst == link_local_v4 && !flagged_ll,
            );
            if !(is_default || is_ll) {
                continue;
            }
            let metric = r
                .priority
                .map(|p| format!(" metric {p}"))
                .unwrap_or_default();
            let (slug, what) = if is_default {
                (Code::DefaultRouteOnBridge, "a default route")
            } else {
                (Code::LinkLocalRouteOnBridge, "a link-local route")
            };
            let subject = Subject::Route {
                destination: r.dst.to_string(),
                table: Some(r.table).filter(|t| *t != TABLE_MAIN),
            };
            f.fail_at(
                slug,
                subject,
                format!(
                    "{what} {} dev {}{metric} (table {}) on {role}: a network manager treats it as an uplink",
                    r.dst,
                    link.name,
                    table_name(r.table)
                ),
                format!(
                    "ip route del {} dev {}{metric} table {}; then {MANAGER_FIX}",
                    r.dst,
                    sh(&link.name),
                    r.table
                ),
            );
        }
    }
}

/// Where a network's traffic leaves the host, as the kernel routes it: its egress
/// answers (IPv4, and IPv6 where enabled), the one with the smallest MTU.
pub(crate) fn egress<'a>(routing: &'a RoutingObs, n: &NetworkObs) -> Option<&'a RouteLookup> {
    routing
        .lookups
        .iter()
        .filter(|l| l.network == n.name && l.path == LookupPath::Egress)
        .filter(|l| {
            l.route
                .as_ref()
                .is_some_and(|r| r.oif.is_some() && r.mtu.is_some())
        })
        .min_by_key(|l| l.route.as_ref().and_then(|r| r.mtu))
}

/// `rule "5000: iif br-x lookup 1380" picks table 1380`: why the egress leaves where it
/// does, for a message; None where the main table decided.
pub(crate) fn policy(routing: &RoutingObs, l: &RouteLookup) -> Option<String> {
    let r = l.route.as_ref()?;
    if r.table == TABLE_MAIN {
        return None;
    }
    Some(match rule_text(routing, l) {
        Some(rule) => format!("{rule} picks table {}", table_name(r.table)),
        None => format!("table {} routes it", table_name(r.table)),
    })
}

/// A lookup as evidence.
pub(crate) fn describe(l: &RouteLookup) -> String {
    format!(
        "kernel, {} path: {} -> {}",
        path_name(l.path),
        l.describe_packet(),
        l.describe_answer()
    )
}

/// A rule that applies to any unmarked packet: no source, interface or other selector
/// (wg-quick's `not fwmark 51820` applies to every unmarked packet too).
fn plain(r: &RuleObs) -> bool {
    r.from.is_none()
        && r.iif.is_none()
        && r.oif.is_none()
        && !r.other_selectors
        && r.fwmark.is_some() == r.invert
}

fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

fn path_name(p: LookupPath) -> &'static str {
    match p {
        LookupPath::Egress => "egress",
        LookupPath::Return => "return",
        LookupPath::Host => "host",
    }
}

/// For checks whose requests failed: the host's packets to the network's containers
/// leave by another interface than its bridge (bridge.subnet names the rule). Returns
/// the cause and its fix, as `request_lost` does.
pub(crate) fn captured(ctx: &super::Context, n: &NetworkObs) -> Option<(String, String)> {
    let Some(Observed::Ok { value: routing }) = &ctx.snapshot.host.ok()?.routing else {
        return None;
    };
    let l = routing.lookup(&n.name, LookupPath::Host, false)?;
    let oif = l.route.as_ref()?.oif.as_deref()?;
    (oif != n.bridge).then(|| {
        (
            format!(
                "the host's packets to {} of {} leave by {oif}, not bridge {} (see bridge.subnet)",
                l.to, n.name, n.bridge
            ),
            format!("{CAPTURE_FIX}; see it: ip route get {}", l.to),
        )
    })
}
