//! The probe container's life: created on every checked network with its published
//! ports, started, then given its arguments (the listeners and the outside peer it is to
//! reach, made while it starts: see `probing`) and read.
//!
//! The arguments go in on stdin, not on the command line: the container starts while
//! they are still being made, here or (with the agent) on the engine's host, and the two
//! halves of the wait overlap.

use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, EndpointSettings, HostConfig, NetworkConnectRequest, NetworkingConfig,
    PortBinding,
};
use futures_util::StreamExt;

use super::{
    LABEL, PID_LABEL, PIDNS_LABEL, PROBE_PORT, Teardown, docker, own_pid_namespace, publish,
    remove_probe, teardown,
};
use netcheck_model::error::Error;
use netcheck_model::protocol::ProbeArgs;
use netcheck_model::snapshot::ProbeReport;

/// The probe container as it is created: everything but its arguments.
pub struct ProbeContainer<'a> {
    pub image: &'a str,
    pub name: &'a str,
    /// The networks it joins; the first one carries its default route.
    pub networks: &'a [String],
    /// The ports it is published on (port.publish), picked again where one is taken.
    pub published: Vec<netcheck_model::snapshot::Published>,
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
    pub published: Vec<netcheck_model::snapshot::Published>,
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
    let ProbeContainer { name, networks, .. } = container;
    let at_create = all_at_create(docker);
    let body = create_body(container, at_create);
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
    teardown
        .create(docker, name, body)
        .await
        .map_err(probe_err("creating the probe container"))?;
    if !at_create {
        join_networks(docker, name, &networks[1..]).await?;
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

/// The probe's create request: its labels (run, owner), its stdin as netcheck's
/// attachment, its published ports, no privileges, and its networks (all of them where
/// the engine takes them at create, `at_create`; else the first).
fn create_body(container: &ProbeContainer<'_>, at_create: bool) -> ContainerCreateBody {
    let ProbeContainer {
        image,
        networks,
        published,
        host_gateway,
        run_id,
        owner_pidns,
        ..
    } = container;
    let cmd = ["probe", "--args-on-stdin"].map(String::from).to_vec();
    let primary = &networks[0];
    ContainerCreateBody {
        image: Some(image.to_string()),
        cmd: Some(cmd),
        labels: Some(
            [
                ("netcheck".to_string(), "probe".to_string()),
                (LABEL.to_string(), run_id.to_string()),
                (PID_LABEL.to_string(), std::process::id().to_string()),
                (
                    super::OWNER_LABEL.to_string(),
                    crate::owner::Owner::me().token(),
                ),
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
                    netcheck_model::protocol::HOST_DOCKER_INTERNAL
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
        // The probe's default route on the network netcheck intends: the highest
        // GwPriority wins (API 1.48 and later; older engines ignore the field and fall
        // back to the networks' names, which the judges read from the probe). API 1.44
        // (Docker 25) takes every network at create time; older engines take the one of
        // NetworkMode, and the others are joined before start (below). They are given
        // no endpoint settings: the only one would be the GwPriority they ignore, and
        // Podman's compatible API refuses the default network there by its Docker name.
        networking_config: at_create.then(|| NetworkingConfig {
            endpoints_config: Some(
                networks
                    .iter()
                    .enumerate()
                    .map(|(i, n)| {
                        let settings = EndpointSettings {
                            gw_priority: (i == 0).then_some(1),
                            ..Default::default()
                        };
                        (n.clone(), settings)
                    })
                    .collect(),
            ),
        }),
        ..Default::default()
    }
}

/// Whether the engine takes all of the probe's networks in its create request: API 1.44
/// (Docker 25) and later. Older engines refuse more than one there.
fn all_at_create(docker: &Docker) -> bool {
    let v = docker.client_version();
    (v.major_version, v.minor_version) >= (1, 44)
}

/// Connect requests in flight at once. The engine records each in the created
/// container's configuration under the container's lock, so more would only queue there;
/// a few hide the round trips (about 80 ms each, one by one, on a busy host).
const JOINS_AT_ONCE: usize = 8;

/// Joins the created (not yet started) probe to `networks`, a few at a time. Their order
/// does not matter: the engine joins them all at start, and picks the default route by
/// GwPriority or, before API 1.48, by the networks' names, never by connect order.
async fn join_networks(docker: &Docker, name: &str, networks: &[String]) -> Result<(), Error> {
    bounded(networks, JOINS_AT_ONCE, |other| async move {
        docker
            .connect_network(
                other,
                NetworkConnectRequest {
                    container: name.to_string(),
                    endpoint_config: None,
                },
            )
            .await
            .map_err(probe_err(&format!("connecting the probe to {other}")))
    })
    .await
}

/// Runs `f` on every item, at most `limit` at once, and stops at the first error.
async fn bounded<'a, T, F, Fut>(items: &'a [T], limit: usize, f: F) -> Result<(), Error>
where
    F: Fn(&'a T) -> Fut,
    Fut: std::future::Future<Output = Result<(), Error>>,
{
    use futures_util::TryStreamExt;
    futures_util::stream::iter(items.iter().map(f))
        .buffer_unordered(limit.max(1))
        .try_collect()
        .await
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// The probe's connects: never more than the bound in flight, every network joined.
    #[tokio::test]
    async fn joins_are_bounded_and_all_done() {
        let networks: Vec<String> = (0..40).map(|i| format!("n{i}")).collect();
        let (now, most, done) = (
            AtomicUsize::new(0),
            AtomicUsize::new(0),
            AtomicUsize::new(0),
        );
        bounded(&networks, 8, |_| async {
            let in_flight = now.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(in_flight, Ordering::SeqCst);
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            now.fetch_sub(1, Ordering::SeqCst);
            done.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(done.load(Ordering::SeqCst), 40);
        assert_eq!(most.load(Ordering::SeqCst), 8);
    }

    #[tokio::test]
    async fn a_failed_join_fails_the_start() {
        let networks: Vec<String> = (0..5).map(|i| format!("n{i}")).collect();
        let r = bounded(&networks, 2, |n| async move {
            if n == "n3" {
                Err(Error::Probe(format!("connecting the probe to {n}")))
            } else {
                Ok(())
            }
        })
        .await;
        assert!(matches!(r, Err(Error::Probe(e)) if e.ends_with("n3")));
    }
}
