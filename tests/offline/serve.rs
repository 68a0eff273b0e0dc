//! `netcheck serve` against the local engine, scraped by a real Prometheus server
//! (Debian's), through a fault and its repair, then stopped by SIGTERM.

use crate::common;

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::http::*;
use common::*;

crate::trials!(
    serve_refuses_an_address_in_use_and_a_zero_interval,
    serve_says_when_it_cannot_observe_the_host
);

/// Bad input is an error with its own cause, before anything runs.
fn serve_refuses_an_address_in_use_and_a_zero_interval() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let listen = taken.local_addr().unwrap().to_string();
    let run = netcheck_plain(&["serve", "--listen", &listen]);
    assert_error(&run, &format!("cannot listen on {listen}"));
    let run = netcheck_plain(&["serve", "--interval", "0"]);
    assert_error(&run, "--interval");
}

/// With the daemon dead, every run ends in error with a fresh timestamp: the metric
/// the NetcheckCannotObserve alert reads says so, and /healthz gives the cause.
fn serve_says_when_it_cannot_observe_the_host() {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let _serve = Reaped(
        Command::new(bin())
            .args(["serve", "--listen", &listen, "--interval", "1s"])
            .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let metrics = wait_get(port, "/metrics", Duration::from_secs(20), |code, body| {
        code == 200 && body.contains("netcheck_runs_total{result=\"error\"} 2")
    });
    assert!(
        metrics.contains("netcheck_last_run_observed 0\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("netcheck_last_run_timestamp_seconds "),
        "{metrics}"
    );
    let (code, health) = get(port, "/healthz", "*/*");
    assert_eq!(code, 503, "{health}");
    assert!(health.contains("does not exist"), "{health}");
}
