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
use netcheck_model::snapshot::NetworkObs;

/// Podman's network list and facts, in its own API. The version in the path is the
/// oldest that has them (Podman 4.0); later Podmans answer them alike.
const LIBPOD_NETWORKS: &str = "/v4.0.0/libpod/networks/json";
const LIBPOD_INFO: &str = "/v4.0.0/libpod/info";

#[derive(Deserialize)]
struct LibpodNetwork {
    id: String,
    #[serde(default)]
    network_interface: String,
    /// Its options, some of which (`isolate`) the compatible API leaves out.
    #[serde(default)]
    options: HashMap<String, String>,
}

/// Names each bridge network's interface as Podman's own API gives it (a network
/// Podman does not name keeps the name it had), and adds the options its compatible
/// API leaves out.
pub async fn name_bridges(docker: &Docker, networks: &mut [NetworkObs]) -> Result<(), Error> {
    let listed: Vec<LibpodNetwork> = libpod_get(docker, LIBPOD_NETWORKS, "network list").await?;
    let by_id: HashMap<String, LibpodNetwork> =
        listed.into_iter().map(|n| (n.id.clone(), n)).collect();
    for n in networks.iter_mut() {
        let Some(own) = by_id.get(&n.id) else {
            continue;
        };
        if !own.network_interface.is_empty() {
            n.bridge.clone_from(&own.network_interface);
        }
        for (k, v) in &own.options {
            n.options.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    Ok(())
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
