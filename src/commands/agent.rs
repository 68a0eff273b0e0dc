//! The host agent, in its container on the engine's host (see collect::agent): reads
//! its spec, collects there, and prints its reply as one JSON line.

use std::process::ExitCode;

use netcheck::collect::agent;
use netcheck::error::exit;

use super::print;

/// The agent's whole life: its spec in, its reply out; exit 2 when it could not collect.
pub fn run(spec: &str) -> ExitCode {
    let deliver = |reply: agent::Reply| {
        let failed = reply.error.is_some();
        let printed = print(&agent::FromAgent::Reply(Box::new(reply)).line());
        printed.is_ok() && !failed
    };
    let failed = |error: String| {
        deliver(agent::Reply {
            snapshot: None,
            error: Some(error),
        })
    };
    let mut runtime = None;
    let succeeded = match serde_json::from_str::<agent::Spec>(spec) {
        Err(e) => failed(format!("unreadable agent spec: {e}")),
        // Before the runtime starts its threads: a threaded process cannot change its
        // mount namespace.
        Ok(spec) => match netcheck::agent::enter_host() {
            Err(e) => failed(format!(
                "entering the host's mount namespace (does the agent have --pid host and SYS_ADMIN?): {e}"
            )),
            Ok(()) => runtime
                .insert(super::runtime())
                .block_on(netcheck::agent::serve(spec, deliver)),
        },
    };
    // The watch on stdin is a blocking read that only the end of stdin ends: do not
    // wait for it.
    if let Some(rt) = runtime {
        rt.shutdown_background();
    }
    if succeeded {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(exit::ERROR)
    }
}
