//! A current Docker engine (29.7.2 or 28.5.2) from ../shared/engines, in network, mount
//! and PID namespaces of its own beside the machine's engine, driven through the folder's
//! own `engine.sh` (`engine_start`, `engine_env`, `engine_exec`, `engine_stop`).
//!
//! [`TestEngine::start`] takes the live tests' host lock and holds it while the engine
//! exists; its Drop runs `engine_stop`, which ends the engine and removes its namespace,
//! veth pair and state, whatever failed. Faults are injected inside the engine's own
//! namespace only ([`TestEngine::exec`]): the machine's own firewall is never touched.
//!
//! Where the folder is absent (a clone without the shared tree beside it) the tests say
//! so and skip; a missing tool the engines need is a skip outside CI and a failure in
//! it, where `scripts/test` installs them (scripts/ensure-docker's `engines`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use serde_json::Value;

use super::{LiveLock, Restore, Run, bin, have, in_ci, lock_host, text, uplink_mtu};

/// The netns and the /30 of its uplink. One engine at a time (the host lock), so one
/// name will do; the environment may move them away from a developer's own engines.
const DEFAULT_NS: &str = "ncm20t";
const DEFAULT_NET: &str = "198.18.64.0";

/// Tools `engine.sh` runs, each with the Debian package scripts/ensure-docker installs.
const TOOLS: [&str; 10] = [
    "containerd",
    "ip",
    "pgrep",
    "xz",
    "nft",
    "iptables",
    "ip6tables",
    "nsenter",
    "unshare",
    "docker",
];

/// ../shared/engines beside the repository (read-only in CI; nothing is written there).
pub fn engines_dir() -> PathBuf {
    std::env::var_os("NETCHECK_ENGINES_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/engines"))
}

/// Whether the engines can run here. None (the test is skipped, saying why) where the
/// shared folder is absent, or, outside CI, without root or a tool the engines need.
pub fn engines_available() -> Option<PathBuf> {
    let dir = engines_dir();
    if !dir.join("engine.sh").exists() {
        eprintln!(
            "skipping: no Docker engines to test against: {} is absent (set NETCHECK_ENGINES_DIR)",
            dir.join("engine.sh").display()
        );
        return None;
    }
    let root = nix::unistd::geteuid().is_root();
    let missing: Vec<&str> = TOOLS.into_iter().filter(|t| !have(t)).collect();
    if !root || !missing.is_empty() {
        let why = format!(
            "the engines of {} need root (root: {root}) and {missing:?} (run scripts/test, which installs them)",
            dir.display()
        );
        assert!(!in_ci(), "{why}");
        eprintln!("skipping: {why}");
        return None;
    }
    Some(dir)
}

/// A bridge network made on the engine, with one long-lived container on it.
#[derive(Clone, Debug)]
pub struct EngineNet {
    pub name: String,
    pub subnet: String,
    /// Its IPv6 subnet, where it has one.
    pub subnet6: Option<String>,
    pub bridge: String,
    pub container: String,
}

pub struct TestEngine {
    /// The engines folder: engine.sh and the binaries.
    dir: PathBuf,
    pub ns: String,
    pub net: String,
    pub version: &'static str,
    /// `unix://…/docker.sock`, reachable from the host.
    pub host: String,
    /// The probe image's reference (netcheck imports it into the engine).
    pub image: String,
    pub networks: Vec<EngineNet>,
    started: Instant,
    /// Whether `shut` has run: `stop` shuts it before its checks, Drop otherwise.
    stopped: bool,
    _lock: LiveLock,
}

impl TestEngine {
    /// Starts `version` (28 or 29) with `daemon` as its daemon.json (the uplink's MTU is
    /// added where it names none), forwarding on at start when `forwarding`, and loads
    /// the probe image. Takes the host lock first.
    pub fn start(dir: PathBuf, version: &'static str, daemon: Value, forwarding: bool) -> Self {
        let lock = lock_host();
        let t0 = Instant::now();
        let ns = std::env::var("NETCHECK_ENGINE_NS").unwrap_or_else(|_| DEFAULT_NS.into());
        let net = std::env::var("NETCHECK_ENGINE_NET").unwrap_or_else(|_| DEFAULT_NET.into());
        let state = tempfile::Builder::new()
            .prefix("netcheck-test-engine-")
            .tempdir()
            .unwrap()
            .keep();
        let mut daemon = daemon;
        if daemon.get("mtu").is_none() {
            daemon["mtu"] = uplink_mtu().into();
        }
        let json = state.join("daemon.json");
        std::fs::write(&json, daemon.to_string()).unwrap();
        let engine = TestEngine {
            dir,
            ns,
            net,
            version,
            host: String::new(),
            image: String::new(),
            networks: vec![],
            started: t0,
            stopped: false,
            _lock: lock,
        };
        let fwd = if forwarding { "1" } else { "0" };
        let out = engine
            .script("engine_start \"$@\"", &[version, json.to_str().unwrap()])
            .env("ENGINE_FWD", fwd)
            .output()
            .unwrap();
        let _ = std::fs::remove_dir_all(&state);
        // From here the Drop stops whatever engine_start left, started or not.
        let mut engine = engine;
        assert!(
            out.status.success(),
            "engine_start {version} {daemon}: {}",
            text(&out)
        );
        let env =
            String::from_utf8_lossy(&engine.script("engine_env", &[]).output().unwrap().stdout)
                .trim()
                .to_string();
        engine.host = env
            .strip_prefix("DOCKER_HOST=")
            .unwrap_or_else(|| panic!("engine_env: {env:?}"))
            .to_string();
        engine.image = super::sh(&[bin(), "-H", &engine.host, "probe-image"]);
        eprintln!(
            "engine {version} {daemon} up in {:.1} s",
            t0.elapsed().as_secs_f64()
        );
        engine
    }

    /// `bash -c 'source engine.sh; BODY' engine.sh ARGS…`, with this engine's settings.
    fn script(&self, body: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new("bash");
        cmd.arg("-c")
            .arg(format!(
                "source {}/engine.sh && {body}",
                shlex::try_quote(self.dir.to_str().unwrap()).unwrap()
            ))
            .arg("engine.sh")
            .args(args)
            .env("ENGINE_NS", &self.ns)
            .env("ENGINE_NET", &self.net)
            .env_remove("ENGINE_DIR");
        cmd
    }

    /// The argv of `engine_exec ARGS…`, for a [`Restore`] guard.
    pub fn exec_argv(&self, args: &[&str]) -> Vec<String> {
        let mut argv: Vec<String> = [
            "env",
            &format!("ENGINE_NS={}", self.ns),
            &format!("ENGINE_NET={}", self.net),
            "bash",
            "-c",
            &format!(
                "source {}/engine.sh && engine_exec \"$@\"",
                shlex::try_quote(self.dir.to_str().unwrap()).unwrap()
            ),
            "engine.sh",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        argv.extend(args.iter().map(|s| s.to_string()));
        argv
    }

    /// Runs ARGS in the engine's namespaces (`engine_exec`).
    pub fn exec(&self, args: &[&str]) -> Output {
        self.script("engine_exec \"$@\"", args).output().unwrap()
    }

    /// Runs ARGS in the engine's namespaces; they must succeed. Returns stdout.
    pub fn sh(&self, args: &[&str]) -> String {
        let out = self.exec(args);
        assert!(out.status.success(), "engine_exec {args:?}: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Runs ARGS in the engine's namespaces now, and registers UNDO in `restore`.
    pub fn change(&self, restore: &mut Restore, args: &[&str], undo: &[&str]) {
        let argv = self.exec_argv(undo);
        restore.push(&argv.iter().map(String::as_str).collect::<Vec<_>>());
        self.sh(args);
    }

    /// `docker ARGS…` against this engine; must succeed.
    pub fn docker(&self, args: &[&str]) -> String {
        let mut all = vec!["docker", "-H", &self.host];
        all.extend_from_slice(args);
        super::sh(&all)
    }

    /// A bridge network `netcheck-test-<tag>` (MTU 1400, the uplink's, unless `flags`
    /// set one) with one container on it: the probe image, lingering.
    pub fn network(&mut self, tag: &str, flags: &[&str]) -> EngineNet {
        let t0 = Instant::now();
        let name = format!("netcheck-test-{tag}");
        let mut create = vec!["network", "create", "--label", "netcheck.test=1"];
        let mtu = format!("com.docker.network.driver.mtu={}", uplink_mtu());
        if !flags.iter().any(|f| f.contains("driver.mtu")) {
            create.extend(["-o", &mtu]);
        }
        create.extend_from_slice(flags);
        create.push(&name);
        let id = self.docker(&create);
        let container = self.container(&name, &format!("{name}-c"));
        let subnets = self.docker(&[
            "network",
            "inspect",
            "-f",
            "{{range .IPAM.Config}}{{.Subnet}} {{end}}",
            &name,
        ]);
        let subnet = subnets
            .split_whitespace()
            .find(|s| !s.contains(':'))
            .unwrap_or_default()
            .to_string();
        let subnet6 = subnets
            .split_whitespace()
            .find(|s| s.contains(':'))
            .map(str::to_string);
        let net = EngineNet {
            name,
            subnet,
            subnet6,
            bridge: format!("br-{}", &id[..12]),
            container,
        };
        self.networks.push(net.clone());
        eprintln!(
            "network {} and its container: {:.1} s",
            net.name,
            t0.elapsed().as_secs_f64()
        );
        net
    }

    /// A long-lived container `name` on `network`: the probe image, lingering, read-only
    /// and with no capabilities.
    pub fn container(&self, network: &str, name: &str) -> String {
        self.docker(&super::lingering(network, name, &self.image));
        name.to_string()
    }

    /// netcheck run inside the engine's namespaces, as on the engine's own host.
    pub fn run_local(&self, args: &[&str]) -> Run {
        let t0 = Instant::now();
        let dir = super::tempdir();
        let json = dir.path().join("report.json");
        let mut all = vec![bin(), "-H", &self.host, "--json", json.to_str().unwrap()];
        all.extend_from_slice(args);
        let run = super::run(&mut self.script("engine_exec \"$@\"", &all), Some(&json));
        eprintln!("local run {args:?}: {:.1} s", t0.elapsed().as_secs_f64());
        run
    }

    /// netcheck run from this machine, observing the engine's host with its agent.
    pub fn run_agent(&self, args: &[&str]) -> Run {
        super::agent_run(&self.host, args)
    }

    /// `netcheck collect -o PATH ARGS` inside the engine's namespaces; must succeed.
    pub fn collect(&self, path: &Path, args: &[&str]) {
        let mut all = vec![
            bin(),
            "-H",
            &self.host,
            "collect",
            "-o",
            path.to_str().unwrap(),
        ];
        all.extend_from_slice(args);
        self.sh(&all);
    }

    /// The host-side veth of a container, in the engine's namespace.
    pub fn host_veth(&self, container: &str) -> String {
        let pid = self.docker(&["inspect", "-f", "{{.State.Pid}}", container]);
        // The engine reports the PID in its own PID namespace.
        let inside = self.sh(&[
            "nsenter", "-t", &pid, "-n", "ip", "-o", "link", "show", "eth0",
        ]);
        let peer = inside
            .split("@if")
            .nth(1)
            .and_then(|s| s.split(':').next())
            .expect("eth0@ifN")
            .to_string();
        self.sh(&["ip", "-o", "link", "show"])
            .lines()
            .find(|l| l.starts_with(&format!("{peer}: ")))
            .and_then(|l| l.split(": ").nth(1))
            .map(|n| n.split('@').next().unwrap().to_string())
            .expect("the host end exists in the engine's namespace")
    }
}

impl TestEngine {
    /// Stops the engine (its Drop), then checks that nothing of it is left on this
    /// machine: its netns, the host end of its uplink, its state directory.
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
        for sub in ["data", "run"] {
            if dir.join(sub).exists() {
                left.push(format!("{}", dir.join(sub).display()));
            }
        }
        if left.is_empty() {
            Ok(())
        } else {
            Err(format!("left behind by engine_stop: {left:?}"))
        }
    }

    /// engine.sh's state directory of this engine (its default, ENGINE_DIR unset).
    fn state_dir(&self) -> PathBuf {
        Path::new("/var/lib/netcheck-test-engines").join(&self.ns)
    }
}

impl TestEngine {
    /// Ends the engine and removes what it made (once).
    fn shut(&mut self) {
        if std::mem::replace(&mut self.stopped, true) {
            return;
        }
        let t0 = Instant::now();
        // The lingering containers would each hold dockerd's stop for its 10 s grace
        // period: removed with SIGKILL first, bounded in case the engine hangs.
        if !self.host.is_empty() {
            let host = shlex::try_quote(&self.host).unwrap().into_owned();
            let _ = Command::new("sh")
                .arg("-c")
                .arg(format!(
                    "ids=$(timeout 10 docker -H {host} ps -aq) && [ -n \"$ids\" ] && timeout 20 docker -H {host} rm -f $ids"
                ))
                .output();
        }
        let out = self.script("engine_stop", &[]).output();
        if let Ok(out) = out
            && !out.status.success()
        {
            eprintln!("engine_stop: {}", text(&out));
        }
        eprintln!(
            "engine {} stopped in {:.1} s, {:.1} s after its start",
            self.version,
            t0.elapsed().as_secs_f64(),
            self.started.elapsed().as_secs_f64()
        );
    }
}

impl Drop for TestEngine {
    fn drop(&mut self) {
        self.shut();
    }
}
