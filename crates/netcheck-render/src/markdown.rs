//! Markdown, to paste into a GitHub or GitLab issue: a verdict line, a table of checks,
//! and each problem's evidence and fix in a collapsible `<details>` block.

use std::fmt::Write;

use super::Report;
use netcheck_model::report::Status;

pub const FORMAT: crate::Format = crate::Format {
    flag: "markdown",
    help: "Write a Markdown report, to paste into a GitHub or GitLab issue.",
    one: |run, _| render(&run.report),
    fleet: Some(|fleet, _| fleet.markdown()),
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
use super::escape::{
    html, markdown as cell, markdown_code as code, markdown_code_span as code_span,
};

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
        "{} passed, {} failed, {} skipped, {} errored · Docker {} (API {}) · {} · kernel {} · {} · netcheck {}, {}",
        s.passed,
        s.failed,
        s.skipped,
        s.errors,
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
