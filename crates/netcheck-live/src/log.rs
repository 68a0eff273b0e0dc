//! What netcheck says on stderr besides errors: `-l/--log-level` and `-D/--debug`, the
//! docker CLI's global flags, mean here what they mean to docker.

use std::sync::atomic::{AtomicU8, Ordering};

/// Levels in docker's order; a message shows when its level is at least the chosen one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
    Fatal,
}

static LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);

/// Sets the level from `-D` and `-l LEVEL` (docker's names; `-D` wins, as in docker).
pub fn init(debug: bool, level: &str) {
    let level = match (debug, level) {
        (true, _) | (_, "debug") => Level::Debug,
        (_, "warn") => Level::Warn,
        (_, "error") => Level::Error,
        (_, "fatal") => Level::Fatal,
        _ => Level::Info,
    };
    LEVEL.store(level as u8, Ordering::Relaxed);
}

pub fn enabled(level: Level) -> bool {
    level as u8 >= LEVEL.load(Ordering::Relaxed)
}

/// `debug: …` on stderr, under -D or --log-level debug.
pub fn debug(message: std::fmt::Arguments) {
    if enabled(Level::Debug) {
        eprintln!("debug: {message}");
    }
}

/// With -D, when each phase of a piece of work ended, counted from its start: where a
/// slow run's time went.
pub struct Laps {
    what: &'static str,
    since: std::time::Instant,
}

impl Laps {
    pub fn new(what: &'static str, since: std::time::Instant) -> Laps {
        Laps { what, since }
    }

    pub fn lap(&self, phase: &str) {
        let ms = self.since.elapsed().as_millis();
        debug(format_args!("{}: {phase} by {ms} ms", self.what));
    }
}

/// `note: …` on stderr, unless --log-level is warn or above.
pub fn info(message: std::fmt::Arguments) {
    if enabled(Level::Info) {
        eprintln!("note: {message}");
    }
}

/// `warning: …` on stderr, unless --log-level is error or fatal.
pub fn warn(message: std::fmt::Arguments) {
    if enabled(Level::Warn) {
        eprintln!("warning: {message}");
    }
}
