//! What a judge returns: a status, a one-line message, evidence, a fix, and structured
//! findings; and [`Findings`], which gathers per-item verdicts into one outcome.

use serde::{Deserialize, Serialize};

use super::code::{Code, Common};
use super::{Finding, Status, Subject};

/// A judge's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub status: Status,
    /// One line.
    pub message: String,
    /// What was observed, one fact a line, e.g. `eth0 172.17.0.2/16 peer veth3a1f@if7 master docker0 (up)`.
    pub evidence: Vec<String>,
    /// For a failure: what to run or change.
    pub hint: Option<String>,
    /// What was found wrong or risky, each under a stable code about a typed subject.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
}

pub use netcheck_model::finding::UNCLASSIFIED;

/// The code of every error: netcheck could not observe what the check needs.
pub const NOT_OBSERVED: &str = "not-observed";

impl Outcome {
    /// Names the outcome's finding: `code` becomes `<check id>/<its slug>`.
    pub fn coded(mut self, code: impl Code, subject: Subject) -> Self {
        self.findings = vec![Finding {
            code: code.slug().into(),
            status: self.status,
            subject,
            message: self.message.clone(),
        }];
        self
    }

    /// Every constructor's one shape: findings are named later (`coded`, or by the judge).
    fn new(status: Status, message: String, evidence: Vec<String>, hint: Option<String>) -> Self {
        Outcome {
            status,
            message,
            evidence,
            hint,
            findings: vec![],
        }
    }

    pub fn pass(message: impl Into<String>, evidence: Vec<String>) -> Self {
        Outcome::new(Status::Pass, message.into(), evidence, None)
    }

    pub fn fail(
        message: impl Into<String>,
        evidence: Vec<String>,
        hint: impl Into<String>,
    ) -> Self {
        Outcome::new(Status::Fail, message.into(), evidence, Some(hint.into()))
    }

    /// Works now, but is fragile or risky: reported with a hint, not gating by default.
    pub fn warn(
        message: impl Into<String>,
        evidence: Vec<String>,
        hint: impl Into<String>,
    ) -> Self {
        Outcome::new(Status::Warn, message.into(), evidence, Some(hint.into()))
    }

    pub fn skip(message: impl Into<String>, evidence: Vec<String>) -> Self {
        Outcome::new(Status::Skip, message.into(), evidence, None)
    }

    pub fn error(message: impl Into<String>, evidence: Vec<String>) -> Self {
        Outcome::new(Status::Error, message.into(), evidence, None)
    }
}

/// Gathers per-item findings (one per container or network) into one outcome: the first
/// failure names the verdict, and every finding stays in the evidence.
#[derive(Default)]
pub struct Findings {
    evidence: Vec<String>,
    failures: Vec<(String, String)>,
    /// Failures seen on netcheck's own probe: evidence of what the network does to
    /// every container on it, but not an affected container of the user's, so they are
    /// not counted in "(and N more)" and name the verdict only when nothing else failed.
    probe_failures: Vec<(String, String)>,
    warnings: Vec<(String, String)>,
    /// Warnings about the probe, as `probe_failures`.
    probe_warnings: Vec<(String, String)>,
    errors: Vec<String>,
    /// The fixes of errors that have one of their own, in order, without repeats.
    error_fixes: Vec<String>,
    skips: Vec<String>,
    passes: usize,
    /// Every fail, warn and error, structured.
    found: Vec<Finding>,
}

impl Findings {
    pub fn note(&mut self, line: impl Into<String>) {
        self.evidence.push(line.into());
    }

    pub fn pass(&mut self, evidence: impl Into<String>) {
        self.passes += 1;
        self.evidence.push(evidence.into());
    }

    fn found(&mut self, code: impl Code, subject: Subject, status: Status, message: &str) {
        self.found.push(Finding {
            code: code.slug().into(),
            status,
            subject,
            message: message.to_string(),
        });
    }

    /// A failure under the check's `code` (`<check id>/<slug>`), about `subject`.
    pub fn fail_at(
        &mut self,
        code: impl Code,
        subject: Subject,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.gating(code, subject, Status::Fail, message.into(), hint.into());
    }

    /// Works now, but is fragile or risky (the outcome warns unless something fails),
    /// under the check's `code` (`<check id>/<slug>`), about `subject`.
    pub fn warn_at(
        &mut self,
        code: impl Code,
        subject: Subject,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.gating(code, subject, Status::Warn, message.into(), hint.into());
    }

    /// A failure or a warning with its fix: in the evidence, among the findings, and
    /// among the probe's or the user's own, by its subject.
    fn gating(
        &mut self,
        code: impl Code,
        subject: Subject,
        status: Status,
        message: String,
        hint: String,
    ) {
        let label = if status == Status::Fail {
            "FAIL"
        } else {
            "WARN"
        };
        self.evidence.push(format!("{label}: {message}"));
        let on_probe = subject.is_probe();
        self.found(code, subject, status, &message);
        let list = match (status == Status::Fail, on_probe) {
            (true, true) => &mut self.probe_failures,
            (true, false) => &mut self.failures,
            (false, true) => &mut self.probe_warnings,
            (false, false) => &mut self.warnings,
        };
        list.push((message, hint));
    }

    /// netcheck could not tell.
    pub fn error(&mut self, message: impl Into<String>) {
        let message = message.into();
        self.evidence.push(format!("ERROR: {message}"));
        self.found(Common::NotObserved, Subject::Host, Status::Error, &message);
        self.errors.push(message);
    }

    /// An error whose cause has a fix of its own (another check's, say).
    pub fn error_with_fix(&mut self, message: impl Into<String>, fix: impl Into<String>) {
        self.error(message);
        let fix = fix.into();
        if !self.error_fixes.contains(&fix) {
            self.error_fixes.push(fix);
        }
    }

    pub fn skip(&mut self, message: impl Into<String>) {
        let message = message.into();
        self.evidence.push(format!("skipped: {message}"));
        self.skips.push(message);
    }

    /// Fail beats error beats warn beats pass beats skip: a broken host is the most
    /// useful news, and one unobservable container must not hide another's proven fault.
    pub fn finish(mut self, pass_message: impl Into<String>) -> Outcome {
        let found = std::mem::take(&mut self.found);
        Outcome {
            findings: found,
            ..self.verdict(pass_message)
        }
    }

    fn verdict(mut self, pass_message: impl Into<String>) -> Outcome {
        if self.failures.is_empty() {
            self.failures = std::mem::take(&mut self.probe_failures);
        }
        if self.warnings.is_empty() {
            self.warnings = std::mem::take(&mut self.probe_warnings);
        }
        let more = |n: usize| {
            if n > 1 {
                format!(" (and {} more)", n - 1)
            } else {
                String::new()
            }
        };
        // A lone failure is the outcome's message: repeating it in the evidence is noise.
        let mut evidence = self.evidence;
        if self.failures.len() == 1 {
            evidence.retain(|e| *e != format!("FAIL: {}", self.failures[0].0));
        } else if self.failures.is_empty() && self.errors.len() == 1 {
            evidence.retain(|e| *e != format!("ERROR: {}", self.errors[0]));
        } else if self.failures.is_empty() && self.errors.is_empty() && self.warnings.len() == 1 {
            evidence.retain(|e| *e != format!("WARN: {}", self.warnings[0].0));
        }
        if let Some((message, _)) = self.failures.first() {
            return Outcome::fail(
                format!("{message}{}", more(self.failures.len())),
                evidence,
                distinct_hints(&self.failures),
            );
        }
        if let Some(message) = self.errors.first() {
            let outcome = Outcome::error(format!("{message}{}", more(self.errors.len())), evidence);
            return Outcome {
                hint: (!self.error_fixes.is_empty()).then(|| self.error_fixes.join("\n")),
                ..outcome
            };
        }
        if let Some((message, _)) = self.warnings.first() {
            return Outcome::warn(
                format!("{message}{}", more(self.warnings.len())),
                evidence,
                distinct_hints(&self.warnings),
            );
        }
        if self.passes == 0 {
            let message = self
                .skips
                .first()
                .cloned()
                // A skip says why: with no skip of its own, the last thing noted (an
                // internal network, masquerading off) is the reason.
                .or_else(|| evidence.last().map(|e| format!("nothing to check: {e}")))
                .unwrap_or_else(|| "nothing to check".to_string());
            return Outcome::skip(format!("{message}{}", more(self.skips.len())), evidence);
        }
        // A pass over part of the items says so: without root, "every container's
        // veth is fine" would claim more than was seen.
        let mut message = pass_message.into();
        if let Some(first) = self.skips.first() {
            message = format!(
                "{message}, where observed; not observed: {first}{}",
                more(self.skips.len())
            );
        }
        Outcome::pass(message, evidence)
    }
}

/// The hints of several findings, each once, in the order found.
fn distinct_hints(findings: &[(String, String)]) -> String {
    let mut hints: Vec<&str> = Vec::new();
    for (_, h) in findings {
        if !hints.contains(&h.as_str()) {
            hints.push(h);
        }
    }
    hints.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A code for the tests alone.
    #[derive(Clone, Copy, strum::IntoStaticStr, strum::EnumIter, strum::EnumMessage)]
    #[strum(serialize_all = "kebab-case")]
    enum TestCode {
        /// Something the test finds.
        X,
    }

    #[test]
    fn the_probe_is_not_counted_among_affected_containers() {
        let mut f = Findings::default();
        f.fail_at(
            TestCode::X,
            Subject::inside("netcheck-probe-1", "eth0"),
            "probe: bad",
            "fix",
        );
        f.fail_at(TestCode::X, Subject::container("app"), "app: bad", "fix");
        let outcome = f.finish("fine");
        assert_eq!(outcome.status, Status::Fail);
        assert_eq!(outcome.message, "app: bad");
        assert_eq!(outcome.findings.len(), 2, "the probe's finding stays");
        // Two of the user's containers: one more, the probe still left out.
        let mut f = Findings::default();
        f.fail_at(TestCode::X, Subject::container("a"), "a: bad", "fix");
        f.fail_at(
            TestCode::X,
            Subject::inside("netcheck-probe-1", "eth0"),
            "probe: bad",
            "fix",
        );
        f.fail_at(TestCode::X, Subject::container("b"), "b: bad", "fix");
        assert_eq!(f.finish("fine").message, "a: bad (and 1 more)");
        // The probe alone: it is the witness, and names the verdict.
        let mut f = Findings::default();
        f.fail_at(
            TestCode::X,
            Subject::inside("netcheck-probe-1", "eth0"),
            "probe: bad",
            "fix",
        );
        let outcome = f.finish("fine");
        assert_eq!(
            (outcome.status, outcome.message.as_str()),
            (Status::Fail, "probe: bad")
        );
        // Warnings alike.
        let mut f = Findings::default();
        f.warn_at(TestCode::X, Subject::container("a"), "a: risky", "fix");
        f.warn_at(
            TestCode::X,
            Subject::container("netcheck-probe-1"),
            "probe: risky",
            "fix",
        );
        assert_eq!(f.finish("fine").message, "a: risky");
    }
}
