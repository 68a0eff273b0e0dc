//! The check registry: every check netcheck knows, each in its own file.
//!
//! A check is a pure judge over the [`Snapshot`]: no I/O, no clock. Adding one means a
//! new file here, an entry in [`REGISTRY`], and fixtures under `fixtures/`.

use serde::{Deserialize, Serialize};

use crate::snapshot::{NetworkObs, Snapshot};

mod bridge_icc;
mod bridge_subnet;
mod bridge_veth;
mod container_default_route;
mod daemon_warnings;
mod dns;
mod dns_resolver;
mod firewall_backend;
mod firewall_forward;
mod host_docker_internal;
mod http;
mod kernel_br_netfilter;
mod kernel_conntrack;
mod kernel_ip_forward;
mod link_mtu;
mod nat_masquerade;
mod port_publish;
mod route;
mod routing;
pub(crate) mod rules;
mod tcp;

/// The skip message of a check whose observation a snapshot from an older netcheck does
/// not hold: re-judging an old ticket's snapshot says so rather than guessing.
pub const OLDER_SNAPSHOT: &str =
    "not in this snapshot: it was taken by a netcheck that did not observe this yet";

/// The name containers use to reach their host.
pub const HOST_DOCKER_INTERNAL: &str = "host.docker.internal";

/// What a check needs collected, so that a filtered run collects nothing more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Needs {
    /// Host links, addresses, routes, sysctls and firewall rules.
    pub host: bool,
    /// The probe container and its requests.
    pub probe: bool,
    /// The hermetic outside peer (a namespace on 198.18.0.0/15).
    pub outside: bool,
    /// The probe publishes a port, reached from the host and from itself (hairpin).
    pub publish: bool,
    /// Connections from other containers' namespaces to the probe (icc, isolation).
    pub peers: bool,
}

impl Needs {
    pub const NONE: Needs = Needs {
        host: false,
        probe: false,
        outside: false,
        publish: false,
        peers: false,
    };
}

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
    /// Checks and types a suite's `params` table.
    pub params: fn(toml::Table) -> Result<Params, String>,
    pub judge: fn(&Context, &Instance) -> Outcome,
}

/// A check as a suite runs it: under an id, with parameters, gating or not.
#[derive(Debug, Clone)]
pub struct Instance {
    pub id: String,
    pub check: &'static Check,
    pub params: Params,
    /// Which of this instance's results set the exit code.
    pub gate: Gate,
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

impl Instance {
    pub fn title(&self) -> String {
        self.params
            .describe()
            .unwrap_or_else(|| self.check.title.to_string())
    }
}

/// The parameters of an instance, typed by its check.
#[derive(Debug, Clone, Default)]
pub enum Params {
    #[default]
    None,
    Subnet(bridge_subnet::Params),
    HostInternal(host_docker_internal::Params),
    Mtu(link_mtu::Params),
    Tcp(tcp::Params),
    Http(http::Params),
    Dns(dns::Params),
    Route(route::Params),
}

impl Params {
    /// The network a generic check runs from: the probe joins it.
    pub fn network(&self) -> Option<&str> {
        match self {
            Params::Tcp(p) => Some(&p.network),
            Params::Http(p) => Some(&p.network),
            Params::Dns(p) => Some(&p.network),
            Params::Route(p) => Some(&p.network),
            _ => None,
        }
    }

    /// What the probe must do for this instance.
    pub fn probe_args(&self, id: &str) -> Vec<String> {
        match self {
            Params::Tcp(p) => vec![
                "--tcp".into(),
                format!("{}{id}={}", INSTANCE_PURPOSE, p.target),
            ],
            Params::Http(p) => vec![
                "--http".into(),
                format!("{}{id}={}", INSTANCE_PURPOSE, p.url),
            ],
            Params::Dns(p) => vec!["--resolve".into(), p.name.clone()],
            _ => vec![],
        }
    }

    fn describe(&self) -> Option<String> {
        Some(match self {
            Params::Tcp(p) => format!(
                "tcp from {} to {}: {}",
                p.network,
                p.target,
                p.expect.as_str()
            ),
            Params::Http(p) => format!(
                "http from {}: GET {} answers {}",
                p.network, p.url, p.expect_status
            ),
            Params::Dns(p) => format!("dns from {}: {} {}", p.network, p.name, p.expect.as_str()),
            Params::Route(p) => format!("route from {} to {}", p.network, p.destination),
            _ => return None,
        })
    }
}

/// The `params` of every check and kind, for the suite's JSON Schema (editor completion).
#[derive(schemars::JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum ParamsSchema {
    Subnet(bridge_subnet::Params),
    HostInternal(host_docker_internal::Params),
    Mtu(link_mtu::Params),
    Tcp(tcp::Params),
    Http(http::Params),
    Dns(dns::Params),
    Route(route::Params),
}

/// The purpose under which the probe reports a suite instance's request.
pub const INSTANCE_PURPOSE: &str = "check:";

/// `params` for a check that takes none.
pub(crate) fn no_params(table: toml::Table) -> Result<Params, String> {
    match table.keys().next() {
        None => Ok(Params::None),
        Some(k) => Err(format!("unknown parameter `{k}`: this check takes none")),
    }
}

/// Types a `params` table with serde: unknown and mistyped keys become messages.
pub(crate) fn typed<T: serde::de::DeserializeOwned>(table: toml::Table) -> Result<T, String> {
    <T as serde::Deserialize>::deserialize(toml::Value::Table(table))
        .map_err(|e| e.message().trim().to_string())
}

/// Everything a judge may look at, bundled.
pub struct Context<'a> {
    pub snapshot: &'a Snapshot,
    /// The checked networks that the engine knows, in the order asked.
    pub networks: Vec<&'a NetworkObs>,
    /// Requested networks the engine does not have.
    pub missing_networks: Vec<&'a str>,
}

impl<'a> Context<'a> {
    pub fn new(snapshot: &'a Snapshot) -> Self {
        let mut networks = Vec::new();
        let mut missing_networks = Vec::new();
        for name in &snapshot.networks {
            match snapshot.network(name) {
                Some(n) => networks.push(n),
                None => missing_networks.push(name.as_str()),
            }
        }
        Context {
            snapshot,
            networks,
            missing_networks,
        }
    }
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
    strum::EnumIter,
)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Skip,
    /// Works now, but is fragile or risky (a public fallback resolver, ports that bypass
    /// the host firewall). It does not gate unless `--strict` or a suite's `gate = "warn"`.
    Warn,
    /// The host is misconfigured: what the check is about is broken.
    Fail,
    /// netcheck could not tell: an observation it needed is missing or broken.
    Error,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Skip => "skip",
            Status::Warn => "warn",
            Status::Fail => "fail",
            Status::Error => "error",
        }
    }
}

/// A judge's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub status: Status,
    /// One line.
    pub message: String,
    /// What was observed, one fact a line, e.g. `eth0 172.17.0.2/16 peer veth3a1f@if7 master docker0 (up)`.
    pub evidence: Vec<String>,
    /// For a failure: what to run or change.
    pub hint: Option<String>,
}

impl Outcome {
    pub fn pass(message: impl Into<String>, evidence: Vec<String>) -> Self {
        Outcome {
            status: Status::Pass,
            message: message.into(),
            evidence,
            hint: None,
        }
    }

    pub fn fail(
        message: impl Into<String>,
        evidence: Vec<String>,
        hint: impl Into<String>,
    ) -> Self {
        Outcome {
            status: Status::Fail,
            message: message.into(),
            evidence,
            hint: Some(hint.into()),
        }
    }

    /// Works now, but is fragile or risky: reported with a hint, not gating by default.
    pub fn warn(
        message: impl Into<String>,
        evidence: Vec<String>,
        hint: impl Into<String>,
    ) -> Self {
        Outcome {
            status: Status::Warn,
            message: message.into(),
            evidence,
            hint: Some(hint.into()),
        }
    }

    pub fn skip(message: impl Into<String>, evidence: Vec<String>) -> Self {
        Outcome {
            status: Status::Skip,
            message: message.into(),
            evidence,
            hint: None,
        }
    }

    pub fn error(message: impl Into<String>, evidence: Vec<String>) -> Self {
        Outcome {
            status: Status::Error,
            message: message.into(),
            evidence,
            hint: None,
        }
    }
}

/// Gathers per-item findings (one per container or network) into one outcome: the first
/// failure names the verdict, and every finding stays in the evidence.
#[derive(Default)]
pub struct Findings {
    evidence: Vec<String>,
    failures: Vec<(String, String)>,
    warnings: Vec<(String, String)>,
    errors: Vec<String>,
    /// The fixes of errors that have one of their own, in order, without repeats.
    error_fixes: Vec<String>,
    skips: Vec<String>,
    passes: usize,
}

impl Findings {
    pub fn note(&mut self, line: impl Into<String>) {
        self.evidence.push(line.into());
    }

    pub fn pass(&mut self, evidence: impl Into<String>) {
        self.passes += 1;
        self.evidence.push(evidence.into());
    }

    pub fn fail(&mut self, message: impl Into<String>, hint: impl Into<String>) {
        let message = message.into();
        self.evidence.push(format!("FAIL: {message}"));
        self.failures.push((message, hint.into()));
    }

    /// Works now, but is fragile or risky: the outcome warns unless something fails.
    pub fn warn(&mut self, message: impl Into<String>, hint: impl Into<String>) {
        let message = message.into();
        self.evidence.push(format!("WARN: {message}"));
        self.warnings.push((message, hint.into()));
    }

    pub fn error(&mut self, message: impl Into<String>) {
        let message = message.into();
        self.evidence.push(format!("ERROR: {message}"));
        self.errors.push(message);
    }

    /// An error whose cause has a fix of its own (another check's, say).
    pub fn error_with_fix(&mut self, message: impl Into<String>, fix: impl Into<String>) {
        self.error(message);
        let fix = fix.into();
        if !self.error_fixes.contains(&fix) {
            self.error_fixes.push(fix);
        }
    }

    pub fn skip(&mut self, message: impl Into<String>) {
        let message = message.into();
        self.evidence.push(format!("skipped: {message}"));
        self.skips.push(message);
    }

    /// Fail beats error beats warn beats pass beats skip: a broken host is the most
    /// useful news, and one unobservable container must not hide another's proven fault.
    pub fn finish(self, pass_message: impl Into<String>) -> Outcome {
        let more = |n: usize| {
            if n > 1 {
                format!(" (and {} more)", n - 1)
            } else {
                String::new()
            }
        };
        // A lone failure is the outcome's message: repeating it in the evidence is noise.
        let mut evidence = self.evidence;
        if self.failures.len() == 1 {
            evidence.retain(|e| *e != format!("FAIL: {}", self.failures[0].0));
        } else if self.failures.is_empty() && self.errors.len() == 1 {
            evidence.retain(|e| *e != format!("ERROR: {}", self.errors[0]));
        } else if self.failures.is_empty() && self.errors.is_empty() && self.warnings.len() == 1 {
            evidence.retain(|e| *e != format!("WARN: {}", self.warnings[0].0));
        }
        if let Some((message, _)) = self.failures.first() {
            return Outcome::fail(
                format!("{message}{}", more(self.failures.len())),
                evidence,
                distinct_hints(&self.failures),
            );
        }
        if let Some(message) = self.errors.first() {
            let outcome = Outcome::error(format!("{message}{}", more(self.errors.len())), evidence);
            return Outcome {
                hint: (!self.error_fixes.is_empty()).then(|| self.error_fixes.join("\n")),
                ..outcome
            };
        }
        if let Some((message, _)) = self.warnings.first() {
            return Outcome::warn(
                format!("{message}{}", more(self.warnings.len())),
                evidence,
                distinct_hints(&self.warnings),
            );
        }
        if self.passes == 0 {
            let message = self
                .skips
                .first()
                .cloned()
                .unwrap_or_else(|| "nothing to check".to_string());
            return Outcome::skip(format!("{message}{}", more(self.skips.len())), evidence);
        }
        // A pass over part of the items says so: without root, "every container's
        // veth is fine" would claim more than was seen.
        let mut message = pass_message.into();
        if let Some(first) = self.skips.first() {
            message = format!(
                "{message}, where observed; not observed: {first}{}",
                more(self.skips.len())
            );
        }
        Outcome::pass(message, evidence)
    }
}

/// The hints of several findings, each once, in the order found.
fn distinct_hints(findings: &[(String, String)]) -> String {
    let mut hints: Vec<&str> = Vec::new();
    for (_, h) in findings {
        if !hints.contains(&h.as_str()) {
            hints.push(h);
        }
    }
    hints.join("\n")
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

/// Judges a snapshot with the given instances: a network-scoped check once per checked
/// network, with a context that holds that network alone. Judges are pure, so this
/// cannot fail; a judge that panics is a bug, and is reported as an error, not a crash.
pub fn judge<'a>(snapshot: &Snapshot, instances: &'a [Instance]) -> Vec<Judged<'a>> {
    let ctx = Context::new(snapshot);
    let mut judged = Vec::new();
    for instance in instances {
        let per_network = instance.check.scope == Scope::Network && !ctx.networks.is_empty();
        if !per_network {
            judged.push(judge_one(&ctx, instance, None));
            continue;
        }
        for n in &ctx.networks {
            let narrowed = Context {
                snapshot,
                networks: vec![n],
                missing_networks: vec![],
            };
            judged.push(judge_one(&narrowed, instance, Some(n.name.clone())));
        }
    }
    judged
}

fn judge_one<'a>(ctx: &Context, instance: &'a Instance, network: Option<String>) -> Judged<'a> {
    let started = std::time::Instant::now();
    let run = std::panic::AssertUnwindSafe(|| (instance.check.judge)(ctx, instance));
    let outcome = std::panic::catch_unwind(run).unwrap_or_else(|_| {
        Outcome::error(
            format!("the judge of {} panicked: a netcheck bug", instance.id),
            vec![],
        )
    });
    Judged {
        instance,
        network,
        outcome,
        duration: started.elapsed(),
    }
}

pub struct Judged<'a> {
    pub instance: &'a Instance,
    /// The network a network-scoped check judged.
    pub network: Option<String>,
    pub outcome: Outcome,
    pub duration: std::time::Duration,
}

impl Judged<'_> {
    /// The result's id: the instance's, with the network for a network-scoped check
    /// (`bridge.veth[my-net]`), so that it is unique in a report and stable across runs.
    pub fn id(&self) -> String {
        match &self.network {
            Some(n) => format!("{}[{n}]", self.instance.id),
            None => self.instance.id.clone(),
        }
    }
}

/// Every built-in check, with default parameters, gating: what fixtures are judged with.
pub fn builtin_instances() -> Vec<Instance> {
    REGISTRY
        .iter()
        .filter(|c| !c.generic)
        .map(|c| Instance {
            id: c.id.to_string(),
            check: c,
            params: (c.params)(toml::Table::new()).expect("built-in checks take defaults"),
            gate: Gate::Fail,
        })
        .collect()
}

/// A common first step: the docker observation, or the outcome that says why not.
pub(crate) fn docker_or_outcome(ctx: &Context) -> Result<(), Outcome> {
    if let Some(why) = ctx.snapshot.docker.why_missing() {
        return Err(Outcome::error(
            format!("no Docker observations: {why}"),
            vec![],
        ));
    }
    if ctx.networks.is_empty() {
        return Err(Outcome::error(
            format!(
                "none of the requested networks exist: {}",
                ctx.missing_networks.join(", ")
            ),
            vec![],
        ));
    }
    Ok(())
}

/// The probe's request for a suite instance, or the outcome that says why there is none.
pub(crate) fn probe_request<'a>(
    ctx: &'a Context,
    id: &str,
) -> Result<&'a crate::snapshot::Request, Outcome> {
    let Some(probe) = ctx.snapshot.probe.ok() else {
        return Err(missing(&ctx.snapshot.probe, "probe container"));
    };
    let purpose = format!("{INSTANCE_PURPOSE}{id}");
    probe.report.requests.iter().find(|r| r.purpose == purpose).ok_or_else(|| {
        Outcome::error(
            format!("the probe made no request for {id}: the snapshot was collected with another suite"),
            vec![],
        )
    })
}

/// The outcome of a check whose observation is missing: skip when it could not be made
/// here (no root, a remote engine), error when netcheck tried and failed.
pub(crate) fn missing<T: Observation>(obs: &crate::snapshot::Observed<T>, what: &str) -> Outcome {
    let why = obs.why_missing().unwrap_or("");
    match obs {
        crate::snapshot::Observed::Skipped { .. } => {
            Outcome::skip(format!("{what} not observed: {why}"), vec![])
        }
        _ => Outcome {
            hint: Some(T::FIX.into()),
            ..Outcome::error(format!("{what} not observed: {why}"), vec![])
        },
    }
}

/// The fix for an observation that errored, by which observation it is: every errored
/// check then carries a fix, as every exit 2 must.
pub(crate) trait Observation {
    const FIX: &'static str;
}

impl Observation for crate::snapshot::ProbeObs {
    const FIX: &'static str = crate::error::PROBE_FIX;
}

impl Observation for crate::snapshot::HostObs {
    const FIX: &'static str = crate::error::HOST_FIX;
}

impl Observation for crate::snapshot::FirewallObs {
    const FIX: &'static str = crate::error::HOST_FIX;
}

impl Observation for crate::snapshot::DockerObs {
    const FIX: &'static str = crate::error::DOCKER_FIX;
}

/// Why no traffic can leave `network` at all, if the host shows it: its bridge is
/// missing or down, or the gateway address is not on it. Checks whose probe request
/// failed name this root cause (and the check that owns it) instead of guessing.
/// Returns the cause and its fix.
pub(crate) fn bridge_broken(ctx: &Context, network: &str) -> Option<(String, String)> {
    let host = &ctx.snapshot.host.ok()?.netns;
    let n = ctx.snapshot.network(network)?;
    let Some(br) = host.link_by_name(&n.bridge) else {
        return Some((
            format!(
                "bridge {} of {network} does not exist (see bridge.veth)",
                n.bridge
            ),
            "systemctl restart docker recreates it".into(),
        ));
    };
    if !br.up {
        return Some((
            format!("bridge {} of {network} is down (see bridge.veth)", n.bridge),
            format!("ip link set {} up", n.bridge),
        ));
    }
    let subnet = n.subnet_v4()?;
    let gw = n
        .ipam
        .iter()
        .filter_map(|c| c.gateway)
        .find(|g| subnet.contains(g));
    let carried = host
        .addrs_of(br.index)
        .any(|a| gw.map_or(subnet.contains(&a.addr()), |g| a.addr() == g));
    (!carried).then(|| {
        (
            format!(
                "the gateway{} of {network} is not on bridge {} (see container.default-route)",
                gw.map(|g| format!(" {g}")).unwrap_or_default(),
                n.bridge
            ),
            format!(
                "ip addr add {}/{} dev {} (or systemctl restart docker)",
                gw.map(|g| g.to_string())
                    .unwrap_or_else(|| "<gateway>".into()),
                subnet.prefix_len(),
                n.bridge
            ),
        )
    })
}

/// Whether a network sets icc=false: its containers must not reach each other.
pub(crate) fn icc_disabled(n: &NetworkObs) -> bool {
    n.options
        .get("com.docker.network.bridge.enable_icc")
        .is_some_and(|v| v == "false")
}

/// `eth0 172.17.0.2/16 (up)`: a link as evidence.
pub(crate) fn describe_link(ns: &crate::snapshot::NetnsObs, index: u32) -> String {
    match ns.link(index) {
        None => format!("if{index} (absent)"),
        Some(l) => {
            let addrs: Vec<String> = ns.addrs_of(index).map(|a| a.to_string()).collect();
            let mut s = l.name.clone();
            if !addrs.is_empty() {
                s.push(' ');
                s.push_str(&addrs.join(","));
            }
            s.push_str(if l.up { " (up)" } else { " (down)" });
            s
        }
    }
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
