//! `bridge.subnet`: each checked bridge network has a sound IPv4 subnet.

use std::collections::BTreeMap;

use ipnet::IpNet;

use super::{Check, Context, Findings, Needs, Outcome, Subject, docker_or_outcome, sh};
use netcheck_model::snapshot::{NetnsObs, NetworkObs};

mod endpoints;
mod host;
mod ipv6;

use endpoints::endpoints_in_subnet;
use host::on_the_host;
use ipv6::ipv6;

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
        let Some(subnet) = ipv4_subnet(&mut f, n, host.map(|h| &h.netns)) else {
            continue;
        };
        expected_subnet(&mut f, params, n, subnet);
        if let Some(host) = host {
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
            "no-subnet",
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
        "unexpected-subnet",
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
                    "overlaps-forbidden",
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
