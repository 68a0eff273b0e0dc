//! The structure issue #24 set, kept: no source file over 500 lines, no function over
//! 120, and no two modules of a crate that import each other (`scripts/structure`,
//! which says how it reads the tree; run it alone to see every problem).

use std::path::Path;
use std::process::Command;

crate::trials!(no_long_units_and_no_module_circles);

fn no_long_units_and_no_module_circles() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("python3")
        .arg(root.join("scripts/structure"))
        .arg(root)
        .output()
        .expect("python3 runs scripts/structure");
    assert!(
        out.status.success(),
        "scripts/structure found:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
