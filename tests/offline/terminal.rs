//! Terminal conventions and the GitHub format: colour, quiet mode, --version,
//! completions, man pages, and `--format github` annotations. Offline: they judge
//! fixtures with `analyze`, which needs no daemon.

use crate::common;

use std::process::Command;

use common::*;

crate::trials!(
    colour_follows_the_flag_then_no_color_then_the_terminal,
    quiet_prints_only_failures_and_the_summary,
    version_names_the_commit_built_from,
    github_format_annotates_each_failure_with_its_fix,
    github_format_escapes_engine_text_and_cannot_be_forged,
    github_format_annotates_why_netcheck_could_not_run,
    completions_parse_in_their_shells,
    man_pages_cover_the_visible_commands
);

const FAULT: &str = "fixtures/fault-bridge.veth-nomaster.json";

fn colour_follows_the_flag_then_no_color_then_the_terminal() {
    let coloured = |args: &[&str], env: &[(&str, &str)]| {
        let out = netcheck_with(&[&["analyze", FAULT][..], args].concat(), env);
        assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
        stdout(&out).contains("\x1b[")
    };
    // stdout is a pipe here: auto means no colour, whatever the environment.
    assert!(!coloured(&[], &[]));
    assert!(!coloured(&["--color", "auto"], &[]));
    assert!(coloured(&["--color", "always"], &[]));
    assert!(coloured(&["--color", "always"], &[("NO_COLOR", "1")]));
    assert!(!coloured(&["--color", "never"], &[("CLICOLOR_FORCE", "1")]));
    // Without the flag, CLICOLOR_FORCE forces colour into a pipe and NO_COLOR wins.
    assert!(coloured(&[], &[("CLICOLOR_FORCE", "1")]));
    assert!(!coloured(
        &[],
        &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]
    ));
    let bad = netcheck_with(&["--color", "sometimes", "--list"], &[]);
    assert_eq!(bad.status.code(), Some(2));
}

fn quiet_prints_only_failures_and_the_summary() {
    let out = netcheck_with(&["analyze", FAULT, "-q"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    let verdicts: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with(' '))
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    // Two failures (bridge.veth and, through the detached veth, bridge.icc), then the
    // summary line that still counts the passes.
    assert_eq!(verdicts, ["FAIL", "FAIL", "12"], "{text}");
    assert!(!text.contains("PASS") && !text.contains("SKIP"), "{text}");
    assert!(text.contains("fix: ip link set veth"), "{text}");
    let summary = text.lines().last().unwrap();
    assert!(
        summary.starts_with("12 passed, 2 failed, 1 skipped; "),
        "{text}"
    );
    let healthy = netcheck_with(
        &["analyze", "fixtures/healthy-default-bridge.json", "-q"],
        &[],
    );
    assert_eq!(healthy.status.code(), Some(0));
    assert_eq!(stdout(&healthy).lines().count(), 1, "{}", stdout(&healthy));
    let both = netcheck_with(&["analyze", FAULT, "-q", "-v"], &[]);
    assert_eq!(both.status.code(), Some(2));
}

fn version_names_the_commit_built_from() {
    let out = netcheck_with(&["--version"], &[]);
    let text = stdout(&out);
    let git = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    assert_eq!(
        text,
        format!("netcheck {} (commit {git})\n", env!("CARGO_PKG_VERSION"))
    );
}

/// The annotations of a report, after the pause in workflow commands ends.
fn annotations(text: &str) -> Vec<&str> {
    let mut lines = text.lines();
    let first = lines.next().unwrap();
    let token = first
        .strip_prefix("::stop-commands::")
        .unwrap_or_else(|| panic!("no pause before the report:\n{text}"));
    let resume = format!("::{token}::");
    lines
        .by_ref()
        .find(|l| *l == resume)
        .unwrap_or_else(|| panic!("the pause never ends:\n{text}"));
    lines.collect()
}

fn github_format_annotates_each_failure_with_its_fix() {
    let dir = tempdir();
    let json = dir.path().join("r.json");
    let out = netcheck_with(&["analyze", FAULT, "--format", "github", "--json"], &[]);
    assert_eq!(out.status.code(), Some(2), "--json needs its FILE");
    let out = Command::new(bin())
        .args(["analyze", FAULT, "--format", "github", "--json"])
        .arg(&json)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let failed: Vec<&serde_json::Value> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "fail")
        .collect();
    let notes = annotations(&text);
    assert_eq!(notes.len(), failed.len(), "{text}");
    for (note, check) in notes.iter().zip(&failed) {
        let id = check["id"].as_str().unwrap();
        let head = format!("::error title=netcheck%3A {id} failed::");
        assert!(note.starts_with(&head), "{note}");
        let fix = format!("%0Afix: {}", check["hint"].as_str().unwrap());
        assert!(note.ends_with(&fix), "{note}");
    }
    assert_eq!(
        notes[0],
        "::error title=netcheck%3A bridge.veth[netcheck-test-veth] failed::host end \
         vethea66838 of netcheck-test-veth-app's eth0 is on no bridge; it belongs on \
         br-561b83d5790f%0Afix: ip link set vethea66838 master br-561b83d5790f   \
         (or docker restart netcheck-test-veth-app)"
    );
    // A healthy host: nothing to annotate, and the log still shows the report.
    let out = netcheck_with(
        &[
            "analyze",
            "fixtures/healthy-default-bridge.json",
            "--format",
            "github",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0));
    assert!(annotations(&stdout(&out)).is_empty());
}

fn github_format_escapes_engine_text_and_cannot_be_forged() {
    // A container named with a newline, a workflow command, `%`, `:` and `,`.
    let evil = "app\n::error title=forged::pwned 100%, a:b\r";
    let mut snap: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(FAULT).unwrap()).unwrap();
    let docker = &mut snap["docker"]["value"];
    docker["containers"][1]["name"] = evil.into();
    docker["networks"][2]["endpoints"][0]["container_name"] = evil.into();
    let dir = tempdir();
    let path = dir.path().join("evil.json");
    std::fs::write(&path, snap.to_string()).unwrap();
    let out = Command::new(bin())
        .args(["analyze", "--format", "github"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    let notes = annotations(&text);
    assert_eq!(notes.len(), 2, "{text}");
    // Every line the runner reads as a command is netcheck's own.
    for note in &notes {
        assert!(note.starts_with("::error title=netcheck%3A "), "{note}");
    }
    // The name's control characters are shown, not acted on (#22): no line break of
    // the name's own in the annotation, and the fix quotes it on one line.
    assert!(
        notes[0].contains("app\\n::error title=forged::pwned 100%25, a:b\\r's eth0"),
        "{}",
        notes[0]
    );
    assert!(
        notes[0].contains("docker restart $'app\\n::error title=forged::pwned 100%25, a:b\\r'"),
        "{}",
        notes[0]
    );
}

fn github_format_annotates_why_netcheck_could_not_run() {
    let out = Command::new(bin())
        .args(["analyze", "/nonexistent/snap.json", "--format", "github"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let text = stdout(&out);
    assert!(
        text.starts_with(
            "::error title=netcheck%3A netcheck could not run::/nonexistent/snap.json"
        ),
        "{text}"
    );
}

fn completions_parse_in_their_shells() {
    for (shell, check) in [
        ("bash", &["bash", "-n"][..]),
        ("zsh", &["zsh", "-n"]),
        ("fish", &["fish", "--no-execute"]),
    ] {
        let out = netcheck_with(&["completions", shell], &[]);
        assert_eq!(out.status.code(), Some(0));
        let script = stdout(&out);
        assert!(
            script.contains("netcheck") && script.contains("network"),
            "{shell}"
        );
        // The subcommands are completed, and hidden ones are not offered.
        assert!(script.contains("explain"), "{shell}");
        for hidden in ["probe-image", "manpages", "probe-arg"] {
            assert!(!script.contains(hidden), "{shell} offers {hidden}");
        }
        let dir = tempdir();
        let file = dir.path().join("completion");
        std::fs::write(&file, &script).unwrap();
        match Command::new(check[0]).args(&check[1..]).arg(&file).output() {
            Ok(out) => assert!(
                out.status.success(),
                "{shell} rejects its completion: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
            // scripts/test installs them; elsewhere a missing shell is a skip.
            Err(_) if shell != "bash" && !in_ci() => {
                eprintln!("{shell} is not installed: not parsed")
            }
            Err(e) => panic!("{shell}: {e}"),
        }
    }
    let out = netcheck_with(&["completions", "tcsh"], &[]);
    assert_eq!(out.status.code(), Some(2));
}

fn man_pages_cover_the_visible_commands() {
    let dir = tempdir();
    let out = netcheck_with(&["manpages", dir.path().to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(0));
    let mut pages: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    pages.sort();
    // One page per command that --help lists (not `help`), and `suite check`'s.
    let help = stdout(&netcheck_with(&["--help"], &[]));
    let commands = help
        .split("Commands:\n")
        .nth(1)
        .unwrap()
        .lines()
        .take_while(|l| !l.is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .map(|l| l.split_whitespace().next().unwrap())
        .filter(|c| *c != "help");
    let mut expected: Vec<String> = commands
        .map(|c| format!("netcheck-{c}.1"))
        .chain(["netcheck.1".into(), "netcheck-suite-check.1".into()])
        .collect();
    expected.sort();
    assert!(expected.len() >= 8, "{help}");
    assert_eq!(pages, expected);
    let main = std::fs::read_to_string(dir.path().join("netcheck.1")).unwrap();
    assert!(main.starts_with(".ie"), "{main}");
    assert!(main.contains(".TH netcheck 1"), "{main}");
    for needle in [
        "\\-\\-network",
        "\\-\\-junit",
        "EXIT STATUS",
        "explain",
        ".SH ENVIRONMENT",
        "DOCKER_HOST",
        ".SH EXAMPLES",
        ".SH CHECKS",
        "link.mtu",
    ] {
        assert!(main.contains(needle), "{needle} missing from netcheck.1");
    }
    if let Ok(out) = Command::new("man")
        .args(["-l", "-P", "cat"])
        .arg(dir.path().join("netcheck.1"))
        .env("MANWIDTH", "100")
        .output()
    {
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success() && text.contains("--junit"), "{text}");
    }
    // Writing into a file is a clear error, not a panic.
    let file = dir.path().join("netcheck.1");
    let out = netcheck_with(&["manpages", file.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2));
}
