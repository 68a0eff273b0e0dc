//! What a careless path, a hostile file or a careless engine setting can do to netcheck:
//! report paths that are devices, FIFOs, symlinks, `-` or another user's file; input
//! files that are devices, FIFOs or too large; hostile names; a huge host's snapshot;
//! TLS settings. These judge fixture snapshots offline, so they need no daemon (the
//! live half of hardening is tests/live/hardening.rs).

use crate::common;

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::process::{Command, Stdio};

use common::*;
use nix::unistd::Pid;

crate::trials!(
    report_paths_that_are_devices_or_fifos_are_written_in_place,
    a_dash_is_standard_output,
    a_replaced_report_keeps_its_owner_and_mode,
    input_files_are_bounded_and_regular,
    hostile_names_do_nothing_in_any_format,
    tls_settings_are_honoured_not_ignored,
    report_paths_never_follow_symlinks,
    huge_hosts_stay_bounded_in_memory
);

fn fixture(name: &str) -> String {
    format!("{}/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"))
}

/// `--json /dev/stdout` (here a symlink to it, so that the test cannot harm the host's
/// /dev/stdout if it fails): the report reaches the pipe, and the link stays a link.
/// Every report flag shares the code; each is tried.
fn report_paths_that_are_devices_or_fifos_are_written_in_place() {
    let dir = tempdir();
    for flag in ["--json", "--junit", "--html", "--markdown", "--prometheus"] {
        let link = dir.path().join(format!("out{flag}"));
        std::os::unix::fs::symlink("/dev/stdout", &link).unwrap();
        let out = Command::new(bin())
            .args(["analyze", &fixture("healthy-default-bridge"), flag])
            .arg(&link)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let meta = std::fs::symlink_metadata(&link).unwrap();
        assert!(meta.file_type().is_symlink(), "{flag} replaced the link");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let marker = match flag {
            "--json" => "\"schema\": \"netcheck-report/v2\"",
            "--junit" => "<testsuites",
            "--html" => "<html",
            "--markdown" => "### netcheck",
            _ => "netcheck_check_status",
        };
        assert!(stdout.contains(marker), "{flag}: {stdout}");
    }
    // A link to a character device: the device is written, the link kept.
    let null = dir.path().join("null.json");
    std::os::unix::fs::symlink("/dev/null", &null).unwrap();
    let run = netcheck_plain(&[
        "analyze",
        &fixture("healthy-default-bridge"),
        "--json",
        null.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{}", run.explain());
    assert!(
        std::fs::symlink_metadata(&null)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(
        std::fs::metadata("/dev/null")
            .unwrap()
            .file_type()
            .is_char_device()
    );
}

/// `--json -` is standard output, alone (the terminal report moves to stderr); no file
/// named `-` appears.
fn a_dash_is_standard_output() {
    let dir = tempdir();
    let out = Command::new(bin())
        .current_dir(dir.path())
        .args(["analyze", &fixture("healthy-default-bridge"), "--json", "-"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not the JSON report alone: {e}"));
    assert_eq!(report["schema"], "netcheck-report/v2");
    assert!(String::from_utf8_lossy(&out.stderr).contains("passed"));
    assert!(!dir.path().join("-").exists(), "wrote a file named -");
    // And `analyze -` reads the snapshot from standard input.
    let mut child = Command::new(bin())
        .args(["analyze", "-", "-q"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let snapshot = std::fs::read(fixture("healthy-default-bridge")).unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), &snapshot).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("passed"));
    // Two reports cannot share it.
    let run = netcheck_plain(&[
        "analyze",
        &fixture("healthy-default-bridge"),
        "--json",
        "-",
        "--junit",
        "-",
    ]);
    assert_error(&run, "only one report");
}

/// A report file that exists keeps its mode, and its owner: netcheck run as root over
/// another user's 0600 file leaves that user's 0600 file.
fn a_replaced_report_keeps_its_owner_and_mode() {
    let dir = tempdir();
    let path = dir.path().join("r.json");
    std::fs::write(&path, "old").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let root = nix::unistd::geteuid().is_root();
    if root {
        std::os::unix::fs::chown(&path, Some(65534), Some(65534)).unwrap();
    }
    let run = netcheck_plain(&[
        "analyze",
        &fixture("healthy-default-bridge"),
        "--json",
        path.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{}", run.explain());
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(meta.mode() & 0o7777, 0o600);
    if root {
        assert_eq!((meta.uid(), meta.gid()), (65534, 65534));
    }
    assert!(
        std::fs::read_to_string(&path)
            .unwrap()
            .contains("netcheck-report/v2")
    );
}

/// `analyze` of a device (directly or by a symlink), of a FIFO nobody writes, or of a
/// file past the cap: exit 2 at once, naming what was refused. A suite including
/// /dev/zero too.
fn input_files_are_bounded_and_regular() {
    let dir = tempdir();
    let zero = dir.path().join("zero.json");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    let fifo = dir.path().join("fifo.json");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let big = dir.path().join("big.json");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(64 * 1024 * 1024 + 1)
        .unwrap();
    for (path, needle) in [
        ("/dev/zero", "a character device"),
        (zero.to_str().unwrap(), "a character device"),
        (fifo.to_str().unwrap(), "a FIFO"),
        (big.to_str().unwrap(), "64 MiB"),
    ] {
        let mut child = Command::new(bin())
            .args(["analyze", path])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // A run that reads /dev/zero never ends: kill it rather than hang the suite.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while child.try_wait().unwrap().is_none() {
            if std::time::Instant::now() > deadline {
                child.kill().unwrap();
                panic!("analyze {path} did not end");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{path}: {stderr}");
        assert!(stderr.contains(needle), "{path}: {stderr}");
    }
    let suite = dir.path().join("suite.toml");
    std::fs::write(&suite, "name = \"zero\"\ninclude = [\"/dev/zero\"]\n").unwrap();
    let run = netcheck_plain(&["suite", "check", suite.to_str().unwrap()]);
    assert_error(&run, "a character device");
}

/// A network and container name that forges a line (`\n::error::`), sets the terminal's
/// title (OSC), and reverses text (U+202E): in every format, nothing of it acts. No
/// output line starts with the forged command, fixes stay single lines, and no raw ESC
/// of the name's or U+202E reaches a reader.
fn hostile_names_do_nothing_in_any_format() {
    let hostile = "evil\n::error::forged\u{1b}]0;pwned\u{7}\u{202e}gnp";
    let text = std::fs::read_to_string(fixture("fault-bridge.veth-nomaster")).unwrap();
    let escaped = serde_json::to_string(hostile).unwrap();
    let text = text.replace("netcheck-test-veth", &escaped[1..escaped.len() - 1]);
    let dir = tempdir();
    let snap = dir.path().join("evil.json");
    std::fs::write(&snap, text).unwrap();
    let p = |n: &str| dir.path().join(n).display().to_string();
    let files = ["r.json", "r.xml", "r.md", "r.html", "r.prom"];
    let out = Command::new(bin())
        .args([
            "analyze",
            snap.to_str().unwrap(),
            "-v",
            "--format",
            "github",
        ])
        .args(["--color", "always", "--json", &p(files[0]), "--junit"])
        .args([
            &p(files[1]),
            "--markdown",
            &p(files[2]),
            "--html",
            &p(files[3]),
        ])
        .args(["--prometheus", &p(files[4])])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut outputs = vec![
        ("stdout".to_string(), String::from_utf8(out.stdout).unwrap()),
        ("stderr".to_string(), String::from_utf8(out.stderr).unwrap()),
    ];
    for f in files {
        outputs.push((f.to_string(), std::fs::read_to_string(p(f)).unwrap()));
    }
    let stdout = &outputs[0].1;
    assert!(
        stdout.contains("::error title="),
        "no annotation:\n{stdout}"
    );
    assert!(stdout.contains("fix:"), "no fix shown:\n{stdout}");
    for (name, text) in &outputs {
        for line in text.lines() {
            assert!(
                !line.trim_start().starts_with("::error::forged"),
                "{name} forges a workflow command: {line:?}"
            );
            assert!(
                !line.trim_start().starts_with("::error::") || !line.contains("forged"),
                "{name}: {line:?}"
            );
        }
        // JSON is for programs, which decode `\u202e` back to the character anyway.
        if name != "r.json" {
            assert!(!text.contains('\u{202e}'), "{name} carries a raw U+202E");
        }
        assert!(
            !text.contains("\u{1b}]0;"),
            "{name} carries the name's raw ESC"
        );
        assert!(!text.contains('\u{7}'), "{name} carries a raw BEL");
    }
    // The fix is one line that names the container as bash reads it back.
    let fix = stdout
        .lines()
        .find(|l| l.contains("fix:"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(fix.contains("$'evil\\n::error::forged"), "{fix}");
}

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
    assert_error(
        &run,
        &format!("TLS file {config}/ca.pem cannot be used: No such file"),
    );
    assert_eq!(run.report.as_ref().unwrap()["checks"][0]["status"], "error");
    let run = netcheck_env(&["--tls", "-H", "tcp://127.0.0.1:2376"], &[]);
    assert_error(&run, "netcheck always verifies it");
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
