//! A second Docker engine on this machine, standing in for a remote host, a dind service
//! or a Desktop VM: its own network, mount and PID namespaces, reached through a veth
//! pair at 198.19.254.2, over TLS (certificates made here), SSH (an sshd of its own, with
//! keys made here) and a docker context. The recipe is REMOTE.md's.
//!
//! [`RemoteEngine::start`] builds it; its Drop stops that dockerd by PID (never by name:
//! the machine's own dockerd runs beside it) and removes the namespace, the veth pair and
//! every file. The machine's engine, firewall and routes are not touched.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The namespace's name and the veth's host end, unique to this machine: one second
/// engine at a time (the live lock is held while one exists).
pub const NETNS: &str = "netcheck-test-remote";
const VETH_HOST: &str = "nctremoteh";
const VETH_PEER: &str = "nctremotep";
/// A /30 at the top of 198.18.0.0/15, away from where netcheck's own outside peers go
/// first.
pub const HOST_ADDR: &str = "198.19.254.1";
pub const ADDR: &str = "198.19.254.2";
/// The context the harness stores in its own docker config directory.
pub const CONTEXT: &str = "netcheck-test-remote";

pub struct RemoteEngine {
    /// Everything on disk: certificates, keys, configs, the engine's data and /run.
    pub dir: tempfile::TempDir,
    /// `nsenter ... unshare ...`: its only child is the engine, PID 1 of its namespace.
    unshare: Child,
    dockerd: u32,
}

fn run(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn quiet(args: &[&str]) {
    let _ = Command::new(args[0])
        .args(&args[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Removes what a crashed test run left: the namespace (its engine went with its PID
/// namespace when the test process died) and the veth.
fn sweep() {
    quiet(&["ip", "netns", "del", NETNS]);
    quiet(&["ip", "link", "del", VETH_HOST]);
}

impl RemoteEngine {
    pub fn start() -> RemoteEngine {
        sweep();
        let dir = tempfile::Builder::new()
            .prefix("netcheck-test-remote-")
            .tempdir()
            .unwrap();
        let d = dir.path();
        for sub in [
            "run",
            "data",
            "certs",
            "server",
            "ssh",
            "bin",
            "docker-config",
        ] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        make_certs(d);
        make_ssh(d);

        // The network: R's end at .2, a default route via the host's end.
        run(&["ip", "netns", "add", NETNS]);
        run(&[
            "ip", "link", "add", VETH_HOST, "mtu", "1400", "type", "veth", "peer", "name",
            VETH_PEER, "mtu", "1400", "netns", NETNS,
        ]);
        run(&[
            "ip",
            "addr",
            "add",
            &format!("{HOST_ADDR}/30"),
            "dev",
            VETH_HOST,
        ]);
        run(&["ip", "link", "set", VETH_HOST, "up"]);
        let inside = |args: &[&str]| {
            let mut all = vec!["ip", "netns", "exec", NETNS];
            all.extend_from_slice(args);
            run(&all);
        };
        inside(&["ip", "link", "set", "lo", "up"]);
        inside(&["ip", "addr", "add", &format!("{ADDR}/30"), "dev", VETH_PEER]);
        inside(&["ip", "link", "set", VETH_PEER, "up"]);
        inside(&["ip", "route", "add", "default", "via", HOST_ADDR]);

        std::fs::write(
            d.join("daemon.json"),
            // Its containers resolve through the host's end of the veth, where nothing
            // answers: named as the engine's own resolvers, and in its resolv.conf.
            format!(
                r#"{{"storage-driver": "fuse-overlayfs", "mtu": 1400, "dns": ["{HOST_ADDR}"]}}"#
            ),
        )
        .unwrap();
        // The host's resolver, at the host's end of the veth too (the test of a host
        // without one empties it).
        std::fs::write(d.join("resolv.conf"), format!("nameserver {HOST_ADDR}\n")).unwrap();
        let script = d.join("start.sh");
        std::fs::write(&script, start_script(d)).unwrap();
        let log = std::fs::File::create(d.join("dockerd.log")).unwrap();
        let unshare = Command::new("nsenter")
            .arg(format!("--net=/var/run/netns/{NETNS}"))
            .args([
                "unshare",
                "-m",
                "-p",
                "-f",
                "--mount-proc",
                "--propagation",
                "private",
                "sh",
            ])
            .arg(&script)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("nsenter starts");
        let mut engine = RemoteEngine {
            dockerd: 0,
            unshare,
            dir,
        };
        engine.dockerd = engine.wait_ready();
        engine.make_context();
        engine
    }

    /// Waits for the engine to answer on its socket; returns its PID (the unshare's child).
    fn wait_ready(&mut self) -> u32 {
        let t0 = Instant::now();
        let sock = self.socket();
        loop {
            if let Ok(Some(status)) = self.unshare.try_wait() {
                panic!(
                    "the second engine exited ({status}):\n{}",
                    std::fs::read_to_string(self.dir.path().join("dockerd.log"))
                        .unwrap_or_default()
                );
            }
            let ok = Command::new("docker")
                .args(["-H", &format!("unix://{}", sock.display()), "version"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "the second engine did not answer within 60 s:\n{}",
                std::fs::read_to_string(self.dir.path().join("dockerd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        let pid = self.unshare.id();
        let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap();
        children
            .split_whitespace()
            .next()
            .expect("unshare has its child")
            .parse()
            .unwrap()
    }

    /// The engine's socket, as this machine sees it (its /run is a directory of ours).
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("run/docker.sock")
    }

    /// `DOCKER_CERT_PATH` for the client: ca.pem, cert.pem, key.pem.
    pub fn certs(&self) -> PathBuf {
        self.dir.path().join("certs")
    }

    /// A docker config directory holding the context [`CONTEXT`].
    pub fn docker_config(&self) -> PathBuf {
        self.dir.path().join("docker-config")
    }

    /// A directory to put first on PATH: its `ssh` uses the test's keys and known_hosts.
    pub fn ssh_bin(&self) -> PathBuf {
        self.dir.path().join("bin")
    }

    pub fn tcp(&self) -> String {
        format!("tcp://{ADDR}:2376")
    }

    pub fn ssh(&self) -> String {
        format!("ssh://root@{ADDR}")
    }

    /// `docker` against the second engine, through its socket; must succeed.
    pub fn docker(&self, args: &[&str]) -> String {
        let host = format!("unix://{}", self.socket().display());
        let mut all = vec!["docker", "-H", &host];
        all.extend_from_slice(args);
        run(&all)
    }

    /// A command run in the second engine's network namespace, as its host would.
    pub fn inside(&self, args: &[&str]) -> std::process::Output {
        Command::new("nsenter")
            .arg(format!("--net=/var/run/netns/{NETNS}"))
            .args(args)
            .output()
            .unwrap()
    }

    fn make_context(&self) {
        let c = self.certs();
        run(&[
            "docker",
            "--config",
            self.docker_config().to_str().unwrap(),
            "context",
            "create",
            CONTEXT,
            "--docker",
            &format!(
                "host={},ca={},cert={},key={}",
                self.tcp(),
                c.join("ca.pem").display(),
                c.join("cert.pem").display(),
                c.join("key.pem").display()
            ),
        ]);
    }

    /// Everything the second engine holds besides the probe image: containers, and
    /// networks beyond the three built-in ones.
    pub fn leftovers(&self) -> Vec<String> {
        let mut left: Vec<String> = self
            .docker(&["ps", "-aq"])
            .lines()
            .map(|l| format!("container {l}"))
            .collect();
        left.extend(
            self.docker(&["network", "ls", "--format", "{{.Name}}"])
                .lines()
                .filter(|n| !["bridge", "host", "none"].contains(n))
                .map(|n| format!("network {n}")),
        );
        // Links netcheck made in the engine's namespace (the outside peer's veth).
        let links = self.inside(&["ip", "-o", "link"]);
        left.extend(
            String::from_utf8_lossy(&links.stdout)
                .lines()
                .filter(|l| l.contains("netcheck"))
                .map(|l| format!("link {l}")),
        );
        left
    }
}

impl Drop for RemoteEngine {
    fn drop(&mut self) {
        // SIGTERM to the engine by PID: it stops its containers, and its exit ends its
        // PID namespace (sshd, containerd) with it.
        if self.dockerd != 0 {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(self.dockerd as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(20) {
            if let Ok(Some(_)) = self.unshare.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        if !matches!(self.unshare.try_wait(), Ok(Some(_))) && self.dockerd != 0 {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(self.dockerd as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
            let _ = self.unshare.wait();
        }
        sweep();
        // The data root may hold files the engine made read-only; the TempDir removes
        // the rest.
        quiet(&["rm", "-rf", self.dir.path().join("data").to_str().unwrap()]);
    }
}

fn start_script(d: &Path) -> String {
    let p = |s: &str| d.join(s).display().to_string();
    format!(
        r#"set -e
# /sys of this namespace (its own links), and the cgroup v1 hierarchies dockerd needs.
mount -t sysfs sysfs /sys
mount -t tmpfs cgroup /sys/fs/cgroup
for h in cpu cpuacct cpuset memory devices freezer blkio pids; do
  mkdir -p /sys/fs/cgroup/$h
  mount -t cgroup -o $h cgroup /sys/fs/cgroup/$h
done
mkdir -p /sys/fs/cgroup/systemd
mount -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd
# A /run of its own: the socket, containerd and pid files are this engine's.
mount --bind {run} /run
mount --bind {resolv} /etc/resolv.conf
mkdir -p /run/sshd
/usr/sbin/sshd -f {sshd_config} -E {sshd_log}
exec dockerd --config-file {daemon} --data-root {data} \
  -H unix:///var/run/docker.sock -H tcp://{ADDR}:2376 \
  --tlsverify --tlscacert {ca} --tlscert {cert} --tlskey {key}
"#,
        run = p("run"),
        resolv = p("resolv.conf"),
        sshd_config = p("ssh/sshd_config"),
        sshd_log = p("ssh/sshd.log"),
        daemon = p("daemon.json"),
        data = p("data"),
        ca = p("certs/ca.pem"),
        cert = p("server/cert.pem"),
        key = p("server/key.pem"),
    )
}

/// A CA, a server certificate for 198.19.254.2 and a client certificate (clientAuth).
fn make_certs(d: &Path) {
    let p = |s: &str| d.join(s).display().to_string();
    let key = |out: &str| {
        run(&[
            "openssl",
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            out,
        ])
    };
    key(&p("certs/ca-key.pem"));
    run(&[
        "openssl",
        "req",
        "-x509",
        "-new",
        "-key",
        &p("certs/ca-key.pem"),
        "-out",
        &p("certs/ca.pem"),
        "-days",
        "2",
        "-subj",
        "/CN=netcheck-test-ca",
    ]);
    for (who, ext) in [
        (
            "server",
            format!("subjectAltName=IP:{ADDR}\nextendedKeyUsage=serverAuth\n"),
        ),
        ("client", "extendedKeyUsage=clientAuth\n".to_string()),
    ] {
        let dir = if who == "server" { "server" } else { "certs" };
        key(&p(&format!("{dir}/key.pem")));
        run(&[
            "openssl",
            "req",
            "-new",
            "-key",
            &p(&format!("{dir}/key.pem")),
            "-out",
            &p(&format!("{who}.csr")),
            "-subj",
            &format!("/CN=netcheck-test-{who}"),
        ]);
        std::fs::write(d.join(format!("{who}.ext")), ext).unwrap();
        run(&[
            "openssl",
            "x509",
            "-req",
            "-in",
            &p(&format!("{who}.csr")),
            "-CA",
            &p("certs/ca.pem"),
            "-CAkey",
            &p("certs/ca-key.pem"),
            "-CAcreateserial",
            "-out",
            &p(&format!("{dir}/cert.pem")),
            "-days",
            "2",
            "-extfile",
            &p(&format!("{who}.ext")),
        ]);
    }
}

/// The sshd's host key and config, the client's key, known_hosts and config, and an
/// `ssh` wrapper that uses them (ssh reads ~/.ssh from the passwd entry, not $HOME).
fn make_ssh(d: &Path) {
    let p = |s: &str| d.join(s).display().to_string();
    for key in ["ssh/host_key", "ssh/id"] {
        run(&["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", &p(key)]);
    }
    let host_pub = std::fs::read_to_string(d.join("ssh/host_key.pub")).unwrap();
    std::fs::write(d.join("ssh/known_hosts"), format!("{ADDR} {host_pub}")).unwrap();
    std::fs::copy(d.join("ssh/id.pub"), d.join("ssh/authorized_keys")).unwrap();
    std::fs::write(
        d.join("ssh/sshd_config"),
        format!(
            "ListenAddress {ADDR}\nHostKey {hk}\nAuthorizedKeysFile {ak}\nPermitRootLogin prohibit-password\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n\
             PidFile /run/sshd.pid\n",
            hk = p("ssh/host_key"),
            ak = p("ssh/authorized_keys"),
        ),
    )
    .unwrap();
    std::fs::write(
        d.join("ssh/config"),
        format!(
            "Host *\n  IdentityFile {id}\n  IdentitiesOnly yes\n  UserKnownHostsFile {kh}\n  \
             StrictHostKeyChecking yes\n  ConnectTimeout 5\n",
            id = p("ssh/id"),
            kh = p("ssh/known_hosts"),
        ),
    )
    .unwrap();
    let wrapper = d.join("bin/ssh");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec /usr/bin/ssh -F {} \"$@\"\n",
            p("ssh/config")
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
}
