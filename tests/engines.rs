//! Engines that lie: a fake Docker API on a unix socket made by each test, answering
//! what a broken, hostile, old or foreign engine would. No root, no daemon needed.

mod common;

use common::fake_engine::{Answer, FakeEngine, NET_ID};
use common::*;

fn against(engine: &FakeEngine, args: &[&str]) -> Run {
    netcheck_env(args, &[("DOCKER_HOST", &engine.docker_host())])
}

/// Every exit 2 names its cause and a fix on stderr, under each line that says why.
fn assert_exit_2_with_fix(run: &Run, cause: &str, fix: &str) {
    assert_eq!(run.code, 2, "{}", run.explain());
    let lines: Vec<&str> = run.stderr.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("error: ") && l.contains(cause))
        .unwrap_or_else(|| panic!("no error line with {cause:?}:\n{}", run.explain()));
    let next = lines.get(at + 1).copied().unwrap_or("");
    assert!(
        next.trim_start().starts_with("fix: ") && next.contains(fix),
        "no fix with {fix:?} under the cause:\n{}",
        run.explain()
    );
    for (i, l) in lines.iter().enumerate() {
        if l.starts_with("error: ") {
            assert!(
                lines
                    .get(i + 1)
                    .is_some_and(|n| n.trim_start().starts_with("fix: ")),
                "an error without a fix:\n{}",
                run.explain()
            );
        }
    }
}

#[test]
fn a_probe_that_exits_at_once_is_an_exit_2_with_a_fix() {
    let engine = FakeEngine::docker("app-net", "app");
    let run = against(&engine, &[]);
    assert_exit_2_with_fix(
        &run,
        "the probe exited without a report",
        "journalctl -u docker",
    );
    assert_eq!(run.status("port.publish"), "error", "{}", run.explain());
    // The probe it made is removed all the same.
    let requests = engine.requests.lock().unwrap();
    assert!(
        requests
            .iter()
            .any(|r| r.starts_with("DELETE /containers/netcheck-probe-")),
        "{requests:?}"
    );
}

#[test]
fn an_engine_that_refuses_the_probe_is_an_exit_2_with_a_fix() {
    let engine = FakeEngine::docker("app-net", "app");
    engine.answer(
        "POST",
        "/containers/create",
        Answer::Json(500, r#"{"message":"no space left on device"}"#.into()),
    );
    let run = against(&engine, &[]);
    assert_exit_2_with_fix(
        &run,
        "creating the probe container: Docker responded with status code 500: no space left on device",
        "journalctl -u docker",
    );
}

#[test]
fn a_network_without_ipam_is_an_exit_2_with_a_fix() {
    let engine = FakeEngine::docker("app-net", "app");
    engine.answer(
        "GET",
        &format!("/networks/{NET_ID}"),
        Answer::Json(
            200,
            serde_json::json!({"Id": NET_ID, "Name": "app-net", "Driver": "bridge",
                "Options": {"com.docker.network.bridge.name": "nc-fake0"}})
            .to_string(),
        ),
    );
    let run = against(&engine, &["--network", "app-net"]);
    assert_eq!(run.status("bridge.subnet"), "fail", "{}", run.explain());
    assert_exit_2_with_fix(
        &run,
        "network app-net has no IPv4 subnet",
        "follow bridge.subnet's fix",
    );
}
