//! The engine's host: sysctls, the engine's configuration, conntrack, proxies and the
//! firewall (its backend, iptables tables, nftables).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{NetnsObs, Observed, RoutingObs};

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct HostObs {
    pub netns: NetnsObs,
    /// Selected sysctls by dotted name, e.g. `net.ipv4.ip_forward`, and the per-interface
    /// `net.ipv4.conf.<if>.forwarding` of every Docker bridge and the uplink. The
    /// `net.bridge.*` ones exist only while br_netfilter is loaded.
    pub sysctl: BTreeMap<String, String>,
    pub firewall: Observed<FirewallObs>,
    /// The host's /etc/resolv.conf: where the engine takes containers' resolvers from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolv_conf: Option<String>,
    /// systemd-resolved's upstream list (/run/systemd/resolve/resolv.conf), which the
    /// engine uses instead when /etc/resolv.conf names only 127.0.0.53.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_conf: Option<String>,
    /// Running docker-proxy processes: the userland half of published ports.
    #[serde(default)]
    pub proxies: Vec<ProxyObs>,
    /// Policy routing, and the kernel's own route choices for the checked networks.
    /// Absent from snapshots of older netcheck versions: judges then read the main
    /// table alone, and say so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing: Option<Observed<RoutingObs>>,
    /// The engine's firewall settings, from its daemon.json and command line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_config: Option<EngineConfig>,
    /// The conntrack table; None in a snapshot taken before netcheck observed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conntrack: Option<ConntrackObs>,
    /// Traffic control on the host's links, counted before and after the run's flows;
    /// None in a snapshot taken before netcheck observed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic_control: Option<Observed<super::TcObs>>,
    /// Podman's: the global sysctls as they were before the probe started. netavark
    /// turns forwarding on whenever a container joins a network, so a reset that cut
    /// the running containers off shows only here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sysctl_before_probe: Option<BTreeMap<String, String>>,
}

/// What the engine was told about the firewall (dockerd's flags win over daemon.json).
/// A setting neither names is None: the engine's default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EngineConfig {
    /// Where the settings were read: `/etc/docker/daemon.json`, `dockerd --iptables=false`.
    pub sources: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iptables: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip6tables: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userland_proxy: Option<bool>,
    /// `"firewall-backend"` (Docker 29): `iptables` or `nftables`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firewall_backend: Option<String>,
    /// The resolvers the engine gives containers instead of the host's (`"dns"` in
    /// daemon.json, `dockerd --dns`): the valid addresses among them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<std::net::IpAddr>,
}

/// The connection-tracking table. Its fields are None where conntrack is not loaded.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ConntrackObs {
    /// net.netfilter.nf_conntrack_count: entries in use.
    pub count: Option<u64>,
    /// net.netfilter.nf_conntrack_max: the limit.
    pub max: Option<u64>,
    /// Failure counters since boot.
    pub stats: Option<ConntrackStats>,
}

/// Counters of /proc/net/stat/nf_conntrack, summed over CPUs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ConntrackStats {
    /// New connections dropped because the table was full.
    pub drop: u64,
    /// Entries evicted early to make room.
    pub early_drop: u64,
    pub insert_failed: u64,
}

/// One docker-proxy process, from its command line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProxyObs {
    pub proto: String,
    pub host_ip: String,
    pub host_port: u16,
    pub container_ip: String,
    pub container_port: u16,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct FirewallObs {
    /// `iptables-nft` or `iptables-legacy`: the one `iptables` runs on this host.
    pub backend: String,
    pub version: String,
    /// `iptables-save` output by table: policies and rules, verbatim lines.
    pub tables: BTreeMap<String, Vec<String>>,
    /// `ip6tables-save` of the same backend, by table.
    #[serde(default)]
    pub tables_v6: BTreeMap<String, Vec<String>>,
    /// The tables of the other iptables backend (iptables-legacy beside iptables-nft, or
    /// the reverse), where its tool is installed: the kernel runs both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other: Option<OtherBackend>,
    /// `nft list tables`: e.g. `table ip docker-bridges` when Docker programs nftables.
    #[serde(default)]
    pub nft_tables: Vec<String>,
    /// The whole nftables ruleset, every family (`nft -j list ruleset`), where `nft` is
    /// installed: the tables a host firewall, a VPN or firewalld keep beside Docker's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nftables: Option<crate::nftables::Ruleset>,
    /// Docker's own nftables table was read again once the probe's ports were
    /// published, so its DNAT rules for them are in `nftables` (false in snapshots of
    /// older netcheck versions, which read it only before).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub docker_nft_after_publish: bool,
    /// Podman's: iptables' tables (IPv4) as they were before the probe started.
    /// netavark writes a network's rules again whenever a container joins it, so what a
    /// firewall reload removed is back once the probe runs, and shows only here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tables_before_probe: Option<BTreeMap<String, Vec<String>>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct OtherBackend {
    pub backend: String,
    pub tables: BTreeMap<String, Vec<String>>,
}

/// The engine's own table in Docker 29's nftables backend (`ip` and `ip6` families).
pub const DOCKER_NFT_TABLE: &str = "docker-bridges";

impl FirewallObs {
    /// Docker's own nftables tables (`table ip docker-bridges`, from Docker 29's nftables
    /// backend), if it keeps its rules there.
    pub fn docker_nft_tables(&self) -> Vec<&str> {
        self.nft_tables
            .iter()
            .map(String::as_str)
            .filter(|t| t.contains("docker"))
            .collect()
    }

    /// Whether Docker's rules are to be read in iptables: its chains are there, and it
    /// does not program nftables itself.
    pub fn docker_in_iptables(&self) -> bool {
        self.docker_nft_tables().is_empty() && has_docker_chains(self.tables.values())
    }
}

/// Whether iptables-save tables hold no rule at all (chains and policies only).
pub fn holds_no_rules(tables: &BTreeMap<String, Vec<String>>) -> bool {
    tables.values().flatten().all(|l| !l.starts_with("-A"))
}

/// Whether iptables-save tables hold Docker's chains.
pub fn has_docker_chains<'a>(tables: impl IntoIterator<Item = &'a Vec<String>>) -> bool {
    tables.into_iter().flatten().any(|l| {
        let chain = l
            .strip_prefix(':')
            .and_then(|c| c.split_whitespace().next());
        matches!(
            chain,
            Some("DOCKER" | "DOCKER-ISOLATION-STAGE-1" | "DOCKER-FORWARD")
        )
    })
}

/// The mark an iptables-save rule line sets: `-j MARK --set-mark 0x1` or
/// `--set-xmark 0x1/0xffffffff` (the mask is left out: the bits set are the mark).
pub fn set_mark(line: &str) -> Option<u32> {
    let mut words = line.split_whitespace();
    words.find(|w| *w == "--set-mark" || *w == "--set-xmark")?;
    let value = words.next()?.split('/').next()?;
    match value.strip_prefix("0x") {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => value.parse().ok(),
    }
}
