//! Collection: gathers the observations a plan needs, concurrently, into a [`Snapshot`].
//!
//! The order matters in one place only: the probe container must be running while the
//! host and the containers are read, so that both ends of its veth pair are seen.

pub mod agent;
mod confirm;
mod containers;
pub mod docker;
mod early;
pub mod egress;
pub mod engine_config;
pub mod firewall;
mod host_obs;
mod host_requests;
pub mod image;
mod interiors;
mod output;
pub mod outside;
pub mod peers;
mod phases;
mod podman;
mod probe_container;
mod probe_setup;
mod probing;
mod publish;
pub mod routing;
mod stand_ins;
mod sysctl;
mod tc;
mod teardown;
pub mod trace;
mod user_ports;

use std::time::Duration;

use netcheck_model::error::Error;
use netcheck_model::protocol::{Needs, ProbeArgs};
use netcheck_model::snapshot::NetworkObs;
pub use phases::collect;
pub use teardown::{Teardown, remove_probe};

/// The label every object netcheck creates carries, with the run id as value.
pub const LABEL: &str = "netcheck.run";
/// The label holding the pid of the netcheck process that owns a probe container, so
/// that `netcheck cleanup` leaves a live run's probe alone.
pub const PID_LABEL: &str = "netcheck.pid";
/// The label holding the owner as `PID:START` ([`crate::owner::Owner`]): the pid alone
/// may be reused by another process after the owner dies.
pub const OWNER_LABEL: &str = "netcheck.owner";
/// The label holding the pid namespace that pid is in (see [`own_pid_namespace`]).
pub const PIDNS_LABEL: &str = "netcheck.pidns";
pub use netcheck_model::protocol::PROBE_PREFIX;

pub struct Collection {
    /// The networks asked for (and those the suite's checks run from).
    pub networks: Vec<String>,
    /// No network was asked for: check `bridge` and every bridge network with
    /// containers, as found on the engine.
    pub all_networks: bool,
    pub needs: Needs,
    /// Deadline of each request the probe makes.
    pub probe_timeout: Duration,
    /// The most checked networks the probe joins every one of; past that, containers
    /// already on the others stand in for it (see `stand_ins`).
    pub probe_joins: usize,
    /// The networks the suite's own checks run from: the probe joins them, however
    /// many networks are checked.
    pub must_join: Vec<String>,
    /// Five hex digits naming this run's objects, so that concurrent runs stay apart.
    pub run_id: String,
    /// What the probe must do for the suite's own checks (and a test's extra settings),
    /// beside the catalogue's requests.
    pub suite_probe_args: ProbeArgs,
    /// Whether the engine's host may be observed through the host agent.
    pub agent: agent::Mode,
    /// The run's bound: an agent ends by itself after it.
    pub deadline: Duration,
    /// The engine's unix socket, when it is reached through one: the process serving it
    /// tells which network namespace the engine is in.
    pub socket: Option<std::path::PathBuf>,
    /// Which engine this is, for the snapshot (the agent field is set here).
    pub engine: Option<netcheck_model::snapshot::EngineRef>,
    /// In the agent: netcheck starts the probe while the agent itself starts, and
    /// carries its arguments and its report.
    pub relay: Option<agent::Relay>,
}

/// This process's pid namespace (`pid:[4026531836]`): a probe's owner pid means
/// something only to a netcheck in the same one.
pub fn own_pid_namespace() -> String {
    std::fs::read_link("/proc/self/ns/pid")
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// The networks a run checks: those asked for; or, when none was, `bridge` and every
/// bridge network that has containers (other netcheck runs' probes do not count), by name.
/// The probe joins them all, `bridge` first, so that its default route is the default
/// bridge's, as a plain `docker run` would have it.
fn checked_networks(opts: &Collection, all: &[NetworkObs]) -> Result<Vec<String>, Error> {
    for name in &opts.networks {
        if !all.iter().any(|n| &n.name == name) {
            return Err(Error::UnknownNetwork(name.clone()));
        }
    }
    if !opts.all_networks {
        return Ok(opts.networks.clone());
    }
    let mut names: Vec<String> = all
        .iter()
        .filter(|n| n.driver == "bridge")
        .filter(|n| {
            n.name == "bridge"
                || n.endpoints
                    .iter()
                    .any(|e| !e.container_name.starts_with(PROBE_PREFIX))
        })
        .map(|n| n.name.clone())
        .collect();
    names.sort_by_key(|n| (n != "bridge", n.clone()));
    for n in &opts.networks {
        if !names.contains(n) {
            names.push(n.clone());
        }
    }
    if names.is_empty() {
        return Err(Error::UnknownNetwork("bridge".into()));
    }
    Ok(names)
}

/// The networks of `all` with these names, in their order.
fn named<'a>(names: &[String], all: &'a [NetworkObs]) -> Vec<&'a NetworkObs> {
    names
        .iter()
        .filter_map(|name| all.iter().find(|n| &n.name == name))
        .collect()
}

/// The port the probe serves netcheck's listener on, inside its container: published
/// for port.publish, and reached by other containers for bridge.icc.
pub const PROBE_PORT: u16 = 8080;
