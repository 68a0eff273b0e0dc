//! Finding codes from the outside: `netcheck explain` lists a check's codes, a suite's
//! `allow` must name one of them, and a report notes an allowed code that matched nothing.
//! Offline: every run judges a fixture snapshot.

use std::path::{Path, PathBuf};
use std::process::Command;

use netcheck::checks::{self, REGISTRY};
use netcheck::snapshot::Snapshot;

crate::trials!(
    explain_lists_every_code_of_the_check_with_its_description,
    a_misspelt_allowed_code_is_a_suite_problem_with_a_suggestion,
    an_allowed_code_that_matched_nothing_is_noted_in_the_report,
    every_code_reported_on_the_fixtures_is_listed_by_its_check,
);

/// What a run of the binary printed and how it ended.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn netcheck(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_netcheck"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
    }
}

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(format!("{name}.json"))
        .display()
        .to_string()
}

/// A suite that includes the default one and gives bridge.veth an `allow` list.
fn suite_allowing(dir: &Path, allow: &str) -> PathBuf {
    let path = dir.join("allow.toml");
    std::fs::write(
        &path,
        format!(
            "name = \"a\"\ninclude = [\"default\"]\n[[check]]\nid = \"bridge.veth\"\nallow = [{allow}]\n"
        ),
    )
    .unwrap();
    path
}

fn explain_lists_every_code_of_the_check_with_its_description() {
    for check in REGISTRY {
        let run = netcheck(&["explain", check.id]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let listed = run
            .stdout
            .split_once("\nFinding codes (a suite's `allow` takes them):\n")
            .unwrap_or_else(|| panic!("{}: no codes section:\n{}", check.id, run.stdout))
            .1;
        for code in (check.codes)() {
            let line = format!("  {}/{}\n", check.id, code.slug);
            let at = listed
                .find(&line)
                .unwrap_or_else(|| panic!("{}/{} not listed:\n{listed}", check.id, code.slug));
            // The description follows on the lines below, indented.
            let below = &listed[at + line.len()..];
            let first_word = code.description.split_whitespace().next().unwrap();
            assert!(
                below.starts_with(&format!("      {first_word}")),
                "{}/{}: no description under it:\n{listed}",
                check.id,
                code.slug
            );
        }
        // The codes every check shares come too.
        assert!(
            listed.contains(&format!("  {}/not-observed\n", check.id)),
            "{listed}"
        );
    }
}

fn a_misspelt_allowed_code_is_a_suite_problem_with_a_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    let suite = suite_allowing(dir.path(), "\"bridge.veth/wrong-mastr\"");
    let suite = suite.to_str().unwrap();
    let expected = ":5:10: allow `bridge.veth/wrong-mastr`: bridge.veth has no finding code \
                    `wrong-mastr`: did you mean `bridge.veth/wrong-master`?";
    let checked = netcheck(&["suite", "check", suite]);
    assert_eq!(checked.code, 2, "{}", checked.stderr);
    assert!(checked.stderr.contains(expected), "{}", checked.stderr);
    // A run with it judges nothing: exit 2, with the same problem, as for any bad suite.
    let snap = fixture("fault-bridge.veth-nomaster");
    let run = netcheck(&["analyze", &snap, "--suite", suite]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains(expected), "{}", run.stderr);
}

fn an_allowed_code_that_matched_nothing_is_noted_in_the_report() {
    let dir = tempfile::tempdir().unwrap();
    // wrong-master is this fixture's finding; peer-down is not.
    let suite = suite_allowing(
        dir.path(),
        "\"bridge.veth/wrong-master\", \"bridge.veth/peer-down\"",
    );
    let json = dir.path().join("report.json");
    let [md, html, junit] = ["report.md", "report.html", "report.xml"].map(|f| dir.path().join(f));
    let run = netcheck(&[
        "analyze",
        &fixture("fault-bridge.veth-nomaster"),
        "--suite",
        suite.to_str().unwrap(),
        "--exact",
        "bridge.veth",
        "--json",
        json.to_str().unwrap(),
        "--markdown",
        md.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ]);
    // The note changes no verdict: what is allowed passes.
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(
        report["notes"],
        serde_json::json!([{
            "kind": "allow-unmatched",
            "check": "bridge.veth",
            "code": "bridge.veth/peer-down",
        }]),
        "{report:#}"
    );
    let note = run
        .stdout
        .lines()
        .find(|l| l.starts_with("note: "))
        .unwrap_or_else(|| panic!("no note in the terminal report:\n{}", run.stdout));
    assert!(
        note.contains("bridge.veth/peer-down") && !note.contains("wrong-master"),
        "{note}"
    );
    // Every format says it too, as a remark beside the checks.
    for (file, marker) in [
        (&md, "> **Note:**"),
        (&html, "<p class=\"note\">Note:"),
        (&junit, "name=\"netcheck.note.1\""),
    ] {
        let text = std::fs::read_to_string(file).unwrap();
        let line = (text.lines())
            .find(|l| l.contains(marker))
            .unwrap_or_else(|| panic!("no note in {}:\n{text}", file.display()));
        assert!(line.contains("bridge.veth/peer-down"), "{line}");
    }

    // Every entry matched: no note, and the JSON report has no `notes` at all.
    let suite = suite_allowing(dir.path(), "\"bridge.veth/wrong-master\"");
    let run = netcheck(&[
        "analyze",
        &fixture("fault-bridge.veth-nomaster"),
        "--suite",
        suite.to_str().unwrap(),
        "--exact",
        "bridge.veth",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stdout.contains("note: "), "{}", run.stdout);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(report.get("notes").is_none(), "{report:#}");
}

/// Every code a check reports on the fixtures is one it lists: a suite can allow
/// whatever a report shows. (The judges take typed codes, but nothing stops a check
/// from passing another check's enum.)
fn every_code_reported_on_the_fixtures_is_listed_by_its_check() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let snapshot = Snapshot::load(&path).unwrap();
        let instances = checks::builtin_instances();
        for j in checks::judge(&snapshot, &instances) {
            for f in &j.outcome.findings {
                let (id, slug) = f.code.split_once('/').unwrap();
                assert_eq!(id, j.instance.check.id, "{}: {}", path.display(), f.code);
                assert!(
                    j.instance.check.has_code(slug),
                    "{}: {} is not among {}'s codes",
                    path.display(),
                    f.code,
                    id
                );
                seen += 1;
            }
        }
    }
    assert!(seen > 100, "only {seen} findings on the fixtures");
}
