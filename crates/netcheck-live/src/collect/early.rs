//! Beside the probe's start (the engine's work, a third of a second and more): the
//! containers already on the checked networks, their namespaces, bridge.icc's
//! isolation connections between them, and the stand-ins' requests. None of it
//! involves the probe, and at a hundred networks or a thousand containers it is most of
//! what netcheck itself spends.

use std::collections::HashMap;

use bollard::Docker;

use super::containers::{self, Seen};
use super::probe_setup::Found;
use super::{Collection, Teardown, interiors, peers, stand_ins};
use netcheck_model::error::Error;
use netcheck_model::snapshot::{Concurrency, ContainerObs, NetnsObs, NetworkObs, Request, StandIn};

/// What was read and asked while the engine started the probe.
pub(super) struct Early {
    /// The containers as the engine listed them.
    seen: Vec<Seen>,
    /// Their namespaces (and resolvers), by id: not read again once the probe runs.
    read: HashMap<String, ContainerObs>,
    pub(super) requests: EarlyRequests,
    /// Whether this process shares the engine's host, and is root.
    local_root: (bool, bool),
}

/// The requests made while the engine started the probe.
#[derive(Default)]
pub(super) struct EarlyRequests {
    /// bridge.icc's isolation connections, and how many were open at once where fewer
    /// than netcheck would have opened.
    pub(super) isolation: (Vec<Request>, Option<Concurrency>),
    /// The stand-ins, and their gateway requests.
    pub(super) stand_ins: (Vec<StandIn>, Vec<Request>),
    /// The networks the probe joined late, where its stand-in failed, each with the
    /// gateway listener the probe is to ask there (see `confirm`).
    pub(super) rejoined: Vec<(String, std::net::SocketAddr)>,
}

/// Descriptors left, while the isolation connections are open, for what opens beside
/// them: the engine's connections, the probe's attachment, the outside peer. (The
/// probe's listeners, one per network, are open by then: made in a few milliseconds,
/// while the containers are listed.)
const SPARE: usize = 32;

pub(super) async fn beside_the_probe(
    docker: &Docker,
    found: &Found<'_>,
    opts: &Collection,
    teardown: &Teardown,
) -> Result<Early, Error> {
    let Found {
        networks,
        checked_names: checked,
        early_host,
        local,
        root,
        stand_ins: chosen,
        ..
    } = *found;
    let laps = crate::log::Laps::new("beside the probe", std::time::Instant::now());
    let seen = containers::seen(docker, networks, checked, local).await?;
    laps.lap("the containers");
    let mut read: Vec<ContainerObs> = seen.iter().map(|s| s.clone().observed(false)).collect();
    interiors::observe(&mut read, None, local, root).await;
    laps.lap("their namespaces");
    let located = stand_ins::locate(chosen, networks, &read);
    let (isolation, stand_ins) = tokio::join!(
        async {
            if opts.needs.peers && local && root {
                let spare = SPARE + stand_ins::DESCRIPTORS;
                peers::isolation(networks, checked, &read, (opts.probe_timeout, spare)).await
            } else {
                (vec![], None)
            }
        },
        stand_ins::observe(&located, early_host, teardown, opts.probe_timeout),
    );
    laps.lap("isolation and the stand-ins");
    Ok(Early {
        seen,
        read: read.into_iter().map(|c| (c.id.clone(), c)).collect(),
        requests: EarlyRequests {
            isolation,
            stand_ins,
            rejoined: vec![],
        },
        local_root: (local, root),
    })
}

impl Early {
    /// The containers on the checked networks now, the probe (`probe`: its name and
    /// the namespace it reported) among them, each with its namespace: as read early,
    /// or read now for the probe and the containers started since.
    pub(super) async fn containers(
        &mut self,
        docker: &Docker,
        networks: &mut [NetworkObs],
        checked: &[String],
        (probe_name, probe_netns): (Option<&str>, Option<&NetnsObs>),
    ) -> Result<Vec<ContainerObs>, Error> {
        let seen = std::mem::take(&mut self.seen);
        // The probe's report predates the networks it joined late: read it again.
        let probe_netns = probe_netns.filter(|_| self.requests.rejoined.is_empty());
        let containers =
            containers::containers(docker, networks, checked, probe_name, seen).await?;
        let (local, root) = self.local_root;
        let mut done = vec![];
        let mut rest = vec![];
        for mut c in containers {
            match self.read.remove(&c.id).filter(|_| !c.probe) {
                Some(early) => {
                    c.interior = early.interior;
                    c.resolv_conf = early.resolv_conf;
                    done.push(c);
                }
                None => rest.push(c),
            }
        }
        interiors::observe(&mut rest, probe_netns, local, root).await;
        done.append(&mut rest);
        done.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(done)
    }
}
