//! Hostile hosts, interruptions, concurrency and least privilege. Live tests (root and a
//! daemon) run one at a time; each leaves the host as it found it.

use crate::common;

use std::process::{Command, Stdio};

use common::*;
use nix::unistd::Pid;

crate::trials!(
    tls_settings_are_honoured_not_ignored,
    report_paths_never_follow_symlinks,
    huge_hosts_stay_bounded_in_memory
);

/// Engines configured for TLS are spoken to in TLS or not at all: never in plain HTTP.
/// A CA that is not there is named; TLS without verification is refused.
fn tls_settings_are_honoured_not_ignored() {
    let dir = tempdir();
    let config = dir.path().to_string_lossy().into_owned();
    let run = netcheck_env(
        &[],
        &[
            ("DOCKER_HOST", "tcp://127.0.0.1:2376"),
            ("DOCKER_TLS_VERIFY", "1"),
            ("DOCKER_CONFIG", &config),
        ],
    );
    assert_eq!(run.code, 2, "{}", run.explain());
    assert!(
        run.stderr.contains(&format!(
            "TLS file {config}/ca.pem cannot be used: No such file"
        )),
        "{}",
        run.explain()
    );
    assert_eq!(run.report.as_ref().unwrap()["checks"][0]["status"], "error");
    let run = netcheck_env(&["--tls", "-H", "tcp://127.0.0.1:2376"], &[]);
    assert_eq!(run.code, 2, "{}", run.explain());
    assert!(
        run.stderr.contains("netcheck always verifies it"),
        "{}",
        run.explain()
    );
}

/// A report path that is a symlink is replaced, never followed: the file it pointed to
/// is untouched.
fn report_paths_never_follow_symlinks() {
    let dir = tempdir();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "precious").unwrap();
    let link = dir.path().join("report.json");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/healthy-default-bridge.json"
    );
    let out = Command::new(bin())
        .args(["analyze", fixture, "--junit"])
        .arg(&link)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert!(
        !std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

/// A huge host (hundreds of networks, thousands of containers) stays bounded in memory.
fn huge_hosts_stay_bounded_in_memory() {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/healthy-user-network-and-bridge.json"
    );
    let mut snap: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap();
    let networks = snap["docker"]["value"]["networks"]
        .as_array()
        .unwrap()
        .clone();
    let template = networks
        .iter()
        .find(|n| {
            n["name"] != "bridge"
                && n["driver"] == "bridge"
                && !n["endpoints"].as_array().unwrap().is_empty()
        })
        .unwrap()
        .clone();
    let mut many = networks;
    for i in 0..400u32 {
        let mut n = template.clone();
        n["name"] = format!("netcheck-huge-{i}").into();
        n["id"] = format!("{i:064x}").into();
        n["ipam"][0]["subnet"] = format!("10.{}.{}.0/24", 100 + i / 256, i % 256).into();
        let ep = n["endpoints"][0].clone();
        n["endpoints"] = (0..10).map(|_| ep.clone()).collect::<Vec<_>>().into();
        many.push(n);
    }
    snap["docker"]["value"]["networks"] = many.into();
    let dir = tempdir();
    let path = dir.path().join("huge.json");
    std::fs::write(&path, snap.to_string()).unwrap();
    let p = |n: &str| dir.path().join(n).display().to_string();
    let args = [
        "analyze",
        path.to_str().unwrap(),
        "--json",
        &p("r.json"),
        "--junit",
        &p("r.xml"),
        "--html",
        &p("r.html"),
        "--markdown",
        &p("r.md"),
    ];
    // Reaped by wait4 below, which also gives its peak RSS.
    #[allow(clippy::zombie_processes)]
    let child = Command::new(bin())
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = Pid::from_raw(child.id() as i32);
    let (rss_kb, status) = wait4_rss(pid);
    assert!(status <= 1, "analyze exited {status}");
    assert!(
        rss_kb < 200 * 1024,
        "peak RSS {} MB on a huge host",
        rss_kb / 1024
    );
}

fn wait4_rss(pid: Pid) -> (i64, i32) {
    let mut status = 0;
    let mut usage: nix::libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 writes into the two valid, owned out-parameters.
    let r = unsafe { nix::libc::wait4(pid.as_raw(), &mut status, 0, &mut usage) };
    assert_eq!(r, pid.as_raw());
    (usage.ru_maxrss, nix::libc::WEXITSTATUS(status))
}
