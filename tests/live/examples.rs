//! The recipes in examples/ work: the systemd units verify and the timer's command
//! writes metrics promtool accepts; the alerting rules pass their promtool unit tests;
//! the Ansible playbook passes its syntax check and runs against this machine.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::http::*;
use common::*;

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

/// Runs a tool the recipes need; scripts/test installs it, so under CI it must be there.
fn tool(program: &str, args: &[&str], dir: &Path) -> Option<Output> {
    match Command::new(program).args(args).current_dir(dir).output() {
        Ok(out) => Some(out),
        Err(e) => {
            assert!(
                !in_ci(),
                "{program} is needed under CI (scripts/test installs it): {e}"
            );
            eprintln!("skipping: {program}: {e}");
            None
        }
    }
}

fn assert_ok(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Where the package installs netcheck, and so where every recipe calls it.
const INSTALLED: &str = "/usr/bin/netcheck";

/// A unit file with netcheck's installed path replaced by the binary under test (the
/// only change: systemd-analyze verify checks that the command exists).
fn unit(name: &str, dir: &Path) -> String {
    let text = std::fs::read_to_string(examples().join("systemd").join(name)).unwrap();
    if name.ends_with(".service") {
        let called = format!("ExecStart={INSTALLED} ");
        assert!(text.contains(&called), "{name}: {text}");
    }
    let text = text.replace(INSTALLED, bin());
    std::fs::write(dir.join(name), &text).unwrap();
    text
}

#[test]
fn the_systemd_units_verify() {
    let dir = tempdir();
    for name in [
        "netcheck-serve.service",
        "netcheck-textfile.service",
        "netcheck-textfile.timer",
    ] {
        unit(name, dir.path());
    }
    // systemd-analyze comes with systemd: a machine without it cannot run the units.
    let Ok(out) = Command::new("systemd-analyze")
        .arg("verify")
        .args(["netcheck-serve.service", "netcheck-textfile.timer"])
        .current_dir(dir.path())
        .output()
    else {
        return eprintln!("skipping: no systemd-analyze on this machine");
    };
    assert_ok("systemd-analyze verify", &out);
    // Unknown keys and bad values are warnings only: there must be none.
    assert!(
        out.stderr.is_empty(),
        "systemd-analyze verify warns:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The timer's service command, as written in the unit, writes a textfile that
/// promtool (and so node_exporter's parser) accepts, with every metric serve exports.
#[test]
fn the_textfile_service_writes_metrics_node_exporter_reads() {
    let dir = tempdir();
    let text = unit("netcheck-textfile.service", dir.path());
    let exec = text
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("an ExecStart line");
    let prom = dir.path().join("netcheck.prom");
    let argv: Vec<String> = exec
        .split_whitespace()
        .map(|a| {
            if a.ends_with(".prom") {
                prom.display().to_string()
            } else {
                a.to_string()
            }
        })
        .collect();
    assert_eq!(argv[0], bin());
    let Some(_live) = live() else { return };
    let out = Command::new(&argv[0]).args(&argv[1..]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let metrics = std::fs::read_to_string(&prom).unwrap();
    for name in [
        "netcheck_check_status{",
        "netcheck_run_duration_seconds ",
        "netcheck_last_run_timestamp_seconds ",
        "netcheck_runs_total{result=\"pass\"} 1",
        "netcheck_build_info{",
    ] {
        assert!(metrics.contains(name), "{name} missing:\n{metrics}");
    }
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&prom).unwrap().permissions());
    assert_eq!(
        mode & 0o044,
        0o044,
        "node_exporter runs as another user: {mode:o}"
    );
    let check = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&prom).unwrap())
        .output();
    let check = match check {
        Ok(out) => out,
        Err(e) => {
            assert!(!in_ci(), "promtool is needed under CI: {e}");
            return eprintln!("skipping promtool check metrics: {e}");
        }
    };
    assert_ok("promtool check metrics", &check);

    // node_exporter itself reads it, when installed (Debian's prometheus recommends it).
    let port = free_port();
    let Ok(exporter) = Command::new("prometheus-node-exporter")
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .args(["--collector.disable-defaults", "--collector.textfile"])
        .arg(format!(
            "--collector.textfile.directory={}",
            dir.path().display()
        ))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
    else {
        return eprintln!("skipping the node_exporter read: not installed");
    };
    let _exporter = Reaped(exporter);
    let exported = wait_get(port, "/metrics", Duration::from_secs(20), |c, _| c == 200);
    assert!(
        exported.contains("node_textfile_scrape_error 0"),
        "{exported}"
    );
    assert!(
        exported.contains("netcheck_runs_total{result=\"pass\"} 1"),
        "{exported}"
    );
}

#[test]
fn the_alerting_rules_pass_their_unit_tests() {
    let dir = examples().join("prometheus");
    let Some(out) = tool("promtool", &["check", "rules", "netcheck-alerts.yml"], &dir) else {
        return;
    };
    assert_ok("promtool check rules", &out);
    let out = tool(
        "promtool",
        &["test", "rules", "netcheck-alerts.test.yml"],
        &dir,
    )
    .unwrap();
    assert_ok("promtool test rules", &out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("SUCCESS"));
}

fn playbook(dir: &Path, extra: &[&str]) -> Option<Output> {
    let binary = format!("netcheck_binary={}", bin());
    let mut args = vec!["-e", binary.as_str()];
    args.extend_from_slice(extra);
    playbook_as_pasted(dir, &args)
}

/// The playbook as examples/README.md runs it, on this machine, with only the fetch directory
/// (and `extra`) given.
fn playbook_as_pasted(dir: &Path, extra: &[&str]) -> Option<Output> {
    let fetch = format!("netcheck_fetch_dir={}", dir.join("reports").display());
    let playbook = examples().join("ansible/netcheck.yml");
    let mut args = vec![
        "-i",
        "localhost,",
        "-c",
        "local",
        "-e",
        "netcheck_hosts=all",
        "-e",
        &fetch,
    ];
    args.extend_from_slice(extra);
    args.push(playbook.to_str().unwrap());
    // An empty configuration of the test's own, no cows: the same run everywhere.
    let config = dir.join("ansible.cfg");
    std::fs::write(&config, "[defaults]\n").unwrap();
    let mut cmd = Command::new("ansible-playbook");
    cmd.args(&args)
        .current_dir(dir)
        .env("ANSIBLE_CONFIG", &config)
        .env("ANSIBLE_NOCOWS", "1")
        .env("ANSIBLE_LOCAL_TEMP", dir.join("ansible-tmp"));
    match cmd.output() {
        Ok(out) => Some(out),
        Err(e) => {
            assert!(!in_ci(), "ansible-playbook is needed under CI: {e}");
            eprintln!("skipping: ansible-playbook: {e}");
            None
        }
    }
}

#[test]
fn the_playbook_passes_its_syntax_check() {
    let dir = examples().join("ansible");
    let Some(out) = tool(
        "ansible-playbook",
        &["--syntax-check", "-i", "inventory.ini", "netcheck.yml"],
        &dir,
    ) else {
        return;
    };
    assert_ok("ansible-playbook --syntax-check", &out);
}

/// Against this machine, with a local connection: the reports are fetched, and a
/// healthy host passes the play.
#[test]
fn the_playbook_checks_this_machine_and_fetches_its_reports() {
    let Some(_live) = live() else { return };
    let dir = tempdir();
    let Some(out) = playbook(dir.path(), &[]) else {
        return;
    };
    assert_ok("ansible-playbook", &out);
    let reports = dir.path().join("reports/localhost");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(reports.join("netcheck.json")).unwrap())
            .unwrap();
    assert_eq!(json["schema"], netcheck::report::REPORT_SCHEMA);
    assert_eq!(json["summary"]["failed"], 0, "{json}");
    validate_junit(&reports.join("netcheck.xml"));
    assert!(
        std::fs::read_to_string(reports.join("netcheck.html"))
            .unwrap()
            .starts_with("<!DOCTYPE html>")
    );
}

/// A host netcheck cannot check fails the play, and its report, which says why, is
/// fetched all the same. (A typo in a check id: no engine is needed to see it.)
#[test]
fn the_playbook_fails_a_host_and_still_fetches_the_report_that_says_why() {
    let dir = tempdir();
    let Some(out) = playbook(
        dir.path(),
        &["-e", r#"{"netcheck_args": ["--exact", "no.such-check"]}"#],
    ) else {
        return;
    };
    assert!(
        !out.status.success(),
        "the play passed a host netcheck could not check"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("netcheck could not check this host") && stdout.contains("(exit 2)"),
        "{stdout}"
    );
    let json = std::fs::read_to_string(dir.path().join("reports/localhost/netcheck.json")).unwrap();
    assert!(json.contains("unknown check id `no.such-check`"), "{json}");
}

/// The failure message of the play, from its output.
fn play_failure(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.contains("FAILED! =>"))
        .unwrap_or_else(|| panic!("no failure in:\n{stdout}"));
    let json: serde_json::Value = serde_json::from_str(line.split_once("=> ").unwrap().1).unwrap();
    json["msg"].as_str().unwrap().to_string()
}

/// As pasted, without netcheck where the package puts it: the play fails saying so,
/// not with an empty cause and a report that does not exist.
#[test]
fn the_playbook_as_pasted_says_when_netcheck_is_not_installed() {
    if Path::new(INSTALLED).exists() {
        return eprintln!("skipping: {INSTALLED} is installed here");
    }
    let dir = tempdir();
    let Some(out) = playbook_as_pasted(dir.path(), &[]) else {
        return;
    };
    assert!(!out.status.success());
    let msg = play_failure(&out);
    assert!(
        msg.contains("No such file")
            && msg.contains(INSTALLED)
            && msg.contains("netcheck_copy_from"),
        "{msg}"
    );
    assert!(
        !msg.contains("netcheck.html"),
        "names a report that was not fetched: {msg}"
    );
}

/// A host with problems fails the play with netcheck's recap: each problem and its fix.
#[test]
fn the_playbook_failure_carries_the_recap() {
    let dir = tempdir();
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/fault-bridge.veth-nomaster.json"
    );
    let args = format!(r#"{{"netcheck_args": ["analyze", "{fixture}"]}}"#);
    let Some(out) = playbook(dir.path(), &["-e", &args]) else {
        return;
    };
    assert!(!out.status.success());
    let msg = play_failure(&out);
    assert!(
        msg.starts_with("Docker networking problems (exit 1): "),
        "{msg}"
    );
    assert!(
        msg.contains("bridge.veth[") && msg.contains("ip link set "),
        "{msg}"
    );
    assert!(msg.contains("/localhost/netcheck.html"), "{msg}");
}
