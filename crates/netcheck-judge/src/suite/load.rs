//! Loading a suite: reading it and its includes, turning each `[[check]]` entry into an
//! [`Instance`], and locating every problem (file, line, column) instead of stopping at
//! the first.

use std::ops::Range;

use super::location::{Location, shipped_names};
use super::{CheckEntry, Suite, SuiteFile, allow};
use crate::checks::{self, Check, Instance};
use netcheck_model::error::SuiteProblem;

/// Loads the suite at `source` with its includes: the suite, or every problem found.
pub(super) fn suite(source: Location) -> Result<Suite, Vec<SuiteProblem>> {
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

    /// One `[[check]]` entry: its id, the check it names, its allow list and its params
    /// make an instance, which replaces an included suite's of the same id.
    fn entry(&mut self, source: &Location, text: &str, entry: CheckEntry) {
        let id = entry.id.get_ref().clone();
        if !self.id_usable(source, text, &entry) {
            return;
        }
        let Some(check) = self.check_of(source, text, &entry) else {
            return;
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

    /// The entry's id is well formed and not already used in this same file.
    fn id_usable(&mut self, source: &Location, text: &str, entry: &CheckEntry) -> bool {
        let id = entry.id.get_ref();
        if !valid_id(id) {
            self.problem(
                source,
                text,
                entry.id.span(),
                format!("check id `{id}`: use lowercase letters, digits, '.', '-' and '_'"),
            );
            return false;
        }
        // An id seen in this very file is a mistake; one from an included suite is an
        // override: `include = ["default"]`, then bridge.subnet again with params.
        if self
            .origins
            .iter()
            .any(|(i, from)| i == id && from == source)
        {
            self.problem(
                source,
                text,
                entry.id.span(),
                format!("duplicate check id `{id}`"),
            );
            return false;
        }
        true
    }

    /// The check an entry names: a built-in one by its id, or a generic kind by `kind`
    /// (under an id no built-in check takes).
    fn check_of(
        &mut self,
        source: &Location,
        text: &str,
        entry: &CheckEntry,
    ) -> Option<&'static Check> {
        let id = entry.id.get_ref();
        let Some(kind) = &entry.kind else {
            return match checks::find(id) {
                Some(c) if !c.generic => Some(c),
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
                    None
                }
            };
        };
        match checks::find(kind.get_ref()) {
            Some(c) if c.generic => {
                if checks::find(id).is_some() {
                    self.problem(
                        source,
                        text,
                        entry.id.span(),
                        format!("check id `{id}` is taken by a built-in check: pick another"),
                    );
                    return None;
                }
                Some(c)
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
                None
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
                None
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based() {
        assert_eq!(position("a\nbc = 1\n", 2..3), (2, 1));
        assert_eq!(position("a\nbc = 1\n", 7..8), (2, 6));
    }
}
