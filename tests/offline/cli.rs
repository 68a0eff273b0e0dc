//! Bad input gets a clear error and exit code 2, never a panic or a silent pass. These
//! need no daemon: an unreachable engine is simulated with DOCKER_HOST.

use crate::common;

use std::process::Command;

use common::*;

crate::trials!(
    unknown_check_ids_are_errors,
    explain_and_list_print_the_registry,
    help_documents_exit_codes,
    malformed_suite_names_file_and_line,
    malformed_snapshots_are_errors,
    analyze_judges_a_fixture_offline,
    missing_socket,
    stopped_daemon,
    closed_tcp_port,
    unsupported_docker_host,
    unusable_tls_files_are_named,
    socket_permission_denied,
    link_mtu_expect_param_judges_a_fixture,
    engine_flags_pick_the_engine_as_the_docker_cli_does,
    the_missing_socket_hint_names_what_chose_the_socket,
    a_mistyped_id_gets_a_did_you_mean,
    serve_flags_are_checked_before_serving,
    a_failing_run_ends_with_the_recap
);

fn unknown_check_ids_are_errors() {
    assert_error(&netcheck(&["--exact", "nat"]), "unknown check id `nat`");
    assert_error(
        &netcheck(&["--exact", "--skip", "bridge.vet", "bridge.veth"]),
        "unknown check id `bridge.vet`",
    );
    assert_error(&netcheck(&["no-such-check"]), "no check matches");
    assert_error(
        &netcheck_plain(&["explain", "nope"]),
        "unknown check id `nope`",
    );
}

fn explain_and_list_print_the_registry() {
    let run = netcheck_plain(&["explain", "bridge.veth"]);
    assert_eq!(run.code, 0, "{}", run.explain());
    assert!(
        run.stdout.starts_with("bridge.veth: ") && run.stdout.contains("nomaster"),
        "{}",
        run.stdout
    );
    let run = netcheck(&["--list", "bridge"]);
    assert_eq!(run.code, 0);
    let ids: Vec<&str> = run
        .stdout
        .lines()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(ids, ["bridge.subnet", "bridge.veth", "bridge.icc"]);
}

fn help_documents_exit_codes() {
    let run = netcheck_plain(&["--help"]);
    for code in ["0 ", "1 ", "2 ", "130"] {
        assert!(
            run.stdout.contains(&format!("  {code}")),
            "exit code {code} undocumented:\n{}",
            run.stdout
        );
    }
    assert_eq!(
        netcheck(&["--timeout", "soon"]).code,
        2,
        "clap usage errors exit 2"
    );
}

fn malformed_suite_names_file_and_line() {
    let dir = tempdir();
    let suite = dir.path().join("ours.toml");
    std::fs::write(
        &suite,
        "name = \"ours\"\n[[check]]\nid = \"bridge.veth\"\ngate = maybe\n",
    )
    .unwrap();
    assert_error(
        &netcheck(&["--suite", suite.to_str().unwrap(), "--list"]),
        "ours.toml:4:8: ",
    );
    std::fs::write(
        &suite,
        "name = \"ours\"\n[[check]]\nid = \"bridge.vethh\"\n",
    )
    .unwrap();
    assert_error(
        &netcheck(&["--suite", suite.to_str().unwrap(), "--list"]),
        "unknown check id `bridge.vethh`",
    );
    assert_error(
        &netcheck(&["--suite", "/nonexistent/suite.toml"]),
        "/nonexistent/suite.toml",
    );
}

fn malformed_snapshots_are_errors() {
    let dir = tempdir();
    let path = dir.path().join("snap.json");
    let p = path.to_str().unwrap();
    std::fs::write(&path, "{\"schema\": \"netcheck-snapshot/v1\", \"docker\": ").unwrap();
    assert_error(&netcheck(&["analyze", p]), "snap.json");
    std::fs::write(&path, "{\"schema\": \"netcheck-snapshot/v9\"}").unwrap();
    assert_error(
        &netcheck(&["analyze", p]),
        "`netcheck-snapshot/v9` is not supported",
    );
    std::fs::write(&path, "[1, 2]").unwrap();
    assert_error(&netcheck(&["analyze", p]), "not a snapshot");
    let healthy = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/healthy-default-bridge.json"
    );
    let mut snap: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(healthy).unwrap()).unwrap();
    snap["docker"]["value"]["networks"] = serde_json::json!("not a list");
    std::fs::write(&path, snap.to_string()).unwrap();
    assert_error(&netcheck(&["analyze", p]), "line 1 column");
}

fn analyze_judges_a_fixture_offline() {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/fault-bridge.veth-nomaster.json"
    );
    // No daemon is needed: point DOCKER_HOST nowhere to prove it.
    let run = netcheck_env(
        &["analyze", fixture],
        &[("DOCKER_HOST", "unix:///nonexistent.sock")],
    );
    assert_eq!(run.code, 1, "{}", run.explain());
    assert_eq!(run.status("bridge.veth"), "fail");
    assert_eq!(run.status("bridge.subnet"), "pass");
}

/// The requested reports are written even when netcheck cannot run, so a CI job shows
/// the cause as an errored testcase.
fn unreachable(docker_host: &str, needle: &str) {
    let dir = tempdir();
    let junit = dir.path().join("junit.xml");
    let run = netcheck_env(
        &["--junit", junit.to_str().unwrap()],
        &[("DOCKER_HOST", docker_host)],
    );
    assert_error(&run, needle);
    assert!(
        run.stderr.contains("fix: "),
        "no fix given:\n{}",
        run.explain()
    );
    let report = run.report.as_ref().expect("a JSON report even on error");
    assert_eq!(report["checks"][0]["status"], "error");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("<error ") && xml.contains(needle.split(' ').next().unwrap()),
        "{xml}"
    );
}

fn missing_socket() {
    unreachable("unix:///nonexistent/docker.sock", "does not exist");
}

fn stopped_daemon() {
    // A socket file nobody listens on: what a stopped dockerd leaves behind.
    let dir = tempdir();
    let sock = dir.path().join("docker.sock");
    drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
    unreachable(
        &format!("unix://{}", sock.display()),
        "no Docker daemon answers",
    );
}

fn closed_tcp_port() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    unreachable(
        &format!("tcp://127.0.0.1:{port}"),
        "no Docker daemon answers",
    );
}

fn unsupported_docker_host() {
    unreachable("bogus://somewhere", "cannot use the engine endpoint");
}

/// TLS files that are not what they should be are named before anything is sent: a
/// CA that holds no certificate, and half a client pair.
fn unusable_tls_files_are_named() {
    let dir = tempdir();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, "not a certificate\n").unwrap();
    // An address in the benchmarking range, where nothing answers: the files are checked
    // before any connection is made.
    let host = "tcp://198.18.0.9:2376";
    let run = netcheck_env(
        &["--tlsverify", "--tlscacert", ca.to_str().unwrap()],
        &[("DOCKER_HOST", host)],
    );
    assert_error(&run, "holds no PEM certificate");
    assert!(
        run.stderr.contains(ca.to_str().unwrap()),
        "{}",
        run.explain()
    );
    assert!(run.stderr.contains("fix: "), "{}", run.explain());

    let certs = dir.path().join("certs");
    std::fs::create_dir(&certs).unwrap();
    std::fs::write(certs.join("cert.pem"), "").unwrap();
    let run = netcheck_env(
        &[],
        &[
            ("DOCKER_HOST", host),
            ("DOCKER_TLS_VERIFY", "1"),
            ("DOCKER_CERT_PATH", certs.to_str().unwrap()),
        ],
    );
    assert_error(&run, "cannot be used");
    assert!(run.stderr.contains("ca.pem"), "{}", run.explain());
}

fn socket_permission_denied() {
    if !nix::unistd::geteuid().is_root() {
        return eprintln!("skipping: needs root to run as another user");
    }
    // A socket only root may use, and netcheck running as nobody.
    let dir = tempdir();
    let sock = dir.path().join("docker.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    std::fs::set_permissions(&sock, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let out = Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", bin()])
        .env("DOCKER_HOST", format!("unix://{}", sock.display()))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("permission denied on the Docker socket"),
        "{stderr}"
    );
    assert!(stderr.contains("docker group"), "{stderr}");
}

/// `link.mtu`'s `expect` replaces the comparison with the uplink: exactly that MTU.
fn link_mtu_expect_param_judges_a_fixture() {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/healthy-default-bridge.json"
    );
    let dir = tempdir();
    for (mtu, status) in [(1400, "pass"), (1500, "fail")] {
        let suite = dir.path().join(format!("mtu-{mtu}.toml"));
        std::fs::write(
            &suite,
            format!(
                "name = \"mtu\"\n[[check]]\nid = \"link.mtu\"\nparams = {{ expect = {mtu} }}\n"
            ),
        )
        .unwrap();
        let run = netcheck(&["analyze", fixture, "--suite", suite.to_str().unwrap()]);
        assert_eq!(run.status("link.mtu"), status, "{}", run.explain());
        if status == "fail" {
            assert!(
                run.message("link.mtu").contains("the suite expects 1500"),
                "{}",
                run.explain()
            );
        }
    }
}

/// The engine is picked as the docker CLI picks it: `--context` names a stored context
/// (its endpoint is the one tried), `-H` beats DOCKER_HOST, and both together are refused.
fn engine_flags_pick_the_engine_as_the_docker_cli_does() {
    let dir = tempdir();
    let name = "netcheck-test-ctx";
    let hash: String = {
        use sha2::Digest;
        sha2::Sha256::digest(name.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    let meta = dir.path().join("contexts/meta").join(hash);
    std::fs::create_dir_all(&meta).unwrap();
    std::fs::write(
        meta.join("meta.json"),
        format!(
            r#"{{"Name":"{name}","Metadata":{{}},"Endpoints":{{"docker":{{"Host":"unix:///nonexistent-ctx.sock","SkipTLSVerify":false}}}}}}"#
        ),
    )
    .unwrap();
    let config = dir.path().to_str().unwrap();
    // Through the context flag, and through config.json's currentContext.
    let run = netcheck_env(&["--config", config, "--context", name], &[]);
    assert_error(&run, "/nonexistent-ctx.sock");
    std::fs::write(
        dir.path().join("config.json"),
        format!(r#"{{"currentContext":"{name}"}}"#),
    )
    .unwrap();
    let run = netcheck_env(&[], &[("DOCKER_CONFIG", config)]);
    assert_error(&run, "/nonexistent-ctx.sock");
    // DOCKER_HOST beats the current context; -H beats DOCKER_HOST.
    let run = netcheck_env(
        &[],
        &[
            ("DOCKER_CONFIG", config),
            ("DOCKER_HOST", "unix:///nonexistent-env.sock"),
        ],
    );
    assert_error(&run, "/nonexistent-env.sock");
    let run = netcheck_env(
        &["-H", "unix:///nonexistent-flag.sock"],
        &[("DOCKER_HOST", "unix:///nonexistent-env.sock")],
    );
    assert_error(&run, "/nonexistent-flag.sock");
    let run = netcheck_env(&["-H", "unix:///x.sock", "-c", name], &[]);
    assert_error(&run, "either --host or --context");
}

fn the_missing_socket_hint_names_what_chose_the_socket() {
    let by_flag = netcheck(&["-H", "unix:///nonexistent/docker.sock"]);
    assert_error(&by_flag, "-H/--host names it");
    assert!(
        !by_flag.stderr.contains("DOCKER_HOST"),
        "{}",
        by_flag.explain()
    );
    let by_env = netcheck_env(&[], &[("DOCKER_HOST", "unix:///nonexistent/docker.sock")]);
    assert_error(&by_env, "DOCKER_HOST names it");
    // A context: the hint names it, and how to pick another.
    let config = tempdir();
    let name = "gone";
    let digest = {
        use sha2::Digest;
        use std::fmt::Write;
        sha2::Sha256::digest(name.as_bytes())
            .iter()
            .fold(String::new(), |mut s, b| {
                let _ = write!(s, "{b:02x}");
                s
            })
    };
    let meta = config.path().join("contexts/meta").join(digest);
    std::fs::create_dir_all(&meta).unwrap();
    std::fs::write(
        meta.join("meta.json"),
        r#"{"Name":"gone","Metadata":{},"Endpoints":{"docker":{"Host":"unix:///nonexistent/ctx.sock"}}}"#,
    )
    .unwrap();
    let by_context = netcheck_env(
        &[
            "--config",
            config.path().to_str().unwrap(),
            "--context",
            name,
        ],
        &[],
    );
    assert_error(&by_context, "the context `gone` (chosen by --context)");
}

fn a_mistyped_id_gets_a_did_you_mean() {
    assert_error(
        &netcheck_plain(&["explain", "mtu"]),
        "unknown check id `mtu`: did you mean `link.mtu`?",
    );
    assert_error(
        &netcheck(&["--exact", "kernel.ip-froward"]),
        "did you mean `kernel.ip-forward`?",
    );
}

fn serve_flags_are_checked_before_serving() {
    for (args, needle) in [
        (&["serve", "--list"][..], "`--list` means nothing to serve"),
        (&["serve", "-q"], "means nothing to serve"),
        (&["serve", "--format", "github"], "means nothing to serve"),
        (&["serve", "--interval", "1e20"], "is not an interval"),
        (&["serve", "--interval", "0.5"], "is not an interval"),
        (&["serve", "--interval", "0"], "from 1s to 1 day"),
        (&["serve", "--interval", "2d"], "from 1s to 1 day"),
        (
            &["serve", "--interval", "99999999999999999999999h"],
            "is not an interval",
        ),
        (&["serve", "--timeout", "99999999999999999999"], "--timeout"),
        (&["serve", "--timeout", "18446744073709551615"], "--timeout"),
        (
            &["serve", "--probe-timeout-ms", "18446744073709551615"],
            "--probe-timeout-ms",
        ),
        (&["serve", "--listen", "nowhere"], "--listen"),
    ] {
        let run = netcheck_plain(args);
        assert_error(&run, needle);
    }
    // Units are taken: a bad listen address after a good interval fails on the address.
    assert_error(
        &netcheck_plain(&["serve", "--interval", "5m", "--listen", "x"]),
        "--listen",
    );
    let help = netcheck_plain(&["serve", "--help"]);
    assert!(help.stdout.contains("30s, 5m, 1h"), "{}", help.stdout);
    assert!(!help.stdout.contains("--list "), "{}", help.stdout);
}

fn a_failing_run_ends_with_the_recap() {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/fault-bridge.veth-nomaster.json"
    );
    let run = netcheck_plain(&["analyze", fixture]);
    assert_eq!(run.code, 1, "{}", run.explain());
    let lines: Vec<&str> = run.stdout.lines().collect();
    let recap = lines
        .iter()
        .rposition(|l| *l == "to fix:")
        .unwrap_or_else(|| panic!("no recap:\n{}", run.stdout));
    let summary = lines.last().unwrap();
    assert!(summary.contains(" failed"), "{}", run.stdout);
    let recapped = &lines[recap + 1..lines.len() - 1];
    assert!(!recapped.is_empty(), "{}", run.stdout);
    for line in recapped {
        let words: Vec<&str> = line.split_whitespace().collect();
        assert!(
            matches!(words[0], "FAIL" | "WARN" | "ERROR"),
            "{line}\n{}",
            run.stdout
        );
        // The id, then its fix, which the list above gave in full.
        let id = words[1];
        let fix = line.split_once(id).unwrap().1.trim();
        assert!(
            run.stdout.matches(fix).count() >= 2,
            "{fix}\n{}",
            run.stdout
        );
    }
    assert!(
        recapped.iter().any(|l| l.contains("bridge.veth")),
        "{}",
        run.stdout
    );
    // A healthy host has nothing to recap.
    let healthy = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/healthy-default-bridge.json"
    );
    let run = netcheck_plain(&["analyze", healthy]);
    assert_eq!(run.code, 0, "{}", run.explain());
    assert!(!run.stdout.contains("to fix:"), "{}", run.stdout);
}
