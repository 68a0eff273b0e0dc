//! The check registry: every check netcheck knows, each in its own file.
//!
//! A check is a pure judge over the [`Snapshot`]: no I/O, no clock. Adding one means a
//! new file here (with its finding codes, a `Code` enum: see [`code`]), an entry in
//! [`REGISTRY`], and fixtures under `fixtures/`.

pub(crate) use causes::request_lost;
pub use code::{Code, CodeInfo, Common};
pub use context::Context;
pub(crate) use context::{
    describe_link, docker_or_outcome, icc_disabled, missing, probe_request, sh, sh_words,
};
pub use judge::{Judged, builtin_instances, judge, unmatched_allows};
pub use netcheck_model::finding::{self, Finding, Subject};
pub use netcheck_model::report::Status;
pub use outcome::{Findings, NOT_OBSERVED, Outcome, UNCLASSIFIED};

mod bridge_icc;
mod bridge_subnet;
mod bridge_veth;
mod causes;
pub mod code;
mod container_default_route;
mod context;
mod daemon_warnings;
mod dns;
mod dns_resolver;
pub(crate) mod engine_rules;
mod firewall_backend;
mod firewall_forward;
mod host_docker_internal;
mod http;
mod judge;
mod kernel_br_netfilter;
mod kernel_conntrack;
mod kernel_ip_forward;
mod link_mtu;
mod nat_masquerade;
pub(crate) mod netavark;
pub(crate) mod nft_path;
mod outcome;
pub mod params;
mod port_publish;
mod publish_paths;
pub mod reference;
mod route;
mod routing;
pub(crate) mod rules;
pub(crate) mod tcp;

/// The skip message of a check whose observation a snapshot from an older netcheck does
/// not hold: re-judging an old ticket's snapshot says so rather than guessing.
pub const OLDER_SNAPSHOT: &str =
    "not in this snapshot: it was taken by a netcheck that did not observe this yet";

pub use netcheck_model::protocol::{HOST_DOCKER_INTERNAL, Needs};

/// Whether a check judges the host once, or each checked network on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// One result for the host.
    Host,
    /// One result per checked network, reported as `id[network]`: a CI job sees which
    /// network broke, and a healthy network's pass is not hidden by another's failure.
    Network,
}

pub struct Check {
    /// Stable: CI jobs and suites refer to it. Never rename a released id. For a
    /// generic kind, the kind's name (`tcp`), which suites instantiate under ids of
    /// their own.
    pub id: &'static str,
    pub generic: bool,
    pub scope: Scope,
    pub title: &'static str,
    /// Printed by `netcheck explain ID`.
    pub doc: &'static str,
    pub needs: Needs,
    /// Types a suite's `params` table into the check, ready to judge.
    pub configure: params::Configure,
    /// The JSON Schema of its `params`, for editors.
    pub params_schema: fn(&mut schemars::SchemaGenerator) -> schemars::Schema,
    /// Its finding codes and what each means: `code::list::<Code>` of the check's own
    /// `Code` enum. [`Common`]'s codes come on top.
    pub codes: fn() -> Vec<CodeInfo>,
}

/// A check as a suite runs it: under an id, with parameters, gating or not.
#[derive(Debug, Clone)]
pub struct Instance {
    pub id: String,
    pub check: &'static Check,
    /// The check with this instance's parameters.
    pub configured: std::sync::Arc<dyn params::Configured>,
    /// Which of this instance's results set the exit code.
    pub gate: Gate,
    /// Finding codes the suite accepts on this host (`bridge.subnet/overlaps-route`): they
    /// are reported, but do not fail or warn.
    pub allow: Vec<String>,
}

/// Which results of a check set the exit code. A suite's `gate = false | true | "warn"`;
/// `--strict` turns every `Fail` into `Warn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Gate {
    /// Reported, never gating: a suite's `gate = false`.
    Off,
    /// A failure (or error) fails the run; a warning does not. The default.
    #[default]
    Fail,
    /// A warning fails the run too (exit 1), as a failure does.
    Warn,
}

impl Gate {
    /// `--strict`: warnings gate wherever failures do.
    pub fn strict(self) -> Gate {
        match self {
            Gate::Fail => Gate::Warn,
            other => other,
        }
    }
}

impl std::fmt::Debug for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id)
    }
}

impl Check {
    /// Whether `slug` names a finding this check can report: one of its codes, or a
    /// common one.
    pub fn has_code(&self, slug: &str) -> bool {
        (self.codes)()
            .into_iter()
            .chain(code::list::<Common>())
            .any(|c| c.slug == slug)
    }
}

impl Instance {
    pub fn title(&self) -> String {
        self.configured
            .describe()
            .unwrap_or_else(|| self.check.title.to_string())
    }
}

/// Every check and generic kind, in the order they run and are reported.
pub static REGISTRY: &[&Check] = &[
    &bridge_subnet::CHECK,
    &bridge_veth::CHECK,
    &container_default_route::CHECK,
    &nat_masquerade::CHECK,
    &host_docker_internal::CHECK,
    &kernel_ip_forward::CHECK,
    &kernel_br_netfilter::CHECK,
    &kernel_conntrack::CHECK,
    &firewall_forward::CHECK,
    &firewall_backend::CHECK,
    &link_mtu::CHECK,
    &port_publish::CHECK,
    &dns_resolver::CHECK,
    &bridge_icc::CHECK,
    &daemon_warnings::CHECK,
    &tcp::CHECK,
    &http::CHECK,
    &dns::CHECK,
    &route::CHECK,
];

pub fn find(id: &str) -> Option<&'static Check> {
    REGISTRY.iter().copied().find(|c| c.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_documented() {
        let mut ids: Vec<&str> = REGISTRY.iter().map(|c| c.id).collect();
        ids.sort();
        let before = ids.len();
        ids.dedup();
        assert_eq!(before, ids.len(), "duplicate check id");
        for c in REGISTRY {
            assert!(
                !c.title.is_empty() && c.doc.len() > 80,
                "{} lacks docs",
                c.id
            );
            assert!(
                c.id.chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch == '.' || ch == '-'),
                "{}: ids are lowercase, dotted",
                c.id
            );
        }
    }
}
