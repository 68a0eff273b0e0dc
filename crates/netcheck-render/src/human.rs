//! The terminal reporter: one line per check, evidence and hint under failures, a
//! summary line. Colour goes through anstream, which honours NO_COLOR and pipes.

use std::io::Write;

use anstyle::{AnsiColor, Style};

use netcheck_model::escape::terminal as esc;
use netcheck_model::report::{CheckResult, Report, Status};

fn style(status: Status) -> Style {
    let color = match status {
        Status::Pass => AnsiColor::Green,
        Status::Skip => AnsiColor::Cyan,
        Status::Warn => AnsiColor::Yellow,
        Status::Fail => AnsiColor::Red,
        Status::Error => AnsiColor::Magenta,
    };
    Style::new().fg_color(Some(color.into())).bold()
}

/// How much of the report a person sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// Failures, errors and warnings, with their evidence and fix, and the summary line.
    Quiet,
    /// Every check's line; evidence and fix under failures.
    Normal,
    /// Every check's line and evidence.
    Verbose,
}

/// After the list, next to the summary: each failure, error and warning again, one line
/// each with its id and its fix, so that a long run's problems need no scrolling back.
/// Quiet output lists only those already, right above the summary.
fn recap(out: &mut dyn Write, report: &Report) -> std::io::Result<()> {
    let listed: Vec<_> = report
        .checks
        .iter()
        .filter(|c| matches!(c.status, Status::Fail | Status::Error | Status::Warn))
        .collect();
    if listed.is_empty() {
        return Ok(());
    }
    let width = listed.iter().map(|c| c.id.len()).max().unwrap_or(0);
    writeln!(out, "\nto fix:")?;
    for c in listed {
        let s = style(c.status);
        // The fix's first line is its command; without one, what went wrong.
        let fix = c
            .hint
            .as_deref()
            .and_then(|h| h.lines().next())
            .filter(|h| !h.trim().is_empty())
            .unwrap_or(&c.message);
        writeln!(
            out,
            "  {s}{:<5}{s:#} {:<width$}  {}",
            c.status.as_str().to_uppercase(),
            esc(&c.id),
            esc(fix)
        )?;
    }
    Ok(())
}

/// Writes the report for a person.
pub fn render(out: &mut dyn Write, report: &Report, detail: Detail) -> std::io::Result<()> {
    let failed = |c: &&CheckResult| !matches!(c.status, Status::Pass | Status::Skip);
    let shown: Vec<_> = match detail {
        Detail::Quiet => report.checks.iter().filter(failed).collect(),
        _ => report.checks.iter().collect(),
    };
    let verbose = detail == Detail::Verbose;
    let width = shown.iter().map(|c| c.id.len()).max().unwrap_or(0);
    for c in shown {
        let s = style(c.status);
        let note = match c.status {
            Status::Fail | Status::Error if !c.gate => " (not gating)",
            Status::Warn if c.strict => " (gating: --strict)",
            _ => "",
        };
        writeln!(
            out,
            "{s}{:<5}{s:#} {:<width$}  {:>7.1} ms  {}{note}",
            c.status.as_str().to_uppercase(),
            esc(&c.id),
            c.duration_ms,
            esc(&c.message)
        )?;
        let detailed = verbose || matches!(c.status, Status::Warn | Status::Fail | Status::Error);
        if detailed {
            for e in &c.evidence {
                writeln!(out, "        {}", esc(e))?;
            }
        }
        if let Some(h) = c.hint.as_deref().filter(|_| c.status != Status::Pass) {
            let bold = Style::new().bold();
            for (i, line) in h.lines().enumerate() {
                let lead = if i == 0 { "fix:" } else { "    " };
                writeln!(out, "        {bold}{lead}{bold:#} {}", esc(line))?;
            }
        }
    }
    if detail != Detail::Quiet {
        recap(out, report)?;
    }
    // Even when quiet: a stale `allow` entry hides nothing today, but would tomorrow.
    if !report.notes.is_empty() {
        writeln!(out)?;
    }
    for n in &report.notes {
        let bold = Style::new().bold();
        writeln!(out, "{bold}note:{bold:#} {}", esc(&n.message()))?;
    }
    let sum = &report.summary;
    let mut line = format!(
        "{} passed, {} failed, {} skipped",
        sum.passed, sum.failed, sum.skipped
    );
    if sum.warned > 0 {
        line.push_str(&format!(", {} warned", sum.warned));
    }
    if sum.errors > 0 {
        line.push_str(&format!(", {} errored", sum.errors));
    }
    writeln!(out, "{line}; {:.2} s", report.duration_ms as f64 / 1000.0)?;
    // The engine, where it is not simply this machine's own socket.
    if let Some(e) = report
        .engine
        .as_ref()
        .filter(|e| e.transport != "unix" || e.agent || e.context.is_some())
    {
        writeln!(out, "engine: {}", esc(&e.describe()))?;
    }
    Ok(())
}
