//! Markdown, to paste into a GitHub or GitLab issue: a verdict line, a table of checks,
//! and each problem's evidence and fix in a collapsible `<details>` block. A fleet's
//! file opens with an overview table, then each engine's report under its name.

use std::fmt::Write;

use netcheck_model::record::RunRecord;
use netcheck_model::report::{Report, Status};

use crate::fleet;
use crate::format::{Format, Runs};

pub const FORMAT: Format = Format {
    flag: "markdown",
    help: "Write a Markdown report, to paste into a GitHub or GitLab issue.",
    one_engine_only: false,
    render: render_runs,
};

fn icon(status: Status) -> &'static str {
    match status {
        Status::Pass => "✅",
        Status::Skip => "⏭️",
        Status::Warn => "🟡",
        Status::Fail => "❌",
        Status::Error => "⛔",
    }
}

// A `<details>` line is an HTML block, where Markdown is not parsed: HTML escaping.
use netcheck_model::escape::{
    html, markdown as cell, markdown_code as code, markdown_code_span as code_span,
};

/// A single run is a fleet of one: each record's report. A fleet adds the overview
/// first and puts each engine's name above its report.
fn render_runs(runs: &Runs) -> String {
    let mut md = String::new();
    if runs.is_fleet() {
        overview(&mut md, runs.records());
    }
    for r in runs.records() {
        if runs.is_fleet() {
            let _ = writeln!(md, "\n---\n\n## {}\n", cell(&r.engine.name));
        }
        md.push_str(&render(&r.report));
    }
    md
}

/// A fleet's verdict, then a table of its engines' verdicts and counts.
fn overview(md: &mut String, records: &[RunRecord]) {
    let bad = records.iter().filter(|r| r.exit_code() != 0).count();
    let _ = writeln!(
        md,
        "## netcheck on {} engines: {}\n",
        records.len(),
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
    for r in records {
        let s = &r.report.summary;
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            cell(&r.engine.name),
            code_span(&r.engine.endpoint),
            fleet::verdict(r.exit_code()),
            s.passed,
            s.warned,
            s.failed,
            s.skipped,
            s.errors
        );
    }
}

/// One report, as a single run's file (a fleet's holds one per engine).
pub fn render(report: &Report) -> String {
    let mut md = String::new();
    let s = &report.summary;
    let verdict = if report.exit_code() == 0 {
        "✅ healthy"
    } else {
        "❌ problems found"
    };
    let host = if report.host.hostname.is_empty() {
        "the Docker host"
    } else {
        &report.host.hostname
    };
    let _ = writeln!(md, "### netcheck on {}: {verdict}", cell(host));
    let _ = writeln!(md);
    let _ = writeln!(
        md,
        "{} passed, {} failed, {} skipped, {} errored · {} {} (API {}) · {} · kernel {} · {} · netcheck {}, {}",
        s.passed,
        s.failed,
        s.skipped,
        s.errors,
        cell(&report.host.engine_name()),
        cell(&report.host.engine_version),
        cell(&report.host.api_version),
        cell(&report.host.os),
        cell(&report.host.kernel),
        cell(if report.host.firewall_backend.is_empty() {
            "firewall not read"
        } else {
            &report.host.firewall_backend
        }),
        report.tool.version,
        report.started.format("%Y-%m-%d %H:%M UTC"),
    );
    if let Some(e) = &report.engine {
        let _ = writeln!(md);
        let _ = writeln!(md, "Engine: {}", cell(&e.describe()));
    }
    let _ = writeln!(md);
    let _ = writeln!(md, "| | check | result |");
    let _ = writeln!(md, "|---|---|---|");
    for c in &report.checks {
        let gate = match c.status {
            Status::Fail | Status::Error if !c.gate => " (not gating)",
            Status::Warn if c.strict => " (gating)",
            _ => "",
        };
        let _ = writeln!(
            md,
            "| {} | {} | {}{gate} |",
            icon(c.status),
            code_span(&c.id),
            cell(&c.message)
        );
    }
    // Remarks on the run (an allow entry that matched nothing): no verdict of their own.
    for n in &report.notes {
        let _ = writeln!(md);
        let _ = writeln!(md, "> **Note:** {}", cell(&n.message()));
    }
    for c in report.checks.iter().filter(|c| c.status != Status::Pass) {
        let _ = writeln!(md);
        let _ = writeln!(
            md,
            "<details><summary>{} <code>{}</code>: {}</summary>",
            icon(c.status),
            html(&c.id),
            html(&c.message)
        );
        let _ = writeln!(md);
        if !c.evidence.is_empty() {
            // A fence longer than any run of backticks inside cannot be closed early.
            let lines: Vec<_> = c.evidence.iter().map(|e| code(e)).collect();
            let fence = "`".repeat(3.max(longest_backtick_run(&lines.join("\n")) + 1));
            let _ = writeln!(md, "{fence}text");
            for e in &lines {
                let _ = writeln!(md, "{e}");
            }
            let _ = writeln!(md, "{fence}");
        }
        if let Some(h) = &c.hint {
            let _ = writeln!(md);
            let fix: Vec<String> = h.lines().map(cell).collect();
            let _ = writeln!(md, "**Fix:** {}", fix.join("<br>"));
        }
        let _ = writeln!(md);
        let _ = writeln!(md, "</details>");
    }
    md
}

fn longest_backtick_run(text: &str) -> usize {
    text.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}
