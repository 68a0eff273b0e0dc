//! Who owns what a run leaves on the host (probe containers, nftables tables, helper
//! processes), and whether that owner still runs.
//!
//! An owner is a pid plus that process's start time (field 22 of /proc/PID/stat, in
//! clock ticks since boot). The pair names one process for the life of the boot: a pid
//! reused by another process has another start time. It does not depend on how the
//! binary was started or named (`netcheck`, `docker-netcheck` as a CLI plugin, a copy
//! renamed by a package), as a test of /proc/PID/comm did.
//!
//! Helper processes (`nft monitor trace`, `nft -i`, `iptables-save`, `ssh`) get
//! `PR_SET_PDEATHSIG`, so that the kernel ends them when netcheck dies, even by SIGKILL;
//! and they carry their owner in their environment ([`ENV`]), so that the next run can
//! end any that outlived a netcheck older than this one by the same test.

use std::sync::OnceLock;

/// The environment variable that names a helper process's owner: `PID:START`.
pub const ENV: &str = "NETCHECK_OWNER";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Owner {
    pub pid: u32,
    /// Clock ticks after boot at which the process started.
    pub start: u64,
}

impl Owner {
    /// This process.
    pub fn me() -> Owner {
        static ME: OnceLock<Owner> = OnceLock::new();
        *ME.get_or_init(|| {
            let pid = std::process::id();
            Owner::of(pid).unwrap_or(Owner { pid, start: 0 })
        })
    }

    /// The process running as `pid` now, if any.
    pub fn of(pid: u32) -> Option<Owner> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        Some(Owner {
            pid,
            start: start_time(&stat)?,
        })
    }

    /// Whether this very process still runs (and is no zombie).
    pub fn alive(&self) -> bool {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)) else {
            return false;
        };
        let state = after_comm(&stat).and_then(|f| f.split_whitespace().next());
        start_time(&stat) == Some(self.start) && state != Some("Z")
    }

    /// `PID:START`, for labels and the environment.
    pub fn token(&self) -> String {
        format!("{}:{}", self.pid, self.start)
    }

    pub fn parse(token: &str) -> Option<Owner> {
        let (pid, start) = token.split_once(':')?;
        Some(Owner {
            pid: pid.parse().ok()?,
            start: start.parse().ok()?,
        })
    }
}

/// The fields after `(comm)`: comm may hold spaces and parentheses, so the last `)`
/// ends it.
fn after_comm(stat: &str) -> Option<&str> {
    Some(&stat[stat.rfind(')')? + 1..])
}

/// Field 22, starttime: the 20th after comm (fields 3 onwards follow it).
fn start_time(stat: &str) -> Option<u64> {
    after_comm(stat)?.split_whitespace().nth(19)?.parse().ok()
}

/// Makes a helper process die with netcheck, and carry its owner for the sweep.
///
/// The parent-death signal fires when the thread that forked the child ends; netcheck
/// spawns its helpers from the runtime's worker threads and its main thread, which
/// live as long as the process.
pub fn bind_child(cmd: &mut tokio::process::Command) -> &mut tokio::process::Command {
    let parent = std::process::id() as libc::pid_t;
    cmd.env(ENV, Owner::me().token());
    // SAFETY: prctl, getppid and kill are async-signal-safe, and the closure touches
    // no memory shared with other threads.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // netcheck died between the fork and the prctl: the signal will not come.
            if libc::getppid() != parent {
                libc::kill(libc::getpid(), libc::SIGKILL);
            }
            Ok(())
        })
    }
}

/// The processes this pid namespace shows, with their command names, in ascending pid
/// order (as /proc lists them): one read of `comm` each, for every pass that looks for
/// processes by name.
pub fn processes() -> impl Iterator<Item = (u32, String)> {
    (std::fs::read_dir("/proc").into_iter().flatten())
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
            Some((pid, comm.trim().to_string()))
        })
}

/// Helper processes whose owner is dead (they outlived it: a netcheck older than the
/// parent-death signal, or one whose child escaped it): killed. Their pids.
pub fn sweep_orphans() -> Vec<u32> {
    sweep_orphans_of(|comm| comm.starts_with("nft") || comm.contains("tables") || comm == "ssh")
}

/// [`sweep_orphans`], among the processes whose command name `helper` accepts: only
/// their environment is read.
fn sweep_orphans_of(helper: impl Fn(&str) -> bool) -> Vec<u32> {
    let me = std::process::id();
    processes()
        .filter(|(pid, comm)| *pid != me && helper(comm))
        .map(|(pid, _)| pid)
        .filter(|&pid| {
            let Ok(env) = std::fs::read(format!("/proc/{pid}/environ")) else {
                return false;
            };
            let prefix = format!("{ENV}=");
            let owner = env
                .split(|b| *b == 0)
                .find_map(|var| var.strip_prefix(prefix.as_bytes()))
                .and_then(|v| Owner::parse(std::str::from_utf8(v).ok()?));
            // Only a helper whose owner is proven gone; and never a netcheck itself,
            // which would carry its parent's variable only if a user exported it.
            owner.is_some_and(|o| !o.alive())
                && nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid as i32),
                    nix::sys::signal::Signal::SIGKILL,
                )
                .is_ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_after_a_hostile_comm() {
        let stat = "42 (a) b) (c) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        assert_eq!(start_time(stat), Some(987654));
    }

    /// A process under any name (here `sleep`, as `docker-netcheck` or a renamed
    /// netcheck would be) is alive while it runs, and dead once it ends, even if its pid
    /// came back: the start time tells.
    #[test]
    fn liveness_is_pid_and_start_time_whatever_the_name() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let owner = Owner::of(child.id()).unwrap();
        assert!(owner.alive());
        let reused = Owner {
            start: owner.start + 1,
            ..owner
        };
        assert!(!reused.alive(), "a recycled pid passed for its owner");
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!owner.alive());
        assert!(Owner::me().alive());
        assert_eq!(Owner::parse(&owner.token()), Some(owner));
    }

    /// Run by [`helpers_die_with_their_netcheck`] in a process of its own: spawns a
    /// helper as netcheck does, says its pid, and waits to be killed.
    #[test]
    fn helper_parent() {
        if std::env::var_os("NETCHECK_TEST_HELPER_PARENT").is_none() {
            return;
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let child = bind_child(tokio::process::Command::new("sleep").arg("120"))
                .spawn()
                .unwrap();
            println!("helper {}", child.id().unwrap());
            tokio::time::sleep(std::time::Duration::from_secs(120)).await;
        });
    }

    /// SIGKILL a netcheck with a helper running (as `nft monitor trace` during a
    /// trace): the helper ends with it, and does not live on re-parented.
    #[test]
    fn helpers_die_with_their_netcheck() {
        use std::io::BufRead;
        let mut parent = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "owner::tests::helper_parent", "--nocapture"])
            .env("NETCHECK_TEST_HELPER_PARENT", "1")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let out = std::io::BufReader::new(parent.stdout.take().unwrap());
        let helper: u32 = out
            .lines()
            .find_map(|l| l.ok()?.strip_prefix("helper ")?.parse().ok())
            .expect("the helper's pid");
        let owner = Owner::of(helper).expect("the helper runs");
        let env = std::fs::read(format!("/proc/{helper}/environ")).unwrap();
        let token = format!("{ENV}={}", Owner::of(parent.id()).unwrap().token());
        assert!(
            env.split(|b| *b == 0).any(|v| v == token.as_bytes()),
            "the helper does not carry its owner"
        );
        parent.kill().unwrap();
        parent.wait().unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while owner.alive() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(!owner.alive(), "the helper outlived its netcheck");
    }

    /// A helper that outlived its owner (no parent-death signal: an older netcheck's)
    /// is ended by the sweep; one whose owner runs is left alone.
    #[test]
    fn the_sweep_ends_orphaned_helpers_only() {
        let mut gone = std::process::Command::new("true").spawn().unwrap();
        let dead = Owner::of(gone.id()).unwrap_or(Owner {
            pid: gone.id(),
            start: 1,
        });
        gone.wait().unwrap();
        let spawn = |owner: Owner| {
            std::process::Command::new("sleep")
                .arg("60")
                .env(ENV, owner.token())
                .spawn()
                .unwrap()
        };
        let mut orphan = spawn(dead);
        let mut kept = spawn(Owner::me());
        // The environment is readable once exec is done.
        std::thread::sleep(std::time::Duration::from_millis(100));
        let swept = sweep_orphans_of(|comm| comm == "sleep");
        assert!(swept.contains(&orphan.id()), "{swept:?}");
        assert!(!swept.contains(&kept.id()), "{swept:?}");
        orphan.wait().unwrap();
        assert!(kept.try_wait().unwrap().is_none());
        kept.kill().unwrap();
        kept.wait().unwrap();
    }
}
