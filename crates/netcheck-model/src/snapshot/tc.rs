//! Traffic control on the host's links: the qdiscs and classes that shape, police or
//! drop packets before netfilter or after it, with their counters read twice, so that
//! what they dropped during the run's flows is known.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Every qdisc (but `noqueue`, which queues nothing) and class on the host's links.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TcObs {
    pub items: Vec<TcItem>,
}

/// One qdisc or class: `qdisc tbf 8001: dev br-1a2b root`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TcItem {
    /// The link it sits on.
    pub dev: String,
    /// `qdisc` or `class`.
    pub object: String,
    /// `tbf`, `htb`, `fq_codel`, `clsact`, ...
    pub kind: String,
    /// As tc prints it: `8001:`, `1:10`.
    pub handle: String,
    /// `root`, `ingress`, or the parent's handle.
    pub parent: String,
    /// The counters before the run's flows; None for one that appeared meanwhile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<TcCounters>,
    /// The counters after the run's flows (and their traces).
    pub after: TcCounters,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TcCounters {
    pub packets: u64,
    pub drops: u64,
    pub overlimits: u64,
}

impl TcItem {
    /// Packets it dropped while the run's flows crossed it.
    pub fn dropped_during(&self) -> u64 {
        self.after
            .drops
            .saturating_sub(self.before.map_or(0, |b| b.drops))
    }

    /// `qdisc tbf 8001: dev br-1a2b root`, as `tc` lists it.
    pub fn describe(&self) -> String {
        format!(
            "{} {} {} dev {} {}",
            self.object,
            self.kind,
            self.handle,
            self.dev,
            if self.parent == "root" || self.parent == "ingress" {
                self.parent.clone()
            } else {
                format!("parent {}", self.parent)
            }
        )
    }
}
