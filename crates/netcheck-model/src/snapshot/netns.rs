//! A network namespace as netlink shows it: links, addresses, routes; and the lookups
//! judges make in one.

use std::net::IpAddr;

use ipnet::IpNet;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::TABLE_MAIN;

/// Links, addresses and routes of one network namespace (the host's or a container's).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct NetnsObs {
    pub links: Vec<LinkObs>,
    pub addrs: Vec<AddrObs>,
    pub routes: Vec<RouteObs>,
    /// The neighbour entries (ARP and NDP) that are not learnt: PERMANENT and NOARP
    /// ones (written by hand or by a tool, never corrected by the kernel), and FAILED
    /// and INCOMPLETE ones (an address that did not answer, or not yet). Absent in
    /// older snapshots.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub neighbours: Vec<NeighbourObs>,
}

/// One neighbour entry: `172.17.0.1 dev eth0 lladdr 02:42:… PERMANENT`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NeighbourObs {
    pub index: u32,
    pub addr: IpAddr,
    /// The link-layer address it maps to; None for a FAILED entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lladdr: Option<String>,
    /// `permanent`, `noarp`, `failed` or `incomplete`.
    pub state: String,
}

impl NeighbourObs {
    /// Whether the kernel keeps it whatever the neighbour answers.
    pub fn pinned(&self) -> bool {
        matches!(self.state.as_str(), "permanent" | "noarp")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct LinkObs {
    pub index: u32,
    pub name: String,
    /// `veth`, `bridge`, ... from IFLA_INFO_KIND; None for physical devices and lo.
    pub kind: Option<String>,
    /// The bridge this link is enslaved to (IFLA_MASTER).
    pub master: Option<u32>,
    /// For a veth: the peer's ifindex, in the namespace `link_netnsid` names.
    pub peer: Option<u32>,
    pub link_netnsid: Option<i32>,
    /// Administratively up (IFF_UP).
    pub up: bool,
    pub oper_state: String,
    pub mtu: Option<u32>,
    pub mac: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct AddrObs {
    pub index: u32,
    #[schemars(with = "String")]
    pub addr: IpNet,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct RouteObs {
    /// `0.0.0.0/0` or `::/0` for a default route.
    #[schemars(with = "String")]
    pub dst: IpNet,
    pub gateway: Option<IpAddr>,
    pub oif: Option<u32>,
    pub table: u32,
    pub protocol: String,
    /// The route's metric: of several default routes, the lowest is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u32>,
    /// The route's type where it is not plain unicast: `throw`, `unreachable`,
    /// `blackhole`, `prohibit` (as policy routing tables hold them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

impl NetnsObs {
    pub fn link(&self, index: u32) -> Option<&LinkObs> {
        self.links.iter().find(|l| l.index == index)
    }

    pub fn link_by_name(&self, name: &str) -> Option<&LinkObs> {
        self.links.iter().find(|l| l.name == name)
    }

    /// The end in this namespace of a veth whose other end is `inner`, in another
    /// namespace: the link `inner` names as its peer, which names `inner` back.
    pub fn veth_peer_of(&self, inner: &LinkObs) -> Option<&LinkObs> {
        inner
            .peer
            .and_then(|i| self.link(i))
            .filter(|p| p.peer == Some(inner.index))
    }

    pub fn link_by_mac(&self, mac: &str) -> Option<&LinkObs> {
        self.links.iter().find(|l| {
            l.mac
                .as_deref()
                .is_some_and(|m| m.eq_ignore_ascii_case(mac))
        })
    }

    pub fn addrs_of(&self, index: u32) -> impl Iterator<Item = IpNet> + '_ {
        self.addrs
            .iter()
            .filter(move |a| a.index == index)
            .map(|a| a.addr)
    }

    pub fn link_name(&self, index: u32) -> String {
        self.link(index)
            .map(|l| l.name.clone())
            .unwrap_or_else(|| format!("if{index}"))
    }

    /// The links the host's traffic leaves by: those of the IPv4 default routes, or of a
    /// VPN's split default (0.0.0.0/1 and 128.0.0.0/1), which overrides them.
    pub fn uplinks(&self) -> Vec<&LinkObs> {
        let split: Vec<&RouteObs> = self
            .routes
            .iter()
            .filter(|r| {
                r.table == TABLE_MAIN && r.dst.prefix_len() == 1 && matches!(r.dst, IpNet::V4(_))
            })
            .collect();
        let routes: Vec<&RouteObs> = if split.is_empty() {
            self.default_routes_v4().collect()
        } else {
            split
        };
        // Of several, the kernel uses the lowest metric whose link is up: a backup
        // route (a second NIC, a modem) is not the uplink.
        let usable: Vec<(&RouteObs, &LinkObs)> = routes
            .iter()
            .filter_map(|r| Some((*r, r.oif.and_then(|i| self.link(i))?)))
            .filter(|(_, l)| l.up)
            .collect();
        let best = usable.iter().map(|(r, _)| r.priority.unwrap_or(0)).min();
        let mut links: Vec<&LinkObs> = usable
            .into_iter()
            .filter(|(r, _)| Some(r.priority.unwrap_or(0)) == best)
            .map(|(_, l)| l)
            .collect();
        links.dedup_by_key(|l| l.index);
        links
    }

    /// IPv6 default routes of the main table.
    pub fn default_routes_v6(&self) -> impl Iterator<Item = &RouteObs> {
        self.routes.iter().filter(|r| {
            r.table == TABLE_MAIN && r.dst.prefix_len() == 0 && matches!(r.dst, IpNet::V6(_))
        })
    }

    /// IPv4 default routes of the main table.
    pub fn default_routes_v4(&self) -> impl Iterator<Item = &RouteObs> {
        self.routes.iter().filter(|r| {
            r.table == TABLE_MAIN && r.dst.prefix_len() == 0 && matches!(r.dst, IpNet::V4(_))
        })
    }
}
