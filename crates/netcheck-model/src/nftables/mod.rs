//! The nftables ruleset as a snapshot records it: every table of every family, its
//! chains (a base chain with its hook, priority and policy) and their rules, typed.
//!
//! [`parse`] reads it from `nft -j list ruleset` (see [`json`]); judges walk it
//! (see `checks::nft_path`). A rule keeps what a judge needs to decide whether it
//! matches a class of packets (its matches and its verdict) and what a person needs to
//! recognise it (its handle and comment, and [`NftRule`]'s nft-like rendering).

mod json;

pub use json::parse;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Ruleset {
    pub tables: Vec<NftTable>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NftTable {
    /// `ip`, `ip6`, `inet`, `bridge`, `netdev` or `arp`.
    pub family: String,
    pub name: String,
    pub chains: Vec<NftChain>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NftChain {
    pub name: String,
    /// For a base chain: `filter`, `nat` or `route`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// For a base chain: the hook it is attached to (`forward`, `output`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hook: Option<String>,
    /// For a base chain: its priority; lower runs first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prio: Option<i64>,
    /// For a base chain: `accept` or `drop`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    pub rules: Vec<NftRule>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NftRule {
    pub handle: u64,
    /// Its matches, in order, each `left op right`: `iifname == docker0`,
    /// `ip saddr == 172.17.0.0/16`, `ct state == established,related`.
    pub matches: Vec<NftMatch>,
    /// What it does to a packet that matches: None for a rule that only counts or logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<NftVerdict>,
    /// Statements netcheck does not interpret (`xt match conntrack`, `log`, `snat`):
    /// a rule with one of these among its matches is never taken to match for sure.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NftMatch {
    /// `iifname`, `oifname`, `ip saddr`, `ip6 daddr`, `ct state`, `tcp dport`, ...
    pub left: String,
    /// `==`, `!=`, `<`, `in`, ...
    pub op: String,
    /// As nft prints it: `docker0`, `br-*`, `172.17.0.0/16`, `established,related`,
    /// a set as `{ a, b }`, a named set as `@name`.
    pub right: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NftVerdict {
    Accept,
    Drop,
    Reject,
    Return,
    Continue,
    Jump { target: String },
    Goto { target: String },
}

impl NftVerdict {
    /// Drop and reject both end the packet.
    pub fn stops(&self) -> bool {
        matches!(self, NftVerdict::Drop | NftVerdict::Reject)
    }
}

impl Ruleset {
    pub fn table(&self, family: &str, name: &str) -> Option<&NftTable> {
        self.tables
            .iter()
            .find(|t| t.family == family && t.name == name)
    }
}

impl NftTable {
    pub fn chain(&self, name: &str) -> Option<&NftChain> {
        self.chains.iter().find(|c| c.name == name)
    }

    /// `inet filter`: how nft and its traces name a table.
    pub fn label(&self) -> String {
        format!("{} {}", self.family, self.name)
    }
}

impl std::fmt::Display for NftVerdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NftVerdict::Accept => f.write_str("accept"),
            NftVerdict::Drop => f.write_str("drop"),
            NftVerdict::Reject => f.write_str("reject"),
            NftVerdict::Return => f.write_str("return"),
            NftVerdict::Continue => f.write_str("continue"),
            NftVerdict::Jump { target } => write!(f, "jump {target}"),
            NftVerdict::Goto { target } => write!(f, "goto {target}"),
        }
    }
}

/// Close to nft's own listing: `iifname "docker0" ip saddr 172.17.0.0/16 drop`.
impl std::fmt::Display for NftRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut words: Vec<String> = self
            .matches
            .iter()
            .map(|m| {
                let quoted = if m.left.ends_with("ifname") || m.left.ends_with("brname") {
                    format!("\"{}\"", m.right)
                } else {
                    m.right.clone()
                };
                match m.op.as_str() {
                    "==" | "in" => format!("{} {quoted}", m.left),
                    op => format!("{} {op} {quoted}", m.left),
                }
            })
            .collect();
        words.extend(self.other.iter().cloned());
        if let Some(v) = &self.verdict {
            words.push(v.to_string());
        }
        if let Some(c) = &self.comment {
            words.push(format!("comment \"{c}\""));
        }
        f.write_str(&words.join(" "))
    }
}
