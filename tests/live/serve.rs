//! `netcheck serve` against the local engine, scraped by a real Prometheus server
//! (Debian's), through a fault and its repair, then stopped by SIGTERM.

use crate::common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::http::*;
use common::*;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// The serve interval of these tests, in seconds.
const INTERVAL: u64 = 2;

fn serve(port: u16, extra: &[&str]) -> Reaped {
    let listen = format!("127.0.0.1:{port}");
    let interval = INTERVAL.to_string();
    let mut args = vec!["serve", "--listen", &listen, "--interval", &interval];
    args.extend_from_slice(extra);
    Reaped(
        Command::new(bin())
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    )
}

/// Sends SIGTERM and waits for the exit code, bounded.
fn terminate(child: &mut Reaped, within: Duration) -> i32 {
    kill(Pid::from_raw(child.0.id() as i32), Signal::SIGTERM).unwrap();
    let started = Instant::now();
    loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            return status.code().unwrap_or(-1);
        }
        assert!(
            started.elapsed() < within,
            "serve did not exit within {within:?} of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Debian's Prometheus on loopback, storing in a temporary directory, scraping serve
/// every second.
struct Prometheus {
    port: u16,
    _child: Reaped,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    fn start(target_port: u16) -> Prometheus {
        let dir = tempdir();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\n\
                 scrape_configs:\n  - job_name: netcheck\n    static_configs:\n      \
                 - targets: ['127.0.0.1:{target_port}']\n"
            ),
        )
        .unwrap();
        let port = free_port();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("Debian's prometheus is installed (scripts/test installs it)");
        let p = Prometheus {
            port,
            _child: Reaped(child),
            _dir: dir,
        };
        wait_get(port, "/-/ready", Duration::from_secs(30), |c, _| c == 200);
        p
    }

    /// An instant query's result vector, through the HTTP API.
    fn query(&self, promql: &str) -> Vec<serde_json::Value> {
        let q: String = promql
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        let (code, body) = get(self.port, &format!("/api/v1/query?query={q}"), "*/*");
        assert_eq!(code, 200, "{promql}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v["data"]["result"].as_array().cloned().unwrap_or_default()
    }

    /// Waits until `promql` returns one sample with value `want`.
    fn wait_value(&self, promql: &str, want: &str, within: Duration) {
        let started = Instant::now();
        loop {
            let result = self.query(promql);
            if result.len() == 1 && result[0]["value"][1] == want {
                return;
            }
            assert!(
                started.elapsed() < within,
                "{promql} did not become {want} within {within:?}: {result:?}"
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

fn promtool_check_metrics(text: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("Debian's promtool is installed (scripts/test installs it)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The done-when of serve: healthy, scraped, a fault seen within two intervals by
/// /healthz and by PromQL, healthy again after the repair, and nothing left on SIGTERM.
#[test]
fn serve_is_scraped_through_a_fault_and_its_repair() {
    let Some(_live) = live() else { return };
    let port = free_port();
    let mut serve = serve(port, &[]);
    let health = wait_get(port, "/healthz", Duration::from_secs(60), |c, _| c == 200);
    assert!(health.starts_with("pass in "), "{health}");

    let (code, metrics) = get(port, "/metrics", "text/plain");
    assert_eq!(code, 200);
    promtool_check_metrics(&metrics);
    assert!(
        metrics.contains(
            "netcheck_check_status{check=\"kernel.ip-forward\",network=\"\",status=\"pass\"} 1"
        ),
        "{metrics}"
    );
    let (code, json) = get(port, "/report.json", "*/*");
    assert_eq!(code, 200);
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["schema"], netcheck::report::REPORT_SCHEMA);
    let (code, html) = get(port, "/report.html", "*/*");
    assert_eq!(code, 200);
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    assert_eq!(get(port, "/nothing-here", "*/*").0, 404);

    let prometheus = Prometheus::start(port);
    prometheus.wait_value("up{job=\"netcheck\"}", "1", Duration::from_secs(20));
    prometheus.wait_value(
        "netcheck_check_status{check=\"kernel.ip-forward\",status=\"pass\"}",
        "1",
        Duration::from_secs(20),
    );

    let mut restore = Restore::default();
    let before = sh(&["sysctl", "-n", "net.ipv4.ip_forward"]);
    restore.push(&["sysctl", "-qw", &format!("net.ipv4.ip_forward={before}")]);
    sh(&["sysctl", "-qw", "net.ipv4.ip_forward=0"]);
    // A run that started before the fault may still pass; the next one, at most an
    // interval (plus jitter) after it ends, must fail. Each run takes a few seconds.
    let fault_seen = Instant::now();
    let body = wait_get(
        port,
        "/healthz",
        Duration::from_secs(2 * INTERVAL + 2 * 5),
        |c, _| c == 503,
    );
    eprintln!(
        "/healthz turned 503 {:?} after the fault",
        fault_seen.elapsed()
    );
    assert!(
        body.lines()
            .any(|l| l.starts_with("fail kernel.ip-forward: ")),
        "{body}"
    );
    prometheus.wait_value(
        "netcheck_check_status{check=\"kernel.ip-forward\",status=\"fail\"}",
        "1",
        Duration::from_secs(10),
    );
    prometheus.wait_value(
        "netcheck_check_status{check=\"kernel.ip-forward\",status=\"pass\"}",
        "0",
        Duration::from_secs(10),
    );
    prometheus.wait_value(
        "netcheck_runs_total{result=\"fail\"} > bool 0",
        "1",
        Duration::from_secs(10),
    );

    drop(restore);
    wait_get(
        port,
        "/healthz",
        Duration::from_secs(2 * INTERVAL + 2 * 5),
        |c, _| c == 200,
    );
    prometheus.wait_value(
        "netcheck_check_status{check=\"kernel.ip-forward\",status=\"pass\"}",
        "1",
        Duration::from_secs(10),
    );

    assert_eq!(terminate(&mut serve, Duration::from_secs(40)), 0);
    assert_no_leftovers();
}

/// A hung run is cut short by --timeout and reported as an error; SIGTERM during a
/// hung run abandons it, removes its probe, and exits at once.
#[test]
fn serve_bounds_a_hung_run_and_stops_mid_run() {
    let Some(_live) = live() else { return };
    let port = free_port();
    let mut serve = serve(
        port,
        &[
            "--timeout",
            "3",
            "--probe-arg",
            "--stall-ms",
            "--probe-arg",
            "60000",
        ],
    );
    let body = wait_get(port, "/healthz", Duration::from_secs(30), |c, b| {
        c == 503 && b.starts_with("error")
    });
    assert!(
        body.contains("error netcheck: timed out after 3 s while collecting observations"),
        "{body}"
    );
    let (_, metrics) = get(port, "/metrics", "text/plain");
    assert!(
        metrics.contains("netcheck_runs_total{result=\"error\"} 1"),
        "{metrics}"
    );
    // The second run hangs on its probe: stop serve in the middle of it.
    let filter = format!("label=netcheck.pid={}", serve.0.id());
    let started = Instant::now();
    while sh(&[
        "docker",
        "ps",
        "--filter",
        &filter,
        "--format",
        "{{.Names}}",
    ])
    .is_empty()
    {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the next run never started its probe"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let stopping = Instant::now();
    assert_eq!(terminate(&mut serve, Duration::from_secs(30)), 0);
    assert!(
        stopping.elapsed() < Duration::from_secs(15),
        "SIGTERM waited for the hung run: {:?}",
        stopping.elapsed()
    );
    assert_no_leftovers();
}

/// Any local user can open connections to serve's port and sit on them. With 1100 held
/// idle, more than serve's 1024 open files (a shell's) could hold, /healthz and
/// /metrics still answer at once: idle connections are dropped first for newcomers.
/// Before, the request waited in the backlog until idle ones timed out (7 s).
#[test]
fn serve_answers_while_idle_connections_are_held() {
    let Some(_live) = live() else { return };
    // This test's own end of the connections needs the descriptors.
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit on a struct of this function's.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur = lim.rlim_max.min(8192);
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
    }
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut serve = Reaped(
        Command::new("prlimit")
            .args(["--nofile=1024:1024", bin(), "serve", "--listen", &listen])
            .args(["--interval", "60"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_get(port, "/healthz", Duration::from_secs(30), |c, _| c != 0);
    let idle: Vec<std::net::TcpStream> = (0..1100)
        .filter_map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).ok())
        .collect();
    assert!(idle.len() >= 1090, "only {} connections opened", idle.len());
    for path in ["/healthz", "/metrics", "/healthz"] {
        let started = Instant::now();
        let (code, body) = get_within(port, path, Duration::from_secs(3));
        assert!(
            code == 200 || code == 503,
            "{path} unanswered after {:?} with 1100 idle connections held: {code} {body}",
            started.elapsed()
        );
    }
    drop(idle);
    assert_eq!(terminate(&mut serve, Duration::from_secs(30)), 0);
    assert_no_leftovers();
}

/// A GET whose answer must come within `within` (status 0 when it does not).
fn get_within(port: u16, path: &str, within: Duration) -> (u16, String) {
    use std::io::Read;
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new());
    };
    s.set_read_timeout(Some(within)).unwrap();
    if write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").is_err() {
        return (0, String::new());
    }
    let mut response = String::new();
    let _ = s.read_to_string(&mut response);
    let code = response
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, response)
}
