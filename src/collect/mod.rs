//! Collection: gathers the observations a plan needs, concurrently, into a [`Snapshot`].
//!
//! The order matters in one place only: the probe container must be running while the
//! host and the containers are read, so that both ends of its veth pair are seen.

pub mod agent;
pub mod docker;
pub mod egress;
pub mod host;
pub mod image;
pub mod nft;
pub mod outside;
pub mod peers;
pub mod routes;
pub mod trace;

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
    AttachContainerOptionsBuilder, CreateContainerOptionsBuilder, KillContainerOptions,
    RemoveContainerOptionsBuilder, WaitContainerOptionsBuilder,
};
use futures_util::StreamExt;

use crate::error::Error;
use crate::protocol::Needs;
use crate::snapshot::{
    ContainerObs, DockerObs, HostObs, NetnsObs, NetworkObs, Observed, OutsidePeer, ProbeObs,
    ProbeReport, SNAPSHOT_SCHEMA, Snapshot, purpose,
};

/// The label every object netcheck creates carries, with the run id as value.
pub const LABEL: &str = "netcheck.run";
/// The label holding the pid of the netcheck process that owns a probe container, so
/// that `netcheck cleanup` leaves a live run's probe alone.
pub const PID_LABEL: &str = "netcheck.pid";
/// The label holding the pid namespace that pid is in (see [`own_pid_namespace`]).
pub const PIDNS_LABEL: &str = "netcheck.pidns";
/// Probe containers are named `netcheck-probe-<run id>`.
pub const PROBE_PREFIX: &str = "netcheck-probe-";

pub struct Options {
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
    /// What the probe must do for the suite's own checks (`netcheck probe` arguments).
    pub suite_probe_args: Vec<String>,
    /// Whether the engine's host may be observed through the host agent.
    pub agent: agent::Mode,
    /// The run's bound: an agent ends by itself after it.
    pub deadline: Duration,
    /// The engine's unix socket, when it is reached through one: the process serving it
    /// tells which network namespace the engine is in.
    pub socket: Option<std::path::PathBuf>,
    /// Which engine this is, for the snapshot (the agent field is set here).
    pub engine: Option<crate::snapshot::EngineRef>,
}

/// An agent container of this run, and its stdin (closing it asks the agent to stop).
pub struct AgentRun {
    docker: Docker,
    name: String,
    run_id: String,
    stdin: Option<std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>>>,
}

/// Everything a run created, removed by [`Cleanup::run`] on every path out: success,
/// failure, timeout and signals alike.
#[derive(Default)]
pub struct Cleanup {
    containers: Mutex<Vec<(Docker, String)>>,
    /// The probe's attachment (its stdin and output): the probe lives while it does.
    attachments: Mutex<Vec<Box<dyn Send>>>,
    outside: Mutex<Option<(rtnetlink::Handle, outside::Outside)>>,
    listeners: Mutex<Vec<listener::Listener>>,
    agents: Mutex<Vec<AgentRun>>,
    /// The `nft -i` sessions holding packet-trace tables (they go with the session).
    traces: trace::Sessions,
}

impl Cleanup {
    pub async fn run(&self) {
        let containers = std::mem::take(&mut *self.containers.lock().unwrap());
        let outside = self.outside.lock().unwrap().take();
        self.listeners.lock().unwrap().clear();
        let agents = std::mem::take(&mut *self.agents.lock().unwrap());
        let agents = futures_util::future::join_all(agents.into_iter().map(agent::end));
        let containers = futures_util::future::join_all(
            containers
                .iter()
                .map(|(docker, name)| end_probe(docker, name)),
        );
        let outside = async {
            if let Some((handle, o)) = outside {
                o.remove(&handle).await;
            }
        };
        tokio::join!(containers, outside, agents, self.traces.end());
        self.attachments.lock().unwrap().clear();
    }
}

/// Ends a probe and returns once the engine has removed it. The probe is AutoRemove:
/// once killed, the engine removes it itself, so this waits for that removal instead of
/// racing it with a remove of its own (which the engine refuses while its own is under
/// way). A probe that was never started, or is paused, is not auto-removed: it is
/// removed outright.
async fn end_probe(docker: &Docker, name: &str) {
    use bollard::errors::Error as B;
    match docker
        .kill_container(name, None::<KillContainerOptions>)
        .await
    {
        Ok(()) => {
            if wait_removed(docker, name, Duration::from_secs(5)).await {
                return;
            }
        }
        // Not there (yet): an interrupt may have cut the create request short after the
        // engine took it. Give the engine a moment.
        Err(B::DockerResponseServerError {
            status_code: 404, ..
        }) => tokio::time::sleep(Duration::from_millis(250)).await,
        // Not running (created, exited, paused, or being removed already).
        Err(_) => {}
    }
    if remove_probe(docker, name).await.is_err() {
        // The engine's own removal is under way, or it has just come to exist.
        if !wait_removed(docker, name, Duration::from_secs(5)).await {
            let _ = remove_probe(docker, name).await;
        }
    }
}

/// Waits until the engine has removed `name` (or it does not exist); false on timeout.
async fn wait_removed(docker: &Docker, name: &str, timeout: Duration) -> bool {
    use bollard::errors::Error as B;
    let options = WaitContainerOptionsBuilder::new()
        .condition("removed")
        .build();
    let mut wait = docker.wait_container(name, Some(options));
    match tokio::time::timeout(timeout, wait.next()).await {
        // bollard reports a non-zero exit code (a killed probe's 137) as an error.
        Ok(None | Some(Ok(_)) | Some(Err(B::DockerContainerWaitError { .. }))) => true,
        Ok(Some(Err(B::DockerResponseServerError {
            status_code: 404, ..
        }))) => true,
        _ => false,
    }
}

/// This process's pid namespace (`pid:[4026531836]`): a probe's owner pid means
/// something only to a netcheck in the same one.
pub fn own_pid_namespace() -> String {
    std::fs::read_link("/proc/self/ns/pid")
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

/// Removes a probe container outright: killed, not stopped (a graceful stop would wait
/// out its linger), and thawed first if it is frozen (paused), which the engine
/// refuses to kill.
pub async fn remove_probe(docker: &Docker, name: &str) -> Result<(), bollard::errors::Error> {
    let force = RemoveContainerOptionsBuilder::new()
        .force(true)
        .v(true)
        .build();
    if docker
        .remove_container(name, Some(force.clone()))
        .await
        .is_ok()
    {
        return Ok(());
    }
    let _ = docker.unpause_container(name).await;
    docker.remove_container(name, Some(force)).await
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

pub async fn collect(
    docker: &Docker,
    local: bool,
    opts: &Options,
    cleanup: &Cleanup,
) -> Result<Snapshot, Error> {
    if let Some(notice) = agent::wanted(docker, local, opts.socket.as_deref(), opts.agent).await {
        if let Some(notice) = notice {
            eprintln!("{notice}");
        }
        let mut snapshot = agent::collect(docker, opts, cleanup).await?;
        snapshot.engine = opts
            .engine
            .clone()
            .map(|e| crate::snapshot::EngineRef { agent: true, ..e });
        return Ok(snapshot);
    }
    let started_at = chrono::Utc::now();
    let started = Instant::now();
    let root = is_root();
    let local_socket = local;
    let host_handle = if local { netlink::connect().ok() } else { None };

    // Phase 1: everything that depends on nothing else.
    let need_host = opts.needs.host || opts.needs.probe;
    let (engine, networks, image, early_host, firewall) = tokio::join!(
        docker::engine_facts(docker),
        docker::networks(docker),
        async {
            if opts.needs.probe {
                Some(image::ensure(docker).await)
            } else {
                None
            }
        },
        async {
            match &host_handle {
                Some(h) if need_host => netlink::dump(h).await.ok(),
                _ => None,
            }
        },
        async {
            if need_host && local {
                host::firewall(root).await
            } else {
                Observed::Skipped {
                    reason: "not needed".into(),
                }
            }
        },
    );
    let engine = engine?;
    let networks = networks?;
    for name in &opts.networks {
        if !networks.iter().any(|n| &n.name == name) {
            return Err(Error::UnknownNetwork(name.clone()));
        }
    }
    let checked_names = checked_networks(opts, &networks);
    if checked_names.is_empty() {
        return Err(Error::UnknownNetwork("bridge".into()));
    }
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
    let checked: Vec<&NetworkObs> = checked_names
        .iter()
        .filter_map(|name| networks.iter().find(|n| &n.name == name))
        .collect();

    // Phase 2: the probe container, with listeners for it to reach.
    let mut probe_parts = None;
    let probe = match image {
        None => Observed::Skipped {
            reason: "no selected check needs the probe".into(),
        },
        Some(Err(e)) => Observed::Error {
            error: e.to_string(),
        },
        Some(Ok(image)) => {
            let mut setup = ProbeSetup::prepare(
                opts,
                &checked,
                &networks,
                early_host.as_ref(),
                host_handle.as_ref(),
                root,
                local,
                &engine,
                cleanup,
            )
            .await;
            let name = format!("{PROBE_PREFIX}{}", opts.run_id);
            // The probe answers within its own request deadlines; this bounds a probe
            // that hangs anyway (a stuck engine, a frozen container).
            let deadline = opts.probe_timeout * 3 + Duration::from_secs(5);
            let mut publish_error = None;
            let run = async {
                let first = run_probe(
                    docker,
                    &image,
                    &name,
                    &checked_names,
                    &setup,
                    !engine.desktop,
                    cleanup,
                )
                .await;
                // The engine could not publish the probe's ports (their rules cannot be
                // written: Docker's chains are gone). That is port.publish's verdict to
                // give; the rest of the run goes on without them.
                match first {
                    Err(Error::Probe(e))
                        if !setup.published.is_empty() && e.starts_with(START_FAILED) =>
                    {
                        let _ = remove_probe(docker, &name).await;
                        publish_error = Some(clean_engine_error(&e));
                        setup.without_published();
                        run_probe(
                            docker,
                            &image,
                            &name,
                            &checked_names,
                            &setup,
                            !engine.desktop,
                            cleanup,
                        )
                        .await
                    }
                    other => other,
                }
            };
            match tokio::time::timeout(deadline, run).await {
                Err(_) => Observed::Error {
                    error: format!(
                        "the probe container gave no report within {} s",
                        deadline.as_secs()
                    ),
                },
                Ok(Err(e)) => Observed::Error {
                    error: e.to_string(),
                },
                Ok(Ok(report)) => {
                    probe_parts = Some((name.clone(), report.netns.clone()));
                    Observed::Ok {
                        value: ProbeObs {
                            container_name: name,
                            report,
                            outside: setup.outside,
                            published: setup.published,
                            host_requests: vec![],
                            publish_error,
                            traces: vec![],
                        },
                    }
                }
            }
        }
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
                    host::nat_table().await
                }
                _ => None,
            }
        },
        // The host's side of port.publish: the published port on loopback.
        futures_util::future::join_all(published.iter().filter(|p| p.host_ip.is_loopback()).map(
            |p| {
                crate::probe::own_request(
                    purpose::publish(p.host_ip),
                    std::net::SocketAddr::new(p.host_ip, p.host_port),
                    opts.probe_timeout,
                )
            }
        )),
    );
    let mut networks = networks?;
    let mut firewall = firewall;
    if let (Observed::Ok { value }, Some(nat)) = (&mut firewall, nat_now) {
        value.tables.insert("nat".into(), nat);
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
            Some(routes::routing(h, ns, &checked_now).await.into())
        }
        _ => None,
    };
    let mut containers =
        docker::containers(docker, &mut networks, &checked_names, probe_name).await?;
    observe_interiors(
        &mut containers,
        probe_parts.as_ref().map(|(_, ns)| ns),
        local,
        root,
    )
    .await;
    // After the interiors: a connection leaves by the container's own interface on the
    // network, found in them.
    let peer_requests = match probe_name {
        Some(probe) if opts.needs.peers && local && root => {
            peer_requests(
                &networks,
                &checked_names,
                &containers,
                probe,
                opts.probe_timeout,
            )
            .await
        }
        _ => vec![],
    };
    let mut probe = probe;
    if let Observed::Ok { value } = &mut probe {
        let egress_requests = if opts.needs.outside && local && root {
            let egress = value.egress(&networks).map(|n| n.name.clone());
            egress::requests(
                value,
                egress.as_deref(),
                &networks,
                &checked_names,
                &containers,
                opts.probe_timeout,
            )
            .await
        } else {
            vec![]
        };
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
        value.traces = trace::trace(&opts.run_id, &flows, &cleanup.traces).await;
    }

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
                    sysctl: host::sysctls(&ifaces),
                    firewall,
                    resolv_conf: host::read("/etc/resolv.conf"),
                    resolved_conf: host::read("/run/systemd/resolve/resolv.conf"),
                    proxies: host::proxies(),
                    routing,
                    engine_config: host::engine_config(),
                    conntrack: Some(host::conntrack()),
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
fn checked_networks(opts: &Options, all: &[NetworkObs]) -> Vec<String> {
    if !opts.all_networks {
        return opts.networks.clone();
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
    names
}

/// What bridge.icc asks, from the first running container (not the probe) on each
/// checked network: the probe's address on that network (icc), and its address on each
/// checked network the container is not on (isolation). The probe listens on all.
async fn peer_requests(
    networks: &[NetworkObs],
    checked: &[String],
    containers: &[ContainerObs],
    probe: &str,
    timeout: Duration,
) -> Vec<crate::snapshot::Request> {
    let checked: Vec<&NetworkObs> = networks
        .iter()
        .filter(|n| checked.contains(&n.name))
        .collect();
    let probe_addr = |n: &NetworkObs| {
        n.endpoints
            .iter()
            .find(|e| e.container_name == probe)
            .and_then(|e| e.ipv4)
            .map(|a| std::net::SocketAddr::new(a.addr(), PROBE_PORT))
    };
    let mut asks = vec![];
    let mut listeners = vec![];
    for n in &checked {
        // The source: a container (not the probe) whose interface on this network is
        // known. The socket is bound to that interface, so that nothing in the
        // container's own routing (a VPN container's policy rules) can send it
        // elsewhere: it reaches the bridge or nothing.
        let source = |e: &crate::snapshot::EndpointObs| {
            let c = containers
                .iter()
                .find(|c| c.id == e.container_id && !c.probe)?;
            let iface = c.interior.ok()?.link_by_mac(e.mac.as_deref()?)?;
            Some((c.pid?, iface.name.clone()))
        };
        let Some((ep, (pid, device))) = n.endpoints.iter().find_map(|e| Some((e, source(e)?)))
        else {
            continue;
        };
        let who = &ep.container_name;
        // Traffic that icc forbids is dropped, not refused: a short deadline keeps a
        // healthy run fast, and is ample for a local bridge.
        let icc_off = n.icc_disabled();
        if let Some(target) = probe_addr(n) {
            let deadline = if icc_off { BLOCKED_DEADLINE } else { timeout };
            asks.push((
                pid,
                device.clone(),
                format!("{}{who}", purpose::icc_prefix(&n.name)),
                target,
                deadline,
            ));
        }
        for m in checked.iter().filter(|m| m.name != n.name) {
            let on =
                |net: &NetworkObs, id: &str| net.endpoints.iter().any(|e| e.container_id == id);
            if on(m, &ep.container_id) {
                continue;
            }
            // The target must be on the other network alone: a container on both (the
            // probe, for one) answers through its interface on the source's network,
            // around the firewall, and the test would prove nothing.
            let target = m.endpoints.iter().find_map(|e| {
                let c = containers
                    .iter()
                    .find(|c| c.id == e.container_id && !c.probe)?;
                (!on(n, &e.container_id)).then_some((e, c.pid?))
            });
            let Some((t, t_pid)) = target else { continue };
            let Some(t_ip) = t.ipv4.map(|a| a.addr()) else {
                continue;
            };
            // netcheck's own listener, opened inside the target's namespace.
            let Ok(l) = peers::listen_in(t_pid, t_ip) else {
                continue;
            };
            asks.push((
                pid,
                device.clone(),
                format!(
                    "{}{}:{who}:{}",
                    purpose::isolation_prefix(&n.name),
                    m.name,
                    t.container_name
                ),
                l.addr,
                BLOCKED_DEADLINE,
            ));
            listeners.push(l);
        }
    }
    let requests = futures_util::future::join_all(asks.iter().map(
        |(pid, device, purpose, target, deadline)| {
            peers::get_from(*pid, device, purpose.clone(), *target, *deadline)
        },
    ))
    .await;
    drop(listeners);
    requests
}

/// The port the probe serves netcheck's listener on, inside its container: published
/// for port.publish, and reached by other containers for bridge.icc.
pub const PROBE_PORT: u16 = 8080;

/// How long a connection that should be blocked is given before it counts as blocked.
const BLOCKED_DEADLINE: Duration = Duration::from_millis(300);

/// The listeners and the outside peer the probe will reach, and its arguments.
struct ProbeSetup {
    args: Vec<String>,
    outside: Observed<OutsidePeer>,
    /// The probe's port bindings (port.publish).
    published: Vec<crate::snapshot::Published>,
    run_id: String,
}

impl ProbeSetup {
    #[allow(clippy::too_many_arguments)]
    async fn prepare(
        opts: &Options,
        checked: &[&NetworkObs],
        all: &[NetworkObs],
        early_host: Option<&NetnsObs>,
        host_handle: Option<&rtnetlink::Handle>,
        root: bool,
        local: bool,
        engine: &crate::snapshot::EngineFacts,
        cleanup: &Cleanup,
    ) -> ProbeSetup {
        let mut args = vec![
            "--timeout-ms".to_string(),
            opts.probe_timeout.as_millis().to_string(),
            "--lookup".into(),
            crate::protocol::HOST_DOCKER_INTERNAL.into(),
            "--lookup".into(),
            "gateway.docker.internal".into(),
        ];
        if engine.desktop {
            // Desktop's resolver answers these names itself; nothing leaves the machine.
            args.push("--dns".into());
        }
        args.extend(opts.suite_probe_args.iter().cloned());
        // The probe's own name is the one name the embedded DNS surely knows: asking for
        // any other could send the query on to the host's upstream servers.
        args.push("--embedded-dns".into());
        args.push(format!("{PROBE_PREFIX}{}", opts.run_id));
        if opts.needs.publish || opts.needs.peers {
            args.push("--listen-port".into());
            args.push(PROBE_PORT.to_string());
        }
        let mut published = vec![];
        if opts.needs.publish && local {
            // Published on loopback (for the host) and on the gateway of the probe's
            // network (for the hairpin from inside): never on a wildcard, so nothing
            // is exposed beyond this machine. The ports are picked here, because the
            // probe must know the hairpin's before it starts.
            let gateway = checked.first().and_then(|n| n.gateway_v4(early_host));
            for ip in [Some(IpAddr::from([127, 0, 0, 1])), gateway]
                .into_iter()
                .flatten()
            {
                if let Some(port) = free_port(ip) {
                    published.push(crate::snapshot::Published {
                        host_ip: ip,
                        host_port: port,
                        container_port: PROBE_PORT,
                    });
                    if !ip.is_loopback() {
                        args.push("--get".into());
                        args.push(format!("{}={ip}:{port}", purpose::HAIRPIN));
                    }
                }
            }
        }
        let mut ports: BTreeMap<IpAddr, u16> = BTreeMap::new();
        let mut listen = |ip: IpAddr| -> Option<u16> {
            if let Some(p) = ports.get(&ip) {
                return Some(*p);
            }
            let l = listener::bind(ip).ok()?;
            let port = l.addr.port();
            cleanup.listeners.lock().unwrap().push(l);
            ports.insert(ip, port);
            Some(port)
        };
        if local {
            for n in checked {
                if let Some(gw) = n.gateway_v4(early_host)
                    && let Some(port) = listen(gw)
                {
                    args.push("--get".into());
                    args.push(format!("gateway:{}={gw}:{port}", n.name));
                }
            }
            // host-gateway maps to the default bridge's address, whatever network the
            // container is on.
            if let Some(gw) = all
                .iter()
                .find(|n| n.name == "bridge")
                .and_then(|b| b.gateway_v4(early_host))
                && let Some(port) = listen(gw)
            {
                args.push("--get".into());
                args.push(format!(
                    "{0}={0}:{port}",
                    crate::protocol::HOST_DOCKER_INTERNAL
                ));
            }
        }
        let outside = if !opts.needs.outside {
            Observed::Skipped {
                reason: "no selected check needs it".into(),
            }
        } else if !local {
            Observed::Skipped {
                reason: "the engine is remote (observed only with --agent)".into(),
            }
        } else if !root {
            Observed::Skipped {
                reason: "creating the outside namespace needs root".into(),
            }
        } else if let Some(h) = host_handle {
            match outside::create(h, &opts.run_id).await {
                Ok(o) => {
                    args.push("--get".into());
                    args.push(format!("{}={}", purpose::OUTSIDE, o.listener.addr));
                    let peer = OutsidePeer {
                        host_addr: IpAddr::V4(o.host_addr),
                        peer_addr: IpAddr::V4(o.peer_addr),
                        host_link: o.host_link.clone(),
                    };
                    *cleanup.outside.lock().unwrap() = Some((h.clone(), o));
                    Observed::Ok { value: peer }
                }
                Err(e) => Observed::Error {
                    error: e.to_string(),
                },
            }
        } else {
            Observed::Error {
                error: "no netlink socket".into(),
            }
        };
        ProbeSetup {
            args,
            outside,
            published,
            run_id: opts.run_id.clone(),
        }
    }
}

impl ProbeSetup {
    /// Drops the published ports and the hairpin request that needs one.
    fn without_published(&mut self) {
        self.published.clear();
        let mut args = vec![];
        let mut words = std::mem::take(&mut self.args).into_iter();
        while let Some(w) = words.next() {
            if w == "--get" {
                match words.next() {
                    Some(spec) if spec.starts_with(purpose::HAIRPIN) => {}
                    Some(spec) => args.extend([w, spec]),
                    None => args.push(w),
                }
            } else {
                args.push(w);
            }
        }
        self.args = args;
    }
}

/// How run_probe's error starts when the engine refused to start the container.
const START_FAILED: &str = "starting the probe container";

/// The engine's error on one line, without the container id it repeats.
fn clean_engine_error(e: &str) -> String {
    let e = e.strip_prefix(START_FAILED).unwrap_or(e);
    let e = e.trim_start_matches(": ");
    let e = e
        .strip_prefix("Docker responded with status code 500: ")
        .unwrap_or(e);
    e.split_whitespace()
        .filter(|w| !(w.len() == 66 && w.starts_with('(') && w.ends_with("):")))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A port that is free on `ip` now (the kernel picks it): the engine binds it next.
fn free_port(ip: IpAddr) -> Option<u16> {
    let l = std::net::TcpListener::bind((ip, 0)).ok()?;
    l.local_addr().ok().map(|a| a.port())
}

/// Creates, attaches and starts the probe container, and reads its report.
async fn run_probe(
    docker: &Docker,
    image: &str,
    name: &str,
    networks: &[String],
    setup: &ProbeSetup,
    host_gateway: bool,
    cleanup: &Cleanup,
) -> Result<ProbeReport, Error> {
    let probe_err = |what: &str| {
        let what = what.to_string();
        move |e: bollard::errors::Error| Error::Probe(format!("{what}: {e}"))
    };
    let mut cmd = vec!["probe".to_string(), "--exit-with-stdin".to_string()];
    cmd.extend(setup.args.iter().cloned());
    let published = &setup.published;
    let primary = &networks[0];
    let body = ContainerCreateBody {
        image: Some(image.to_string()),
        cmd: Some(cmd),
        labels: Some(
            [
                ("netcheck".to_string(), "probe".to_string()),
                (LABEL.to_string(), setup.run_id.clone()),
                (PID_LABEL.to_string(), std::process::id().to_string()),
                (PIDNS_LABEL.to_string(), own_pid_namespace()),
            ]
            .into(),
        ),
        exposed_ports: (!published.is_empty()).then(|| vec![format!("{PROBE_PORT}/tcp")]),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        // The probe's stdin is netcheck's attachment: the engine closes it when the
        // attachment ends (StdinOnce), however netcheck ended, and the probe then exits
        // (--exit-with-stdin) and the engine removes it (AutoRemove).
        attach_stdin: Some(true),
        open_stdin: Some(true),
        stdin_once: Some(true),
        host_config: Some(HostConfig {
            auto_remove: Some(true),
            network_mode: Some(primary.clone()),
            // What a Linux user adds to reach the host by name; Desktop has it built in.
            extra_hosts: host_gateway.then(|| {
                vec![format!(
                    "{}:host-gateway",
                    crate::protocol::HOST_DOCKER_INTERNAL
                )]
            }),
            // The probe only reads and connects: no capability, no writes, no escalation.
            port_bindings: (!published.is_empty()).then(|| {
                [(
                    format!("{PROBE_PORT}/tcp"),
                    Some(
                        published
                            .iter()
                            .map(|p| PortBinding {
                                host_ip: Some(p.host_ip.to_string()),
                                host_port: Some(p.host_port.to_string()),
                            })
                            .collect(),
                    ),
                )]
                .into()
            }),
            readonly_rootfs: Some(true),
            cap_drop: Some(vec!["ALL".into()]),
            security_opt: Some(vec!["no-new-privileges".into()]),
            ..Default::default()
        }),
        networking_config: Some(NetworkingConfig {
            endpoints_config: Some([(primary.clone(), EndpointSettings::default())].into()),
        }),
        ..Default::default()
    };
    // Registered before it exists: an interrupt can land while the engine creates it,
    // and removing a container that never came to be is harmless.
    cleanup
        .containers
        .lock()
        .unwrap()
        .push((docker.clone(), name.to_string()));
    docker
        .create_container(
            Some(CreateContainerOptionsBuilder::new().name(name).build()),
            body,
        )
        .await
        .map_err(probe_err("creating the probe container"))?;
    // API 1.41 takes one network at create time; the others are joined before start.
    for other in &networks[1..] {
        docker
            .connect_network(
                other,
                NetworkConnectRequest {
                    container: name.to_string(),
                    endpoint_config: None,
                },
            )
            .await
            .map_err(probe_err(&format!("connecting the probe to {other}")))?;
    }
    let attach = AttachContainerOptionsBuilder::new()
        .stream(true)
        .stdin(true)
        .stdout(true)
        .stderr(true)
        .build();
    let attached = docker
        .attach_container(name, Some(attach))
        .await
        .map_err(probe_err("attaching to the probe"))?;
    let mut output = attached.output;
    // Held until cleanup: ending the attachment is what ends the probe.
    cleanup
        .attachments
        .lock()
        .unwrap()
        .push(Box::new(attached.input));
    docker
        .start_container(name, None)
        .await
        .map_err(probe_err(START_FAILED))?;

    let mut stdout = Vec::new();
    let mut stderr = String::new();
    let report = loop {
        match output.next().await {
            Some(Ok(bollard::container::LogOutput::StdOut { message })) => {
                stdout.extend_from_slice(&message);
                if let Some(end) = stdout.iter().position(|b| *b == b'\n') {
                    break serde_json::from_slice(&stdout[..end])
                        .map_err(|e| Error::Probe(format!("unreadable probe report: {e}")));
                }
            }
            Some(Ok(other)) => stderr.push_str(&String::from_utf8_lossy(&other.into_bytes())),
            Some(Err(e)) => break Err(Error::Probe(format!("reading the probe's output: {e}"))),
            None => {
                break Err(Error::Probe(format!(
                    "the probe exited without a report: {}",
                    stderr.trim()
                )));
            }
        }
    };
    cleanup.attachments.lock().unwrap().push(Box::new(output));
    report
}

/// Reads each container's namespace from the host (/proc/PID/ns/net), never by exec.
/// The probe reports its own, so it needs neither root nor a local engine.
async fn observe_interiors(
    containers: &mut [ContainerObs],
    probe_netns: Option<&NetnsObs>,
    local: bool,
    root: bool,
) {
    let reads = containers.iter().map(|c| async move {
        if c.probe
            && let Some(ns) = probe_netns
        {
            return Observed::Ok { value: ns.clone() };
        }
        let Some(pid) = c.pid else {
            return Observed::Error {
                error: "the engine reports no pid".into(),
            };
        };
        if !local {
            return Observed::Skipped {
                reason: "the engine is remote (observed only with --agent)".into(),
            };
        }
        if !root {
            return Observed::Skipped {
                reason: "entering a container's namespace needs root".into(),
            };
        }
        let result = async {
            let handle = netlink::connect_in(&format!("/proc/{pid}/ns/net"))?;
            netlink::dump(&handle).await
        }
        .await;
        result.into()
    });
    let observed = futures_util::future::join_all(reads).await;
    for (c, o) in containers.iter_mut().zip(observed) {
        c.interior = o;
        // The resolver the engine gave it, through /proc/PID/root: no exec either.
        if local && root && !c.probe {
            c.resolv_conf = c
                .pid
                .and_then(|pid| host::read(&format!("/proc/{pid}/root/etc/resolv.conf")));
        }
    }
}
