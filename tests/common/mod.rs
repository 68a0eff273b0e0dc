//! Shared by both test binaries (tests/offline, tests/live): running netcheck and reading
//! its reports, and the live tests' lock; breaking the host in a guarded way is host.rs.
//!
//! Everything a test creates is named `netcheck-test-*` or labelled `netcheck.test`, and
//! is removed by a guard's Drop, so a failing assertion still restores the host.

#![allow(dead_code)]

pub mod engine_faults;
pub mod engine_verdicts;
pub mod podman_engine;
pub mod podman_verdicts;
pub mod remote_engine;
pub mod test_engine;

pub mod fake_engine;
pub mod host;
pub mod http;

pub use host::*;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard};

use serde_json::Value;

/// Live tests change the host; they run one at a time, within a test binary (the
/// mutex) and across binaries and checkouts on the same host (the file lock), so two
/// `cargo test` runs never break the host under each other.
static SERIAL: Mutex<()> = Mutex::new(());
const HOST_LOCK: &str = "/run/netcheck-live-tests.lock";

/// Held for the whole of a live test: the in-process mutex and the host-wide lock.
pub struct LiveLock {
    _serial: MutexGuard<'static, ()>,
    _host: std::fs::File,
}

fn host_lock() -> std::fs::File {
    use std::os::fd::AsRawFd;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(HOST_LOCK)
        .unwrap_or_else(|e| panic!("{HOST_LOCK}: {e}"));
    // SAFETY: flock on a descriptor this function owns; it blocks until the lock is ours.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
    assert_eq!(
        rc,
        0,
        "flock {HOST_LOCK}: {}",
        std::io::Error::last_os_error()
    );
    file
}

pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false")
}

/// The live lock, or None (the test is skipped) where there is no root or no daemon.
/// Under CI a missing daemon is a failure, never a skip.
pub fn live() -> Option<LiveLock> {
    let root = nix::unistd::geteuid().is_root();
    let daemon = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !(root && daemon) {
        let why = format!(
            "live tests need root and a Docker daemon (root: {root}, daemon answers: {daemon})"
        );
        assert!(!in_ci(), "{why}");
        eprintln!("skipping: {why}");
        return None;
    }
    Some(lock_host())
}

/// The live lock alone, for tests that decided for themselves that they can run (the
/// engines of tests/common/test_engine.rs need no daemon of the machine's own).
pub fn lock_host() -> LiveLock {
    let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    LiveLock {
        _serial: serial,
        _host: host_lock(),
    }
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_netcheck")
}

/// Runs a command that must succeed, and returns its stdout.
pub fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub report: Option<Value>,
}

impl Run {
    pub fn status(&self, id: &str) -> String {
        self.check(id)["status"]
            .as_str()
            .unwrap_or("missing")
            .to_string()
    }

    /// A result by its id (`bridge.veth[my-net]`), or by its check's id alone where that
    /// names one result (a host check, or a run over one network).
    pub fn check(&self, id: &str) -> &Value {
        let exact = self.results().iter().find(|c| c["id"] == id);
        exact.unwrap_or_else(|| {
            let of_check: Vec<&Value> =
                self.results().iter().filter(|c| c["check"] == id).collect();
            match of_check[..] {
                [one] => one,
                [] => panic!("no check {id} in report:\n{}", self.stdout),
                _ => panic!("{id} has one result per network: name one as {id}[NETWORK]"),
            }
        })
    }

    pub fn results(&self) -> &Vec<Value> {
        let report = self.report.as_ref().expect("a JSON report was written");
        report["checks"].as_array().expect("checks[]")
    }

    pub fn message(&self, id: &str) -> String {
        self.check(id)["message"].as_str().unwrap_or("").to_string()
    }

    pub fn explain(&self) -> String {
        format!(
            "exit {}\nstdout:\n{}\nstderr:\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// Runs netcheck with a JSON report, plus `args`.
pub fn netcheck(args: &[&str]) -> Run {
    netcheck_env(args, &[])
}

/// Runs netcheck with `args` alone: for subcommands that write no report.
pub fn netcheck_plain(args: &[&str]) -> Run {
    run(Command::new(bin()).args(args), None)
}

pub fn netcheck_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    let dir = tempdir();
    let json = dir.path().join("report.json");
    let mut cmd = Command::new(bin());
    cmd.args(args).arg("--json").arg(&json);
    for (k, v) in env {
        cmd.env(k, v);
    }
    run(&mut cmd, Some(&json))
}

/// The `run` arguments of a long-lived test container `name` on `network`: the probe
/// image, lingering, read-only and with no capabilities (for `docker` or `podman`).
pub fn lingering<'a>(network: &'a str, name: &'a str, image: &'a str) -> [&'a str; 15] {
    [
        "run",
        "-d",
        "--name",
        name,
        "--label",
        "netcheck.test=1",
        "--network",
        network,
        "--read-only",
        "--cap-drop",
        "ALL",
        image,
        "probe",
        "--linger-secs",
        "900",
    ]
}

/// Whether `tool` is on PATH.
pub fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// netcheck from this machine against the engine at `host`, observing its host with the
/// agent: the test engines' (Docker 28/29, Podman) agent runs.
pub fn agent_run(host: &str, args: &[&str]) -> Run {
    let t0 = std::time::Instant::now();
    let dir = tempdir();
    let json = dir.path().join("report.json");
    let mut cmd = Command::new(bin());
    cmd.args(["-H", host, "--agent", "--json", json.to_str().unwrap()])
        .args(args);
    let run = run(&mut cmd, Some(&json));
    eprintln!("agent run {args:?}: {:.1} s", t0.elapsed().as_secs_f64());
    run
}

/// A finished netcheck `cmd` (NO_COLOR set), with its JSON report at `json` where given.
pub fn run(cmd: &mut Command, json: Option<&Path>) -> Run {
    let out: Output = cmd.env("NO_COLOR", "1").output().unwrap();
    let report = json
        .and_then(|j| std::fs::read_to_string(j).ok())
        .map(|t| serde_json::from_str(&t).expect("the JSON report parses"));
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
        report,
    }
}

/// A finished command's exit code and output, for an assertion message.
pub fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A finished command's stdout, as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// netcheck with `env` set and the colour variables of the caller's environment
/// removed, so that a test decides whether colour is asked for.
pub fn netcheck_with(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(bin());
    cmd.args(args)
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// A docker CLI config directory whose cli-plugins/ holds this build as
/// `docker-netcheck`: the plugin installed for the test alone.
pub fn plugin_dir() -> tempfile::TempDir {
    let dir = tempdir();
    let plugins = dir.path().join("cli-plugins");
    std::fs::create_dir(&plugins).unwrap();
    std::os::unix::fs::symlink(bin(), plugins.join("docker-netcheck")).unwrap();
    dir
}

/// Whether the docker CLI is installed (under CI it must be).
pub fn docker_available() -> bool {
    let ok = Command::new("docker").arg("--version").output().is_ok();
    assert!(ok || !in_ci(), "the docker CLI is missing");
    ok
}

/// The run warns on `warning` alone (its message holds `cause`), everything else is
/// fine, and the exit code is 0: a warning does not gate by default.
pub fn assert_warns_only(run: &Run, warning: &str, cause: &str) {
    assert_eq!(run.code, 0, "{}", run.explain());
    assert_eq!(run.status(warning), "warn", "{}", run.explain());
    let message = run.message(warning);
    assert!(
        message.contains(cause),
        "{warning}: expected {cause:?} in {message:?}"
    );
    for result in run.results().iter().filter(|r| !is(r, warning)) {
        assert!(fine(result), "{}:\n{}", result["id"], run.explain());
    }
}

/// Where the JUnit schema is: $NETCHECK_JUNIT_XSD, else ../shared/schemas beside the repo.
pub fn junit_xsd() -> Option<PathBuf> {
    let path = std::env::var_os("NETCHECK_JUNIT_XSD")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/schemas/junit-10.xsd")
        });
    path.exists().then_some(path)
}

/// Validates a JUnit file against Jenkins' xUnit schema. Where the schema or xmllint is
/// missing it says so and returns, except under CI, where both are required.
pub fn validate_junit(junit: &Path) {
    let Some(xsd) = junit_xsd() else {
        assert!(!in_ci(), "the JUnit XSD is missing: set NETCHECK_JUNIT_XSD");
        return eprintln!("skipping JUnit validation: no XSD (set NETCHECK_JUNIT_XSD)");
    };
    let out = match Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(&xsd)
        .arg(junit)
        .output()
    {
        Ok(o) => o,
        Err(e) if !in_ci() => return eprintln!("skipping JUnit validation: xmllint: {e}"),
        Err(e) => panic!("xmllint is needed under CI: {e}"),
    };
    assert!(
        out.status.success(),
        "JUnit invalid: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---------------------------------------------------------------- verdicts

/// Every built-in check: a healthy run reports each of them.
pub const ALL: [&str; 15] = [
    "bridge.subnet",
    "bridge.veth",
    "container.default-route",
    "nat.masquerade",
    "host.docker-internal",
    "kernel.ip-forward",
    "kernel.br-netfilter",
    "kernel.conntrack",
    "firewall.forward",
    "firewall.backend",
    "link.mtu",
    "port.publish",
    "dns.resolver",
    "bridge.icc",
    "daemon.warnings",
];

/// Whether a result names `id`: its own id (`bridge.veth[net]`) or its check's.
pub fn is(result: &serde_json::Value, id: &str) -> bool {
    result["id"] == id || result["check"] == id
}

/// Nothing wrong: a pass, or bridge.icc's skip on a network with no container besides
/// the probe (nothing to connect from), which fault tests on bare networks meet.
pub fn fine(result: &serde_json::Value) -> bool {
    result["status"] == "pass"
        || (result["status"] == "skip"
            && result["message"]
                .as_str()
                .is_some_and(|m| m.contains("besides the probe")))
}

/// Every result passes, except `failing` (which must fail with `cause` in its message)
/// and `causal`: checks that the same fault breaks too, for a reason that follows from it.
pub fn assert_only(run: &Run, failing: &str, cause: &str, causal: &[&str]) {
    assert_eq!(run.code, 1, "{}", run.explain());
    assert_eq!(run.status(failing), "fail", "{}", run.explain());
    let message = run.message(failing);
    assert!(
        message.contains(cause),
        "{failing}: expected {cause:?} in {message:?}"
    );
    for result in run.results() {
        if is(result, failing) || causal.iter().any(|c| is(result, c)) {
            continue;
        }
        assert!(
            fine(result),
            "{} is {} without a causal reason:\n{}",
            result["id"],
            result["status"],
            run.explain()
        );
    }
}

/// netcheck refused the run: exit 2, `needle` in its stderr, and no panic.
pub fn assert_error(run: &Run, needle: &str) {
    assert_eq!(run.code, 2, "{}", run.explain());
    assert!(
        run.stderr.contains(needle),
        "expected {needle:?} in stderr:\n{}",
        run.explain()
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.explain());
}

/// The end of every fault test: capture the faulty host as a fixture (when asked),
/// restore it, and prove the check passes again.
pub fn restored_and_healthy(net: &TestNet, restore: Restore, fixture: &str) {
    capture_fixture(fixture, &["--network", &net.name]);
    drop(restore);
    assert_healthy(&netcheck(&["--network", &net.name]));
}

pub fn assert_healthy(run: &Run) {
    assert_eq!(run.code, 0, "{}", run.explain());
    for id in ALL {
        assert!(
            run.results().iter().any(|r| is(r, id)),
            "{id} not reported:\n{}",
            run.explain()
        );
    }
    for result in run.results() {
        assert!(fine(result), "{}:\n{}", result["id"], run.explain());
    }
}
