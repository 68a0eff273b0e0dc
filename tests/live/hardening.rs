//! Hostile hosts, concurrency, least privilege and low open-file limits, live (root and
//! a daemon): each leaves the host as it found it. Interruptions and hangs are
//! interrupts.rs; the offline half (TLS settings, symlinked report paths, huge hosts) is
//! tests/offline/robustness.rs.

use crate::common;

use std::process::Command;
use std::time::Duration;

use crate::interrupts::{STALLED_PROBE, spawn, wait_for_probe};
use common::*;

/// Three runs at once all succeed, and none sees another's probe.
#[test]
fn concurrent_runs_keep_apart() {
    let Some(_live) = live() else { return };
    let dir = tempdir();
    let children: Vec<_> = (0..3)
        .map(|i| {
            let json = dir.path().join(format!("r{i}.json"));
            (
                json.clone(),
                spawn(&["-v", "--json", json.to_str().unwrap()]),
            )
        })
        .collect();
    for (json, child) in children {
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        let veth = report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == "bridge.veth[bridge]")
            .unwrap();
        let probes: std::collections::BTreeSet<String> = veth["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| {
                e.as_str()?
                    .split(':')
                    .next()
                    .filter(|n| n.starts_with("netcheck-probe-"))
                    .map(String::from)
            })
            .collect();
        assert_eq!(probes.len(), 1, "a run saw other runs' probes: {probes:?}");
    }
    assert_no_leftovers();
}

/// Without root, as a member of the docker group: what needs privileges is skipped with
/// a reason, never failed, and the rest still runs.
#[test]
fn without_root_privileged_observations_skip() {
    let Some(_live) = live() else { return };
    let user = "netcheck-tuser";
    let _ = Command::new("userdel").arg(user).output();
    sh(&[
        "useradd",
        "--no-create-home",
        "--shell",
        "/usr/sbin/nologin",
        "--groups",
        "docker",
        user,
    ]);
    let mut restore = Restore::default();
    restore.push(&["userdel", user]);
    let dir = tempdir();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let json = dir.path().join("r.json");
    let out = Command::new("setpriv")
        .args([
            &format!("--reuid={user}"),
            "--regid=docker",
            "--init-groups",
            bin(),
            "--json",
        ])
        .arg(&json)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    for c in report["checks"].as_array().unwrap() {
        assert_ne!(c["status"], "fail", "{stdout}");
    }
    let nat = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "nat.masquerade[bridge]")
        .unwrap();
    assert_eq!(nat["status"], "skip", "{stdout}");
    assert!(
        nat["message"].as_str().unwrap().contains("needs root"),
        "{stdout}"
    );
    drop(restore);
    assert_no_leftovers();
}

/// Container environment variables and label values are never collected: a container
/// started with secrets in both leaves no trace in a snapshot.
#[test]
fn environment_and_label_values_are_never_collected() {
    let Some(_live) = live() else { return };
    let net = TestNet::new("secrets");
    let name = "netcheck-test-secrets-app";
    let flags = [
        "--network",
        &net.name,
        "--label",
        "netcheck.test=1",
        "--label",
        "vault-token=s3cr3t-label-value-81",
        "--env",
        "DB_PASSWORD=s3cr3t-env-value-42",
    ];
    run_sleeper(name, &flags, &[]);
    let _guard = Restore(vec![vec![
        "docker".into(),
        "rm".into(),
        "-f".into(),
        name.into(),
    ]]);
    let dir = tempdir();
    let text = collect_to(&dir.path().join("snap.json"), &["--network", &net.name]);
    assert!(text.contains(name), "the container was not observed at all");
    for secret in [
        "s3cr3t-env-value-42",
        "s3cr3t-label-value-81",
        "DB_PASSWORD",
        "vault-token",
    ] {
        assert!(!text.contains(secret), "the snapshot holds {secret}");
    }
}

/// Every socket netcheck listens on is bound to a specific address, never a wildcard.
#[test]
fn listeners_never_bind_a_wildcard() {
    let Some(_live) = live() else { return };
    let running = spawn(STALLED_PROBE);
    wait_for_probe(running.id(), Duration::from_secs(30));
    let pid = running.id();
    // Sockets in netcheck's own (host) namespace; the outside peer's lives in its own.
    let listening = sh(&["ss", "-Hltnp"]);
    let ours: Vec<&str> = listening
        .lines()
        .filter(|l| l.contains(&format!("pid={pid},")))
        .collect();
    assert!(!ours.is_empty(), "netcheck listens on nothing: {listening}");
    for line in &ours {
        let local = line.split_whitespace().nth(3).unwrap_or("");
        assert!(
            !local.starts_with("0.0.0.0:")
                && !local.starts_with("*:")
                && !local.starts_with("[::]:"),
            "wildcard listener: {line}"
        );
    }
    let _ = running.wait_with_output();
    assert_no_leftovers();
}

/// 25 user networks with a container each, under a shell's 1024 open files (hard, so
/// netcheck cannot raise it) and under 256: no result errors for lack of descriptors,
/// and under 256, where fewer connections fit at once, bridge.icc's evidence says so.
#[test]
fn many_networks_under_a_low_open_file_limit_never_error() {
    let Some(_live) = live() else { return };
    let mut nets: Vec<TestNet> = (0..25)
        .map(|i| {
            let subnet = format!("10.231.{i}.0/24");
            TestNet::named(&format!("netcheck-test-fd{i}"), &["--subnet", &subnet])
        })
        .collect();
    for n in &mut nets {
        n.sleeper("app");
    }
    for limit in ["1024", "256"] {
        let dir = tempdir();
        let json = dir.path().join("r.json");
        let mut args = vec![format!("--nofile={limit}:{limit}"), bin().to_string()];
        for n in &nets {
            args.extend(["--network".to_string(), n.name.clone()]);
        }
        args.extend(["bridge.icc".to_string(), "--json".into()]);
        args.push(json.display().to_string());
        let out = Command::new("prlimit")
            .args(&args)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "nofile {limit}:\n{stdout}");
        assert!(!stdout.contains("Too many open files"), "{stdout}");
        let evidence = report["checks"].to_string();
        if limit == "256" {
            assert!(evidence.contains("at a time"), "nofile 256: {stdout}");
        }
    }
    drop(nets);
    assert_no_leftovers();
}

/// 150 containers on one network under 128 open files: the container inspects and the
/// namespace reads are made as many at a time as the limit leaves room for, so no
/// result errors. Before, every one was in flight at once, each holding descriptors.
#[test]
fn many_containers_under_a_low_open_file_limit_never_error() {
    let Some(_live) = live() else { return };
    let mut net = TestNet::named("netcheck-test-many", &["--subnet", "10.232.0.0/22"]);
    net.sleepers(150);
    let dir = tempdir();
    let json = dir.path().join("r.json");
    let out = Command::new("prlimit")
        .args(["--nofile=128:128", bin(), "--network", &net.name, "--json"])
        .arg(&json)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("Too many open files"), "{stdout}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["summary"]["errors"], 0, "{stdout}");
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    drop(net);
    assert_no_leftovers();
}
