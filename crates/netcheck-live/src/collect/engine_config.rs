//! How the engine was configured on its host: daemon.json, dockerd's command line, and
//! its docker-proxy processes.

use netcheck_model::input::read_config;
use netcheck_model::snapshot::{EngineConfig, ProxyObs};

/// The engine's processes on this host, found in one pass over /proc: dockerd's command
/// line (the first dockerd, empty when none runs in this pid namespace) and the
/// docker-proxy processes, from their command lines (`-proto tcp -host-ip 127.0.0.1
/// -host-port 32768 -container-ip 172.17.0.2 -container-port 8080`). One pass: at a
/// thousand containers the host runs thousands of processes, and a pass reads each one's
/// name.
pub struct EngineProcesses {
    pub dockerd: Vec<String>,
    pub proxies: Vec<ProxyObs>,
}

pub fn engine_processes() -> EngineProcesses {
    let mut found = EngineProcesses {
        dockerd: vec![],
        proxies: vec![],
    };
    let cmdline = |pid: u32| -> Vec<String> {
        let bytes = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        (String::from_utf8_lossy(&bytes).split('\0'))
            .filter(|w| !w.is_empty())
            .map(str::to_string)
            .collect()
    };
    // In ascending pid order: the first dockerd is the longest-running one.
    for (pid, comm) in crate::owner::processes() {
        match comm.as_str() {
            "dockerd" if found.dockerd.is_empty() => {
                found.dockerd = cmdline(pid);
            }
            "docker-proxy" => {
                let words = cmdline(pid);
                found.proxies.extend(parse_proxy(&words.join(" ")));
            }
            _ => {}
        }
    }
    found
        .proxies
        .sort_by_key(|p| (p.host_port, p.host_ip.clone()));
    found
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
pub fn engine_config(cmdline: &[String]) -> Option<EngineConfig> {
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
        value_flag(cmdline, "config-file").unwrap_or_else(|| "/etc/docker/daemon.json".into());
    let mut config = EngineConfig::default();
    if let Some(text) = read_config(&file) {
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
    if let Some(backend) = value_flag(cmdline, "firewall-backend") {
        config
            .sources
            .push(format!("dockerd --firewall-backend={backend}"));
        config.firewall_backend = Some(backend);
    }
    // dockerd refuses `--dns` and the file's key at once: whichever is there is the list.
    let flagged = dns_flags(cmdline);
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
