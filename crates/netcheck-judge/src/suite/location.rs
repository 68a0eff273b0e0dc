//! Where a suite comes from: shipped (embedded, by name), a file, or text; how it is
//! read, and what an `include` in it names.

use std::path::{Path, PathBuf};

use super::SHIPPED;

/// Where a suite comes from: shipped (by name) or a file.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Location {
    Shipped(&'static str),
    File(PathBuf),
    /// Text given directly (fuzzing, tests): it may include shipped suites only.
    Text(String),
}

impl Location {
    pub(super) fn label(&self) -> String {
        match self {
            Location::Shipped(name) => format!("checks/{name}.toml"),
            Location::File(p) => p.display().to_string(),
            Location::Text(_) => "<text>".into(),
        }
    }

    pub(super) fn read(&self) -> Result<String, String> {
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
    pub(super) fn resolve(&self, include: &str) -> Option<Location> {
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

/// The shipped suites' names, for the messages that list them.
pub(super) fn shipped_names() -> String {
    SHIPPED
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}
