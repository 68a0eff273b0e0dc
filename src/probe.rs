//! `netcheck probe`: runs inside the probe container, observes the container's side of
//! the network, prints one JSON line ([`ProbeReport`]), then lingers until removed.
//!
//! Lingering keeps the container (and so its veth) alive while the host side reads its
//! own netlink view: both halves of a veth pair are then seen at one moment.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::collect::listener::Seen;
use crate::collect::netlink;
use crate::snapshot::{Lookup, ProbeReport, Request};

#[derive(Debug, Clone, clap::Args)]
pub struct ProbeArgs {
    /// A name to resolve: through /etc/hosts, and through DNS only with --dns.
    #[arg(long = "lookup", value_name = "NAME")]
    pub lookups: Vec<String>,
    /// An HTTP request to make, as PURPOSE=HOST:PORT.
    #[arg(long = "get", value_name = "PURPOSE=HOST:PORT")]
    pub gets: Vec<String>,
    /// Also ask the DNS servers of /etc/resolv.conf. Off by default: on Linux engines
    /// they are the host's upstream servers, and netcheck's traffic stays on the machine.
    #[arg(long)]
    pub dns: bool,
    /// Deadline of each lookup and request.
    #[arg(long, default_value_t = 2000, value_name = "MS")]
    pub timeout_ms: u64,
    /// How long to stay alive after printing the report.
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    pub linger_secs: u64,
}

pub async fn run(args: ProbeArgs) -> Result<(), String> {
    let handle = netlink::connect().map_err(|e| e.to_string())?;
    let netns = netlink::dump(&handle).await.map_err(|e| e.to_string())?;
    let hosts_file = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    let resolv_conf = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let timeout = Duration::from_millis(args.timeout_ms);

    let resolver = Resolver {
        hosts_file: &hosts_file,
        dns: args.dns,
        timeout,
    };
    let lookups =
        futures_util::future::join_all(args.lookups.iter().map(|n| resolver.lookup(n))).await;
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(timeout)
        .build()
        .map_err(|e| e.to_string())?;
    let requests = futures_util::future::join_all(
        args.gets
            .iter()
            .map(|spec| request(&client, &resolver, spec)),
    )
    .await;

    let report = ProbeReport {
        netns,
        hosts_file: hosts_file.clone(),
        resolv_conf,
        lookups,
        requests,
    };
    let line = serde_json::to_string(&report).map_err(|e| e.to_string())?;
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}")
            .and_then(|_| out.flush())
            .map_err(|e| e.to_string())?;
    }
    tokio::time::sleep(Duration::from_secs(args.linger_secs)).await;
    Ok(())
}

struct Resolver<'a> {
    hosts_file: &'a str,
    dns: bool,
    timeout: Duration,
}

impl Resolver<'_> {
    /// /etc/hosts first, as libc would; then DNS if allowed. No libc NSS: the probe
    /// image has no NSS modules, and a static binary cannot load them.
    async fn lookup(&self, name: &str) -> Lookup {
        let from_hosts = hosts_lookup(self.hosts_file, name);
        if !from_hosts.is_empty() {
            return Lookup {
                name: name.to_string(),
                source: Some("hosts".into()),
                addrs: from_hosts,
                error: None,
            };
        }
        if !self.dns {
            return Lookup {
                name: name.to_string(),
                source: None,
                addrs: vec![],
                error: Some(
                    "not in /etc/hosts (DNS not asked: it would leave this machine)".into(),
                ),
            };
        }
        let result = async {
            let resolver = hickory_resolver::TokioResolver::builder_tokio()
                .map_err(|e| e.to_string())?
                .build();
            let found = tokio::time::timeout(self.timeout, resolver.lookup_ip(name))
                .await
                .map_err(|_| format!("DNS timed out after {} ms", self.timeout.as_millis()))?
                .map_err(|e| e.to_string())?;
            Ok::<_, String>(found.iter().collect::<Vec<IpAddr>>())
        }
        .await;
        match result {
            Ok(addrs) => Lookup {
                name: name.to_string(),
                source: Some("dns".into()),
                addrs,
                error: None,
            },
            Err(e) => Lookup {
                name: name.to_string(),
                source: None,
                addrs: vec![],
                error: Some(e),
            },
        }
    }
}

/// The addresses /etc/hosts gives a name (case-insensitive, comments ignored).
pub fn hosts_lookup(hosts: &str, name: &str) -> Vec<IpAddr> {
    hosts
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let addr: IpAddr = words.next()?.parse().ok()?;
            words.any(|w| w.eq_ignore_ascii_case(name)).then_some(addr)
        })
        .collect()
}

/// Why a request failed, in the words that help: the deadline, or the innermost cause
/// ("Connection refused (os error 111)"). reqwest's own top line only repeats the URL.
fn describe(e: &reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        return format!("no answer within {} ms", timeout.as_millis());
    }
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

async fn request(client: &reqwest::Client, resolver: &Resolver<'_>, spec: &str) -> Request {
    let started = Instant::now();
    let (purpose, target) = spec.split_once('=').unwrap_or(("", spec));
    let mut req = Request {
        purpose: purpose.to_string(),
        target: target.to_string(),
        addr: None,
        ok: false,
        seen_source: None,
        error: None,
        elapsed_ms: 0,
    };
    let Some((host, port)) = target.rsplit_once(':') else {
        req.error = Some("target is not HOST:PORT".into());
        return req;
    };
    let ip = match host.parse::<IpAddr>() {
        Ok(ip) => ip,
        Err(_) => match resolver.lookup(host).await.addrs.first() {
            Some(ip) => *ip,
            None => {
                req.error = Some(format!("{host} does not resolve"));
                return req;
            }
        },
    };
    let addr = std::net::SocketAddr::new(ip, port.parse().unwrap_or(0));
    req.addr = Some(addr.to_string());
    let result = async {
        let resp = client
            .get(format!("http://{addr}/"))
            .send()
            .await?
            .error_for_status()?;
        resp.bytes().await
    }
    .await;
    match result {
        Ok(body) => match serde_json::from_slice::<Seen>(&body) {
            Ok(seen) => {
                req.ok = true;
                req.seen_source = Some(seen.seen);
            }
            Err(e) => req.error = Some(format!("unexpected answer: {e}")),
        },
        Err(e) => req.error = Some(describe(&e, resolver.timeout)),
    }
    req.elapsed_ms = started.elapsed().as_millis() as u64;
    req
}

#[cfg(test)]
mod tests {
    use super::hosts_lookup;

    #[test]
    fn hosts_file_lookup() {
        let hosts = "127.0.0.1\tlocalhost\n# 10.0.0.1 host.docker.internal\n172.17.0.1\thost.docker.internal # added\n";
        assert_eq!(
            hosts_lookup(hosts, "HOST.docker.internal"),
            vec!["172.17.0.1".parse::<std::net::IpAddr>().unwrap()]
        );
        assert!(hosts_lookup(hosts, "gateway.docker.internal").is_empty());
    }
}
