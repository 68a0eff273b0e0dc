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

use std::ops::Range;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::Deserialize;
use toml::Spanned;

use crate::checks::{self, Instance};
use netcheck_model::error::SuiteProblem;

mod allow;

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

/// Where a suite comes from: shipped (by name) or a file.
#[derive(Debug, Clone, PartialEq)]
enum Location {
    Shipped(&'static str),
    File(PathBuf),
    /// Text given directly (fuzzing, tests): it may include shipped suites only.
    Text(String),
}

impl Location {
    fn label(&self) -> String {
        match self {
            Location::Shipped(name) => format!("checks/{name}.toml"),
            Location::File(p) => p.display().to_string(),
            Location::Text(_) => "<text>".into(),
        }
    }

    fn read(&self) -> Result<String, String> {
        match self {
            Location::Shipped(name) => Ok(SHIPPED
                .iter()
                .find(|(n, _)| n == name)
                .expect("shipped")
                .1
                .to_string()),
            Location::File(p) => {
                netcheck_model::input::read(p, netcheck_model::input::Kind::Suite, false)
                    .map_err(|e| format!("cannot read {}: {e}", p.display()))
            }
            Location::Text(t) => Ok(t.clone()),
        }
    }

    /// What `include = ["X"]` in this suite names.
    fn resolve(&self, include: &str) -> Option<Location> {
        if let Some((name, _)) = SHIPPED.iter().find(|(n, _)| *n == include) {
            return Some(Location::Shipped(name));
        }
        let base = match self {
            Location::File(p) => p.parent().unwrap_or(Path::new(".")).to_path_buf(),
            Location::Shipped(_) | Location::Text(_) => return None,
        };
        Some(Location::File(base.join(include)))
    }
}

fn position(text: &str, span: Range<usize>) -> (usize, usize) {
    let before = &text[..span.start.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

struct Loader {
    problems: Vec<SuiteProblem>,
    instances: Vec<Instance>,
    /// Suites already loaded, so that one included twice is loaded once.
    loaded: Vec<Location>,
    /// Which file each entry came from, to tell overrides from duplicates.
    origins: Vec<(String, Location)>,
    /// The include chain being loaded, to find cycles.
    stack: Vec<Location>,
}

impl Loader {
    fn problem(&mut self, source: &Location, text: &str, span: Range<usize>, message: String) {
        let (line, column) = position(text, span);
        self.problems.push(SuiteProblem {
            file: source.label(),
            line,
            column,
            message,
        });
    }

    /// Loads one suite and its includes; Err when the file cannot be read, for the
    /// caller to locate (the include that names it, or none for the top file).
    fn load(&mut self, source: Location) -> Result<Option<(String, bool)>, String> {
        let text = source.read()?;
        let file: SuiteFile = match toml::from_str(&text) {
            Ok(f) => f,
            Err(e) => {
                let span = e.span().unwrap_or(0..0);
                self.problem(&source, &text, span, e.message().to_string());
                return Ok(None);
            }
        };
        self.stack.push(source.clone());
        for inc in &file.include {
            match source.resolve(inc.get_ref()) {
                None => self.problem(
                    &source,
                    &text,
                    inc.span(),
                    format!(
                        "unknown suite `{}`: shipped suites are {}",
                        inc.get_ref(),
                        shipped_names()
                    ),
                ),
                Some(target) if self.stack.contains(&target) => self.problem(
                    &source,
                    &text,
                    inc.span(),
                    format!("include cycle: {} includes itself", target.label()),
                ),
                // Included twice (`include = ["default", "ci"]`, and ci includes default):
                // once is enough.
                Some(target) if self.loaded.contains(&target) => {}
                Some(target) => {
                    self.loaded.push(target.clone());
                    if let Err(message) = self.load(target) {
                        self.problem(&source, &text, inc.span(), message);
                    }
                }
            }
        }
        for entry in file.checks {
            self.entry(&source, &text, entry);
        }
        self.stack.pop();
        Ok(Some((file.name, file.strict)))
    }

    fn entry(&mut self, source: &Location, text: &str, entry: CheckEntry) {
        let id = entry.id.get_ref().clone();
        if !valid_id(&id) {
            self.problem(
                source,
                text,
                entry.id.span(),
                format!("check id `{id}`: use lowercase letters, digits, '.', '-' and '_'"),
            );
            return;
        }
        // An id seen in this very file is a mistake; one from an included suite is an
        // override: `include = ["default"]`, then bridge.subnet again with params.
        if self
            .origins
            .iter()
            .any(|(i, from)| *i == id && from == source)
        {
            self.problem(
                source,
                text,
                entry.id.span(),
                format!("duplicate check id `{id}`"),
            );
            return;
        }
        let check = match &entry.kind {
            None => match checks::find(&id) {
                Some(c) if !c.generic => c,
                Some(_) | None => {
                    self.problem(
                        source,
                        text,
                        entry.id.span(),
                        format!(
                            "unknown check id `{id}`: a check of your own needs a `kind` ({}); \
                             netcheck --list shows the built-in ids",
                            generic_kinds()
                        ),
                    );
                    return;
                }
            },
            Some(kind) => match checks::find(kind.get_ref()) {
                Some(c) if c.generic => {
                    if checks::find(&id).is_some() {
                        self.problem(
                            source,
                            text,
                            entry.id.span(),
                            format!("check id `{id}` is taken by a built-in check: pick another"),
                        );
                        return;
                    }
                    c
                }
                Some(_) => {
                    self.problem(
                        source,
                        text,
                        kind.span(),
                        format!(
                            "`{}` is a built-in check, not a kind: use `id = \"{}\"` without `kind`",
                            kind.get_ref(),
                            kind.get_ref()
                        ),
                    );
                    return;
                }
                None => {
                    self.problem(
                        source,
                        text,
                        kind.span(),
                        format!(
                            "unknown kind `{}`: the kinds are {}",
                            kind.get_ref(),
                            generic_kinds()
                        ),
                    );
                    return;
                }
            },
        };
        let (table, span) = match entry.params {
            Some(p) => {
                let span = p.span();
                (p.into_inner(), span)
            }
            None => (toml::Table::new(), entry.id.span()),
        };
        let mut allow = vec![];
        for code in &entry.allow {
            match allow::problem(check, code.get_ref()) {
                None => allow.push(code.get_ref().clone()),
                Some(message) => self.problem(source, text, code.span(), message),
            }
        }
        match (check.configure)(&table) {
            Ok(configured) => {
                let instance = Instance {
                    id: id.clone(),
                    check,
                    configured,
                    gate: entry.gate,
                    allow,
                };
                match self.instances.iter().position(|i| i.id == id) {
                    Some(at) => self.instances[at] = instance,
                    None => self.instances.push(instance),
                }
                self.origins.push((id, source.clone()));
            }
            Err(e) => {
                // At the key where there is one: a long table's problem is found at once.
                let at = e
                    .key
                    .as_deref()
                    .and_then(|k| key_span(text, span.clone(), k))
                    .unwrap_or(span);
                self.problem(source, text, at, format!("params of `{id}`: {}", e.message))
            }
        }
    }
}

/// Where `key` is written inside the `params` table at `span`: `key =`, bare or quoted,
/// after the table's opening brace, a comma or a line break.
fn key_span(text: &str, span: Range<usize>, key: &str) -> Option<Range<usize>> {
    let inner = text.get(span.clone())?;
    let quoted = format!("\"{key}\"");
    for name in [key, quoted.as_str()] {
        let mut from = 0;
        while let Some(i) = inner[from..].find(name) {
            let at = from + i;
            let before = inner[..at].trim_end_matches([' ', '\t']);
            let after = inner[at + name.len()..].trim_start_matches([' ', '\t']);
            let starts = before.is_empty() || before.ends_with(['{', ',', '\n']);
            if starts && after.starts_with('=') {
                return Some(span.start + at..span.start + at + name.len());
            }
            from = at + name.len();
        }
    }
    None
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-' | '_'))
}

fn generic_kinds() -> String {
    let kinds: Vec<&str> = checks::REGISTRY
        .iter()
        .filter(|c| c.generic)
        .map(|c| c.id)
        .collect();
    kinds.join(", ")
}

fn shipped_names() -> String {
    SHIPPED
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Suite {
    /// Loads a suite file, with its includes.
    pub fn from_file(path: &Path) -> Result<Suite, Vec<SuiteProblem>> {
        Suite::load(Location::File(path.to_path_buf()))
    }

    /// Loads a suite from text; it may include shipped suites only.
    pub fn from_text(text: &str) -> Result<Suite, Vec<SuiteProblem>> {
        Suite::load(Location::Text(text.to_string()))
    }

    /// Loads a shipped suite by name (`--profile`).
    pub fn shipped(name: &str) -> Result<Suite, Vec<SuiteProblem>> {
        match SHIPPED.iter().find(|(n, _)| *n == name) {
            Some((n, _)) => Suite::load(Location::Shipped(n)),
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

    fn load(source: Location) -> Result<Suite, Vec<SuiteProblem>> {
        let mut loader = Loader {
            problems: vec![],
            instances: vec![],
            loaded: vec![],
            origins: vec![],
            stack: vec![],
        };
        let name = match loader.load(source.clone()) {
            Ok(name) => name,
            Err(message) => {
                loader.problems.push(SuiteProblem {
                    file: source.label(),
                    line: 0,
                    column: 0,
                    message,
                });
                None
            }
        };
        match name {
            Some((name, strict)) if loader.problems.is_empty() => {
                let mut instances = loader.instances;
                if strict {
                    instances.iter_mut().for_each(|i| i.gate = i.gate.strict());
                }
                Ok(Suite { name, instances })
            }
            _ => Err(loader.problems),
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

    #[test]
    fn positions_are_one_based() {
        assert_eq!(position("a\nbc = 1\n", 2..3), (2, 1));
        assert_eq!(position("a\nbc = 1\n", 7..8), (2, 6));
    }
}
