//! Every judge against every fixture snapshot in fixtures/, one trial per fixture.
//!
//! The outcomes are snapshot-tested (tests/snapshots/), and the fixture's name states
//! the verdict that must not change, whatever a snapshot update says:
//! - `healthy-*`: every check passes (or skips because the snapshot predates what it
//!   observes: `checks::OLDER_SNAPSHOT`; or, on a network that turns the feature off on
//!   purpose, skips or warns with its reason);
//! - `fault-<check id>-*` (captured live under that fault) and `edited-<check id>-*`
//!   (a captured snapshot edited by hand to a state the live tests cannot create):
//!   that check fails;
//! - `warn-<check id>-*`: that check warns, and nothing fails;
//! - `skipped-*`: nothing fails (observations that could not be made are not faults).
//!
//! Each fixture is judged a second time after `--redact` (`redacted:<name>`): every
//! result must keep its status, since a ticket's redacted snapshot must say what the
//! host says.

use std::path::{Path, PathBuf};

use libtest_mimic::{Failed, Trial};
use netcheck::checks::{self, Status};
use netcheck::snapshot::Snapshot;

/// One trial per fixture, and one for its redacted twin: `fixtures::<name>` and
/// `fixtures::redacted:<name>`, so that a filter picks one fixture.
pub fn trials() -> Vec<Trial> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fixtures/ exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no fixtures in {}", dir.display());
    paths
        .into_iter()
        .flat_map(|path| {
            let name = path.file_stem().unwrap().to_string_lossy().to_string();
            let redacted = {
                let path = path.clone();
                Trial::test(format!("fixtures::redacted:{name}"), move || {
                    same_verdicts(&path)
                })
            };
            [
                Trial::test(format!("fixtures::{name}"), move || {
                    judge_fixture(&name, &path)
                }),
                redacted,
            ]
        })
        .collect()
}

/// Redaction changes names and addresses, never a verdict: every result keeps its status.
fn same_verdicts(path: &Path) -> Result<(), Failed> {
    let snapshot = Snapshot::load(path).map_err(|e| e.to_string())?;
    let redacted = netcheck::redact::redact(&snapshot)?;
    let instances = checks::builtin_instances();
    let before = checks::judge(&snapshot, &instances);
    let after = checks::judge(&redacted, &instances);
    if before.len() != after.len() {
        return Err(format!("{} results, {} after redaction", before.len(), after.len()).into());
    }
    let changed: Vec<String> = before
        .iter()
        .zip(&after)
        .filter(|(b, a)| b.outcome.status != a.outcome.status)
        .map(|(b, a)| {
            format!(
                "{}: {:?} ({}) became {:?} ({})",
                b.id(),
                b.outcome.status,
                b.outcome.message,
                a.outcome.status,
                a.outcome.message
            )
        })
        .collect();
    if changed.is_empty() {
        Ok(())
    } else {
        Err(changed.join("\n").into())
    }
}

/// The networks of a snapshot that turn a feature off on purpose: internal, no
/// masquerade, no icc, or a gateway mode other than nat (Docker 28+). A check may skip
/// on them, or warn, with its reason; it never fails.
fn features_off(path: &Path) -> Result<Vec<String>, Failed> {
    let raw: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    let networks = raw["docker"]["value"]["networks"].as_array();
    Ok(networks
        .into_iter()
        .flatten()
        .filter(|n| {
            let option = |o: &str| n["options"][format!("com.docker.network.bridge.{o}")].clone();
            n["internal"] == true
                || n["ip_masquerade"] == false
                || option("enable_icc") == "false"
                || option("enable_ip_masquerade") == "false"
                || option("gateway_mode_ipv4")
                    .as_str()
                    .is_some_and(|m| m != "nat")
                || option("gateway_mode_ipv6")
                    .as_str()
                    .is_some_and(|m| m != "nat")
        })
        .filter_map(|n| n["name"].as_str().map(str::to_string))
        .collect())
}

fn judge_fixture(name: &str, path: &Path) -> Result<(), Failed> {
    let snapshot = Snapshot::load(path).map_err(|e| e.to_string())?;
    let instances = checks::builtin_instances();
    let judged = checks::judge(&snapshot, &instances);
    let outcomes: serde_json::Map<String, serde_json::Value> = judged
        .iter()
        .map(|j| (j.id(), serde_json::to_value(&j.outcome).unwrap()))
        .collect();
    // A network-scoped check fails on a fixture when it fails on any of its networks.
    let status = |id: &str| {
        judged
            .iter()
            .filter(|j| j.instance.id == id)
            .map(|j| j.outcome.status)
            .max_by_key(|s| (*s == Status::Fail, *s))
    };

    if name.starts_with("healthy-") {
        let off = features_off(path)?;
        for j in &judged {
            let older =
                j.outcome.status == Status::Skip && j.outcome.message == checks::OLDER_SNAPSHOT;
            // A host-wide check (port.publish, host.docker-internal) may skip with its
            // reason where every checked network turns its feature off.
            let all_off =
                !snapshot.networks.is_empty() && snapshot.networks.iter().all(|n| off.contains(n));
            let on_purpose = matches!(j.outcome.status, Status::Skip | Status::Warn)
                && !j.outcome.message.trim().is_empty()
                && match &j.network {
                    Some(n) => off.contains(n),
                    None => all_off,
                };
            if j.outcome.status != Status::Pass && !older && !on_purpose {
                return Err(format!(
                    "{} is {:?} on a healthy host: {}",
                    j.id(),
                    j.outcome.status,
                    j.outcome.message
                )
                .into());
            }
        }
    } else if let Some(rest) = name
        .strip_prefix("fault-")
        .or_else(|| name.strip_prefix("edited-"))
    {
        let check = instances
            .iter()
            .find(|c| rest.starts_with(&format!("{}-", c.id)))
            .ok_or_else(|| format!("{name}: the name names no check id"))?;
        if status(&check.id) != Some(Status::Fail) {
            return Err(format!(
                "{} should fail on {name}, but is {:?}",
                check.id,
                status(&check.id)
            )
            .into());
        }
    } else if let Some(rest) = name.strip_prefix("warn-") {
        let check = instances
            .iter()
            .find(|c| rest.starts_with(&format!("{}-", c.id)))
            .ok_or_else(|| format!("{name}: the name names no check id"))?;
        if status(&check.id) != Some(Status::Warn) {
            return Err(format!(
                "{} should warn on {name}, but is {:?}",
                check.id,
                status(&check.id)
            )
            .into());
        }
        if let Some(j) = judged.iter().find(|j| j.outcome.status == Status::Fail) {
            return Err(format!("{} fails on {name}: {}", j.id(), j.outcome.message).into());
        }
    } else if name.starts_with("skipped-") {
        if let Some(j) = judged.iter().find(|j| j.outcome.status == Status::Fail) {
            return Err(format!("{} fails on {name}: {}", j.id(), j.outcome.message).into());
        }
    } else {
        return Err(format!(
            "{name}: a fixture's name starts with healthy-, fault-, edited-, warn- or skipped-"
        )
        .into());
    }

    // Every failure, warning and error names itself: a stable code of its check's, not
    // the placeholder a finding has before its check names it.
    for j in &judged {
        for f in &j.outcome.findings {
            if f.code.ends_with(&format!("/{}", checks::UNCLASSIFIED)) {
                return Err(format!("{}: a finding without a code: {}", j.id(), f.message).into());
            }
        }
    }

    let result = std::panic::catch_unwind(|| {
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots"));
        settings.set_prepend_module_to_snapshot(false);
        settings.set_info(&format!("fixtures/{name}.json"));
        settings.bind(|| insta::assert_json_snapshot!(name, outcomes));
    });
    result.map_err(|e| {
        e.downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "outcome snapshot mismatch".into())
            .into()
    })
}
