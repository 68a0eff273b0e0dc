//! HTML: one self-contained file (no scripts, fonts or images from anywhere) with the
//! host facts, the verdict, the checks with evidence and fixes, and an SVG picture of
//! the host's network: uplink and routes, each bridge with its subnet and gateway, the
//! veth pairs, the containers with their addresses, and the NAT path out. Elements that
//! a failing check is about are drawn red and link to that check. A fleet's file is one
//! page: an overview table linking to each engine's section.

use std::fmt::Write;

use netcheck_model::escape::html as esc;
use netcheck_model::record::RunRecord;
use netcheck_model::report::{Report, Status};
use netcheck_model::snapshot::Snapshot;

use crate::fleet;
use crate::format::{Format, Runs};

mod draw;
mod elements;
mod topology;

use draw::anchor;

const STYLE: &str = "
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222;max-width:1040px}
h1{font-size:1.4em} .verdict{font-size:1.2em;font-weight:bold}
.ok{color:#1a7f37} .bad{color:#cf222e}
table{border-collapse:collapse;width:100%} td,th{border:1px solid #ddd;padding:4px 8px;vertical-align:top;text-align:left}
tr.fail td:first-child,tr.error td:first-child{color:#cf222e;font-weight:bold} tr.pass td:first-child{color:#1a7f37}
tr.skip td:first-child{color:#57606a} tr.warn td:first-child{color:#9a6700;font-weight:bold} pre{margin:4px 0;white-space:pre-wrap;font-size:12px} .fix{color:#0550ae}
tr:target{outline:3px solid #cf222e}
svg text{font:12px monospace;fill:#222} svg rect{fill:#f6f8fa;stroke:#8c959f;stroke-width:1.5}
svg .bridge rect{fill:#ddf4ff} svg .container rect{fill:#fff8c5} svg .host rect{fill:#eaeef2}
svg line{stroke:#57606a;stroke-width:2} svg .nat line{stroke-dasharray:6 3} svg text.label{fill:#57606a}
svg .fail rect{stroke:#cf222e;stroke-width:3;fill:#ffebe9} svg .fail line{stroke:#cf222e;stroke-width:3}
svg .fail text.label{fill:#cf222e}
";

pub const FORMAT: Format = Format {
    flag: "html",
    help: "Write a self-contained HTML report, with a picture of the host's network.",
    one_engine_only: false,
    render: render_runs,
};

/// A single run is a fleet of one: a page with each record's report. A fleet's page is
/// titled by its number of engines, opens with the overview table, and puts each engine
/// in a section of its own; a single run's page is titled by its host.
fn render_runs(runs: &Runs) -> String {
    let records = runs.records();
    let mut content = String::new();
    let title = match runs {
        Runs::One(record, _) => esc(&record.report.host.hostname),
        Runs::Fleet(..) => {
            overview(&mut content, records);
            format!("{} engines", records.len())
        }
    };
    for (i, r) in records.iter().enumerate() {
        let body = body(&r.report, r.snapshot.as_ref());
        if runs.is_fleet() {
            let _ = write!(
                content,
                r#"<hr><section id="engine-{i}"><h2>{}</h2>{}</section>"#,
                esc(&r.engine.name),
                scoped(&body, i)
            );
        } else {
            content.push_str(&body);
        }
    }
    page(&title, &content)
}

/// One report's page, as a single run's. `snapshot` is None when netcheck could not
/// observe anything (the report then holds the one error that says why).
pub fn render(report: &Report, snapshot: Option<&Snapshot>) -> String {
    page(&esc(&report.host.hostname), &body(report, snapshot))
}

/// The document around the content; `title` is markup.
fn page(title: &str, content: &str) -> String {
    format!(
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>netcheck: {title}</title><style>{STYLE}</style></head><body>{content}</body></html>
"#
    )
}

/// A fleet's heading, and a table of its engines' verdicts and counts, each linking to
/// the engine's section.
fn overview(page: &mut String, records: &[RunRecord]) {
    let _ = write!(
        page,
        "<h1>netcheck on {} engines</h1><table><tr><th>engine</th><th>endpoint</th><th>verdict</th>\
         <th>passed</th><th>warned</th><th>failed</th><th>skipped</th><th>errored</th></tr>",
        records.len()
    );
    for (i, r) in records.iter().enumerate() {
        let s = &r.report.summary;
        let _ = write!(
            page,
            r##"<tr class="{}"><td><a href="#engine-{i}">{}</a></td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"##,
            if r.exit_code() == 0 { "pass" } else { "fail" },
            esc(&r.engine.name),
            esc(&r.engine.endpoint),
            fleet::verdict(r.exit_code()),
            s.passed,
            s.warned,
            s.failed,
            s.skipped,
            s.errors
        );
    }
    page.push_str("</table>");
}

/// Gives one engine's anchors a prefix of their own, so that a failing box in its
/// picture links to its own check, not to another engine's. The text rewritten is
/// markup netcheck wrote: engine text is escaped (`"` as `&quot;`), so it cannot hold
/// `id="check-` or `href="#check-`.
fn scoped(section: &str, i: usize) -> String {
    section
        .replace(r#"id="check-"#, &format!(r#"id="e{i}-check-"#))
        .replace(r##"href="#check-"##, &format!(r##"href="#e{i}-check-"##))
}

/// A report's part of the page: a fleet's page holds one per engine.
fn body(report: &Report, snapshot: Option<&Snapshot>) -> String {
    let mut html = String::new();
    let ok = report.exit_code() == 0;
    let s = &report.summary;
    let h = &report.host;
    let _ = write!(html, "<h1>netcheck on {}</h1>", esc(&h.hostname));
    if let Some(e) = &report.engine {
        let _ = write!(
            html,
            "<p class=\"engine\">Engine: {}</p>",
            esc(&e.describe())
        );
    }
    let _ = write!(
        html,
        r#"<p class="verdict {}">{}: {} passed, {} warned, {} failed, {} skipped, {} errored</p>"#,
        if ok { "ok" } else { "bad" },
        match (ok, s.warned) {
            (false, _) => "Problems found",
            (true, 0) => "Healthy",
            (true, _) => "Working, with warnings",
        },
        s.passed,
        s.warned,
        s.failed,
        s.skipped,
        s.errors
    );
    let _ = write!(
        html,
        "<p>{} {} (API {}) · {} · kernel {} · firewall {} · netcheck {} · {} · {} ms</p>",
        esc(&h.engine_name()),
        esc(&h.engine_version),
        esc(&h.api_version),
        esc(&h.os),
        esc(&h.kernel),
        esc(if h.firewall_backend.is_empty() {
            "not read"
        } else {
            &h.firewall_backend
        }),
        esc(&report.tool.version),
        report.started.format("%Y-%m-%d %H:%M:%S UTC"),
        report.duration_ms
    );
    for n in &report.notes {
        let _ = write!(html, "<p class=\"note\">Note: {}</p>", esc(&n.message()));
    }
    if let Some(snapshot) = snapshot {
        let _ = write!(html, "<h2>Topology</h2>{}", topology::svg(snapshot, report));
        let _ = write!(
            html,
            "<p><small>Red: what a failing check is about (click it for the check). \
             * a host route through an interface that is not a Docker bridge.</small></p>"
        );
    }
    html.push_str("<h2>Checks</h2><table><tr><th>status</th><th>check</th><th>result, evidence and fix</th></tr>");
    for c in &report.checks {
        let _ = write!(
            html,
            r#"<tr id="{}" class="{}"><td>{}</td><td><code>{}</code><br><small>{}</small></td><td>{}{}"#,
            anchor(&c.id),
            c.status.as_str(),
            c.status.as_str().to_uppercase(),
            esc(&c.id),
            esc(&c.title),
            esc(&c.message),
            if c.gate { "" } else { " <em>(not gating)</em>" }
        );
        if !c.evidence.is_empty() {
            let lines: Vec<String> = c.evidence.iter().map(|e| esc(e)).collect();
            let _ = write!(html, "<pre>{}</pre>", lines.join("\n"));
        }
        if let Some(hint) = c.hint.as_deref().filter(|_| c.status != Status::Pass) {
            let _ = write!(
                html,
                r#"<div class="fix">fix: {}</div>"#,
                hint.lines().map(esc).collect::<Vec<_>>().join("<br>")
            );
        }
        html.push_str("</td></tr>");
    }
    html.push_str("</table>");
    html
}
