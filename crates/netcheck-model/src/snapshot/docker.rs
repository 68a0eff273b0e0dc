//! What the engine says: its facts, the checked networks with their endpoints, and
//! the containers' insides.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{NetnsObs, Observed};

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct DockerObs {
    pub engine: EngineFacts,
    /// True when the engine is reached through a local unix socket, so that this
    /// machine's kernel is the engine's kernel and host observations mean something.
    pub local: bool,
    pub networks: Vec<NetworkObs>,
    pub containers: Vec<ContainerObs>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct EngineFacts {
    pub version: String,
    pub api_version: String,
    pub os: String,
    pub kernel: String,
    pub hostname: String,
    pub warnings: Vec<String>,
    /// Docker Desktop maps host.docker.internal natively; Linux engines need host-gateway.
    pub desktop: bool,
    /// The firewall backend the engine says it programs (`/info` `FirewallBackend.Driver`,
    /// API 1.49 and later): `iptables`, `nftables`, or `iptables+firewalld`. None from
    /// older engines and older snapshots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firewall_backend: Option<String>,
    /// The engine's product where it is not Docker's: `Podman`, recognised from
    /// `/version`'s Components (Podman's Docker-compatible API names itself there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    /// A rootless engine (Podman's own facts, or `name=rootless` in Docker's security
    /// options): its containers' networks live in the user's own namespaces, not the
    /// host's.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rootless: bool,
    /// Podman's network backend, as its own facts say: `netavark`, or `cni` (Podman 3,
    /// and Podman 4 hosts upgraded from it), whose rules are CNI plugins', not netavark's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_backend: Option<String>,
}

impl EngineFacts {
    /// Whether the engine is Podman (its Docker-compatible API).
    pub fn is_podman(&self) -> bool {
        self.product.as_deref() == Some("Podman")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct NetworkObs {
    pub id: String,
    pub name: String,
    pub driver: String,
    /// The host interface of the bridge: `com.docker.network.bridge.name`, else `br-<id:12>`.
    pub bridge: String,
    pub internal: bool,
    pub ip_masquerade: bool,
    /// False only on an IPv6-only network (Docker 28's `--ipv4=false`).
    #[serde(default = "yes")]
    pub enable_ipv4: bool,
    pub enable_ipv6: bool,
    pub ipam: Vec<IpamConfig>,
    pub options: BTreeMap<String, String>,
    pub endpoints: Vec<EndpointObs>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct IpamConfig {
    #[schemars(with = "Option<String>")]
    pub subnet: Option<IpNet>,
    /// Often absent on the default bridge: the bridge's own address is the gateway then.
    pub gateway: Option<IpAddr>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct EndpointObs {
    pub container_id: String,
    pub container_name: String,
    #[schemars(with = "Option<String>")]
    pub ipv4: Option<IpNet>,
    pub mac: Option<String>,
    /// The gateway the engine gave the container on this network (from the container's
    /// inspect): on the default bridge, the only place the engine states it.
    #[serde(default)]
    pub gateway: Option<IpAddr>,
    /// On a network with IPv6 enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub ipv6: Option<IpNet>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_v6: Option<IpAddr>,
    /// The endpoint's gateway priority (API 1.48 and later): of a container's
    /// endpoints, the highest gives its default route (ties: the network's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gw_priority: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ContainerObs {
    pub id: String,
    pub name: String,
    pub pid: Option<u32>,
    /// netcheck's own probe container.
    pub probe: bool,
    /// The container's network namespace, seen from inside it.
    pub interior: Observed<NetnsObs>,
    /// Its /etc/resolv.conf, read from the host (root, local engine).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolv_conf: Option<String>,
    /// Its published TCP ports (not the probe's: `ProbeObs::published`), and for the
    /// first few of the run, what a connection from the host to each met. Absent in
    /// older snapshots.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub published: Vec<UserPort>,
}

/// How many users' published ports one run tries from the host: the rest are listed,
/// and counted in port.publish's evidence.
pub const USER_PORTS_CAP: usize = 16;

/// A port a user's container publishes: `-p 127.0.0.1:8080:80`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UserPort {
    /// As the engine states it: `0.0.0.0` and `::` for every address.
    pub host_ip: IpAddr,
    pub host_port: u16,
    pub container_port: u16,
    /// The host's connection to it; None for a port past the run's cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tried: Option<PortTry>,
}

/// A TCP connection from the host to a published port.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PortTry {
    /// HOST:PORT, on a host address when the port is published on every address.
    pub target: String,
    /// `answered` (connected), `refused` (a reset: something is there, with no
    /// listener), or why not: `no answer within 2000 ms`, an error.
    pub outcome: String,
    pub elapsed_ms: u64,
}

impl PortTry {
    /// Whether the connection met something on the far side: an accept, or a reset.
    pub fn reached(&self) -> bool {
        self.outcome == "answered" || self.outcome == "refused"
    }
}

impl NetworkObs {
    /// Whether the network sets icc=false: its containers must not reach each other.
    pub fn icc_disabled(&self) -> bool {
        self.options
            .get("com.docker.network.bridge.enable_icc")
            .is_some_and(|v| v == "false")
    }

    /// The first IPv4 subnet of the network's IPAM config.
    pub fn subnet_v4(&self) -> Option<IpNet> {
        self.ipam
            .iter()
            .filter_map(|c| c.subnet)
            .find(|s| matches!(s, IpNet::V4(_)))
    }

    /// The first IPv6 subnet of the network's IPAM config.
    pub fn subnet_v6(&self) -> Option<IpNet> {
        self.ipam
            .iter()
            .filter_map(|c| c.subnet)
            .find(|s| matches!(s, IpNet::V6(_)))
    }

    /// The IPv6 gateway, found as [`NetworkObs::gateway_v4`] finds the IPv4 one.
    pub fn gateway_v6(&self, host: Option<&NetnsObs>) -> Option<IpAddr> {
        let from_endpoints = self.endpoints.iter().filter_map(|e| e.gateway_v6);
        self.gateway_in(self.subnet_v6()?, from_endpoints, host)
    }

    /// The gateway as the engine states it (IPAM, else the endpoints'), or else the
    /// bridge's own address inside the subnet.
    pub fn gateway_v4(&self, host: Option<&NetnsObs>) -> Option<IpAddr> {
        let from_endpoints = self.endpoints.iter().filter_map(|e| e.gateway);
        self.gateway_in(self.subnet_v4()?, from_endpoints, host)
    }

    fn gateway_in(
        &self,
        subnet: IpNet,
        from_endpoints: impl Iterator<Item = IpAddr>,
        host: Option<&NetnsObs>,
    ) -> Option<IpAddr> {
        let stated = self.ipam.iter().filter_map(|c| c.gateway);
        if let Some(gw) = stated.chain(from_endpoints).find(|g| subnet.contains(g)) {
            return Some(gw);
        }
        let host = host?;
        let bridge = host.link_by_name(&self.bridge)?;
        host.addrs_of(bridge.index)
            .map(|a| a.addr())
            .find(|a| subnet.contains(a))
    }
}
