//! Engines that lie: a fake Docker API on a unix socket made by each test, answering
//! what a broken, hostile, old or foreign engine would. No root, no daemon needed.

use crate::common;

use common::fake_engine::{Answer, FakeEngine, NET_ID};
use common::*;

crate::trials!(
    a_probe_that_exits_at_once_is_an_exit_2_with_a_fix,
    an_engine_that_refuses_the_probe_is_an_exit_2_with_a_fix,
    a_network_without_ipam_is_an_exit_2_with_a_fix,
    names_from_the_engine_forge_nothing_in_any_report,
    fixes_quote_engine_names_for_the_shell,
    something_that_is_not_docker_is_named,
    an_engine_too_old_for_an_endpoint_is_named,
    a_flood_from_the_engine_is_cut_off_and_memory_stays_bounded
);

/// A run against the fake engine. Its bridges are no links of this host, so netcheck
/// would observe the engine's host from an agent container: --no-agent keeps these
/// tests to the API.
fn against(engine: &FakeEngine, args: &[&str]) -> Run {
    let args: Vec<&str> = ["--no-agent"].iter().chain(args).copied().collect();
    netcheck_env(&args, &[("DOCKER_HOST", &engine.docker_host())])
}

/// Every exit 2 names its cause and a fix on stderr, under each line that says why.
fn assert_exit_2_with_fix(run: &Run, cause: &str, fix: &str) {
    assert_eq!(run.code, 2, "{}", run.explain());
    let lines: Vec<&str> = run.stderr.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("error: ") && l.contains(cause))
        .unwrap_or_else(|| panic!("no error line with {cause:?}:\n{}", run.explain()));
    let next = lines.get(at + 1).copied().unwrap_or("");
    assert!(
        next.trim_start().starts_with("fix: ") && next.contains(fix),
        "no fix with {fix:?} under the cause:\n{}",
        run.explain()
    );
    for (i, l) in lines.iter().enumerate() {
        if l.starts_with("error: ") {
            assert!(
                lines
                    .get(i + 1)
                    .is_some_and(|n| n.trim_start().starts_with("fix: ")),
                "an error without a fix:\n{}",
                run.explain()
            );
        }
    }
}

fn a_probe_that_exits_at_once_is_an_exit_2_with_a_fix() {
    let engine = FakeEngine::docker("app-net", "app");
    let run = against(&engine, &[]);
    assert_exit_2_with_fix(
        &run,
        "the probe exited without a report",
        "journalctl -u docker",
    );
    assert_eq!(run.status("port.publish"), "error", "{}", run.explain());
    // The probe it made is ended all the same (the end of its stdin, or a kill), and
    // netcheck waits for the engine to remove it (AutoRemove).
    let requests = engine.requests.lock().unwrap();
    let asked = |prefix: &str, suffix: &str| {
        requests
            .iter()
            .any(|r| r.starts_with(prefix) && r.ends_with(suffix))
    };
    assert!(
        asked("POST /containers/netcheck-probe-", "/wait"),
        "{requests:?}"
    );
}

fn an_engine_that_refuses_the_probe_is_an_exit_2_with_a_fix() {
    let engine = FakeEngine::docker("app-net", "app");
    engine.answer(
        "POST",
        "/containers/create",
        Answer::Json(500, r#"{"message":"no space left on device"}"#.into()),
    );
    let run = against(&engine, &[]);
    assert_exit_2_with_fix(
        &run,
        "creating the probe container: Docker responded with status code 500: no space left on device",
        "journalctl -u docker",
    );
}

fn a_network_without_ipam_is_an_exit_2_with_a_fix() {
    let engine = FakeEngine::docker("app-net", "app");
    engine.answer(
        "GET",
        "/networks",
        Answer::Json(
            200,
            serde_json::json!([{"Id": NET_ID, "Name": "app-net", "Driver": "bridge",
                "Options": {"com.docker.network.bridge.name": "nc-fake0"}}])
            .to_string(),
        ),
    );
    let run = against(&engine, &["--network", "app-net"]);
    assert_eq!(run.status("bridge.subnet"), "fail", "{}", run.explain());
    assert_exit_2_with_fix(
        &run,
        "network app-net has no IPv4 subnet",
        "follow bridge.subnet's fix",
    );
}

/// What a lying engine puts in names: a newline that forges a result line, ANSI escapes
/// (clear the screen, colour), a right-to-left override, and Markdown and HTML markup.
const FORGED_NETWORK: &str = "app-net\nPASS  forged.line                  0.0 ms  all good";
const FORGED_CONTAINER: &str = "app\u{1b}[2J\u{1b}[32mgreen\u{202e}txt.exe|`<b>x</b>";

/// Whether `text` holds anything unsafe for a reader: a control character other than
/// the line breaks and tabs of the format itself, or a bidi control.
fn unsafe_chars(text: &str) -> Vec<char> {
    text.chars()
        .filter(|c| {
            (c.is_control() && !matches!(c, '\n' | '\t'))
                || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}')
        })
        .collect()
}

fn names_from_the_engine_forge_nothing_in_any_report() {
    let engine = FakeEngine::docker(FORGED_NETWORK, FORGED_CONTAINER);
    let dir = tempdir();
    let p = |n: &str| dir.path().join(n).display().to_string();
    let (md, html, xml) = (p("r.md"), p("r.html"), p("r.xml"));
    // Colour forced, as a CI log viewer that renders ANSI would ask for.
    let out = std::process::Command::new(bin())
        .args([
            "--no-agent",
            "-v",
            "--markdown",
            &md,
            "--html",
            &html,
            "--junit",
            &xml,
        ])
        .env("DOCKER_HOST", engine.docker_host())
        .env_remove("NO_COLOR")
        .env("CLICOLOR_FORCE", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert!(
        stdout.contains("bridge.subnet[app-net\\nPASS  forged.line"),
        "the name is not shown escaped:\n{stdout}"
    );
    for line in stdout.lines().chain(stderr.lines()) {
        assert!(
            !line.starts_with("PASS  forged.line"),
            "a forged line:\n{stdout}"
        );
        // The reporter's own colours are the only escapes: SGR sequences it wrote.
        let without_sgr = strip_own_colours(line);
        assert!(
            unsafe_chars(&without_sgr).is_empty(),
            "unsafe characters reach the terminal: {line:?}"
        );
    }
    assert!(
        stdout.contains("\\u{1b}[2J") && stdout.contains("\\u{202e}"),
        "{stdout}"
    );

    let md = std::fs::read_to_string(&md).unwrap();
    assert!(unsafe_chars(&md).is_empty(), "{md}");
    // Every row of the checks table is one line with the table's four pipes.
    for row in md.lines().filter(|l| l.starts_with("| ")) {
        let pipes = row.matches('|').count() - row.matches("\\|").count();
        assert_eq!(pipes, 4, "a broken table row: {row}");
    }
    // Markup from the engine stays text: raw only inside fenced code, where it renders
    // as it is.
    let mut fenced = false;
    for line in md.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
        } else if !fenced {
            assert!(!line.contains("<b>"), "markup from the engine: {line}");
        }
    }

    let html = std::fs::read_to_string(&html).unwrap();
    assert!(unsafe_chars(&html).is_empty(), "{html}");
    assert!(!html.contains("<b>x</b>"), "markup from the engine in HTML");

    let xml = std::fs::read_to_string(&xml).unwrap();
    assert!(unsafe_chars(&xml).is_empty(), "{xml}");
    assert!(xml.contains("\\u{202e}"), "{xml}");
    validate_junit(std::path::Path::new(&p("r.xml")));
}

/// The line without the SGR colour sequences netcheck's terminal reporter writes.
fn strip_own_colours(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(i) = rest.find("\u{1b}[") {
        out.push_str(&rest[..i]);
        let tail = &rest[i + 2..];
        let end = tail
            .find(|c: char| !(c.is_ascii_digit() || c == ';'))
            .unwrap_or(tail.len());
        if tail[end..].starts_with('m') {
            rest = &tail[end + 1..];
        } else {
            out.push_str(&rest[i..i + 2]);
            rest = tail;
        }
    }
    out.push_str(rest);
    out
}

/// Suggested commands quote what the engine named: pasted into a shell, a fix runs
/// exactly the command it shows, whatever a network's or bridge's name holds.
fn fixes_quote_engine_names_for_the_shell() {
    let dir = tempdir();
    let pwned = dir.path().join("pwned");
    let p = pwned.display();
    let network = format!("app&\"; touch {p}; \"$(touch {p})`touch {p}`'");
    let bridge = format!("br-x&\"$(touch {p}) ;touch {p}");
    let engine = FakeEngine::docker(&network, "app");
    // No IPAM: bridge.subnet and container.default-route suggest commands naming both.
    engine.answer(
        "GET",
        "/networks",
        Answer::Json(
            200,
            serde_json::json!([{"Id": NET_ID, "Name": network, "Driver": "bridge",
                "Options": {"com.docker.network.bridge.name": bridge}}])
            .to_string(),
        ),
    );
    let run = against(&engine, &["--network", &network]);
    let fixes: Vec<&str> = run
        .stdout
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("fix: "))
        .collect();
    let mut checked = 0;
    for (marker, name) in [
        ("docker network create --subnet <CIDR> ", &network),
        ("ip addr add <gateway>/<len> dev ", &bridge),
    ] {
        let fix = fixes
            .iter()
            .find(|f| f.contains(marker))
            .unwrap_or_else(|| panic!("no fix with {marker:?}:\n{}", run.explain()));
        let word = fix.split_once(marker).unwrap().1;
        // The shell reads the quoted word back as the name itself, and runs nothing.
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("printf '%s' {word}"))
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            name.as_str(),
            "the shell read {word:?} otherwise"
        );
        checked += 1;
    }
    assert_eq!(checked, 2);
    assert!(!pwned.exists(), "a pasted fix ran what a name contains");
}

/// Every exit 2 before judging: the cause on one line, then the fix.
fn assert_cause(run: &Run, cause: &[&str], fix: &str) {
    assert_eq!(run.code, 2, "{}", run.explain());
    let mut lines = run.stderr.lines();
    let first = lines.next().unwrap_or("");
    for part in cause {
        assert!(
            first.contains(part),
            "{part:?} not in the cause:\n{}",
            run.explain()
        );
    }
    let next = lines.next().unwrap_or("");
    assert!(
        next.trim_start().starts_with("fix: ") && next.contains(fix),
        "{}",
        run.explain()
    );
    assert!(unsafe_chars(&run.stderr).is_empty(), "{:?}", run.stderr);
}

/// Something that speaks HTTP but is not Docker (a web server on the port, a proxy):
/// netcheck says what answered, never "no Docker daemon answers … start the engine".
fn something_that_is_not_docker_is_named() {
    let page = "<html><head><title>404 Not Found</title></head>\x1b[2J</html>";
    let web = FakeEngine::other(Answer::Raw(
        format!(
            "HTTP/1.1 404 Not Found\r\nServer: nginx/1.25.3\r\nContent-Type: text/html\r\n\
             Content-Length: {}\r\n\r\n{page}",
            page.len()
        )
        .into_bytes(),
    ));
    let run = against(&web, &[]);
    assert_cause(
        &run,
        &[
            "not a Docker engine",
            "HTTP 404 Not Found",
            "Server: \"nginx/1.25.3\"",
            "<html><head><title>404",
        ],
        "point DOCKER_HOST",
    );
    assert!(
        !run.stderr.contains("start the engine"),
        "{}",
        run.explain()
    );
    assert!(
        run.stderr.contains("\\u{1b}[2J"),
        "the excerpt is not escaped: {}",
        run.stderr
    );

    // HTTP and JSON, but not Docker's.
    let json = FakeEngine::other(Answer::Json(200, r#"{"hello":"world"}"#.into()));
    let run = against(&json, &[]);
    assert_cause(
        &run,
        &[
            "not a Docker engine",
            "HTTP 200",
            "{\\\"hello\\\":\\\"world\\\"}",
        ],
        "point DOCKER_HOST",
    );

    // Not HTTP at all: an ssh server, say.
    let ssh = FakeEngine::other(Answer::Raw(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n".to_vec()));
    let run = against(&ssh, &[]);
    assert_cause(
        &run,
        &["not a Docker engine", "not HTTP", "SSH-2.0-OpenSSH_9.2p1"],
        "point DOCKER_HOST",
    );
    // The reports say it too, for a CI job.
    assert!(
        run.report.as_ref().unwrap()["checks"][0]["message"]
            .as_str()
            .unwrap()
            .contains("not a Docker engine")
    );
}

/// An engine too old for an endpoint netcheck uses answers 404 "page not found": the
/// cause names the engine's age and the feature, not a missing object.
fn an_engine_too_old_for_an_endpoint_is_named() {
    let engine = FakeEngine::docker("app-net", "app");
    // Docker 1.8 (API 1.20) had no networks API.
    engine.answer(
        "GET",
        "/version",
        Answer::Json(
            200,
            r#"{"Version":"1.8.3","ApiVersion":"1.20","Os":"linux"}"#.into(),
        ),
    );
    engine.answer(
        "GET",
        "/networks",
        Answer::Json(404, r#"{"message":"page not found"}"#.into()),
    );
    let run = against(&engine, &[]);
    assert_cause(
        &run,
        &["the Docker engine is too old for network list"],
        "upgrade the engine",
    );
    // A 404 for an object is not age: a network removed between list and inspect is
    // skipped, and the run goes on.
    let engine = FakeEngine::docker("app-net", "app");
    engine.answer(
        "GET",
        &format!("/networks/{NET_ID}"),
        Answer::Json(
            404,
            format!(r#"{{"message":"network {NET_ID} not found"}}"#),
        ),
    );
    let run = against(&engine, &[]);
    assert!(!run.stderr.contains("too old"), "{}", run.explain());
}

/// Peak resident memory (KiB) and exit code of a child, reaped by wait4.
fn wait4_rss(child: &std::process::Child) -> (i64, i32) {
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as i32;
    // SAFETY: wait4 writes into the two valid, owned out-parameters.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid);
    (usage.ru_maxrss, libc::WEXITSTATUS(status))
}

/// The most netcheck may hold while an engine floods it: the answer bound (16 MiB)
/// read once, plus the process itself, which reads its own binary (tens of MB in a
/// debug build) to name the probe image. Without the bound, a 200 MB answer took
/// 0.5 GB; with it, 70 MB here (29 MB when the flood is the first answer).
const FLOODED_RSS_LIMIT_MB: i64 = 100;

/// A 200 MB answer to /networks (and to the first request, /version): netcheck stops
/// reading at its bound, exits 2 with the cause and a fix, and its memory stays bounded.
fn a_flood_from_the_engine_is_cut_off_and_memory_stays_bounded() {
    for path in ["/networks", "/version"] {
        let engine = FakeEngine::docker("app-net", "app");
        engine.answer("GET", path, Answer::Huge(200, 200 * 1024 * 1024));
        // Reaped by wait4_rss, which also gives its peak RSS.
        #[allow(clippy::zombie_processes)]
        let child = std::process::Command::new(bin())
            .arg("--no-agent")
            .env("DOCKER_HOST", engine.docker_host())
            .env("NO_COLOR", "1")
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(tempdir().keep().join("err")).unwrap())
            .spawn()
            .unwrap();
        let (rss_kb, code) = wait4_rss(&child);
        eprintln!("{path}: peak RSS {} MB", rss_kb / 1024);
        assert_eq!(code, 2);
        assert!(
            rss_kb / 1024 < FLOODED_RSS_LIMIT_MB,
            "{path}: peak RSS {} MB under a flood",
            rss_kb / 1024
        );
        let run = against(&engine, &[]);
        let what = if path == "/networks" {
            "network list"
        } else {
            "version"
        };
        assert_cause(
            &run,
            &[&format!("the engine's answer to {what} exceeds 16 MiB")],
            "check what listens at DOCKER_HOST",
        );
    }
}
