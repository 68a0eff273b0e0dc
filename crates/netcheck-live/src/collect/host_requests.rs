//! The requests netcheck makes from the host itself, while the probe lingers.

use netcheck_model::snapshot::{ContainerObs, NetworkObs, ProbeObs, Request};

use super::{Collection, egress, peers};

/// What the requests made from the host need to know.
pub(super) struct FromHere<'a> {
    pub opts: &'a Collection,
    pub networks: &'a [NetworkObs],
    pub checked_names: &'a [String],
    pub containers: &'a [ContainerObs],
    pub local: bool,
    pub root: bool,
}

impl FromHere<'_> {
    /// The host's own requests, recorded in the probe's observation: to the published
    /// port, to other containers (after the interiors: a connection leaves by the
    /// container's own interface on the network, found in them), and from each
    /// network's probe interface to the outside peer.
    pub(super) async fn requests(&self, probe: &mut ProbeObs, publish: Vec<Request>) {
        let FromHere {
            opts,
            networks,
            checked_names,
            containers,
            local,
            root,
        } = *self;
        let (peer_requests, peer_concurrency) = if opts.needs.peers && local && root {
            peers::requests(
                networks,
                checked_names,
                containers,
                &probe.container_name,
                opts.probe_timeout,
            )
            .await
        } else {
            (vec![], None)
        };
        let egress_requests = if opts.needs.outside && local && root {
            let egress = probe.egress(networks).map(|n| n.name.clone());
            let (v4, v6) = tokio::join!(
                egress::requests(
                    probe,
                    egress.as_deref(),
                    networks,
                    checked_names,
                    containers,
                    opts.probe_timeout,
                ),
                egress::requests_v6(
                    probe,
                    networks,
                    checked_names,
                    containers,
                    opts.probe_timeout
                ),
            );
            v4.into_iter().chain(v6).collect()
        } else {
            vec![]
        };
        probe.peer_concurrency = peer_concurrency;
        probe.host_requests = (publish.into_iter())
            .chain(peer_requests)
            .chain(egress_requests)
            .collect();
    }
}
