//! What the agent is asked: the run's [`Collection`], as the agent's command line
//! carries it, and back.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::super::Collection;
use super::Mode;
use netcheck_model::protocol::Needs;

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
    /// The engine's socket on its host, where it is not Docker's default: Podman's, as
    /// its own facts give it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socket: Option<String>,
}

impl Spec {
    /// `checked`: the networks netcheck named, since the probe it starts joins them.
    pub(super) fn new(opts: &Collection, checked: &[String], socket: Option<String>) -> Spec {
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
            socket,
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
            // netcheck starts the probe, on every checked network, before the agent
            // has looked at any: the agent has no stand-ins to choose.
            probe_joins: usize::MAX,
            must_join: vec![],
            run_id: self.run_id.clone(),
            suite_probe_args: self.suite_probe_args.clone(),
            agent: Mode::Off,
            deadline: Duration::from_secs(self.deadline_secs),
            socket: Some(
                (self.socket.as_deref())
                    .unwrap_or(crate::engine::DEFAULT_SOCKET)
                    .into(),
            ),
            engine: None,
            relay: None,
        }
    }
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
            probe_joins: 4,
            must_join: vec![],
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
            &serde_json::to_string(&Spec::new(&opts, &opts.networks, None)).unwrap(),
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
