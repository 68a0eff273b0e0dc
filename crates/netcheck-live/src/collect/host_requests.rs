//! The requests netcheck makes from the host itself, while the probe lingers.

use netcheck_model::snapshot::{ContainerObs, NetworkObs, ProbeObs, Request};

use super::early::EarlyRequests;
use super::{Collection, confirm, egress, peers, stand_ins};
use netcheck_model::protocol::Purpose;

/// What the requests made from the host need to know.
pub(super) struct FromHere<'a> {
    pub opts: &'a Collection,
    pub networks: &'a [NetworkObs],
    pub checked_names: &'a [String],
    pub containers: &'a [ContainerObs],
    pub local: bool,
    pub root: bool,
    /// The containers chosen to stand in for the probe.
    pub stand_ins: &'a [stand_ins::Chosen],
    /// What was asked while the engine started the probe.
    pub early: EarlyRequests,
}

impl FromHere<'_> {
    /// The host's own requests, recorded in the probe's observation: to the published
    /// port, to other containers (after the interiors: a connection leaves by the
    /// container's own interface on the network, found in them), and from each
    /// network's probe interface (or stand-in) to the outside peer; and the stand-ins'
    /// own requests, in theirs.
    pub(super) async fn requests(&mut self, probe: &mut ProbeObs, publish: Vec<Request>) {
        let EarlyRequests {
            isolation: (isolation, isolation_concurrency),
            stand_ins: (stand_ins, stand_in_requests),
            rejoined,
        } = std::mem::take(&mut self.early);
        let FromHere {
            opts,
            networks,
            checked_names,
            containers,
            local,
            root,
            stand_ins: chosen,
            ..
        } = *self;
        let located = if local && root {
            stand_ins::locate(chosen, networks, containers)
        } else {
            vec![]
        };
        let laps = crate::log::Laps::new("requests", std::time::Instant::now());
        let rejoined = if rejoined.is_empty() {
            vec![]
        } else {
            confirm::from_the_probe(probe, networks, containers, &rejoined, opts.probe_timeout)
                .await
        };
        // A stand-in the probe replaced drops what it sends itself: no connection from
        // it says anything of the network's firewall.
        let dropping: Vec<&str> = (stand_ins.iter())
            .filter(|s| s.replaced.is_some())
            .map(|s| s.container_name.as_str())
            .collect();
        let isolation: Vec<Request> = (isolation.into_iter())
            .filter(|r| !matches!(&r.purpose, Purpose::Isolation { from, .. } if dropping.contains(&from.as_str())))
            .collect();
        let (icc, icc_concurrency) = if opts.needs.peers && local && root {
            peers::icc(
                networks,
                checked_names,
                (containers, &dropping),
                (&probe.container_name, &located),
                opts.probe_timeout,
            )
            .await
        } else {
            (vec![], None)
        };
        let reached: Vec<&Request> = (probe.report.requests.iter())
            .chain(&stand_in_requests)
            .chain(&rejoined)
            .collect();
        let icc_controls =
            peers::controls(&icc, networks, containers, &reached, opts.probe_timeout).await;
        laps.lap("bridge.icc's");
        let egress_requests = if opts.needs.outside && local && root {
            let egress = probe.egress(networks).map(|n| n.name.clone());
            let (v4, v6) = tokio::join!(
                egress::requests(
                    probe,
                    egress.as_deref(),
                    networks,
                    checked_names,
                    containers,
                    &located,
                    opts.probe_timeout,
                ),
                egress::requests_v6(
                    probe,
                    networks,
                    checked_names,
                    containers,
                    &located,
                    opts.probe_timeout
                ),
            );
            v4.into_iter().chain(v6).collect()
        } else {
            vec![]
        };
        laps.lap("to the outside peer");
        probe.peer_concurrency = isolation_concurrency.or(icc_concurrency);
        probe.stand_ins = stand_ins;
        probe.host_requests = (publish.into_iter())
            .chain(stand_in_requests)
            .chain(rejoined)
            .chain(icc)
            .chain(icc_controls)
            .chain(isolation)
            .chain(egress_requests)
            .collect();
    }
}
