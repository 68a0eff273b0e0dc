//! The host agent's side, in its container on the engine's host: how it enters the
//! host, and the collection it does there (netcheck's side, which starts it and relays
//! the probe for it, is `collect::agent`). Like the probe, it is netcheck itself, run
//! inside a container.

use std::time::Duration;

use crate::collect::agent::{Relay, Reply, Spec};
use crate::collect::{Collection, Teardown};
use netcheck_model::error::Error;

/// In the agent container, before any thread exists (a multi-threaded process may not
/// change its mount namespace): enter the engine's host mount namespace, so that its
/// socket, its firewall tools and its files are the ones read.
///
/// The agent's parent is the container's shim, which the engine's containerd started
/// in the engine's own mount namespace: with `--pid host` it is visible, and it is the
/// right one even where the engine runs in a mount namespace of its own. PID 1 (the
/// host's init) is the fallback; some sandboxes' init refuses to be looked into.
pub fn enter_host() -> std::io::Result<()> {
    let parent = nix::unistd::getppid();
    let ns = std::fs::File::open(format!("/proc/{parent}/ns/mnt"))
        .or_else(|_| std::fs::File::open("/proc/1/ns/mnt"))?;
    nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNS)?;
    std::env::set_current_dir("/")
}

/// The agent's work, in its container on the engine's host: collect as a local run
/// does, until done, the deadline, or the end of stdin.
///
/// The reply is handed to `deliver` before the agent removes what it made: netcheck
/// ends the probe while that goes on, and waits for the agent's removal anyway.
pub async fn serve<T>(spec: Spec, deliver: impl FnOnce(Reply) -> T) -> T {
    let (relay, stdin_closed) = Relay::from_stdin();
    let opts = Collection {
        relay: Some(relay),
        ..spec.options()
    };
    let teardown = Teardown::default();
    let work = async {
        // Docker's default socket, or the one netcheck found the engine serving (Podman's).
        let flags = crate::engine::Flags {
            hosts: spec.socket.iter().map(|s| format!("unix://{s}")).collect(),
            ..Default::default()
        };
        let engine = crate::engine::resolve(&flags, &|_: &str| None::<String>)?;
        let (docker, local) = crate::engine::connect(&engine).await?;
        crate::collect::collect(&docker, local, &opts, &teardown).await
    };
    let result = tokio::select! {
        r = tokio::time::timeout(opts.deadline, work) => match r {
            Ok(r) => r,
            Err(_) => Err(Error::Timeout { secs: opts.deadline.as_secs(), phase: "collecting on the engine's host".into() }),
        },
        _ = stdin_closed => Err(Error::Interrupted("the end of the agent's stdin")),
    };
    let delivered = deliver(match result {
        Ok(snapshot) => Reply {
            snapshot: Some(snapshot),
            error: None,
        },
        Err(e) => Reply {
            snapshot: None,
            error: Some(e.to_string()),
        },
    });
    let _ = tokio::time::timeout(Duration::from_secs(30), teardown.run()).await;
    delivered
}
