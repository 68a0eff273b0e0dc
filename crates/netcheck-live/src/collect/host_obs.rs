//! The host's observation, assembled once the probe has been read: its namespace, the
//! firewall and route lookups read while the probe lingered, traffic control read again,
//! its sysctls and files, and the engine's processes.

use rtnetlink::Handle;
use tokio::task::JoinHandle;

use super::engine_config::{self, EngineProcesses};
use super::{sysctl, tc};
use crate::net::netlink::NetlinkError;
use netcheck_model::snapshot::{
    FirewallObs, HostObs, NetnsObs, NetworkObs, Observed, RoutingObs, TcItem,
};

/// What the host's observation is made of.
pub(super) struct HostParts<'a> {
    /// The host's namespace, or why it could not be read.
    pub netns: Option<Result<NetnsObs, NetlinkError>>,
    /// Why the host is not observed (not the engine's), where it is not.
    pub skip: Option<String>,
    /// Whether a selected check needs the host.
    pub needed: bool,
    pub firewall: Observed<FirewallObs>,
    pub routing: Option<Observed<RoutingObs>>,
    pub handle: Option<&'a Handle>,
    /// What the first look read before the probe started, to be compared with now.
    pub before: Before,
    /// The pass over /proc for the engine's processes, started beside the rest.
    pub processes: Option<JoinHandle<EngineProcesses>>,
}

/// The host as the first look read it, before the probe started.
#[derive(Default)]
pub(super) struct Before {
    /// Traffic control, whose drop counters are compared with now.
    pub tc: Option<Vec<TcItem>>,
    /// The global sysctls, on Podman only (netavark resets forwarding for the probe).
    pub sysctl: Option<std::collections::BTreeMap<String, String>>,
}

impl HostParts<'_> {
    /// The host's observation, or why there is none.
    pub async fn observe(self, networks: &[NetworkObs]) -> Observed<HostObs> {
        let host_ns = self.netns.as_ref().and_then(|r| r.as_ref().ok());
        let traffic_control = tc::after(self.handle, host_ns, self.before.tc).await;
        let processes = match self.processes {
            Some(scan) => scan.await.ok(),
            None => None,
        };
        match (self.netns, self.skip) {
            (_, Some(reason)) => Observed::Skipped { reason },
            (None, None) if !self.needed => Observed::Skipped {
                reason: "no selected check needs it".into(),
            },
            (None, None) => Observed::Error {
                error: "netlink socket could not be opened".into(),
            },
            (Some(Err(e)), None) => Observed::Error {
                error: e.to_string(),
            },
            (Some(Ok(netns)), None) => {
                let processes = processes.unwrap_or_else(engine_config::engine_processes);
                // Forwarding of every Docker bridge and of the uplinks (the default routes').
                let mut ifaces: Vec<&str> = (networks.iter())
                    .filter(|n| n.driver == "bridge")
                    .map(|n| n.bridge.as_str())
                    .collect();
                let uplinks = netns.uplinks();
                ifaces.extend(uplinks.iter().map(|l| l.name.as_str()));
                Observed::Ok {
                    value: HostObs {
                        sysctl: sysctl::sysctls(&ifaces),
                        firewall: self.firewall,
                        resolv_conf: netcheck_model::input::read_config("/etc/resolv.conf"),
                        resolved_conf: netcheck_model::input::read_config(
                            "/run/systemd/resolve/resolv.conf",
                        ),
                        proxies: processes.proxies,
                        routing: self.routing,
                        engine_config: engine_config::engine_config(&processes.dockerd),
                        conntrack: Some(sysctl::conntrack()),
                        traffic_control,
                        sysctl_before_probe: self.before.sysctl,
                        netns,
                    },
                }
            }
        }
    }
}
