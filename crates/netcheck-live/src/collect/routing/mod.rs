//! Routing as the kernel decides it: `ip rule`, and route lookups (RTM_GETROUTE) for
//! the packets of each checked network.
//!
//! Reading tables and re-implementing the kernel's choice misses what policy routing
//! does (a VPN's rule and table, wg-quick's `suppress_prefixlength`, marks). So the
//! kernel is asked, as `ip route get` asks it: for a container's packet arriving on its
//! bridge and leaving for an address outside, for the answer coming back, and for the
//! host's own packet to the container. A lookup sends nothing. The rules are collected
//! too: they name, in a verdict, the rule that picked a table.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use futures_util::TryStreamExt;
use ipnet::IpNet;
use rtnetlink::packet_route::route::{RouteAttribute, RouteFlags, RouteMessage, RouteMetric};
use rtnetlink::packet_route::rule::RuleMessage;
use rtnetlink::{Handle, IpVersion, RouteMessageBuilder};

use crate::net::netlink::{NetlinkError, route_addr};

mod rules;

use netcheck_model::snapshot::{
    LookupPath, NetnsObs, NetworkObs, RouteAnswer, RouteLookup, RoutingObs, RuleObs,
};
use rules::{chosen_rule, rule_obs, selected_marks};

/// Where a container's egress is asked about: TEST-NET-3 (RFC 5737), an address no
/// network routes and no netcheck namespace uses, so that only the host's general
/// routing (default routes, a VPN's) answers for it. Nothing is ever sent to it.
pub const EGRESS_PROBE_V4: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
/// The IPv6 counterpart, in the documentation prefix (RFC 3849).
pub const EGRESS_PROBE_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);

/// The rules and the lookups for `networks`, as seen in `host`'s namespace.
pub async fn routing(
    handle: &Handle,
    host: &NetnsObs,
    networks: &[&NetworkObs],
    firewall: Option<&netcheck_model::snapshot::FirewallObs>,
) -> Result<RoutingObs, NetlinkError> {
    let err = |what| move |source| NetlinkError::Dump { what, source };
    let mut rules = vec![];
    for version in [IpVersion::V4, IpVersion::V6] {
        let msgs: Vec<RuleMessage> = handle
            .rule()
            .get(version)
            .execute()
            .try_collect()
            .await
            .map_err(err("rules"))?;
        rules.extend(msgs.into_iter().map(rule_obs));
    }
    rules.sort_by_key(|r| (r.v6, r.priority));
    let marks = selected_marks(firewall, &rules);
    let mut lookups = vec![];
    let mut marked = vec![];
    for n in networks {
        let Some(bridge) = host.link_by_name(&n.bridge) else {
            continue;
        };
        let sources = [
            source(n, n.subnet_v4(), |e| e.ipv4).map(|s| (s, IpAddr::V4(EGRESS_PROBE_V4))),
            n.enable_ipv6
                .then(|| source(n, n.subnet_v6(), |e| e.ipv6))
                .flatten()
                .map(|s| (s, IpAddr::V6(EGRESS_PROBE_V6))),
        ];
        for (from, outside) in sources.into_iter().flatten() {
            let ask = |path, from, iif: Option<(u32, String)>, to| Packet {
                network: n.name.clone(),
                path,
                from,
                iif,
                to,
                mark: None,
            };
            for &mark in &marks {
                let p = Packet {
                    mark: Some(mark),
                    ..ask(
                        LookupPath::Egress,
                        Some(from),
                        Some((bridge.index, bridge.name.clone())),
                        outside,
                    )
                };
                marked.push(netcheck_model::snapshot::MarkedLookup {
                    mark,
                    lookup: p.lookup(handle, host, &rules).await,
                });
            }
            let egress = ask(
                LookupPath::Egress,
                Some(from),
                Some((bridge.index, bridge.name.clone())),
                outside,
            )
            .lookup(handle, host, &rules)
            .await;
            // The answer comes back in by the interface the packet left by.
            let back_in = egress
                .route
                .as_ref()
                .and_then(|r| r.oif.as_deref())
                .and_then(|o| host.link_by_name(o))
                .filter(|l| l.index != bridge.index)
                .map(|l| (l.index, l.name.clone()));
            let ret = match back_in {
                Some(iif) => Some(
                    ask(LookupPath::Return, Some(outside), Some(iif), from)
                        .lookup(handle, host, &rules)
                        .await,
                ),
                None => None,
            };
            let own = ask(LookupPath::Host, None, None, from)
                .lookup(handle, host, &rules)
                .await;
            lookups.extend([Some(egress), ret, Some(own)].into_iter().flatten());
        }
    }
    Ok(RoutingObs {
        rules,
        lookups,
        marked,
    })
}

/// The address a network's packets are asked about from: a container's (the probe's
/// joins every checked network), else an address of the subnet nobody holds.
fn source(
    n: &NetworkObs,
    subnet: Option<IpNet>,
    addr: impl Fn(&netcheck_model::snapshot::EndpointObs) -> Option<IpNet>,
) -> Option<IpAddr> {
    let subnet = subnet?;
    n.endpoints
        .iter()
        .filter_map(addr)
        .map(|a| a.addr())
        .find(|a| subnet.contains(a))
        .or_else(|| {
            // The last host address: the engine hands addresses out from the bottom.
            let last = subnet.broadcast();
            match last {
                IpAddr::V4(v4) => Some(IpAddr::V4(Ipv4Addr::from(u32::from(v4).checked_sub(1)?))),
                IpAddr::V6(v6) => Some(IpAddr::V6(Ipv6Addr::from(u128::from(v6).checked_sub(1)?))),
            }
        })
}

struct Packet {
    network: String,
    path: LookupPath,
    from: Option<IpAddr>,
    iif: Option<(u32, String)>,
    to: IpAddr,
    /// The firewall mark it carries (RTA_MARK); None for an unmarked packet.
    mark: Option<u32>,
}

impl Packet {
    fn request(&self, fib_match: bool) -> RouteMessage {
        let mut msg = match (self.from, self.to) {
            (from, IpAddr::V4(to)) => {
                let mut b = RouteMessageBuilder::<Ipv4Addr>::new().destination_prefix(to, 32);
                if let Some(IpAddr::V4(f)) = from {
                    b = b.source_prefix(f, 32);
                }
                if let Some((index, _)) = &self.iif {
                    b = b.input_interface(*index);
                }
                b.build()
            }
            (from, IpAddr::V6(to)) => {
                let mut b = RouteMessageBuilder::<Ipv6Addr>::new().destination_prefix(to, 128);
                if let Some(IpAddr::V6(f)) = from {
                    b = b.source_prefix(f, 128);
                }
                if let Some((index, _)) = &self.iif {
                    b = b.input_interface(*index);
                }
                b.build()
            }
        };
        if let Some(m) = self.mark {
            msg.attributes.push(RouteAttribute::Mark(m));
        }
        // Without LOOKUP_TABLE the kernel reports every answer as main's.
        msg.header.flags |= RouteFlags::LookupTable;
        if fib_match {
            // The route as it is in its table (its prefix and type), not the result.
            msg.header.flags |= RouteFlags::FibMatch;
        }
        msg
    }

    async fn ask(&self, handle: &Handle, fib_match: bool) -> Result<RouteMessage, String> {
        let mut answers = handle.route().get(self.request(fib_match)).execute();
        match answers.try_next().await {
            Ok(Some(msg)) => Ok(msg),
            Ok(None) => Err("the kernel gave no answer".into()),
            Err(rtnetlink::Error::NetlinkError(e)) => Err(e
                .to_io()
                .to_string()
                .split(" (os error")
                .next()
                .unwrap_or_default()
                .to_string()),
            Err(e) => Err(e.to_string()),
        }
    }

    async fn lookup(self, handle: &Handle, host: &NetnsObs, rules: &[RuleObs]) -> RouteLookup {
        let answer = self.ask(handle, false).await;
        let matched = match &answer {
            Ok(_) => self.ask(handle, true).await.ok(),
            Err(_) => None,
        };
        let (route, error) = match answer {
            Ok(msg) => (Some(self.answer(&msg, matched.as_ref(), host, rules)), None),
            Err(e) => (None, Some(e)),
        };
        RouteLookup {
            network: self.network,
            path: self.path,
            from: self.from,
            to: self.to,
            iif: self.iif.map(|(_, name)| name),
            route,
            error,
        }
    }

    fn answer(
        &self,
        msg: &RouteMessage,
        fib: Option<&RouteMessage>,
        host: &NetnsObs,
        rules: &[RuleObs],
    ) -> RouteAnswer {
        let mut table = u32::from(msg.header.table);
        let (mut oif, mut gateway, mut prefsrc, mut route_mtu) = (None, None, None, None);
        for attr in &msg.attributes {
            match attr {
                RouteAttribute::Table(t) => table = *t,
                RouteAttribute::Oif(i) => oif = Some(*i),
                RouteAttribute::Gateway(a) => gateway = route_addr(a),
                RouteAttribute::PrefSource(a) => prefsrc = route_addr(a),
                RouteAttribute::Metrics(m) => route_mtu = route_mtu.or_else(|| mtu_metric(m)),
                _ => {}
            }
        }
        let matched = fib.and_then(|f| {
            let dst = f.attributes.iter().find_map(|a| match a {
                RouteAttribute::Destination(d) => route_addr(d),
                _ => None,
            });
            let unspecified = match self.to {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            };
            IpNet::new(
                dst.unwrap_or(unspecified),
                f.header.destination_prefix_length,
            )
            .ok()
        });
        if let Some(f) = fib {
            route_mtu = route_mtu.or_else(|| {
                f.attributes.iter().find_map(|a| match a {
                    RouteAttribute::Metrics(m) => mtu_metric(m),
                    _ => None,
                })
            });
        }
        let link = oif.and_then(|i| host.link(i));
        let mtu = match (link.and_then(|l| l.mtu), route_mtu) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        RouteAnswer {
            table,
            rule: chosen_rule(rules, self, table, matched),
            matched,
            oif: oif.map(|i| host.link_name(i)),
            gateway,
            prefsrc,
            mtu,
        }
    }
}

fn mtu_metric(metrics: &[RouteMetric]) -> Option<u32> {
    metrics.iter().find_map(|m| match m {
        RouteMetric::Mtu(v) if *v > 0 => Some(*v),
        _ => None,
    })
}
