//! The offline tests: everything that needs no Docker daemon, no root and no host lock
//! (the CLI's parsing and errors, fixtures, schemas, reports, suites, the terminal, the
//! fuzz corpus, engines faked on a socket of the test's own). One binary, so the crate
//! is linked once for all of them, and every test runs in parallel with every other.
//!
//! The binary is `harness = false` (libtest-mimic) because the fixture trials are made
//! at run time, one per file in fixtures/. Every other test is a plain `fn()` that
//! panics on failure, registered by its module's `crate::trials!(…)` line; libtest's
//! `#[test]` does nothing here, so `every_test_is_registered` fails on one, and a test
//! fn left out of `trials!` is dead code, which clippy (`-D warnings`) refuses.
//!
//! Filters, `--list`, `--exact`, `--test-threads` and `--ignored` work as with libtest:
//! `cargo test --test offline cli::`, `cargo test --test offline fixtures::healthy-`.
//!
//! A new module: a file `tests/offline/<name>.rs` with its tests as plain `fn`s (no
//! `#[test]`), `use crate::common;` for the shared helpers, and a line
//! `crate::trials!(test_a, test_b);` naming them; then `mod <name>;` below and
//! `<name>::trials,` in `main`'s list.

#[path = "../common/mod.rs"]
mod common;

mod ci_recipes;
mod cli;
mod docs;
mod engines;
mod finding_codes;
mod fixtures;
mod fleet;
mod fuzz_corpus;
mod html_report;
mod plugin;
mod podman;
mod reports;
mod robustness;
mod schemas;
mod serve;
mod structure;
mod suites;
mod terminal;

use libtest_mimic::{Arguments, Trial};

/// Defines the module's `trials()`: one trial per test fn named, called
/// `<module>::<fn>` as libtest would call it.
#[macro_export]
macro_rules! trials {
    ($($test:ident),+ $(,)?) => {
        pub fn trials() -> Vec<libtest_mimic::Trial> {
            vec![$($crate::trial(module_path!(), stringify!($test), $test)),+]
        }
    };
}

/// A test fn as a trial; a panic fails it (libtest-mimic catches it).
pub fn trial(module: &str, name: &str, test: fn()) -> Trial {
    let module = module.strip_prefix("offline::").unwrap_or(module);
    Trial::test(format!("{module}::{name}"), move || {
        test();
        Ok(())
    })
}

fn main() {
    let args = Arguments::from_args();
    let modules: &[fn() -> Vec<Trial>] = &[
        ci_recipes::trials,
        cli::trials,
        docs::trials,
        engines::trials,
        finding_codes::trials,
        fixtures::trials,
        fleet::trials,
        fuzz_corpus::trials,
        html_report::trials,
        plugin::trials,
        podman::trials,
        reports::trials,
        robustness::trials,
        schemas::trials,
        serve::trials,
        structure::trials,
        suites::trials,
        terminal::trials,
    ];
    let mut trials: Vec<Trial> = modules.iter().flat_map(|m| m()).collect();
    trials.push(trial(
        module_path!(),
        "every_test_is_registered",
        every_test_is_registered,
    ));
    libtest_mimic::run(&args, trials).exit();
}

/// No `#[test]` attribute in this binary's sources: under `harness = false` it would
/// compile the test away, silently. (The pattern is split so this file does not match.)
fn every_test_is_registered() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/offline");
    let attributes = [concat!("#[", "test]"), concat!("#[", "tokio::test")];
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            for (n, line) in text.lines().enumerate() {
                if attributes.iter().any(|a| line.trim_start().starts_with(a)) {
                    found.push(format!("{}:{}", path.display(), n + 1));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "#[test] does nothing in tests/offline (harness = false): list the fn in its \
         module's crate::trials!(…) instead:\n{}",
        found.join("\n")
    );
}
