//! The subcommands' bodies, one concept a module: main.rs parses the command line and
//! dispatches here, and these call into the library (plan, run, report, …).

pub mod agent;
pub mod causes;
pub mod check;
pub mod complete;
pub mod fleet;
pub mod leftovers;
pub mod live;
pub mod package;
pub mod probe;
pub mod serve;
pub mod suites;

use std::io::Write;

use netcheck::error::Error;

/// Prints to stdout; a closed pipe (`netcheck --list | head`) ends quietly.
pub fn print(text: &str) -> Result<(), Error> {
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .map_err(|source| Error::Write {
            path: "<stdout>".into(),
            source,
        })
}

/// The runtime the asynchronous subcommands run on.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime starts")
}
