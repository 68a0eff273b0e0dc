//! The report of a fleet: every engine's report in one file. JSON has a section per
//! engine; JUnit a testsuite per engine; Markdown and HTML an overview table, then each
//! engine as its own report would show it.

use std::fmt::Write;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use netcheck_model::escape;
use netcheck_model::record::{self, RunRecord};
use netcheck_model::report::{Report, Tool};

use crate::{html, junit, markdown};

/// Written into every fleet JSON report; `reports/netcheck-fleet.v1.schema.json`
/// describes it.
pub const FLEET_SCHEMA: &str = "netcheck-fleet/v1";

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct FleetReport {
    pub schema: String,
    pub tool: Tool,
    pub started: DateTime<Utc>,
    pub duration_ms: u64,
    /// The worst of the engines' exit codes, which netcheck exits with.
    pub exit_code: u8,
    pub engines: Vec<EngineReport>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct EngineReport {
    /// The context's name or the endpoint; unique in the report.
    pub name: String,
    pub endpoint: String,
    /// This engine's own exit code, as a run against it alone would give.
    pub exit_code: u8,
    /// Its report; for an engine that could not be checked (unreachable, a timeout),
    /// one errored entry that says why.
    pub report: Report,
}

impl FleetReport {
    pub fn new(records: &[RunRecord], started: DateTime<Utc>, wall: std::time::Duration) -> Self {
        FleetReport {
            schema: FLEET_SCHEMA.into(),
            tool: Tool {
                name: "netcheck".into(),
                version: env!("CARGO_PKG_VERSION").into(),
            },
            started,
            duration_ms: wall.as_millis() as u64,
            exit_code: record::exit_code(records),
            engines: records
                .iter()
                .map(|r| EngineReport {
                    name: r.engine.name.clone(),
                    endpoint: r.engine.endpoint.clone(),
                    exit_code: r.exit_code(),
                    report: r.report.clone(),
                })
                .collect(),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report always serialises")
    }

    /// JUnit: one testsuite per engine, named `netcheck@NAME`.
    pub fn junit(&self) -> String {
        let suites: Vec<(String, &Report)> = self
            .engines
            .iter()
            .map(|e| (e.name.clone(), &e.report))
            .collect();
        junit::render_suites(&suites, std::time::Duration::from_millis(self.duration_ms))
    }

    /// Markdown: the overview, then each engine's report under its name.
    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let bad = self.engines.iter().filter(|e| e.exit_code != 0).count();
        let _ = writeln!(
            md,
            "## netcheck on {} engines: {}\n",
            self.engines.len(),
            if bad == 0 {
                "✅ all healthy".to_string()
            } else {
                format!("❌ {bad} with problems")
            }
        );
        let _ = writeln!(
            md,
            "| engine | endpoint | verdict | passed | warned | failed | skipped | errored |"
        );
        let _ = writeln!(md, "|---|---|---|---|---|---|---|---|");
        for e in &self.engines {
            let s = &e.report.summary;
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                escape::markdown(&e.name),
                escape::markdown_code_span(&e.endpoint),
                verdict(e.exit_code),
                s.passed,
                s.warned,
                s.failed,
                s.skipped,
                s.errors
            );
        }
        for e in &self.engines {
            let _ = writeln!(md, "\n---\n\n## {}\n", escape::markdown(&e.name));
            md.push_str(&markdown::render(&e.report));
        }
        md
    }

    /// HTML: one page, the overview table linking to each engine's section.
    pub fn html(&self, records: &[RunRecord]) -> String {
        let mut page = String::new();
        let _ = write!(
            page,
            r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>netcheck: {} engines</title><style>{}</style></head><body>"#,
            self.engines.len(),
            html::STYLE
        );
        let _ = write!(
            page,
            "<h1>netcheck on {} engines</h1><table><tr><th>engine</th><th>endpoint</th><th>verdict</th>\
             <th>passed</th><th>warned</th><th>failed</th><th>skipped</th><th>errored</th></tr>",
            self.engines.len()
        );
        for (i, e) in self.engines.iter().enumerate() {
            let s = &e.report.summary;
            let _ = write!(
                page,
                r##"<tr class="{}"><td><a href="#engine-{i}">{}</a></td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"##,
                if e.exit_code == 0 { "pass" } else { "fail" },
                escape::html(&e.name),
                escape::html(&e.endpoint),
                verdict(e.exit_code),
                s.passed,
                s.warned,
                s.failed,
                s.skipped,
                s.errors
            );
        }
        page.push_str("</table>");
        for (i, e) in self.engines.iter().enumerate() {
            let snapshot = records.get(i).and_then(|r| r.snapshot.as_ref());
            let _ = write!(
                page,
                r#"<hr><section id="engine-{i}"><h2>{}</h2>{}</section>"#,
                escape::html(&e.name),
                scoped(&html::body(&e.report, snapshot), i)
            );
        }
        page.push_str("</body></html>\n");
        page
    }
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

fn verdict(code: u8) -> &'static str {
    match code {
        0 => "healthy",
        1 => "problems found",
        2 => "could not check",
        _ => "interrupted",
    }
}
