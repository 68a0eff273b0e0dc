//! GitHub Actions annotations: one workflow command per failing check, so that a
//! failure shows on the job's summary page with its fix, not only deep in the log.
//!
//! `::error title=netcheck: bridge.veth[app-net] failed::message%0Afix: …`. A failure
//! that does not gate, and a warning that does not, is a `::warning`. Engine and host text reaches these lines (container names,
//! interface names, the engine's own messages), so every value is escaped by the rules
//! of GitHub's workflow commands: otherwise a newline in a name would start a line that
//! the runner reads as a command of its own.

use netcheck_model::escape::terminal as visible;
use netcheck_model::report::Status;
use netcheck_model::report::{CheckResult, Report};

/// The lines around the human report in a GitHub job log: the runner reads no workflow
/// command between them, so engine text in the report (a container name with a newline
/// and `::error::` in it) cannot forge one. The token is random, so that the text cannot
/// end the pause either.
pub fn pause_commands() -> (String, String) {
    let token = format!("netcheck-{:032x}", rand::random::<u128>());
    (
        format!("::stop-commands::{token}\n"),
        format!("::{token}::\n"),
    )
}

/// The annotation lines for the report's failures and errors, one per check.
pub fn render(report: &Report) -> String {
    report
        .checks
        .iter()
        .filter_map(annotation)
        .map(|line| line + "\n")
        .collect()
}

fn annotation(c: &CheckResult) -> Option<String> {
    // An annotation is an error exactly when the result fails the run.
    let (command, what) = match c.status {
        Status::Fail if c.gate => ("error", "failed"),
        Status::Fail => ("warning", "failed (not gating)"),
        Status::Error => ("error", "could not run"),
        Status::Warn if c.strict => ("error", "warned (gating)"),
        Status::Warn => ("warning", "warned"),
        Status::Pass | Status::Skip => return None,
    };
    // Engine text first made visible (ESC, U+202E, a newline of its own), so that the
    // annotation shows what a name holds and neither colours nor reorders it. The
    // newlines left are netcheck's own, between the message and its fix's steps.
    let mut message = visible(&c.message).into_owned();
    if let Some(hint) = &c.hint {
        message.push_str("\nfix: ");
        let steps: Vec<_> = hint.lines().map(visible).collect();
        message.push_str(&steps.join("\n"));
    }
    Some(format!(
        "::{command} title={}::{}",
        escape_property(&format!("netcheck: {} {what}", visible(&c.id))),
        escape_data(&message)
    ))
}

/// A command's message: `%`, CR and LF are encoded (`%` first, so that the encoding of
/// the others is not encoded again).
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A property value (`title=`): as a message, and `:` and `,` too, which would end the
/// properties or the value.
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_follows_the_workflow_command_rules() {
        assert_eq!(escape_data("100% a\r\nb"), "100%25 a%0D%0Ab");
        assert_eq!(escape_data("%0A"), "%250A");
        assert_eq!(escape_property("a: b, c%\n"), "a%3A b%2C c%25%0A");
    }
}
