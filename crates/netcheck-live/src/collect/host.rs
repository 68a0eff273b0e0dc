//! Host-side observations that are not netlink: sysctls, the firewall, docker-proxy
//! processes and the resolver configuration containers inherit.

use std::collections::BTreeMap;
use std::time::Duration;

use netcheck_model::snapshot::{
    ConntrackObs, ConntrackStats, EngineConfig, FirewallObs, Observed, OtherBackend, ProxyObs,
};

/// The sysctls the checks read. Missing files (br_netfilter not loaded) are left out.
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
            let value = read(&path)?;
            Some((name, value.trim().to_string()))
        })
        .collect()
}

/// The conntrack table's fill and its failure counters since boot. Every field is None
/// where conntrack is not loaded.
pub fn conntrack() -> ConntrackObs {
    let number = |path: &str| read(path).and_then(|v| v.trim().parse().ok());
    ConntrackObs {
        count: number("/proc/sys/net/netfilter/nf_conntrack_count"),
        max: number("/proc/sys/net/netfilter/nf_conntrack_max"),
        stats: read("/proc/net/stat/nf_conntrack").and_then(|t| parse_conntrack_stats(&t)),
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

/// A file's text, if it can be read.
pub fn read(path: &str) -> Option<String> {
    netcheck_model::input::read_config(path)
}

/// docker-proxy processes, from /proc/*/cmdline: `-proto tcp -host-ip 127.0.0.1
/// -host-port 32768 -container-ip 172.17.0.2 -container-port 8080`.
pub fn proxies() -> Vec<ProxyObs> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    let mut out: Vec<ProxyObs> = dir
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| {
            let comm = std::fs::read_to_string(e.path().join("comm")).ok()?;
            if comm.trim() != "docker-proxy" {
                return None;
            }
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            parse_proxy(&String::from_utf8_lossy(&cmdline).replace('\0', " "))
        })
        .collect();
    out.sort_by_key(|p| (p.host_port, p.host_ip.clone()));
    out
}

pub fn parse_proxy(cmdline: &str) -> Option<ProxyObs> {
    let words: Vec<&str> = cmdline.split_whitespace().collect();
    let arg = |name: &str| {
        words
            .windows(2)
            .find(|w| w[0] == name)
            .map(|w| w[1].to_string())
    };
    Some(ProxyObs {
        proto: arg("-proto")?,
        host_ip: arg("-host-ip")?,
        host_port: arg("-host-port")?.parse().ok()?,
        container_ip: arg("-container-ip")?,
        container_port: arg("-container-port")?.parse().ok()?,
    })
}

/// The engine's firewall settings: its daemon.json (the `--config-file` dockerd was
/// given, else /etc/docker/daemon.json), then dockerd's own flags, which win. Read-only.
pub fn engine_config() -> Option<EngineConfig> {
    let cmdline = dockerd_cmdline();
    let flag = |name: &str| {
        cmdline.iter().find_map(|w| {
            let v = w.strip_prefix(&format!("--{name}"))?;
            match v {
                "" => Some(true),
                "=true" => Some(true),
                "=false" => Some(false),
                _ => None,
            }
        })
    };
    let file =
        value_flag(&cmdline, "config-file").unwrap_or_else(|| "/etc/docker/daemon.json".into());
    let mut config = EngineConfig::default();
    if let Some(text) = read(&file) {
        let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        let get = |k: &str| json.get(k).and_then(serde_json::Value::as_bool);
        config.sources.push(file);
        config.iptables = get("iptables");
        config.ip6tables = get("ip6tables");
        config.userland_proxy = get("userland-proxy");
        config.firewall_backend = json
            .get("firewall-backend")
            .and_then(serde_json::Value::as_str)
            .map(str::to_string);
        config.dns = json
            .get("dns")
            .and_then(serde_json::Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str()?.parse().ok())
            .collect();
    }
    if let Some(backend) = value_flag(&cmdline, "firewall-backend") {
        config
            .sources
            .push(format!("dockerd --firewall-backend={backend}"));
        config.firewall_backend = Some(backend);
    }
    // dockerd refuses `--dns` and the file's key at once: whichever is there is the list.
    let flagged = dns_flags(&cmdline);
    if !flagged.is_empty() {
        config.sources.push("dockerd --dns".into());
        config.dns = flagged;
    }
    for (name, slot) in [
        ("iptables", &mut config.iptables),
        ("ip6tables", &mut config.ip6tables),
        ("userland-proxy", &mut config.userland_proxy),
    ] {
        if let Some(v) = flag(name) {
            config.sources.push(format!("dockerd --{name}={v}"));
            *slot = Some(v);
        }
    }
    (!config.sources.is_empty()).then_some(config)
}

/// dockerd's command line, from /proc (empty when no dockerd runs in this pid namespace).
/// The addresses of dockerd's `--dns` flags, repeated as `--dns=ADDR` or `--dns ADDR`
/// (not `--dns-search` or `--dns-opt`).
fn dns_flags(cmdline: &[String]) -> Vec<std::net::IpAddr> {
    cmdline
        .iter()
        .enumerate()
        .filter_map(|(i, w)| match w.strip_prefix("--dns") {
            Some("") => cmdline.get(i + 1).map(String::as_str),
            Some(v) => v.strip_prefix('='),
            None => None,
        })
        .filter_map(|a| a.parse().ok())
        .collect()
}

/// The value of dockerd's `--NAME=VALUE` or `--NAME VALUE`.
fn value_flag(cmdline: &[String], name: &str) -> Option<String> {
    let long = format!("--{name}");
    cmdline
        .iter()
        .enumerate()
        .find_map(|(i, w)| match w.strip_prefix(&long)? {
            "" => cmdline.get(i + 1).cloned(),
            v => v.strip_prefix('=').map(str::to_string),
        })
}

fn dockerd_cmdline() -> Vec<String> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    dir.flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .find(|e| {
            std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim() == "dockerd")
        })
        .and_then(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| {
            String::from_utf8_lossy(&c)
                .split('\0')
                .filter(|w| !w.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Runs a read-only firewall tool, bounded. Not installed: None.
async fn run_tool(program: &str, args: &[&str]) -> Option<Result<String, String>> {
    let run = crate::owner::bind_child(&mut tokio::process::Command::new(program))
        .args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    Some(
        match tokio::time::timeout(Duration::from_secs(10), run).await {
            Err(_) => Err(format!("{program} did not finish within 10 s")),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Ok(Err(e)) => Err(format!("{program}: {e}")),
            Ok(Ok(out)) if !out.status.success() => Err(format!(
                "{program} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )),
            Ok(Ok(out)) => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
        },
    )
}

/// `iptables-save` as the `iptables` the host uses, the same for IPv6, the other
/// backend's tables, and the nftables table list: all read-only. Reading needs root.
pub async fn firewall(root: bool) -> Observed<FirewallObs> {
    if !root {
        return Observed::Skipped {
            reason: "reading firewall rules needs root".into(),
        };
    }
    let (version, v4, v6, nft) = tokio::join!(
        run_tool("iptables", &["--version"]),
        run_tool("iptables-save", &[]),
        run_tool("ip6tables-save", &[]),
        run_tool("nft", &["-j", "list", "ruleset"]),
    );
    let mut fw = match v4 {
        None => {
            return Observed::Skipped {
                reason: "iptables-save is not installed".into(),
            };
        }
        Some(Err(error)) => return Observed::Error { error },
        Some(Ok(text)) => parse_iptables_save(&text),
    };
    // `iptables --version` names its backend on every iptables 1.8 (`(nf_tables)` or
    // `(legacy)`); save headers differ between releases (xtables-save, no suffix).
    if let Some(Ok(v)) = version {
        // With no table to save (the engine programs nftables) there is no save
        // header to read the version from.
        if fw.version.is_empty() {
            fw.version = v.trim().trim_start_matches("iptables ").to_string();
        }
        if v.contains("(nf_tables)") {
            fw.backend = "iptables-nft".into();
        } else if v.contains("(legacy)") {
            fw.backend = "iptables-legacy".into();
        }
    }
    if let Some(Ok(text)) = v6 {
        fw.tables_v6 = parse_iptables_save(&text).tables;
    }
    // An unreadable ruleset leaves the rest of the firewall reading standing: the
    // checks then say that nftables was not read.
    if let Some(Ok(text)) = nft
        && let Ok(rs) = netcheck_model::nftables::parse(&text)
    {
        fw.nft_tables = rs
            .tables
            .iter()
            .map(|t| format!("table {} {}", t.family, t.name))
            .collect();
        fw.nftables = Some(rs);
    }
    // Only the other backend's tool, once the one in use is known.
    let other_name = if fw.backend == "iptables-nft" {
        "iptables-legacy"
    } else {
        "iptables-nft"
    };
    if let Some(Ok(text)) = run_tool(&format!("{other_name}-save"), &[]).await {
        let parsed = parse_iptables_save(&text);
        // The same rules twice means one backend read by both tools (a host whose
        // `iptables` could not be told apart): there is no other backend.
        // Both empty (the engine programs nftables, or writes nothing): the other
        // backend is there all the same, and holds nothing.
        let empty = netcheck_model::snapshot::holds_no_rules;
        if parsed.tables != fw.tables || (empty(&parsed.tables) && empty(&fw.tables)) {
            fw.other = Some(OtherBackend {
                backend: other_name.into(),
                tables: parsed.tables,
            });
        }
    }
    Observed::Ok { value: fw }
}

/// The engine's own nftables table, read again once the probe's published port has
/// its rules (Docker 29's nftables backend).
pub async fn docker_nft_table() -> Option<netcheck_model::nftables::NftTable> {
    let text = run_tool(
        "nft",
        &[
            "-j",
            "list",
            "table",
            "ip",
            netcheck_model::snapshot::DOCKER_NFT_TABLE,
        ],
    )
    .await?
    .ok()?;
    netcheck_model::nftables::parse(&text)
        .ok()?
        .tables
        .into_iter()
        .next()
}

/// The nat table alone, read again once the probe's published port has its rules.
pub async fn nat_table() -> Option<Vec<String>> {
    let text = run_tool("iptables-save", &["-t", "nat"]).await?.ok()?;
    parse_iptables_save(&text).tables.remove("nat")
}

/// Splits `iptables-save` output into tables; the header comment names the backend,
/// e.g. `# Generated by iptables-save v1.8.9 (nf_tables) on ...`.
pub fn parse_iptables_save(text: &str) -> FirewallObs {
    let mut fw = FirewallObs {
        backend: "iptables-legacy".into(),
        version: String::new(),
        tables: BTreeMap::new(),
        tables_v6: BTreeMap::new(),
        other: None,
        nft_tables: vec![],
        nftables: None,
        docker_nft_after_publish: false,
    };
    let mut table: Option<String> = None;
    for line in text.lines() {
        let header = [
            "# Generated by iptables-save ",
            "# Generated by xtables-save ",
        ]
        .iter()
        .find_map(|h| line.strip_prefix(h));
        if let Some(rest) = header {
            fw.version = rest.split(" on ").next().unwrap_or(rest).to_string();
            // iptables 1.8.2's nft variant signs as xtables-save.
            if rest.contains("(nf_tables)") || line.contains("xtables-save") {
                fw.backend = "iptables-nft".into();
            }
        } else if let Some(name) = line.strip_prefix('*') {
            table = Some(name.to_string());
        } else if line == "COMMIT" {
            table = None;
        } else if let Some(t) = &table
            && (line.starts_with(':') || line.starts_with("-A"))
        {
            // Packet counters ([0:0]) change every run and say nothing about config.
            let line = match line.rfind(" [") {
                Some(i) if line.starts_with(':') => &line[..i],
                _ => line,
            };
            fw.tables
                .entry(t.clone())
                .or_default()
                .push(line.to_string());
        }
    }
    fw
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_proxy_command_lines() {
        let p = parse_proxy("/usr/sbin/docker-proxy -proto tcp -host-ip 127.0.0.1 -host-port 32768 -container-ip 172.17.0.2 -container-port 8080").unwrap();
        assert_eq!(
            (p.host_ip.as_str(), p.host_port, p.container_port),
            ("127.0.0.1", 32768, 8080)
        );
        assert!(parse_proxy("/usr/sbin/docker-proxy -proto tcp").is_none());
    }

    #[test]
    fn parses_tables_backend_and_drops_counters() {
        let fw = parse_iptables_save(
            "# Generated by iptables-save v1.8.9 (nf_tables) on Fri\n*nat\n:POSTROUTING ACCEPT [3:180]\n\
             -A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE\nCOMMIT\n*filter\n:FORWARD DROP [0:0]\nCOMMIT\n",
        );
        assert_eq!(fw.backend, "iptables-nft");
        assert_eq!(fw.version, "v1.8.9 (nf_tables)");
        assert_eq!(
            fw.tables["nat"],
            [
                ":POSTROUTING ACCEPT",
                "-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE"
            ]
        );
        assert_eq!(fw.tables["filter"], [":FORWARD DROP"]);
    }

    #[test]
    fn reads_dockerds_dns_flags_in_both_spellings() {
        let cmdline: Vec<String> = [
            "/usr/sbin/dockerd",
            "--dns=198.18.0.53",
            "--dns-search=corp.example",
            "--dns",
            "198.18.0.54",
            "--dns-opt=ndots:1",
            "--dns=not-an-address",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            dns_flags(&cmdline),
            [
                "198.18.0.53".parse::<std::net::IpAddr>().unwrap(),
                "198.18.0.54".parse().unwrap()
            ]
        );
    }
}

#[cfg(test)]
mod conntrack_tests {
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
