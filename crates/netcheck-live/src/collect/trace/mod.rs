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

mod flows;
mod verdicts;

pub use flows::failed_flows;
use verdicts::verdict;

use netcheck_model::protocol::Purpose;
use netcheck_model::snapshot::{Request, Trace};

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
            crate::net::in_netns::get_from(*pid, device, f.purpose.clone(), f.target, f.timeout)
                .await
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(in super::super) fn flow() -> Replay {
        Replay {
            purpose: Purpose::Outside,
            source: Origin::Host,
            target: "198.18.0.2:4000".parse().unwrap(),
            also: vec![],
            timeout: Duration::from_secs(1),
        }
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
