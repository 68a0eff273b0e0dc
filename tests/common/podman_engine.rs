//! A rootful Podman (Debian's 4.3, netavark 1.4, aardvark-dns) serving its
//! Docker-compatible API in network, mount and PID namespaces of its own, driven through
//! scripts/podman-engine (`start`, `env`, `exec`, `podman`, `stop`). The Podman
//! counterpart of tests/common/test_engine.rs.
//!
//! [`TestPodman::start`] takes the live tests' host lock and holds it while the service
//! exists; its Drop runs `stop`, which ends the service with all its containers and
//! removes its namespace, veth pair and state, whatever failed. Faults are injected inside
//! Podman's own namespace only ([`TestPodman::exec`]): netavark's rules, and the faults
//! put beside them, never reach this machine's own firewall.
//!
//! Two ways netavark differs from Docker that the tests meet:
//! - a network's bridge and rules exist only while a container is attached to it: the
//!   last one leaving removes them, the next one to join makes them again;
//! - any container joining a network (netcheck's own probe included) re-adds whichever of
//!   the network's rules are missing.
//!
//! A missing tool or root is a skip outside CI and a failure in it, where scripts/test
//! installs them (scripts/ensure-docker's `podman`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use super::{LiveLock, Restore, Run, bin, have, in_ci, lock_host, text, uplink_mtu};

/// The netns and the /30 of its uplink. One service at a time (the host lock), so one
/// name will do; the environment may move them away from a developer's own.
const DEFAULT_NS: &str = "ncp20t";
const DEFAULT_NET: &str = "198.18.68.0";

/// Where scripts/podman-engine keeps a service's state (its default PODMAN_DIR's parent).
const STATE_ROOT: &str = "/var/lib/netcheck-test-podman";

/// Commands scripts/podman-engine and Podman run (each from a Debian package that
/// scripts/ensure-docker installs), and helpers Podman finds off PATH.
const TOOLS: [&str; 7] = [
    "podman", "conmon", "iptables", "ip", "nsenter", "unshare", "pgrep",
];
const HELPERS: [&str; 2] = ["/usr/lib/podman/netavark", "/usr/lib/podman/aardvark-dns"];

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/podman-engine")
}

/// Whether a rootful Podman can run here: root, the tools, netavark and aardvark-dns,
/// and an OCI runtime. Outside CI a missing one skips the test, saying why; in CI it
/// fails it.
pub fn podman_available() -> bool {
    let root = nix::unistd::geteuid().is_root();
    let mut missing: Vec<&str> = TOOLS.into_iter().filter(|t| !have(t)).collect();
    missing.extend(HELPERS.into_iter().filter(|h| !Path::new(h).exists()));
    if !have("runc") && !have("crun") {
        missing.push("runc or crun");
    }
    if root && missing.is_empty() {
        return true;
    }
    let why = format!(
        "a rootful Podman needs root (root: {root}) and {missing:?} (run scripts/test, which installs them)"
    );
    assert!(!in_ci(), "{why}");
    eprintln!("skipping: {why}");
    false
}

/// A user network made on Podman, with one long-lived container on it.
#[derive(Clone, Debug)]
pub struct PodmanNet {
    pub name: String,
    pub subnet: String,
    /// Podman's name for its bridge (`podman1`, …), in its own namespace; it exists only
    /// while a container is attached.
    pub bridge: String,
    pub container: String,
}

impl PodmanNet {
    /// The network's gateway: the first address of its subnet, as Podman assigns it.
    pub fn gateway(&self) -> std::net::Ipv4Addr {
        let net: ipnet::Ipv4Net = self.subnet.parse().expect("an IPv4 subnet");
        let first = u32::from(net.network()) + 1;
        first.into()
    }

    pub fn prefix_len(&self) -> u8 {
        let net: ipnet::Ipv4Net = self.subnet.parse().expect("an IPv4 subnet");
        net.prefix_len()
    }
}

pub struct TestPodman {
    pub ns: String,
    pub net: String,
    /// `unix://…/podman.sock`, reachable from the host.
    pub host: String,
    /// The probe image's reference (netcheck loads it into Podman: there is no registry).
    pub image: String,
    pub networks: Vec<PodmanNet>,
    started: Instant,
    /// Whether `shut` has run: `stop` shuts it before its checks, Drop otherwise.
    stopped: bool,
    _lock: LiveLock,
}

impl TestPodman {
    /// Starts the service and loads the probe image; None (the test is skipped, saying
    /// why) where Podman cannot run here. Takes the host lock first.
    pub fn start() -> Option<Self> {
        if !podman_available() {
            return None;
        }
        let lock = lock_host();
        let t0 = Instant::now();
        let ns = std::env::var("NETCHECK_PODMAN_NS").unwrap_or_else(|_| DEFAULT_NS.into());
        let net = std::env::var("NETCHECK_PODMAN_NET").unwrap_or_else(|_| DEFAULT_NET.into());
        // From here the Drop stops whatever `start` left, started or not.
        let mut podman = TestPodman {
            ns,
            net,
            host: String::new(),
            image: String::new(),
            networks: vec![],
            started: t0,
            stopped: false,
            _lock: lock,
        };
        let out = podman.script(&["start"]).output().unwrap();
        if !out.status.success() {
            // The Drop's stop removes the log with the rest of the state: its end, here.
            let log = std::fs::read_to_string(podman.state_dir().join("etc/podman.log"))
                .unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            panic!(
                "podman-engine start: {}\nthe service's log ends:\n{}",
                text(&out),
                tail.join("\n")
            );
        }
        let out = podman.script(&["env"]).output().unwrap();
        let env = String::from_utf8_lossy(&out.stdout).trim().to_string();
        podman.host = env
            .strip_prefix("DOCKER_HOST=")
            .unwrap_or_else(|| panic!("podman-engine env: {env:?}"))
            .to_string();
        let t1 = Instant::now();
        podman.image = super::sh(&[bin(), "-H", &podman.host, "probe-image"]);
        eprintln!(
            "podman up in {:.1} s (the probe image loaded in {:.1} s)",
            t0.elapsed().as_secs_f64(),
            t1.elapsed().as_secs_f64()
        );
        Some(podman)
    }

    /// `scripts/podman-engine ARGS…`, with this service's settings.
    fn script(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(script());
        cmd.args(args)
            .env("PODMAN_NS", &self.ns)
            .env("PODMAN_NET", &self.net)
            .env_remove("PODMAN_DIR");
        cmd
    }

    /// The argv of `podman-engine exec ARGS…`, for a [`Restore`] guard.
    pub fn exec_argv(&self, args: &[&str]) -> Vec<String> {
        let mut argv: Vec<String> = vec![
            "env".into(),
            "-u".into(),
            "PODMAN_DIR".into(),
            format!("PODMAN_NS={}", self.ns),
            format!("PODMAN_NET={}", self.net),
            script().to_str().unwrap().into(),
            "exec".into(),
        ];
        argv.extend(args.iter().map(|s| s.to_string()));
        argv
    }

    /// The argv of `podman-engine podman ARGS…` (the CLI), for a [`Restore`] guard.
    pub fn podman_argv(&self, args: &[&str]) -> Vec<String> {
        let mut argv = self.exec_argv(args);
        let exec = argv
            .iter()
            .position(|a| a == "exec")
            .expect("exec_argv names exec");
        argv[exec] = "podman".into();
        argv
    }

    /// Runs ARGS in the service's namespaces (network, mount and PID).
    pub fn exec(&self, args: &[&str]) -> Output {
        let mut all = vec!["exec"];
        all.extend_from_slice(args);
        self.script(&all).output().unwrap()
    }

    /// Runs ARGS in the service's namespaces; they must succeed. Returns stdout.
    pub fn sh(&self, args: &[&str]) -> String {
        let out = self.exec(args);
        assert!(
            out.status.success(),
            "podman-engine exec {args:?}: {}",
            text(&out)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Runs ARGS in the service's namespaces now, and registers UNDO in `restore`.
    pub fn change(&self, restore: &mut Restore, args: &[&str], undo: &[&str]) {
        let argv = self.exec_argv(undo);
        restore.push(&argv.iter().map(String::as_str).collect::<Vec<_>>());
        self.sh(args);
    }

    /// The host end (in Podman's namespace) of `container`'s eth0 veth.
    pub fn host_veth(&self, container: &str) -> String {
        let pid = self.podman(&["inspect", "-f", "{{.State.Pid}}", container]);
        // Podman reports the PID in its own PID namespace, where `exec` runs.
        let inside = self.sh(&[
            "nsenter", "-t", &pid, "-n", "ip", "-o", "link", "show", "eth0",
        ]);
        let peer = (inside.split("@if").nth(1))
            .and_then(|s| s.split(':').next())
            .expect("eth0@ifN")
            .to_string();
        self.sh(&["ip", "-o", "link", "show"])
            .lines()
            .find(|l| l.starts_with(&format!("{peer}: ")))
            .and_then(|l| l.split(": ").nth(1))
            .map(|n| n.split('@').next().unwrap().to_string())
            .expect("the host end exists in Podman's namespace")
    }

    /// `podman ARGS…` (the remote CLI) against this service; must succeed.
    pub fn podman(&self, args: &[&str]) -> String {
        let mut all = vec!["podman"];
        all.extend_from_slice(args);
        let out = self.script(&all).output().unwrap();
        assert!(out.status.success(), "podman {args:?}: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// A bridge network `netcheck-test-<tag>` with the uplink's MTU (Podman's default
    /// would be 1500) and one container on it: the probe image, lingering.
    pub fn network(&mut self, tag: &str) -> PodmanNet {
        self.network_with(tag, &[])
    }

    /// A user network as [`Self::network`], created with `extra` arguments too
    /// (`--opt isolate=true`, `--internal`).
    pub fn network_with(&mut self, tag: &str, extra: &[&str]) -> PodmanNet {
        let t0 = Instant::now();
        let name = format!("netcheck-test-{tag}");
        let mtu = format!("mtu={}", uplink_mtu());
        let mut args = vec![
            "network",
            "create",
            "--label",
            "netcheck.test=1",
            "--opt",
            &mtu,
        ];
        args.extend_from_slice(extra);
        args.push(&name);
        self.podman(&args);
        let container = self.container(&name, &format!("{name}-c"));
        let subnet = self
            .podman(&[
                "network",
                "inspect",
                "--format",
                "{{range .Subnets}}{{.Subnet}} {{end}}",
                &name,
            ])
            .split_whitespace()
            .find(|s| !s.contains(':'))
            .unwrap_or_default()
            .to_string();
        let bridge = self.podman(&[
            "network",
            "inspect",
            "--format",
            "{{.NetworkInterface}}",
            &name,
        ]);
        let net = PodmanNet {
            name,
            subnet,
            bridge,
            container,
        };
        self.networks.push(net.clone());
        eprintln!(
            "network {} ({}, {}) and its container: {:.1} s",
            net.name,
            net.subnet,
            net.bridge,
            t0.elapsed().as_secs_f64()
        );
        net
    }

    /// A long-lived container `name` on `network`: the probe image, lingering, read-only
    /// and with no capabilities (as tests/common/test_engine.rs makes them).
    pub fn container(&self, network: &str, name: &str) -> String {
        self.podman(&super::lingering(network, name, &self.image));
        name.to_string()
    }

    /// netcheck run inside the service's namespaces, as on Podman's own host. Network,
    /// mount and PID namespaces, not the network namespace alone: the container PIDs
    /// Podman reports are those of its PID namespace (netcheck enters their network
    /// namespaces by them), and /sys must be a sysfs of Podman's network namespace.
    pub fn run_local(&self, args: &[&str]) -> Run {
        let t0 = Instant::now();
        let dir = super::tempdir();
        let json = dir.path().join("report.json");
        let mut all = vec![
            "exec",
            bin(),
            "-H",
            &self.host,
            "--json",
            json.to_str().unwrap(),
        ];
        all.extend_from_slice(args);
        // NO_COLOR, which `run` sets, passes through nsenter.
        let run = super::run(&mut self.script(&all), Some(&json));
        eprintln!("local run {args:?}: {:.1} s", t0.elapsed().as_secs_f64());
        run
    }

    /// netcheck run from this machine, observing Podman's host with its agent (the
    /// agent's host namespaces are then Podman's).
    pub fn run_agent(&self, args: &[&str]) -> Run {
        super::agent_run(&self.host, args)
    }

    /// Stops the service (its Drop), then checks that nothing of it is left on this
    /// machine: its netns, the host end of its uplink, its state directory, a mount or
    /// a process of it.
    pub fn stop(mut self) -> Result<(), String> {
        let (ns, dir) = (self.ns.clone(), self.state_dir());
        // Stopped with the host lock still held (it goes with `self`, at the end): the
        // next test's engine, of the same names, must not start while this one's
        // leftovers are looked for.
        self.shut();
        let mut left = vec![];
        if super::sh(&["ip", "netns", "list"])
            .lines()
            .any(|l| l.split_whitespace().next() == Some(ns.as_str()))
        {
            left.push(format!("netns {ns}"));
        }
        let veth = format!("{ns}h");
        if Command::new("ip")
            .args(["link", "show", &veth])
            .output()
            .is_ok_and(|o| o.status.success())
        {
            left.push(format!("link {veth}"));
        }
        if dir.exists() {
            left.push(format!("{}", dir.display()));
        }
        let dir_text = dir.to_str().unwrap();
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        left.extend(
            mounts
                .lines()
                .filter(|l| l.contains(dir_text))
                .map(|l| format!("mount {l}")),
        );
        // Processes whose command line names the state directory: the service, conmons.
        let procs = Command::new("pgrep")
            .args(["-a", "-f", dir_text])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        left.extend(procs.lines().map(|l| format!("process {l}")));
        if left.is_empty() {
            Ok(())
        } else {
            Err(format!("left behind by podman-engine stop: {left:?}"))
        }
    }

    /// scripts/podman-engine's state directory of this service (PODMAN_DIR unset).
    fn state_dir(&self) -> PathBuf {
        Path::new(STATE_ROOT).join(&self.ns)
    }
}

impl TestPodman {
    /// Ends the engine and removes what it made (once).
    fn shut(&mut self) {
        if std::mem::replace(&mut self.stopped, true) {
            return;
        }
        // No need to remove the containers first (as TestEngine must, for dockerd's grace
        // period): the service's PID namespace ends, and every container with it.
        let t0 = Instant::now();
        match self.script(&["stop"]).output() {
            Ok(out) if !out.status.success() => eprintln!("podman-engine stop: {}", text(&out)),
            Err(e) => eprintln!("podman-engine stop: {e}"),
            Ok(_) => {}
        }
        eprintln!(
            "podman stopped in {:.1} s, {:.1} s after its start",
            t0.elapsed().as_secs_f64(),
            self.started.elapsed().as_secs_f64()
        );
    }
}

impl Drop for TestPodman {
    fn drop(&mut self) {
        self.shut();
    }
}
