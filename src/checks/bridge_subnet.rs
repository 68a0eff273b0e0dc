//! `bridge.subnet`: each checked bridge network has a sound IPv4 subnet.

use std::collections::BTreeMap;

use ipnet::IpNet;

use super::{
    Check, Context, Findings, Needs, Outcome, Subject, describe_link, docker_or_outcome, routing,
    sh,
};

pub static CHECK: Check = Check {
    generic: false,
    scope: super::Scope::Network,
    id: "bridge.subnet",
    title: "Bridge subnets are assigned, carried by the bridge, and clash with nothing",
    doc: "\
Each checked bridge network must have an IPv4 subnet in its IPAM config, and its bridge
interface on the host (docker0 for `bridge`, br-<id> for user networks) must carry the
gateway address inside it. Every container endpoint's address must lie in the subnet, be
unique, and be the address actually configured inside the container. The subnet must not
overlap another Docker network, nor any host route or address on another interface: a VPN
or LAN route over 172.17.0.0/16 (or a 192.168.x/20 pool) silently steals container traffic.

Fails when: the bridge has no address; a container's address is outside the subnet or
duplicated; a host interface or route covers the subnet (the classic VPN clash); the
kernel, asked which way the host's packets to a container and the answers to its
traffic from outside would go (route lookups, which honour `ip rule`, policy tables,
marks and suppress_prefixlength), names another interface than the bridge: a VPN's rule
and table (Tailscale's table 52, wg-quick's 51820) that capture Docker's subnet, named
with the rule, table and interface; a rule before main whose table routes part of the
subnet elsewhere; a link-local address (169.254/16, a second fe80), an address or a
default route that a network manager (NetworkManager, connman, dhcpcd) put on the bridge
or one of its veths. A snapshot without lookups (an older netcheck) is judged from the
main table alone, and says so.",
    needs: Needs {
        host: true,
        probe: false,
        outside: false,
        ..Needs::NONE
    },
    configure: |t| super::params::typed(t, judge),
    params_schema: super::params::schema_of::<Params>,
};

/// What a suite may ask of `bridge.subnet`.
#[derive(Debug, Clone, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// The subnet a network must have, by network name: `{ bridge = "172.17.0.0/16" }`.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub expect: BTreeMap<String, IpNet>,
    /// Ranges no Docker network may overlap, e.g. `["10.0.0.0/8"]` where a VPN lives.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub forbid_overlap: Vec<IpNet>,
}

fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

impl super::params::CheckParams for Params {}

fn judge(ctx: &Context, _: &super::Instance, params: &Params) -> Outcome {
    if let Err(o) = docker_or_outcome(ctx) {
        return o;
    }
    let docker = ctx.snapshot.docker.ok().expect("checked above");
    let host = ctx.snapshot.host.ok();
    let mut f = Findings::default();
    if let Some(why) = ctx.snapshot.host.why_missing() {
        f.note(format!(
            "host side not observed ({why}): bridge addresses and host routes not checked"
        ));
    }
    // Bridges of all Docker networks: a route through one of them is Docker's own, and
    // overlaps between networks are reported once, by the network comparison below.
    let docker_bridges: Vec<&str> = docker.networks.iter().map(|n| n.bridge.as_str()).collect();

    for n in &ctx.networks {
        let Some(subnet) = n.subnet_v4() else {
            if !n.enable_ipv4 {
                f.note(format!("IPv4: off on network {} (IPv6 only)", n.name));
                ipv6(&mut f, n, host.map(|h| &h.netns));
                continue;
            }
            f.fail_at(
                "no-subnet",
                Subject::network(&n.name),
                format!("network {} has no IPv4 subnet in its IPAM config", n.name),
                format!(
                    "recreate it with an explicit subnet: docker network create --subnet <CIDR> {}",
                    sh(&n.name)
                ),
            );
            continue;
        };
        f.note(format!(
            "network {} subnet {} bridge {}",
            n.name, subnet, n.bridge
        ));
        ipv6(&mut f, n, host.map(|h| &h.netns));
        if let Some(want) = params.expect.get(&n.name) {
            if *want == subnet {
                f.pass(format!("network {} has the expected subnet {want}", n.name));
            } else {
                f.fail_at("unexpected-subnet", Subject::network(&n.name), 
                    format!("network {} has subnet {subnet}, the suite expects {want}", n.name),
                    format!(
                        "recreate it with the expected subnet: docker network create --subnet {want} {} \
                         (for the default bridge: \"bip\" in /etc/docker/daemon.json)",
                        sh(&n.name)
                    ),
                );
            }
        }

        if let Some(host) = host {
            let ns = &host.netns;
            match ns.link_by_name(&n.bridge) {
                None => f.fail_at("bridge-missing", Subject::interface(&n.bridge), 
                    format!("bridge {} of network {} does not exist on the host", n.bridge, n.name),
                    "restart the Docker daemon so that it recreates the bridge: systemctl restart docker",
                ),
                Some(br) => {
                    let inside: Vec<IpNet> = ns.addrs_of(br.index).filter(|a| subnet.contains(&a.addr())).collect();
                    let ipam_gw = n.ipam.iter().filter_map(|c| c.gateway).find(|g| subnet.contains(g));
                    if inside.is_empty() {
                        f.fail_at("bridge-without-address", Subject::interface(&n.bridge), 
                            format!("bridge {} carries no address in {} (network {})", n.bridge, subnet, n.name),
                            format!(
                                "give the bridge its gateway back: ip addr add {}/{} dev {} (or restart docker)",
                                ipam_gw.map(|g| g.to_string()).unwrap_or_else(|| "<gateway>".into()),
                                subnet.prefix_len(),
                                sh(&n.bridge)
                            ),
                        );
                    } else if let Some(gw) = ipam_gw.filter(|g| !inside.iter().any(|a| a.addr() == *g)) {
                        f.fail_at("bridge-gateway-mismatch", Subject::interface(&n.bridge), 
                            format!("bridge {} carries {} but the IPAM gateway of {} is {gw}", n.bridge, inside[0], n.name),
                            format!("ip addr add {gw}/{} dev {} (or restart docker)", subnet.prefix_len(), sh(&n.bridge)),
                        );
                    } else {
                        f.pass(format!("bridge {}", describe_link(ns, br.index)));
                    }
                    // Split-default routes (0.0.0.0/1 and 128.0.0.0/1 from a VPN client, or
                    // anything wider than /8) stand in for a default route: the bridge's
                    // own, longer route wins for its subnet, so they clash with nothing.
                    for r in ns.routes.iter().filter(|r| r.table == crate::snapshot::TABLE_MAIN && r.dst.prefix_len() >= 8) {
                        let dev = r.oif.map(|i| ns.link_name(i)).unwrap_or_default();
                        if overlaps(&r.dst, &subnet) && !docker_bridges.contains(&dev.as_str()) {
                            f.fail_at("overlaps-route", Subject::Route { destination: r.dst.to_string(), table: Some(r.table) }, 
                                format!("host route {} dev {dev} overlaps {} of network {}", r.dst, subnet, n.name),
                                "a VPN or LAN route covers Docker's subnet, so replies to containers go astray: \
                                 move Docker's pools away (\"default-address-pools\" in /etc/docker/daemon.json) \
                                 or recreate the network with --subnet outside the route",
                            );
                        }
                    }
                    for a in ns.addrs.iter().filter(|a| a.index != br.index && subnet.contains(&a.addr.addr())) {
                        let dev = ns.link_name(a.index);
                        if !docker_bridges.contains(&dev.as_str()) {
                            f.fail_at("overlaps-host-address", Subject::interface(&dev), 
                                format!("host interface {dev} carries {}, inside {} of network {}", a.addr, subnet, n.name),
                                format!("remove the address (ip addr del {} dev {}) or move Docker's subnet away", a.addr, sh(&dev)),
                            );
                        }
                    }
                    // Where the bridge is sound, the kernel's own answers say whether
                    // policy routing takes its subnet elsewhere.
                    if let Some(r) = routing::observed(&mut f, host) && !inside.is_empty() {
                        routing::judge_capture(&mut f, r, ns, n, subnet, &docker_bridges);
                    }
                    routing::judge_manager_leftovers(&mut f, ns, n, br);
                }
            }
        }

        for other in docker.networks.iter().filter(|o| o.name != n.name) {
            for s in other.ipam.iter().filter_map(|c| c.subnet) {
                if overlaps(&s, &subnet) {
                    f.fail_at(
                        "overlaps-network",
                        Subject::network(&other.name),
                        format!(
                            "network {} ({s}) overlaps {} of network {}",
                            other.name, subnet, n.name
                        ),
                        "give one of them another subnet: docker network rm / create --subnet",
                    );
                }
            }
        }

        let mut seen: BTreeMap<std::net::IpAddr, &str> = BTreeMap::new();
        for ep in &n.endpoints {
            let Some(ip) = ep.ipv4 else {
                f.note(format!(
                    "{}: no IPv4 address on {}",
                    ep.container_name, n.name
                ));
                continue;
            };
            if !subnet.contains(&ip.addr()) {
                f.fail_at("endpoint-outside-subnet", Subject::container(&ep.container_name), 
                    format!("container {} has {} on {}, outside {}", ep.container_name, ip, n.name, subnet),
                    format!("reconnect it: docker network disconnect {0} {1} && docker network connect {0} {1}", sh(&n.name), sh(&ep.container_name)),
                );
                continue;
            }
            if let Some(first) = seen.insert(ip.addr(), &ep.container_name) {
                f.fail_at(
                    "duplicate-address",
                    Subject::network(&n.name),
                    format!(
                        "containers {first} and {} share {} on {}",
                        ep.container_name,
                        ip.addr(),
                        n.name
                    ),
                    "restart one of them so that IPAM assigns a fresh address",
                );
                continue;
            }
            let interior = ctx
                .snapshot
                .container(&ep.container_id)
                .map(|c| &c.interior);
            match (interior.and_then(|i| i.ok()), ep.mac.as_deref()) {
                (Some(ns), Some(mac)) => match ns.link_by_mac(mac) {
                    Some(l) if ns.addrs_of(l.index).any(|a| a.addr() == ip.addr()) => f.pass(
                        format!("{}: {} {} (as assigned)", ep.container_name, l.name, ip),
                    ),
                    Some(l) => f.fail_at(
                        "address-not-configured",
                        Subject::container(&ep.container_name),
                        format!(
                            "container {}'s {} does not carry its assigned {} (has: {})",
                            ep.container_name,
                            l.name,
                            ip,
                            ns.addrs_of(l.index)
                                .map(|a| a.to_string())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                        format!(
                            "restart the container: docker restart {}",
                            sh(&ep.container_name)
                        ),
                    ),
                    None => f.fail_at(
                        "no-interface",
                        Subject::container(&ep.container_name),
                        format!(
                            "container {} has no interface with its endpoint's MAC {mac}",
                            ep.container_name
                        ),
                        format!(
                            "restart the container: docker restart {}",
                            sh(&ep.container_name)
                        ),
                    ),
                },
                _ => f.pass(format!(
                    "{}: {} (engine view; inside not observed: {})",
                    ep.container_name,
                    ip,
                    interior.and_then(|i| i.why_missing()).unwrap_or("no MAC")
                )),
            }
        }
    }
    // Forbidden ranges apply to every network the engine has: a pool that drifts into
    // the VPN's range is a problem before any container uses it.
    // Per-network results: each network's overlap in its own, and the networks no run
    // checks (an idle pool that drifted into the range) in the first network's alone.
    let first = ctx.snapshot.networks.first();
    let reported_here = |n: &&crate::snapshot::NetworkObs| {
        ctx.networks.iter().any(|c| c.name == n.name)
            || (!ctx.snapshot.networks.contains(&n.name)
                && ctx.networks.first().map(|c| &c.name) == first)
    };
    for range in &params.forbid_overlap {
        for n in docker.networks.iter().filter(reported_here) {
            for s in n
                .ipam
                .iter()
                .filter_map(|c| c.subnet)
                .filter(|s| overlaps(s, range))
            {
                f.fail_at("overlaps-forbidden", Subject::network(&n.name), 
                    format!("network {} ({s}) overlaps the forbidden range {range}", n.name),
                    format!(
                        "move it out of {range}: recreate the network with --subnet, and keep Docker's pools away \
                         with \"default-address-pools\" in /etc/docker/daemon.json"
                    ),
                );
            }
        }
        f.note(format!(
            "forbidden range {range}: checked against every network"
        ));
    }
    for name in params
        .expect
        .keys()
        .filter(|k| !ctx.snapshot.networks.contains(k))
        .filter(|_| ctx.networks.first().map(|c| &c.name) == first)
    {
        f.error(format!("the suite expects a subnet for network {name}, which is not checked (add --network {name})"));
    }
    // Judged per network: one network's subnet at a time.
    f.finish("the network has a sound subnet that nothing else on the host claims")
}

/// The IPv6 half, where the network has it: an IPv6 subnet, the bridge's address in
/// it, and every endpoint's IPv6 address inside it.
fn ipv6(
    f: &mut Findings,
    n: &crate::snapshot::NetworkObs,
    host: Option<&crate::snapshot::NetnsObs>,
) {
    if !n.enable_ipv6 {
        f.note(format!("IPv6: off on network {}", n.name));
        return;
    }
    let Some(subnet) = n.subnet_v6() else {
        f.fail_at(
            "no-subnet-v6",
            Subject::network(&n.name),
            format!(
                "network {} has IPv6 enabled but no IPv6 subnet in its IPAM config",
                n.name
            ),
            format!(
                "recreate it with one: docker network create --ipv6 --subnet <IPv6 CIDR> {}",
                sh(&n.name)
            ),
        );
        return;
    };
    f.note(format!("network {} IPv6 subnet {subnet}", n.name));
    if let Some(ns) = host
        && let Some(br) = ns.link_by_name(&n.bridge)
    {
        match ns.addrs_of(br.index).find(|a| subnet.contains(&a.addr())) {
            Some(a) => f.pass(format!("bridge {} carries {a}", n.bridge)),
            None => f.fail_at(
                "bridge-without-address-v6",
                Subject::interface(&n.bridge),
                format!(
                    "bridge {} carries no address in {subnet} (network {})",
                    n.bridge, n.name
                ),
                format!(
                    "ip -6 addr add {}/{} dev {} (or systemctl restart docker)",
                    n.gateway_v6(None)
                        .map(|g| g.to_string())
                        .unwrap_or_else(|| "<gateway>".into()),
                    subnet.prefix_len(),
                    sh(&n.bridge)
                ),
            ),
        }
    }
    for ep in &n.endpoints {
        match ep.ipv6 {
            Some(ip) if subnet.contains(&ip.addr()) => {
                f.pass(format!("{}: {ip} (IPv6, as assigned)", ep.container_name))
            }
            Some(ip) => f.fail_at("endpoint-outside-subnet-v6", Subject::container(&ep.container_name), 
                format!("container {} has {ip} on {}, outside {subnet}", ep.container_name, n.name),
                format!("reconnect it: docker network disconnect {0} {1} && docker network connect {0} {1}", sh(&n.name), sh(&ep.container_name)),
            ),
            None => f.fail_at("no-address-v6", Subject::container(&ep.container_name), 
                format!("container {} has no IPv6 address on {}, where IPv6 is enabled", ep.container_name, n.name),
                format!("docker restart {}", sh(&ep.container_name)),
            ),
        }
    }
}
