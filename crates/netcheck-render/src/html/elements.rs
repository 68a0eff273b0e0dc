//! Which failing check an element of the picture is about: the element's names against
//! each failing finding's typed subject (or, for an unclassified finding, its text).

use netcheck_model::report::Status;
use netcheck_model::report::{CheckResult, Report};

/// A drawable element: the names a finding's subject (or an unclassified finding's
/// text) may call it by.
pub(super) struct Element<'a> {
    pub names: Vec<String>,
    /// The checks whose failure concerns this kind of element.
    pub owners: &'a [&'a str],
    /// The network whose column the element is drawn in: a result about another
    /// network never marks it (netcheck's probe is in every column, by one name).
    /// None for the host's elements.
    pub network: Option<&'a str>,
}

/// The failing check that concerns an element, if any: the first whose failure text
/// names it, else (for `fallback` elements) the first failing owner at all.
pub(super) fn failing<'r>(
    report: &'r Report,
    el: &Element,
    fallback: bool,
) -> Option<&'r CheckResult> {
    let failed = |c: &&CheckResult| {
        let here = match (c.network.as_deref(), el.network) {
            (Some(theirs), Some(ours)) => theirs == ours,
            _ => true,
        };
        here && matches!(c.status, Status::Fail | Status::Error)
            && el.owners.contains(&c.check.as_str())
    };
    let named = |text: &str| {
        el.names
            .iter()
            .any(|n| !n.is_empty() && mentions_token(text, n))
    };
    // A classified finding says what it is about; an unclassified one is searched for
    // the element's names in its text. (Every failed or errored result has a finding:
    // checks::judge gives one to an outcome that came without.)
    let mentions = |c: &&CheckResult| {
        c.findings
            .iter()
            .filter(|f| matches!(f.status, Status::Fail | Status::Error))
            .any(|f| {
                if f.code
                    .ends_with(&format!("/{}", netcheck_model::finding::UNCLASSIFIED))
                {
                    named(&f.message)
                } else {
                    f.subject
                        .names()
                        .iter()
                        .any(|n| el.names.iter().any(|e| e == n))
                }
            })
    };
    report
        .checks
        .iter()
        .filter(failed)
        .find(mentions)
        .or_else(|| {
            if fallback {
                report.checks.iter().find(failed)
            } else {
                None
            }
        })
}

/// Whether `text` contains `name` as a whole token (not inside a longer name).
fn mentions_token(text: &str, name: &str) -> bool {
    let cont = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    text.match_indices(name).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + name.len()..].chars().next();
        !before.is_some_and(cont) && !after.is_some_and(|c| cont(c) && c != '.')
    })
}
