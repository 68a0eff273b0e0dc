//! The kernel settings the checks read: sysctls, and conntrack's table and counters.

use std::collections::BTreeMap;

use netcheck_model::input::read_config;

use netcheck_model::snapshot::{ConntrackObs, ConntrackStats};

const SYSCTLS: &[&str] = &[
    "net.ipv4.ip_forward",
    "net.ipv6.conf.all.forwarding",
    "net.bridge.bridge-nf-call-iptables",
    "net.bridge.bridge-nf-call-ip6tables",
];

/// The global sysctls, plus IPv4 forwarding of each of `interfaces` (bridges, uplinks).
pub fn sysctls(interfaces: &[&str]) -> BTreeMap<String, String> {
    // route_localnet: with userland-proxy off, ports published on 127.0.0.1 need it
    // on the bridge (the engine sets it; something may reset it).
    let per_interface = interfaces.iter().flat_map(|i| {
        [
            format!("net.ipv4.conf.{i}.forwarding"),
            format!("net.ipv4.conf.{i}.route_localnet"),
        ]
    });
    SYSCTLS
        .iter()
        .map(|s| s.to_string())
        .chain(per_interface)
        .filter_map(|name| {
            // Interface names may hold dots (eth0.100): only the prefix is a path.
            let path = match name.strip_prefix("net.ipv4.conf.") {
                Some(rest) => {
                    let (iface, leaf) = rest.rsplit_once('.')?;
                    format!("/proc/sys/net/ipv4/conf/{iface}/{leaf}")
                }
                None => format!("/proc/sys/{}", name.replace('.', "/")),
            };
            let value = read_config(&path)?;
            Some((name, value.trim().to_string()))
        })
        .collect()
}

/// The conntrack table's fill and its failure counters since boot. Every field is None
/// where conntrack is not loaded.
pub fn conntrack() -> ConntrackObs {
    let number = |path: &str| read_config(path).and_then(|v| v.trim().parse().ok());
    ConntrackObs {
        count: number("/proc/sys/net/netfilter/nf_conntrack_count"),
        max: number("/proc/sys/net/netfilter/nf_conntrack_max"),
        stats: read_config("/proc/net/stat/nf_conntrack").and_then(|t| parse_conntrack_stats(&t)),
    }
}

/// /proc/net/stat/nf_conntrack: a header line, then one line of hex fields per CPU.
fn parse_conntrack_stats(text: &str) -> Option<ConntrackStats> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next()?.split_whitespace().collect();
    let column = |name: &str| header.iter().position(|h| *h == name);
    let (drop, early, insert) = (
        column("drop")?,
        column("early_drop")?,
        column("insert_failed")?,
    );
    let mut stats = ConntrackStats::default();
    for line in lines {
        let fields: Vec<u64> = line
            .split_whitespace()
            .map(|f| u64::from_str_radix(f, 16).unwrap_or(0))
            .collect();
        let at = |i: usize| fields.get(i).copied().unwrap_or(0);
        stats.drop += at(drop);
        stats.early_drop += at(early);
        stats.insert_failed += at(insert);
    }
    Some(stats)
}

#[cfg(test)]
mod tests {
    #[test]
    fn sums_the_failure_counters_over_cpus() {
        let text = "entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error\n\
00000006  00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000002 0000000a 00000001 00000000\n\
00000006  00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000010 00000000 00000000\n";
        let s = super::parse_conntrack_stats(text).unwrap();
        assert_eq!((s.insert_failed, s.drop, s.early_drop), (2, 26, 1));
        assert!(super::parse_conntrack_stats("garbage").is_none());
    }
}
