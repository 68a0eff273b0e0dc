//! The snapshot: every observation one run made, as one serialisable value.
//!
//! Collection fills it; judging reads it and nothing else. That split is what lets a
//! snapshot travel in a bug ticket and be re-judged elsewhere, and what lets the
//! fixture tests exercise every judge without Docker.

use std::collections::BTreeMap;
use std::net::IpAddr;

use chrono::{DateTime, Utc};
use ipnet::IpNet;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::protocol::{ErrorKind, Purpose};

/// Written into every snapshot; `analyze` refuses versions it does not know.
pub const SNAPSHOT_SCHEMA: &str = "netcheck-snapshot/v1";

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Snapshot {
    pub schema: String,
    pub netcheck_version: String,
    pub collected_at: DateTime<Utc>,
    pub duration_ms: u64,
    /// The bridge networks the run was asked to check, by name.
    pub networks: Vec<String>,
    pub docker: Observed<DockerObs>,
    pub host: Observed<HostObs>,
    pub probe: Observed<ProbeObs>,
    /// Which engine was judged and how it was reached (absent in snapshots from before
    /// netcheck could reach other engines: the local socket).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<EngineRef>,
}

/// Which engine a run judged, and how: every report names it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EngineRef {
    /// The docker context's name: `default` unless a named context was used.
    pub name: String,
    /// Where the engine answers, e.g. `tcp://10.0.0.5:2376` (redacted by `--redact`).
    pub endpoint: String,
    /// The named context the endpoint came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// unix, tcp, tls or ssh.
    pub transport: String,
    /// Whether netcheck's host agent observed the engine's host.
    pub agent: bool,
}

impl EngineRef {
    /// One line for people: `prod (tcp://10.0.0.5:2376, context prod, TLS, via the host agent)`.
    pub fn describe(&self) -> String {
        let mut parts = vec![self.endpoint.clone()];
        if let Some(c) = &self.context {
            parts.push(format!("context {c}"));
        }
        parts.push(self.transport.clone());
        parts.push(if self.agent {
            "host observed by netcheck's agent".to_string()
        } else {
            "no agent".to_string()
        });
        format!("{} ({})", self.name, parts.join(", "))
    }
}

/// One observation: its value, or why there is none.
///
/// Skipped means "not observable here" (no root, remote engine) and leads a check to
/// skip; Error means netcheck tried and failed, which a check reports as an error.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Observed<T> {
    Ok { value: T },
    Skipped { reason: String },
    Error { error: String },
}

impl<T> Observed<T> {
    pub fn ok(&self) -> Option<&T> {
        match self {
            Observed::Ok { value } => Some(value),
            _ => None,
        }
    }

    /// Why there is no value, for a check's message.
    pub fn why_missing(&self) -> Option<&str> {
        match self {
            Observed::Ok { .. } => None,
            Observed::Skipped { reason } => Some(reason),
            Observed::Error { error } => Some(error),
        }
    }
}

impl<T, E: std::fmt::Display> From<Result<T, E>> for Observed<T> {
    fn from(r: Result<T, E>) -> Self {
        match r {
            Ok(value) => Observed::Ok { value },
            Err(e) => Observed::Error {
                error: e.to_string(),
            },
        }
    }
}

// ---------------------------------------------------------------- docker

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
}

// ---------------------------------------------------------------- host

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
}

/// The main routing table's id (`ip route` shows it; `ip rule` names it `main`).
pub const TABLE_MAIN: u32 = 254;
/// The local table: the host's own addresses, consulted first.
pub const TABLE_LOCAL: u32 = 255;
/// The `default` table, consulted last.
pub const TABLE_DEFAULT: u32 = 253;

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct RoutingObs {
    /// `ip rule` and `ip -6 rule`, in priority order.
    pub rules: Vec<RuleObs>,
    /// The kernel's answers to route lookups (RTM_GETROUTE) for each checked network:
    /// what it would do with a packet, with every rule, table and mark honoured. A
    /// lookup sends nothing.
    pub lookups: Vec<RouteLookup>,
}

/// One policy routing rule.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct RuleObs {
    pub v6: bool,
    pub priority: u32,
    /// `lookup`, `goto`, `nop`, `blackhole`, `unreachable` or `prohibit`.
    pub action: String,
    /// The table a `lookup` rule consults.
    pub table: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub from: Option<IpNet>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub to: Option<IpNet>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iif: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oif: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fwmark: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fwmask: Option<u32>,
    /// `not`: the rule applies to packets its selectors do not match.
    #[serde(default)]
    pub invert: bool,
    /// wg-quick's `suppress_prefixlength 0`: an answer this short is ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppress_prefixlength: Option<u32>,
    /// Selectors netcheck does not evaluate (uid range, ports, protocol, l3mdev).
    #[serde(default)]
    pub other_selectors: bool,
}

impl RuleObs {
    /// As `ip rule` prints it: `5270: from all lookup 52`.
    pub fn describe(&self) -> String {
        let mut s = format!("{}:", self.priority);
        if self.invert {
            s.push_str(" not");
        }
        match &self.from {
            Some(n) => s.push_str(&format!(" from {n}")),
            None => s.push_str(" from all"),
        }
        if let Some(n) = &self.to {
            s.push_str(&format!(" to {n}"));
        }
        if let Some(m) = self.fwmark {
            match self.fwmask {
                Some(mask) if mask != u32::MAX => s.push_str(&format!(" fwmark {m:#x}/{mask:#x}")),
                _ => s.push_str(&format!(" fwmark {m:#x}")),
            }
        }
        if let Some(i) = &self.iif {
            s.push_str(&format!(" iif {i}"));
        }
        if let Some(o) = &self.oif {
            s.push_str(&format!(" oif {o}"));
        }
        match self.action.as_str() {
            "lookup" => s.push_str(&format!(" lookup {}", table_name(self.table))),
            other => s.push_str(&format!(" {other}")),
        }
        if let Some(p) = self.suppress_prefixlength {
            s.push_str(&format!(" suppress_prefixlength {p}"));
        }
        s
    }
}

/// `main`, `local`, `default`, or the table's number.
pub fn table_name(table: u32) -> String {
    match table {
        TABLE_MAIN => "main".into(),
        TABLE_LOCAL => "local".into(),
        TABLE_DEFAULT => "default".into(),
        n => n.to_string(),
    }
}

/// Which way a looked-up packet goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LookupPath {
    /// From a container, in through its bridge, to an address outside the host.
    Egress,
    /// An answer from outside, in through the egress interface, back to the container.
    Return,
    /// From the host itself to the container.
    Host,
}

/// The kernel's answer for one packet of one checked network.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct RouteLookup {
    pub network: String,
    pub path: LookupPath,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<IpAddr>,
    pub to: IpAddr,
    /// The input interface the packet is taken to arrive on; none for the host's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iif: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<RouteAnswer>,
    /// The kernel's refusal (no route, unreachable, prohibited), when it gave no route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct RouteAnswer {
    pub table: u32,
    /// The priority of the rule that picked the table: the first rule, in priority
    /// order, whose selectors match the packet and that looks up this table. None where
    /// it cannot be told (selectors netcheck does not evaluate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<u32>,
    /// The route that matched, as in its table (the kernel's fibmatch answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub matched: Option<IpNet>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oif: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefsrc: Option<IpAddr>,
    /// The MTU packets leave with: the output interface's, or the route's own `mtu`
    /// where it is smaller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
}

impl RouteLookup {
    /// `from 172.18.0.2 iif br-x to 203.0.113.1`: the packet asked about.
    pub fn describe_packet(&self) -> String {
        let mut s = String::new();
        if let Some(f) = self.from {
            s.push_str(&format!("from {f} "));
        }
        if let Some(i) = &self.iif {
            s.push_str(&format!("iif {i} "));
        }
        s.push_str(&format!("to {}", self.to));
        s
    }

    /// The kernel's answer as `ip route get` would put it.
    pub fn describe_answer(&self) -> String {
        match (&self.route, &self.error) {
            (Some(r), _) => {
                let mut s = String::new();
                if let Some(m) = r.matched {
                    s.push_str(&format!("{m} "));
                }
                if let Some(g) = r.gateway {
                    s.push_str(&format!("via {g} "));
                }
                if let Some(o) = &r.oif {
                    s.push_str(&format!("dev {o} "));
                }
                s.push_str(&format!("table {}", table_name(r.table)));
                if let Some(p) = r.rule {
                    s.push_str(&format!(" (rule {p})"));
                }
                if let Some(m) = r.mtu {
                    s.push_str(&format!(" mtu {m}"));
                }
                s
            }
            (None, Some(e)) => format!("no route: {e}"),
            (None, None) => "no answer".into(),
        }
    }
}

impl RoutingObs {
    /// The lookup of `path` for `network`, of the given family.
    pub fn lookup(&self, network: &str, path: LookupPath, v6: bool) -> Option<&RouteLookup> {
        self.lookups
            .iter()
            .find(|l| l.network == network && l.path == path && l.to.is_ipv6() == v6)
    }

    pub fn rule(&self, v6: bool, priority: u32) -> Option<&RuleObs> {
        self.rules
            .iter()
            .find(|r| r.v6 == v6 && r.priority == priority)
    }
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

/// Links, addresses and routes of one network namespace (the host's or a container's).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct NetnsObs {
    pub links: Vec<LinkObs>,
    pub addrs: Vec<AddrObs>,
    pub routes: Vec<RouteObs>,
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
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct OtherBackend {
    pub backend: String,
    pub tables: BTreeMap<String, Vec<String>>,
}

// ---------------------------------------------------------------- probe

/// What `netcheck probe` saw from inside its container, plus what the host side set up
/// for it to reach.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ProbeObs {
    pub container_name: String,
    pub report: ProbeReport,
    /// The hermetic outside peer for the masquerade test, if one could be made.
    pub outside: Observed<OutsidePeer>,
    /// The ports the probe published (port.publish), and where.
    #[serde(default)]
    pub published: Vec<Published>,
    /// Requests netcheck made to the probe from outside it: from the host to its published
    /// port, and from other containers' namespaces (bridge.icc).
    #[serde(default)]
    pub host_requests: Vec<Request>,
    /// Why the engine could not start the probe with its published ports (their
    /// iptables rules could not be written, say): the run went on without them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publish_error: Option<String>,
    /// Packet traces of the requests that failed, run again with nftables tracing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub traces: Vec<Trace>,
}

/// One failed request, run again with nftables tracing on its own packets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Trace {
    /// The purpose of the request that failed (see [`Request::purpose`]).
    pub purpose: Purpose,
    /// Where a traced packet was dropped or rejected; None when every traced packet
    /// got through every chain (the loss is elsewhere: routing, the peer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<TraceVerdict>,
    /// How many of the flow's packets were traced.
    pub packets: usize,
    /// The base chains the first packet passed, in order: `inet filter forward`.
    #[serde(default)]
    pub path: Vec<String>,
    /// Why there is no trace (nft missing, no permission).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TraceVerdict {
    pub family: String,
    pub table: String,
    pub chain: String,
    /// `drop` or `reject`.
    pub verdict: String,
    /// The rule, as nft printed it; None when the chain's policy decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
}

impl std::fmt::Display for TraceVerdict {
    /// `dropped by table inet filter, chain forward, policy drop`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let done = if self.verdict == "reject" {
            "rejected"
        } else {
            "dropped"
        };
        write!(
            f,
            "{done} by table {} {}, chain {}, ",
            self.family, self.table, self.chain
        )?;
        match &self.rule {
            Some(r) => write!(f, "rule `{r}`"),
            None => write!(f, "policy {}", self.verdict),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Published {
    pub host_ip: IpAddr,
    pub host_port: u16,
    pub container_port: u16,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct OutsidePeer {
    /// The host's address on the link to the peer: what masquerade should turn a
    /// container's source address into.
    pub host_addr: IpAddr,
    pub peer_addr: IpAddr,
    pub host_link: String,
}

/// The probe's JSON output.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct ProbeReport {
    pub netns: NetnsObs,
    pub hosts_file: String,
    pub resolv_conf: String,
    pub lookups: Vec<Lookup>,
    pub requests: Vec<Request>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Lookup {
    pub name: String,
    /// `hosts`, `dns`, or `embedded-dns` (Docker's embedded DNS server, asked alone).
    pub source: Option<String>,
    pub addrs: Vec<IpAddr>,
    pub error: Option<String>,
    /// Made for a suite's `dns` check (`--resolve`: /etc/hosts, then DNS), not for
    /// netcheck's own checks (`--lookup`: DNS only with --dns). Both may look up one
    /// name, with different answers: each check reads its own.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suite: bool,
}

/// One HTTP request from the probe to a listener netcheck set up.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Request {
    /// What the request is for: `gateway:<network>`, `host.docker.internal`, `outside`.
    pub purpose: Purpose,
    /// As given: a name or an address, with the port.
    pub target: String,
    pub addr: Option<String>,
    pub ok: bool,
    /// The client address that the listener reports it saw (netcheck's own listeners).
    pub seen_source: Option<IpAddr>,
    /// The HTTP status, for HTTP requests that got an answer.
    #[serde(default)]
    pub status: Option<u16>,
    /// The start of the answer's body (at most 64 KiB), for suites' HTTP checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    pub error: Option<String>,
    /// What kind of failure `error` is, for judges. Absent from snapshots written
    /// before it was recorded, whose judges read the kind from the error's words
    /// (`Request::error_kind()`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<ErrorKind>,
    pub elapsed_ms: u64,
}

impl Request {
    /// Records why the request failed.
    pub fn fail(&mut self, kind: ErrorKind, error: impl Into<String>) {
        self.ok = false;
        self.error = Some(error.into());
        self.error_kind = Some(kind);
    }

    /// Why the request failed, if it did: as recorded, or, in an older snapshot, as
    /// its error's words say.
    pub fn error_kind(&self) -> Option<ErrorKind> {
        let error = self.error.as_deref()?;
        Some(
            self.error_kind
                .unwrap_or_else(|| ErrorKind::from_text(error)),
        )
    }
}

// ---------------------------------------------------------------- lookups used by judges

impl Snapshot {
    /// Reads a snapshot file, refusing versions this netcheck does not know.
    pub fn load(path: &std::path::Path) -> Result<Snapshot, crate::error::Error> {
        let bad = |detail: String| crate::error::Error::BadFile {
            path: path.to_path_buf(),
            detail,
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        Snapshot::from_json(&text).map_err(bad)
    }

    /// Parses a snapshot, refusing versions this netcheck does not know. The error
    /// names the position (serde_json's line and column).
    pub fn from_json(text: &str) -> Result<Snapshot, String> {
        // The version first: a newer snapshot gets "unsupported version", not a
        // complaint about some field it added.
        #[derive(Deserialize)]
        struct Version {
            schema: Option<String>,
        }
        let version: Version =
            serde_json::from_str(text).map_err(|e| format!("not a snapshot: {e}"))?;
        match version.schema.as_deref() {
            Some(SNAPSHOT_SCHEMA) => {}
            Some(other) => {
                return Err(format!(
                    "snapshot version `{other}` is not supported (this netcheck reads {SNAPSHOT_SCHEMA})"
                ));
            }
            None => return Err("not a netcheck snapshot: no `schema` field".into()),
        }
        serde_json::from_str(text).map_err(|e| e.to_string())
    }

    pub fn network(&self, name: &str) -> Option<&NetworkObs> {
        self.docker.ok()?.networks.iter().find(|n| n.name == name)
    }

    /// The network the probe's traffic leaves through: the one its default route uses.
    /// The engine, not the order of --network, decides which that is.
    pub fn probe_egress(&self) -> Option<&NetworkObs> {
        self.probe.ok()?.egress(&self.docker.ok()?.networks)
    }

    pub fn container(&self, id: &str) -> Option<&ContainerObs> {
        self.docker.ok()?.containers.iter().find(|c| c.id == id)
    }
}

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

impl ProbeObs {
    /// The network the probe's default route leaves through, among `networks`.
    pub fn egress<'a>(&self, networks: &'a [NetworkObs]) -> Option<&'a NetworkObs> {
        let ns = &self.report.netns;
        let oif = ns.default_routes_v4().find_map(|r| r.oif)?;
        let mac = ns.link(oif)?.mac.as_deref()?;
        networks.iter().find(|n| {
            n.endpoints.iter().any(|e| {
                e.container_name == self.container_name
                    && e.mac
                        .as_deref()
                        .is_some_and(|m| m.eq_ignore_ascii_case(mac))
            })
        })
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

impl NetnsObs {
    pub fn link(&self, index: u32) -> Option<&LinkObs> {
        self.links.iter().find(|l| l.index == index)
    }

    pub fn link_by_name(&self, name: &str) -> Option<&LinkObs> {
        self.links.iter().find(|l| l.name == name)
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
