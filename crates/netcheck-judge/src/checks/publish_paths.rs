//! How published ports meet the host's own settings, for port.publish: ports
//! published on every address while a host firewall runs (Docker's DNAT comes before
//! that firewall's INPUT rules, so it never sees them), and loopback ports without
//! docker-proxy, which need `route_localnet` on the bridge. Not a check.

use netcheck_model::snapshot::{FirewallObs, HostObs};

/// The host firewall that runs here, named: ufw, firewalld, or an input policy of drop
/// (iptables, or a base chain of another nftables table).
pub fn host_firewall(fw: &FirewallObs) -> Option<String> {
    let filter = fw.tables.get("filter");
    if filter.into_iter().flatten().any(|l| l.starts_with(":ufw-")) {
        return Some("ufw".into());
    }
    if super::rules::firewalld(fw) {
        return Some("firewalld".into());
    }
    if filter.and_then(|f| super::rules::policy(f, "INPUT")) == Some("DROP") {
        return Some(format!("{} INPUT policy DROP", fw.backend));
    }
    let rs = fw.nftables.as_ref()?;
    rs.tables
        .iter()
        .filter(|t| super::nft_path::is_foreign(t, fw))
        .find_map(|t| {
            let c = t.chains.iter().find(|c| {
                c.hook.as_deref() == Some("input") && c.policy.as_deref() == Some("drop")
            })?;
            Some(format!(
                "table {}, chain {} (input, policy drop)",
                t.label(),
                c.name
            ))
        })
}

/// Ports published on every address: `0.0.0.0:8080 -> 172.17.0.2:80`, from Docker's
/// DNAT rules without a destination and from docker-proxy processes on a wildcard.
pub fn wildcard_ports(host: &HostObs, fw: &FirewallObs) -> Vec<String> {
    let mut out: Vec<String> = vec![];
    for l in fw.tables.get("nat").into_iter().flatten() {
        let Some(rule) = super::rules::Rule::parse(l) else {
            continue;
        };
        if rule.chain != "DOCKER" || rule.target != Some("DNAT") || l.contains(" -d ") {
            continue;
        }
        let port = rule
            .matches
            .iter()
            .find(|(_, flag, _)| *flag == "--dport")
            .map(|(_, _, v)| *v);
        let to = l.split("--to-destination ").nth(1).map(str::trim);
        if let (Some(port), Some(to)) = (port, to) {
            out.push(format!("0.0.0.0:{port} -> {to}"));
        }
    }
    for p in host
        .proxies
        .iter()
        .filter(|p| p.host_ip == "0.0.0.0" || p.host_ip == "::")
    {
        let at = if p.host_ip == "::" {
            format!("[::]:{}", p.host_port)
        } else {
            format!("0.0.0.0:{}", p.host_port)
        };
        let line = format!("{at} -> {}:{}", p.container_ip, p.container_port);
        let v4_twin = format!(
            "0.0.0.0:{} -> {}:{}",
            p.host_port, p.container_ip, p.container_port
        );
        if !out.contains(&line) && !out.contains(&v4_twin) {
            out.push(line);
        }
    }
    out
}

/// Why 127.0.0.1 cannot reach a DNATed container: with userland-proxy off (no
/// docker-proxy carries the port) the kernel must route a loopback-addressed packet
/// out of the bridge, which it does only with `route_localnet=1` there.
pub fn localnet_cause(host: &HostObs, bridge: &str, proxied: bool) -> Option<String> {
    let proxy_off = host
        .engine_config
        .as_ref()
        .and_then(|c| c.userland_proxy)
        .map(|on| !on)
        .unwrap_or(!proxied);
    let key = format!("net.ipv4.conf.{bridge}.route_localnet");
    let value = host.sysctl.get(&key)?;
    (proxy_off && value == "0").then(|| {
        let why = match host.engine_config.as_ref().and_then(|c| c.userland_proxy) {
            Some(false) => "userland-proxy is off",
            _ => "no docker-proxy carries it (userland-proxy off)",
        };
        format!(
            "{why} and {key}=0: the kernel does not route packets for 127.0.0.1 out of {bridge}, \
             so the DNATed request never reaches the container"
        )
    })
}
