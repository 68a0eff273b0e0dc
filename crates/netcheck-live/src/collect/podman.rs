//! What Podman's own API says where its Docker-compatible one is silent: the host
//! interface of each network's bridge (Podman names bridges `podman0`, `podman1`, … in
//! the order it made them, its `network_interface`, not `br-<id>` as Docker does, and
//! its compatible `/networks` leaves the name out), the socket it serves on its host
//! (where the host agent finds it), and whether it runs rootless.

use std::collections::HashMap;

use bollard::Docker;
use futures_util::TryStreamExt;
use serde::Deserialize;

use netcheck_model::error::Error;
use netcheck_model::snapshot::{NetnsObs, NetworkObs};

/// Podman's network list and facts, in its own API. The version in the path is the
/// oldest that has them (Podman 4.0); later Podmans answer them alike.
const LIBPOD_NETWORKS: &str = "/v4.0.0/libpod/networks/json";
const LIBPOD_INFO: &str = "/v4.0.0/libpod/info";

#[derive(Deserialize)]
struct LibpodNetwork {
    /// Absent in Podman 3's (CNI) list, which names no bridge either.
    #[serde(default)]
    id: String,
    #[serde(default)]
    network_interface: String,
    /// Its options, some of which (`isolate`) the compatible API leaves out.
    #[serde(default)]
    options: HashMap<String, String>,
}

/// Names each bridge network's interface as Podman's own API gives it, and adds the
/// options its compatible API leaves out. Where that API does not answer (Podman 3, a
/// socket proxy that passes Docker's paths alone), a bridge is the host's link that
/// carries the network's gateway (there where a container runs on it); a network named
/// by neither keeps the name it had. True where Podman's own API answered.
pub async fn name_bridges(
    docker: &Docker,
    networks: &mut [NetworkObs],
    host: Option<&NetnsObs>,
) -> bool {
    let listed = libpod_get::<Vec<LibpodNetwork>>(docker, LIBPOD_NETWORKS, "network list").await;
    let Ok(listed) = listed else {
        by_gateway(networks, host);
        return false;
    };
    let by_id: HashMap<String, LibpodNetwork> =
        listed.into_iter().map(|n| (n.id.clone(), n)).collect();
    for n in networks.iter_mut() {
        let Some(own) = by_id.get(&n.id) else {
            continue;
        };
        // A macvlan's or ipvlan's interface is its parent NIC, no bridge.
        if !own.network_interface.is_empty() && n.driver == "bridge" {
            n.bridge.clone_from(&own.network_interface);
        }
        for (k, v) in &own.options {
            n.options.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    by_gateway(networks, host);
    true
}

/// The bridges Podman's own API did not name, by the gateway address they carry.
fn by_gateway(networks: &mut [NetworkObs], host: Option<&NetnsObs>) {
    let Some(host) = host else { return };
    for n in networks.iter_mut().filter(|n| n.driver == "bridge") {
        if host.link_by_name(&n.bridge).is_some() {
            continue;
        }
        let gateways: Vec<std::net::IpAddr> = n.ipam.iter().filter_map(|c| c.gateway).collect();
        let carrier = (host.addrs.iter()).find(|a| gateways.contains(&a.addr.addr()));
        if let Some(link) = carrier.and_then(|a| host.link(a.index)) {
            n.bridge.clone_from(&link.name);
        }
    }
}

/// What Podman's own facts say of where it runs.
#[derive(Debug, Default, Deserialize)]
pub struct Facts {
    #[serde(default)]
    host: FactsHost,
}

#[derive(Debug, Default, Deserialize)]
struct FactsHost {
    #[serde(default, rename = "remoteSocket")]
    remote_socket: Option<RemoteSocket>,
    #[serde(default)]
    security: Security,
    #[serde(default, rename = "networkBackend")]
    network_backend: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct RemoteSocket {
    #[serde(default)]
    path: String,
}

#[derive(Debug, Default, Deserialize)]
struct Security {
    #[serde(default)]
    rootless: bool,
}

impl Facts {
    /// The unix socket the service answers on, on its own host.
    pub fn socket(&self) -> Option<String> {
        let path = self.host.remote_socket.as_ref()?.path.as_str();
        let path = path.strip_prefix("unix://").unwrap_or(path);
        path.starts_with('/').then(|| path.to_string())
    }

    pub fn rootless(&self) -> bool {
        self.host.security.rootless
    }

    /// `netavark` or `cni`.
    pub fn network_backend(&self) -> Option<String> {
        self.host.network_backend.clone().filter(|b| !b.is_empty())
    }
}

/// Podman's own facts (`podman info`).
pub async fn facts(docker: &Docker) -> Result<Facts, Error> {
    libpod_get(docker, LIBPOD_INFO, "info").await
}

/// bollard speaks only Docker's API, and has no call for an arbitrary path. Of its
/// calls, a container export returns the answer's bytes as they come, without parsing
/// them as one of Docker's types: with its path rewritten to one of Podman's own, the
/// answer comes over whatever transport (unix socket, TLS, SSH) and bound the engine's
/// client has.
async fn libpod_get<T: serde::de::DeserializeOwned>(
    docker: &Docker,
    path: &'static str,
    what: &str,
) -> Result<T, Error> {
    let err = |detail: String| Error::Docker {
        what: format!("Podman's {what}"),
        detail,
    };
    let client = docker.clone().with_request_modifier(move |mut req| {
        let mut parts = req.uri().clone().into_parts();
        parts.path_and_query = Some(hyper::http::uri::PathAndQuery::from_static(path));
        // Left unchanged (it cannot fail: the parts are a valid URI's), the request
        // would export a container no engine has, and fail with 404 as Docker does.
        if let Ok(uri) = hyper::Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
        req
    });
    let chunks: Vec<_> = client
        .export_container("netcheck-libpod")
        .try_collect()
        .await
        .map_err(|e| err(e.to_string()))?;
    let body: Vec<u8> = chunks.concat();
    serde_json::from_slice(&body).map_err(|e| err(format!("an unreadable answer: {e}")))
}
