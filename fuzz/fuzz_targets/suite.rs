//! Any bytes as a suite file: validation never panics, whatever it finds.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(problems) = netcheck::suite::Suite::from_text(text) {
        for p in problems {
            let _ = p.to_string();
        }
    }
});
