//! The report of judged results: what contract A ([`crate::judge`]) returns, its counts,
//! host facts and notes assembled from the judged checks.

use netcheck_model::report::{CheckResult, HostFacts, Note, Report};
use netcheck_model::snapshot::Snapshot;

use crate::checks::{Gate, Judged};

/// The backend that holds the engine's rules, as the report's header names it:
/// `iptables-nft`, `iptables-legacy`, or `nftables` for Docker 29's own tables.
fn firewall_backend(snapshot: &Snapshot) -> String {
    let fw = snapshot.host.ok().and_then(|h| h.firewall.ok());
    let engine = crate::checks::engine_rules::EngineRules::of(snapshot);
    match (engine.backend, fw) {
        (crate::checks::engine_rules::Backend::Nftables, _) => "nftables".into(),
        (_, Some(fw)) => fw.backend.clone(),
        (_, None) => String::new(),
    }
}

/// The report of judged checks, with the host facts the snapshot holds.
pub fn report(snapshot: &Snapshot, judged: &[Judged], wall: std::time::Duration) -> Report {
    let engine = snapshot.docker.ok().map(|d| &d.engine);
    let host = HostFacts {
        hostname: engine.map(|e| e.hostname.clone()).unwrap_or_default(),
        engine_product: engine.and_then(|e| e.product.clone()),
        engine_rootless: engine.is_some_and(|e| e.rootless),
        engine_version: engine.map(|e| e.version.clone()).unwrap_or_default(),
        api_version: engine.map(|e| e.api_version.clone()).unwrap_or_default(),
        os: engine.map(|e| e.os.clone()).unwrap_or_default(),
        kernel: engine.map(|e| e.kernel.clone()).unwrap_or_default(),
        firewall_backend: firewall_backend(snapshot),
    };
    let checks = judged
        .iter()
        .map(|j| CheckResult {
            id: j.id(),
            check: j.instance.id.clone(),
            network: j.network.clone(),
            title: j.instance.title(),
            status: j.outcome.status,
            gate: j.instance.gate != Gate::Off,
            strict: j.instance.gate == Gate::Warn,
            duration_ms: j.duration.as_secs_f64() * 1000.0,
            message: j.outcome.message.clone(),
            evidence: j.outcome.evidence.clone(),
            hint: j.outcome.hint.clone(),
            findings: j.outcome.findings.clone(),
        })
        .collect();
    let mut report = Report::assemble(host, snapshot.collected_at, wall, checks);
    report.engine = snapshot.engine.clone();
    report.notes = crate::checks::unmatched_allows(judged)
        .into_iter()
        .map(|(check, code)| Note::AllowUnmatched { check, code })
        .collect();
    report
}
