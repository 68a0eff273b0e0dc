//! Why netcheck could not judge, on stderr: each cause with its fix, escaped (a cause
//! can quote the engine: a network's name, an answer's text).

use std::io::Write;

use netcheck::error::Error;
use netcheck::log;
use netcheck::report::Report;

fn esc(text: &str) -> String {
    netcheck::escape::terminal(text).into_owned()
}

/// `error: CAUSE` and `  fix: FIX` for an error that ended a run (or, with `about`, a
/// fleet's member); its chain of sources with -D.
pub fn print_error(e: &Error, about: Option<&str>) {
    let cause = match e {
        // The user's own file, its problems one per line.
        Error::BadSuite(_) => e.to_string(),
        _ => esc(&e.to_string()),
    };
    match about {
        Some(about) => eprintln!("error: {}: {cause}", esc(about)),
        None => eprintln!("error: {cause}"),
    }
    if let Some(hint) = e.hint() {
        eprintln!("  fix: {}", esc(&hint));
    }
    let mut source = std::error::Error::source(e);
    while let Some(c) = source {
        log::debug(format_args!("caused by: {c}"));
        source = c.source();
    }
}

/// The cause and fix of each distinct error in a report: a CI log shows why a run that
/// judged still exits 2 without anyone reading the whole report.
pub fn print_report_causes(report: &Report) {
    let mut err = anstream::stderr().lock();
    for cause in report.error_causes() {
        let n = cause.checks.len();
        let _ = writeln!(
            err,
            "error: {} ({}): {}",
            if n == 1 {
                "a check could not judge".to_string()
            } else {
                format!("{n} checks could not judge")
            },
            esc(&cause.checks.join(", ")),
            esc(&cause.message)
        );
        for (i, line) in cause.fix.lines().enumerate() {
            let lead = if i == 0 { "  fix:" } else { "      " };
            let _ = writeln!(err, "{lead} {}", esc(line));
        }
    }
}
