//! Packet traces of failed flows: each request that failed is made again with nftables
//! tracing on its own packets, and the kernel says which table, chain and rule (or
//! policy) dropped it.
//!
//! Only on failure: a healthy run never gets here. The marking lives in tables of
//! netcheck's own, `netcheck_trace_<run id>` (ip and bridge families), created by an
//! `nft -i` child with `flags owner`: the kernel deletes an owned table when the socket
//! that made it closes, so the tables go when that child exits, however netcheck ends
//! (the child reads its commands from netcheck's pipe and exits on its end). The rules
//! match only the flows' own addresses and ports, so other traffic is never traced.
//! The trace is read by an `nft monitor trace` child.

use std::net::{IpAddr, SocketAddr};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

use netcheck_model::protocol::Purpose;
use netcheck_model::snapshot::{ContainerObs, NetworkObs, ProbeObs, Request, Trace, TraceVerdict};

/// Where a flow starts.
#[derive(Debug, Clone)]
pub enum Origin {
    /// The host itself (port.publish's request to 127.0.0.1).
    Host,
    /// Inside the network namespace of a process (a container), bound to `device`.
    Netns { pid: u32, device: String },
}

/// One failed request to make again, traced.
#[derive(Debug, Clone)]
pub struct Replay {
    pub purpose: Purpose,
    pub source: Origin,
    pub target: SocketAddr,
    /// Further address:port pairs its packets carry after NAT or a proxy (the probe's
    /// own address behind a published port): marked too.
    pub also: Vec<SocketAddr>,
    pub timeout: Duration,
}

/// The `nft -i` children holding trace tables; killed by the run's teardown.
#[derive(Default)]
pub struct Sessions(std::sync::Mutex<Vec<Child>>);

impl Sessions {
    /// Ends every session: its tables go with it. Waits until they are gone.
    pub async fn end(&self) {
        let children = std::mem::take(&mut *self.0.lock().unwrap());
        for mut c in children {
            let _ = c.start_kill();
            let _ = tokio::time::timeout(Duration::from_secs(5), c.wait()).await;
        }
    }
}

/// The name of a run's trace tables: `netcheck_trace_<run id>_<pid>_<start>`, the
/// owner last, so that `netcheck cleanup` can tell a dead run's table from a live one's.
pub fn table_name(run_id: &str) -> String {
    let me = crate::owner::Owner::me();
    format!(
        "{}_{run_id}_{}_{}",
        netcheck_model::protocol::TRACE_TABLE_PREFIX,
        me.pid,
        me.start
    )
}

/// Makes each flow again under tracing and returns what the kernel reported.
pub async fn trace(run_id: &str, flows: &[Replay], sessions: &Sessions) -> Vec<Trace> {
    if flows.is_empty() {
        return vec![];
    }
    match run(run_id, flows, sessions).await {
        Ok(traces) => traces,
        Err(error) => flows
            .iter()
            .map(|f| Trace {
                purpose: f.purpose.clone(),
                verdict: None,
                packets: 0,
                path: vec![],
                error: Some(error.clone()),
            })
            .collect(),
    }
}

async fn run(run_id: &str, flows: &[Replay], sessions: &Sessions) -> Result<Vec<Trace>, String> {
    let table = table_name(run_id);
    let mut monitor = crate::owner::bind_child(&mut Command::new("nft"))
        .args(["monitor", "trace"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("nft monitor trace: {e}"))?;
    let out = monitor.stdout.take().expect("piped");
    let reader = tokio::spawn(async move {
        let mut lines = BufReader::new(out).lines();
        let mut got = vec![];
        while let Ok(Some(l)) = lines.next_line().await {
            got.push(l);
        }
        got
    });
    let mut session = crate::owner::bind_child(&mut Command::new("nft"))
        .arg("-i")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("nft -i: {e}"))?;
    let mut stdin = session.stdin.take().expect("piped");
    let stdout = session.stdout.take().expect("piped");
    let stderr = session.stderr.take().expect("piped");
    sessions.0.lock().unwrap().push(session);
    let result = async {
        stdin
            .write_all(script(&table, flows).as_bytes())
            .await
            .map_err(|e| format!("nft -i: {e}"))?;
        stdin.flush().await.map_err(|e| format!("nft -i: {e}"))?;
        // The listing asked for last says that every command before it was applied.
        let mut lines = BufReader::new(stdout).lines();
        let applied = async {
            while let Ok(Some(l)) = lines.next_line().await {
                if l.trim() == "}" {
                    return true;
                }
            }
            false
        };
        let applied = tokio::time::timeout(Duration::from_secs(3), applied)
            .await
            .unwrap_or(false);
        if !applied {
            let mut err = String::new();
            let mut e = BufReader::new(stderr).lines();
            while let Ok(Ok(Some(l))) =
                tokio::time::timeout(Duration::from_millis(100), e.next_line()).await
            {
                err.push_str(l.trim());
                err.push(' ');
            }
            return Err(format!("the trace table could not be made: {}", err.trim()));
        }
        futures_util::future::join_all(flows.iter().map(again)).await;
        // Trace events come asynchronously: give the last ones a moment.
        tokio::time::sleep(Duration::from_millis(200)).await;
        Ok(())
    }
    .await;
    drop(stdin);
    sessions.end().await;
    let _ = monitor.start_kill();
    let _ = monitor.wait().await;
    let lines = reader.await.unwrap_or_default();
    result?;
    Ok(flows.iter().map(|f| verdict(f, &table, &lines)).collect())
}

/// The nft commands: per family a table with a marking chain at the earliest hooks, a
/// rule per address:port the flows use (both directions), then a listing to sync on.
fn script(table: &str, flows: &[Replay]) -> String {
    let mut s = String::new();
    let pairs: Vec<SocketAddr> = flows
        .iter()
        .flat_map(|f| std::iter::once(f.target).chain(f.also.iter().copied()))
        .collect();
    // IPv6 flows get an ip6 table of their own, only where there are any: a host
    // without IPv6 is not asked to make one.
    let v6 = pairs.iter().any(SocketAddr::is_ipv6);
    for (family, hooks) in [
        ("ip", &["prerouting", "output"][..]),
        ("ip6", &["prerouting", "output"][..]),
        ("bridge", &["prerouting"][..]),
    ] {
        if family == "ip6" && !v6 {
            continue;
        }
        s.push_str(&format!("add table {family} {table} {{ flags owner; }}\n"));
        for hook in hooks {
            s.push_str(&format!(
                "add chain {family} {table} {hook} {{ type filter hook {hook} priority -350; }}\n"
            ));
            for p in &pairs {
                let (ip, port) = (p.ip(), p.port());
                let proto = match (family, ip) {
                    ("ip", IpAddr::V4(_)) | ("bridge", IpAddr::V4(_)) => "ip",
                    ("ip6", IpAddr::V6(_)) | ("bridge", IpAddr::V6(_)) => "ip6",
                    _ => continue,
                };
                s.push_str(&format!(
                    "add rule {family} {table} {hook} {proto} daddr {ip} tcp dport {port} meta nftrace set 1\n\
                     add rule {family} {table} {hook} {proto} saddr {ip} tcp sport {port} meta nftrace set 1\n"
                ));
            }
        }
    }
    s.push_str(&format!("list table ip {table}\n"));
    s
}

/// Makes the flow's request again; its outcome is not needed, only its packets.
async fn again(f: &Replay) -> Request {
    match &f.source {
        Origin::Host => crate::probe::own_request(f.purpose.clone(), f.target, f.timeout).await,
        Origin::Netns { pid, device } => {
            super::peers::get_from(*pid, device, f.purpose.clone(), f.target, f.timeout).await
        }
    }
}

/// The flows that failed and that nothing but a firewall should stop: the probe's own
/// requests (outside peer, gateways, host.docker.internal, hairpin), the host's to the
/// published port, the egress from each network, and icc where it is on. Isolation
/// requests are meant to fail, and are not traced.
pub fn failed_flows(
    probe: &ProbeObs,
    networks: &[NetworkObs],
    containers: &[ContainerObs],
    timeout: Duration,
) -> Vec<Replay> {
    let ns = &probe.report.netns;
    let Some(probe_pid) = containers.iter().find(|c| c.probe).and_then(|c| c.pid) else {
        return vec![];
    };
    // The probe's interface toward an address: the one whose subnet holds it, else the
    // default route's, as the kernel would pick.
    let device_for = |ip: IpAddr| {
        ns.addrs
            .iter()
            .find(|a| a.addr.contains(&ip) && !a.addr.addr().is_loopback())
            .map(|a| a.index)
            .or_else(|| ns.default_routes_v4().find_map(|r| r.oif))
            .and_then(|i| ns.link(i))
            .map(|l| l.name.clone())
    };
    let on_network = |n: &NetworkObs, name: &str, c: &ContainerObs| {
        let ep = n.endpoints.iter().find(|e| e.container_name == name)?;
        let interior = if c.probe { Some(ns) } else { c.interior.ok() };
        Some(interior?.link_by_mac(ep.mac.as_deref()?)?.name.clone())
    };
    let probe_behind = |n: &NetworkObs| {
        n.endpoints
            .iter()
            .find(|e| e.container_name == probe.container_name)
            .and_then(|e| e.ipv4)
            .map(|a| SocketAddr::new(a.addr(), super::PROBE_PORT))
    };
    let first_net = probe.published.first().and(networks.iter().find(|n| {
        n.endpoints
            .iter()
            .any(|e| e.container_name == probe.container_name)
    }));
    let mut flows = vec![];
    let failed = probe
        .report
        .requests
        .iter()
        .map(|r| (r, true))
        .chain(probe.host_requests.iter().map(|r| (r, false)))
        .filter(|(r, _)| !r.ok);
    for (r, from_probe) in failed {
        let Some(target) = r.addr.as_deref().and_then(|a| a.parse::<SocketAddr>().ok()) else {
            continue;
        };
        let mut also = vec![];
        let source = if from_probe {
            if r.purpose == Purpose::Hairpin {
                also.extend(first_net.and_then(probe_behind));
            }
            let Some(device) = device_for(target.ip()) else {
                continue;
            };
            Origin::Netns {
                pid: probe_pid,
                device,
            }
        } else if let Purpose::Publish { .. } = r.purpose {
            also.extend(first_net.and_then(probe_behind));
            Origin::Host
        } else if let Purpose::OutsideFrom { network } | Purpose::OutsideV6From { network } =
            &r.purpose
        {
            let Some(n) = networks.iter().find(|n| n.name == *network) else {
                continue;
            };
            let Some(c) = containers.iter().find(|c| c.probe) else {
                continue;
            };
            let Some(device) = on_network(n, &probe.container_name, c) else {
                continue;
            };
            Origin::Netns {
                pid: probe_pid,
                device,
            }
        } else if let Purpose::Icc { network, from: who } = &r.purpose {
            let Some(n) = networks.iter().find(|n| n.name == *network) else {
                continue;
            };
            if n.icc_disabled() {
                continue;
            }
            let Some(c) = containers.iter().find(|c| c.name == *who) else {
                continue;
            };
            let (Some(pid), Some(device)) = (c.pid, on_network(n, who, c)) else {
                continue;
            };
            Origin::Netns { pid, device }
        } else {
            continue;
        };
        flows.push(Replay {
            purpose: r.purpose.clone(),
            source,
            target,
            also,
            timeout,
        });
    }
    flows
}

/// One line of `nft monitor trace`: `trace id ID FAMILY TABLE CHAIN REST`.
struct Event<'a> {
    id: &'a str,
    family: &'a str,
    table: &'a str,
    chain: &'a str,
    rest: &'a str,
}

fn event(line: &str) -> Option<Event<'_>> {
    let rest = line.trim().strip_prefix("trace id ")?;
    let mut it = rest.splitn(5, ' ');
    Some(Event {
        id: it.next()?,
        family: it.next()?,
        table: it.next()?,
        chain: it.next()?,
        rest: it.next().unwrap_or("").trim(),
    })
}

/// The addresses and ports of a `packet:` line.
fn endpoints(rest: &str) -> Option<(SocketAddr, SocketAddr)> {
    let words: Vec<&str> = rest.split_whitespace().collect();
    let after = |key: &[&str]| {
        words
            .windows(key.len() + 1)
            .find(|w| w[..key.len()] == *key)
            .map(|w| w[key.len()])
    };
    let ip = |k: &str| {
        after(&["ip", k])
            .or_else(|| after(&["ip6", k]))?
            .parse::<IpAddr>()
            .ok()
    };
    let port = |k: &str| after(&["tcp", k])?.parse::<u16>().ok();
    Some((
        SocketAddr::new(ip("saddr")?, port("sport")?),
        SocketAddr::new(ip("daddr")?, port("dport")?),
    ))
}

/// What the trace says about one flow: the packets that carried its addresses, and the
/// first drop or reject among them.
fn verdict(flow: &Replay, table: &str, lines: &[String]) -> Trace {
    let events: Vec<Event> = lines.iter().filter_map(|l| event(l)).collect();
    let ours = |a: SocketAddr| a == flow.target || flow.also.contains(&a);
    // A packet (trace id) is the flow's when its first packet line carries its addresses.
    let mut ids: Vec<&str> = vec![];
    let mut decided: Vec<&str> = vec![];
    for e in &events {
        if decided.contains(&e.id) {
            continue;
        }
        if let Some(p) = e.rest.strip_prefix("packet:") {
            decided.push(e.id);
            if endpoints(p).is_some_and(|(s, d)| ours(s) || ours(d)) {
                ids.push(e.id);
            }
        }
    }
    let mut trace = Trace {
        purpose: flow.purpose.clone(),
        verdict: None,
        packets: ids.len(),
        path: vec![],
        error: None,
    };
    let path_of = |id: &str| {
        let mut path: Vec<String> = vec![];
        for e in events.iter().filter(|e| e.id == id && e.table != table) {
            let place = format!("{} {} {}", e.family, e.table, e.chain);
            if path.last() != Some(&place) {
                path.push(place);
            }
        }
        path
    };
    for id in &ids {
        let drop = events.iter().filter(|e| e.id == *id).find_map(|e| {
            let (verdict, rule) = if let Some(p) = e.rest.strip_prefix("policy ") {
                (p.trim(), None)
            } else if e.rest.starts_with("rule ") || e.rest.starts_with("unknown rule") {
                let (text, v) = e.rest.rsplit_once("(verdict ")?;
                let text = text.trim().trim_start_matches("rule ").trim();
                (v.trim_end_matches(')').trim(), Some(clean_rule(text)))
            } else if let Some(v) = e.rest.strip_prefix("verdict ") {
                (v.trim(), None)
            } else {
                return None;
            };
            let verdict = verdict.split_whitespace().next()?;
            matches!(verdict, "drop" | "reject").then(|| TraceVerdict {
                family: e.family.to_string(),
                table: e.table.to_string(),
                chain: e.chain.to_string(),
                verdict: verdict.to_string(),
                rule,
            })
        });
        if let Some(v) = drop {
            trace.verdict = Some(v);
            trace.path = path_of(id);
            return trace;
        }
    }
    if let Some(id) = ids.first() {
        trace.path = path_of(id);
    }
    trace
}

/// A rule as the monitor prints it, without its counters (they change every run).
fn clean_rule(text: &str) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut out = vec![];
    let mut i = 0;
    while i < words.len() {
        if words[i] == "counter" && words.get(i + 1) == Some(&"packets") {
            i += 5;
            continue;
        }
        out.push(words[i]);
        i += 1;
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow() -> Replay {
        Replay {
            purpose: Purpose::Outside,
            source: Origin::Host,
            target: "198.18.0.2:4000".parse().unwrap(),
            also: vec![],
            timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn names_the_policy_that_dropped_the_flow() {
        let lines: Vec<String> = [
            "trace id aa ip netcheck_trace_1 prerouting packet: iif \"docker0\" ip saddr 172.17.0.2 ip daddr 198.18.0.2 ip ttl 64 tcp sport 5555 tcp dport 4000 tcp flags == syn",
            "trace id aa ip netcheck_trace_1 prerouting unknown rule handle 4 (verdict continue)",
            "trace id aa ip filter FORWARD packet: iif \"docker0\" oif \"netcheck1h\" ip saddr 172.17.0.2 ip daddr 198.18.0.2 tcp sport 5555 tcp dport 4000",
            "trace id aa ip filter FORWARD rule iifname \"docker0\" oifname != \"docker0\" counter packets 3 bytes 180 accept (verdict accept)",
            "trace id aa inet hardened forward packet: iif \"docker0\" ip saddr 172.17.0.2",
            "trace id aa inet hardened forward policy drop ",
            "trace id bb ip netcheck_trace_1 prerouting packet: iif \"eth0\" ip saddr 10.0.0.9 ip daddr 10.0.0.1 tcp sport 1 tcp dport 2",
            "trace id bb ip other t c policy drop",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let t = verdict(&flow(), "netcheck_trace_1", &lines);
        assert_eq!(t.packets, 1);
        let v = t.verdict.unwrap();
        assert_eq!(
            v.to_string(),
            "dropped by table inet hardened, chain forward, policy drop"
        );
        assert_eq!(t.path, ["ip filter FORWARD", "inet hardened forward"]);
    }

    #[test]
    fn names_the_rule_without_its_counters() {
        let lines: Vec<String> = [
            "trace id cc ip netcheck_trace_1 output packet: oif \"br-1\" ip saddr 172.20.0.1 ip daddr 198.18.0.2 tcp sport 9 tcp dport 4000",
            "trace id cc ip filter OUTPUT rule ip daddr 198.18.0.0/16 ct state new counter packets 0 bytes 0 drop (verdict drop)",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let v = verdict(&flow(), "netcheck_trace_1", &lines)
            .verdict
            .unwrap();
        assert_eq!(
            v.to_string(),
            "dropped by table ip filter, chain OUTPUT, rule `ip daddr 198.18.0.0/16 ct state new drop`"
        );
    }

    #[test]
    fn the_script_marks_only_the_flows_addresses() {
        let s = script("netcheck_trace_1", &[flow()]);
        assert!(s.contains("add table ip netcheck_trace_1 { flags owner; }"));
        assert!(s.contains(
            "add rule ip netcheck_trace_1 prerouting ip daddr 198.18.0.2 tcp dport 4000 meta nftrace set 1"
        ));
        assert!(s.contains("ip saddr 198.18.0.2 tcp sport 4000"));
        assert!(s.ends_with("list table ip netcheck_trace_1\n"));
    }
}
