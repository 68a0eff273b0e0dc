//! Egress from every checked network, not only the one the probe's default route uses.
//!
//! The probe joins every checked network, but the engine gives it one default route:
//! its traffic leaves through one network, and the masquerade of the others would go
//! untested. So netcheck adds, inside the probe's own namespace (netcheck's container,
//! entered from the host as root; nothing changes in any other namespace), one policy
//! rule per other network: a socket bound to that network's interface looks up a table
//! whose default route is that network's gateway. The request to the outside peer then
//! leaves through that network's bridge, is forwarded and masqueraded as a container
//! that lives only there would be, and the peer says which source it saw. The rules
//! vanish with the probe container.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use rtnetlink::RouteMessageBuilder;
use rtnetlink::packet_route::rule::RuleAction;

use super::stand_ins::Located;
use crate::net::in_netns;
use netcheck_model::protocol::{ErrorKind, Purpose};
use netcheck_model::snapshot::{ContainerObs, NetnsObs, NetworkObs, ProbeObs, Request};

/// Tables and rule priorities of netcheck's own in the probe's namespace: nothing else
/// uses it, so any free numbers do; these are easy to spot in `ip rule`.
const FIRST_TABLE: u32 = 1000;
/// The same for the IPv6 routes: a table of their own, apart from IPv4's.
const FIRST_TABLE_V6: u32 = 1100;

/// One network to send from: the probe's interface on it, and its gateway.
struct Route<A> {
    network: String,
    device: String,
    index: u32,
    gateway: A,
}

/// An address family's part in the routes: its gateway's type, its tables, how its
/// requests are named, and its netlink route and rule.
trait Family: Copy + std::fmt::Display + Send + Sync {
    const FIRST_TABLE: u32;
    const NAME: &'static str;
    fn gateway(n: &NetworkObs) -> Option<Self>;
    fn purpose(network: &str) -> Purpose;
    fn default_route(self, index: u32, table: u32) -> rtnetlink::packet_route::route::RouteMessage;
    fn rule(handle: &rtnetlink::Handle) -> rtnetlink::RuleAddRequest<Self>;
    /// The interface of a namespace's default route of this family.
    fn default_oif(ns: &NetnsObs) -> Option<u32>;
}

impl Family for Ipv4Addr {
    const FIRST_TABLE: u32 = FIRST_TABLE;
    const NAME: &'static str = "IPv4";
    fn gateway(n: &NetworkObs) -> Option<Self> {
        match n.gateway_v4(None)? {
            IpAddr::V4(g) => Some(g),
            IpAddr::V6(_) => None,
        }
    }
    fn purpose(network: &str) -> Purpose {
        Purpose::outside_from(network)
    }
    fn default_route(self, index: u32, table: u32) -> rtnetlink::packet_route::route::RouteMessage {
        RouteMessageBuilder::<Ipv4Addr>::new()
            .destination_prefix(Ipv4Addr::UNSPECIFIED, 0)
            .gateway(self)
            .output_interface(index)
            .table_id(table)
            .build()
    }
    fn rule(handle: &rtnetlink::Handle) -> rtnetlink::RuleAddRequest<Self> {
        handle.rule().add().v4()
    }
    fn default_oif(ns: &NetnsObs) -> Option<u32> {
        ns.default_routes_v4().find_map(|r| r.oif)
    }
}

impl Family for Ipv6Addr {
    const FIRST_TABLE: u32 = FIRST_TABLE_V6;
    const NAME: &'static str = "IPv6";
    fn gateway(n: &NetworkObs) -> Option<Self> {
        match n.gateway_v6(None)? {
            IpAddr::V6(g) => Some(g),
            IpAddr::V4(_) => None,
        }
    }
    fn purpose(network: &str) -> Purpose {
        Purpose::outside_v6_from(network)
    }
    fn default_route(self, index: u32, table: u32) -> rtnetlink::packet_route::route::RouteMessage {
        RouteMessageBuilder::<Ipv6Addr>::new()
            .destination_prefix(Ipv6Addr::UNSPECIFIED, 0)
            .gateway(self)
            .output_interface(index)
            .table_id(table)
            .build()
    }
    fn rule(handle: &rtnetlink::Handle) -> rtnetlink::RuleAddRequest<Self> {
        handle.rule().add().v6()
    }
    fn default_oif(ns: &NetnsObs) -> Option<u32> {
        ns.default_routes_v6().find_map(|r| r.oif)
    }
}

/// The requests to the outside peer from each checked network other than the probe's
/// egress one, where masquerading is meant to happen. Empty where the probe has no
/// outside request to copy the target from.
pub(super) async fn requests(
    probe: &ProbeObs,
    egress: Option<&str>,
    networks: &[NetworkObs],
    checked: &[String],
    containers: &[ContainerObs],
    stand_ins: &[Located<'_>],
    timeout: Duration,
) -> Vec<Request> {
    let Some(target) = probe
        .report
        .requests
        .iter()
        .find(|r| r.purpose == Purpose::Outside)
        .and_then(|r| r.addr.as_deref()?.parse::<SocketAddr>().ok())
    else {
        return vec![];
    };
    let from: Vec<&NetworkObs> = networks
        .iter()
        .filter(|n| checked.contains(&n.name) && Some(n.name.as_str()) != egress)
        .filter(|n| !n.internal && n.ip_masquerade && n.subnet_v4().is_some())
        .collect();
    both::<Ipv4Addr>(probe, &from, containers, stand_ins, (target, timeout)).await
}

/// The IPv6 requests to the outside peer's IPv6 address, one from each checked network
/// that has IPv6, the default route's one included (IPv6 egress is tested nowhere
/// else). The peer says which source it saw: the host's address where the engine does
/// NAT66, the container's own where it routes.
pub(super) async fn requests_v6(
    probe: &ProbeObs,
    networks: &[NetworkObs],
    checked: &[String],
    containers: &[ContainerObs],
    stand_ins: &[Located<'_>],
    timeout: Duration,
) -> Vec<Request> {
    let Some(v6) = probe.outside.ok().and_then(|o| o.v6.as_ref()) else {
        return vec![];
    };
    let target = SocketAddr::new(v6.peer_addr, v6.port);
    let from: Vec<&NetworkObs> = networks
        .iter()
        .filter(|n| checked.contains(&n.name) && n.enable_ipv6 && !n.internal)
        .collect();
    let bridges: Vec<&str> = from.iter().map(|n| n.bridge.as_str()).collect();
    let probe_pid = containers.iter().find(|c| c.probe).and_then(|c| c.pid);
    until_addresses_settle(&bridges, probe_pid).await;
    both::<Ipv6Addr>(probe, &from, containers, stand_ins, (target, timeout)).await
}

/// Each network's request, from the probe's interface on it or from its stand-in.
async fn both<A: Family>(
    probe: &ProbeObs,
    from: &[&NetworkObs],
    containers: &[ContainerObs],
    stand_ins: &[Located<'_>],
    (target, timeout): (SocketAddr, Duration),
) -> Vec<Request> {
    let (probe_requests, stand_in_requests) = tokio::join!(
        requests_from::<A>(probe, from, containers, target, timeout),
        from_stand_ins::<A>(from, stand_ins, target, timeout),
    );
    probe_requests
        .into_iter()
        .chain(stand_in_requests)
        .collect()
}

/// The same requests from the stand-ins' namespaces, on the networks the probe did not
/// join. A stand-in is on its network alone, so its own default route leaves through
/// it and no route is added; one whose default route does not (its owner changed it) is
/// not asked, rather than blame the network for the container's own routes.
async fn from_stand_ins<A: Family>(
    from: &[&NetworkObs],
    stand_ins: &[Located<'_>],
    target: SocketAddr,
    timeout: Duration,
) -> Vec<Request> {
    use futures_util::StreamExt;
    let leaves_by_its_network = |s: &&Located| {
        let ns = s.container.interior.ok();
        let index = ns
            .and_then(|ns| ns.link_by_name(&s.device))
            .map(|l| l.index);
        index.is_some() && ns.and_then(A::default_oif) == index
    };
    let asks = (stand_ins.iter())
        .filter(|s| from.iter().any(|n| n.name == s.network.name))
        .filter(leaves_by_its_network)
        .map(|s| {
            in_netns::get_from(
                s.pid,
                &s.device,
                A::purpose(&s.network.name),
                target,
                timeout,
            )
        });
    futures_util::stream::iter(asks)
        .buffered(crate::net::limits::connections_at_once())
        .collect()
        .await
}

/// IPv6 addresses are tentative until duplicate address detection ends, a second or
/// two after they are made: a tentative address answers no neighbour solicitation and
/// takes no traffic. Both ends of the flow are new: the probe's own addresses (its
/// container has just started) and, right after `docker network create`, the bridge's
/// gateway. Waits (3 s at most) until none of the bridges' addresses, nor any in the
/// probe's namespace, is tentative, as `/proc/net/if_inet6` says in each namespace.
async fn until_addresses_settle(bridges: &[&str], probe_pid: Option<u32>) {
    const TENTATIVE: u32 = 0x40;
    const DAD_FAILED: u32 = 0x08;
    // Columns: address, ifindex, prefix length, scope, flags, device.
    let tentative = |table: &str, devices: Option<&[&str]>| {
        table.lines().any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let flags = f
                .get(4)
                .and_then(|x| u32::from_str_radix(x, 16).ok())
                .unwrap_or(0);
            let ours = match devices {
                Some(d) => f.get(5).is_some_and(|dev| d.contains(dev)),
                None => true,
            };
            ours && flags & TENTATIVE != 0 && flags & DAD_FAILED == 0
        })
    };
    let unsettled = || {
        let host = std::fs::read_to_string("/proc/net/if_inet6").unwrap_or_default();
        let probe = probe_pid
            .and_then(|pid| std::fs::read_to_string(format!("/proc/{pid}/net/if_inet6")).ok())
            .unwrap_or_default();
        tentative(&host, Some(bridges)) || tentative(&probe, None)
    };
    let started = std::time::Instant::now();
    while unsettled() && started.elapsed() < Duration::from_secs(3) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Each network's request leaves through its bridge by a policy route in the probe's
/// own namespace.
async fn requests_from<A: Family>(
    probe: &ProbeObs,
    from: &[&NetworkObs],
    containers: &[ContainerObs],
    target: SocketAddr,
    timeout: Duration,
) -> Vec<Request> {
    let Some(pid) = containers.iter().find(|c| c.probe).and_then(|c| c.pid) else {
        return vec![];
    };
    let ns = &probe.report.netns;
    let routes: Vec<Route<A>> = from
        .iter()
        .filter_map(|n| {
            let ep = n
                .endpoints
                .iter()
                .find(|e| e.container_name == probe.container_name)?;
            let link = ns.link_by_mac(ep.mac.as_deref()?)?;
            Some(Route {
                network: n.name.clone(),
                device: link.name.clone(),
                index: link.index,
                gateway: A::gateway(n)?,
            })
        })
        .collect();
    if routes.is_empty() {
        return vec![];
    }
    if let Err(e) = add_routes(pid, &routes).await {
        // Without the routes the requests would leave through the egress network and
        // prove nothing: say why instead.
        return routes
            .iter()
            .map(|r| {
                failed(
                    A::purpose(&r.network),
                    target,
                    format!("routing the probe's {} out ({}): {e}", r.device, A::NAME),
                )
            })
            .collect();
    }
    // As many at a time as the open-file limit leaves room for, as bridge.icc's.
    use futures_util::StreamExt;
    futures_util::stream::iter(
        routes
            .iter()
            .map(|r| in_netns::get_from(pid, &r.device, A::purpose(&r.network), target, timeout)),
    )
    .buffered(crate::net::limits::connections_at_once())
    .collect()
    .await
}

fn failed(purpose: Purpose, target: SocketAddr, error: String) -> Request {
    let mut req = Request::to(purpose, target.to_string(), Some(target.to_string()));
    // Without its route the request was not made: nothing is known of the network.
    req.fail(ErrorKind::Setup, error);
    req
}

/// In the probe's namespace: per network, `oif <device> lookup T` and `default via
/// <gateway> dev <device> table T`.
async fn add_routes<A: Family>(pid: u32, routes: &[Route<A>]) -> Result<(), String> {
    let handle = in_netns::in_netns(pid, || {
        let (connection, handle, _) = rtnetlink::new_connection()?;
        tokio::spawn(connection);
        Ok(handle)
    })?;
    for (i, r) in routes.iter().enumerate() {
        let table = A::FIRST_TABLE + i as u32;
        handle
            .route()
            .add(r.gateway.default_route(r.index, table))
            .execute()
            .await
            .map_err(|e| format!("route via {}: {e}", r.gateway))?;
        A::rule(&handle)
            .output_interface(r.device.clone())
            .table_id(table)
            .action(RuleAction::ToTable)
            .priority(table)
            .execute()
            .await
            .map_err(|e| format!("rule oif {}: {e}", r.device))?;
    }
    Ok(())
}
