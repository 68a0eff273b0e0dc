//! The agent's side, in its container on the engine's host: what it is asked, how it
//! enters the host, and the collection it does there.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::super::{Collection, Teardown};
use super::{Mode, Relay};
use netcheck_model::error::Error;
use netcheck_model::protocol::Needs;
use netcheck_model::snapshot::Snapshot;

/// What the agent is asked to collect: [`Collection`], as its command line carries them.
#[derive(Debug, Serialize, Deserialize)]
pub struct Spec {
    /// The networks to check, named by netcheck.
    pub networks: Vec<String>,
    pub host: bool,
    pub probe: bool,
    pub outside: bool,
    pub publish: bool,
    pub peers: bool,
    pub probe_timeout_ms: u64,
    pub run_id: String,
    pub suite_probe_args: netcheck_model::protocol::ProbeArgs,
    /// The agent ends by itself after this long, whatever happens.
    pub deadline_secs: u64,
}

impl Spec {
    /// `checked`: the networks netcheck named, since the probe it starts joins them.
    pub(super) fn new(opts: &Collection, checked: &[String]) -> Spec {
        Spec {
            networks: checked.to_vec(),
            host: opts.needs.host,
            probe: opts.needs.probe,
            outside: opts.needs.outside,
            publish: opts.needs.publish,
            peers: opts.needs.peers,
            probe_timeout_ms: opts.probe_timeout.as_millis() as u64,
            run_id: opts.run_id.clone(),
            suite_probe_args: opts.suite_probe_args.clone(),
            deadline_secs: opts.deadline.as_secs().max(1),
        }
    }

    /// The options of the agent's own collection: on its host, and no agent of its own.
    pub fn options(&self) -> Collection {
        Collection {
            networks: self.networks.clone(),
            all_networks: false,
            needs: Needs {
                host: self.host,
                probe: self.probe,
                outside: self.outside,
                publish: self.publish,
                peers: self.peers,
            },
            probe_timeout: Duration::from_millis(self.probe_timeout_ms),
            run_id: self.run_id.clone(),
            suite_probe_args: self.suite_probe_args.clone(),
            agent: Mode::Off,
            deadline: Duration::from_secs(self.deadline_secs),
            socket: Some(crate::engine::DEFAULT_SOCKET.into()),
            engine: None,
            relay: None,
        }
    }
}

/// The agent's one line of output.
#[derive(Debug, Serialize, Deserialize)]
pub struct Reply {
    pub snapshot: Option<Snapshot>,
    pub error: Option<String>,
}

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
        let engine =
            crate::engine::resolve(&crate::engine::Flags::default(), &|_: &str| None::<String>)?;
        let (docker, local) = super::super::docker::connect(&engine).await?;
        super::super::collect(&docker, local, &opts, &teardown).await
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_agent_collects_what_the_run_asked_and_starts_no_agent_of_its_own() {
        let opts = Collection {
            networks: vec!["app".into()],
            all_networks: false,
            needs: Needs {
                host: true,
                probe: true,
                outside: false,
                publish: true,
                peers: false,
            },
            probe_timeout: Duration::from_millis(1500),
            run_id: "abcde".into(),
            suite_probe_args: netcheck_model::protocol::ProbeArgs {
                tcps: vec![netcheck_model::protocol::Ask::new(
                    netcheck_model::protocol::Purpose::instance("db"),
                    "db:5432",
                )],
                stall_ms: 3000,
                ..Default::default()
            },
            agent: Mode::On,
            deadline: Duration::from_secs(60),
            socket: None,
            engine: None,
            relay: None,
        };
        let spec: Spec = serde_json::from_str(
            &serde_json::to_string(&Spec::new(&opts, &opts.networks)).unwrap(),
        )
        .unwrap();
        let back = spec.options();
        assert_eq!(back.networks, opts.networks);
        assert_eq!(back.needs, opts.needs);
        assert_eq!(back.probe_timeout, opts.probe_timeout);
        assert_eq!(back.run_id, opts.run_id);
        assert_eq!(back.suite_probe_args, opts.suite_probe_args);
        assert_eq!(back.deadline, opts.deadline);
        assert_eq!(back.agent, Mode::Off);
    }
}
