//! Each container's interior (links, addresses, routes) as its own network namespace
//! holds it, read from the host, and the resolver the engine gave it.

use super::netlink;
use netcheck_model::snapshot::{ContainerObs, NetnsObs, Observed};

/// Reads each container's namespace from the host (/proc/PID/ns/net), never by exec.
/// The probe reports its own, so it needs neither root nor a local engine. Containers
/// that share a namespace (`--network container:X`, a pod) are read once; and as many
/// at a time as the open-file limit leaves room for (each read holds a netlink socket
/// and the namespace's file), so that a host of a thousand containers errs nowhere.
pub(super) async fn observe(
    containers: &mut [ContainerObs],
    probe_netns: Option<&NetnsObs>,
    local: bool,
    root: bool,
) {
    use futures_util::StreamExt;
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
    let read = |c: &ContainerObs| {
        let pid = c.pid;
        let is_probe = c.probe;
        async move {
            if is_probe && let Some(ns) = probe_netns {
                return Observed::Ok { value: ns.clone() };
            }
            let Some(pid) = pid else {
                return Observed::Error {
                    error: "the engine reports no pid".into(),
                };
            };
            if !local {
                return Observed::Skipped {
                    reason: "the engine is remote (observed only with --agent)".into(),
                };
            }
            if !root {
                return Observed::Skipped {
                    reason: "entering a container's namespace needs root".into(),
                };
            }
            let result = async {
                let handle = netlink::connect_in(&format!("/proc/{pid}/ns/net"))?;
                netlink::dump(&handle).await
            }
            .await;
            result.into()
        }
    };
    let owners: Vec<usize> = (0..containers.len())
        .filter(|i| keys[*i].is_none_or(|k| first[&k] == *i))
        .collect();
    let read_once: Vec<Observed<NetnsObs>> =
        futures_util::stream::iter(owners.iter().map(|i| read(&containers[*i])))
            .buffered(crate::net::limits::connections_at_once())
            .collect()
            .await;
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
