//! bridge.subnet's IPv6 half, where the network has it.

use super::Code;
use super::endpoints::reconnect;
use crate::checks::engine_rules::GatewayMode;
use crate::checks::{Findings, Subject, sh};
use netcheck_model::snapshot::{NetnsObs, NetworkObs};

/// The IPv6 half, where the network has it: an IPv6 subnet, the bridge's address in
/// it, and every endpoint's IPv6 address inside it.
pub(super) fn ipv6(f: &mut Findings, n: &NetworkObs, host: Option<&NetnsObs>) {
    if !n.enable_ipv6 {
        f.note(format!("IPv6: off on network {}", n.name));
        return;
    }
    let Some(subnet) = n.subnet_v6() else {
        f.fail_at(
            Code::NoSubnetV6,
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
            // An internal network in gateway mode `isolated` has no gateway on purpose.
            None if GatewayMode::of(n, true) == GatewayMode::Isolated => f.note(format!(
                "bridge {} carries no address in {subnet}: {} gives the network no IPv6 gateway, by design",
                n.bridge,
                GatewayMode::Isolated.option(true)
            )),
            None => f.fail_at(
                Code::BridgeWithoutAddressV6,
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
            Some(ip) => f.fail_at(
                Code::EndpointOutsideSubnetV6,
                Subject::container(&ep.container_name),
                format!(
                    "container {} has {ip} on {}, outside {subnet}",
                    ep.container_name, n.name
                ),
                reconnect(n, ep),
            ),
            None => f.fail_at(
                Code::NoAddressV6,
                Subject::container(&ep.container_name),
                format!(
                    "container {} has no IPv6 address on {}, where IPv6 is enabled",
                    ep.container_name, n.name
                ),
                format!("docker restart {}", sh(&ep.container_name)),
            ),
        }
    }
}
