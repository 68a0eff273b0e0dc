//! Breaking the host in a guarded way, for the live tests: throw-away networks and
//! containers, iptables rules and sysctls undone on drop, and the check that nothing is
//! left behind. Everything is named `netcheck-test-*` or labelled `netcheck.test`.

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

use ipnet::Ipv4Net;

use super::{bin, sh, text};

/// Starts a long-lived container named `name`: the probe image, lingering, read-only
/// and with no capabilities, plus `docker run` flags and `netcheck probe` arguments.
pub fn run_sleeper(name: &str, docker_flags: &[&str], probe_args: &[&str]) {
    let _ = Command::new("docker").args(["rm", "-f", name]).output();
    let run = |image: &str| {
        let mut run = vec![
            "run",
            "-d",
            "--name",
            name,
            "--read-only",
            "--cap-drop",
            "ALL",
        ];
        run.extend_from_slice(docker_flags);
        run.extend([image, "probe", "--linger-secs", "600"]);
        run.extend_from_slice(probe_args);
        Command::new("docker").args(&run).output().unwrap()
    };
    let mut out = run(&probe_image(false));
    if !out.status.success() {
        // The image may be gone (a test ran `cleanup --images`): import it again.
        let _ = Command::new("docker").args(["rm", "-f", name]).output();
        out = run(&probe_image(true));
    }
    assert!(out.status.success(), "docker run {name}: {}", text(&out));
}

/// The probe image's name, imported if missing. Asked of the binary once per test
/// binary (it hashes itself: most of a second on a debug build, per container before),
/// and again when `refresh`: after a `docker run` that failed.
pub fn probe_image(refresh: bool) -> String {
    static IMAGE: Mutex<Option<String>> = Mutex::new(None);
    let mut image = IMAGE.lock().unwrap_or_else(|e| e.into_inner());
    if refresh || image.is_none() {
        *image = Some(sh(&[bin(), "probe-image"]));
    }
    image.clone().unwrap()
}

/// `tool -t TABLE -I CHAIN 1 RULE…`, tagged with the comment `netcheck-test` (a
/// leftover is recognisable), and deleted by `restore`. `tool` is iptables, ip6tables
/// or another backend's iptables; the tag may follow the target (`-j …`), since
/// iptables-save prints matches before the target whatever the order given.
pub fn insert_rule(restore: &mut Restore, tool: &str, table: &str, chain: &str, rule: &[&str]) {
    let tag = ["-m", "comment", "--comment", "netcheck-test"];
    sh(&[&[tool, "-t", table, "-I", chain, "1"][..], rule, &tag].concat());
    restore.push(&[&[tool, "-t", table, "-D", chain][..], rule, &tag].concat());
}

/// Commands run on drop, in reverse order: how a test puts the host back.
#[derive(Default)]
pub struct Restore(pub Vec<Vec<String>>);

impl Restore {
    pub fn push(&mut self, args: &[&str]) {
        self.0.push(args.iter().map(|s| s.to_string()).collect());
    }
}

impl Drop for Restore {
    fn drop(&mut self) {
        for args in self.0.iter().rev() {
            let _ = Command::new(&args[0]).args(&args[1..]).output();
        }
    }
}

/// Sets a sysctl, with its old value registered in `restore`.
pub fn set_sysctl(restore: &mut Restore, name: &str, value: &str) {
    let before = sh(&["sysctl", "-n", name]);
    restore.push(&["sysctl", "-qw", &format!("{name}={before}")]);
    sh(&["sysctl", "-qw", &format!("{name}={value}")]);
}

/// A throw-away bridge network, removed (with its containers) on drop.
pub struct TestNet {
    pub name: String,
    pub subnet: Ipv4Net,
    pub gateway: Ipv4Addr,
    pub bridge: String,
    containers: Vec<String>,
}

impl TestNet {
    /// Deletes Docker's MASQUERADE rule of this network from nat POSTROUTING; `restore`
    /// puts it back.
    pub fn delete_masquerade(&self, restore: &mut Restore) {
        let subnet = self.subnet.to_string();
        let rule = [
            "POSTROUTING",
            "-s",
            &subnet,
            "!",
            "-o",
            &self.bridge,
            "-j",
            "MASQUERADE",
        ];
        super::sh(&[&["iptables", "-t", "nat", "-D"][..], &rule].concat());
        restore.push(&[&["iptables", "-t", "nat", "-A"][..], &rule].concat());
    }

    pub fn new(tag: &str) -> TestNet {
        TestNet::named(&format!("netcheck-test-{tag}"), &[])
    }

    /// A network of a given name (`netcheck-*`), with extra `docker network create` flags.
    pub fn named(name: &str, flags: &[&str]) -> TestNet {
        let name = name.to_string();
        assert!(
            name.starts_with("netcheck-"),
            "test objects carry the netcheck prefix"
        );
        // A leftover from a killed run would make create fail.
        let _ = Command::new("docker")
            .args(["network", "rm", &name])
            .output();
        let mut create = vec!["docker", "network", "create", "--label", "netcheck.test=1"];
        // A careful user's network: its MTU fits the uplink (link.mtu checks that), as
        // the daemon's "mtu" setting does only for the default bridge.
        let mtu = format!("com.docker.network.driver.mtu={}", uplink_mtu());
        if !flags.iter().any(|f| f.contains("driver.mtu")) {
            create.extend(["-o", mtu.as_str()]);
        }
        create.extend_from_slice(flags);
        create.push(&name);
        let id = sh(&create);
        let subnet: Ipv4Net = sh(&[
            "docker",
            "network",
            "inspect",
            "-f",
            "{{(index .IPAM.Config 0).Subnet}}",
            &name,
        ])
        .parse()
        .unwrap();
        // With --subnet and no --gateway, IPAM lists none: the engine takes the first host.
        let gateway: Ipv4Addr = sh(&[
            "docker",
            "network",
            "inspect",
            "-f",
            "{{(index .IPAM.Config 0).Gateway}}",
            &name,
        ])
        .parse()
        .unwrap_or_else(|_| subnet.hosts().next().unwrap());
        TestNet {
            name,
            subnet,
            gateway,
            bridge: format!("br-{}", &id[..12]),
            containers: vec![],
        }
    }

    /// Starts a long-lived container on the network: the probe image, lingering.
    pub fn sleeper(&mut self, tag: &str) -> String {
        let name = format!("{}-{tag}", self.name);
        self.container(&name, &[])
    }

    /// `count` sleepers (`<network>-c0`, …), started four at a time: the engine
    /// attaches containers to one network in parallel, and a start is mostly waiting.
    pub fn sleepers(&mut self, count: usize) {
        let names: Vec<String> = (0..count).map(|i| format!("{}-c{i}", self.name)).collect();
        // Registered first, so that a failed start still removes the others on drop.
        self.containers.extend(names.iter().cloned());
        let flags = ["--label", "netcheck.test=1", "--network", &self.name];
        for batch in names.chunks(4) {
            std::thread::scope(|s| {
                for name in batch {
                    s.spawn(|| run_sleeper(name, &flags, &[]));
                }
            });
        }
    }

    /// A long-lived container named `name`; `probe_args` go to its `netcheck probe`
    /// (`--listen-port 8080` makes it serve HTTP on its own addresses).
    pub fn container(&mut self, name: &str, probe_args: &[&str]) -> String {
        let flags = ["--label", "netcheck.test=1", "--network", &self.name];
        run_sleeper(name, &flags, probe_args);
        self.containers.push(name.to_string());
        name.to_string()
    }

    /// A long-lived container named `name`, created with extra `docker run` flags.
    pub fn container_with(&mut self, name: &str, docker_flags: &[&str]) -> String {
        let mut flags = vec!["--label", "netcheck.test=1", "--network", &self.name];
        flags.extend_from_slice(docker_flags);
        run_sleeper(name, &flags, &[]);
        self.containers.push(name.to_string());
        name.to_string()
    }

    /// Drops what this network sends to docker0's address (where host-gateway points),
    /// as a host firewall would; the returned guard deletes the rule.
    pub fn drop_input_to_docker0(&self) -> Restore {
        let addr = sh(&["ip", "-4", "-o", "addr", "show", "dev", "docker0"]);
        let host_ip = addr
            .split_whitespace()
            .nth(3)
            .and_then(|a| a.split('/').next())
            .expect("docker0 has an address")
            .to_string();
        let mut restore = Restore::default();
        let subnet = self.subnet.to_string();
        insert_rule(
            &mut restore,
            "iptables",
            "filter",
            "INPUT",
            &["-s", &subnet, "-d", &host_ip, "-j", "DROP"],
        );
        restore
    }

    /// A container's host-side veth, read from its namespace (`eth0@ifN`).
    pub fn host_veth(&self, container: &str) -> String {
        let pid = sh(&["docker", "inspect", "-f", "{{.State.Pid}}", container]);
        let inside = sh(&[
            "nsenter", "-t", &pid, "-n", "ip", "-o", "link", "show", "eth0",
        ]);
        let peer = inside
            .split("@if")
            .nth(1)
            .and_then(|s| s.split(':').next())
            .expect("eth0@ifN");
        let host = sh(&["ip", "-o", "link", "show"]);
        host.lines()
            .find(|l| l.starts_with(&format!("{peer}: ")))
            .and_then(|l| l.split(": ").nth(1))
            .map(|n| n.split('@').next().unwrap().to_string())
            .expect("the host end exists")
    }
}

impl Drop for TestNet {
    fn drop(&mut self) {
        // One at a time: `docker rm` of many at once removes them in parallel, and the
        // engine's count of a network's endpoints can then stay above zero, so the
        // network cannot be removed until the daemon restarts (seen on Docker 20.10
        // under load; which of the two caused it is not known).
        for c in &self.containers {
            let _ = Command::new("docker").args(["rm", "-f", c]).output();
        }
        let _ = Command::new("docker")
            .args(["network", "rm", &self.name])
            .output();
    }
}

/// The MTU of the host's uplink: the device of its IPv4 default route.
pub fn uplink_mtu() -> u32 {
    let route = sh(&["ip", "-4", "route", "show", "default"]);
    let dev = route
        .split_whitespace()
        .skip_while(|w| *w != "dev")
        .nth(1)
        .expect("the host has a default route");
    std::fs::read_to_string(format!("/sys/class/net/{dev}/mtu"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Nothing netcheck or a test created is left on the host.
pub fn assert_no_leftovers() {
    let containers = sh(&[
        "docker",
        "ps",
        "-a",
        "--filter",
        "label=netcheck.run",
        "--format",
        "{{.Names}}",
    ]);
    assert!(
        containers.is_empty(),
        "probe containers left behind: {containers}"
    );
    let networks = sh(&["docker", "network", "ls", "--format", "{{.Name}}"]);
    let leaked: Vec<&str> = networks
        .lines()
        .filter(|n| n.contains("netcheck"))
        .collect();
    assert!(leaked.is_empty(), "networks left behind: {leaked:?}");
    let links = sh(&["ip", "-o", "link", "show"]);
    let leaked: Vec<&str> = links.lines().filter(|l| l.contains(": netcheck")).collect();
    assert!(leaked.is_empty(), "links left behind: {leaked:?}");
    for save in ["iptables-save", "iptables-legacy-save"] {
        let Ok(out) = Command::new(save).output() else {
            continue;
        };
        let rules = String::from_utf8_lossy(&out.stdout);
        assert!(
            !rules.contains("netcheck"),
            "firewall rules left behind ({save})"
        );
    }
}

/// Captures a fixture snapshot under the current host state, when asked to
/// (`NETCHECK_CAPTURE_FIXTURES=1`): fixtures come from the same fault injection as the tests.
pub fn capture_fixture(name: &str, args: &[&str]) {
    if std::env::var_os("NETCHECK_CAPTURE_FIXTURES").is_none() {
        return;
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(format!("{name}.json"));
    collect_to(&path, args);
}

/// Runs `netcheck collect -o PATH ARGS`, which must succeed, and returns the snapshot.
pub fn collect_to(path: &Path, args: &[&str]) -> String {
    let out = Command::new(bin())
        .arg("collect")
        .arg("-o")
        .arg(path)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "collect: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(path).unwrap()
}
