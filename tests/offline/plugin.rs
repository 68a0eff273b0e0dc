//! netcheck as a Docker CLI plugin, without installing anything: the argv forms docker
//! uses, the metadata, the real docker CLI finding the plugin in a config directory of
//! the test's own, and no netcheck flag that clashes with a docker global flag. Nothing
//! here runs checks against the engine (`--list`, `explain`, `--help` only).

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use common::fake_engine::FakeEngine;
use common::*;

crate::trials!(
    docker_argv_forms_mean_what_they_mean_to_docker,
    metadata_follows_the_plugin_contract,
    the_docker_cli_runs_the_plugin,
    no_netcheck_flag_clashes_with_a_docker_global_flag,
    tab_through_docker_completes_and_never_runs_a_check,
    bash_completion_offers_the_engines_networks_and_the_contexts
);

fn netcheck_as(argv0: &Path, args: &[&str]) -> Output {
    Command::new(argv0).args(args).output().unwrap()
}

fn docker_argv_forms_mean_what_they_mean_to_docker() {
    let dir = plugin_dir();
    let plugin = dir.path().join("cli-plugins/docker-netcheck");
    let list = stdout(&netcheck_as(Path::new(bin()), &["--list", "bridge"]));
    assert!(list.contains("bridge.veth"), "{list}");
    // As docker execs it: the plugin word after docker's global flags.
    for args in [
        &["netcheck", "--list", "bridge"][..],
        &["-l", "warn", "netcheck", "--list", "bridge"],
        &[
            "--log-level=error",
            "--tlsverify",
            "netcheck",
            "--list",
            "bridge",
        ],
    ] {
        let out = netcheck_as(&plugin, args);
        assert_eq!(stdout(&out), list, "{args:?}: {}", text(&out));
    }
    // `-D` before the word is docker's debug flag, and netcheck's too.
    let out = netcheck_as(&plugin, &["-D", "netcheck", "explain", "bridge.veth"]);
    assert!(stdout(&out).starts_with("bridge.veth: "), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("debug: "));
    // `docker help netcheck` runs `docker-netcheck help netcheck`.
    let out = netcheck_as(&plugin, &["help", "netcheck"]);
    assert!(stdout(&out).contains("Usage:"), "{}", text(&out));
    // Run arguments before a subcommand are an error, not a silent run.
    let out = netcheck_as(
        &plugin,
        &["netcheck", "--json", "x", "explain", "bridge.veth"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    // A bad log level is refused as docker refuses it.
    let out = netcheck_as(&plugin, &["-l", "loud", "netcheck", "--list"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

fn metadata_follows_the_plugin_contract() {
    let dir = plugin_dir();
    let out = netcheck_as(
        &dir.path().join("cli-plugins/docker-netcheck"),
        &["docker-cli-plugin-metadata"],
    );
    assert_eq!(out.status.code(), Some(0));
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(meta["SchemaVersion"], "0.1.0");
    assert_eq!(meta["Vendor"], "netcheck");
    let version = stdout(&netcheck_as(Path::new(bin()), &["--version"]));
    assert_eq!(
        version.trim(),
        format!("netcheck {}", meta["Version"].as_str().unwrap())
    );
    assert!(!meta["ShortDescription"].as_str().unwrap().is_empty());
}

fn the_docker_cli_runs_the_plugin() {
    if !docker_available() {
        return;
    }
    let dir = plugin_dir();
    let docker = |args: &[&str]| {
        Command::new("docker")
            .args(args)
            .env("DOCKER_CONFIG", dir.path())
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_CONTEXT")
            .output()
            .unwrap()
    };
    let direct = stdout(&netcheck_as(Path::new(bin()), &["--list"]));
    let out = docker(&["netcheck", "--list"]);
    assert_eq!(stdout(&out), direct, "{}", text(&out));
    let out = docker(&["--context", "default", "-l", "warn", "netcheck", "--list"]);
    assert_eq!(stdout(&out), direct, "{}", text(&out));
    let out = docker(&["netcheck", "explain", "nat.masquerade"]);
    assert!(
        stdout(&out).starts_with("nat.masquerade: "),
        "{}",
        text(&out)
    );
    let out = docker(&["netcheck", "--help"]);
    assert!(stdout(&out).contains("--network"), "{}", text(&out));
    // docker hands its `-v` (version) to the plugin, which answers with its version;
    // after the word `-v` is netcheck's own (verbose), as `docker run -v` is run's.
    let out = docker(&["-v", "netcheck", "--list"]);
    assert_eq!(
        stdout(&out),
        stdout(&netcheck_as(Path::new(bin()), &["--version"])),
        "{}",
        text(&out)
    );
    let out = docker(&["netcheck", "--help"]);
    assert!(
        stdout(&out).contains("Usage: docker netcheck "),
        "{}",
        text(&out)
    );
}

/// `-X` or `--long` names in a --help text, paired when given together (`-D, --debug`).
fn flags(help: &str) -> BTreeMap<String, Option<String>> {
    let mut found = BTreeMap::new();
    for line in help.lines() {
        let words: Vec<&str> = line
            .split_whitespace()
            .take(2)
            .map(|w| w.trim_end_matches(','))
            .collect();
        match words[..] {
            [short, long, ..]
                if short.len() == 2 && short.starts_with('-') && long.starts_with("--") =>
            {
                found.insert(short.to_string(), Some(long.to_string()));
                found.insert(long.to_string(), Some(short.to_string()));
            }
            [long, ..] if long.starts_with("--") && line.trim_start().starts_with("--") => {
                found.insert(long.to_string(), None);
            }
            _ => {}
        }
    }
    found
}

/// Docker's global flags: `docker --help`'s "Global Options" where a docker CLI is here
/// (so that a newer docker's new flag is caught), else the list of docker 28.
fn docker_globals() -> BTreeMap<String, Option<String>> {
    let help = Command::new("docker")
        .arg("--help")
        .output()
        .map(|o| stdout(&o))
        .unwrap_or_default();
    let section = help.split("Global Options:").nth(1).map(|s| {
        s.lines()
            .take_while(|l| !l.trim().is_empty() || l.is_empty())
            .collect::<Vec<_>>()
            .join("\n")
    });
    let globals = flags(section.as_deref().unwrap_or(
        "      --config string
  -c, --context string
  -D, --debug
  -H, --host list
  -l, --log-level string
      --tls
      --tlscacert string
      --tlscert string
      --tlskey string
      --tlsverify
  -v, --version",
    ));
    assert!(
        globals.contains_key("-H") && globals.contains_key("--tlsverify"),
        "{globals:?}"
    );
    globals
}

fn no_netcheck_flag_clashes_with_a_docker_global_flag() {
    let globals = docker_globals();
    let mut helps = vec![stdout(&netcheck_as(Path::new(bin()), &["--help"]))];
    for sub in [
        "explain",
        "collect",
        "analyze",
        "cleanup",
        "serve",
        "completions",
    ] {
        helps.push(stdout(&netcheck_as(Path::new(bin()), &[sub, "--help"])));
    }
    for help in &helps {
        for (flag, partner) in flags(help) {
            let Some(docker_partner) = globals.get(&flag) else {
                continue;
            };
            // docker's `-v/--version` before the plugin word is docker's, and the
            // plugin answers it with its version (the_docker_cli_runs_the_plugin); after
            // the word, `-v` is netcheck's verbose, as `docker run -v` is run's volume.
            if ["-v", "--version"].contains(&flag.as_str()) {
                continue;
            }
            // A flag docker also has must be the same flag: same short and long name.
            assert_eq!(
                &partner, docker_partner,
                "netcheck's {flag} ({partner:?}) differs from docker's ({docker_partner:?})"
            );
        }
    }
    // And every docker global that docker hands a plugin is one netcheck accepts.
    let top = flags(&helps[0]);
    for (flag, _) in globals
        .iter()
        .filter(|(f, _)| *f != "-v" && *f != "--version")
    {
        assert!(
            top.contains_key(flag),
            "docker's {flag} is not a netcheck flag"
        );
    }
}

/// The candidates of a cobra completion answer, and its directive.
fn completion(out: &Output) -> (Vec<String>, u32) {
    let text = stdout(out);
    let mut lines: Vec<&str> = text.lines().collect();
    let directive = lines
        .pop()
        .and_then(|l| l.strip_prefix(':'))
        .and_then(|d| d.parse().ok())
        .unwrap_or_else(|| panic!("no :<directive> line last:\n{}", text));
    let candidates = lines
        .iter()
        .map(|l| l.split('\t').next().unwrap().to_string())
        .collect();
    (candidates, directive)
}

fn tab_through_docker_completes_and_never_runs_a_check() {
    if !docker_available() {
        return;
    }
    let dir = plugin_dir();
    // An engine that records every request: completion may list networks, nothing else.
    let engine = FakeEngine::docker("app-net", "app");
    let docker = |args: &[&str]| {
        Command::new("docker")
            .args(args)
            .env("DOCKER_CONFIG", dir.path())
            .env("DOCKER_HOST", engine.docker_host())
            .env_remove("DOCKER_CONTEXT")
            .output()
            .unwrap()
    };
    // What docker's own bash and zsh completion send on TAB after `docker netcheck `.
    let out = docker(&["__complete", "netcheck", ""]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let (ids, directive) = completion(&out);
    for id in ["bridge.veth", "kernel.ip-forward", "link.mtu", "explain"] {
        assert!(
            ids.iter().any(|c| c == id),
            "{id} not offered: {}",
            text(&out)
        );
    }
    assert_eq!(directive & 4, 4, "no file names for a filter");
    let ran = stdout(&out)
        .lines()
        .any(|l| l.starts_with("PASS") || l.starts_with("FAIL") || l.contains(" skipped; "));
    assert!(!ran, "a check ran: {}", text(&out));
    // With descriptions (docker's zsh and fish ask for them), and without.
    assert!(stdout(&out).contains("bridge.veth\t"), "{}", text(&out));
    // docker always asks its plugins with `__complete` and drops descriptions itself;
    // asked directly, netcheck answers `__completeNoDesc` as cobra does.
    let plugin = dir.path().join("cli-plugins/docker-netcheck");
    let out = netcheck_as(&plugin, &["__completeNoDesc", "netcheck", "bridge.v"]);
    assert_eq!(stdout(&out), "bridge.veth\n:36\n", "{}", text(&out));
    let (flags, _) = completion(&docker(&["__complete", "netcheck", "--col"]));
    assert_eq!(flags, ["--color"]);
    let (profiles, _) = completion(&docker(&["__complete", "netcheck", "--profile", ""]));
    assert_eq!(profiles, ["default", "onboarding", "ci"]);
    let (shells, _) = completion(&docker(&["__complete", "netcheck", "completions", ""]));
    assert!(shells.contains(&"bash".to_string()), "{shells:?}");
    let (contexts, directive) = completion(&docker(&["__complete", "netcheck", "--context", ""]));
    assert!(contexts.contains(&"default".to_string()), "{contexts:?}");
    assert_eq!(directive & 4, 4, "no file names for a context");
    let asked = engine.requests.lock().unwrap().clone();
    assert!(asked.is_empty(), "completion asked the engine: {asked:?}");
    // The engine's networks, for --network: one read-only request.
    let (networks, directive) = completion(&docker(&["__complete", "netcheck", "--network", ""]));
    assert_eq!(networks, ["app-net"]);
    assert_eq!(directive & 4, 4);
    let asked = engine.requests.lock().unwrap().clone();
    assert!(
        !asked.is_empty()
            && asked
                .iter()
                .all(|r| r.starts_with("GET ") && r.contains("/networks")),
        "{asked:?}"
    );
}

/// The packaged bash completion asks netcheck for the engine's networks and the
/// contexts (the values docker's TAB gets), and leaves check ids to the script.
fn bash_completion_offers_the_engines_networks_and_the_contexts() {
    let Ok(probe) = Command::new("bash").arg("--version").output() else {
        return;
    };
    assert!(probe.status.success());
    let engine = FakeEngine::docker("app-net", "app");
    let dir = tempdir();
    let script = dir.path().join("netcheck.bash");
    let out = netcheck_as(Path::new(bin()), &["completions", "bash"]);
    std::fs::write(&script, &out.stdout).unwrap();
    let complete = |words: &str| {
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!(
                "source {}; COMP_WORDS=({} {words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); \
                 COMP_LINE=\"${{COMP_WORDS[*]}}\"; COMP_POINT=${{#COMP_LINE}}; \
                 _netcheck_engine_values \"${{COMP_WORDS[0]}}\" \"${{COMP_WORDS[COMP_CWORD]}}\" \
                 \"${{COMP_WORDS[COMP_CWORD-1]}}\"; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
                script.display(),
                bin()
            ))
            .env("DOCKER_HOST", engine.docker_host())
            .env("DOCKER_CONFIG", dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        stdout(&out)
    };
    assert_eq!(complete("--network ''"), "app-net\n");
    assert_eq!(complete("--context d"), "default\n");
    assert!(complete("kernel.ip").contains("kernel.ip-forward"));
    assert!(complete("--profile ''").contains("onboarding"));
}
