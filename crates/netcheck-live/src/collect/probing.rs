//! Phase 2 of a collection: the probe container, with what it is to reach, observed.
//! The container starts (here, or relayed through the agent) while its arguments are
//! made, and its report comes back within one deadline.

use std::time::Duration;

use bollard::Docker;

use super::probe_container::{ProbeContainer, Running, start};
use super::probe_setup::{Found, ProbeSetup};
use super::{Collection, PROBE_PREFIX, Teardown, agent, publish};
use netcheck_model::error::Error;
use netcheck_model::snapshot::{Observed, ProbeObs};

/// A started probe: this process's, or (in the agent) the one netcheck started.
enum StartedProbe<'a> {
    Here(Running),
    Relayed(&'a agent::Relay),
}

/// Phase 2 of a collection: the probe container, with what it is to reach, observed.
pub(super) async fn observe(
    docker: &Docker,
    image: &str,
    opts: &Collection,
    found: &Found<'_>,
    teardown: &Teardown,
) -> Observed<ProbeObs> {
    let name = format!("{PROBE_PREFIX}{}", opts.run_id);
    // The probe answers within its own request deadlines; this bounds a probe that
    // hangs anyway (a stuck engine, a frozen container).
    // The engine's own work grows with the networks the probe joins (on 20.10, under
    // load, about 0.15 s each to join at start): a host of a hundred networks is
    // not a hung one.
    let networks = found.probe_networks();
    let joins = networks.len().saturating_sub(1) as u32;
    let deadline = opts.probe_timeout * 3 + Duration::from_secs(5) + JOIN_ALLOWANCE * joins;
    // The container starts while what it is to reach is made: the listeners and the
    // outside peer do not need it, and it waits for its arguments.
    let run = async {
        let start = async {
            if let Some(relay) = &opts.relay {
                return relay.started().await.map(|(published, publish_error)| {
                    (StartedProbe::Relayed(relay), published, publish_error)
                });
            }
            let published = if opts.needs.publish && found.local {
                publish::bindings(found.checked, found.early_host, publish::free_port)
            } else {
                vec![]
            };
            let container = ProbeContainer {
                image,
                name: &name,
                networks: &networks,
                published,
                // Podman knows no host-gateway: it would write the word as the address.
                host_gateway: !found.engine.desktop && !found.engine.is_podman(),
                owner_pidns: true,
                run_id: &opts.run_id,
            };
            let started = start(docker, container, publish::free_port, teardown).await?;
            Ok((
                StartedProbe::Here(started.probe),
                started.published,
                started.publish_error,
            ))
        };
        let laps = crate::log::Laps::new("the probe", std::time::Instant::now());
        let (setup, started) = tokio::join!(
            async {
                let setup = ProbeSetup::prepare(opts, found, teardown).await;
                laps.lap("what it is to reach");
                setup
            },
            async {
                let started = start.await;
                laps.lap("started");
                started
            }
        );
        let (probe, published, publish_error) = started?;
        let ProbeSetup { mut args, outside } = setup;
        args.gets.extend(publish::hairpin_asks(&published));
        let report = match probe {
            StartedProbe::Here(p) => p.report(&args, teardown).await?,
            StartedProbe::Relayed(relay) => relay.report(&args).await?,
        };
        laps.lap("reported");
        Ok::<_, Error>((report, outside, published, publish_error))
    };
    match tokio::time::timeout(deadline, run).await {
        Err(_) => Observed::Error {
            error: format!(
                "the probe container gave no report within {} s",
                deadline.as_secs()
            ),
        },
        Ok(Err(e)) => Observed::Error {
            error: e.to_string(),
        },
        Ok(Ok((report, outside, published, publish_error))) => Observed::Ok {
            value: ProbeObs {
                container_name: name,
                report,
                outside,
                published,
                host_requests: vec![],
                peer_concurrency: None,
                publish_error,
                traces: vec![],
                stand_ins: vec![],
            },
        },
    }
}

/// The time the probe's deadline allows the engine for each network beyond the first.
const JOIN_ALLOWANCE: Duration = Duration::from_millis(500);
