//! `bridge.subnet`: each checked bridge network has a sound IPv4 subnet.

use std::collections::BTreeMap;

use ipnet::IpNet;

use super::{Check, Context, Findings, Needs, Outcome, Subject, docker_or_outcome, sh};
use netcheck_model::snapshot::{NetnsObs, NetworkObs};

mod endpoints;
mod host;
mod ipv6;
mod manager;
mod routing;

use endpoints::endpoints_in_subnet;
use host::on_the_host;
use ipv6::ipv6;

/// bridge.subnet's finding codes, `bridge.subnet/<slug>`. A variant's doc comment is its
/// description, which `netcheck explain` prints. Never rename a released slug.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumIter, strum::EnumMessage,
)]
#[strum(serialize_all = "kebab-case")]
pub(crate) enum Code {
    /// The network has no IPv4 subnet in its IPAM configuration.
    NoSubnet,
    /// The network's subnet is not the one the suite's `expect` names.
    UnexpectedSubnet,
    /// Another Docker network's subnet overlaps this network's.
    OverlapsNetwork,
    /// The subnet overlaps a range the suite forbids (`forbid_overlap`).
    OverlapsForbidden,
    /// The network's bridge does not exist on the host.
    BridgeMissing,
    /// The bridge carries no address in the network's subnet.
    BridgeWithoutAddress,
    /// The bridge carries an address in the subnet, but not the network's IPAM gateway.
    BridgeGatewayMismatch,
    /// A host route overlaps the subnet: its traffic goes elsewhere, or nowhere.
    OverlapsRoute,
    /// Another host interface carries an address inside the subnet.
    OverlapsHostAddress,
    /// The kernel's route lookup for the network's containers (from the host, or for answers
    /// from outside) leaves by another interface than the bridge.
    RouteCapturesSubnet,
    /// A policy routing rule sends the subnet's packets to a table whose route overlaps the
    /// subnet.
    PolicyTableOverlapsSubnet,
    /// The bridge or one of its ports carries an IPv4 link-local address (169.254.0.0/16): a
    /// network manager's.
    LinkLocalAddress,
    /// A port of the bridge (a container's host end) carries an IPv4 address: a network
    /// manager's.
    AddressOnBridgePort,
    /// The bridge or one of its ports carries a second IPv6 link-local address: a network
    /// manager's.
    ExtraLinkLocalAddress,
    /// A default route leads to the bridge or one of its ports: a network manager treats it as
    /// an uplink.
    DefaultRouteOnBridge,
    /// A link-local route leads to the bridge or one of its ports: a network manager treats it
    /// as an uplink.
    LinkLocalRouteOnBridge,
    /// A container's address on the network lies outside the network's subnet.
    EndpointOutsideSubnet,
    /// Two containers share one address on the network.
    DuplicateAddress,
    /// A container's interface does not carry the address the engine assigned it.
    AddressNotConfigured,
    /// A container has no interface with its endpoint's MAC address.
    NoInterface,
    /// The network has IPv6 enabled but no IPv6 subnet in its IPAM configuration.
    NoSubnetV6,
    /// The bridge carries no address in the network's IPv6 subnet.
    BridgeWithoutAddressV6,
    /// A container's IPv6 address on the network lies outside the network's IPv6 subnet.
    EndpointOutsideSubnetV6,
    /// A container has no IPv6 address on a network with IPv6 enabled.
    NoAddressV6,
}

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
    codes: super::code::list::<Code>,
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
        let Some(subnet) = ipv4_subnet(&mut f, n, host.map(|h| &h.netns)) else {
            continue;
        };
        expected_subnet(&mut f, params, n, subnet);
        let by_design =
            host.and_then(|h| super::netavark::no_bridge_by_design(ctx.engine.podman, n, &h.netns));
        if let Some(why) = by_design {
            f.note(why);
        } else if let Some(host) = host {
            on_the_host(&mut f, host, n, subnet, &docker_bridges);
        }
        other_networks_overlapping(&mut f, &docker.networks, n, subnet);
        endpoints_in_subnet(&mut f, ctx, n, subnet);
    }
    forbidden_ranges(&mut f, ctx, &docker.networks, params);
    unchecked_expectations(&mut f, ctx, params);
    // Judged per network: one network's subnet at a time.
    f.finish("the network has a sound subnet that nothing else on the host claims")
}

/// The network's IPv4 subnet, if it has one (an IPv6-only network is judged on its
/// IPv6 half alone; one without is a failure). The IPv6 half is judged here too.
fn ipv4_subnet(f: &mut Findings, n: &NetworkObs, host: Option<&NetnsObs>) -> Option<IpNet> {
    let Some(subnet) = n.subnet_v4() else {
        if !n.enable_ipv4 {
            f.note(format!("IPv4: off on network {} (IPv6 only)", n.name));
            ipv6(f, n, host);
            return None;
        }
        f.fail_at(
            Code::NoSubnet,
            Subject::network(&n.name),
            format!("network {} has no IPv4 subnet in its IPAM config", n.name),
            format!(
                "recreate it with an explicit subnet: docker network create --subnet <CIDR> {}",
                sh(&n.name)
            ),
        );
        return None;
    };
    f.note(format!(
        "network {} subnet {} bridge {}",
        n.name, subnet, n.bridge
    ));
    ipv6(f, n, host);
    Some(subnet)
}

/// The subnet a suite expects for this network, if it names one.
fn expected_subnet(f: &mut Findings, params: &Params, n: &NetworkObs, subnet: IpNet) {
    let Some(want) = params.expect.get(&n.name) else {
        return;
    };
    if *want == subnet {
        f.pass(format!("network {} has the expected subnet {want}", n.name));
        return;
    }
    f.fail_at(
        Code::UnexpectedSubnet,
        Subject::network(&n.name),
        format!(
            "network {} has subnet {subnet}, the suite expects {want}",
            n.name
        ),
        format!(
            "recreate it with the expected subnet: docker network create --subnet {want} {} \
             (for the default bridge: \"bip\" in /etc/docker/daemon.json)",
            sh(&n.name)
        ),
    );
}

/// Other Docker networks whose subnets overlap this one's.
fn other_networks_overlapping(
    f: &mut Findings,
    networks: &[NetworkObs],
    n: &NetworkObs,
    subnet: IpNet,
) {
    for other in networks.iter().filter(|o| o.name != n.name) {
        for s in other.ipam.iter().filter_map(|c| c.subnet) {
            if overlaps(&s, &subnet) {
                f.fail_at(
                    Code::OverlapsNetwork,
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
}

/// Forbidden ranges apply to every network the engine has: a pool that drifts into the
/// VPN's range is a problem before any container uses it. Per-network results: each
/// network's overlap in its own, and the networks no run checks (an idle pool that
/// drifted into the range) in the first network's alone.
fn forbidden_ranges(f: &mut Findings, ctx: &Context, networks: &[NetworkObs], params: &Params) {
    let reported_here = |n: &&NetworkObs| {
        ctx.networks.iter().any(|c| c.name == n.name)
            || (!ctx.snapshot.networks.contains(&n.name) && judging_first_network(ctx))
    };
    for range in &params.forbid_overlap {
        for n in networks.iter().filter(reported_here) {
            let overlapping = n
                .ipam
                .iter()
                .filter_map(|c| c.subnet)
                .filter(|s| overlaps(s, range));
            for s in overlapping {
                f.fail_at(
                    Code::OverlapsForbidden,
                    Subject::network(&n.name),
                    format!(
                        "network {} ({s}) overlaps the forbidden range {range}",
                        n.name
                    ),
                    format!(
                        "move it out of {range}: recreate the network with --subnet, and keep \
                         Docker's pools away with \"default-address-pools\" in \
                         /etc/docker/daemon.json"
                    ),
                );
            }
        }
        f.note(format!(
            "forbidden range {range}: checked against every network"
        ));
    }
}

/// A suite's expected subnet for a network this run does not check: an error, in the
/// first network's result alone.
fn unchecked_expectations(f: &mut Findings, ctx: &Context, params: &Params) {
    let unchecked = params
        .expect
        .keys()
        .filter(|k| !ctx.snapshot.networks.contains(k))
        .filter(|_| judging_first_network(ctx));
    for name in unchecked {
        f.error(format!(
            "the suite expects a subnet for network {name}, which is not checked \
             (add --network {name})"
        ));
    }
}

/// Whether this (per-network) judgement is the first checked network's: what concerns
/// no checked network is reported there, once.
fn judging_first_network(ctx: &Context) -> bool {
    ctx.networks.first().map(|c| &c.name) == ctx.snapshot.networks.first()
}
