//! Each container's interior (links, addresses, routes) as its own network namespace
//! holds it, read from the host, and the resolver the engine gave it.

use crate::net::netns_dump;
use netcheck_model::snapshot::{ContainerObs, NetnsObs, Observed};

/// Reads each container's namespace from the host (/proc/PID/ns/net), never by exec.
/// The probe reports its own, so it needs neither root nor a local engine. Containers
/// that share a namespace (`--network container:X`, a pod) are read once, by a few
/// threads that each hold one namespace's file and socket at a time, so that a host of
/// a thousand containers errs nowhere for lack of descriptors.
pub(super) async fn observe(
    containers: &mut [ContainerObs],
    probe_netns: Option<&NetnsObs>,
    local: bool,
    root: bool,
) {
    use std::os::unix::fs::MetadataExt;
    let namespace = |c: &ContainerObs| {
        let pid = c.pid.filter(|_| local && root && !c.probe)?;
        let m = std::fs::metadata(format!("/proc/{pid}/ns/net")).ok()?;
        Some((m.dev(), m.ino()))
    };
    let keys: Vec<_> = containers.iter().map(namespace).collect();
    let mut first: std::collections::HashMap<(u64, u64), usize> = Default::default();
    for (i, k) in keys.iter().enumerate() {
        if let Some(k) = k {
            first.entry(*k).or_insert(i);
        }
    }
    // What each namespace's owner comes to without reading it, or the path to read.
    let plan = |c: &ContainerObs| -> Result<String, Observed<NetnsObs>> {
        if c.probe
            && let Some(ns) = probe_netns
        {
            return Err(Observed::Ok { value: ns.clone() });
        }
        // A remote engine's pids are its host's: not asked for, and not ours to enter.
        if !local {
            return Err(Observed::Skipped {
                reason: "the engine's network is not this host's (a remote engine's is observed only with --agent; a rootless one's is the user's own)".into(),
            });
        }
        if !root {
            return Err(Observed::Skipped {
                reason: "entering a container's namespace needs root".into(),
            });
        }
        let Some(pid) = c.pid else {
            return Err(Observed::Error {
                error: "the engine reports no pid".into(),
            });
        };
        Ok(format!("/proc/{pid}/ns/net"))
    };
    let owners: Vec<usize> = (0..containers.len())
        .filter(|i| keys[*i].is_none_or(|k| first[&k] == *i))
        .collect();
    let plans: Vec<_> = owners.iter().map(|i| plan(&containers[*i])).collect();
    let paths: Vec<String> = plans.iter().filter_map(|p| p.clone().ok()).collect();
    // A few threads of their own read every namespace in turn (see netns_dump): one
    // thread, socket and runtime task per container cost more than the dumps did.
    let mut dumped = tokio::task::spawn_blocking(move || netns_dump::dump_all(&paths))
        .await
        .unwrap_or_default()
        .into_iter();
    let read_once: Vec<Observed<NetnsObs>> = plans
        .into_iter()
        .map(|p| match p {
            Err(known) => known,
            Ok(path) => dumped.next().map_or_else(
                || Observed::Error {
                    error: format!("{path} was not read"),
                },
                Observed::from,
            ),
        })
        .collect();
    let by_owner: std::collections::HashMap<usize, Observed<NetnsObs>> =
        owners.into_iter().zip(read_once).collect();
    let observed: Vec<Observed<NetnsObs>> = (0..containers.len())
        .map(|i| {
            let owner = keys[i].map_or(i, |k| first[&k]);
            by_owner[&owner].clone()
        })
        .collect();
    for (c, o) in containers.iter_mut().zip(observed) {
        c.interior = o;
        // The resolver the engine gave it, through /proc/PID/root: no exec either.
        if local && root && !c.probe {
            c.resolv_conf = c.pid.and_then(|pid| {
                netcheck_model::input::read_config(format!("/proc/{pid}/root/etc/resolv.conf"))
            });
        }
    }
}
