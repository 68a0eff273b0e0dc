//! netcheck as a Docker CLI plugin, without installing anything: the argv forms docker
//! uses, the metadata, the real docker CLI finding the plugin in a config directory of
//! the test's own, and no netcheck flag that clashes with a docker global flag. Nothing
//! here runs checks against the engine (`--list`, `explain`, `--help` only).

use crate::common;

use std::path::Path;
use std::process::Command;

use common::*;

/// Live: outside a terminal (a CI job), the docker CLI does not forward a signal to its
/// plugin; it closes the plugin socket instead. netcheck takes that as SIGTERM: it stops
/// and removes its probe, rather than run on after `docker` is gone.
#[test]
fn a_stopped_docker_cli_stops_the_plugin_and_its_probe() {
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    if !docker_available() {
        return;
    }
    let Some(_live) = live() else { return };
    let dir = plugin_dir();
    let mut cli = Command::new("docker")
        .args([
            "netcheck",
            "--timeout",
            "60",
            "--probe-arg",
            "--stall-ms",
            "--probe-arg",
            "60000",
            "--probe-timeout-ms",
            "60000",
        ])
        .env("DOCKER_CONFIG", dir.path())
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let probes = || {
        sh(&[
            "docker",
            "ps",
            "-a",
            "--filter",
            "label=netcheck.run",
            "--format",
            "{{.Names}}",
        ])
    };
    while probes().is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no probe started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let plugin = sh(&["pgrep", "-P", &cli.id().to_string()]);
    assert!(!plugin.is_empty(), "docker runs no plugin process");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(cli.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let stopped = Instant::now();
    let out = loop {
        if let Some(_status) = cli.try_wait().unwrap() {
            break cli.wait_with_output().unwrap();
        }
        if stopped.elapsed() > Duration::from_secs(20) {
            let _ = cli.kill();
            let _ = Command::new("kill").args(["-9", plugin.trim()]).status();
            let _ = Command::new(bin()).arg("cleanup").status();
            panic!("the plugin ran on after docker was told to stop");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    eprintln!(
        "stopped {:.1} s after SIGTERM: {}",
        stopped.elapsed().as_secs_f64(),
        text(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("interrupted by SIGTERM"),
        "{}",
        text(&out)
    );
    assert!(!Path::new(&format!("/proc/{}", plugin.trim())).exists());
    assert_no_leftovers();
}
