//! The documentation holds together: `docs/checks.md` is the registry's own rendering
//! (`UPDATE_DOCS=1 cargo test --test offline docs::` rewrites it), every relative link in the
//! Markdown files resolves to a file (and a heading, where it names one), and the README
//! stays a front door that reaches every page under docs/ and shows the test command CI
//! runs.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use netcheck::checks::reference;

crate::trials!(
    the_checks_reference_is_generated_from_the_registry,
    relative_links_resolve,
    the_readme_is_a_front_door_to_every_page,
    ci_runs_the_readmes_test_command,
);

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn the_checks_reference_is_generated_from_the_registry() {
    let path = root().join(reference::PATH);
    let text = reference::markdown();
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == text,
        "{} is out of date: run UPDATE_DOCS=1 cargo test --test offline docs::",
        path.display()
    );
    // What the rendering is for: every check, built in or generic, has its section.
    for check in netcheck::checks::REGISTRY {
        assert!(
            text.contains(&format!("\n## {}\n", check.id)),
            "{} has no section",
            check.id
        );
    }
}

/// The Markdown files of the repository's documentation.
fn documents() -> Vec<PathBuf> {
    let mut files = vec![
        root().join("README.md"),
        root().join("ARCHITECTURE.md"),
        root().join("bench/README.md"),
        root().join("examples/README.md"),
    ];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

/// The lines of a Markdown text outside fenced code blocks, where links are links.
fn prose_lines(text: &str) -> Vec<&str> {
    let mut fenced = false;
    text.lines()
        .filter(|line| {
            if line.trim_start().starts_with("```") {
                fenced = !fenced;
                return false;
            }
            !fenced
        })
        .collect()
}

/// The targets of inline links `[text](target)` in a Markdown text, outside code.
fn links(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in prose_lines(text) {
        // Code spans hold `[x](y)`-shaped text that is no link.
        let outside: String = line
            .split('`')
            .enumerate()
            .filter(|(i, _)| i % 2 == 0)
            .map(|(_, part)| part)
            .collect::<Vec<_>>()
            .join(" ");
        let mut rest = outside.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            found.push(after[..end].to_string());
            rest = &after[end..];
        }
    }
    found
}

/// The anchors of a Markdown file's headings, as GitHub makes them.
fn anchors(text: &str) -> BTreeSet<String> {
    prose_lines(text)
        .into_iter()
        .filter_map(|l| l.strip_prefix('#'))
        .map(|h| reference::slug(h.trim_start_matches('#').replace('`', "").as_str()))
        .collect()
}

fn relative_links_resolve() {
    let mut broken = Vec::new();
    let mut checked = 0;
    for doc in documents() {
        let text = read(&doc);
        for target in links(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            checked += 1;
            let (file, anchor) = match target.split_once('#') {
                Some((file, anchor)) => (file, Some(anchor)),
                None => (target.as_str(), None),
            };
            let path = if file.is_empty() {
                doc.clone()
            } else {
                doc.parent().unwrap().join(file)
            };
            let shown = format!("{}: {target}", doc.strip_prefix(root()).unwrap().display());
            if !path.exists() {
                broken.push(format!("{shown} (no such file)"));
                continue;
            }
            if let Some(anchor) = anchor
                && !anchors(&read(&path)).contains(anchor)
            {
                broken.push(format!("{shown} (no such heading)"));
            }
        }
    }
    assert!(
        checked > 20,
        "only {checked} links found: is the parser blind?"
    );
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

fn the_readme_is_a_front_door_to_every_page() {
    let readme = read(&root().join("README.md"));
    let lines = readme.lines().count();
    assert!(
        lines < 300,
        "README.md has {lines} lines: move detail to docs/"
    );
    let linked = links(&readme);
    for doc in documents() {
        let name = doc
            .strip_prefix(root())
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        if name == "README.md" {
            continue;
        }
        assert!(
            linked
                .iter()
                .any(|l| l.split('#').next() == Some(name.as_str())),
            "README.md does not link {name}"
        );
    }
}

/// CI runs the README's test command: the set-up shows `scripts/test` as the command that
/// runs every test, and `.ci/run` ends by running it.
fn ci_runs_the_readmes_test_command() {
    let readme = read(&root().join("README.md"));
    let command = readme
        .lines()
        .find(|l| l.contains("# runs every test"))
        .and_then(|l| l.split('#').next())
        .map(str::trim)
        .expect("the README's set-up shows the command that runs every test");
    assert_eq!(command, "scripts/test");
    let ci = read(&root().join(".ci/run"));
    let last = ci
        .lines()
        .rfind(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .unwrap();
    assert_eq!(
        last.trim(),
        command,
        ".ci/run ends with the README's test command"
    );
}
