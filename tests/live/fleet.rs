//! Fleets: several engines in one run and one report.
//!
//! The fleet's engines are local unix sockets, named by -H or by docker contexts: the
//! host's own, and a second socket that a test makes, which passes requests through to
//! the host's engine. That second engine can lie about itself: it adds a warning to
//! `docker info`, a fault of that engine alone.

use crate::common;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;

const HOST_SOCKET: &str = "/var/run/docker.sock";

/// What the proxied engine says of itself, besides what the real one says.
const INJECTED_WARNING: &str =
    "WARNING: API is accessible on http://0.0.0.0:2375 without encryption.";

/// A second engine endpoint: a unix socket passing every request to the host's engine,
/// each connection closed after one exchange (so that every request is seen), and,
/// with `lie`, the injected warning added to /info's Warnings. Stops when dropped.
struct Proxy {
    _dir: tempfile::TempDir,
    socket: PathBuf,
}

impl Proxy {
    fn start(lie: bool) -> Proxy {
        let dir = tempdir();
        let socket = dir.path().join("engine.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                std::thread::spawn(move || {
                    let _ = pass(client, lie);
                });
            }
        });
        Proxy { _dir: dir, socket }
    }

    fn endpoint(&self) -> String {
        format!("unix://{}", self.socket.display())
    }
}

fn pass(client: UnixStream, lie: bool) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut head = Vec::new();
    loop {
        let mut line = Vec::new();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        let end = line == b"\r\n";
        head.push(String::from_utf8_lossy(&line).into_owned());
        if end {
            break;
        }
    }
    let request_line = head[0].clone();
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let upgrade = head
        .iter()
        .any(|h| h.to_ascii_lowercase().starts_with("upgrade:"));
    if !upgrade {
        head.retain(|h| !h.to_ascii_lowercase().starts_with("connection:"));
        head.insert(1, "Connection: close\r\n".into());
    }
    let mut upstream = UnixStream::connect(HOST_SOCKET)?;
    upstream.write_all(head.concat().as_bytes())?;
    upstream.write_all(reader.buffer())?;
    let rewrite = lie && method == "GET" && path.split('?').next().unwrap_or("").ends_with("/info");
    if rewrite {
        let mut response = Vec::new();
        upstream.read_to_end(&mut response)?;
        return answer_with_warning(client, &response);
    }
    let (mut from_client, mut to_upstream) = (reader, upstream.try_clone()?);
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut from_client, &mut to_upstream);
    });
    let mut to_client = client.try_clone()?;
    let _ = std::io::copy(&mut upstream, &mut to_client);
    let _ = client.shutdown(std::net::Shutdown::Both);
    let _ = upstream.shutdown(std::net::Shutdown::Both);
    Ok(())
}

/// Answers /info with the real engine's answer plus the injected warning.
fn answer_with_warning(mut client: UnixStream, response: &[u8]) -> std::io::Result<()> {
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP response");
    let head = String::from_utf8_lossy(&response[..split]).to_ascii_lowercase();
    let mut body = response[split + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    let mut info: serde_json::Value = serde_json::from_slice(&body).expect("/info is JSON");
    let warnings = info["Warnings"].as_array().cloned().unwrap_or_default();
    info["Warnings"] = warnings
        .into_iter()
        .chain([INJECTED_WARNING.into()])
        .collect::<Vec<_>>()
        .into();
    let body = info.to_string();
    write!(
        client,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    client.shutdown(std::net::Shutdown::Both)
}

fn dechunk(mut chunked: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let line_end = chunked.windows(2).position(|w| w == b"\r\n").unwrap();
        let size_text = String::from_utf8_lossy(&chunked[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        if size == 0 {
            return body;
        }
        let start = line_end + 2;
        body.extend_from_slice(&chunked[start..start + size]);
        chunked = &chunked[start + size + 2..];
    }
}

fn suites(junit: &Path) -> Vec<(String, String)> {
    let xml = std::fs::read_to_string(junit).unwrap();
    xml.match_indices("<testsuite ")
        .map(|(i, _)| {
            let tag = &xml[i..i + xml[i..].find('>').unwrap()];
            let attr = |name: &str| {
                let key = format!(" {name}=\"");
                let at = tag.find(&key).map(|a| a + key.len()).unwrap_or(0);
                tag[at..at + tag[at..].find('"').unwrap_or(0)].to_string()
            };
            (
                attr("name"),
                format!("{} failures, {} errors", attr("failures"), attr("errors")),
            )
        })
        .collect()
}

struct FleetRun {
    run: Run,
    junit: PathBuf,
    markdown: String,
    html: String,
    _dir: tempfile::TempDir,
}

/// A docker CLI configuration directory holding a context per (name, endpoint), as
/// `docker context create NAME --docker host=ENDPOINT` makes them.
fn contexts(contexts: &[(&str, &str)]) -> tempfile::TempDir {
    use sha2::Digest;
    let dir = tempdir();
    for (name, endpoint) in contexts {
        let hash: String = sha2::Sha256::digest(name.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let meta = dir.path().join("contexts/meta").join(hash);
        std::fs::create_dir_all(&meta).unwrap();
        let json = serde_json::json!({
            "Name": name, "Metadata": {},
            "Endpoints": {"docker": {"Host": endpoint, "SkipTLSVerify": false}}
        });
        std::fs::write(meta.join("meta.json"), json.to_string()).unwrap();
    }
    dir
}

fn fleet(engines: &[&str], extra: &[&str]) -> FleetRun {
    let mut args: Vec<&str> = vec![];
    for e in engines {
        args.extend(["-H", e]);
    }
    args.extend_from_slice(extra);
    fleet_env(&args, &[])
}

fn fleet_env(engine_args: &[&str], env: &[(&str, &str)]) -> FleetRun {
    let dir = tempdir();
    let junit = dir.path().join("fleet.xml");
    let md = dir.path().join("fleet.md");
    let html = dir.path().join("fleet.html");
    let mut args: Vec<&str> = engine_args.to_vec();
    let (junit_s, md_s, html_s) = (
        junit.display().to_string(),
        md.display().to_string(),
        html.display().to_string(),
    );
    args.extend(["--junit", &junit_s, "--markdown", &md_s, "--html", &html_s]);
    let run = netcheck_env(&args, env);
    FleetRun {
        markdown: std::fs::read_to_string(&md).unwrap_or_default(),
        html: std::fs::read_to_string(&html).unwrap_or_default(),
        run,
        junit,
        _dir: dir,
    }
}

/// Two healthy engines, by context: one report, exactly two testsuites named by their
/// contexts, which validate; exit 0.
#[test]
fn two_engines_give_one_report_with_a_testsuite_each() {
    let Some(_live) = live() else { return };
    let proxy = Proxy::start(false);
    let host = format!("unix://{HOST_SOCKET}");
    let config = contexts(&[
        ("netcheck-host", &host),
        ("netcheck-proxy", &proxy.endpoint()),
    ]);
    let f = fleet_env(
        &["--context", "netcheck-host", "--context", "netcheck-proxy"],
        &[("DOCKER_CONFIG", config.path().to_str().unwrap())],
    );
    assert_eq!(f.run.code, 0, "{}", f.run.explain());
    validate_junit(&f.junit);
    let suites = suites(&f.junit);
    assert_eq!(suites.len(), 2, "{suites:?}");
    assert_eq!(suites[0].0, "netcheck@netcheck-host");
    assert_eq!(suites[1].0, "netcheck@netcheck-proxy");
    let report = f.run.report.as_ref().unwrap();
    assert_eq!(report["schema"], "netcheck-fleet/v1");
    assert_eq!(report["engines"].as_array().unwrap().len(), 2);
    for e in report["engines"].as_array().unwrap() {
        assert_eq!(e["exit_code"], 0, "{e}");
        assert_eq!(e["report"]["schema"], netcheck::report::REPORT_SCHEMA);
    }
    assert!(
        f.markdown
            .contains("## netcheck on 2 engines: ✅ all healthy"),
        "{}",
        f.markdown
    );
    assert!(f.html.contains(r#"<section id="engine-1">"#), "{}", f.html);
    assert!(f.html.contains(r#"id="e1-check-"#) && !f.html.contains(r#"id="check-"#));
    assert_no_leftovers();
}

/// A fault of one engine fails that engine's testsuite alone, and the run exits 1.
#[test]
fn a_fault_on_one_engine_fails_only_its_testsuite() {
    let Some(_live) = live() else { return };
    let liar = Proxy::start(true);
    let host = format!("unix://{HOST_SOCKET}");
    let f = fleet(&[&host, &liar.endpoint()], &["--jobs", "1"]);
    assert_eq!(f.run.code, 1, "{}", f.run.explain());
    validate_junit(&f.junit);
    let suites = suites(&f.junit);
    assert_eq!(suites.len(), 2, "{suites:?}");
    assert_eq!(suites[0].1, "0 failures, 0 errors", "{suites:?}");
    assert_eq!(suites[1].1, "1 failures, 0 errors", "{suites:?}");
    let report = f.run.report.as_ref().unwrap();
    let liar_report = &report["engines"][1]["report"];
    let failing: Vec<&serde_json::Value> = liar_report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "fail")
        .collect();
    assert_eq!(failing.len(), 1, "{failing:?}");
    assert_eq!(failing[0]["id"], "daemon.warnings");
    assert!(
        failing[0]["message"]
            .as_str()
            .unwrap()
            .contains("without encryption"),
        "{}",
        failing[0]
    );
    assert_eq!(report["engines"][0]["exit_code"], 0);
    assert_eq!(report["exit_code"], 1);
    assert!(f.markdown.contains("❌ 1 with problems"), "{}", f.markdown);
    assert_no_leftovers();
}

/// An engine that does not answer gives an errored testsuite that says why; the other
/// engine is still checked, and the exit code is the worst (2).
#[test]
fn an_unreachable_engine_is_an_errored_testsuite_not_an_aborted_run() {
    let Some(_live) = live() else { return };
    let dir = tempdir();
    let gone = format!("unix://{}", dir.path().join("no-engine.sock").display());
    let host = format!("unix://{HOST_SOCKET}");
    let started = std::time::Instant::now();
    let f = fleet(&[&gone, &host], &[]);
    assert!(started.elapsed() < Duration::from_secs(60));
    assert_eq!(f.run.code, 2, "{}", f.run.explain());
    validate_junit(&f.junit);
    let suites = suites(&f.junit);
    assert_eq!(suites.len(), 2, "{suites:?}");
    assert_eq!(suites[0].1, "0 failures, 1 errors", "{suites:?}");
    assert_eq!(suites[1].1, "0 failures, 0 errors", "{suites:?}");
    assert!(
        f.run.stderr.contains(&format!(
            "error: engine {gone}: the Docker socket {gone} does not exist"
        )),
        "{}",
        f.run.explain()
    );
    // One error line and one fix for it, in all the terminal shows.
    let both = format!("{}{}", f.run.stdout, f.run.stderr);
    assert_eq!(
        both.matches("does not exist").count(),
        1,
        "{}",
        f.run.explain()
    );
    let fix = both
        .lines()
        .filter(|l| l.trim_start().starts_with("fix: ") && l.contains("-H/--host names it"))
        .count();
    assert_eq!(fix, 1, "{}", f.run.explain());
    assert!(
        f.run.stdout.contains(&format!("== {gone}: not checked")),
        "{}",
        f.run.explain()
    );
    // JUnit names the engine as given, not by a placeholder.
    let xml = std::fs::read_to_string(&f.junit).unwrap();
    assert!(xml.contains(&format!("hostname=\"{gone}\"")), "{xml}");
    assert!(!xml.contains("docker-host"), "{xml}");
    assert_eq!(xml.matches("-H/--host names it").count(), 1, "{xml}");
    assert_no_leftovers();
}

/// Each member's run knows its own engine, as a single run does: the report names it
/// (endpoint and transport), and a local unix socket is what decides whether the host
/// agent is needed. The fleet path never set either before.
#[test]
fn each_member_report_names_its_engine() {
    let Some(_live) = live() else { return };
    let dir = tempdir();
    let json = dir.path().join("fleet.json");
    let sock = "unix:///var/run/docker.sock";
    let run = netcheck_plain(&[
        "-H",
        sock,
        "-H",
        sock,
        "--json",
        &json.display().to_string(),
        "kernel.ip-forward",
    ]);
    assert!(run.code == 0 || run.code == 1, "{}", run.explain());
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let engines = report["engines"].as_array().unwrap();
    assert_eq!(engines.len(), 2, "{report}");
    for member in engines {
        let engine = &member["report"]["engine"];
        assert_eq!(engine["endpoint"], sock, "{member}");
        assert_eq!(engine["transport"], "unix", "{member}");
        assert_eq!(
            engine["agent"], false,
            "a local socket needs no agent: {member}"
        );
    }
}
