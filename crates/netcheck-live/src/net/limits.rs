//! File descriptors: how many netcheck may hold, and how many connections it opens at
//! once.
//!
//! The soft RLIMIT_NOFILE of a shell or a systemd unit is 1024, and Rust, unlike Go's
//! runtime, does not raise it. A host with many networks makes bridge.icc open a socket
//! (and accept one) per pair it tests: under 1024 those fail with "Too many open files".
//! So netcheck raises the soft limit to the hard one at start, and bounds the
//! connections it has open at once by what the limit leaves.

/// Connections at once where the limit allows it: more would not make a run faster,
/// the engine's bridges answer in microseconds.
pub const CONNECTIONS_AT_ONCE: usize = 256;

/// Descriptors kept free for everything else a run opens (netlink, the engine's
/// socket, namespace files, listeners, report files).
const RESERVED: u64 = 128;

/// Raises the soft limit on open files to the hard limit. Returns the soft limit now.
pub fn raise_nofile() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit write and read the struct passed, nothing else.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim.rlim_cur = lim.rlim_max;
            }
        }
    }
    lim.rlim_cur
}

/// The soft limit on open files.
pub fn nofile() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct passed, nothing else.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 1024;
    }
    lim.rlim_cur
}

/// Descriptors open now.
fn open_now() -> u64 {
    std::fs::read_dir("/proc/self/fd").map_or(64, |d| d.count() as u64)
}

/// How many connections to netcheck's own listeners may be open at once: each holds
/// two descriptors here (the connecting socket and the accepted one), beside what is
/// open already and a reserve. At least one, at most [`CONNECTIONS_AT_ONCE`].
pub fn connections_at_once() -> usize {
    budget(nofile(), open_now())
}

/// The most sockets bridge.icc's connections hold at once where the limit allows it:
/// one round of them on a host of a few hundred networks.
pub const SOCKETS_AT_ONCE: usize = 1024;

/// How many connections that are expected to be dropped may be open at once: one
/// descriptor each, since a dropped connection is never accepted. The few that get
/// through hold a second one for the moment of their answer; where none is free then,
/// netcheck's listener takes them from its backlog a moment later (listener.rs), and
/// they get their answer then.
pub fn sockets_at_once() -> usize {
    let free = nofile().saturating_sub(open_now()).saturating_sub(RESERVED);
    (free as usize).clamp(1, SOCKETS_AT_ONCE)
}

fn budget(limit: u64, open: u64) -> usize {
    let free = limit.saturating_sub(open).saturating_sub(RESERVED);
    ((free / 2) as usize).clamp(1, CONNECTIONS_AT_ONCE)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_budget_fits_the_limit() {
        assert_eq!(super::budget(1 << 20, 40), super::CONNECTIONS_AT_ONCE);
        // A shell's 1024 with 700 open already: what is left, halved.
        assert_eq!(super::budget(1024, 700), (1024 - 700 - 128) / 2);
        assert_eq!(super::budget(64, 100), 1);
    }
}
