//! Reading a trace: which table, chain and rule (or policy) the kernel says dropped a
//! replayed flow, from `nft monitor trace`'s lines.

use std::net::{IpAddr, SocketAddr};

use netcheck_model::snapshot::{Trace, TraceVerdict};

use super::Replay;

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
pub(super) fn verdict(flow: &Replay, table: &str, lines: &[String]) -> Trace {
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
    use super::super::tests::flow;
    use super::*;

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
}
