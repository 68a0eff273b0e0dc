//! The probe container's life: what it is given (listeners, the outside peer, published
//! ports, its arguments), then created on every checked network, started, and read.

use super::*;

/// The listeners and the outside peer the probe will reach, and its arguments.
pub(super) struct ProbeSetup {
    pub(super) args: ProbeArgs,
    pub(super) outside: Observed<OutsidePeer>,
    /// The probe's port bindings (port.publish).
    pub(super) published: Vec<crate::snapshot::Published>,
    pub(super) run_id: String,
}

impl ProbeSetup {
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn prepare(
        opts: &Options,
        checked: &[&NetworkObs],
        all: &[NetworkObs],
        early_host: Option<&NetnsObs>,
        host_handle: Option<&rtnetlink::Handle>,
        root: bool,
        local: bool,
        engine: &crate::snapshot::EngineFacts,
        teardown: &Teardown,
    ) -> ProbeSetup {
        let mut args = ProbeArgs {
            timeout_ms: opts.probe_timeout.as_millis() as u64,
            lookups: vec![
                crate::protocol::HOST_DOCKER_INTERNAL.into(),
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
        if opts.needs.publish || opts.needs.peers {
            args.listen_port = Some(PROBE_PORT);
        }
        let mut published = vec![];
        if opts.needs.publish && local {
            // Published on loopback (for the host) and on the gateway of the probe's
            // network (for the hairpin from inside): never on a wildcard, so nothing
            // is exposed beyond this machine. The ports are picked here, because the
            // probe must know the hairpin's before it starts; a port taken between the
            // pick and the engine's bind is picked again (see `repick_published`).
            let gateway = checked.first().and_then(|n| n.gateway_v4(early_host));
            for ip in [Some(IpAddr::from([127, 0, 0, 1])), gateway]
                .into_iter()
                .flatten()
            {
                if let Some(port) = publish_port(ip) {
                    published.push(crate::snapshot::Published {
                        host_ip: ip,
                        host_port: port,
                        container_port: PROBE_PORT,
                    });
                    if !ip.is_loopback() {
                        let target = std::net::SocketAddr::new(ip, port);
                        args.gets.push(Ask::new(Purpose::Hairpin, target));
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
            teardown.listeners.lock().unwrap().push(l);
            ports.insert(ip, port);
            Some(port)
        };
        if local {
            for n in checked {
                if let Some(gw) = n.gateway_v4(early_host)
                    && let Some(port) = listen(gw)
                {
                    let target = std::net::SocketAddr::new(gw, port);
                    args.gets.push(Ask::new(Purpose::gateway(&n.name), target));
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
                let target = format!("{}:{port}", crate::protocol::HOST_DOCKER_INTERNAL);
                args.gets
                    .push(Ask::new(Purpose::HostDockerInternal, target));
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
                    args.gets.push(Ask::new(Purpose::Outside, o.listener.addr));
                    let peer = OutsidePeer {
                        host_addr: IpAddr::V4(o.host_addr),
                        peer_addr: IpAddr::V4(o.peer_addr),
                        host_link: o.host_link.clone(),
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
    pub(super) fn without_published(&mut self) {
        self.published.clear();
        self.args.gets.retain(|ask| ask.purpose != Purpose::Hairpin);
    }
}

impl ProbeSetup {
    /// Picks new ports for the same bindings, and tells the hairpin request its new one.
    pub(super) fn repick_published(&mut self) {
        for p in &mut self.published {
            let Some(port) = publish_port(p.host_ip) else {
                continue;
            };
            let old = std::net::SocketAddr::new(p.host_ip, p.host_port).to_string();
            let new = std::net::SocketAddr::new(p.host_ip, port).to_string();
            for ask in &mut self.args.gets {
                if ask.purpose == Purpose::Hairpin && ask.target == old {
                    ask.target = new.clone();
                }
            }
            p.host_port = port;
        }
    }
}

/// How run_probe's error starts when the engine refused to start the container.
pub(super) const START_FAILED: &str = "starting the probe container";

/// The engine's error on one line, without the container id it repeats.
pub(super) fn clean_engine_error(e: &str) -> String {
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

/// A port that is free on `ip` now, for the engine to bind next.
///
/// It is drawn below the kernel's ephemeral range: a port the kernel handed out and
/// this process released goes straight back into that range, where any socket bound
/// to port 0 meanwhile (a concurrent run's listener, for one) can take it before the
/// engine binds it. Below the range only another explicit pick can collide, and that
/// is retried.
fn publish_port(ip: IpAddr) -> Option<u16> {
    use rand::Rng;
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let range = PUBLISH_PORT_FLOOR..low.max(PUBLISH_PORT_FLOOR + 1000);
    let mut rng = rand::rng();
    (0..32)
        .map(|_| rng.random_range(range.clone()))
        .find(|&port| std::net::TcpListener::bind((ip, port)).is_ok())
        .or_else(|| {
            let l = std::net::TcpListener::bind((ip, 0)).ok()?;
            l.local_addr().ok().map(|a| a.port())
        })
}

/// The lowest port picked for publishing: above the well-known and most registered
/// services' ports.
const PUBLISH_PORT_FLOOR: u16 = 10000;

/// Whether the engine refused to start the probe because a published port was taken.
pub(super) fn port_taken(e: &str) -> bool {
    e.starts_with(START_FAILED) && e.contains("address already in use")
}

/// Creates, attaches and starts the probe container, and reads its report.
pub(super) async fn run_probe(
    docker: &Docker,
    image: &str,
    name: &str,
    networks: &[String],
    setup: &ProbeSetup,
    host_gateway: bool,
    teardown: &Teardown,
) -> Result<ProbeReport, Error> {
    let probe_err = |what: &str| {
        let what = what.to_string();
        move |e: bollard::errors::Error| Error::Probe(format!("{what}: {e}"))
    };
    let args = ProbeArgs {
        exit_with_stdin: true,
        ..setup.args.clone()
    };
    let cmd = std::iter::once("probe".to_string())
        .chain(args.to_argv())
        .collect();
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
    teardown
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
    let attached = docker::attach(docker, name)
        .await
        .map_err(probe_err("attaching to the probe"))?;
    let mut output = attached.output;
    // Held until the teardown: ending the attachment is what ends the probe.
    teardown
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
    teardown.attachments.lock().unwrap().push(Box::new(output));
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ephemeral_low() -> u16 {
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    }

    #[test]
    fn published_ports_are_drawn_below_the_ephemeral_range() {
        let lo = IpAddr::from([127, 0, 0, 1]);
        for _ in 0..20 {
            let port = publish_port(lo).unwrap();
            assert!(
                (PUBLISH_PORT_FLOOR..ephemeral_low()).contains(&port),
                "{port}"
            );
        }
    }

    #[test]
    fn a_repicked_port_reaches_the_hairpin_request() {
        let gw = IpAddr::from([127, 0, 0, 1]);
        let hairpin = |port: u16| Ask::new(Purpose::Hairpin, std::net::SocketAddr::new(gw, port));
        let other = Ask::new(Purpose::Outside, "198.18.0.2:12345");
        let mut setup = ProbeSetup {
            args: ProbeArgs {
                gets: vec![hairpin(12345), other.clone()],
                ..ProbeArgs::default()
            },
            outside: Observed::Skipped {
                reason: "test".into(),
            },
            published: vec![crate::snapshot::Published {
                host_ip: gw,
                host_port: 12345,
                container_port: PROBE_PORT,
            }],
            run_id: "test".into(),
        };
        setup.repick_published();
        let port = setup.published[0].host_port;
        assert_eq!(setup.args.gets, [hairpin(port), other]);
    }

    #[test]
    fn a_taken_port_is_told_apart_from_other_start_failures() {
        assert!(port_taken(&format!(
            "{START_FAILED}: Docker responded with status code 500: driver failed programming \\
             external connectivity on endpoint p (x): Error starting userland proxy: listen \\
             tcp4 172.17.0.1:36361: bind: address already in use"
        )));
        assert!(!port_taken(&format!(
            "{START_FAILED}: iptables failed: iptables --wait -t nat -A DOCKER: No chain"
        )));
    }
}
