//! Collection: gathers the observations a plan needs, concurrently, into a [`Snapshot`].
//!
//! The order matters in one place only: the probe container must be running while the
//! host and the containers are read, so that both ends of its veth pair are seen.

pub mod agent;
pub mod docker;
pub mod egress;
pub mod engine_config;
pub mod firewall;
pub mod image;
mod interiors;
mod output;
pub mod outside;
pub mod peers;
mod probe_container;
mod probe_setup;
mod publish;
pub mod routing;
mod sysctl;
mod tc;
mod teardown;
pub mod trace;
mod user_ports;

/// netlink and the listener live in `net`, below collect and probe both.
pub use crate::net::{listener, netlink};

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, EndpointSettings, HostConfig, NetworkConnectRequest, NetworkingConfig,
    PortBinding,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, KillContainerOptions, RemoveContainerOptionsBuilder,
    WaitContainerOptionsBuilder,
};
use futures_util::StreamExt;

use netcheck_model::error::Error;
use netcheck_model::protocol::{Ask, Needs, ProbeArgs, Purpose};
use netcheck_model::snapshot::{
    DockerObs, HostObs, NetnsObs, NetworkObs, Observed, OutsidePeer, ProbeObs, ProbeReport,
    SNAPSHOT_SCHEMA, Snapshot,
};
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

/// An agent container of this run, and its stdin (closing it asks the agent to stop).
pub struct AgentRun {
    docker: Docker,
    name: String,
    stdin: Option<agent::AgentStdin>,
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

/// The engine's NAT rules read again once the probe's ports are published: iptables'
/// nat table, or the engine's own nftables table.
enum Reread {
    Nat(Vec<String>),
    Nft(netcheck_model::nftables::NftTable),
}

pub async fn collect(
    docker: &Docker,
    local: bool,
    opts: &Collection,
    teardown: &Teardown,
) -> Result<Snapshot, Error> {
    if let Some(notice) = agent::wanted(docker, local, opts.socket.as_deref(), opts.agent).await {
        if let Some(notice) = notice {
            eprintln!("{notice}");
        }
        let mut snapshot = agent::collect(docker, opts, teardown).await?;
        snapshot.engine = opts
            .engine
            .clone()
            .map(|e| netcheck_model::snapshot::EngineRef { agent: true, ..e });
        return Ok(snapshot);
    }
    let started_at = chrono::Utc::now();
    let started = Instant::now();
    let root = is_root();
    let local_socket = local;
    let host_handle = if local { netlink::connect().ok() } else { None };

    // Phase 1: everything that depends on nothing else.
    let need_host = opts.needs.host || opts.needs.probe;
    let (engine, networks, image, (early_host, tc_before), firewall) = tokio::join!(
        docker::engine_facts(docker),
        docker::networks(docker),
        async {
            match (opts.needs.probe, &opts.relay) {
                (false, _) => None,
                // netcheck started the probe from it.
                (true, Some(_)) => Some(image::reference().await),
                (true, None) => Some(image::ensure(docker).await),
            }
        },
        tc::early(host_handle.as_ref(), need_host),
        async {
            if need_host && local {
                firewall::firewall(root).await
            } else {
                Observed::Skipped {
                    reason: "not needed".into(),
                }
            }
        },
    );
    let engine = engine?;
    let networks = networks?;
    let checked_names = checked_networks(opts, &networks)?;
    // A unix socket is no proof that the engine's network is this one: rootless Docker,
    // Docker Desktop and netcheck inside a container all see another namespace (and
    // another pid namespace). The engine's bridges must be visible here.
    let bridges: Vec<&str> = networks
        .iter()
        .filter(|n| n.driver == "bridge")
        .map(|n| n.bridge.as_str())
        .collect();
    let local = local_socket
        && !opts
            .socket
            .as_deref()
            .and_then(agent::peer_netns_differs)
            .unwrap_or(false)
        && early_host.as_ref().is_none_or(|ns| {
            bridges.is_empty() || bridges.iter().any(|b| ns.link_by_name(b).is_some())
        });
    let host_skip = if !local_socket {
        Some(
            "the engine is remote: its host is observed only with --agent (netcheck's probe image runs there \
             with the host's network and PID namespaces)"
                .to_string(),
        )
    } else if !local {
        Some(
            "the engine's network namespace is not this one (rootless Docker, Docker Desktop, \
             or netcheck in a container), and --no-agent refused the host agent that would observe its host"
                .to_string(),
        )
    } else {
        None
    };
    let checked = named(&checked_names, &networks);

    // Phase 2: the probe container, with what it is to reach.
    let probe = match image {
        None => Observed::Skipped {
            reason: "no selected check needs the probe".into(),
        },
        Some(Err(e)) => Observed::Error {
            error: e.to_string(),
        },
        Some(Ok(image)) => {
            let found = probe_setup::Found {
                engine: &engine,
                networks: &networks,
                checked_names: &checked_names,
                checked: &checked,
                early_host: early_host.as_ref(),
                host_handle: host_handle.as_ref(),
                root,
                local,
            };
            probe_container::observe(docker, &image, opts, &found, teardown).await
        }
    };
    let probe_parts = match &probe {
        Observed::Ok { value } => Some((value.container_name.clone(), value.report.netns.clone())),
        _ => None,
    };

    // Phase 3: while the probe lingers, the host and the containers as they are now
    // (and the nat table again: the probe's published port has rules of its own now).
    let published = match &probe {
        Observed::Ok { value } => value.published.clone(),
        _ => vec![],
    };
    let (host_netns, networks, nat_now, publish_requests) = tokio::join!(
        async {
            match &host_handle {
                Some(h) if need_host => Some(netlink::dump(h).await),
                _ => None,
            }
        },
        async {
            if probe_parts.is_some() {
                docker::networks(docker).await
            } else {
                Ok(networks)
            }
        },
        async {
            // Only where Docker keeps iptables rules: reading a table that does not
            // exist yet would create it (legacy iptables loads the module).
            match &firewall {
                Observed::Ok { value } if !published.is_empty() && value.docker_in_iptables() => {
                    firewall::nat_table().await.map(Reread::Nat)
                }
                Observed::Ok { value }
                    if !published.is_empty() && !value.docker_nft_tables().is_empty() =>
                {
                    firewall::docker_nft_table().await.map(Reread::Nft)
                }
                _ => None,
            }
        },
        // The host's side of port.publish: the published port on loopback.
        futures_util::future::join_all(published.iter().filter(|p| p.host_ip.is_loopback()).map(
            |p| {
                crate::probe::own_request(
                    Purpose::Publish { host_ip: p.host_ip },
                    std::net::SocketAddr::new(p.host_ip, p.host_port),
                    opts.probe_timeout,
                )
            }
        )),
    );
    let mut networks = networks?;
    let mut firewall = firewall;
    match (&mut firewall, nat_now) {
        (Observed::Ok { value }, Some(Reread::Nat(nat))) => {
            value.tables.insert("nat".into(), nat);
        }
        (Observed::Ok { value }, Some(Reread::Nft(table))) => {
            if let Some(rs) = &mut value.nftables {
                rs.tables
                    .retain(|t| !(t.family == table.family && t.name == table.name));
                rs.tables.push(table);
                value.docker_nft_after_publish = true;
            }
        }
        _ => {}
    }
    let probe_name = probe_parts.as_ref().map(|(n, _)| n.as_str());
    // Other netcheck runs' probes come and go while this one looks: they are not the
    // user's containers, and judging them would race their removal.
    for n in &mut networks {
        n.endpoints.retain(|e| {
            !e.container_name.starts_with(PROBE_PREFIX)
                || Some(e.container_name.as_str()) == probe_name
        });
    }
    // The kernel's route choices, while the probe (the source of the lookups) is there.
    let routing = match (&host_handle, &host_netns) {
        (Some(h), Some(Ok(ns))) => {
            let checked_now: Vec<&NetworkObs> = networks
                .iter()
                .filter(|n| checked_names.contains(&n.name))
                .collect();
            Some(
                routing::routing(h, ns, &checked_now, firewall.ok())
                    .await
                    .into(),
            )
        }
        _ => None,
    };
    let mut containers =
        docker::containers(docker, &mut networks, &checked_names, probe_name).await?;
    interiors::observe(
        &mut containers,
        probe_parts.as_ref().map(|(_, ns)| ns),
        local,
        root,
    )
    .await;
    let host_ns = host_netns.as_ref().and_then(|r| r.as_ref().ok());
    let wanted = opts.needs.publish && local;
    user_ports::try_all(&mut containers, host_ns, wanted, opts.probe_timeout).await;
    // After the interiors: a connection leaves by the container's own interface on the
    // network, found in them.
    let (peer_requests, peer_concurrency) = match probe_name {
        Some(probe) if opts.needs.peers && local && root => {
            peers::requests(
                &networks,
                &checked_names,
                &containers,
                probe,
                opts.probe_timeout,
            )
            .await
        }
        _ => (vec![], None),
    };
    let mut probe = probe;
    if let Observed::Ok { value } = &mut probe {
        let egress_requests = if opts.needs.outside && local && root {
            let egress = value.egress(&networks).map(|n| n.name.clone());
            let (v4, v6) = tokio::join!(
                egress::requests(
                    value,
                    egress.as_deref(),
                    &networks,
                    &checked_names,
                    &containers,
                    opts.probe_timeout,
                ),
                egress::requests_v6(
                    value,
                    &networks,
                    &checked_names,
                    &containers,
                    opts.probe_timeout,
                ),
            );
            v4.into_iter().chain(v6).collect()
        } else {
            vec![]
        };
        value.peer_concurrency = peer_concurrency;
        value.host_requests = publish_requests
            .into_iter()
            .chain(peer_requests)
            .chain(egress_requests)
            .collect();
    }
    // Only when a flow failed: the failed ones again, traced (root, local engine).
    if let Observed::Ok { value } = &mut probe
        && local
        && root
    {
        let flows = trace::failed_flows(value, &networks, &containers, opts.probe_timeout);
        value.traces = trace::trace(&opts.run_id, &flows, &teardown.traces).await;
    }
    let traffic_control = tc::after(host_handle.as_ref(), host_ns, tc_before).await;

    let host = match (host_netns, &host_skip) {
        (_, Some(reason)) => Observed::Skipped {
            reason: reason.clone(),
        },
        (None, None) if !need_host => Observed::Skipped {
            reason: "no selected check needs it".into(),
        },
        (None, None) => Observed::Error {
            error: "netlink socket could not be opened".into(),
        },
        (Some(Err(e)), None) => Observed::Error {
            error: e.to_string(),
        },
        (Some(Ok(netns)), None) => {
            // Forwarding of every Docker bridge and of the uplinks (the default routes').
            let mut ifaces: Vec<&str> = networks
                .iter()
                .filter(|n| n.driver == "bridge")
                .map(|n| n.bridge.as_str())
                .collect();
            let uplinks = netns.uplinks();
            ifaces.extend(uplinks.iter().map(|l| l.name.as_str()));
            Observed::Ok {
                value: HostObs {
                    sysctl: sysctl::sysctls(&ifaces),
                    firewall,
                    resolv_conf: netcheck_model::input::read_config("/etc/resolv.conf"),
                    resolved_conf: netcheck_model::input::read_config(
                        "/run/systemd/resolve/resolv.conf",
                    ),
                    proxies: engine_config::proxies(),
                    routing,
                    engine_config: engine_config::engine_config(),
                    conntrack: Some(sysctl::conntrack()),
                    traffic_control,
                    netns,
                },
            }
        }
    };
    Ok(Snapshot {
        schema: SNAPSHOT_SCHEMA.to_string(),
        netcheck_version: env!("CARGO_PKG_VERSION").to_string(),
        collected_at: started_at,
        duration_ms: started.elapsed().as_millis() as u64,
        networks: checked_names,
        docker: Observed::Ok {
            value: DockerObs {
                engine,
                local,
                networks,
                containers,
            },
        },
        host,
        probe,
        engine: opts.engine.clone(),
    })
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
