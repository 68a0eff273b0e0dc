//! Structured findings: what a check found, under a stable code, about a typed subject.
//!
//! A check's message and evidence are prose for people. A finding is the same verdict
//! for programs: reporters draw what it is about from its subject (not by searching
//! the text), suites allow a known finding by its code, and the JSON report carries
//! both. Codes are `<check id>/<slug>` and never change once released, as check ids.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::status::Status;

/// The code of a finding whose check has not named it yet.
pub const UNCLASSIFIED: &str = "unclassified";

/// One thing a check found wrong (or risky): fail, warn or error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Finding {
    /// Stable: `bridge.veth/no-master`. Suites allow findings by it.
    pub code: String,
    pub status: Status,
    /// What the finding is about.
    pub subject: Subject,
    pub message: String,
}

/// What a finding is about, typed: a reporter draws it without parsing prose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Subject {
    /// The host as a whole (a sysctl, the kernel, the engine's configuration).
    Host,
    /// A Docker network, by name.
    Network { name: String },
    /// A container, by name.
    Container { name: String },
    /// A network interface on the host (a bridge, a veth, an uplink) or, with
    /// `container`, inside that container.
    Interface {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        container: Option<String>,
    },
    /// A route: its destination, and the table it is in where not main.
    Route {
        destination: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        table: Option<u32>,
    },
    /// A firewall rule or chain policy: `table` and `chain`, and the rule's text.
    Rule {
        table: String,
        chain: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rule: Option<String>,
    },
    /// A kernel setting by its dotted name.
    Sysctl { name: String },
    /// A file on the host, e.g. /etc/resolv.conf.
    File { path: String },
}

impl Subject {
    pub fn network(name: &str) -> Subject {
        Subject::Network { name: name.into() }
    }

    pub fn container(name: &str) -> Subject {
        Subject::Container { name: name.into() }
    }

    pub fn interface(name: &str) -> Subject {
        Subject::Interface {
            name: name.into(),
            container: None,
        }
    }

    /// Whether it is netcheck's own probe container, or an interface in it (the probe's
    /// name survives redaction).
    pub fn is_probe(&self) -> bool {
        let container = match self {
            Subject::Container { name } => Some(name),
            Subject::Interface { container, .. } => container.as_ref(),
            _ => None,
        };
        container.is_some_and(|c| c.starts_with(crate::protocol::PROBE_PREFIX))
    }

    /// An interface inside a container.
    pub fn inside(container: &str, name: &str) -> Subject {
        Subject::Interface {
            name: name.into(),
            container: Some(container.into()),
        }
    }

    pub fn file(path: &str) -> Subject {
        Subject::File { path: path.into() }
    }

    pub fn sysctl(name: &str) -> Subject {
        Subject::Sysctl { name: name.into() }
    }

    /// The names a picture of the host may draw this subject under.
    pub fn names(&self) -> Vec<&str> {
        match self {
            Subject::Host => vec![],
            Subject::Network { name }
            | Subject::Container { name }
            | Subject::Sysctl { name }
            | Subject::Interface {
                name,
                container: None,
            } => vec![name],
            Subject::Interface {
                name,
                container: Some(c),
            } => vec![name, c],
            Subject::Route { destination, .. } => vec![destination],
            Subject::Rule { table, chain, .. } => vec![table, chain],
            Subject::File { path } => vec![path],
        }
    }
}
