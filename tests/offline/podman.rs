//! Podman's Docker-compatible API (issue #25), as a fake engine on a unix socket answers
//! it: what netcheck recognises of it, and the bridge names its own API gives. No root,
//! no daemon needed.

use crate::common;

use common::fake_engine::{Answer, FakeEngine};
use common::*;

crate::trials!(
    a_podman_engine_is_named_in_the_reports,
    a_rootless_podman_is_not_judged_by_the_hosts_rules
);

/// A fake Podman: its compatible API's `/version`, which names it, and its own API's
/// network list (the bridge's name, podman3) and facts (rootless or not).
fn fake_podman(rootless: bool) -> FakeEngine {
    let engine = FakeEngine::docker("app-net", "app");
    let json = |v: serde_json::Value| Answer::Json(200, v.to_string());
    engine.answer(
        "GET",
        "/version",
        json(serde_json::json!({
            "Version": "4.3.1", "ApiVersion": "1.41", "MinAPIVersion": "1.24",
            "Os": "linux", "Arch": "amd64",
            "Components": [{"Name": "Podman Engine", "Version": "4.3.1"}]
        })),
    );
    // Its own API names the network's bridge (podman0, podman1, ...), which its
    // compatible one leaves out.
    engine.answer(
        "GET",
        "/v4.0.0/libpod/networks/json",
        json(serde_json::json!([{
            "name": "app-net", "id": common::fake_engine::NET_ID, "driver": "bridge",
            "network_interface": "podman3"
        }])),
    );
    engine.answer(
        "GET",
        "/v4.0.0/libpod/info",
        json(serde_json::json!({"host": {
            "security": {"rootless": rootless},
            "remoteSocket": {"path": "unix:///run/user/1001/podman/podman.sock", "exists": true}
        }})),
    );
    engine
}

/// `netcheck collect` of `engine`'s app-net, and the snapshot it wrote.
fn collected(engine: &FakeEngine, dir: &std::path::Path) -> (String, serde_json::Value) {
    let snapshot = dir.join("snapshot.json");
    let snapshot_arg = snapshot.display().to_string();
    let run = netcheck_env(
        &[
            "collect",
            "--no-agent",
            "-o",
            &snapshot_arg,
            "--network",
            "app-net",
        ],
        &[("DOCKER_HOST", &engine.docker_host())],
    );
    assert!(snapshot.exists(), "{}", run.explain());
    let snap = serde_json::from_str(&std::fs::read_to_string(&snapshot).expect("a snapshot"));
    (snapshot_arg, snap.unwrap())
}

/// Podman's Docker-compatible API names itself in `/version`'s Components: the snapshot
/// records the product, and the reports' headers say Podman, not Docker. Its bridges
/// are named as its own API names them.
fn a_podman_engine_is_named_in_the_reports() {
    let engine = fake_podman(false);
    let dir = tempdir();
    let (snapshot_arg, snap) = collected(&engine, dir.path());
    assert_eq!(
        snap["docker"]["value"]["engine"]["product"], "Podman",
        "{snap}"
    );
    assert_eq!(
        snap["docker"]["value"]["networks"][0]["bridge"], "podman3",
        "{snap}"
    );
    assert!(
        snap["docker"]["value"]["engine"].get("rootless").is_none(),
        "{snap}"
    );
    let md = dir.path().join("report.md");
    let md_arg = md.display().to_string();
    let run = netcheck(&["analyze", &snapshot_arg, "--markdown", &md_arg]);
    let md = std::fs::read_to_string(&md).unwrap_or_else(|e| panic!("{e}: {}", run.explain()));
    assert!(md.contains("Podman 4.3.1 (API"), "{md}");
    let report = run.report.as_ref().expect("a JSON report");
    assert_eq!(report["host"]["engine_product"], "Podman");
}

/// A rootless Podman's networks are the user's own namespaces: the host is not observed,
/// the reason says why, and no check judges the host's bridges or rules (none fails).
fn a_rootless_podman_is_not_judged_by_the_hosts_rules() {
    let engine = fake_podman(true);
    let dir = tempdir();
    let (snapshot_arg, snap) = collected(&engine, dir.path());
    assert_eq!(
        snap["docker"]["value"]["engine"]["rootless"], true,
        "{snap}"
    );
    let why = snap["host"]["reason"].as_str().unwrap_or_default();
    assert!(why.contains("the engine is rootless"), "{snap}");
    let md = dir.path().join("report.md");
    let md_arg = md.display().to_string();
    let run = netcheck(&["analyze", &snapshot_arg, "--markdown", &md_arg]);
    let report = run.report.as_ref().expect("a JSON report");
    assert_eq!(report["host"]["engine_rootless"], true, "{report}");
    let md = std::fs::read_to_string(&md).unwrap_or_else(|e| panic!("{e}: {}", run.explain()));
    assert!(md.contains("Podman (rootless) 4.3.1"), "{md}");
    // The host's own checks skip, saying why; the rest judge the engine's view alone.
    for id in [
        "firewall.backend",
        "kernel.ip-forward",
        "firewall.forward[app-net]",
    ] {
        let r = (report["checks"].as_array().expect("checks").iter())
            .find(|r| r["id"] == id)
            .unwrap_or_else(|| panic!("{id}: {report}"));
        assert_eq!(r["status"], "skip", "{r}");
        assert!(r.to_string().contains("the engine is rootless"), "{r}");
    }
    for r in report["checks"].as_array().expect("checks") {
        assert_ne!(r["status"], "fail", "{r}");
    }
}
