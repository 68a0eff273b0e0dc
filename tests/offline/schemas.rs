//! The JSON Schemas in reports/ are generated from the types that write the files, so
//! they cannot drift: this test fails when they differ. `UPDATE_SCHEMAS=1 cargo test
//! --test offline schemas::` rewrites them.

use std::path::Path;

crate::trials!(published_schemas_match_the_types);

fn published_schemas_match_the_types() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("reports");
    for (name, schema) in netcheck::schemas::schemas() {
        let path = dir.join(name);
        let text = serde_json::to_string_pretty(&schema).unwrap() + "\n";
        if std::env::var_os("UPDATE_SCHEMAS").is_some() {
            std::fs::write(&path, &text).unwrap();
            continue;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == text,
            "{} is out of date: run UPDATE_SCHEMAS=1 cargo test --test offline schemas::",
            path.display()
        );
    }
}
