//! What Podman's own API says where its Docker-compatible one is silent: the host
//! interface of each network's bridge. Podman names bridges `podman0`, `podman1`, … in
//! the order it made them (its `network_interface`), not `br-<id>` as Docker does, and
//! its compatible `/networks` leaves the name out.

use std::collections::HashMap;

use bollard::Docker;
use futures_util::TryStreamExt;
use serde::Deserialize;

use netcheck_model::error::Error;
use netcheck_model::snapshot::NetworkObs;

/// Podman's network list, in its own API. The version in the path is the oldest that
/// has it (Podman 4.0); later Podmans answer it alike.
const LIBPOD_NETWORKS: &str = "/v4.0.0/libpod/networks/json";

#[derive(Deserialize)]
struct LibpodNetwork {
    id: String,
    #[serde(default)]
    network_interface: String,
}

/// Names each bridge network's interface as Podman's own API gives it; a network
/// Podman does not name keeps the name it had.
pub async fn name_bridges(docker: &Docker, networks: &mut [NetworkObs]) -> Result<(), Error> {
    let by_id: HashMap<String, String> = libpod_networks(docker)
        .await?
        .into_iter()
        .filter(|n| !n.network_interface.is_empty())
        .map(|n| (n.id, n.network_interface))
        .collect();
    for n in networks.iter_mut() {
        if let Some(name) = by_id.get(&n.id) {
            n.bridge.clone_from(name);
        }
    }
    Ok(())
}

/// bollard speaks only Docker's API, and has no call for an arbitrary path. Of its
/// calls, a container export returns the answer's bytes as they come, without parsing
/// them as one of Docker's types: with its path rewritten to Podman's network list, the
/// answer comes over whatever transport (unix socket, TLS, SSH) and bound the engine's
/// client has.
async fn libpod_networks(docker: &Docker) -> Result<Vec<LibpodNetwork>, Error> {
    let err = |detail: String| Error::Docker {
        what: "Podman's network list".into(),
        detail,
    };
    let client = docker.clone().with_request_modifier(|mut req| {
        let mut parts = req.uri().clone().into_parts();
        parts.path_and_query = Some(hyper::http::uri::PathAndQuery::from_static(LIBPOD_NETWORKS));
        if let Ok(uri) = hyper::Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
        req
    });
    let chunks: Vec<_> = client
        .export_container("netcheck-libpod-networks")
        .try_collect()
        .await
        .map_err(|e| err(e.to_string()))?;
    let body: Vec<u8> = chunks.concat();
    serde_json::from_slice(&body).map_err(|e| err(format!("an unreadable answer: {e}")))
}
