//! The GitHub Action (action.yml) run step by step as a runner runs a composite action:
//! each step's `run` in bash, its `env` with the inputs the hosted example passes,
//! GITHUB_ACTION_PATH at the repository, GITHUB_OUTPUT a file, the workspace a
//! temporary directory. The image is loaded from an archive (the `image-archive` input),
//! so nothing is built here: scripts/image's own test builds it.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use common::*;
use serde_norway::Value;

/// The test's own image name, so that a `netcheck` image of the user's is not touched.
const IMAGE: &str = "netcheck-test-action";

struct Image;

impl Drop for Image {
    fn drop(&mut self) {
        let version = format!("{IMAGE}:{}", env!("CARGO_PKG_VERSION"));
        let _ = Command::new("docker")
            .args(["rmi", &format!("{IMAGE}:latest"), &version])
            .output();
    }
}

fn yaml(path: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    serde_norway::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// The inputs as the hosted example gives them, over action.yml's defaults.
fn inputs(extra: &[(&str, &str)]) -> BTreeMap<String, String> {
    let action = yaml("action.yml");
    let mut inputs: BTreeMap<String, String> = action["inputs"]
        .as_mapping()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let default = v["default"].as_str().unwrap_or("").to_string();
            (k.as_str().unwrap().to_string(), default)
        })
        .collect();
    let example = yaml("examples/ci/github-actions.yml");
    let job = example["jobs"]
        .as_mapping()
        .unwrap()
        .values()
        .next()
        .unwrap();
    let step = job["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|s| s.get("uses").and_then(Value::as_str) == Some("./"))
        .unwrap();
    for (k, v) in step["with"].as_mapping().unwrap() {
        inputs.insert(k.as_str().unwrap().into(), v.as_str().unwrap().into());
    }
    for (k, v) in extra {
        inputs.insert(k.to_string(), v.to_string());
    }
    inputs
}

/// Runs the step named `name` of action.yml in `workspace`, as a runner would.
fn step(name: &str, workspace: &Path, inputs: &BTreeMap<String, String>) -> Output {
    let action = yaml("action.yml");
    let steps = action["runs"]["steps"].as_sequence().unwrap();
    let step = steps
        .iter()
        .find(|s| s["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("no step {name:?} in action.yml"));
    assert_eq!(step["shell"].as_str(), Some("bash"));
    let mut cmd = Command::new("bash");
    cmd.args(["-e", "-c", step["run"].as_str().unwrap()])
        .current_dir(workspace)
        .env("GITHUB_ACTION_PATH", env!("CARGO_MANIFEST_DIR"))
        .env("GITHUB_OUTPUT", workspace.join("github-output"))
        .env("NETCHECK_IMAGE", IMAGE);
    if let Some(env) = step.get("env").and_then(Value::as_mapping) {
        for (k, v) in env {
            // `${{ inputs.NAME }}`, the only expression the action's env uses.
            let v = v.as_str().unwrap();
            let input = v
                .strip_prefix("${{ inputs.")
                .and_then(|r| r.strip_suffix(" }}"))
                .unwrap_or_else(|| panic!("unexpected env value {v}"));
            cmd.env(k.as_str().unwrap(), &inputs[input]);
        }
    }
    cmd.output().unwrap()
}

fn output_of(workspace: &Path) -> String {
    std::fs::read_to_string(workspace.join("github-output")).unwrap_or_default()
}

#[test]
fn the_actions_steps_load_the_image_run_it_and_annotate_failures() {
    let Some(_live) = live() else { return };
    // The image, as a `docker save` archive the `image-archive` input loads.
    let build = Command::new("scripts/image")
        .args(["--profile", "dev", "--no-build", "--repo", IMAGE])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env(
            "CARGO_TARGET_DIR",
            Path::new(bin()).ancestors().nth(3).unwrap(),
        )
        .output()
        .unwrap();
    let _image = Image;
    assert!(build.status.success(), "{}", text(&build));
    let archive = tempdir();
    let tar = archive.path().join("netcheck.tar");
    sh(&["docker", "save", "-o", tar.to_str().unwrap(), IMAGE]);
    let version = format!("{IMAGE}:{}", env!("CARGO_PKG_VERSION"));
    sh(&["docker", "rmi", &format!("{IMAGE}:latest"), &version]);

    let workspace = tempdir();
    let ws = workspace.path();
    // Only `bridge`: other tests' networks come and go.
    let inputs = inputs(&[
        ("image-archive", tar.to_str().unwrap()),
        ("args", "--network bridge"),
    ]);
    let out = step("Build or load netcheck's image", ws, &inputs);
    assert!(out.status.success(), "{}", text(&out));
    assert!(stdout(&out).contains("Loaded image"), "{}", text(&out));

    let out = step("Run netcheck", ws, &inputs);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(output_of(ws).contains("exit-code=0"), "{}", output_of(ws));
    validate_junit(&ws.join(&inputs["junit"]));
    for report in ["json", "html"] {
        assert!(ws.join(&inputs[report]).exists(), "no {report} report");
    }
    assert!(!stdout(&out).contains("::error"), "{}", text(&out));

    // A broken host: the job fails, and the failure is annotated with its fix.
    let mut restore = Restore(vec![]);
    set_sysctl(&mut restore, "net.ipv4.ip_forward", "0");
    let out = step("Run netcheck", ws, &inputs);
    drop(restore);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(output_of(ws).contains("exit-code=1"), "{}", output_of(ws));
    let annotation = stdout(&out)
        .lines()
        .find(|l| l.starts_with("::error ") && l.contains("kernel.ip-forward"))
        .map(String::from);
    assert!(
        annotation.as_deref().is_some_and(|a| a.contains("fix:")),
        "{}",
        text(&out)
    );
    validate_junit(&ws.join(&inputs["junit"]));
    assert_no_leftovers();
}

/// A report path outside the workspace is refused before anything runs.
#[test]
fn the_action_refuses_reports_outside_the_workspace() {
    let workspace = tempdir();
    let inputs = inputs(&[("junit", "../escape.xml")]);
    let out = step("Run netcheck", workspace.path(), &inputs);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(stderr_has(&out, "must be a path inside the workspace"));
}

fn stderr_has(out: &Output, needle: &str) -> bool {
    String::from_utf8_lossy(&out.stderr).contains(needle)
}
