//! Engine observations through the Docker API (bollard): engine facts, networks, containers.

use std::collections::{BTreeMap, HashMap, HashSet};

use bollard::Docker;
use bollard::models::{ContainerSummary, EndpointResource, NetworkInspect};
use bollard::query_parameters::{
    InspectNetworkOptions, ListContainersOptions, ListNetworksOptions,
};
use futures_util::{StreamExt, TryStreamExt};

use netcheck_model::error::Error;
use netcheck_model::snapshot::{EndpointObs, EngineFacts, IpamConfig, NetworkObs};

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

/// An object's inspect, or None where the engine no longer has it (a 404 for the
/// object, not for the endpoint): a live host's objects come and go between a list
/// and the inspects that follow it.
pub(crate) fn unless_gone<T>(
    answer: Result<T, bollard::errors::Error>,
    what: &str,
) -> Result<Option<T>, Error> {
    match answer {
        Ok(t) => Ok(Some(t)),
        Err(
            e @ bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            },
        ) if !lacks_endpoint(&e) => Ok(None),
        Err(e) => Err(api_err(what)(e)),
    }
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
        product: product(version.components.as_deref().unwrap_or_default()),
        // Podman says so in its own facts (see `podman`).
        rootless: false,
        network_backend: None,
    })
}

/// The engine's product where `/version`'s Components say it is not Docker's: Podman's
/// compatible API lists "Podman Engine" there, Docker's "Engine".
fn product(components: &[bollard::models::SystemVersionComponents]) -> Option<String> {
    components
        .iter()
        .any(|c| c.name.to_ascii_lowercase().contains("podman"))
        .then(|| "Podman".to_string())
}

/// Whether the engine's operating system is Docker Desktop's VM.
pub fn is_desktop(os: &str) -> bool {
    os.contains("Docker Desktop")
}

/// Every network the engine has, so that overlaps between any two show, each with the
/// running containers' endpoints on it. Two requests, whatever the host's size: the
/// network list, which gives all an inspect does but the endpoints, and the running
/// containers' list, whose network settings are the endpoints. (An inspect per network
/// took a tenth of a second at a hundred networks.)
pub async fn networks(docker: &Docker) -> Result<Vec<NetworkObs>, Error> {
    let (list, running) = tokio::join!(
        docker.list_networks(None::<ListNetworksOptions>),
        docker.list_containers(None::<ListContainersOptions>),
    );
    let list = list.map_err(api_err("network list"))?;
    let mut endpoints = endpoints(running.map_err(api_err("container list"))?);
    Ok(observed(list.into_iter().map(|n| {
        // Docker's list names a container's network by id. Podman's (4.x) names it by
        // name, and its default network by the name it has in Podman's own API,
        // `podman`, where the compatible network list calls it `bridge`.
        let name = n.name.as_deref().unwrap_or_default();
        let mut keys = [n.id.as_deref().unwrap_or_default(), name];
        if name == "bridge" {
            keys[1] = "podman";
        }
        let containers = keys.iter().find_map(|k| endpoints.remove(*k));
        NetworkInspect {
            name: n.name,
            id: n.id,
            driver: n.driver,
            enable_ipv4: n.enable_ipv4,
            enable_ipv6: n.enable_ipv6,
            ipam: n.ipam,
            internal: n.internal,
            options: n.options,
            containers: Some(containers.unwrap_or_default()),
            ..Default::default()
        }
    })))
}

/// The endpoints of the running containers `running`, by network id and container id,
/// as a network's inspect gives them.
fn endpoints(running: Vec<ContainerSummary>) -> HashMap<String, HashMap<String, EndpointResource>> {
    let mut by_network: HashMap<String, HashMap<String, EndpointResource>> = HashMap::new();
    for c in running {
        let (Some(id), Some(networks)) = (c.id, c.network_settings.and_then(|s| s.networks)) else {
            continue;
        };
        let name = (c.names.unwrap_or_default().into_iter().next()).unwrap_or_default();
        let with_len = |ip: Option<String>, len: Option<i64>| {
            ip.filter(|ip| !ip.is_empty())
                .map(|ip| format!("{ip}/{}", len.unwrap_or(0)))
        };
        for (_, s) in networks {
            let Some(network) = s.network_id.filter(|n| !n.is_empty()) else {
                continue;
            };
            let endpoint = EndpointResource {
                name: Some(name.trim_start_matches('/').to_string()),
                endpoint_id: s.endpoint_id,
                mac_address: s.mac_address,
                ipv4_address: with_len(s.ip_address, s.ip_prefix_len),
                ipv6_address: with_len(s.global_ipv6_address, s.global_ipv6_prefix_len),
            };
            (by_network.entry(network).or_default()).insert(id.clone(), endpoint);
        }
    }
    by_network
}

/// `networks` as they are now, read again where `changed` (the networks the probe
/// joined, by name): the others' as they were. On a host of a hundred networks, the
/// engine's answers for those the probe did not join cost a tenth of a second and
/// would say the same.
pub async fn networks_again(
    docker: &Docker,
    mut networks: Vec<NetworkObs>,
    changed: &[String],
) -> Result<Vec<NetworkObs>, Error> {
    let ids: Vec<&str> = (networks.iter())
        .filter(|n| changed.contains(&n.name))
        .map(|n| n.id.as_str())
        .collect();
    let mut again = inspect_networks(docker, &ids).await?;
    // A network keeps its names: Podman's inspect calls its default network `podman`
    // where its list says `bridge`, as Docker's does, and names no bridge (the first
    // look asked Podman's own API). Its endpoints are those of the containers that ran
    // at the first look, and the probe's: Podman's inspect lists stopped containers too,
    // and a container started since (on any engine) was not looked into either.
    for n in &mut again {
        if let Some(before) = networks.iter().find(|b| b.id == n.id) {
            n.name.clone_from(&before.name);
            n.bridge.clone_from(&before.bridge);
            // A set: a network of a thousand containers is a million comparisons else.
            let ran: HashSet<&str> = (before.endpoints.iter())
                .map(|b| b.container_id.as_str())
                .collect();
            n.endpoints.retain(|e| {
                e.container_name
                    .starts_with(netcheck_model::protocol::PROBE_PREFIX)
                    || ran.contains(e.container_id.as_str())
            });
        }
    }
    networks.retain(|n| !changed.contains(&n.name));
    networks.extend(again);
    networks.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(networks)
}

/// The networks `ids`, inspected; one removed since it was listed is left out.
async fn inspect_networks(docker: &Docker, ids: &[&str]) -> Result<Vec<NetworkObs>, Error> {
    // Bounded as the container inspects are: each request in flight holds a connection.
    let inspected = futures_util::stream::iter(ids.iter().copied().map(|id| async move {
        // Removed since the list (compose down on a busy host): skipped.
        unless_gone(
            docker
                .inspect_network(id, None::<InspectNetworkOptions>)
                .await,
            "network inspect",
        )
    }))
    .buffered(crate::net::limits::connections_at_once())
    .try_collect::<Vec<_>>()
    .await?;
    Ok(observed(inspected.into_iter().flatten()))
}

/// The networks as the snapshot keeps them, by name.
fn observed(networks: impl Iterator<Item = NetworkInspect>) -> Vec<NetworkObs> {
    let mut out: Vec<NetworkObs> = networks
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
    out
}
