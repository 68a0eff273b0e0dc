//! Engine observations through the Docker API (bollard): engine facts, networks, containers.

use std::collections::BTreeMap;

use bollard::Docker;
use bollard::models::ContainerInspectResponse;
use bollard::query_parameters::{InspectNetworkOptions, ListNetworksOptions};
use futures_util::{StreamExt, TryStreamExt};

use netcheck_model::error::Error;
use netcheck_model::snapshot::{
    ContainerObs, EndpointObs, EngineFacts, IpamConfig, NetworkObs, Observed,
};

/// A failed API request as the user's cause. An engine answers 404 "page not found" for
/// an endpoint it does not have (an older API): that is an engine too old for `what`,
/// not a missing object.
pub(crate) fn api_err(what: &str) -> impl Fn(bollard::errors::Error) -> Error + '_ {
    move |e| {
        if let Some(limit) = crate::engine::bounded::too_large(&e) {
            return Error::AnswerTooLarge {
                what: what.to_string(),
                limit_mib: limit >> 20,
            };
        }
        if lacks_endpoint(&e) {
            return Error::EngineTooOld {
                what: what.to_string(),
            };
        }
        Error::Docker {
            what: what.to_string(),
            detail: e.to_string(),
        }
    }
}

/// Whether the engine has no such endpoint: its router's 404, as opposed to a 404 for
/// an object (`No such network: …`).
pub(crate) fn lacks_endpoint(e: &bollard::errors::Error) -> bool {
    matches!(e, bollard::errors::Error::DockerResponseServerError { status_code: 404, message }
        if message.trim().eq_ignore_ascii_case("page not found"))
}

/// Attaches to a created container's stdin and output, before it starts, so that no
/// output is missed and the attachment's end is the container's stdin's end (the probe
/// and the agent both end with it).
pub async fn attach(
    docker: &Docker,
    name: &str,
) -> Result<bollard::container::AttachContainerResults, bollard::errors::Error> {
    let options = bollard::query_parameters::AttachContainerOptionsBuilder::new()
        .stream(true)
        .stdin(true)
        .stdout(true)
        .stderr(true)
        .build();
    docker.attach_container(name, Some(options)).await
}

pub async fn engine_facts(docker: &Docker) -> Result<EngineFacts, Error> {
    let (info, version) = tokio::try_join!(
        async { docker.info().await.map_err(api_err("info")) },
        async { docker.version().await.map_err(api_err("version")) },
    )?;
    let os = info.operating_system.unwrap_or_default();
    Ok(EngineFacts {
        version: version.version.unwrap_or_default(),
        api_version: docker.client_version().to_string(),
        desktop: is_desktop(&os),
        os,
        kernel: info.kernel_version.unwrap_or_default(),
        hostname: info.name.unwrap_or_default(),
        warnings: info.warnings.unwrap_or_default(),
        firewall_backend: info
            .firewall_backend
            .and_then(|f| f.driver)
            .filter(|d| !d.is_empty()),
    })
}

/// Whether the engine's operating system is Docker Desktop's VM.
pub fn is_desktop(os: &str) -> bool {
    os.contains("Docker Desktop")
}

/// Every network the engine has, inspected, so that overlaps between any two show.
pub async fn networks(docker: &Docker) -> Result<Vec<NetworkObs>, Error> {
    let list = docker
        .list_networks(None::<ListNetworksOptions>)
        .await
        .map_err(api_err("network list"))?;
    // Bounded as the container inspects are: each request in flight holds a connection.
    let inspected = futures_util::stream::iter(list.iter().filter_map(|n| n.id.as_deref()).map(
        |id| async move {
            match docker
                .inspect_network(id, None::<InspectNetworkOptions>)
                .await
            {
                Ok(n) => Ok(Some(n)),
                // Removed since the list (compose down on a busy host): skip it.
                Err(
                    e @ bollard::errors::Error::DockerResponseServerError {
                        status_code: 404, ..
                    },
                ) if !lacks_endpoint(&e) => Ok(None),
                Err(e) => Err(api_err("network inspect")(e)),
            }
        },
    ))
    .buffered(crate::net::limits::connections_at_once())
    .try_collect::<Vec<_>>()
    .await?;
    let inspected: Vec<_> = inspected.into_iter().flatten().collect();
    let mut out: Vec<NetworkObs> = inspected
        .into_iter()
        .map(|n| {
            let id = n.id.unwrap_or_default();
            let options: BTreeMap<String, String> =
                n.options.unwrap_or_default().into_iter().collect();
            let bridge = options
                .get("com.docker.network.bridge.name")
                .cloned()
                .unwrap_or_else(|| format!("br-{}", id.get(..12).unwrap_or(&id)));
            let ipam = n
                .ipam
                .and_then(|i| i.config)
                .unwrap_or_default()
                .into_iter()
                .map(|c| IpamConfig {
                    subnet: c.subnet.and_then(|s| s.parse().ok()),
                    gateway: c.gateway.and_then(|g| g.parse().ok()),
                })
                .collect();
            let mut endpoints: Vec<EndpointObs> = n
                .containers
                .unwrap_or_default()
                .into_iter()
                .map(|(cid, e)| EndpointObs {
                    container_id: cid,
                    container_name: e.name.unwrap_or_default(),
                    ipv4: e.ipv4_address.and_then(|a| a.parse().ok()),
                    mac: e.mac_address.filter(|m| !m.is_empty()),
                    gateway: None,
                    ipv6: e.ipv6_address.and_then(|a| a.parse().ok()),
                    gateway_v6: None,
                    gw_priority: None,
                })
                .collect();
            endpoints.sort_by_key(|e| e.ipv4);
            NetworkObs {
                ip_masquerade: options
                    .get("com.docker.network.bridge.enable_ip_masquerade")
                    .is_none_or(|v| v != "false"),
                id,
                name: n.name.unwrap_or_default(),
                driver: n.driver.unwrap_or_default(),
                bridge,
                internal: n.internal.unwrap_or(false),
                enable_ipv4: n.enable_ipv4.unwrap_or(true),
                enable_ipv6: n.enable_ipv6.unwrap_or(false),
                ipam,
                options,
                endpoints,
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// A container's published TCP ports, from its inspect's port map, in a stable order.
fn published(ports: Option<&bollard::models::PortMap>) -> Vec<netcheck_model::snapshot::UserPort> {
    let mut out: Vec<netcheck_model::snapshot::UserPort> = ports
        .into_iter()
        .flatten()
        .filter_map(|(spec, bindings)| {
            let port = spec.strip_suffix("/tcp")?.parse::<u16>().ok()?;
            Some((port, bindings.as_ref()?))
        })
        .flat_map(|(container_port, bindings)| {
            bindings.iter().filter_map(move |b| {
                Some(netcheck_model::snapshot::UserPort {
                    host_ip: b.host_ip.as_deref().unwrap_or("0.0.0.0").parse().ok()?,
                    host_port: b.host_port.as_deref()?.parse().ok()?,
                    container_port,
                    tried: None,
                })
            })
        })
        .collect();
    out.sort_by_key(|p| (p.host_port, p.host_ip));
    out
}

/// The ids of the containers on the checked networks, netcheck's probes left out: what
/// can be inspected before the probe starts.
pub fn container_ids(networks: &[NetworkObs], checked: &[String]) -> Vec<String> {
    let mut ids: Vec<String> = (networks.iter())
        .filter(|n| checked.contains(&n.name))
        .flat_map(|n| n.endpoints.iter())
        .filter(|e| !e.container_name.starts_with(super::PROBE_PREFIX))
        .map(|e| e.container_id.clone())
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// Inspects the containers `ids`, in their order; one removed since a network listed it
/// is left out (containers come and go on a live host: another run's probe, for one).
pub async fn inspect(
    docker: &Docker,
    ids: &[String],
) -> Result<Vec<ContainerInspectResponse>, Error> {
    // As many at a time as the open-file limit leaves room for: each request in flight
    // holds a connection to the engine, and a host may run a thousand containers.
    let inspected = futures_util::stream::iter(ids.iter().map(|id| async move {
        match docker.inspect_container(id, None).await {
            Ok(c) => Ok(Some(c)),
            Err(
                e @ bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                },
            ) if !lacks_endpoint(&e) => Ok(None),
            Err(e) => Err(api_err("container inspect")(e)),
        }
    }))
    .buffered(crate::net::limits::connections_at_once())
    .try_collect::<Vec<_>>()
    .await?;
    Ok(inspected.into_iter().flatten().collect())
}

/// The running containers attached to the checked networks, with their main process's
/// pid (to read their namespace) and nothing else: no environment, no labels' values.
/// Fills in each endpoint's gateway, which only the container's inspect states.
///
/// `early` holds those inspected before the probe started (beside its start: at a
/// thousand containers the inspects are most of the engine's work); those still listed
/// keep that answer, and the rest (the probe, containers started since) are inspected now.
pub async fn containers(
    docker: &Docker,
    networks: &mut [NetworkObs],
    checked: &[String],
    probe_name: Option<&str>,
    early: Vec<ContainerInspectResponse>,
) -> Result<Vec<ContainerObs>, Error> {
    let mut ids: Vec<String> = networks
        .iter()
        .filter(|n| checked.contains(&n.name))
        .flat_map(|n| n.endpoints.iter().map(|e| e.container_id.clone()))
        .collect();
    ids.sort();
    ids.dedup();
    let mut inspected: Vec<ContainerInspectResponse> = (early.into_iter())
        .filter(|c| {
            c.id.as_ref()
                .is_some_and(|id| ids.binary_search(id).is_ok())
        })
        .collect();
    let known: std::collections::HashSet<&String> =
        inspected.iter().filter_map(|c| c.id.as_ref()).collect();
    let late: Vec<String> = (ids.iter())
        .filter(|id| !known.contains(id))
        .cloned()
        .collect();
    inspected.extend(inspect(docker, &late).await?);
    // In the ids' order, as one batch of inspects would give them.
    inspected.sort_by(|a, b| a.id.cmp(&b.id));
    for c in &inspected {
        let settings = c
            .network_settings
            .as_ref()
            .and_then(|s| s.networks.as_ref());
        for (net_name, settings) in settings.into_iter().flatten() {
            let gateway = settings.gateway.as_deref().and_then(|g| g.parse().ok());
            let gateway_v6 = settings
                .ipv6_gateway
                .as_deref()
                .and_then(|g| g.parse().ok());
            let endpoints = networks
                .iter_mut()
                .filter(|n| &n.name == net_name)
                .flat_map(|n| n.endpoints.iter_mut());
            for e in endpoints.filter(|e| Some(&e.container_id) == c.id.as_ref()) {
                e.gateway = gateway;
                e.gateway_v6 = gateway_v6;
                e.gw_priority = settings.gw_priority;
            }
        }
    }
    Ok(inspected
        .into_iter()
        .map(|c| {
            let name = c
                .name
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_string();
            let published = if Some(name.as_str()) == probe_name {
                vec![]
            } else {
                published(c.network_settings.as_ref().and_then(|s| s.ports.as_ref()))
            };
            ContainerObs {
                id: c.id.unwrap_or_default(),
                pid: c
                    .state
                    .and_then(|s| s.pid)
                    .filter(|p| *p > 0)
                    .map(|p| p as u32),
                probe: Some(name.as_str()) == probe_name,
                name,
                interior: Observed::Skipped {
                    reason: "not observed yet".into(),
                },
                resolv_conf: None,
                published,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use netcheck_model::snapshot::Snapshot;

    /// What is inspected before the probe starts: every container on a checked network,
    /// once, and no netcheck probe (this run's does not exist yet; others' come and go).
    #[test]
    fn early_inspects_are_the_checked_networks_containers_without_probes() {
        let snapshot = Snapshot::from_json(include_str!(
            "../../../../fixtures/healthy-user-network-and-bridge.json"
        ))
        .unwrap();
        let docker = snapshot.docker.ok().unwrap();
        let names = |ids: Vec<String>| -> Vec<String> {
            let mut names: Vec<String> = (ids.iter())
                .filter_map(|id| docker.containers.iter().find(|c| &c.id == id))
                .map(|c| c.name.clone())
                .collect();
            names.sort();
            names
        };
        let both = super::container_ids(&docker.networks, &snapshot.networks);
        assert_eq!(
            names(both),
            [
                "netcheck-test-healthy-app",
                "netcheck-test-healthy-bridge-app"
            ]
        );
        let one = super::container_ids(&docker.networks, &["bridge".to_string()]);
        assert_eq!(names(one), ["netcheck-test-healthy-bridge-app"]);
    }
}
