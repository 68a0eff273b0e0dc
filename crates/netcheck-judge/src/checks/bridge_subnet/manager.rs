//! bridge.subnet: what a network manager leaves on Docker's bridge and its ports.

use ipnet::IpNet;

use super::Code;
use crate::checks::{Findings, Subject, sh};
use netcheck_model::snapshot::{LinkObs, NetnsObs, NetworkObs, TABLE_MAIN, table_name};

/// Where the network manager's hands are to be kept off Docker's interfaces.
const MANAGER_FIX: &str = "tell the network manager to leave Docker's interfaces alone: \
NetworkManager: unmanaged-devices=interface-name:docker*;interface-name:br-*;interface-name:veth* \
in /etc/NetworkManager/conf.d/docker.conf; dhcpcd: denyinterfaces docker* br-* veth* in \
/etc/dhcpcd.conf; connman: NetworkInterfaceBlacklist=docker,br-,veth in /etc/connman/main.conf";

/// What a network manager leaves on Docker's interfaces: a link-local address, an
/// address on a bridge port, a second IPv6 link-local address, a default route. Docker
/// puts none of these there; they mean the manager treats the interface as its own.
pub(super) fn judge_manager_leftovers(
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
