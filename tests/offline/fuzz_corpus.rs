//! Replays the fuzz corpus (fuzz/corpus/, grown by scripts/fuzz) as a regression test:
//! every input the fuzzer kept parses, judges and renders without a panic, on the
//! stable toolchain and without libFuzzer.

use std::path::Path;

use netcheck::{checks, report, snapshot::Snapshot, suite::Suite};

crate::trials!(snapshot_corpus_never_panics, suite_corpus_never_panics);

fn inputs(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let inputs: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    assert!(inputs.len() > 10, "the {target} corpus is nearly empty");
    inputs
}

fn snapshot_corpus_never_panics() {
    let instances = checks::builtin_instances();
    let mut parsed = 0;
    for data in inputs("snapshot") {
        let Ok(text) = std::str::from_utf8(&data) else {
            continue;
        };
        let Ok(snapshot) = Snapshot::from_json(text) else {
            continue;
        };
        parsed += 1;
        let r = netcheck::judge(&snapshot, &instances, std::time::Instant::now());
        let _ = (
            report::junit::render(&r),
            report::markdown::render(&r),
            report::html::render(&r, Some(&snapshot)),
        );
        let _ = netcheck::redact::redact(&snapshot);
    }
    assert!(parsed > 0, "no corpus input parses as a snapshot");
}

fn suite_corpus_never_panics() {
    for data in inputs("suite") {
        if let Ok(text) = std::str::from_utf8(&data)
            && let Err(problems) = Suite::from_text(text)
        {
            problems.iter().for_each(|p| drop(p.to_string()));
        }
    }
}
