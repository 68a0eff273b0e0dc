//! A suite's `allow` list: each entry must be a finding code its check can report
//! (`<check id>/<slug>`, one of the check's codes or a common one). A misspelt code would
//! allow nothing, silently: the run would fail on what the suite meant to accept.

use crate::checks::{self, Check};

/// What is wrong with the `allow` entry `code` of an entry for `check`, if anything.
pub(super) fn problem(check: &Check, code: &str) -> Option<String> {
    let prefix = format!("{}/", check.id);
    match code.strip_prefix(&prefix) {
        Some(slug) if check.has_code(slug) => None,
        Some(slug) => Some(unknown(check, code, slug)),
        None => Some(format!(
            "allow `{code}`: a finding code of this check is `{prefix}<slug>` (netcheck explain {} lists them)",
            check.id
        )),
    }
}

/// An entry under the check's id whose slug the check does not have: the codes it may
/// have meant, and where the codes are listed.
fn unknown(check: &Check, code: &str, slug: &str) -> String {
    let known: Vec<checks::CodeInfo> = (check.codes)()
        .into_iter()
        .chain(checks::code::list::<checks::Common>())
        .collect();
    let meant: Vec<String> = crate::spelling::closest(slug, known.iter().map(|c| c.slug))
        .into_iter()
        .take(3)
        .map(|s| format!("`{}/{s}`", check.id))
        .collect();
    let meant = if meant.is_empty() {
        String::new()
    } else {
        format!(": did you mean {}?", meant.join(", "))
    };
    format!(
        "allow `{code}`: {} has no finding code `{slug}`{meant} (netcheck explain {} lists them)",
        check.id, check.id
    )
}

#[cfg(test)]
mod tests {
    use super::super::Suite;
    use netcheck_model::error::SuiteProblem;

    fn allowing(id: &str, allow: &str) -> Result<Suite, Vec<SuiteProblem>> {
        Suite::from_text(&format!(
            "name = \"x\"\n[[check]]\nid = \"{id}\"\nallow = [{allow}]\n"
        ))
    }

    #[test]
    fn allow_takes_the_checks_codes_and_suggests_for_a_misspelt_one() {
        let ok = allowing(
            "bridge.subnet",
            "\"bridge.subnet/overlaps-route\", \"bridge.subnet/not-observed\"",
        );
        assert!(ok.is_ok(), "{ok:?}");
        let problems = allowing("bridge.subnet", "\"bridge.subnet/overlap-route\"").unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!((problems[0].line, problems[0].column), (4, 10));
        assert_eq!(
            problems[0].message,
            "allow `bridge.subnet/overlap-route`: bridge.subnet has no finding code `overlap-route`: \
             did you mean `bridge.subnet/overlaps-route`? (netcheck explain bridge.subnet lists them)"
        );
        // Nothing close: no guess.
        let problems = allowing("bridge.subnet", "\"bridge.subnet/zzzzzz\"").unwrap_err();
        assert!(
            !problems[0].message.contains("did you mean"),
            "{problems:?}"
        );
        // Another check's code is refused as before.
        let problems = allowing("bridge.subnet", "\"bridge.veth/wrong-master\"").unwrap_err();
        assert!(
            problems[0]
                .message
                .contains("a finding code of this check is `bridge.subnet/<slug>`"),
            "{problems:?}"
        );
    }

    #[test]
    fn every_listed_code_can_be_allowed() {
        for check in crate::checks::REGISTRY.iter().filter(|c| !c.generic) {
            for code in (check.codes)() {
                let entry = format!("\"{}/{}\"", check.id, code.slug);
                let suite = allowing(check.id, &entry);
                assert!(suite.is_ok(), "{entry}: {suite:?}");
            }
        }
    }
}
