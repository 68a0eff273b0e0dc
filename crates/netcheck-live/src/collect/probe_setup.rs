//! What the probe is to reach, made while it starts: netcheck's listeners on the
//! bridges' gateways (and host-gateway's), the outside peer, and the probe's arguments
//! naming them.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use super::{Collection, PROBE_PORT, PROBE_PREFIX, Teardown, outside};
use crate::net::listener;
use netcheck_model::protocol::{Ask, ProbeArgs, Purpose};
use netcheck_model::snapshot::{NetnsObs, NetworkObs, Observed, OutsidePeer};

/// What phase 1 of a collection found, as the probe's run needs it.
pub(super) struct Found<'a> {
    pub(super) engine: &'a netcheck_model::snapshot::EngineFacts,
    /// Every network the engine has.
    pub(super) networks: &'a [NetworkObs],
    pub(super) checked_names: &'a [String],
    pub(super) checked: &'a [&'a NetworkObs],
    /// The host's netlink view before the probe, where this process shares the engine's
    /// host.
    pub(super) early_host: Option<&'a NetnsObs>,
    pub(super) host_handle: Option<&'a rtnetlink::Handle>,
    pub(super) root: bool,
    /// Whether this process shares the engine's host.
    pub(super) local: bool,
    /// The containers that stand in for the probe on the networks it does not join.
    pub(super) stand_ins: &'a [super::stand_ins::Chosen],
}

impl Found<'_> {
    /// The networks the probe joins: every checked one but those with a stand-in.
    pub(super) fn probe_networks(&self) -> Vec<String> {
        (self.checked_names.iter())
            .filter(|n| !self.stand_ins.iter().any(|s| s.network == **n))
            .cloned()
            .collect()
    }
}

/// The listeners and the outside peer the probe will reach, and its arguments (all but
/// the hairpin, which follows the published ports).
pub(super) struct ProbeSetup {
    pub(super) args: ProbeArgs,
    pub(super) outside: Observed<OutsidePeer>,
}

impl ProbeSetup {
    pub(super) async fn prepare(
        opts: &Collection,
        found: &Found<'_>,
        teardown: &Teardown,
    ) -> ProbeSetup {
        let Found {
            engine,
            networks: all,
            checked,
            early_host,
            local,
            stand_ins,
            ..
        } = *found;
        let mut args = ProbeArgs {
            timeout_ms: opts.probe_timeout.as_millis() as u64,
            lookups: vec![
                netcheck_model::protocol::HOST_DOCKER_INTERNAL.into(),
                "gateway.docker.internal".into(),
            ],
            // Desktop's resolver answers these names itself; nothing leaves the machine.
            dns: engine.desktop,
            ..ProbeArgs::default()
        };
        args.extend(opts.suite_probe_args.clone());
        // The probe's own name is the one name the embedded DNS surely knows: asking for
        // any other could send the query on to the host's upstream servers.
        args.embedded_dns
            .push(format!("{PROBE_PREFIX}{}", opts.run_id));
        // Podman's DNS server (aardvark-dns) answers at the gateway of each network
        // that has DNS; the probe asks the one its resolv.conf names.
        if engine.is_podman() {
            args.lookups
                .push(netcheck_model::protocol::HOST_CONTAINERS_INTERNAL.into());
            args.engine_dns = (checked.iter())
                .flat_map(|n| &n.ipam)
                .filter_map(|c| c.gateway)
                .collect();
        }
        if opts.needs.publish || opts.needs.peers {
            args.listen_port = Some(PROBE_PORT);
        }
        let mut ports: BTreeMap<IpAddr, u16> = BTreeMap::new();
        // `port` 0: any free one.
        let mut listen_on = |ip: IpAddr, port: u16| -> Option<u16> {
            if let Some(p) = ports.get(&ip) {
                return Some(*p);
            }
            let l = match engine.is_podman() {
                true => listener::bind_ahead(ip, port),
                false => listener::bind(ip),
            }
            .ok()?;
            let port = l.addr.port();
            teardown.listeners.lock().unwrap().push(l);
            ports.insert(ip, port);
            Some(port)
        };
        let podman = engine.is_podman();
        let joined: Vec<&&NetworkObs> = (checked.iter())
            .filter(|n| !stand_ins.iter().any(|s| s.network == n.name))
            .collect();
        // Podman maps its own name for the host, host.containers.internal, to the
        // gateway of one of the container's networks (whichever its map gives first),
        // and knows no host-gateway: one port on every gateway of the probe's networks,
        // then, answers whichever it is.
        let mut host_name_port = None;
        if local && podman {
            for gw in joined.iter().filter_map(|n| n.gateway_v4(early_host)) {
                let port = listen_on(gw, host_name_port.unwrap_or(0));
                host_name_port = host_name_port.or(port);
            }
        }
        let mut listen = |ip: IpAddr| listen_on(ip, 0);
        if local {
            // The probe asks its own networks' gateways; a stand-in asks its own.
            for n in &joined {
                if let Some(gw) = n.gateway_v4(early_host)
                    && let Some(port) = listen(gw)
                {
                    let target = SocketAddr::new(gw, port);
                    args.gets.push(Ask::new(Purpose::gateway(&n.name), target));
                }
            }
            // host-gateway maps to the default bridge's address, whatever network the
            // container is on.
            let port = match podman {
                true => host_name_port,
                false => (all.iter().find(|n| n.name == "bridge"))
                    .and_then(|b| b.gateway_v4(early_host))
                    .and_then(&mut listen),
            };
            let name = match podman {
                true => netcheck_model::protocol::HOST_CONTAINERS_INTERNAL,
                false => netcheck_model::protocol::HOST_DOCKER_INTERNAL,
            };
            if let Some(port) = port {
                args.gets.push(Ask::new(
                    Purpose::HostDockerInternal,
                    format!("{name}:{port}"),
                ));
            }
        }
        let outside = outside_peer(opts, found, teardown, &mut args).await;
        ProbeSetup { args, outside }
    }
}

/// The outside peer, where a selected check needs it and it can be made here (root,
/// this host's engine), and the probe's request to it added to `args`.
async fn outside_peer(
    opts: &Collection,
    found: &Found<'_>,
    teardown: &Teardown,
    args: &mut ProbeArgs,
) -> Observed<OutsidePeer> {
    let Found {
        checked,
        host_handle,
        root,
        local,
        ..
    } = *found;
    if !opts.needs.outside {
        Observed::Skipped {
            reason: "no selected check needs it".into(),
        }
    } else if !local {
        Observed::Skipped {
            reason: "the engine's network is not this host's (a remote engine's is observed only with --agent; a rootless one's is the user's own)".into(),
        }
    } else if !root {
        Observed::Skipped {
            reason: "creating the outside namespace needs root".into(),
        }
    } else if let Some(h) = host_handle {
        let v6 = checked.iter().any(|n| n.enable_ipv6);
        match outside::create(h, &opts.run_id, v6).await {
            Ok(o) => {
                args.gets.push(Ask::new(Purpose::Outside, o.listener.addr));
                let peer = OutsidePeer {
                    host_addr: IpAddr::V4(o.host_addr),
                    peer_addr: IpAddr::V4(o.peer_addr),
                    host_link: o.host_link.clone(),
                    v6: o
                        .v6
                        .as_ref()
                        .ok()
                        .map(|v6| netcheck_model::snapshot::OutsideV6 {
                            host_addr: IpAddr::V6(v6.host_addr),
                            peer_addr: IpAddr::V6(v6.peer_addr),
                            port: v6.listener.addr.port(),
                        }),
                    v6_missing: o.v6.as_ref().err().cloned(),
                };
                *teardown.outside.lock().unwrap() = Some((h.clone(), o));
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
    }
}
