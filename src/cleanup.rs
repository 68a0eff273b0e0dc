//! `netcheck cleanup`: removes what crashed runs left behind, and nothing else.
//!
//! Only objects that carry netcheck's label or name prefix are touched: probe
//! containers labelled `netcheck.run`, host links named `netcheck<run id>h|p`, and (when
//! asked) the cached probe images labelled `netcheck=probe`. A probe whose netcheck
//! process is still alive belongs to a running netcheck and is left alone.

use std::collections::HashMap;

use bollard::Docker;
use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListImagesOptionsBuilder, RemoveImageOptionsBuilder,
};

use crate::collect::{LABEL, PID_LABEL, netlink, remove_probe};
use crate::error::Error;

#[derive(Debug, Default)]
pub struct Removed {
    pub containers: Vec<String>,
    pub links: Vec<String>,
    pub images: Vec<String>,
    /// Probes of netcheck runs still in progress.
    pub kept: Vec<String>,
    /// What could not be removed, and why.
    pub failed: Vec<String>,
}

/// Whether `pid` is a running netcheck on this host (not this one, and not a probe: a
/// probe is `netcheck probe` too, but in its container's pid namespace).
fn netcheck_alive(pid: u32) -> bool {
    let ns = |p: &str| std::fs::read_link(format!("/proc/{p}/ns/pid")).ok();
    pid != std::process::id()
        && std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .is_ok_and(|c| c.trim() == "netcheck")
        && ns(&pid.to_string()).is_some_and(|n| Some(n) == ns("self"))
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

pub async fn cleanup(docker: &Docker, local: bool, images: bool) -> Result<Removed, Error> {
    let api = |what: &'static str| {
        move |e: bollard::errors::Error| Error::Docker {
            what: what.into(),
            detail: e.to_string(),
        }
    };
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
    for c in containers {
        let name = c
            .names
            .and_then(|n| n.into_iter().next())
            .unwrap_or_default();
        let name = name.trim_start_matches('/').to_string();
        let owner = c
            .labels
            .as_ref()
            .and_then(|l| l.get(PID_LABEL))
            .and_then(|p| p.parse().ok());
        if local && owner.is_some_and(netcheck_alive) {
            removed.kept.push(name);
            continue;
        }
        // On a remote engine netcheck cannot tell whether the owner still runs: a running
        // probe may be another machine's run in progress.
        if !local && c.state.as_ref().is_some_and(|s| s.to_string() == "running") {
            removed.kept.push(name);
            continue;
        }
        let id = c.id.unwrap_or_default();
        // One that will not go (already being removed, say) must not stop the rest.
        match remove_probe(docker, &id).await {
            Ok(()) => removed.containers.push(name),
            Err(e) => removed.failed.push(format!("{name}: {e}")),
        }
    }
    // A live run's host end has its peer in the run's namespace (link_netnsid set), and
    // the pair vanishes with that namespace however the run ends. A run link whose peer
    // sits in the host's namespace belongs to no run: a leftover.
    if local {
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
}
