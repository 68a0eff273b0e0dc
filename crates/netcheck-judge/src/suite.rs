//! Suites: TOML files that say which checks run, with which parameters, and whether a
//! failure gates the exit code. The shipped ones live in `checks/` and are embedded.
//!
//! ```toml
//! name = "ours"
//! include = ["default"]            # a shipped suite, or a path relative to this file
//!
//! [[check]]
//! id = "bridge.subnet"             # a built-in check: its id is its kind
//! params = { forbid_overlap = ["10.0.0.0/8"] }
//!
//! [[check]]
//! id = "app.registry-mirror"       # a check of a generic kind, under an id of ours
//! kind = "tcp"
//! gate = false                     # reported, never fails the run; "warn": warnings fail it too
//! params = { network = "app-net", target = "registry.internal:5000", expect = "open" }
//! ```
//!
//! Loading validates everything before anything runs, and reports every problem with
//! its file, line and column: a suite with errors never runs half.

use std::path::Path;

use schemars::JsonSchema;
use serde::Deserialize;
use toml::Spanned;

use crate::checks::{self, Instance};
use netcheck_model::error::SuiteProblem;

mod allow;
mod load;
mod location;

use location::{Location, shipped_names};

/// The suites shipped in `checks/`, by name: `--profile NAME` and `include = ["NAME"]`.
pub const SHIPPED: &[(&str, &str)] = &[
    ("default", include_str!("../../../checks/default.toml")),
    (
        "onboarding",
        include_str!("../../../checks/onboarding.toml"),
    ),
    ("ci", include_str!("../../../checks/ci.toml")),
];

/// A suite file as written. Spans locate the errors found after parsing.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "netcheck suite")]
pub struct SuiteFile {
    /// The suite's name, shown in reports.
    pub name: String,
    /// What the suite is for.
    #[serde(default)]
    pub description: Option<String>,
    /// Other suites whose checks come first: a shipped suite's name, or a path relative
    /// to this file.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub include: Vec<Spanned<String>>,
    /// Warnings gate too, for every check of this suite and its includes (as
    /// `--strict`): for pipelines that want nothing fragile or risky on a host.
    #[serde(default)]
    pub strict: bool,
    /// The checks, in the order they are reported.
    #[serde(default, rename = "check")]
    pub checks: Vec<CheckEntry>,
}

/// One check of a suite.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckEntry {
    /// A stable id: a built-in check's id, or an id of your own for a generic kind.
    #[schemars(with = "String")]
    pub id: Spanned<String>,
    /// For checks of your own: `tcp`, `http`, `dns` or `route`. Built-in checks omit it.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub kind: Option<Spanned<String>>,
    /// Which results fail the run (exit 1): `true` (the default) a failure, `false` none
    /// (still reported), `"warn"` a warning too.
    #[serde(default, deserialize_with = "gate")]
    #[schemars(with = "GateSchema")]
    pub gate: checks::Gate,
    /// Finding codes accepted on this host (`bridge.subnet/overlaps-route`): reported
    /// in the evidence, but they neither fail nor warn. A JSON report's `findings`
    /// list every code.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub allow: Vec<Spanned<String>>,
    /// The kind's parameters (`netcheck explain KIND` lists them).
    #[serde(default)]
    #[schemars(schema_with = "crate::checks::params::suite_schema")]
    pub params: Option<Spanned<toml::Table>>,
}

/// `gate = true | false | "warn"`, with a message that names the three.
fn gate<'de, D: serde::Deserializer<'de>>(d: D) -> Result<checks::Gate, D::Error> {
    struct Visitor;
    impl serde::de::Visitor<'_> for Visitor {
        type Value = checks::Gate;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str(r#"true, false or "warn""#)
        }
        fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<checks::Gate, E> {
            Ok(if v {
                checks::Gate::Fail
            } else {
                checks::Gate::Off
            })
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<checks::Gate, E> {
            match v {
                "warn" => Ok(checks::Gate::Warn),
                _ => Err(E::invalid_value(serde::de::Unexpected::Str(v), &self)),
            }
        }
    }
    d.deserialize_any(Visitor)
}

/// The shape of `gate` for the suite's JSON Schema.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum GateSchema {
    OnOff(bool),
    Level(GateLevel),
}

#[derive(JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
enum GateLevel {
    Warn,
}

/// A loaded, validated suite.
#[derive(Debug)]
pub struct Suite {
    pub name: String,
    pub instances: Vec<Instance>,
}

impl Suite {
    /// Loads a suite file, with its includes.
    pub fn from_file(path: &Path) -> Result<Suite, Vec<SuiteProblem>> {
        load::suite(Location::File(path.to_path_buf()))
    }

    /// Loads a suite from text; it may include shipped suites only.
    pub fn from_text(text: &str) -> Result<Suite, Vec<SuiteProblem>> {
        load::suite(Location::Text(text.to_string()))
    }

    /// Loads a shipped suite by name (`--profile`).
    pub fn shipped(name: &str) -> Result<Suite, Vec<SuiteProblem>> {
        match SHIPPED.iter().find(|(n, _)| *n == name) {
            Some((n, _)) => load::suite(Location::Shipped(n)),
            None => Err(vec![SuiteProblem {
                file: "--profile".into(),
                line: 0,
                column: 0,
                message: format!(
                    "unknown profile `{name}`: the profiles are {}",
                    shipped_names()
                ),
            }]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_suites_load() {
        for (name, _) in SHIPPED {
            let suite = Suite::shipped(name).unwrap_or_else(|p| panic!("{name}: {p:?}"));
            assert!(!suite.instances.is_empty(), "{name}");
        }
        let builtin = crate::checks::REGISTRY
            .iter()
            .filter(|c| !c.generic)
            .count();
        assert_eq!(Suite::shipped("default").unwrap().instances.len(), builtin);
    }
}
