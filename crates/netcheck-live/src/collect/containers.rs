//! The running containers on the checked networks: listed by the engine in one request,
//! each with its main process's pid (to read its namespace) from the kernel's cgroup
//! tree. An inspect each is the engine's costliest work at a thousand containers, and
//! the list carries all an inspect gave but the pid; a container whose cgroup is not
//! where the engine's drivers put it (a custom `--cgroup-parent`, another layout) is
//! inspected, as is one that came after the list.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use bollard::Docker;
use bollard::models::{
    ContainerInspectResponse, ContainerSummary, EndpointSettings, PortSummaryTypeEnum,
};
use bollard::query_parameters::ListContainersOptionsBuilder;
use futures_util::{StreamExt, TryStreamExt};

use super::docker::{api_err, unless_gone};
use netcheck_model::error::Error;
use netcheck_model::input;
use netcheck_model::snapshot::{ContainerObs, NetworkObs, Observed, UserPort};

/// A container as the engine listed or inspected it: what its [`ContainerObs`] and its
/// endpoints' gateways are made of.
#[derive(Clone)]
pub struct Seen {
    id: String,
    name: String,
    pid: Option<u32>,
    networks: HashMap<String, EndpointSettings>,
    published: Vec<UserPort>,
}

/// The ids of the containers on the checked networks, netcheck's probes left out: what
/// can be read before the probe starts.
pub fn ids(networks: &[NetworkObs], checked: &[String]) -> Vec<String> {
    let mut ids: Vec<String> = (networks.iter())
        .filter(|n| checked.contains(&n.name))
        .flat_map(|n| n.endpoints.iter())
        .filter(|e| !e.container_name.starts_with(super::PROBE_PREFIX))
        .map(|e| e.container_id.clone())
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// The containers on the checked networks ([`ids`]), in one list request; on a local engine
/// (the only one whose pids mean something here) each pid from the cgroup tree, and an
/// inspect for those it does not find there or the list missed.
pub async fn seen(
    docker: &Docker,
    networks: &[NetworkObs],
    checked: &[String],
    local: bool,
) -> Result<Vec<Seen>, Error> {
    let ids = ids(networks, checked);
    if ids.is_empty() {
        return Ok(vec![]);
    }
    let wanted: HashSet<&str> = ids.iter().map(String::as_str).collect();
    let filters = HashMap::from([("network".to_string(), checked.to_vec())]);
    let listed = docker
        .list_containers(Some(
            ListContainersOptionsBuilder::new()
                .filters(&filters)
                .build(),
        ))
        .await
        .map_err(api_err("container list"))?;
    let cgroups = Path::new("/sys/fs/cgroup");
    let proc = Path::new("/proc");
    let mut seen: Vec<Seen> = (listed.into_iter())
        .filter(|c| c.id.as_deref().is_some_and(|id| wanted.contains(id)))
        .map(|c| Seen::listed(c, |id| pid_in_cgroup(cgroups, proc, id).filter(|_| local)))
        .collect();
    let found: HashSet<&str> = (seen.iter())
        .filter(|s| s.pid.is_some() || !local)
        .map(|s| s.id.as_str())
        .collect();
    let rest: Vec<String> = (ids.iter())
        .filter(|id| !found.contains(id.as_str()))
        .cloned()
        .collect();
    let inspected = inspect(docker, &rest).await?;
    // Those without a pid here were inspected for one.
    seen.retain(|s| s.pid.is_some() || !local);
    seen.extend(inspected.into_iter().map(Seen::inspected));
    seen.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(seen)
}

/// Inspects the containers `ids`, in their order; one removed since a network listed it
/// is left out (containers come and go on a live host: another run's probe, for one).
pub async fn inspect(
    docker: &Docker,
    ids: &[String],
) -> Result<Vec<ContainerInspectResponse>, Error> {
    // As many at a time as the open-file limit leaves room for: each request in flight
    // holds a connection to the engine.
    let inspected = futures_util::stream::iter(ids.iter().map(|id| async move {
        unless_gone(
            docker.inspect_container(id, None).await,
            "container inspect",
        )
    }))
    .buffered(crate::net::limits::connections_at_once())
    .try_collect::<Vec<_>>()
    .await?;
    Ok(inspected.into_iter().flatten().collect())
}

/// The running containers attached to the checked networks, with their main process's
/// pid and nothing else: no environment, no labels' values. Fills in each endpoint's
/// gateway, which only the container's side states.
///
/// `early` holds those seen before the probe started (beside its start: at a thousand
/// containers the engine's answers are most of its work); those still on a network
/// keep that answer, and the rest (the probe, containers started since) are inspected.
pub async fn containers(
    docker: &Docker,
    networks: &mut [NetworkObs],
    checked: &[String],
    probe_name: Option<&str>,
    early: Vec<Seen>,
) -> Result<Vec<ContainerObs>, Error> {
    let mut ids: Vec<String> = networks
        .iter()
        .filter(|n| checked.contains(&n.name))
        .flat_map(|n| n.endpoints.iter().map(|e| e.container_id.clone()))
        .collect();
    ids.sort();
    ids.dedup();
    let mut seen: Vec<Seen> = (early.into_iter())
        .filter(|c| ids.binary_search(&c.id).is_ok())
        .collect();
    let known: HashSet<&String> = seen.iter().map(|c| &c.id).collect();
    let late: Vec<String> = (ids.iter())
        .filter(|id| !known.contains(id))
        .cloned()
        .collect();
    seen.extend(
        inspect(docker, &late)
            .await?
            .into_iter()
            .map(Seen::inspected),
    );
    // In the ids' order, as one batch of inspects would give them.
    seen.sort_by(|a, b| a.id.cmp(&b.id));
    for c in &seen {
        for (net_name, settings) in &c.networks {
            let endpoints = (networks.iter_mut())
                .filter(|n| &n.name == net_name)
                .flat_map(|n| n.endpoints.iter_mut());
            for e in endpoints.filter(|e| e.container_id == c.id) {
                e.gateway = settings.gateway.as_deref().and_then(|g| g.parse().ok());
                e.gateway_v6 = (settings.ipv6_gateway.as_deref()).and_then(|g| g.parse().ok());
                e.gw_priority = settings.gw_priority;
            }
        }
    }
    Ok(seen
        .into_iter()
        .map(|c| {
            let probe = Some(c.name.as_str()) == probe_name;
            c.observed(probe)
        })
        .collect())
}

impl Seen {
    /// The container's observation, its namespace not read yet.
    pub fn observed(self, probe: bool) -> ContainerObs {
        ContainerObs {
            id: self.id,
            pid: self.pid,
            probe,
            name: self.name,
            interior: Observed::Skipped {
                reason: "not observed yet".into(),
            },
            resolv_conf: None,
            published: if probe { vec![] } else { self.published },
        }
    }

    fn listed(c: ContainerSummary, pid: impl Fn(&str) -> Option<u32>) -> Seen {
        let id = c.id.unwrap_or_default();
        let name = (c.names.unwrap_or_default().into_iter().next()).unwrap_or_default();
        let ports = (c.ports.unwrap_or_default().into_iter())
            .filter(|p| p.typ == Some(PortSummaryTypeEnum::TCP))
            .filter_map(|p| {
                let host_ip = p.ip.as_deref().unwrap_or("0.0.0.0").parse().ok()?;
                Some((host_ip, p.public_port?, p.private_port))
            });
        Seen {
            pid: pid(&id),
            id,
            name: name.trim_start_matches('/').to_string(),
            networks: (c.network_settings.and_then(|s| s.networks)).unwrap_or_default(),
            published: user_ports(ports),
        }
    }

    fn inspected(c: ContainerInspectResponse) -> Seen {
        let settings = c.network_settings.unwrap_or_default();
        let ports = (settings.ports.into_iter().flatten())
            .filter_map(|(spec, bindings)| {
                let port = spec.strip_suffix("/tcp")?.parse::<u16>().ok()?;
                Some((port, bindings?))
            })
            .flat_map(|(container_port, bindings)| {
                bindings.into_iter().filter_map(move |b| {
                    let host_ip = b.host_ip.as_deref().unwrap_or("0.0.0.0").parse().ok()?;
                    Some((
                        host_ip,
                        b.host_port.as_deref()?.parse().ok()?,
                        container_port,
                    ))
                })
            });
        Seen {
            id: c.id.unwrap_or_default(),
            name: (c.name.unwrap_or_default().trim_start_matches('/')).to_string(),
            pid: (c.state.and_then(|s| s.pid))
                .filter(|p| *p > 0)
                .map(|p| p as u32),
            networks: settings.networks.unwrap_or_default(),
            published: user_ports(ports),
        }
    }
}

/// A container's published TCP ports as (host address, host port, container port), in
/// a stable order.
fn user_ports(ports: impl Iterator<Item = (std::net::IpAddr, u16, u16)>) -> Vec<UserPort> {
    let mut out: Vec<UserPort> = ports
        .map(|(host_ip, host_port, container_port)| UserPort {
            host_ip,
            host_port,
            container_port,
            tried: None,
        })
        .collect();
    out.sort_by_key(|p| (p.host_port, p.host_ip));
    out
}

/// Where the engine's cgroup drivers put a container's cgroup, under the cgroup root:
/// systemd's and cgroupfs's, on cgroup v2 and (its pids controller) v1.
const LAYOUTS: [(&str, &str); 4] = [
    ("system.slice/docker-", ".scope"),
    ("docker/", ""),
    ("pids/system.slice/docker-", ".scope"),
    ("pids/docker/", ""),
];

/// The pid of container `id`'s first process, from its cgroup: the lowest pid in it
/// (the container's init, which its namespaces are made for), confirmed by that
/// process's own cgroup naming the container (a pid read here can be reused since).
fn pid_in_cgroup(root: &Path, proc: &Path, id: &str) -> Option<u32> {
    // The id names a path: only the engine's 64 hex digits.
    if id.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let procs = LAYOUTS.iter().find_map(|(before, after)| {
        input::read_config(root.join(format!("{before}{id}{after}/cgroup.procs")))
    })?;
    let pid = (procs.lines())
        .filter_map(|l| l.trim().parse::<u32>().ok())
        .min()?;
    let own = input::read_config(proc.join(format!("{pid}/cgroup")))?;
    own.contains(id).then_some(pid)
}

#[cfg(test)]
mod tests;
