//! The Debian package, end to end: `scripts/package` builds it, `dpkg -i` installs it,
//! the real docker CLI runs the plugin (`docker netcheck`, `docker -H … netcheck`),
//! `docker info` lists it, the man pages and completions are where their tools look,
//! and `dpkg --purge` leaves nothing behind.
//!
//! Live: it installs a package on the host and runs netcheck against the engine, so it
//! holds the host lock, and a guard purges the package on every exit path. It packages
//! the test build (`--profile dev`, already built by `cargo test`), so it adds no
//! release build (fat LTO) to CI; `scripts/package` alone packages the release build.

use crate::common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Instant;

use common::*;

const PLUGIN: &str = "/usr/libexec/docker/cli-plugins/docker-netcheck";

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("{:?}: {e}", cmd.get_program()))
}

fn installed() -> bool {
    run(Command::new("dpkg-query").args(["-W", "-f=${Status}", "netcheck"]))
        .stdout
        .starts_with(b"install ok")
}

/// Purges the package however the test ends.
struct Purge;

impl Drop for Purge {
    fn drop(&mut self) {
        if installed() {
            let _ = Command::new("dpkg").args(["--purge", "netcheck"]).output();
        }
    }
}

/// The docker CLI, with a configuration of its own so that the user's contexts and
/// plugin directories play no part: the plugin is found in the system directory.
fn docker(config: &Path, args: &[&str]) -> Output {
    run(Command::new("docker")
        .args(args)
        .env("DOCKER_CONFIG", config)
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT")
        .env("NO_COLOR", "1"))
}

#[test]
fn the_package_installs_the_plugin_man_pages_and_completions_and_purges_clean() {
    let has_dpkg = Command::new("dpkg").arg("--version").output().is_ok();
    if !has_dpkg {
        assert!(!in_ci(), "CI runs on Debian: dpkg is missing");
        eprintln!("skipping: no dpkg here");
        return;
    }
    // Packaging touches only target/: it runs before the host lock is taken.
    let (deb, paths) = the_package_is_built_with_every_file();

    let Some(_live) = live() else { return };
    let locked = Instant::now();
    assert!(
        !installed() && !Path::new(PLUGIN).exists(),
        "netcheck is already installed on this host: the test would remove it; \
         dpkg --purge netcheck first"
    );
    // What exists before, so that after the purge nothing the package made is left,
    // directories included, and nothing that was there before is gone.
    let existed: Vec<bool> = paths.iter().map(|p| Path::new(p).exists()).collect();

    // Taken before `dpkg -i`, so that a failure in any step below still purges.
    let _purge = Purge;
    it_installs(&deb);
    let config = tempdir();
    let config = config.path();
    the_docker_cli_runs_the_plugin(config);
    docker_info_lists_the_plugin(config);
    man_finds_and_renders_the_pages();
    the_completions_parse_and_register();
    it_removes_and_purges_clean(config, &paths, existed);
    eprintln!(
        "package test: {:.1} s with the host lock held",
        locked.elapsed().as_secs_f64()
    );
}

/// `scripts/package` builds the .deb from the test build, with every file where its
/// tool looks; returns the .deb's path and the paths it holds.
fn the_package_is_built_with_every_file() -> (String, Vec<String>) {
    let triple_bin = Path::new("target/x86_64-unknown-linux-gnu/debug/netcheck");
    assert_eq!(
        std::fs::canonicalize(bin()).unwrap(),
        std::fs::canonicalize(triple_bin).unwrap(),
        "scripts/package --profile dev packages the test build; it must be this one"
    );
    let t0 = Instant::now();
    let out =
        run(Command::new("scripts/package").args(["--profile", "dev", "--no-build", "--fast"]));
    assert!(out.status.success(), "scripts/package: {}", text(&out));
    // The binary is static: no dependency to find, and no warning that none was found.
    assert!(!text(&out).contains("No $auto deps"), "{}", text(&out));
    eprintln!("scripts/package took {:.1} s", t0.elapsed().as_secs_f64());
    let version = env!("CARGO_PKG_VERSION");
    let deb = format!("target/debian/netcheck_{version}-1_amd64.deb");
    let contents = stdout(&run(Command::new("dpkg-deb").args(["-c", &deb])));
    let paths: Vec<String> = contents
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .map(|p| p.trim_start_matches('.').trim_end_matches('/').to_string())
        .filter(|p| !p.is_empty())
        .collect();
    for expected in [
        "/usr/bin/netcheck",
        PLUGIN,
        "/usr/share/man/man1/netcheck.1.gz",
        "/usr/share/man/man1/netcheck-analyze.1.gz",
        "/usr/share/bash-completion/completions/netcheck",
        "/usr/share/zsh/vendor-completions/_netcheck",
        "/usr/share/fish/vendor_completions.d/netcheck.fish",
        "/usr/share/doc/netcheck/docs/checks.md",
    ] {
        assert!(
            paths.iter().any(|p| p == expected),
            "{expected} not packaged:\n{contents}"
        );
    }
    (deb, paths)
}

/// `dpkg -i` installs it, the plugin a relative link to the binary.
fn it_installs(deb: &str) {
    let out = run(Command::new("dpkg").args(["-i", deb]));
    assert!(out.status.success(), "dpkg -i: {}", text(&out));
    assert_eq!(
        std::fs::read_link(PLUGIN).unwrap(),
        Path::new("../../../bin/netcheck")
    );
}

/// The plugin, through the real docker CLI, with netcheck's own arguments and with
/// docker's global flags, which reach the plugin and which it takes as docker does.
fn the_docker_cli_runs_the_plugin(config: &Path) {
    let list = docker(config, &["netcheck", "--list"]);
    assert_eq!(list.status.code(), Some(0), "{}", text(&list));
    let direct = run(Command::new("/usr/bin/netcheck").arg("--list"));
    assert_eq!(stdout(&list), stdout(&direct));
    assert!(stdout(&list).contains("bridge.veth"), "{}", text(&list));
    let help = docker(config, &["help", "netcheck"]);
    assert!(
        stdout(&help).contains("Diagnoses Docker networking")
            && stdout(&help).contains("--network"),
        "{}",
        text(&help)
    );

    let dir = tempdir();
    let json = dir.path().join("report.json");
    let full = docker(
        config,
        &[
            "-H",
            "unix:///var/run/docker.sock",
            "-l",
            "error",
            "netcheck",
            "--json",
            json.to_str().unwrap(),
        ],
    );
    assert_eq!(full.status.code(), Some(0), "{}", text(&full));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let checks = report["checks"].as_array().unwrap();
    assert!(checks.len() > 10, "{report}");
    assert!(
        stdout(&full).contains(&format!("{} passed", report["summary"]["passed"])),
        "{}",
        text(&full)
    );
    let missing = docker(config, &["-H", "unix:///nonexistent.sock", "netcheck"]);
    assert_eq!(missing.status.code(), Some(2), "{}", text(&missing));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(stderr.contains("/nonexistent.sock"), "{}", text(&missing));
    let debug = docker(config, &["-D", "netcheck", "--list", "bridge.veth"]);
    assert_eq!(debug.status.code(), Some(0), "{}", text(&debug));
    assert!(
        String::from_utf8_lossy(&debug.stderr).contains("debug: "),
        "{}",
        text(&debug)
    );
}

/// The plugin contract, and what `docker info` makes of it.
fn docker_info_lists_the_plugin(config: &Path) {
    let meta = run(Command::new(PLUGIN).arg("docker-cli-plugin-metadata"));
    let meta: serde_json::Value = serde_json::from_slice(&meta.stdout).unwrap();
    assert_eq!(meta["SchemaVersion"], "0.1.0");
    let version_line = stdout(&run(Command::new("/usr/bin/netcheck").arg("--version")));
    assert_eq!(
        format!("netcheck {}\n", meta["Version"].as_str().unwrap()),
        version_line
    );
    let info = docker(
        config,
        &["info", "--format", "{{json .ClientInfo.Plugins}}"],
    );
    let plugins: serde_json::Value = serde_json::from_slice(&info.stdout)
        .unwrap_or_else(|e| panic!("docker info: {e}: {}", text(&info)));
    let ours = plugins
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["Name"] == "netcheck")
        .unwrap_or_else(|| panic!("docker info lists no netcheck plugin: {plugins}"));
    eprintln!("docker info: {ours}");
    assert_eq!(ours["Path"], PLUGIN);
    assert_eq!(ours["Version"], meta["Version"]);
    assert_eq!(ours["ShortDescription"], meta["ShortDescription"]);
    assert!(ours.get("Err").is_none_or(|e| e.is_null()), "{ours}");
}

/// man finds the pages where it looks, and they render.
fn man_finds_and_renders_the_pages() {
    let found = run(Command::new("man").args(["-w", "netcheck"]));
    assert_eq!(
        stdout(&found).trim(),
        "/usr/share/man/man1/netcheck.1.gz",
        "{}",
        text(&found)
    );
    for page in ["netcheck", "netcheck-analyze", "netcheck-completions"] {
        let path = format!("/usr/share/man/man1/{page}.1.gz");
        let out = run(Command::new("man")
            .args(["-l", "-P", "cat", &path])
            .env("MANWIDTH", "100"));
        let rendered = stdout(&out);
        assert!(
            out.status.success() && rendered.contains("NAME") && rendered.contains(page),
            "{path}: {}",
            text(&out)
        );
    }
}

/// Each completion parses in its shell, and bash's registers for netcheck.
fn the_completions_parse_and_register() {
    for (shell, file) in [
        ("bash", "/usr/share/bash-completion/completions/netcheck"),
        ("zsh", "/usr/share/zsh/vendor-completions/_netcheck"),
        ("fish", "/usr/share/fish/vendor_completions.d/netcheck.fish"),
    ] {
        let flag = if shell == "fish" {
            "--no-execute"
        } else {
            "-n"
        };
        match Command::new(shell).args([flag, file]).output() {
            Ok(out) => assert!(out.status.success(), "{file}: {}", text(&out)),
            Err(_) if shell != "bash" && !in_ci() => eprintln!("{shell} missing: not parsed"),
            Err(e) => panic!("{shell}: {e}"),
        }
    }
    let registered = run(Command::new("bash").args([
        "-c",
        "source /usr/share/bash-completion/completions/netcheck && complete -p netcheck",
    ]));
    assert!(
        stdout(&registered).contains("netcheck"),
        "{}",
        text(&registered)
    );
}

/// Remove, then purge: nothing the package made is left, nothing else went, and the
/// docker CLI no longer finds the plugin.
fn it_removes_and_purges_clean(config: &Path, paths: &[String], existed: Vec<bool>) {
    let out = run(Command::new("dpkg").args(["-r", "netcheck"]));
    assert!(out.status.success(), "dpkg -r: {}", text(&out));
    assert!(!Path::new("/usr/bin/netcheck").exists() && !Path::new(PLUGIN).exists());
    let out = run(Command::new("dpkg").args(["--purge", "netcheck"]));
    assert!(out.status.success(), "dpkg --purge: {}", text(&out));
    assert!(!installed());
    for (path, before) in paths.iter().zip(existed) {
        let now = Path::new(path).symlink_metadata().is_ok();
        assert_eq!(now, before, "{path}: existed before {before}, now {now}");
    }
    let gone = docker(config, &["netcheck", "--list"]);
    assert_ne!(gone.status.code(), Some(0), "{}", text(&gone));
}
