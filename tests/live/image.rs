//! The image: `scripts/image` builds it from the test binary, and the README's
//! `docker run` line, run as written (with the test's own image name), gives the same
//! verdicts as a run on the host, and exit 1 on a host with IP forwarding off.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use common::*;

/// The test's own image name, so that a `netcheck` image of the user's is not touched.
const REPO: &str = "netcheck-test-image";

/// Removes the test's image tags, whatever the outcome.
struct Image(String);

impl Drop for Image {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args([
                "rmi",
                &format!("{REPO}:latest"),
                &format!("{REPO}:{}", self.0),
            ])
            .output();
    }
}

/// The `docker run` line of the README's first section, as words.
fn readme_line() -> Vec<String> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let first = readme.split("\n## ").nth(1).unwrap();
    let line = first
        .lines()
        .find(|l| l.starts_with("docker run "))
        .expect("the README's first section shows the docker run line");
    shlex::split(line).unwrap()
}

/// Runs the README's line with the test's image, reports into `dir`, and `extra` flags
/// for netcheck after the image name.
fn run_image(dir: &Path, extra: &[&str]) -> (i32, serde_json::Value, String) {
    let mut words = readme_line();
    let image = words.pop().unwrap();
    assert_eq!(image, "netcheck", "the line ends with the image's name");
    let out = Command::new(&words[0])
        .args(&words[1..])
        .arg("-v")
        .arg(format!("{}:/reports", dir.display()))
        .arg(REPO)
        .args(["--json", "/reports/netcheck.json"])
        .args(extra)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let json = std::fs::read_to_string(dir.join("netcheck.json"))
        .unwrap_or_else(|e| panic!("no report ({e}):\n{}", text(&out)));
    (
        out.status.code().unwrap_or(-1),
        serde_json::from_str(&json).unwrap(),
        text(&out),
    )
}

/// Each result's status, and its message for a skip (the reason must be the same).
fn verdicts(report: &serde_json::Value) -> BTreeMap<String, String> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let status = c["status"].as_str().unwrap().to_string();
            let shown = if status == "skip" {
                format!("skip: {}", c["message"].as_str().unwrap())
            } else {
                status
            };
            (c["id"].as_str().unwrap().to_string(), shown)
        })
        .collect()
}

#[test]
fn the_readme_line_gives_the_host_runs_verdicts_and_fails_a_broken_host() {
    let Some(_live) = live() else { return };
    let out = Command::new("scripts/image")
        .args(["--profile", "dev", "--no-build", "--repo", REPO])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("CARGO_TARGET_DIR", target_dir())
        .output()
        .unwrap();
    assert!(out.status.success(), "scripts/image: {}", text(&out));
    let version = env!("CARGO_PKG_VERSION");
    let _image = Image(version.to_string());
    let size = sh(&["docker", "image", "inspect", "-f", "{{.Size}}", REPO]);
    let binary = std::fs::metadata(bin()).unwrap().len();
    // The binary and empty directories: nothing else is in it.
    assert!(
        size.trim().parse::<u64>().unwrap() < binary + 1024 * 1024,
        "{size}"
    );

    // Only `bridge`: other networks come and go with other tests between the two runs.
    let dir = tempdir();
    let host = netcheck(&["--network", "bridge"]);
    let (code, report, output) = run_image(dir.path(), &["--network", "bridge"]);
    assert_eq!(code, host.code, "{output}\nhost: {}", host.explain());
    assert_eq!(code, 0, "{output}");
    assert_eq!(
        verdicts(&report),
        verdicts(host.report.as_ref().unwrap()),
        "{output}"
    );
    // Nothing skipped for being in a container: the agent observed the host.
    assert_eq!(report["engine"]["agent"], true, "{output}");

    // A host that does not forward: exit 1, the check that says so failing.
    let mut restore = Restore(vec![]);
    set_sysctl(&mut restore, "net.ipv4.ip_forward", "0");
    let (code, report, output) = run_image(dir.path(), &["--network", "bridge"]);
    drop(restore);
    assert_eq!(code, 1, "{output}");
    assert_eq!(verdicts(&report)["kernel.ip-forward"], "fail", "{output}");
    assert_no_leftovers();
}

/// Where cargo put this test's binaries: scripts/image looks for the build there.
fn target_dir() -> std::path::PathBuf {
    // target/<triple>/debug/netcheck
    Path::new(bin()).ancestors().nth(3).unwrap().to_path_buf()
}
