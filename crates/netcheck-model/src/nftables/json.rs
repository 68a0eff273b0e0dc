//! Reads the whole nftables ruleset, every family, from `nft -j list ruleset`: the
//! standard, versioned reader (its JSON carries a `json_schema_version`). Read-only.
//!
//! The JSON's objects are typed here with serde; a rule's expressions are reduced to
//! what the judges use ([`super::NftRule`]).

use serde::Deserialize;
use serde_json::Value;

use super::{NftChain, NftMatch, NftRule, NftTable, NftVerdict, Ruleset};

#[derive(Deserialize)]
struct Document {
    nftables: Vec<Item>,
}

/// One element of the `nftables` array. Sets, maps, elements, flowtables and the
/// metainfo are not needed and are ignored.
#[derive(Deserialize)]
struct Item {
    table: Option<RawTable>,
    chain: Option<RawChain>,
    rule: Option<RawRule>,
}

#[derive(Deserialize)]
struct RawTable {
    family: String,
    name: String,
}

#[derive(Deserialize)]
struct RawChain {
    family: String,
    table: String,
    name: String,
    #[serde(rename = "type")]
    kind: Option<String>,
    hook: Option<String>,
    prio: Option<Value>,
    policy: Option<String>,
}

#[derive(Deserialize)]
struct RawRule {
    family: String,
    table: String,
    chain: String,
    handle: u64,
    #[serde(default)]
    expr: Vec<Value>,
    comment: Option<String>,
}

/// Parses `nft -j list ruleset` output.
pub fn parse(json: &str) -> Result<Ruleset, String> {
    let doc: Document =
        serde_json::from_str(json).map_err(|e| format!("nft -j list ruleset: {e}"))?;
    let mut rs = Ruleset::default();
    for item in doc.nftables {
        if let Some(t) = item.table {
            rs.tables.push(NftTable {
                family: t.family,
                name: t.name,
                chains: vec![],
            });
        } else if let Some(c) = item.chain {
            let Some(table) = table_mut(&mut rs, &c.family, &c.table) else {
                continue;
            };
            table.chains.push(NftChain {
                name: c.name,
                kind: c.kind,
                hook: c.hook,
                prio: c.prio.as_ref().and_then(priority),
                policy: c.policy,
                rules: vec![],
            });
        } else if let Some(r) = item.rule {
            let Some(chain) = table_mut(&mut rs, &r.family, &r.table)
                .and_then(|t| t.chains.iter_mut().find(|c| c.name == r.chain))
            else {
                continue;
            };
            chain.rules.push(rule(r.handle, &r.expr, r.comment));
        }
    }
    Ok(rs)
}

fn table_mut<'a>(rs: &'a mut Ruleset, family: &str, name: &str) -> Option<&'a mut NftTable> {
    rs.tables
        .iter_mut()
        .find(|t| t.family == family && t.name == name)
}

/// A priority as a number; nft may also name one (`filter`, `dstnat`), with an offset.
fn priority(v: &Value) -> Option<i64> {
    if let Some(n) = v.as_i64() {
        return Some(n);
    }
    let name = v.as_str()?;
    let (base, offset) = match name.split_once(['+', '-']) {
        Some((b, o)) => {
            let sign = if name.contains('-') { -1 } else { 1 };
            (b.trim(), sign * o.trim().parse::<i64>().ok()?)
        }
        None => (name.trim(), 0),
    };
    let base = match base {
        "raw" => -300,
        "mangle" => -150,
        "dstnat" => -100,
        "filter" => 0,
        "security" => 50,
        "srcnat" => 100,
        _ => return None,
    };
    Some(base + offset)
}

fn rule(handle: u64, expr: &[Value], comment: Option<String>) -> NftRule {
    let mut r = NftRule {
        handle,
        matches: vec![],
        verdict: None,
        other: vec![],
        comment,
    };
    for stmt in expr {
        let Some((key, body)) = stmt.as_object().and_then(|o| o.iter().next()) else {
            continue;
        };
        match key.as_str() {
            "match" => r.matches.push(NftMatch {
                left: expression(&body["left"]),
                op: body["op"].as_str().unwrap_or("==").to_string(),
                right: expression(&body["right"]),
            }),
            "accept" => r.verdict = Some(NftVerdict::Accept),
            "drop" => r.verdict = Some(NftVerdict::Drop),
            "reject" => r.verdict = Some(NftVerdict::Reject),
            "return" => r.verdict = Some(NftVerdict::Return),
            "continue" => r.verdict = Some(NftVerdict::Continue),
            "jump" | "goto" => {
                let target = body["target"].as_str().unwrap_or("").to_string();
                r.verdict = Some(if key == "jump" {
                    NftVerdict::Jump { target }
                } else {
                    NftVerdict::Goto { target }
                });
            }
            // Counting changes nothing, and its numbers change every run.
            "counter" => {}
            "xt" => r.other.push(format!(
                "xt {} {}",
                body["type"].as_str().unwrap_or(""),
                body["name"].as_str().unwrap_or("")
            )),
            // NAT statements keep their target: port.publish matches a published
            // port's DNAT by it, and a redirect's port says where traffic goes.
            "dnat" | "snat" | "redirect" | "tproxy" => r.other.push(nat_target(key, body)),
            other => r.other.push(other.to_string()),
        }
    }
    r
}

/// `dnat to 172.17.0.2:8080`, `snat to 198.18.0.1`, `redirect to :3128`, `masquerade`.
fn nat_target(key: &str, body: &Value) -> String {
    let addr = expression(&body["addr"]);
    let port = expression(&body["port"]);
    match (addr.is_empty(), port.is_empty()) {
        (true, true) => key.to_string(),
        (false, true) => format!("{key} to {addr}"),
        (true, false) => format!("{key} to :{port}"),
        (false, false) => format!("{key} to {addr}:{port}"),
    }
}

/// An expression as nft prints it: `iifname`, `ip saddr`, `ct state`, `172.17.0.0/16`.
fn expression(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => String::new(),
        // `ct state { established, related }` comes as a list.
        Value::Array(items) => items.iter().map(expression).collect::<Vec<_>>().join(","),
        Value::Object(o) => {
            let Some((key, body)) = o.iter().next() else {
                return String::new();
            };
            match key.as_str() {
                "meta" => body["key"].as_str().unwrap_or("meta").to_string(),
                "payload" => format!(
                    "{} {}",
                    body["protocol"].as_str().unwrap_or("?"),
                    body["field"].as_str().unwrap_or("?")
                ),
                "ct" => format!("ct {}", body["key"].as_str().unwrap_or("?")),
                "prefix" => format!("{}/{}", expression(&body["addr"]), expression(&body["len"])),
                "range" => match body.as_array().map(Vec::as_slice) {
                    Some([a, b]) => format!("{}-{}", expression(a), expression(b)),
                    _ => body.to_string(),
                },
                "set" => match body {
                    Value::Array(items) => format!(
                        "{{ {} }}",
                        items.iter().map(expression).collect::<Vec<_>>().join(", ")
                    ),
                    other => format!("{{ {} }}", expression(other)),
                },
                _ => v.to_string(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"{"nftables": [{"metainfo": {"version": "1.0.6", "json_schema_version": 1}},
 {"table": {"family": "ip", "name": "filter", "handle": 2}},
 {"chain": {"family": "ip", "table": "filter", "name": "FORWARD", "handle": 6, "type": "filter", "hook": "forward", "prio": 0, "policy": "drop"}},
 {"rule": {"family": "ip", "table": "filter", "chain": "FORWARD", "handle": 9, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": "docker0"}}, {"xt": {"type": "match", "name": "conntrack"}}, {"counter": {"packets": 0, "bytes": 0}}, {"accept": null}]}},
 {"table": {"family": "inet", "name": "filter", "handle": 3}},
 {"chain": {"family": "inet", "table": "filter", "name": "forward", "handle": 1, "type": "filter", "hook": "forward", "prio": 0, "policy": "drop"}},
 {"chain": {"family": "inet", "table": "filter", "name": "mine", "handle": 2}},
 {"rule": {"family": "inet", "table": "filter", "chain": "forward", "handle": 3, "expr": [{"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": ["established", "related"]}}, {"accept": null}]}},
 {"rule": {"family": "inet", "table": "filter", "chain": "forward", "handle": 4, "comment": "site", "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": {"prefix": {"addr": "172.17.0.0", "len": 16}}}}, {"jump": {"target": "mine"}}]}},
 {"set": {"family": "inet", "name": "s", "table": "filter", "type": "ipv4_addr"}}
]}"#;

    #[test]
    fn parses_tables_base_chains_and_rules() {
        let rs = parse(SAMPLE).unwrap();
        assert_eq!(rs.tables.len(), 2);
        let fwd = rs.table("ip", "filter").unwrap().chain("FORWARD").unwrap();
        assert_eq!(
            (fwd.hook.as_deref(), fwd.prio, fwd.policy.as_deref()),
            (Some("forward"), Some(0), Some("drop"))
        );
        assert_eq!(
            fwd.rules[0].to_string(),
            "oifname \"docker0\" xt match conntrack accept"
        );
        let inet = rs.table("inet", "filter").unwrap();
        assert_eq!(inet.chain("mine").unwrap().hook, None);
        let rules = &inet.chain("forward").unwrap().rules;
        assert_eq!(rules[0].to_string(), "ct state established,related accept");
        assert_eq!(
            rules[1].to_string(),
            "ip saddr 172.17.0.0/16 jump mine comment \"site\""
        );
    }

    #[test]
    fn named_priorities() {
        assert_eq!(priority(&Value::from("filter")), Some(0));
        assert_eq!(priority(&Value::from("mangle - 5")), Some(-155));
        assert_eq!(priority(&Value::from("dstnat + 1")), Some(-99));
        assert_eq!(priority(&Value::from(-300)), Some(-300));
    }
}
