//! JUnit XML: one testsuite per engine (for a single run, the host), one testcase per
//! check, valid against Jenkins' xUnit schema (junit-10.xsd), which GitLab reads as well.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Property, Report as JUnit, TestCase, TestCaseStatus, TestSuite};

use netcheck_model::escape::xml as esc;
use netcheck_model::report::{Report, Status};

use crate::format::{Format, Runs};

pub const FORMAT: Format = Format {
    flag: "junit",
    help: "Write a JUnit XML report (one testsuite for the host, one testcase per check).",
    one_engine_only: false,
    render: render_runs,
};

/// A single run is a fleet of one: a testsuite per record. Only the suites' names
/// differ: a single run's is its host's, a fleet's each engine's name (unique in the
/// report, where hostnames need not be).
fn render_runs(runs: &Runs) -> String {
    let suites: Vec<(String, &Report)> = (runs.records().iter())
        .map(|r| match runs {
            Runs::One(..) => (host(&r.report).to_string(), &r.report),
            Runs::Fleet(..) => (r.engine.name.clone(), &r.report),
        })
        .collect();
    render_suites(&suites, runs.wall())
}

/// One report's file, as a single run's: its testsuite is named after the host.
pub fn render(report: &Report) -> String {
    render_suites(
        &[(host(report).to_string(), report)],
        Duration::from_millis(report.duration_ms),
    )
}

fn host(report: &Report) -> &str {
    if report.host.hostname.is_empty() {
        "docker-host"
    } else {
        &report.host.hostname
    }
}

/// One testsuite per report, named `netcheck@NAME`: a fleet's engines, or one host.
pub fn render_suites(reports: &[(String, &Report)], wall: Duration) -> String {
    let mut junit = JUnit::new("netcheck");
    junit.set_time(wall);
    for (name, report) in reports {
        junit.add_test_suite(suite(name, report));
    }
    let xml = junit
        .to_string()
        .expect("JUnit of plain strings always serialises");
    without_root_skipped(xml)
}

/// `name` is engine text (a hostname, a context, an endpoint): it is escaped here. A
/// report without a hostname (an engine never reached) is named as it was given.
fn suite(name: &str, report: &Report) -> TestSuite {
    let host = if report.host.hostname.is_empty() {
        esc(name)
    } else {
        esc(&report.host.hostname)
    };
    let mut suite = TestSuite::new(format!("netcheck@{}", esc(name)));
    suite.set_timestamp(report.started.fixed_offset());
    suite.set_time(Duration::from_millis(report.duration_ms));
    suite.extra.insert("hostname".into(), host.as_ref().into());
    if let Some(e) = &report.engine {
        for (name, value) in [
            ("netcheck.engine.name", e.name.clone()),
            ("netcheck.engine.endpoint", e.endpoint.clone()),
            (
                "netcheck.engine.context",
                e.context.clone().unwrap_or_default(),
            ),
            ("netcheck.engine.transport", e.transport.clone()),
            ("netcheck.engine.agent", e.agent.to_string()),
        ] {
            suite.add_property(Property::new(name, esc(&value).as_ref()));
        }
    }
    // A remark on the run (an allow entry that matched nothing) is no testcase: a
    // property shows it without changing the job's result.
    for (i, n) in report.notes.iter().enumerate() {
        suite.add_property(Property::new(
            format!("netcheck.note.{}", i + 1),
            esc(&n.message()).as_ref(),
        ));
    }
    for c in &report.checks {
        let description = body(&c.evidence, c.hint.as_deref());
        let warn_gates = c.status == Status::Warn && c.strict;
        let status = match c.status {
            Status::Pass => TestCaseStatus::success(),
            // A warning keeps the job green (unless it gates), but shows: a suite
            // property names it, and the testcase's output carries it with the fix.
            Status::Warn if !warn_gates => {
                suite.add_property(Property::new(
                    format!("netcheck.warn.{}", esc(&c.id)),
                    esc(&c.message).as_ref(),
                ));
                TestCaseStatus::success()
            }
            Status::Skip => {
                let mut s = TestCaseStatus::skipped();
                s.set_message(esc(&c.message).as_ref())
                    .set_description(description.clone());
                s
            }
            Status::Warn | Status::Fail | Status::Error => {
                let kind = if c.status != Status::Error {
                    NonSuccessKind::Failure
                } else {
                    NonSuccessKind::Error
                };
                let mut s = TestCaseStatus::non_success(kind);
                let ty = if c.gate {
                    c.status.as_str()
                } else {
                    "non-gating"
                };
                s.set_message(esc(&c.message).as_ref())
                    .set_type(ty)
                    .set_description(description.clone());
                s
            }
        };
        let mut case = TestCase::new(esc(&c.id).as_ref(), status);
        // Jenkins groups by class name: one group per host keeps fleets readable.
        case.set_classname(format!("netcheck.{host}"));
        case.set_time(Duration::from_secs_f64(c.duration_ms / 1000.0));
        if c.status == Status::Warn && !warn_gates {
            let text = body(&c.evidence, c.hint.as_deref());
            case.set_system_out(format!("WARN: {}\n{text}", esc(&c.message)));
        } else if c.status == Status::Pass && !c.evidence.is_empty() {
            let lines: Vec<_> = c.evidence.iter().map(|e| esc(e)).collect();
            case.set_system_out(lines.join("\n"));
        }
        suite.add_test_case(case);
    }
    suite
}

fn body(evidence: &[String], hint: Option<&str>) -> String {
    let mut s = String::new();
    for e in evidence {
        s.push_str(&esc(e));
        s.push('\n');
    }
    if let Some(h) = hint {
        s.push_str("hint: ");
        let lines: Vec<_> = h.lines().map(esc).collect();
        s.push_str(&lines.join("\n"));
        s.push('\n');
    }
    s
}

/// Jenkins' schema has no `skipped` attribute on `<testsuites>`, and quick-junit always
/// writes one. The root tag holds only attributes netcheck set (a fixed name and
/// numbers), so removing it by text is exact.
fn without_root_skipped(xml: String) -> String {
    let Some(start) = xml.find("<testsuites ") else {
        return xml;
    };
    let end = start + xml[start..].find('>').unwrap_or(0);
    let tag = &xml[start..end];
    let Some(attr) = tag.find(" skipped=\"") else {
        return xml;
    };
    let attr_end =
        attr + " skipped=\"".len() + tag[attr + " skipped=\"".len()..].find('"').unwrap_or(0) + 1;
    format!(
        "{}{}{}",
        &xml[..start + attr],
        &xml[start + attr_end..end],
        &xml[end..]
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn drops_only_the_root_skipped_attribute() {
        let xml = r#"<testsuites name="netcheck" tests="1" skipped="0" failures="0"><testsuite skipped="1"/></testsuites>"#;
        assert_eq!(
            super::without_root_skipped(xml.into()),
            r#"<testsuites name="netcheck" tests="1" failures="0"><testsuite skipped="1"/></testsuites>"#
        );
    }
}
