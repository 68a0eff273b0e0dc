//! `netcheck probe`: runs inside the probe container, observes the container's side of
//! the network, prints one JSON line ([`ProbeReport`]), then lingers until removed.
//!
//! Lingering keeps the container (and so its veth) alive while the host side reads its
//! own netlink view: both halves of a veth pair are then seen at one moment.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::net::listener::Seen;
use crate::net::netlink;
use netcheck_model::protocol::{ErrorKind, ProbeArgs, Purpose};
use netcheck_model::snapshot::{Lookup, ProbeReport, Request};

pub async fn run(args: ProbeArgs) -> Result<(), String> {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt};
    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin());
    let args = if args.args_on_stdin {
        let mut line = String::new();
        (&mut stdin)
            .take(ARGS_LINE_MAX)
            .read_line(&mut line)
            .await
            .map_err(|e| format!("reading the arguments on stdin: {e}"))?;
        if line.is_empty() {
            // netcheck went before it gave them.
            return Err("stdin ended before the arguments came".into());
        }
        let args: ProbeArgs = serde_json::from_str(&line)
            .map_err(|e| format!("unreadable arguments on stdin: {e}"))?;
        ProbeArgs {
            exit_with_stdin: true,
            ..args
        }
    } else {
        args
    };
    if args.exit_with_stdin {
        tokio::spawn(async move {
            let mut buf = [0u8; 64];
            while matches!(stdin.read(&mut buf).await, Ok(n) if n > 0) {}
            std::process::exit(0);
        });
    }
    tokio::time::sleep(Duration::from_millis(args.stall_ms)).await;
    let handle = netlink::connect().map_err(|e| e.to_string())?;
    let netns = netlink::dump(&handle).await.map_err(|e| e.to_string())?;
    let hosts_file = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    let resolv_conf = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let timeout = Duration::from_millis(args.timeout_ms);

    // Kept alive while the probe lingers.
    let mut _listeners = vec![];
    if let Some(port) = args.listen_port {
        for a in netns.addrs.iter().filter(|a| !a.addr.addr().is_loopback()) {
            if a.addr.addr().is_ipv4() {
                let l = crate::net::listener::bind_port(a.addr.addr(), port);
                _listeners.push(l.map_err(|e| e.to_string())?);
            }
        }
    }

    let own = Resolver {
        hosts_file: &hosts_file,
        dns: args.dns,
        timeout,
    };
    let suites = Resolver { dns: true, ..own };
    let (mut lookups, for_suites) = tokio::join!(
        futures_util::future::join_all(args.lookups.iter().map(|n| own.lookup(n))),
        futures_util::future::join_all(args.resolves.iter().map(|n| suites.lookup(n))),
    );
    lookups.extend(for_suites.into_iter().map(|l| Lookup { suite: true, ..l }));
    // Docker's embedded DNS (127.0.0.11); where none is named and the engine has DNS
    // servers of its own (Podman's aardvark-dns, at each of its networks' gateways),
    // each of those resolv.conf names, at once, each lookup named after its server.
    let engines = podman_dns_servers(&resolv_conf, &args.engine_dns);
    let embedded = embedded_dns_server(&resolv_conf);
    let engines = &engines;
    let asked = futures_util::future::join_all(args.embedded_dns.iter().flat_map(|name| {
        let servers: Vec<Option<IpAddr>> = match engines.is_empty() {
            true => vec![embedded],
            false => engines.iter().copied().map(Some).collect(),
        };
        servers.into_iter().map(move |server| async move {
            let mut l = embedded_lookup(name, server, timeout).await;
            if let Some(s) = server.filter(|_| !engines.is_empty()) {
                l.source = Some(format!("{EMBEDDED_DNS_SOURCE}@{s}"));
            }
            l
        })
    }))
    .await;
    lookups.extend(asked);
    let requests = args
        .gets
        .iter()
        .map(|ask| (own, Kind::Own, ask))
        .chain(args.tcps.iter().map(|ask| (suites, Kind::Tcp, ask)))
        .chain(args.https.iter().map(|ask| (suites, Kind::Http, ask)))
        .map(|(resolver, kind, ask)| async move {
            request(&resolver, kind, ask.purpose.clone(), &ask.target).await
        });
    let requests = futures_util::future::join_all(requests).await;
    // The neighbour entries again: a gateway that did not answer ARP shows only now.
    let mut netns = netns;
    if let Ok(after) = netlink::neighbours(&handle).await {
        netns.neighbours = after;
    }

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

/// The longest line of arguments read on stdin: far above any real run's.
const ARGS_LINE_MAX: u64 = 4 << 20;

#[derive(Clone, Copy)]
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
                suite: false,
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
                suite: false,
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
                suite: false,
            },
            Err(e) => Lookup {
                name: name.to_string(),
                source: None,
                addrs: vec![],
                error: Some(e),
                suite: false,
            },
        }
    }
}

pub use netcheck_model::protocol::{EMBEDDED_DNS, EMBEDDED_DNS_SOURCE};

/// Docker's embedded DNS server, where /etc/resolv.conf names it.
pub(crate) fn embedded_dns_server(resolv_conf: &str) -> Option<IpAddr> {
    let embedded = IpAddr::V4(EMBEDDED_DNS);
    resolv_conf
        .lines()
        .any(|l| {
            let mut w = l.split_whitespace();
            w.next() == Some("nameserver")
                && w.next().and_then(|a| a.parse().ok()) == Some(embedded)
        })
        .then_some(embedded)
}

/// The servers of `engine_dns` (Podman's, at its networks' gateways) that resolv.conf
/// names, in its order.
fn podman_dns_servers(resolv_conf: &str, engine_dns: &[IpAddr]) -> Vec<IpAddr> {
    (resolv_conf.lines())
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some("nameserver")).then(|| w.next()?.parse().ok())?
        })
        .filter(|a| engine_dns.contains(a))
        .collect()
}

/// Asks the engine's DNS server `server` alone, the name as given (no search domains,
/// one attempt): nothing else is asked, so no query reaches another server through
/// this resolver.
pub(crate) async fn embedded_lookup(
    name: &str,
    server: Option<IpAddr>,
    timeout: Duration,
) -> Lookup {
    use hickory_resolver::config::{NameServerConfigGroup, ResolverConfig, ResolverOpts};
    let mut lookup = Lookup {
        name: name.to_string(),
        source: Some(EMBEDDED_DNS_SOURCE.into()),
        addrs: vec![],
        error: None,
        suite: false,
    };
    let Some(server) = server else {
        lookup.error = Some("/etc/resolv.conf does not name 127.0.0.11: no embedded DNS".into());
        return lookup;
    };
    let servers = NameServerConfigGroup::from_ips_clear(&[server], 53, true);
    let config = ResolverConfig::from_parts(None, vec![], servers);
    let mut opts = ResolverOpts::default();
    opts.ndots = 0;
    opts.attempts = 1;
    opts.timeout = timeout;
    opts.cache_size = 0;
    // A, and nothing else: a second (AAAA) query for a name the server lacks would be
    // forwarded to the host's upstream.
    opts.ip_strategy = hickory_resolver::config::LookupIpStrategy::Ipv4Only;
    let mut builder = hickory_resolver::TokioResolver::builder_with_config(
        config,
        hickory_resolver::name_server::TokioConnectionProvider::default(),
    );
    *builder.options_mut() = opts;
    let fqdn = format!("{}.", name.trim_end_matches('.'));
    match tokio::time::timeout(timeout, builder.build().lookup_ip(fqdn)).await {
        Err(_) => lookup.error = Some(format!("no answer within {} ms", timeout.as_millis())),
        Ok(Err(e)) => lookup.error = Some(e.to_string()),
        Ok(Ok(found)) => lookup.addrs = found.iter().collect(),
    }
    lookup
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
fn describe(e: &reqwest::Error, timeout: Duration) -> (ErrorKind, String) {
    if e.is_timeout() {
        return (ErrorKind::NoAnswer, no_answer(timeout));
    }
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    (ErrorKind::Connection, cause.to_string())
}

fn no_answer(timeout: Duration) -> String {
    format!("no answer within {} ms", timeout.as_millis())
}

/// A GET to one of netcheck's listeners at `addr`, from wherever this runs (the host,
/// for port.publish): the answer says whom the listener saw.
pub async fn own_request(
    purpose: Purpose,
    addr: std::net::SocketAddr,
    timeout: Duration,
) -> Request {
    let resolver = Resolver {
        hosts_file: "",
        dns: false,
        timeout,
    };
    request(&resolver, Kind::Own, purpose, &addr.to_string()).await
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// HTTP to one of netcheck's listeners, which answer with the source they saw.
    Own,
    Tcp,
    Http,
}

/// How much of an HTTP answer's body is kept.
const BODY_LIMIT: usize = 64 * 1024;

/// One request: `target` is HOST:PORT, or a URL for an HTTP request to a URL.
async fn request(resolver: &Resolver<'_>, kind: Kind, purpose: Purpose, target: &str) -> Request {
    let started = Instant::now();
    let mut req = Request::to(purpose, target.to_string(), None);
    let url = if target.starts_with("http://") {
        target.parse::<reqwest::Url>().ok()
    } else {
        format!("http://{target}/").parse::<reqwest::Url>().ok()
    };
    let Some((url, host, port)) = url.and_then(|u| {
        let host = u
            .host_str()?
            .trim_matches(|c| c == '[' || c == ']')
            .to_string();
        let port = u.port_or_known_default()?;
        Some((u, host, port))
    }) else {
        req.fail(
            ErrorKind::BadTarget,
            "target is not HOST:PORT or an http:// URL",
        );
        return req;
    };
    let ip = match host.parse::<IpAddr>() {
        Ok(ip) => ip,
        Err(_) => match resolver.lookup(&host).await.addrs.first() {
            Some(ip) => *ip,
            None => {
                req.fail(ErrorKind::Unresolved, format!("{host} does not resolve"));
                return req;
            }
        },
    };
    let addr = std::net::SocketAddr::new(ip, port);
    req.addr = Some(addr.to_string());
    match kind {
        Kind::Tcp => {
            match tokio::time::timeout(resolver.timeout, tokio::net::TcpStream::connect(addr)).await
            {
                Ok(Ok(_)) => req.ok = true,
                Ok(Err(e)) => req.fail(ErrorKind::Connection, e.to_string()),
                Err(_) => req.fail(ErrorKind::NoAnswer, no_answer(resolver.timeout)),
            }
        }
        Kind::Http | Kind::Own => {
            // The name was resolved here, without libc: tell reqwest the address.
            let client = reqwest::Client::builder()
                .no_proxy()
                .timeout(resolver.timeout)
                // The answer of this target is what is checked: a redirect could lead off
                // the machine, and a 3xx is an answer like any other.
                .redirect(reqwest::redirect::Policy::none())
                .resolve(&host, addr)
                .build();
            let result = async {
                let resp = client?.get(url).send().await?;
                let status = resp.status().as_u16();
                let mut body = Vec::new();
                let mut resp = resp;
                while let Some(chunk) = resp.chunk().await? {
                    body.extend_from_slice(&chunk);
                    if body.len() >= BODY_LIMIT {
                        body.truncate(BODY_LIMIT);
                        break;
                    }
                }
                Ok::<_, reqwest::Error>((status, body))
            }
            .await;
            match result {
                Ok((status, body)) => {
                    req.status = Some(status);
                    req.ok = (200..300).contains(&status);
                    if kind == Kind::Own {
                        match serde_json::from_slice::<Seen>(&body) {
                            Ok(seen) => req.seen_source = Some(seen.seen),
                            Err(e) => req.fail(
                                ErrorKind::NotListener,
                                format!("not netcheck's listener: {e}"),
                            ),
                        }
                    } else {
                        req.body = Some(String::from_utf8_lossy(&body).into_owned());
                    }
                }
                Err(e) => {
                    let (kind, error) = describe(&e, resolver.timeout);
                    req.fail(kind, error);
                }
            }
        }
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
