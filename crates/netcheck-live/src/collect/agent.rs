//! The host agent: where the engine's network is not this machine's (a remote engine, a
//! Desktop VM, rootless Docker, netcheck in a container), the host-side half of a run is
//! done on the engine's own host, by netcheck's probe image run there as a short-lived
//! container with the host's network and PID namespaces.
//!
//! One collector, two places: the agent enters the host's mount namespace (that of PID
//! 1, which `--pid host` makes the host's init or engine) before any thread exists, and
//! then runs the very [`super::collect`] a local run does, against the engine's own
//! socket. Only the probe container is netcheck's to start, beside the agent, so that
//! the two starts overlap; the agent's messages ([`relay`]) carry the probe's arguments
//! and report, and at the end the snapshot, which netcheck judges and reports where it
//! runs.
//!
//! Its lifetime is bounded three ways: its own deadline, the end of its stdin (the
//! engine closes it when netcheck's attach connection goes, whatever killed netcheck),
//! and netcheck's teardown, which asks it to stop and waits for its removal while it
//! ends the probe. The outside namespace and the listeners die with the agent's process.

use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig};

use super::{Collection, LABEL, PID_LABEL, Teardown};
use netcheck_model::error::Error;
use netcheck_model::snapshot::Snapshot;

mod relay;
mod spec;
pub use relay::{FromAgent, Relay, Reply};
pub use spec::Spec;

/// Agent containers are named `netcheck-agent-<run id>`.
pub const AGENT_PREFIX: &str = "netcheck-agent-";

/// Whether a run may observe the engine's host through the agent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Mode {
    /// Where the engine is the user's own in another namespace (a unix socket whose
    /// bridges are not visible here), with a one-line notice; never for tcp:// or ssh://.
    #[default]
    Auto,
    /// `--agent`: wherever the engine's network is not this machine's.
    On,
    /// `--no-agent`: never.
    Off,
}

/// Whether this run goes through the agent, and the notice to print when it does on
/// its own. `local_socket` is the transport's word; where the engine's network is
/// decides.
pub async fn wanted(
    docker: &Docker,
    local_socket: bool,
    peer: Option<&Peer>,
    mode: Mode,
) -> Option<Option<String>> {
    match (mode, local_socket) {
        (Mode::Off, _) | (Mode::Auto, false) => None,
        (Mode::On, false) => Some(None),
        (Mode::On | Mode::Auto, true) => {
            // A rootless Podman's networks are the user's own namespaces: an agent,
            // privileged on the host, would observe the host, which does not carry
            // them. The run goes on without it, and says so (see `whose_network`).
            // (Rootless Docker's agent shares rootlesskit's namespace, where its bridges
            // and rules are: it goes on as before.)
            if !other_namespace(docker, peer).await || rootless_podman(docker).await {
                return None;
            }
            Some((mode == Mode::Auto).then(|| {
                "note: the engine's network is not this one (rootless Docker, Docker Desktop, or netcheck \
                 in a container): netcheck observes its host from an agent container there (--no-agent refuses)"
                    .to_string()
            }))
        }
    }
}

/// Whether an engine reached through a unix socket lives in another network namespace.
///
/// The process serving the socket says so best: its pid (SO_PEERCRED) and its network
/// namespace under /proc. Where that process is not the engine or is not visible (a
/// socket proxy, as Docker Desktop's; another PID namespace), the engine's bridges
/// decide: none of them visible here means another namespace.
pub async fn other_namespace(docker: &Docker, peer: Option<&Peer>) -> bool {
    match peer {
        Some(Peer { netns_differs, .. }) if *netns_differs => return true,
        // The engine itself answers, here: its bridges are ours to see, and listing the
        // engine's networks and the host's links (thousands on a busy host) to prove it
        // again would cost the run for nothing.
        Some(Peer { engine: true, .. }) => return false,
        _ => {}
    }
    let (Ok(mut networks), Ok(handle)) = (
        super::docker::networks(docker).await,
        crate::net::netlink::connect(),
    ) else {
        return false;
    };
    let Ok(here) = crate::net::netlink::dump(&handle).await else {
        return false;
    };
    // Podman's bridges by their names (a socket systemd holds for it answers as
    // systemd), and only where a container runs: Podman makes them with the first.
    let podman = super::podman::name_bridges(docker, &mut networks, Some(&here)).await;
    let bridges: Vec<&str> = networks
        .iter()
        .filter(|n| n.driver == "bridge" && (!podman || !n.endpoints.is_empty()))
        .map(|n| n.bridge.as_str())
        .collect();
    !bridges.is_empty() && !bridges.iter().any(|b| here.link_by_name(b).is_some())
}

/// Whether the engine is a rootless Podman, as its own facts say.
async fn rootless_podman(docker: &Docker) -> bool {
    super::podman::facts(docker)
        .await
        .is_ok_and(|f| f.rootless())
}

/// The process serving a unix socket, as far as this side can tell.
pub struct Peer {
    /// Whether its network namespace is another than ours.
    pub netns_differs: bool,
    /// Whether it is the engine itself (dockerd, or `podman system service`), not a
    /// proxy in front of it (Docker Desktop's).
    pub engine: bool,
}

/// The process serving `socket` (SO_PEERCRED and /proc); None when that cannot be told.
pub fn peer(socket: &std::path::Path) -> Option<Peer> {
    use std::os::unix::fs::MetadataExt;
    let stream = std::os::unix::net::UnixStream::connect(socket).ok()?;
    let cred =
        nix::sys::socket::getsockopt(&stream, nix::sys::socket::sockopt::PeerCredentials).ok()?;
    if cred.pid() <= 0 {
        return None;
    }
    let theirs = std::fs::metadata(format!("/proc/{}/ns/net", cred.pid())).ok()?;
    let ours = std::fs::metadata("/proc/self/ns/net").ok()?;
    let comm = std::fs::read_to_string(format!("/proc/{}/comm", cred.pid())).unwrap_or_default();
    Some(Peer {
        netns_differs: (theirs.dev(), theirs.ino()) != (ours.dev(), ours.ino()),
        engine: matches!(comm.trim(), "dockerd" | "podman"),
    })
}

/// Normalises an architecture name to Rust's (`std::env::consts::ARCH`).
fn arch(name: &str) -> &str {
    match name {
        "amd64" => "x86_64",
        "arm64" => "aarch64",
        other => other,
    }
}

/// Refuses an engine whose architecture is not this binary's: the agent would fail to
/// start with an exec format error. An engine that does not say is given the benefit of
/// the doubt (a failed start then says what happened).
fn same_arch(theirs: &str) -> Result<(), Error> {
    if theirs.is_empty() || arch(theirs) == std::env::consts::ARCH {
        return Ok(());
    }
    Err(Error::AgentArch {
        engine: theirs.to_string(),
        ours: std::env::consts::ARCH.to_string(),
    })
}

/// The agent's container: the probe image, on the host's network and PID namespaces,
/// with what the host-side collection needs.
fn container(
    image: &str,
    opts: &Collection,
    checked: &[String],
    socket: Option<String>,
) -> ContainerCreateBody {
    ContainerCreateBody {
        image: Some(image.to_string()),
        cmd: Some(vec![
            "agent".into(),
            "--spec".into(),
            serde_json::to_string(&Spec::new(opts, checked, socket)).expect("a spec serialises"),
        ]),
        labels: Some(
            [
                ("netcheck".to_string(), "agent".to_string()),
                (LABEL.to_string(), opts.run_id.clone()),
                (PID_LABEL.to_string(), std::process::id().to_string()),
                (
                    super::OWNER_LABEL.to_string(),
                    crate::owner::Owner::me().token(),
                ),
            ]
            .into(),
        ),
        attach_stdin: Some(true),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        open_stdin: Some(true),
        // The engine closes the agent's stdin when netcheck's attach connection ends.
        stdin_once: Some(true),
        host_config: Some(HostConfig {
            // The host's network and processes, and what a local run as root uses:
            // entering the host's mount namespace and other containers' network
            // namespaces (SYS_ADMIN, SYS_CHROOT, SYS_PTRACE), reading the firewall
            // (NET_ADMIN, NET_RAW), a namespace of its own for the outside peer. Named
            // capabilities rather than --privileged: no devices, and an engine whose
            // own bounding set lacks a capability can still start it.
            network_mode: Some("host".into()),
            pid_mode: Some("host".into()),
            cap_add: Some(
                [
                    "SYS_ADMIN",
                    "SYS_CHROOT",
                    "SYS_PTRACE",
                    "NET_ADMIN",
                    "NET_RAW",
                    "DAC_OVERRIDE",
                    "DAC_READ_SEARCH",
                ]
                .map(String::from)
                .to_vec(),
            ),
            // setns and unshare are outside the default seccomp profile, and AppArmor's
            // docker-default profile forbids mounts and /proc/sys writes.
            security_opt: Some(vec![
                "seccomp=unconfined".into(),
                "apparmor=unconfined".into(),
            ]),
            auto_remove: Some(true),
            readonly_rootfs: Some(true),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The local side: runs the agent on the engine's host and returns what it observed.
///
/// The probe is started from here, beside the agent: the two containers' starts overlap
/// (see [`relay`]).
pub async fn collect(
    docker: &Docker,
    opts: &Collection,
    teardown: &Teardown,
) -> Result<Snapshot, Error> {
    let name = format!("{AGENT_PREFIX}{}", opts.run_id);
    let image = super::image::reference().await?;
    let agent_err =
        |what: &'static str| move |e: bollard::errors::Error| Error::Agent(format!("{what}: {e}"));
    // Registered before it exists: an interrupt can land while the engine creates it.
    teardown
        .agents
        .lock()
        .unwrap()
        .push(super::teardown::AgentRun {
            docker: docker.clone(),
            name: name.clone(),
            stdin: None,
        });
    // The checked networks are named here, since the probe started here joins them.
    // The architecture is asked beside, and checked before anything is made: on an
    // engine of another architecture the agent would start only to fail with an exec
    // format error. The image is looked for beside too, so that the agent and the probe
    // are then created at once.
    let (info, networks, present, podman) = tokio::join!(
        docker.info(),
        super::docker::networks(docker),
        docker.inspect_image(&image),
        // Podman's own facts, where the engine is Podman: the socket it serves on its
        // host, which the agent connects to. Docker's answers this with a 404.
        super::podman::facts(docker),
    );
    let podman = podman.ok();
    let info = info.map_err(|e| Error::Docker {
        what: "info".into(),
        detail: e.to_string(),
    })?;
    same_arch(info.architecture.as_deref().unwrap_or_default())?;
    let networks = networks?;
    let checked = super::checked_networks(opts, &networks)?;
    if present.is_err() {
        // The engine has no probe image of this build yet.
        super::image::ensure(docker).await?;
    }
    let agent_started = async {
        teardown
            .create(
                docker,
                &name,
                container(
                    &image,
                    opts,
                    &checked,
                    podman.as_ref().and_then(|p| p.socket()),
                ),
            )
            .await
            .map_err(agent_err("creating the agent container"))?;
        let attached = super::docker::attach(docker, &name)
            .await
            .map_err(agent_err("attaching to the agent"))?;
        let stdin: super::teardown::AgentStdin =
            std::sync::Arc::new(tokio::sync::Mutex::new(attached.input));
        if let Some(a) = teardown
            .agents
            .lock()
            .unwrap()
            .iter_mut()
            .find(|a| a.name == name)
        {
            a.stdin = Some(stdin.clone());
        }
        docker
            .start_container(&name, None)
            .await
            .map_err(agent_err("starting the agent container"))?;
        Ok::<_, Error>((attached.output, stdin))
    };
    let probe_name = format!("{}{}", super::PROBE_PREFIX, opts.run_id);
    let probe_started = async {
        if !opts.needs.probe {
            return None;
        }
        let on = super::named(&checked, &networks);
        // This process cannot bind on the engine's host to find free ports: they are
        // drawn, and drawn again where the engine finds one taken.
        let published = if opts.needs.publish {
            super::publish::bindings(&on, None, super::publish::drawn_port)
        } else {
            vec![]
        };
        let os = info.operating_system.as_deref().unwrap_or_default();
        let container = super::probe_container::ProbeContainer {
            image: &image,
            name: &probe_name,
            networks: &checked,
            published,
            // Podman knows no host-gateway: it would write the word as the address.
            host_gateway: !super::docker::is_desktop(os) && podman.is_none(),
            owner_pidns: false,
            run_id: &opts.run_id,
        };
        Some(
            super::probe_container::start(docker, container, super::publish::drawn_port, teardown)
                .await,
        )
    };
    let (agent, probe) = tokio::join!(agent_started, probe_started);
    let (output, stdin) = agent?;
    relay::carry(output, &stdin, probe, teardown).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_engines_architecture_names_are_rusts() {
        // `docker info` says x86_64 or aarch64 on Linux; Go's names appear elsewhere.
        assert_eq!(arch("amd64"), "x86_64");
        assert_eq!(arch("arm64"), "aarch64");
        assert_eq!(arch("x86_64"), "x86_64");
        assert_ne!(arch("aarch64"), "x86_64");
    }

    #[test]
    fn another_architecture_is_refused_and_an_unknown_one_is_not() {
        assert!(same_arch(std::env::consts::ARCH).is_ok());
        assert!(same_arch("").is_ok());
        let other = if std::env::consts::ARCH == "s390x" {
            "riscv64"
        } else {
            "s390x"
        };
        match same_arch(other) {
            Err(Error::AgentArch { engine, .. }) => assert_eq!(engine, other),
            r => panic!("{r:?}"),
        }
    }
}
