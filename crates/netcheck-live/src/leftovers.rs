//! Leftovers: what netcheck runs left behind (a run killed before its [teardown]), and
//! nothing else. [`remove`] is `netcheck cleanup`; [`sweep`] runs at the start of every
//! run.
//!
//! [teardown]: crate::collect::Teardown
//!
//! Only objects that carry netcheck's label or name prefix are touched: probe
//! containers labelled `netcheck.run`, host links named `netcheck<run id>h|p`, nftables
//! tables named `netcheck…` in the host's namespace, and (when asked) the cached probe
//! images labelled `netcheck=probe`. What belongs to a netcheck process that is still
//! alive is left alone.
//!
//! Every run sweeps what dead runs left ([`sweep`]), so a CI runner whose jobs are
//! killed with SIGKILL does not pile up probes. The sweep is stricter than the command:
//! it removes only what it can prove has a dead owner.

use std::collections::HashMap;

use bollard::Docker;
use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListImagesOptionsBuilder, RemoveImageOptionsBuilder,
};

use crate::collect::{LABEL, OWNER_LABEL, PID_LABEL, PIDNS_LABEL, own_pid_namespace, remove_probe};
use crate::net::netlink;
use crate::owner::Owner;
use netcheck_model::error::Error;

#[derive(Debug, Default)]
pub struct Removed {
    pub containers: Vec<String>,
    pub links: Vec<String>,
    /// nftables tables, as `FAMILY NAME`.
    pub tables: Vec<String>,
    pub images: Vec<String>,
    /// Helper processes (`nft monitor trace`, …) that outlived their netcheck: killed.
    pub processes: Vec<String>,
    /// Probes of netcheck runs still in progress.
    pub kept: Vec<String>,
    /// What could not be removed, and why.
    pub failed: Vec<String>,
}

impl Removed {
    pub fn is_empty(&self) -> bool {
        self.containers.is_empty()
            && self.links.is_empty()
            && self.tables.is_empty()
            && self.images.is_empty()
            && self.processes.is_empty()
    }
}

/// How sure the owner must be dead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// `netcheck cleanup`, asked for: everything no live netcheck owns, including what
    /// carries no owner (older netchecks' leftovers).
    Everything,
    /// The start of a run: only what a dead owner is proven to have left.
    DeadRuns,
}

/// Whether the owner of a leftover runs: by pid and start time ([`Owner`]), whatever
/// the binary is called. An owner recorded by an older netcheck, as a pid alone, is
/// alive while a process of netcheck's names holds that pid in this namespace.
fn owner_alive(owner: Option<Owner>, pid: Option<u32>) -> bool {
    if let Some(owner) = owner {
        return owner.alive();
    }
    let Some(pid) = pid else {
        return false;
    };
    let ns = |p: &str| std::fs::read_link(format!("/proc/{p}/ns/pid")).ok();
    pid == std::process::id()
        || (std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .is_ok_and(|c| matches!(c.trim(), "netcheck" | "docker-netcheck"))
            && ns(&pid.to_string()).is_some_and(|n| Some(n) == ns("self")))
}

/// The links a run creates for its outside peer: `netcheck` + 5 hex digits + `h` or `p`.
fn is_run_link(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("netcheck") else {
        return false;
    };
    let Some((last, _)) = rest.char_indices().last() else {
        return false;
    };
    let (hex, end) = rest.split_at(last);
    hex.len() == 5
        && hex
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        && matches!(end, "h" | "p")
}

/// The owner a netcheck table's name ends with: pid and start time, or (an older
/// netcheck's table) the pid alone.
fn nft_table_owner(name: &str) -> (Option<Owner>, Option<u32>) {
    match name.split('_').collect::<Vec<_>>()[..] {
        ["netcheck", _kind, _run, pid, start] => {
            let owner = Owner::parse(&format!("{pid}:{start}"));
            (owner, owner.map(|o| o.pid))
        }
        ["netcheck", _kind, _run, pid] => (None, pid.parse().ok()),
        _ => (None, None),
    }
}

/// How long a probe on a remote engine may sit created or exited before the sweep
/// takes it for a dead run's: a live run starts its probe within seconds.
const REMOTE_STALE_SECS: i64 = 600;

/// `netcheck cleanup`: everything netcheck left that no live netcheck owns.
pub async fn remove(docker: &Docker, local: bool, images: bool) -> Result<Removed, Error> {
    remove_within(docker, local, Scope::Everything, images).await
}

/// The start of a run: what dead runs left. On a local engine, an owner is dead when
/// its pid, in this pid namespace, is no running netcheck; on a remote one, where pids
/// mean nothing here, a probe is a dead run's when it has sat unstarted or exited for
/// ten minutes (a live run's probe runs, and removes itself when it exits).
pub async fn sweep(docker: &Docker, local: bool) -> Result<Removed, Error> {
    remove_within(docker, local, Scope::DeadRuns, false).await
}

async fn remove_within(
    docker: &Docker,
    local: bool,
    scope: Scope,
    images: bool,
) -> Result<Removed, Error> {
    let api = |what: &'static str| crate::collect::docker::api_err(what);
    let mut removed = Removed::default();
    let filters: HashMap<&str, Vec<&str>> = [("label", vec![LABEL])].into();
    let containers = docker
        .list_containers(Some(
            ListContainersOptionsBuilder::new()
                .all(true)
                .filters(&filters)
                .build(),
        ))
        .await
        .map_err(api("container list"))?;
    let pidns = own_pid_namespace();
    for c in containers {
        let name = c
            .names
            .and_then(|n| n.into_iter().next())
            .unwrap_or_default();
        let name = name.trim_start_matches('/').to_string();
        let label = |key: &str| c.labels.as_ref().and_then(|l| l.get(key)).cloned();
        let pid: Option<u32> = label(PID_LABEL).and_then(|p| p.parse().ok());
        let owner = label(OWNER_LABEL).and_then(|o| Owner::parse(&o));
        let running = c.state.as_ref().is_some_and(|s| s.to_string() == "running");
        let dead = if local {
            // A pid from another pid namespace (netcheck in a container) names another
            // process here: only the command, asked for, judges those.
            let same_ns = match label(PIDNS_LABEL) {
                Some(ns) => ns == pidns,
                None => scope == Scope::Everything,
            };
            same_ns && !owner_alive(owner, pid)
        } else {
            let age = chrono::Utc::now().timestamp() - c.created.unwrap_or(i64::MAX);
            !running && (scope == Scope::Everything || age > REMOTE_STALE_SECS)
        };
        if !dead {
            removed.kept.push(name);
            continue;
        }
        let id = c.id.unwrap_or_default();
        // One that will not go (already being removed, say) must not stop the rest.
        match remove_probe(docker, &id).await {
            Ok(()) => removed.containers.push(name),
            // Its own AutoRemove got there first.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404 | 409,
                ..
            }) if scope == Scope::DeadRuns => {}
            Err(e) => removed.failed.push(format!("{name}: {e}")),
        }
    }
    if local {
        // A live run's host end has its peer in the run's namespace (link_netnsid set),
        // and the pair vanishes with that namespace however the run ends. A run link
        // whose peer sits in the host's namespace belongs to no run: a leftover.
        let handle = netlink::connect().map_err(|e| Error::Probe(e.to_string()))?;
        let host = netlink::dump(&handle)
            .await
            .map_err(|e| Error::Probe(e.to_string()))?;
        let leftovers = host
            .links
            .iter()
            .filter(|l| is_run_link(&l.name) && l.link_netnsid.is_none());
        for l in leftovers {
            if handle.link().del(l.index).execute().await.is_ok() {
                removed.links.push(l.name.clone());
            }
        }
        remove_tables(scope, &mut removed).await;
        // Helpers die with their netcheck (PR_SET_PDEATHSIG): orphans are an older
        // netcheck's, and come with its other leftovers. Scanning every process costs
        // a busy host's run tens of milliseconds, so a run looks only when it found a
        // dead run's objects; `netcheck cleanup` always does.
        if scope == Scope::Everything || !removed.is_empty() {
            removed.processes = crate::owner::sweep_orphans()
                .into_iter()
                .map(|pid| format!("pid {pid}"))
                .collect();
        }
    }
    if images {
        let filters: HashMap<&str, Vec<&str>> = [("label", vec!["netcheck=probe"])].into();
        let list = docker
            .list_images(Some(
                ListImagesOptionsBuilder::new().filters(&filters).build(),
            ))
            .await
            .map_err(api("image list"))?;
        for image in list {
            let name = image.repo_tags.first().cloned().unwrap_or(image.id.clone());
            let force = RemoveImageOptionsBuilder::new().force(true).build();
            docker
                .remove_image(&image.id, Some(force), None)
                .await
                .map_err(api("image remove"))?;
            removed.images.push(name);
        }
    }
    Ok(removed)
}

/// Removes netcheck's nftables tables whose owner is dead. Needs root and `nft`; without
/// either there is nothing netcheck could have made, and nothing to do.
async fn remove_tables(scope: Scope, removed: &mut Removed) {
    if !nix::unistd::geteuid().is_root() {
        return;
    }
    let Ok(out) = crate::owner::bind_child(&mut tokio::process::Command::new("nft"))
        .args(["-j", "list", "tables"])
        .output()
        .await
    else {
        return;
    };
    let Ok(list) = serde_json::from_slice::<serde_json::Value>(&out.stdout) else {
        return;
    };
    let tables = list["nftables"].as_array().into_iter().flatten();
    for t in tables.filter_map(|t| t.get("table")) {
        let (Some(family), Some(name)) = (t["family"].as_str(), t["name"].as_str()) else {
            continue;
        };
        if !name.starts_with("netcheck") {
            continue;
        }
        let dead = match nft_table_owner(name) {
            (None, None) => scope == Scope::Everything,
            (owner, pid) => !owner_alive(owner, pid),
        };
        if !dead {
            continue;
        }
        let deleted = crate::owner::bind_child(&mut tokio::process::Command::new("nft"))
            .args(["delete", "table", family, name])
            .output()
            .await;
        match deleted {
            Ok(o) if o.status.success() => removed.tables.push(format!("{family} {name}")),
            Ok(o) => removed.failed.push(format!(
                "nftables table {family} {name}: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            )),
            Err(e) => removed
                .failed
                .push(format!("nftables table {family} {name}: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_run_links_match() {
        assert!(super::is_run_link("netcheck0a1b2h"));
        assert!(super::is_run_link("netcheckfffffp"));
        for other in [
            "netcheck-tvpn0",
            "netcheck0a1b2x",
            "netcheck0A1B2h",
            "docker0",
            "vethnetcheck0",
            "netcheck0a1b2hh",
        ] {
            assert!(!super::is_run_link(other), "{other}");
        }
    }

    #[test]
    fn table_names_carry_their_owner() {
        let name = crate::collect::trace::table_name("0a1b2");
        assert!(name.starts_with("netcheck_trace_0a1b2_"));
        let me = super::Owner::me();
        assert_eq!(super::nft_table_owner(&name), (Some(me), Some(me.pid)));
        assert_eq!(
            super::nft_table_owner("netcheck_trace_0a1b2_42"),
            (None, Some(42))
        );
        assert_eq!(super::nft_table_owner("netcheck_trace_01234"), (None, None));
        assert_eq!(super::nft_table_owner("filter"), (None, None));
    }
}
