//! Podman's Docker-compatible API (issue #25), as a fake engine on a unix socket answers
//! it: what netcheck recognises of it, and the bridge names its own API gives. No root,
//! no daemon needed.

use crate::common;

use common::fake_engine::{Answer, FakeEngine};
use common::*;

crate::trials!(a_podman_engine_is_named_in_the_reports);

/// Podman's Docker-compatible API names itself in `/version`'s Components: the snapshot
/// records the product, and the reports' headers say Podman, not Docker.
fn a_podman_engine_is_named_in_the_reports() {
    let engine = FakeEngine::docker("app-net", "app");
    engine.answer(
        "GET",
        "/version",
        Answer::Json(
            200,
            serde_json::json!({
                "Version": "4.3.1", "ApiVersion": "1.41", "MinAPIVersion": "1.24",
                "Os": "linux", "Arch": "amd64",
                "Components": [{"Name": "Podman Engine", "Version": "4.3.1"}]
            })
            .to_string(),
        ),
    );
    // Its own API names the network's bridge (podman0, podman1, ...), which its
    // compatible one leaves out.
    engine.answer(
        "GET",
        "/v4.0.0/libpod/networks/json",
        Answer::Json(
            200,
            serde_json::json!([{
                "name": "app-net", "id": common::fake_engine::NET_ID, "driver": "bridge",
                "network_interface": "podman3"
            }])
            .to_string(),
        ),
    );
    let dir = tempdir();
    let snapshot = dir.path().join("snapshot.json");
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
    let snap: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&snapshot).expect("a snapshot")).unwrap();
    assert_eq!(
        snap["docker"]["value"]["engine"]["product"], "Podman",
        "{snap}"
    );
    assert_eq!(
        snap["docker"]["value"]["networks"][0]["bridge"], "podman3",
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
