//! Terminal conventions and the GitHub format: colour, quiet mode, --version,
//! completions, man pages, and `--format github` annotations. Offline: they judge
//! fixtures with `analyze`, which needs no daemon.

use crate::common;

use std::process::Command;

use common::*;

/// Live: a spinner while netcheck collects, on a terminal only. `script` gives the run a
/// pseudo-terminal, as a person's shell would.
#[test]
fn progress_shows_on_a_terminal_and_nowhere_else() {
    let Some(_live) = live() else { return };
    let command = format!("{} bridge.subnet", bin());
    let tty = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env_remove("NO_COLOR")
        .output()
        .expect("script (bsdutils) runs a command on a pseudo-terminal");
    let seen = String::from_utf8_lossy(&tty.stdout);
    assert_eq!(tty.status.code(), Some(0), "{seen}");
    assert!(
        seen.contains("collecting observations"),
        "no spinner:\n{seen}"
    );
    // Colour on a terminal too, unless NO_COLOR says otherwise.
    assert!(seen.contains("\x1b[32m"), "{seen}");
    let quiet = Command::new("script")
        .args(["-qec", &format!("{command} -q"), "/dev/null"])
        .output()
        .unwrap();
    let seen = String::from_utf8_lossy(&quiet.stdout);
    assert!(
        !seen.contains("collecting observations"),
        "-q spins:\n{seen}"
    );
    // Piped: no spinner on either stream.
    let piped = netcheck_with(&["bridge.subnet"], &[]);
    assert_eq!(piped.status.code(), Some(0));
    let all = format!(
        "{}{}",
        stdout(&piped),
        String::from_utf8_lossy(&piped.stderr)
    );
    assert!(!all.contains("collecting"), "{all}");
}
