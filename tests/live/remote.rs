//! netcheck against a second engine in namespaces of its own, reached over TLS, SSH and
//! a docker context (tests/common/remote_engine.rs), with and without the host agent.
//!
//! One test starts the engine once (about 3 s) and runs every case against it, so that
//! its Drop removes it at the end whatever fails.

use crate::common;

mod faults;

use std::process::Command;
use std::time::{Duration, Instant};

use common::remote_engine::{CONTEXT, RemoteEngine};
use common::*;

/// How each transport reaches the second engine: netcheck's arguments and environment.
struct Transport {
    name: &'static str,
    args: Vec<String>,
    env: Vec<(&'static str, String)>,
}

fn transports(engine: &RemoteEngine) -> Vec<Transport> {
    let path = format!(
        "{}:{}",
        engine.ssh_bin().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    vec![
        Transport {
            name: "tls",
            args: vec!["-H".into(), engine.tcp()],
            env: vec![
                ("DOCKER_TLS_VERIFY", "1".into()),
                ("DOCKER_CERT_PATH", engine.certs().display().to_string()),
            ],
        },
        Transport {
            name: "ssh",
            args: vec!["-H".into(), engine.ssh()],
            env: vec![("PATH", path)],
        },
        Transport {
            name: "context",
            args: vec![
                "--config".into(),
                engine.docker_config().display().to_string(),
                "--context".into(),
                CONTEXT.into(),
            ],
            env: vec![],
        },
    ]
}

fn over(t: &Transport, extra: &[&str]) -> Run {
    let t0 = Instant::now();
    let run = over_timed(t, extra);
    eprintln!("{} {extra:?}: {:.1} s", t.name, t0.elapsed().as_secs_f64());
    run
}

fn over_timed(t: &Transport, extra: &[&str]) -> Run {
    let mut args: Vec<&str> = t.args.iter().map(String::as_str).collect();
    args.extend_from_slice(extra);
    let env: Vec<(&str, &str)> = t.env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    netcheck_env(&args, &env)
}

fn assert_clean(engine: &RemoteEngine) {
    let left = engine.leftovers();
    assert!(left.is_empty(), "left on the second engine: {left:?}");
}

/// Whether a result was skipped because the engine is remote.
fn skipped_for_remote(r: &serde_json::Value) -> bool {
    r["status"] == "skip"
        && r["message"]
            .as_str()
            .is_some_and(|m| m.contains("remote") || m.contains("agent"))
}

#[test]
fn remote_engine_over_tls_ssh_and_a_context() {
    let Some(_lock) = live() else { return };
    let engine = RemoteEngine::start();
    let all = transports(&engine);

    // With --agent, every check passes on each transport, and none is skipped for being
    // remote; the report names the engine and the agent.
    for t in &all {
        let run = over(t, &["--agent"]);
        eprintln!(
            "{} --agent: {}",
            t.name,
            run.stdout.lines().last().unwrap_or("")
        );
        assert_eq!(run.code, 0, "{}: {}", t.name, run.explain());
        for r in run.results() {
            assert!(fine(r), "{}: {}: {}", t.name, r["id"], run.explain());
            assert!(!skipped_for_remote(r), "{}: {}", t.name, run.explain());
        }
        // The report names the engine, how it was reached, and the agent.
        let e = &run.report.as_ref().unwrap()["engine"];
        assert_eq!(e["agent"], true, "{}: {e}", t.name);
        let (transport, endpoint) = match t.name {
            "ssh" => ("ssh", engine.ssh()),
            _ => ("tls", engine.tcp()),
        };
        assert_eq!(e["transport"], transport, "{e}");
        assert_eq!(e["endpoint"], endpoint.as_str(), "{e}");
        if t.name == "context" {
            assert_eq!(e["context"], CONTEXT, "{e}");
        }
        assert!(run.stdout.contains("engine: "), "{}", run.explain());
        assert_clean(&engine);
    }

    // --redact hides the endpoint in every format.
    let dir = tempdir();
    let (junit, md) = (dir.path().join("r.xml"), dir.path().join("r.md"));
    let run = over(
        &all[0],
        &[
            "--agent",
            "--redact",
            "--junit",
            junit.to_str().unwrap(),
            "--markdown",
            md.to_str().unwrap(),
        ],
    );
    assert_eq!(
        run.report.as_ref().unwrap()["engine"]["endpoint"],
        "tcp://redacted"
    );
    for text in [
        run.stdout.clone(),
        std::fs::read_to_string(&junit).unwrap(),
        std::fs::read_to_string(&md).unwrap(),
    ] {
        assert!(text.contains("tcp://redacted"), "{text}");
        assert!(!text.contains(common::remote_engine::ADDR), "{text}");
    }

    // Without --agent, the host-side checks skip, and their reasons name --agent.
    let tls = &all[0];
    let run = over(tls, &[]);
    assert_eq!(run.code, 0, "{}", run.explain());
    let skipped: Vec<_> = run
        .results()
        .iter()
        .filter(|r| r["status"] == "skip")
        .collect();
    assert!(skipped.len() >= 5, "{}", run.explain());
    for r in &skipped {
        assert!(
            r["message"].as_str().unwrap().contains("--agent"),
            "{}",
            run.explain()
        );
    }
    assert_clean(&engine);

    faults::faults_inside_the_engine_are_caught(&engine, tls);
    resolvers_of_the_engines_own_cover_a_host_without_any(&engine, tls);
    interrupts_leave_nothing(&engine, tls);
    the_users_own_engine_in_another_namespace(&engine);
    assert_clean(&engine);
}

/// A host whose /etc/resolv.conf names no nameserver is no fault where the engine names
/// resolvers of its own (the second engine's daemon.json has `"dns"`): its containers
/// get those. Without them it fails (tests/live/causes.rs).
fn resolvers_of_the_engines_own_cover_a_host_without_any(engine: &RemoteEngine, t: &Transport) {
    let file = engine.dir.path().join("resolv.conf");
    let before = std::fs::read_to_string(&file).unwrap();
    // Written in place: the engine's /etc/resolv.conf is a bind mount of this inode.
    std::fs::write(&file, "# emptied by the test\n").unwrap();
    let run = over(t, &["--agent", "dns.resolver"]);
    std::fs::write(&file, before).unwrap();
    assert_eq!(
        run.status("dns.resolver[bridge]"),
        "pass",
        "{}",
        run.explain()
    );
    let evidence = run.check("dns.resolver[bridge]")["evidence"].to_string();
    assert!(
        evidence
            .contains("names no nameserver, but the engine gives containers resolvers of its own"),
        "{}",
        run.explain()
    );
    assert_clean(engine);
}

/// SIGINT mid-run, and SIGKILL (the agent then ends by itself when its attach stream
/// does): nothing stays on the engine or in its namespace.
fn interrupts_leave_nothing(engine: &RemoteEngine, t: &Transport) {
    for signal in ["INT", "KILL"] {
        let mut cmd = Command::new(bin());
        cmd.args(&t.args).arg("--agent");
        for (k, v) in &t.env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Wait for the agent's own probe container: the deepest point of a run.
        let t0 = Instant::now();
        loop {
            let names = engine.docker(&["ps", "-a", "--format", "{{.Names}}"]);
            if names.contains("netcheck-probe-") {
                break;
            }
            assert!(t0.elapsed() < Duration::from_secs(20), "no probe appeared");
            std::thread::sleep(Duration::from_millis(50));
        }
        sh(&["kill", &format!("-{signal}"), &child.id().to_string()]);
        let status = child.wait().unwrap();
        if signal == "INT" {
            assert_eq!(status.code(), Some(130));
            assert_clean(engine);
        } else {
            let t0 = Instant::now();
            while !engine.leftovers().is_empty() && t0.elapsed() < Duration::from_secs(20) {
                std::thread::sleep(Duration::from_millis(200));
            }
            assert_clean(engine);
        }
    }
}

/// The engine's own socket, reached from this machine: an engine that is the user's own
/// but lives in another network namespace (as rootless Docker or Docker Desktop). The
/// agent starts by itself, with a notice; --no-agent refuses it and the reasons say so.
fn the_users_own_engine_in_another_namespace(engine: &RemoteEngine) {
    let host = format!("unix://{}", engine.socket().display());
    let run = netcheck(&["-H", &host]);
    assert_eq!(run.code, 0, "{}", run.explain());
    assert!(
        run.stderr.contains("--no-agent refuses"),
        "{}",
        run.explain()
    );
    for r in run.results() {
        assert!(fine(r), "{}", run.explain());
    }
    let run = netcheck(&["-H", &host, "--no-agent"]);
    assert_eq!(run.code, 0, "{}", run.explain());
    assert!(
        run.message("kernel.ip-forward")
            .contains("--no-agent refused"),
        "{}",
        run.explain()
    );
    assert_clean(engine);
}

/// For working by hand and for `bench/run --remote`: starts the second engine and keeps
/// it until /tmp/netcheck-test-remote-hold is removed (cargo test --test live remote::hold --
/// --ignored). The file holds the environment that reaches it over TLS, for `.`.
#[test]
#[ignore]
fn hold() {
    let Some(_lock) = live() else { return };
    let engine = RemoteEngine::start();
    std::fs::write(
        "/tmp/netcheck-test-remote-hold",
        format!(
            "DOCKER_HOST={}\nDOCKER_TLS_VERIFY=1\nDOCKER_CERT_PATH={}\n",
            engine.tcp(),
            engine.certs().display()
        ),
    )
    .unwrap();
    while std::path::Path::new("/tmp/netcheck-test-remote-hold").exists() {
        std::thread::sleep(Duration::from_millis(200));
    }
}
