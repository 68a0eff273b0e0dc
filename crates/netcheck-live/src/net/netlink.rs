//! Links, addresses and routes of a network namespace, over rtnetlink.
//!
//! The same dump serves the host, the probe (from inside its container) and other
//! containers (through their /proc/PID/ns/net): what an observation is stays apart from
//! where it is gathered.

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsFd;

use futures_util::TryStreamExt;
use ipnet::IpNet;
use rtnetlink::packet_route::address::{AddressAttribute, AddressMessage};
use rtnetlink::packet_route::link::{LinkAttribute, LinkFlags, LinkInfo, LinkMessage};
use rtnetlink::packet_route::neighbour::NeighbourMessage;
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute, RouteMessage, RouteType};
use rtnetlink::{Handle, RouteMessageBuilder};

use netcheck_model::snapshot::{AddrObs, LinkObs, NeighbourObs, NetnsObs, RouteObs};

#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    #[error("netlink socket: {0}")]
    Socket(#[source] std::io::Error),
    #[error("netlink dump of {what}: {source}")]
    Dump {
        what: &'static str,
        #[source]
        source: rtnetlink::Error,
    },
    #[error("entering network namespace {path}: {source}")]
    Setns {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// A netlink handle in the caller's namespace. Its connection task ends with the handle.
pub fn connect() -> Result<Handle, NetlinkError> {
    let (conn, handle, _) = rtnetlink::new_connection().map_err(NetlinkError::Socket)?;
    tokio::spawn(conn);
    Ok(handle)
}

/// A netlink handle whose socket lives in another network namespace.
///
/// A socket stays in the namespace it was created in, so a short-lived thread enters the
/// namespace, opens the socket and ends; the process itself never moves. Needs
/// CAP_SYS_ADMIN (root).
pub fn connect_in_fd(ns: File) -> Result<Handle, NetlinkError> {
    let runtime = tokio::runtime::Handle::current();
    let (conn, handle) = std::thread::scope(|s| {
        s.spawn(|| {
            nix::sched::setns(ns.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| {
                NetlinkError::Setns {
                    path: "fd".into(),
                    source: e.into(),
                }
            })?;
            // The socket registers with the caller's runtime, while being created here.
            let _guard = runtime.enter();
            let (conn, handle, _) = rtnetlink::new_connection().map_err(NetlinkError::Socket)?;
            Ok::<_, NetlinkError>((conn, handle))
        })
        .join()
        .expect("netns thread does not panic")
    })?;
    tokio::spawn(conn);
    Ok(handle)
}

pub fn mac_string(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

pub fn route_addr(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

/// A route's type, where it is not plain unicast.
pub fn route_kind(kind: RouteType) -> Option<String> {
    Some(
        match kind {
            RouteType::Unicast => return None,
            RouteType::Local => "local",
            RouteType::Broadcast => "broadcast",
            RouteType::Anycast => "anycast",
            RouteType::Multicast => "multicast",
            RouteType::BlackHole => "blackhole",
            RouteType::Unreachable => "unreachable",
            RouteType::Prohibit => "prohibit",
            RouteType::Throw => "throw",
            RouteType::Nat => "nat",
            other => return Some(format!("{other:?}").to_lowercase()),
        }
        .to_string(),
    )
}

/// One dump of links, addresses and routes (IPv4 and IPv6, all tables but `local`).
pub async fn dump(handle: &Handle) -> Result<NetnsObs, NetlinkError> {
    // One dump at a time: the kernel refuses a second dump on a socket while one is in
    // progress (EBUSY), and each takes about a millisecond anyway.
    let err = |what| move |source| NetlinkError::Dump { what, source };
    let links: Vec<_> = handle
        .link()
        .get()
        .execute()
        .try_collect()
        .await
        .map_err(err("links"))?;
    let addrs: Vec<_> = handle
        .address()
        .get()
        .execute()
        .try_collect()
        .await
        .map_err(err("addresses"))?;
    let routes4: Vec<_> = handle
        .route()
        .get(RouteMessageBuilder::<Ipv4Addr>::new().build())
        .execute()
        .try_collect()
        .await
        .map_err(err("routes"))?;
    let routes6: Vec<_> = handle
        .route()
        .get(RouteMessageBuilder::<Ipv6Addr>::new().build())
        .execute()
        .try_collect()
        .await
        .map_err(err("routes"))?;
    let neighbours = neighbour_messages(handle).await?;
    Ok(netns_obs(
        links,
        addrs,
        routes4.into_iter().chain(routes6).collect(),
        neighbours,
    ))
}

/// A namespace's observation from its dumps, however they were made (here over the
/// async handle, or in [`super::netns_dump`]'s threads).
pub(super) fn netns_obs(
    links: Vec<LinkMessage>,
    addrs: Vec<AddressMessage>,
    routes: Vec<RouteMessage>,
    neighbours: Vec<NeighbourMessage>,
) -> NetnsObs {
    let mut obs = NetnsObs {
        links: links.into_iter().map(link_obs).collect(),
        addrs: addrs.into_iter().filter_map(addr_obs).collect(),
        routes: routes.into_iter().filter_map(route_obs).collect(),
        neighbours: neighbour_obs(neighbours),
    };
    obs.links.sort_by_key(|l| l.index);
    obs
}

/// A link as the snapshot records it.
fn link_obs(msg: LinkMessage) -> LinkObs {
    let mut l = LinkObs {
        index: msg.header.index,
        name: String::new(),
        kind: None,
        master: None,
        peer: None,
        link_netnsid: None,
        up: msg.header.flags.contains(LinkFlags::Up),
        oper_state: String::new(),
        mtu: None,
        mac: None,
    };
    for attr in msg.attributes {
        match attr {
            LinkAttribute::IfName(n) => l.name = n,
            LinkAttribute::Controller(m) => l.master = Some(m),
            LinkAttribute::Link(p) => l.peer = Some(p),
            LinkAttribute::LinkNetNsId(id) => l.link_netnsid = Some(id),
            LinkAttribute::Mtu(m) => l.mtu = Some(m),
            LinkAttribute::Address(a) => l.mac = Some(mac_string(&a)),
            LinkAttribute::OperState(s) => l.oper_state = s.to_string(),
            LinkAttribute::LinkInfo(infos) => {
                for i in infos {
                    if let LinkInfo::Kind(k) = i {
                        l.kind = Some(k.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    l
}

/// An address as the snapshot records it.
fn addr_obs(msg: AddressMessage) -> Option<AddrObs> {
    let prefix = msg.header.prefix_len;
    // IFA_LOCAL is the interface's own address on point-to-point links; IFA_ADDRESS
    // elsewhere. Prefer LOCAL when present, as iproute2 does.
    let mut addr = None;
    for attr in msg.attributes {
        match attr {
            AddressAttribute::Local(a) => addr = Some(a),
            AddressAttribute::Address(a) if addr.is_none() => addr = Some(a),
            _ => {}
        }
    }
    let addr = IpNet::new(addr?, prefix).ok()?;
    Some(AddrObs {
        index: msg.header.index,
        addr,
    })
}

/// A route as the snapshot records it; None for the local table's (every address
/// again, as host routes: noise for judges) and for one without a usable destination.
fn route_obs(msg: RouteMessage) -> Option<RouteObs> {
    let v6 = msg.header.address_family == rtnetlink::packet_route::AddressFamily::Inet6;
    let mut table = u32::from(msg.header.table);
    let mut dst = None;
    let mut gateway = None;
    let mut oif = None;
    let mut priority = None;
    for attr in &msg.attributes {
        match attr {
            RouteAttribute::Destination(a) => dst = route_addr(a),
            RouteAttribute::Gateway(a) => gateway = route_addr(a),
            RouteAttribute::Oif(i) => oif = Some(*i),
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::Priority(p) => priority = Some(*p),
            _ => {}
        }
    }
    if table == 255 {
        return None;
    }
    let unspecified = if v6 {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    };
    let Ok(dst) = IpNet::new(
        dst.unwrap_or(unspecified),
        msg.header.destination_prefix_length,
    ) else {
        return None;
    };
    Some(RouteObs {
        dst,
        gateway,
        oif,
        table,
        protocol: msg.header.protocol.to_string(),
        priority,
        kind: route_kind(msg.header.kind),
    })
}

/// The ARP and NDP entries the kernel does not learn (PERMANENT, NOARP), and those of
/// neighbours that did not answer (FAILED, and INCOMPLETE: still asking).
pub async fn neighbours(handle: &Handle) -> Result<Vec<NeighbourObs>, NetlinkError> {
    Ok(neighbour_obs(neighbour_messages(handle).await?))
}

async fn neighbour_messages(handle: &Handle) -> Result<Vec<NeighbourMessage>, NetlinkError> {
    handle
        .neighbours()
        .get()
        .execute()
        .try_collect()
        .await
        .map_err(|source| NetlinkError::Dump {
            what: "neighbours",
            source,
        })
}

fn neighbour_obs(msgs: Vec<NeighbourMessage>) -> Vec<NeighbourObs> {
    use rtnetlink::packet_route::AddressFamily;
    use rtnetlink::packet_route::neighbour::{
        NeighbourAddress, NeighbourAttribute, NeighbourState,
    };
    let mut out = Vec::new();
    for msg in msgs {
        // An unspecified dump also returns the bridges' forwarding databases.
        if !matches!(
            msg.header.family,
            AddressFamily::Inet | AddressFamily::Inet6
        ) {
            continue;
        }
        let state = match msg.header.state {
            NeighbourState::Permanent => "permanent",
            NeighbourState::Noarp => "noarp",
            NeighbourState::Failed => "failed",
            NeighbourState::Incomplete => "incomplete",
            _ => continue,
        };
        let mut addr = None;
        let mut lladdr = None;
        for attr in msg.attributes {
            match attr {
                NeighbourAttribute::Destination(NeighbourAddress::Inet(a)) => {
                    addr = Some(IpAddr::V4(a))
                }
                NeighbourAttribute::Destination(NeighbourAddress::Inet6(a)) => {
                    addr = Some(IpAddr::V6(a))
                }
                NeighbourAttribute::LinkLayerAddress(l) => lladdr = Some(mac_string(&l)),
                _ => {}
            }
        }
        // Multicast and unspecified entries are the kernel's own mappings, not hosts.
        let Some(addr) = addr.filter(|a| !a.is_multicast() && !a.is_unspecified()) else {
            continue;
        };
        out.push(NeighbourObs {
            index: msg.header.ifindex,
            addr,
            lladdr,
            state: state.into(),
        });
    }
    out
}
