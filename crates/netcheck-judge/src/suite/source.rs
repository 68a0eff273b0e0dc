//! Where a suite comes from: shipped (embedded, by name), a file, or text; how it is
//! read, and what an `include` in it names.

use std::path::{Path, PathBuf};

use super::SHIPPED;

/// Where a suite comes from: shipped (by name) or a file.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Source {
    Shipped(&'static str),
    File(PathBuf),
    /// Text given directly (fuzzing, tests): it may include shipped suites only.
    Text(String),
}

impl Source {
    pub(super) fn label(&self) -> String {
        match self {
            Source::Shipped(name) => format!("checks/{name}.toml"),
            Source::File(p) => p.display().to_string(),
            Source::Text(_) => "<text>".into(),
        }
    }

    pub(super) fn read(&self) -> Result<String, String> {
        match self {
            Source::Shipped(name) => Ok(SHIPPED
                .iter()
                .find(|(n, _)| n == name)
                .expect("shipped")
                .1
                .to_string()),
            Source::File(p) => {
                netcheck_model::input::read(p, netcheck_model::input::Kind::Suite, false)
                    .map_err(|e| format!("cannot read {}: {e}", p.display()))
            }
            Source::Text(t) => Ok(t.clone()),
        }
    }

    /// What `include = ["X"]` in this suite names.
    pub(super) fn resolve(&self, include: &str) -> Option<Source> {
        if let Some((name, _)) = SHIPPED.iter().find(|(n, _)| *n == include) {
            return Some(Source::Shipped(name));
        }
        let base = match self {
            Source::File(p) => p.parent().unwrap_or(Path::new(".")).to_path_buf(),
            Source::Shipped(_) | Source::Text(_) => return None,
        };
        Some(Source::File(base.join(include)))
    }
}

/// The shipped suites' names, for the messages that list them.
pub(super) fn shipped_names() -> String {
    SHIPPED
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}
