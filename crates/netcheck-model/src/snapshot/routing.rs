//! Routing as the kernel decides it: `ip rule`, the tables by number, and the kernel's
//! answers to route lookups for each checked network.

use std::net::IpAddr;

use ipnet::IpNet;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The main routing table's id (`ip route` shows it; `ip rule` names it `main`).
pub const TABLE_MAIN: u32 = 254;
/// The local table: the host's own addresses, consulted first.
pub const TABLE_LOCAL: u32 = 255;
/// The `default` table, consulted last.
pub const TABLE_DEFAULT: u32 = 253;

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct RoutingObs {
    /// `ip rule` and `ip -6 rule`, in priority order.
    pub rules: Vec<RuleObs>,
    /// The kernel's answers to route lookups (RTM_GETROUTE) for each checked network:
    /// what it would do with a packet, with every rule, table and mark honoured. A
    /// lookup sends nothing.
    pub lookups: Vec<RouteLookup>,
    /// The same egress lookups for packets carrying a mark that the firewall's mangle
    /// rules set and a policy rule selects (a transparent proxy's, a VPN client's):
    /// what the kernel does with a network's packets once marked. Absent in older
    /// snapshots, and where no rule selects a mark the firewall sets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub marked: Vec<MarkedLookup>,
}

/// An egress lookup made with a mark.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct MarkedLookup {
    pub mark: u32,
    pub lookup: RouteLookup,
}

/// One policy routing rule.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct RuleObs {
    pub v6: bool,
    pub priority: u32,
    /// `lookup`, `goto`, `nop`, `blackhole`, `unreachable` or `prohibit`.
    pub action: String,
    /// The table a `lookup` rule consults.
    pub table: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub from: Option<IpNet>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub to: Option<IpNet>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iif: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oif: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fwmark: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fwmask: Option<u32>,
    /// `not`: the rule applies to packets its selectors do not match.
    #[serde(default)]
    pub invert: bool,
    /// wg-quick's `suppress_prefixlength 0`: an answer this short is ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppress_prefixlength: Option<u32>,
    /// Selectors netcheck does not evaluate (uid range, ports, protocol, l3mdev).
    #[serde(default)]
    pub other_selectors: bool,
}

impl RuleObs {
    /// As `ip rule` prints it: `5270: from all lookup 52`.
    pub fn describe(&self) -> String {
        let mut s = format!("{}:", self.priority);
        if self.invert {
            s.push_str(" not");
        }
        match &self.from {
            Some(n) => s.push_str(&format!(" from {n}")),
            None => s.push_str(" from all"),
        }
        if let Some(n) = &self.to {
            s.push_str(&format!(" to {n}"));
        }
        if let Some(m) = self.fwmark {
            match self.fwmask {
                Some(mask) if mask != u32::MAX => s.push_str(&format!(" fwmark {m:#x}/{mask:#x}")),
                _ => s.push_str(&format!(" fwmark {m:#x}")),
            }
        }
        if let Some(i) = &self.iif {
            s.push_str(&format!(" iif {i}"));
        }
        if let Some(o) = &self.oif {
            s.push_str(&format!(" oif {o}"));
        }
        match self.action.as_str() {
            "lookup" => s.push_str(&format!(" lookup {}", table_name(self.table))),
            other => s.push_str(&format!(" {other}")),
        }
        if let Some(p) = self.suppress_prefixlength {
            s.push_str(&format!(" suppress_prefixlength {p}"));
        }
        s
    }
}

/// `main`, `local`, `default`, or the table's number.
pub fn table_name(table: u32) -> String {
    match table {
        TABLE_MAIN => "main".into(),
        TABLE_LOCAL => "local".into(),
        TABLE_DEFAULT => "default".into(),
        n => n.to_string(),
    }
}

/// Which way a looked-up packet goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LookupPath {
    /// From a container, in through its bridge, to an address outside the host.
    Egress,
    /// An answer from outside, in through the egress interface, back to the container.
    Return,
    /// From the host itself to the container.
    Host,
}

/// The kernel's answer for one packet of one checked network.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct RouteLookup {
    pub network: String,
    pub path: LookupPath,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<IpAddr>,
    pub to: IpAddr,
    /// The input interface the packet is taken to arrive on; none for the host's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iif: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<RouteAnswer>,
    /// The kernel's refusal (no route, unreachable, prohibited), when it gave no route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct RouteAnswer {
    pub table: u32,
    /// The priority of the rule that picked the table: the first rule, in priority
    /// order, whose selectors match the packet and that looks up this table. None where
    /// it cannot be told (selectors netcheck does not evaluate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<u32>,
    /// The route that matched, as in its table (the kernel's fibmatch answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub matched: Option<IpNet>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oif: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefsrc: Option<IpAddr>,
    /// The MTU packets leave with: the output interface's, or the route's own `mtu`
    /// where it is smaller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
}

impl RouteLookup {
    /// `from 172.18.0.2 iif br-x to 203.0.113.1`: the packet asked about.
    pub fn describe_packet(&self) -> String {
        let mut s = String::new();
        if let Some(f) = self.from {
            s.push_str(&format!("from {f} "));
        }
        if let Some(i) = &self.iif {
            s.push_str(&format!("iif {i} "));
        }
        s.push_str(&format!("to {}", self.to));
        s
    }

    /// The kernel's answer as `ip route get` would put it.
    pub fn describe_answer(&self) -> String {
        match (&self.route, &self.error) {
            (Some(r), _) => {
                let mut s = String::new();
                if let Some(m) = r.matched {
                    s.push_str(&format!("{m} "));
                }
                if let Some(g) = r.gateway {
                    s.push_str(&format!("via {g} "));
                }
                if let Some(o) = &r.oif {
                    s.push_str(&format!("dev {o} "));
                }
                s.push_str(&format!("table {}", table_name(r.table)));
                if let Some(p) = r.rule {
                    s.push_str(&format!(" (rule {p})"));
                }
                if let Some(m) = r.mtu {
                    s.push_str(&format!(" mtu {m}"));
                }
                s
            }
            (None, Some(e)) => format!("no route: {e}"),
            (None, None) => "no answer".into(),
        }
    }
}

impl RoutingObs {
    /// The lookup of `path` for `network`, of the given family.
    pub fn lookup(&self, network: &str, path: LookupPath, v6: bool) -> Option<&RouteLookup> {
        self.lookups
            .iter()
            .find(|l| l.network == network && l.path == path && l.to.is_ipv6() == v6)
    }

    pub fn rule(&self, v6: bool, priority: u32) -> Option<&RuleObs> {
        self.rules
            .iter()
            .find(|r| r.v6 == v6 && r.priority == priority)
    }
}
