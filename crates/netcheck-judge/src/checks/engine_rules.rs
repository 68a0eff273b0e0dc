//! What the running engine's own firewall rules should look like, from what the engine
//! says about itself: its version family, its firewall backend, and each network's
//! options (gateway modes, icc, internal, masquerade). Not a check: the checks ask it
//! instead of expecting a fixed list of chains, so that no check expects a chain the
//! running version does not write, and no fix edits a rule the engine owns.
//!
//! The families differ exactly where netcheck looks:
//! - 20.10 to 27: DOCKER, DOCKER-USER and the two DOCKER-ISOLATION chains; FORWARD
//!   accepts each bridge's traffic itself.
//! - 28: DOCKER-FORWARD, DOCKER-BRIDGE, DOCKER-CT and DOCKER-INTERNAL beside the
//!   isolation chains, per-network gateway modes, and raw-table PREROUTING drops of
//!   traffic to a container's address that does not come in on its bridge ("direct
//!   access").
//! - 29 and later: no DOCKER-ISOLATION chains (isolation is each network's default rule
//!   in DOCKER), and an nftables backend (`table ip docker-bridges`) beside iptables.

use std::net::IpAddr;

use netcheck_model::snapshot::{
    EngineFacts, FirewallObs, HostObs, NetworkObs, Snapshot, TraceVerdict,
};

/// A range of engine versions whose rules look alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Family {
    /// 20.10 to 27.
    Classic,
    /// 28.
    V28,
    /// 29 and later.
    V29,
}

impl Family {
    /// From the engine's version string (`29.7.2`, `20.10.24+dfsg1`); None when it
    /// names no Docker release (Podman's, an empty one from an old snapshot).
    pub fn of_version(version: &str) -> Option<Family> {
        let major: u32 = version
            .trim_start_matches('v')
            .split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()?;
        Some(match major {
            // Calendar versions before 20.10 (17.x to 19.x) wrote the classic chains.
            0..=27 => Family::Classic,
            28 => Family::V28,
            _ => Family::V29,
        })
    }

    fn label(self) -> &'static str {
        match self {
            Family::Classic => "Docker 20.10 to 27",
            Family::V28 => "Docker 28",
            Family::V29 => "Docker 29 or later",
        }
    }
}

/// Where the engine keeps its rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Iptables,
    /// Docker 29's own nftables tables, `ip docker-bridges` and `ip6 docker-bridges`.
    Nftables,
}

pub use netcheck_model::snapshot::DOCKER_NFT_TABLE as NFT_TABLE;

/// What the engine's rules should be, and how that was decided.
#[derive(Debug, Clone)]
pub struct EngineRules {
    /// None: the version names no Docker release; the rules found decide.
    pub family: Option<Family>,
    pub backend: Backend,
    /// Where the backend was read: `/info`, daemon.json, or the rules found.
    pub backend_source: String,
    pub version: String,
    /// Podman's compatible API, whose rules are netavark's ([`super::netavark`]), not
    /// Docker's: none of the above applies to it.
    pub podman: bool,
    /// Podman with netavark, whose rules netcheck reads; false with CNI's (Podman 3, and
    /// Podman 4 hosts upgraded from it), which it does not.
    pub netavark: bool,
}

impl EngineRules {
    pub fn of(snapshot: &Snapshot) -> EngineRules {
        let engine = snapshot.docker.ok().map(|d| &d.engine);
        let version = engine.map(|e| e.version.clone()).unwrap_or_default();
        let host = snapshot.host.ok();
        let podman = engine.is_some_and(EngineFacts::is_podman);
        // Podman's rules are netavark's: a dockerd beside it says nothing of them.
        let (backend, backend_source) = match podman {
            true => (Backend::Iptables, "Podman's own (netavark's)".to_string()),
            false => backend(engine.and_then(|e| e.firewall_backend.as_deref()), host),
        };
        EngineRules {
            family: (!podman).then(|| Family::of_version(&version)).flatten(),
            podman,
            netavark: podman && engine.is_some_and(|e| e.network_backend.as_deref() != Some("cni")),
            backend,
            backend_source,
            version,
        }
    }

    /// `Docker 29.7.2, nftables backend (from /info)`.
    pub fn describe(&self) -> String {
        if self.podman {
            return format!("Podman {}, netavark's rules", self.version);
        }
        let version = match (self.family, self.version.is_empty()) {
            (_, false) => format!("engine {}", self.version),
            (Some(f), true) => f.label().to_string(),
            (None, true) => "engine of unknown version".to_string(),
        };
        let backend = match self.backend {
            Backend::Iptables => "iptables",
            Backend::Nftables => "nftables",
        };
        format!("{version}, {backend} backend ({})", self.backend_source)
    }

    /// Whether this engine writes DOCKER-ISOLATION-STAGE-1/2. An engine of unknown
    /// version is taken to write them where they are found.
    pub fn isolation_chains(&self, fw: &FirewallObs) -> bool {
        match self.family {
            Some(f) => f < Family::V29,
            None => has_chain(fw, "filter", "DOCKER-ISOLATION-STAGE-1"),
        }
    }

    /// The iptables chains this engine always writes, as `table CHAIN`, where its
    /// backend is iptables: what a flush removes.
    pub fn iptables_chains(&self, fw: &FirewallObs) -> Vec<(&'static str, &'static str)> {
        let mut chains = vec![("filter", "DOCKER"), ("nat", "DOCKER")];
        if self.isolation_chains(fw) {
            chains.push(("filter", "DOCKER-ISOLATION-STAGE-1"));
        }
        if self.family >= Some(Family::V28) {
            chains.push(("filter", "DOCKER-FORWARD"));
        }
        chains
    }

    /// What is missing of the engine's rules, in the words of its backend:
    /// `table ip docker-bridges`, or `filter DOCKER-ISOLATION-STAGE-1`.
    pub fn missing(&self, fw: &FirewallObs) -> Vec<String> {
        if self.podman {
            return match super::netavark::present(fw) {
                true => vec![],
                false => vec!["netavark's chains (filter NETAVARK_FORWARD, nat NETAVARK-*)".into()],
            };
        }
        match self.backend {
            Backend::Nftables => {
                let has = |t: &str| fw.nft_tables.iter().any(|x| x == t);
                let table = format!("table ip {NFT_TABLE}");
                if has(&table) { vec![] } else { vec![table] }
            }
            Backend::Iptables => self
                .iptables_chains(fw)
                .into_iter()
                .filter(|(t, c)| !has_chain(fw, t, c))
                .map(|(t, c)| format!("{t} {c}"))
                .collect(),
        }
    }

    /// Whether the engine's rules are where its backend says they should be.
    pub fn present(&self, fw: &FirewallObs) -> bool {
        if self.podman {
            return super::netavark::present(fw);
        }
        match self.backend {
            Backend::Nftables => !fw.docker_nft_tables().is_empty(),
            Backend::Iptables => netcheck_model::snapshot::has_docker_chains(fw.tables.values()),
        }
    }
}

/// The engine's backend: what it says (`/info`), else what it was told (daemon.json,
/// dockerd's flag), else where its rules are.
fn backend(info: Option<&str>, host: Option<&HostObs>) -> (Backend, String) {
    let parse = |s: &str| {
        if s.contains("nftables") {
            Backend::Nftables
        } else {
            Backend::Iptables
        }
    };
    if let Some(driver) = info {
        return (parse(driver), format!("the engine's /info: {driver}"));
    }
    let config = host.and_then(|h| h.engine_config.as_ref());
    if let Some((b, config)) = config.and_then(|c| c.firewall_backend.as_deref().map(|b| (b, c))) {
        let source = config
            .sources
            .iter()
            .find(|s| s.contains("firewall-backend"))
            .or(config.sources.first())
            .map(String::as_str)
            .unwrap_or("the engine's configuration");
        return (parse(b), format!("\"firewall-backend\": {b:?} in {source}"));
    }
    let fw = host.and_then(|h| h.firewall.ok());
    match fw {
        Some(fw) if !fw.docker_nft_tables().is_empty() => (
            Backend::Nftables,
            format!(
                "its tables are in nftables: {}",
                fw.docker_nft_tables().join(", ")
            ),
        ),
        _ => (Backend::Iptables, "the default".into()),
    }
}

fn has_chain(fw: &FirewallObs, table: &str, chain: &str) -> bool {
    fw.tables.get(table).is_some_and(|lines| {
        lines.iter().any(|l| {
            l.strip_prefix(':')
                .and_then(|c| c.split_whitespace().next())
                == Some(chain)
        })
    })
}

/// A network's gateway mode for one address family
/// (`com.docker.network.bridge.gateway_mode_ipv4|6`, Docker 28 and later).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewayMode {
    /// The default: NAT, and direct access from outside only to published ports.
    Nat,
    /// NAT, and direct access to every port of its containers, on purpose.
    NatUnprotected,
    /// No NAT: published ports and ICMP reachable directly.
    Routed,
    /// No route in or out through the host (Docker 28.2 and later).
    Isolated,
}

impl GatewayMode {
    pub fn of(n: &NetworkObs, v6: bool) -> GatewayMode {
        let key = if v6 {
            "com.docker.network.bridge.gateway_mode_ipv6"
        } else {
            "com.docker.network.bridge.gateway_mode_ipv4"
        };
        match n.options.get(key).map(String::as_str) {
            Some("nat-unprotected") => GatewayMode::NatUnprotected,
            Some("routed") => GatewayMode::Routed,
            Some("isolated") => GatewayMode::Isolated,
            _ => GatewayMode::Nat,
        }
    }

    /// The option as a user would write it.
    pub fn option(self, v6: bool) -> String {
        let mode = match self {
            GatewayMode::Nat => "nat",
            GatewayMode::NatUnprotected => "nat-unprotected",
            GatewayMode::Routed => "routed",
            GatewayMode::Isolated => "isolated",
        };
        format!(
            "com.docker.network.bridge.gateway_mode_ipv{}={mode}",
            if v6 { 6 } else { 4 }
        )
    }
}

impl EngineRules {
    /// Why this engine lets other networks' containers reach `into`'s containers by its
    /// own configuration, where it does: Docker 29 has no isolation chains, and a
    /// `nat-unprotected` network's default rule accepts traffic from everywhere.
    pub fn open_to_other_networks(
        &self,
        (from, into): (Option<&NetworkObs>, &NetworkObs),
        fw: Option<&FirewallObs>,
    ) -> Option<String> {
        if self.podman {
            return (!from.is_some_and(|from| super::netavark::isolated_between(from, into, fw))).then(|| {
                format!(
                    "Podman (netavark) isolates two networks only where both were created with \
                     --opt isolate=true (or either with isolate=strict), and {} and {} are not both: \
                     they reach each other, by design",
                    from.map_or("the other", |n| n.name.as_str()),
                    into.name
                )
            });
        }
        let isolation_chains = fw.is_some_and(|fw| self.isolation_chains(fw))
            || (fw.is_none() && self.family < Some(Family::V29));
        let mode = GatewayMode::of(into, false);
        (!isolation_chains && mode == GatewayMode::NatUnprotected).then(|| {
            format!(
                "{} sets {}: on {}, its containers accept traffic from every other network, by configuration",
                into.name,
                mode.option(false),
                self.family.map_or("this engine", Family::label)
            )
        })
    }
}

/// Whether a traced drop or reject came from a rule the engine wrote. Such a rule is a
/// protection working as designed: the drop is a symptom, never the cause, and no fix
/// may touch it.
pub fn owns(v: &TraceVerdict, networks: &[NetworkObs]) -> bool {
    v.table.contains("docker")
        || v.chain.starts_with("DOCKER")
        // Podman's engine, netavark: its chains in iptables, its table in nftables.
        || v.chain.starts_with("NETAVARK")
        || (v.family == "inet" && v.table == "netavark")
        || direct_access(v, networks).is_some()
}

/// Docker's direct-access protection (28 and later), in either backend: a raw
/// PREROUTING drop of packets to a container's address that do not come in on its
/// bridge. Returns the container's address and its network.
pub fn direct_access<'a>(
    v: &TraceVerdict,
    networks: &'a [NetworkObs],
) -> Option<(IpAddr, &'a NetworkObs)> {
    if !v.chain.contains("PREROUTING") || !(v.table == "raw" || v.table.contains("docker")) {
        return None;
    }
    let rule = v.rule.as_deref()?;
    let words: Vec<&str> = rule.split_whitespace().collect();
    let after = |key: &str| {
        words
            .windows(2)
            .find(|w| w[0] == key)
            .map(|w| w[1].trim_matches('"'))
    };
    let addr: IpAddr = after("daddr")?
        .trim_end_matches("/32")
        .trim_end_matches("/128")
        .parse()
        .ok()?;
    let not_from = words
        .windows(3)
        .find(|w| w[0] == "iifname" && w[1] == "!=")
        .map(|w| w[2].trim_matches('"'))?;
    networks.iter().find_map(|n| {
        (n.bridge == not_from
            && n.endpoints.iter().any(|e| {
                e.ipv4.map(|a| a.addr()) == Some(addr) || e.ipv6.map(|a| a.addr()) == Some(addr)
            }))
        .then_some((addr, n))
    })
}

/// The masquerade rule of a network in Docker's nftables table: in its chain
/// `nat-postrouting-out__<bridge>`, a `masquerade` (or `snat`) for its subnet. Err
/// says what is missing: the table, the chain, or the rule.
pub fn nft_masquerade(fw: &FirewallObs, n: &NetworkObs, v6: bool) -> Result<String, String> {
    let family = if v6 { "ip6" } else { "ip" };
    let Some(rs) = &fw.nftables else {
        return Err("the nftables ruleset was not read".into());
    };
    let Some(table) = rs.table(family, NFT_TABLE) else {
        return Err(format!("table {family} {NFT_TABLE} is missing"));
    };
    let chain_name = format!("nat-postrouting-out__{}", n.bridge);
    let Some(chain) = table.chain(&chain_name) else {
        return Err(format!(
            "table {family} {NFT_TABLE} has no chain {chain_name}"
        ));
    };
    chain
        .rules
        .iter()
        .find(|r| {
            r.other
                .iter()
                .any(|o| o == "masquerade" || o.starts_with("snat"))
        })
        .map(|r| {
            let m: Vec<String> = r
                .matches
                .iter()
                .map(|m| format!("{} {} {}", m.left, m.op, m.right))
                .collect();
            format!(
                "table {family} {NFT_TABLE}, chain {chain_name}: {} {} (handle {})",
                m.join(" "),
                r.other.join(" "),
                r.handle
            )
        })
        .ok_or_else(|| {
            format!("table {family} {NFT_TABLE}, chain {chain_name} holds no masquerade rule")
        })
}

/// A published port's DNAT rule in Docker's nftables table: a rule matching the host
/// port whose target is the container's port. `th dport`/`tcp dport` as nft prints it.
pub fn nft_dnat(fw: &FirewallObs, host_port: u16, container_port: u16) -> Option<String> {
    let table = fw.nftables.as_ref()?.table("ip", NFT_TABLE)?;
    let port = host_port.to_string();
    let to = format!(":{container_port}");
    table.chains.iter().find_map(|c| {
        c.rules.iter().find_map(|r| {
            let dnat = r
                .other
                .iter()
                .find(|o| o.starts_with("dnat to ") && o.ends_with(&to))?;
            r.matches
                .iter()
                .any(|m| m.left.ends_with("dport") && m.op == "==" && m.right == port)
                .then(|| {
                    format!(
                        "table ip {NFT_TABLE}, chain {}: {dnat} (handle {})",
                        c.name, r.handle
                    )
                })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_from_versions() {
        assert_eq!(Family::of_version("20.10.24+dfsg1"), Some(Family::Classic));
        assert_eq!(Family::of_version("27.5.1"), Some(Family::Classic));
        assert_eq!(Family::of_version("28.5.2"), Some(Family::V28));
        assert_eq!(Family::of_version("29.7.2"), Some(Family::V29));
        assert_eq!(Family::of_version("30.0.0-rc.1"), Some(Family::V29));
        assert_eq!(Family::of_version(""), None);
        assert_eq!(Family::of_version("podman"), None);
    }

    fn net(bridge: &str, addr: &str) -> NetworkObs {
        serde_json::from_value(serde_json::json!({
            "id": "x", "name": "appnet", "driver": "bridge", "bridge": bridge, "internal": false,
            "ip_masquerade": true, "enable_ipv6": false,
            "ipam": [{"subnet": "172.30.60.0/24", "gateway": null}], "options": {},
            "endpoints": [{"container_id": "c", "container_name": "app", "ipv4": addr, "mac": null}]
        }))
        .unwrap()
    }

    fn verdict(table: &str, chain: &str, rule: &str) -> TraceVerdict {
        TraceVerdict {
            family: "ip".into(),
            table: table.into(),
            chain: chain.into(),
            verdict: "drop".into(),
            rule: Some(rule.into()),
        }
    }

    #[test]
    fn recognises_the_direct_access_drop_in_both_backends() {
        let nets = [net("br-27c9f6596145", "172.30.60.3/24")];
        let nft = verdict(
            "docker-bridges",
            "raw-PREROUTING",
            r#"ip daddr 172.30.60.3 iifname != "br-27c9f6596145" drop comment "DROP DIRECT ACCESS""#,
        );
        let ipt = verdict(
            "raw",
            "PREROUTING",
            r#"ip daddr 172.30.60.3 iifname != "br-27c9f6596145" counter packets 3 bytes 180 drop"#,
        );
        for v in [nft, ipt] {
            let (addr, n) = direct_access(&v, &nets).expect("Docker's rule");
            assert_eq!(addr.to_string(), "172.30.60.3");
            assert_eq!(n.name, "appnet");
            assert!(owns(&v, &nets));
        }
        // A user's raw drop of the same address on another interface is not Docker's.
        let theirs = verdict(
            "raw",
            "PREROUTING",
            r#"ip daddr 172.30.60.3 iifname "eth0" drop"#,
        );
        assert!(direct_access(&theirs, &nets).is_none());
        assert!(!owns(&theirs, &nets));
        // Nor is one for an address no container has.
        let other = verdict(
            "raw",
            "PREROUTING",
            r#"ip daddr 10.9.9.9 iifname != "br-27c9f6596145" drop"#,
        );
        assert!(!owns(&other, &nets));
    }
}
