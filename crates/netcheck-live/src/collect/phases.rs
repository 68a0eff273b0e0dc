//! Collection's flow, phase by phase: what depends on nothing; the probe container, and
//! beside its start what involves no probe (the containers already there, their
//! namespaces, isolation between them, the stand-ins: see `early`); then, while the
//! probe lingers, the host and the containers as they are now, the requests made from
//! the host, and the traces of failed ones; last, the snapshot.
//!
//! The order matters in one place only: the probe container must be running while the
//! host and its own namespace are read, so that both ends of its veth pair are seen.

use std::time::Instant;

use bollard::Docker;
use rtnetlink::Handle;

use netcheck_model::error::Error;
use netcheck_model::protocol::Purpose;
use netcheck_model::snapshot::{
    DockerObs, EngineFacts, FirewallObs, NetnsObs, NetworkObs, Observed, ProbeObs, Request,
    RoutingObs, SNAPSHOT_SCHEMA, Snapshot,
};

use super::{
    Collection, PROBE_PREFIX, Teardown, agent, checked_networks, confirm, docker, early,
    engine_config, firewall, host_obs, host_requests, image, named, probe_setup, probing, routing,
    stand_ins, sysctl, tc, trace, user_ports,
};
use crate::net::netlink;

/// Gathers what `opts` asks for from the engine `docker` (on this machine when `local`),
/// through the host agent where the engine's host is elsewhere.
pub async fn collect(
    docker: &Docker,
    local: bool,
    opts: &Collection,
    teardown: &Teardown,
) -> Result<Snapshot, Error> {
    let started_at = chrono::Utc::now();
    let started = Instant::now();
    // The process serving the engine's socket, asked once for both decisions below.
    let peer = opts.socket.as_deref().and_then(agent::peer);
    if let Some(snapshot) = by_agent(docker, local, peer.as_ref(), opts, teardown).await {
        return snapshot;
    }
    let root = super::is_root();
    let host_handle = if local { netlink::connect().ok() } else { None };
    let need_host = opts.needs.host || opts.needs.probe;
    let laps = crate::log::Laps::new("collect", started);
    let first = first_look(docker, opts, host_handle.as_ref(), need_host, local, root).await?;
    laps.lap("the first look");
    let checked_names = checked_networks(opts, &first.networks)?;
    let (local, host_skip) = whose_network(local, peer.as_ref(), &first);
    let checked = named(&checked_names, &first.networks);
    let may_stand_in = local && root && !first.engine.is_podman();
    let mut chosen = stand_ins::choose(&checked, &first.networks, opts, may_stand_in);
    let found = probe_setup::Found {
        engine: &first.engine,
        networks: &first.networks,
        checked_names: &checked_names,
        checked: &checked,
        early_host: first.early_host.as_ref(),
        host_handle: host_handle.as_ref(),
        root,
        local,
        stand_ins: &chosen,
    };
    // Beside the probe's start, all that involves no probe (see `early`).
    let (mut probe, early) = tokio::join!(
        start_probe(docker, opts, teardown, first.image.as_ref(), &found),
        early::beside_the_probe(docker, &found, opts, teardown),
    );
    let mut early = early?;
    let joined = found.probe_networks();
    let joined = confirm::rejoin(docker, &probe, &mut early, joined, &mut chosen).await;
    laps.lap("the probe's report and the containers");
    // dockerd's flags and the docker-proxy processes (the probe's too), read beside the rest.
    let processes =
        (need_host && local).then(|| tokio::task::spawn_blocking(engine_config::engine_processes));
    let (probe_name, probe_netns) = probe_parts(&probe);
    let host = (host_handle.as_ref(), need_host);
    let now = while_the_probe_lingers(docker, opts, (&probe, &joined), first, host).await?;
    let Now {
        host_netns,
        mut networks,
        firewall,
        publish_requests,
        engine,
        before,
    } = now;
    laps.lap("the host while the probe lingers");
    without_other_runs_probes(&mut networks, probe_name.as_deref());
    // The kernel's route choices, while the probe (the source of the lookups) is there.
    let host_ns = host_netns.as_ref().and_then(|r| r.as_ref().ok());
    let routing = route_lookups(
        host_handle.as_ref(),
        host_ns,
        &networks,
        &checked_names,
        &firewall,
    )
    .await;
    let probe_now = (probe_name.as_deref(), probe_netns.as_ref());
    let mut containers =
        (early.containers(docker, &mut networks, &checked_names, probe_now)).await?;
    laps.lap("the containers' namespaces");
    let wanted = opts.needs.publish && local;
    user_ports::try_all(&mut containers, host_ns, wanted, opts.probe_timeout).await;
    let mut here = host_requests::FromHere {
        opts,
        networks: &networks,
        checked_names: &checked_names,
        containers: &containers,
        local,
        root,
        stand_ins: &chosen,
        early: std::mem::take(&mut early.requests),
    };
    from_here(&mut probe, &mut here, publish_requests, teardown).await;
    laps.lap("the host's requests and traces");
    let host = host_obs::HostParts {
        netns: host_netns,
        skip: host_skip,
        needed: need_host,
        firewall,
        routing,
        handle: host_handle.as_ref(),
        before,
        processes,
    }
    .observe(&networks)
    .await;
    laps.lap("the host's facts");
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

/// The snapshot taken by the host agent, when the engine's host is not this one (or
/// the user asked for the agent); `None` to collect here.
async fn by_agent(
    docker: &Docker,
    local: bool,
    peer: Option<&agent::Peer>,
    opts: &Collection,
    teardown: &Teardown,
) -> Option<Result<Snapshot, Error>> {
    let notice = agent::wanted(docker, local, peer, opts.agent).await?;
    if let Some(notice) = notice {
        eprintln!("{notice}");
    }
    Some(
        agent::collect(docker, opts, teardown)
            .await
            .map(|mut snapshot| {
                snapshot.engine = (opts.engine.clone())
                    .map(|e| netcheck_model::snapshot::EngineRef { agent: true, ..e });
                snapshot
            }),
    )
}

/// The probe's container name and the namespace it reported, where it reported.
fn probe_parts(probe: &Observed<ProbeObs>) -> (Option<String>, Option<NetnsObs>) {
    match probe {
        Observed::Ok { value } => (
            Some(value.container_name.clone()),
            Some(value.report.netns.clone()),
        ),
        _ => (None, None),
    }
}

/// The probe's requests that start on this host, and only when a flow failed, the
/// failed ones again, traced (root and a local engine: the trace is this kernel's).
async fn from_here(
    probe: &mut Observed<ProbeObs>,
    here: &mut host_requests::FromHere<'_>,
    publish_requests: Vec<Request>,
    teardown: &Teardown,
) {
    let Observed::Ok { value } = probe else {
        return;
    };
    here.requests(value, publish_requests).await;
    if here.local && here.root {
        let timeout = here.opts.probe_timeout;
        let flows = trace::failed_flows(value, here.networks, here.containers, timeout);
        value.traces = trace::trace(&here.opts.run_id, &flows, &teardown.traces).await;
    }
}

/// What the first phase reads: everything that depends on nothing else.
struct First {
    engine: EngineFacts,
    networks: Vec<NetworkObs>,
    image: Option<Result<String, Error>>,
    early_host: Option<NetnsObs>,
    before: host_obs::Before,
    firewall: Observed<FirewallObs>,
}

async fn first_look(
    docker: &Docker,
    opts: &Collection,
    host_handle: Option<&Handle>,
    need_host: bool,
    local: bool,
    root: bool,
) -> Result<First, Error> {
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
        tc::early(host_handle, need_host),
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
    let (mut engine, mut networks) = (engine?, networks?);
    if engine.is_podman() {
        let (_, facts) = tokio::join!(
            super::podman::name_bridges(docker, &mut networks, early_host.as_ref()),
            super::podman::facts(docker),
        );
        if let Ok(facts) = facts {
            engine.rootless = facts.rootless();
            engine.network_backend = facts.network_backend();
        }
    }
    // netavark turns forwarding on for the probe: what the running containers had is
    // read now.
    // (Not in the agent: netcheck started the probe there before the agent looked.)
    let before = engine.is_podman() && need_host && local && opts.relay.is_none();
    let sysctl = before.then(|| sysctl::sysctls(&[]));
    Ok(First {
        engine,
        networks,
        image,
        early_host,
        before: host_obs::Before {
            tc: tc_before,
            sysctl,
        },
        firewall,
    })
}

/// Whether the engine's network is this one, and if not, why the host is not observed.
///
/// A unix socket is no proof that the engine's network is this one: rootless Docker,
/// Docker Desktop and netcheck inside a container all see another namespace (and
/// another pid namespace). The engine's bridges must be visible here.
fn whose_network(
    local_socket: bool,
    peer: Option<&agent::Peer>,
    first: &First,
) -> (bool, Option<String>) {
    // Podman makes a network's bridge with its first container and removes it with its
    // last: only the bridges of networks with containers are there to be seen.
    let podman = first.engine.is_podman();
    let bridges: Vec<&str> = (first.networks.iter())
        .filter(|n| n.driver == "bridge" && (!podman || !n.endpoints.is_empty()))
        .map(|n| n.bridge.as_str())
        .collect();
    let rootless = first.engine.rootless;
    let local = local_socket
        && !rootless
        && !peer.is_some_and(|p| p.netns_differs)
        && first.early_host.as_ref().is_none_or(|ns| {
            bridges.is_empty() || bridges.iter().any(|b| ns.link_by_name(b).is_some())
        });
    let host_skip = if !local_socket {
        Some(
            "the engine is remote: its host is observed only with --agent (netcheck's probe image runs there \
             with the host's network and PID namespaces)"
                .to_string(),
        )
    } else if rootless {
        Some(
            "the engine is rootless: its containers' networks live in the user's own namespaces \
             (Podman's rootless-netns, with slirp4netns or pasta to the outside), not this host's, so the host's \
             bridges, rules, routes and MTU do not carry them and are not judged"
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
    (local, host_skip)
}

/// The probe container, with what it is to reach.
async fn start_probe(
    docker: &Docker,
    opts: &Collection,
    teardown: &Teardown,
    image: Option<&Result<String, Error>>,
    found: &probe_setup::Found<'_>,
) -> Observed<ProbeObs> {
    match image {
        None => Observed::Skipped {
            reason: "no selected check needs the probe".into(),
        },
        Some(Err(e)) => Observed::Error {
            error: e.to_string(),
        },
        Some(Ok(image)) => probing::observe(docker, image, opts, found, teardown).await,
    }
}

/// The engine's NAT rules read again once the probe's ports are published: iptables'
/// nat table, or the engine's own nftables table.
enum Reread {
    Nat(Vec<String>),
    Nft(netcheck_model::nftables::NftTable),
    /// Podman's: netavark writes a network's rules when its first container starts, so
    /// those of the networks only the probe is on exist only now.
    All(Box<Observed<FirewallObs>>),
}

/// What the third phase reads, while the probe lingers.
struct Now {
    host_netns: Option<Result<NetnsObs, netlink::NetlinkError>>,
    networks: Vec<NetworkObs>,
    /// With the engine's NAT rules as they are once the probe's ports are published.
    firewall: Observed<FirewallObs>,
    /// The host's side of port.publish: the published port on loopback.
    publish_requests: Vec<Request>,
    engine: EngineFacts,
    before: host_obs::Before,
}

/// The host and the networks as they are now (the probe's veth included), the nat
/// table again (the probe's published port has rules of its own now), and the host's
/// requests to the published port.
async fn while_the_probe_lingers(
    docker: &Docker,
    opts: &Collection,
    (probe, joined): (&Observed<ProbeObs>, &[String]),
    first: First,
    (host_handle, need_host): (Option<&Handle>, bool),
) -> Result<Now, Error> {
    let (published, probe_runs) = match probe {
        Observed::Ok { value } => (value.published.clone(), true),
        _ => (vec![], false),
    };
    let First {
        engine,
        networks,
        mut firewall,
        before,
        ..
    } = first;
    let (host_netns, networks, nat_now, publish_requests) = tokio::join!(
        async {
            match host_handle {
                Some(h) if need_host => Some(netlink::dump(h).await),
                _ => None,
            }
        },
        async {
            if probe_runs {
                docker::networks_again(docker, networks, joined).await
            } else {
                Ok(networks)
            }
        },
        async {
            // Only where Docker keeps iptables rules: reading a table that does not
            // exist yet would create it (legacy iptables loads the module).
            match &firewall {
                Observed::Ok { .. } if probe_runs && engine.is_podman() => Some(Reread::All(
                    Box::new(firewall::firewall(super::is_root()).await),
                )),
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
    match (&mut firewall, nat_now) {
        (_, Some(Reread::All(mut now))) => {
            // In the agent, netcheck started the probe before the first look: nothing
            // was read before it there.
            if let (Observed::Ok { value: before }, Observed::Ok { value: now }, None) =
                (&mut firewall, &mut *now, &opts.relay)
            {
                now.tables_before_probe = Some(std::mem::take(&mut before.tables));
            }
            firewall = *now;
        }
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
    Ok(Now {
        host_netns,
        networks: networks?,
        firewall,
        publish_requests,
        engine,
        before,
    })
}

/// Other netcheck runs' probes come and go while this one looks: they are not the
/// user's containers, and judging them would race their removal.
fn without_other_runs_probes(networks: &mut [NetworkObs], probe_name: Option<&str>) {
    for n in networks {
        n.endpoints.retain(|e| {
            !e.container_name.starts_with(PROBE_PREFIX)
                || Some(e.container_name.as_str()) == probe_name
        });
    }
}

async fn route_lookups(
    handle: Option<&Handle>,
    host: Option<&NetnsObs>,
    networks: &[NetworkObs],
    checked_names: &[String],
    firewall: &Observed<FirewallObs>,
) -> Option<Observed<RoutingObs>> {
    let (handle, host) = (handle?, host?);
    let checked_now: Vec<&NetworkObs> = (networks.iter())
        .filter(|n| checked_names.contains(&n.name))
        .collect();
    Some(
        routing::routing(handle, host, &checked_now, firewall.ok())
            .await
            .into(),
    )
}
