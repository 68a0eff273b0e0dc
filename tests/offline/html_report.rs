//! The HTML report in a real browser: headless Chromium renders it to a PNG (kept in
//! target/html-report/ to look at) and to its DOM, which must show the topology with
//! the failing elements, and only those, drawn as failing. It judges fixture snapshots
//! offline; without Chromium (outside CI) the browser half is skipped.

use crate::common;
use crate::reports::fixture;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

crate::trials!(
    html_renders_in_a_browser_and_highlights_the_failure,
    html_marks_only_the_failing_networks_elements_and_shows_mtus
);

fn chromium() -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser"].iter().find_map(|b| {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {b}"))
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
    });
    assert!(
        found.is_some() || !in_ci(),
        "chromium is needed under CI (scripts/test installs it)"
    );
    found
}

/// Renders an HTML report in headless Chromium: to a PNG (kept in target/html-report/
/// to look at) and to its DOM. No console errors, nothing fetched, and the failing
/// check's element is drawn as failing and links to the check.
fn render_in_browser(html: &Path, name: &str) -> Option<String> {
    let browser = chromium()?;
    let out_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/html-report");
    std::fs::create_dir_all(&out_dir).unwrap();
    let png = out_dir.join(format!("{name}.png"));
    let _ = std::fs::remove_file(&png);
    let profile = tempdir();
    let base = |cmd: &mut Command| {
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--window-size=1100,1500");
    };
    let mut shot = Command::new(&browser);
    base(&mut shot);
    let shot = shot
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", html.display()))
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&shot.stderr);
    assert!(
        png.exists() && std::fs::metadata(&png).unwrap().len() > 10_000,
        "no screenshot: {log}"
    );
    let console: Vec<&str> = log.lines().filter(|l| l.contains("CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:?}");
    let mut dom = Command::new(&browser);
    base(&mut dom);
    let dom = dom
        .arg("--dump-dom")
        .arg(format!("file://{}", html.display()))
        .output()
        .unwrap();
    Some(String::from_utf8_lossy(&dom.stdout).into_owned())
}

fn html_renders_in_a_browser_and_highlights_the_failure() {
    let dir = tempdir();
    for (name, fixture_name, failing) in [
        ("healthy", "healthy-user-network-and-bridge", None),
        (
            "faulty",
            "fault-bridge.veth-nomaster",
            // The result's id, and its anchor (brackets are not fragment-safe).
            Some((
                "bridge.veth[netcheck-test-veth]",
                "bridge.veth_netcheck-test-veth_",
            )),
        ),
    ] {
        let html = dir.path().join(format!("{name}.html"));
        let run = netcheck(&[
            "analyze",
            &fixture(fixture_name),
            "--html",
            html.to_str().unwrap(),
        ]);
        assert!(run.code <= 1, "{}", run.explain());
        let text = std::fs::read_to_string(&html).unwrap();
        // Self-contained: nothing is fetched from anywhere.
        assert!(
            !text.contains("src=") && !text.contains("<link") && !text.contains("<script"),
            "{name}: external resources"
        );
        assert!(!text.contains("href=\"http"), "{name}: external links");
        assert!(
            text.contains("<svg") && text.contains("docker0"),
            "{name}: no topology"
        );
        let Some(dom) = render_in_browser(&html, name) else {
            continue;
        };
        assert!(dom.contains("<svg"), "{name}: the browser dropped the SVG");
        match failing {
            None => assert!(
                !dom.contains("class=\"container fail\"") && !dom.contains(" fail\""),
                "{name}: red elements on a healthy host"
            ),
            Some((id, anchor)) => {
                let marker = format!("<a href=\"#check-{anchor}\" data-check=\"{id}\">");
                assert!(dom.contains(&marker), "{name}: no element links to {id}");
                assert!(
                    dom.contains("class=\"container fail\"") || dom.contains("class=\"veth fail\""),
                    "{name}: the veth's container is not drawn failing"
                );
                assert!(
                    dom.contains(&format!("<tr id=\"check-{anchor}\" class=\"fail\">")),
                    "{name}: no table row to link to"
                );
            }
        }
    }
}

/// Two networks, a failure on one: in the browser, only that network's column is red
/// (netcheck's probe is drawn under both), and the links carry their MTUs.
fn html_marks_only_the_failing_networks_elements_and_shows_mtus() {
    let dir = tempdir();
    let html = dir.path().join("two-networks.html");
    let run = netcheck(&[
        "analyze",
        &fixture("edited-link.mtu-user-network-beside-bridge"),
        "--html",
        html.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 1, "{}", run.explain());
    let Some(dom) = render_in_browser(&html, "two-networks") else {
        return;
    };
    let svg = &dom[dom.find("<svg").unwrap()..dom.find("</svg>").unwrap()];
    let starts: Vec<usize> = svg
        .match_indices("<g class=\"bridge")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(starts.len(), 2, "{svg}");
    for (k, &at) in starts.iter().enumerate() {
        let column = &svg[at..starts.get(k + 1).copied().unwrap_or(svg.len())];
        let failing = column.contains(" fail\"");
        let user = column.contains("(netcheck-test-healthy)");
        assert_eq!(failing, user, "column {k}: {column}");
    }
    assert!(svg.contains("eth0 mtu 1400 "), "the uplink's MTU: {svg}");
    assert!(
        svg.contains(" mtu 1500</text>"),
        "a container end's MTU: {svg}"
    );
}
