//! The plan: which checks run, from the suite file and the command line's filters.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::checks::{self, Check, Needs};
use crate::error::Error;

/// The default suite, embedded so that the binary needs no files beside it.
pub const DEFAULT_SUITE: &str = include_str!("../checks/default.toml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Suite {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default, rename = "check")]
    pub checks: Vec<SuiteCheck>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuiteCheck {
    /// A built-in check id.
    pub id: String,
}

impl Suite {
    pub fn parse(text: &str, path: &Path) -> Result<Suite, Error> {
        let bad = |detail: String| Error::BadFile {
            path: path.to_path_buf(),
            detail,
        };
        // toml's message carries the line and column, and a caret under the culprit.
        let suite: Suite =
            toml::from_str(text).map_err(|e| bad(e.to_string().trim_end().to_string()))?;
        for (i, c) in suite.checks.iter().enumerate() {
            if checks::find(&c.id).is_none() {
                return Err(bad(format!(
                    "check #{}: unknown check id `{}` (netcheck --list shows them)",
                    i + 1,
                    c.id
                )));
            }
            if suite.checks[..i].iter().any(|p| p.id == c.id) {
                return Err(bad(format!("check #{}: `{}` is listed twice", i + 1, c.id)));
            }
        }
        Ok(suite)
    }

    pub fn load(path: Option<&PathBuf>) -> Result<Suite, Error> {
        match path {
            None => Suite::parse(DEFAULT_SUITE, Path::new("checks/default.toml (built in)")),
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| Error::BadFile {
                    path: p.clone(),
                    detail: e.to_string(),
                })?;
                Suite::parse(&text, p)
            }
        }
    }
}

/// Selection, as libtest does it: substrings of ids, or whole ids with `exact`.
#[derive(Debug, Default, Clone)]
pub struct Filters {
    pub include: Vec<String>,
    pub skip: Vec<String>,
    pub exact: bool,
}

pub struct Plan {
    pub checks: Vec<&'static Check>,
}

impl Plan {
    pub fn new(suite: &Suite, filters: &Filters) -> Result<Plan, Error> {
        if filters.exact {
            // A misspelt id in a CI job must not silently run nothing.
            for id in filters.include.iter().chain(&filters.skip) {
                if checks::find(id).is_none() {
                    return Err(Error::UnknownCheck(id.clone()));
                }
            }
        }
        let matches = |pattern: &String, id: &str| {
            if filters.exact {
                id == pattern
            } else {
                id.contains(pattern.as_str())
            }
        };
        let checks: Vec<&'static Check> = suite
            .checks
            .iter()
            .filter_map(|c| checks::find(&c.id))
            .filter(|c| {
                filters.include.is_empty() || filters.include.iter().any(|p| matches(p, c.id))
            })
            .filter(|c| !filters.skip.iter().any(|p| matches(p, c.id)))
            .collect();
        if checks.is_empty() {
            return Err(Error::NothingSelected(filters.include.clone()));
        }
        Ok(Plan { checks })
    }

    /// The union of what the selected checks need: a filtered run collects less.
    pub fn needs(&self) -> Needs {
        self.checks.iter().fold(
            Needs {
                host: false,
                probe: false,
                outside: false,
            },
            |acc, c| Needs {
                host: acc.host || c.needs.host,
                probe: acc.probe || c.needs.probe,
                outside: acc.outside || c.needs.outside,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(filters: Filters) -> Result<Vec<&'static str>, Error> {
        let suite = Suite::load(None).unwrap();
        Plan::new(&suite, &filters).map(|p| p.checks.iter().map(|c| c.id).collect())
    }

    #[test]
    fn default_suite_lists_every_check() {
        assert_eq!(
            ids(Filters::default()).unwrap().len(),
            checks::REGISTRY.len()
        );
    }

    #[test]
    fn substring_skip_and_exact() {
        let f = |inc: &[&str], skip: &[&str], exact| Filters {
            include: inc.iter().map(|s| s.to_string()).collect(),
            skip: skip.iter().map(|s| s.to_string()).collect(),
            exact,
        };
        assert_eq!(
            ids(f(&["bridge"], &[], false)).unwrap(),
            ["bridge.subnet", "bridge.veth"]
        );
        assert_eq!(
            ids(f(&["bridge"], &["veth"], false)).unwrap(),
            ["bridge.subnet"]
        );
        assert_eq!(
            ids(f(&["nat.masquerade"], &[], true)).unwrap(),
            ["nat.masquerade"]
        );
        assert!(matches!(
            ids(f(&["nat"], &[], true)),
            Err(Error::UnknownCheck(_))
        ));
        assert!(matches!(
            ids(f(&["nope"], &[], false)),
            Err(Error::NothingSelected(_))
        ));
    }

    #[test]
    fn bad_suites_name_the_position() {
        let p = Path::new("s.toml");
        let e = Suite::parse("name = \"x\"\n[[check]]\nid = 3\n", p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("s.toml") && e.contains("line 3"), "{e}");
        let e = Suite::parse("name = \"x\"\n[[check]]\nid = \"nope\"\n", p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown check id `nope`"), "{e}");
        let e = Suite::parse("name = \"x\"\nbogus = 1\n", p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("bogus"), "{e}");
    }
}
