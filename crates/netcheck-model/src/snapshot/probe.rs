//! The probe container's observations: its report (namespace, lookups, requests), the
//! outside peer, published ports and packet traces.

use std::net::IpAddr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{NetnsObs, NetworkObs, Observed};
use crate::protocol::{ErrorKind, Purpose};

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
    /// Where the open-file limit let netcheck open fewer of bridge.icc's connections at
    /// once than it would have: how many. None when it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_concurrency: Option<Concurrency>,
    /// Why the engine could not start the probe with its published ports (their
    /// iptables rules could not be written, say): the run went on without them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publish_error: Option<String>,
    /// Packet traces of the requests that failed, run again with nftables tracing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub traces: Vec<Trace>,
    /// The containers that stood in for the probe on checked networks it did not join
    /// (more of them than `--probe-joins`: each network the probe joins costs the
    /// engine a fifth of a second or more). On such a network, the requests the probe
    /// would have made there were made from its stand-in's namespace, entered from the
    /// host, and the ones made to the probe went to a listener there (in
    /// `host_requests`, by the same purposes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stand_ins: Vec<StandIn>,
}

/// A running container of the user's, on one checked network alone, that stood in for
/// the probe there. Nothing ran in it: netcheck made sockets in its network namespace.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct StandIn {
    pub network: String,
    pub container_name: String,
    /// Its own name, asked of the engine's embedded DNS server from its namespace, as
    /// the probe asks for its own (user-defined networks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedded_dns: Option<Lookup>,
    /// Why its embedded DNS server was not asked: netcheck's own failure (its
    /// namespace could not be entered), not the network's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unasked: Option<String>,
    /// Why the probe took its place: what failed from its namespace (rules inside a
    /// container of the user's can do that), so the probe joined the network late and
    /// speaks for it instead. None while it stands in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaced: Option<String>,
}

/// Who speaks for the probe on one network: the probe itself, or its stand-in.
#[derive(Debug, Clone, Copy)]
pub struct Vantage<'a> {
    pub container_name: &'a str,
    /// None where it is the probe.
    pub stand_in: Option<&'a StandIn>,
}

impl Vantage<'_> {
    /// What a failure seen from here leaves open, for a finding's message: a stand-in
    /// is a container of the user's, and rules inside it (a VPN client's kill switch, a
    /// firewall of its own) would look the same from there. Empty for the probe.
    pub fn caveat(&self) -> String {
        match self.stand_in {
            None => String::new(),
            Some(s) => format!(
                " (seen from stand-in {}, a container of yours: rules inside it would look the same; \
                 a --probe-joins above the number of checked networks sees it from netcheck's probe)",
                s.container_name
            ),
        }
    }
}

impl std::fmt::Display for Vantage<'_> {
    /// `the probe`, or `stand-in <name>`: how a finding names who made the request.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.stand_in {
            None => f.write_str("the probe"),
            Some(s) => write!(f, "stand-in {}", s.container_name),
        }
    }
}

/// Connections made fewer at a time than netcheck would have, for lack of descriptors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Concurrency {
    /// How many were open at once.
    pub at_once: usize,
    /// How many were made in all.
    pub requests: usize,
    /// The soft limit on open files netcheck ran under.
    pub open_files: u64,
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
    /// The same link's IPv6 side (2001:2::/48, the IPv6 benchmarking range), where the
    /// host has IPv6: what NAT66 should turn a container's source into.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v6: Option<OutsideV6>,
    /// Why the link has no IPv6 side, where it has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v6_missing: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OutsideV6 {
    pub host_addr: IpAddr,
    pub peer_addr: IpAddr,
    /// The peer's listener port on its IPv6 address.
    pub port: u16,
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
    /// A request for `purpose` to `target`, not yet made: no answer, no error.
    pub fn to(purpose: Purpose, target: String, addr: Option<String>) -> Request {
        Request {
            purpose,
            target,
            addr,
            ok: false,
            seen_source: None,
            status: None,
            body: None,
            error: None,
            error_kind: None,
            elapsed_ms: 0,
        }
    }

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

impl ProbeObs {
    /// Who speaks for the probe on network `n`: the probe where it joined `n`, else the
    /// container that stood in for it there; None where neither did.
    pub fn vantage(&self, n: &NetworkObs) -> Option<Vantage<'_>> {
        if n.endpoints
            .iter()
            .any(|e| e.container_name == self.container_name)
        {
            return Some(Vantage {
                container_name: &self.container_name,
                stand_in: None,
            });
        }
        let s = self.stand_ins.iter().find(|s| s.network == n.name)?;
        Some(Vantage {
            container_name: &s.container_name,
            stand_in: Some(s),
        })
    }

    /// The request made for `purpose`: the probe's own, else one made from the host
    /// (a stand-in's, among them).
    pub fn request(&self, purpose: &Purpose) -> Option<&Request> {
        (self.report.requests.iter())
            .chain(&self.host_requests)
            .find(|r| r.purpose == *purpose)
    }

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
