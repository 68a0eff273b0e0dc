//! Finding codes, typed: each check names what it finds with an enum of its own, `Code`,
//! beside the check, and its registry entry lists them ([`super::Check::codes`]).
//!
//! A code is written as a variant (`Code::WrongMaster`), so a misspelt one does not
//! compile; it renders to its slug (`wrong-master`, strum's kebab-case of the variant),
//! which the judge prefixes with the check's id (`bridge.veth/wrong-master`). Its doc
//! comment is its description: `netcheck explain` prints it, and a suite's `allow` is
//! checked against the list. Slugs never change once released, as check ids.

use strum::{EnumMessage, IntoEnumIterator};

/// A check's finding code: an enum that derives `Clone, Copy, IntoStaticStr, EnumIter,
/// EnumMessage` with `#[strum(serialize_all = "kebab-case")]`, a doc comment on every
/// variant.
pub trait Code: Copy + Into<&'static str> + IntoEnumIterator + EnumMessage {
    /// The code as findings carry it before the judge adds the check's id.
    fn slug(self) -> &'static str {
        self.into()
    }
}

impl<T: Copy + Into<&'static str> + IntoEnumIterator + EnumMessage> Code for T {}

/// A finding code as the registry lists it, for code that knows no check's enum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeInfo {
    pub slug: &'static str,
    /// What the finding means: the variant's doc comment, on one line.
    pub description: String,
}

/// Every code of `C`, in the order declared: what a [`super::Check`]'s `codes` returns.
pub fn list<C: Code>() -> Vec<CodeInfo> {
    C::iter()
        .map(|c| CodeInfo {
            slug: c.slug(),
            description: c
                .get_documentation()
                .unwrap_or_default()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
        })
        .collect()
}

/// The codes every check may report besides its own: the judge gives them to outcomes
/// that name no finding of their own.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumIter, strum::EnumMessage,
)]
#[strum(serialize_all = "kebab-case")]
pub enum Common {
    /// netcheck could not observe what the check needs (every error has this code).
    NotObserved,
    /// A failure or warning whose check names no code of its own for it.
    Unclassified,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::{NOT_OBSERVED, REGISTRY, UNCLASSIFIED};

    #[test]
    fn common_codes_are_the_judges_placeholders() {
        assert_eq!(Common::NotObserved.slug(), NOT_OBSERVED);
        assert_eq!(Common::Unclassified.slug(), UNCLASSIFIED);
    }

    /// Every check's codes: each slug once (with the common ones too, which a suite may
    /// allow on any check), well-formed, and described.
    #[test]
    fn every_code_is_unique_in_its_check_and_described() {
        for check in REGISTRY {
            let mut codes = (check.codes)();
            assert!(
                !codes.is_empty(),
                "{}: a check names what it finds",
                check.id
            );
            codes.extend(list::<Common>());
            let mut slugs: Vec<&str> = codes.iter().map(|c| c.slug).collect();
            slugs.sort_unstable();
            let before = slugs.len();
            slugs.dedup();
            assert_eq!(before, slugs.len(), "{}: a slug is listed twice", check.id);
            for c in &codes {
                assert!(
                    !c.slug.is_empty()
                        && c.slug
                            .chars()
                            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-'),
                    "{}/{}: slugs are lowercase words joined by '-'",
                    check.id,
                    c.slug
                );
                assert!(
                    c.description.len() > 20 && !c.description.contains('\n'),
                    "{}/{}: describe it in a sentence",
                    check.id,
                    c.slug
                );
            }
        }
    }
}
