//! The CI recipes in examples/ci/ (and docs/ci.md, which shows them verbatim) run as
//! pasted: the YAML loads, the jobs have the shape their CI reads, every netcheck flag
//! they use is in `netcheck --help`, each netcheck command line parses (with `--list`
//! added, so that nothing runs), and the published report is the one netcheck writes.

use crate::common;

use std::collections::BTreeMap;
use std::process::Command;

use common::*;
use serde_norway::Value;

crate::trials!(
    gitlab_job_publishes_the_junit_report,
    github_hosted_job_uses_the_action_and_uploads_its_reports,
    github_self_hosted_job_annotates_failures_and_uploads_the_reports,
    jenkins_records_the_junit_report,
    the_ci_docs_show_the_recipes_verbatim
);

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn yaml(path: &str) -> Value {
    serde_norway::from_str(&read(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The arguments after `netcheck` in a shell line (`sudo -n netcheck --junit x`).
fn netcheck_args(line: &str) -> Option<Vec<&str>> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = words.iter().position(|w| *w == "netcheck")?;
    Some(words[at + 1..].to_vec())
}

/// The value given to `flag` in a command line.
fn value_of<'a>(args: &[&'a str], flag: &str) -> Option<&'a str> {
    let at = args.iter().position(|a| *a == flag)?;
    args.get(at + 1).copied()
}

/// Checks one recipe's netcheck command lines, and returns their arguments.
fn check_commands(recipe: &str, lines: &[String]) -> Vec<Vec<String>> {
    let help = Command::new(bin()).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout).into_owned();
    let mut found = vec![];
    for line in lines.iter().flat_map(|l| l.lines()) {
        let Some(args) = netcheck_args(line) else {
            continue;
        };
        for flag in args.iter().filter(|a| a.starts_with('-')) {
            let flag = flag.split('=').next().unwrap();
            let listed = help
                .split(|c: char| c.is_whitespace() || c == ',')
                .any(|word| word == flag || word.starts_with(&format!("{flag}=")));
            assert!(listed, "{recipe}: `{flag}` is not in netcheck --help");
        }
        // The whole line parses: flags, their values, the suite profile. `--list` makes
        // netcheck print the selected checks and stop before it touches the engine.
        let dir = tempdir();
        let out = Command::new(bin())
            .args(&args)
            .arg("--list")
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{recipe}: `netcheck {}` does not parse: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        found.push(args.iter().map(|a| a.to_string()).collect());
    }
    assert!(
        found
            .iter()
            .any(|a: &Vec<String>| a.contains(&"--junit".to_string())),
        "{recipe} runs no netcheck with a JUnit report"
    );
    found
}

fn the_run(commands: &[Vec<String>]) -> Vec<&str> {
    let run = commands
        .iter()
        .find(|a| a.iter().any(|w| w == "--junit"))
        .unwrap();
    run.iter().map(String::as_str).collect()
}

fn gitlab_job_publishes_the_junit_report() {
    let recipe = "examples/ci/gitlab-ci.yml";
    let doc = yaml(recipe);
    let jobs: BTreeMap<String, Value> = serde_norway::from_value(doc).unwrap();
    let job = &jobs["netcheck"];
    let script: Vec<String> = serde_norway::from_value(job["script"].clone()).unwrap();
    let commands = check_commands(recipe, &script);
    let run = the_run(&commands);
    assert_eq!(
        job["artifacts"]["reports"]["junit"].as_str(),
        value_of(&run, "--junit"),
        "GitLab must publish the file netcheck writes"
    );
    // Reports are kept when the job fails, which is when they matter.
    assert_eq!(job["artifacts"]["when"].as_str(), Some("always"));
}

/// The hosted-runner workflow uses the repository's action: its inputs are the
/// action's, and the reports it uploads are the ones the action writes.
fn github_hosted_job_uses_the_action_and_uploads_its_reports() {
    let recipe = "examples/ci/github-actions.yml";
    let doc = yaml(recipe);
    let action = yaml("action.yml");
    assert_eq!(action["runs"]["using"].as_str(), Some("composite"));
    let job = doc["jobs"].as_mapping().unwrap().values().next().unwrap();
    assert_eq!(job["runs-on"].as_str(), Some("ubuntu-latest"));
    let steps = job["steps"].as_sequence().unwrap();
    let uses = |s: &Value| {
        s.get("uses")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let at = steps
        .iter()
        .position(|s| uses(s) == "./")
        .expect("a `uses: ./` step");
    assert!(
        steps[..at]
            .iter()
            .any(|s| uses(s).starts_with("actions/checkout@")),
        "the action is in the checkout"
    );
    let with = steps[at]["with"].as_mapping().unwrap();
    let inputs = action["inputs"].as_mapping().unwrap();
    for key in with.keys() {
        assert!(
            inputs.contains_key(key),
            "{key:?} is not an input of action.yml"
        );
    }
    let profile = with[&Value::from("profile")].as_str().unwrap();
    assert!(netcheck::suite::SHIPPED.iter().any(|(p, _)| *p == profile));
    let upload = steps
        .iter()
        .find(|s| uses(s).starts_with("actions/upload-artifact@"))
        .expect("an upload-artifact step");
    let paths = upload["with"]["path"].as_str().unwrap();
    for report in ["junit", "json", "html"] {
        let file = with[&Value::from(report)].as_str().unwrap();
        assert!(
            paths.lines().any(|p| p.trim() == file),
            "{file} not uploaded"
        );
    }
    assert!(upload["if"].as_str().unwrap_or("").contains("!cancelled()"));
}

fn github_self_hosted_job_annotates_failures_and_uploads_the_reports() {
    let recipe = "examples/ci/github-actions-self-hosted.yml";
    let doc = yaml(recipe);
    let jobs = doc["jobs"].as_mapping().expect("jobs");
    assert!(doc.get("on").is_some(), "a workflow needs a trigger");
    let job = jobs.values().next().unwrap();
    assert!(job.get("runs-on").is_some());
    let steps = job["steps"].as_sequence().unwrap();
    let runs: Vec<String> = steps
        .iter()
        .filter_map(|s| s.get("run")?.as_str().map(String::from))
        .collect();
    let commands = check_commands(recipe, &runs);
    let run = the_run(&commands);
    assert_eq!(value_of(&run, "--format"), Some("github"));
    let upload = steps
        .iter()
        .find(|s| {
            s.get("uses")
                .and_then(Value::as_str)
                .is_some_and(|u| u.starts_with("actions/upload-artifact@"))
        })
        .expect("an upload-artifact step");
    let paths = upload["with"]["path"].as_str().unwrap();
    for flag in ["--junit", "--json", "--html"] {
        let file = value_of(&run, flag).unwrap();
        assert!(
            paths.lines().any(|p| p.trim() == file),
            "{file} not uploaded"
        );
    }
    // Uploaded after a failing check too (the run step then exits 1).
    let when = upload["if"].as_str().unwrap_or("");
    assert!(
        when.contains("always()") || when.contains("!cancelled()"),
        "{when}"
    );
}

fn jenkins_records_the_junit_report() {
    let recipe = "examples/ci/Jenkinsfile";
    let text = read(recipe);
    let quoted = |prefix: &str| -> Vec<String> {
        text.lines()
            .filter_map(|l| l.trim().strip_prefix(prefix))
            .filter_map(|rest| rest.strip_prefix('\'')?.split('\'').next())
            .map(String::from)
            .collect()
    };
    let commands = check_commands(recipe, &quoted("sh "));
    let run = the_run(&commands);
    assert_eq!(
        quoted("junit testResults: ")[..],
        [value_of(&run, "--junit").unwrap()]
    );
    // A run that never wrote the report fails on its own error, not on the junit step.
    assert!(text.contains("allowEmptyResults: true"), "{text}");
    // The junit step sits in `post { always { … } }`, so a failing check is recorded.
    let always = text.find("always {").expect("post { always { junit … } }");
    assert!(text.find("junit testResults: '").unwrap() > always);
    assert_eq!(text.matches('{').count(), text.matches('}').count());
}

fn the_ci_docs_show_the_recipes_verbatim() {
    let doc = read("docs/ci.md");
    for recipe in [
        "examples/ci/gitlab-ci.yml",
        "examples/ci/github-actions.yml",
        "examples/ci/github-actions-self-hosted.yml",
        "examples/ci/Jenkinsfile",
    ] {
        assert!(
            doc.contains(read(recipe).trim()),
            "docs/ci.md and {recipe} differ: paste the file into docs/ci.md"
        );
    }
}
