//! The probe container's life: created on every checked network with its published
//! ports, started, then given its arguments (the listeners and the outside peer it is to
//! reach, made while it starts) and read.
//!
//! The arguments go in on stdin, not on the command line: the container starts while
//! they are still being made, here or (with the agent) on the engine's host, and the two
//! halves of the wait overlap.

use super::*;

/// The listeners and the outside peer the probe will reach, and its arguments (all but
/// the hairpin, which follows the published ports).
pub(super) struct ProbeSetup {
    pub(super) args: ProbeArgs,
    pub(super) outside: Observed<OutsidePeer>,
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
        ProbeSetup { args, outside }
    }
}

/// The probe container as it is created: everything but its arguments.
pub struct ProbeContainer<'a> {
    pub image: &'a str,
    pub name: &'a str,
    /// The networks it joins; the first one carries its default route.
    pub networks: &'a [String],
    /// The ports it is published on (port.publish), picked again where one is taken.
    pub published: Vec<crate::snapshot::Published>,
    /// Whether `host.docker.internal` is added as a Linux user would (Desktop has it).
    pub host_gateway: bool,
    /// Whether the probe is labelled with this process's pid namespace, which tells the
    /// leftovers sweep on the engine's host that the owner pid is one of its own. Not
    /// for another machine's engine: the first pid namespace looks the same on every
    /// host, and a sweep there would take this run's pid for one of its dead.
    pub owner_pidns: bool,
    pub run_id: &'a str,
}

/// A started probe, waiting for its arguments on stdin.
pub struct Running {
    name: String,
    attached: bollard::container::AttachContainerResults,
}

/// What starting the probe came to.
pub struct Started {
    pub probe: Running,
    /// The ports it is published on: those picked last, or none where the engine could
    /// not publish them.
    pub published: Vec<crate::snapshot::Published>,
    /// Why the engine could not publish them (port.publish's verdict to give).
    pub publish_error: Option<String>,
}

/// Starts the probe: picks its ports again where one was taken, and starts it without
/// them where the engine cannot publish (its chains are gone), so that the rest of the
/// run goes on.
pub async fn start(
    docker: &Docker,
    mut container: ProbeContainer<'_>,
    pick: publish::Pick,
    teardown: &Teardown,
) -> Result<Started, Error> {
    let mut publish_error = None;
    let mut repicks = 0;
    loop {
        match start_once(docker, &container, teardown).await {
            Ok(probe) => {
                return Ok(Started {
                    probe,
                    published: container.published,
                    publish_error,
                });
            }
            // Something bound a picked port before the engine could: pick again.
            Err(Error::Probe(e)) if publish::port_taken(&e) && repicks < publish::ATTEMPTS => {
                repicks += 1;
                let _ = remove_probe(docker, container.name).await;
                publish::repick(&mut container.published, pick);
            }
            Err(Error::Probe(e))
                if !container.published.is_empty() && e.starts_with(publish::START_FAILED) =>
            {
                let _ = remove_probe(docker, container.name).await;
                publish_error = Some(publish::clean_engine_error(&e));
                container.published.clear();
            }
            Err(e) => return Err(e),
        }
    }
}

fn probe_err(what: &str) -> impl FnOnce(bollard::errors::Error) -> Error {
    let what = what.to_string();
    move |e| Error::Probe(format!("{what}: {e}"))
}

/// Creates, attaches and starts the probe container.
async fn start_once(
    docker: &Docker,
    container: &ProbeContainer<'_>,
    teardown: &Teardown,
) -> Result<Running, Error> {
    let ProbeContainer {
        image,
        name,
        networks,
        published,
        host_gateway,
        run_id,
        owner_pidns,
    } = container;
    let cmd = ["probe", "--args-on-stdin"].map(String::from).to_vec();
    let primary = &networks[0];
    let body = ContainerCreateBody {
        image: Some(image.to_string()),
        cmd: Some(cmd),
        labels: Some(
            [
                ("netcheck".to_string(), "probe".to_string()),
                (LABEL.to_string(), run_id.to_string()),
                (PID_LABEL.to_string(), std::process::id().to_string()),
            ]
            .into_iter()
            .chain(owner_pidns.then(|| (PIDNS_LABEL.to_string(), own_pid_namespace())))
            .collect(),
        ),
        exposed_ports: (!published.is_empty()).then(|| vec![format!("{PROBE_PORT}/tcp")]),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        // The probe's stdin is netcheck's attachment: its arguments come in on it, and
        // the engine closes it when the attachment ends (StdinOnce), however netcheck
        // ended, and the probe then exits and the engine removes it (AutoRemove).
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
            // The probe only reads and connects: no capability, no writes, no escalation.
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
    // Once: a start that is tried again with new ports is the same probe.
    {
        let mut probes = teardown.probes.lock().unwrap();
        if !probes.iter().any(|p| p.name == *name) {
            probes.push(teardown::ProbeRun {
                docker: docker.clone(),
                name: name.to_string(),
                stdin: None,
            });
        }
    }
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
    docker
        .start_container(name, None)
        .await
        .map_err(probe_err(publish::START_FAILED))?;
    Ok(Running {
        name: name.to_string(),
        attached,
    })
}

impl Running {
    /// Gives the probe its arguments and reads its report. The attachment is then held
    /// until the teardown: ending it is what ends the probe.
    pub async fn report(self, args: &ProbeArgs, teardown: &Teardown) -> Result<ProbeReport, Error> {
        use tokio::io::AsyncWriteExt;
        let bollard::container::AttachContainerResults {
            mut input,
            mut output,
        } = self.attached;
        let line = serde_json::to_string(args).expect("probe arguments serialise") + "\n";
        // A probe that cannot take them has exited: its output says why, below.
        let _ = async {
            input.write_all(line.as_bytes()).await?;
            input.flush().await
        }
        .await;
        if let Some(p) = teardown
            .probes
            .lock()
            .unwrap()
            .iter_mut()
            .find(|p| p.name == self.name)
        {
            p.stdin = Some(input);
        }
        let report = match super::output::Lines::default().next(&mut output).await {
            Ok(line) => serde_json::from_slice(&line)
                .map_err(|e| Error::Probe(format!("unreadable probe report: {e}"))),
            Err(e) => Err(Error::Probe(e.said("probe", "a report"))),
        };
        teardown.attachments.lock().unwrap().push(Box::new(output));
        report
    }
}
