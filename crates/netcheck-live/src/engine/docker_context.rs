//! The docker CLI's stored contexts, read as it writes them:
//! - `config.json`'s `currentContext` names the chosen one;
//! - `contexts/meta/<sha256 of the name>/meta.json` holds its endpoint,
//!   `{"Name", "Metadata", "Endpoints": {"docker": {"Host", "SkipTLSVerify"}}}`;
//! - `contexts/tls/<sha256 of the name>/docker/{ca,cert,key}.pem` its TLS material.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::EngineError;

/// A context's TLS files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// What a stored context says about its docker endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub host: String,
    pub skip_tls_verify: bool,
    pub tls: Option<TlsFiles>,
}

#[derive(Deserialize)]
struct Config {
    #[serde(rename = "currentContext", default)]
    current_context: Option<String>,
}

#[derive(Deserialize)]
struct Meta {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Endpoints", default)]
    endpoints: Endpoints,
}

#[derive(Deserialize, Default)]
struct Endpoints {
    docker: Option<DockerEndpoint>,
}

#[derive(Deserialize)]
struct DockerEndpoint {
    #[serde(rename = "Host", default)]
    host: String,
    #[serde(rename = "SkipTLSVerify", default)]
    skip_tls_verify: bool,
}

/// The directory name the CLI stores a context under.
pub fn digest(name: &str) -> String {
    Sha256::digest(name.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `currentContext` from `DIR/config.json`; none when the file or the key is absent.
/// An unreadable or malformed file is warned about and ignored, as the docker CLI does
/// ("WARNING: Error loading config file"), so that a user who cannot read root's
/// config still reaches the default engine.
pub fn current(dir: &Path) -> Option<String> {
    let path = dir.join("config.json");
    let text = match netcheck_model::input::read(&path, netcheck_model::input::Kind::Config, false)
    {
        Ok(t) => t,
        Err(netcheck_model::input::InputError::Io(e))
            if e.kind() == std::io::ErrorKind::NotFound =>
        {
            return None;
        }
        Err(e) => {
            eprintln!("warning: error loading config file {}: {e}", path.display());
            return None;
        }
    };
    match serde_json::from_str::<Config>(&text) {
        Ok(config) => config.current_context.filter(|c| !c.is_empty()),
        Err(e) => {
            eprintln!("warning: error loading config file {}: {e}", path.display());
            None
        }
    }
}

/// Every stored context's name and docker endpoint, sorted by name, as `docker context
/// ls` lists them (without `default`, which is not stored). Unreadable entries are left
/// out: this serves completion, which must not fail.
pub fn stored(dir: &Path) -> Vec<(String, String)> {
    let Ok(entries) = std::fs::read_dir(dir.join("contexts/meta")) else {
        return Vec::new();
    };
    let mut out: Vec<(String, String)> = entries
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("meta.json")).ok())
        .filter_map(|text| serde_json::from_str::<Meta>(&text).ok())
        .map(|m| {
            (
                m.name,
                m.endpoints.docker.map(|d| d.host).unwrap_or_default(),
            )
        })
        .collect();
    out.sort();
    out
}

/// The stored context `name`, with its TLS files if it has a CA.
pub fn load(dir: &Path, name: &str) -> Result<Stored, EngineError> {
    let hash = digest(name);
    let meta_path = dir.join("contexts/meta").join(&hash).join("meta.json");
    let bad = |detail: String| EngineError::BadContext {
        name: name.to_string(),
        detail,
    };
    let text =
        match netcheck_model::input::read(&meta_path, netcheck_model::input::Kind::Config, false) {
            Ok(t) => t,
            Err(netcheck_model::input::InputError::Io(e))
                if e.kind() == std::io::ErrorKind::NotFound =>
            {
                return Err(EngineError::NoSuchContext {
                    name: name.to_string(),
                    dir: dir.join("contexts/meta"),
                });
            }
            Err(e) => return Err(bad(format!("{}: {e}", meta_path.display()))),
        };
    let meta: Meta =
        serde_json::from_str(&text).map_err(|e| bad(format!("{}: {e}", meta_path.display())))?;
    if meta.name != name {
        return Err(bad(format!(
            "{} names another context, `{}`",
            meta_path.display(),
            meta.name
        )));
    }
    let docker = meta
        .endpoints
        .docker
        .ok_or_else(|| bad("it has no docker endpoint".into()))?;
    if docker.host.is_empty() {
        return Err(bad("its docker endpoint has no host".into()));
    }
    let tls_dir = dir.join("contexts/tls").join(&hash).join("docker");
    let file = |f: &str| Some(tls_dir.join(f)).filter(|p| p.exists());
    // A CA alone is enough to verify the engine; the client pair is what the engine may
    // ask for in return.
    let tls = file("ca.pem").map(|ca| TlsFiles {
        ca,
        cert: tls_dir.join("cert.pem"),
        key: tls_dir.join("key.pem"),
    });
    Ok(Stored {
        host: docker.host,
        skip_tls_verify: docker.skip_tls_verify,
        tls,
    })
}
