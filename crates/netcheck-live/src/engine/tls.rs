//! TLS to an engine (`tcp://…:2376` with `--tlsverify` or `DOCKER_TLS_VERIFY`), through
//! netcheck's own connector rather than bollard's.
//!
//! Two reasons. bollard's TLS client leaves Nagle's algorithm on: hyper writes a request
//! in more than one TLS record, the second waits for the engine's delayed ACK, and every
//! request then costs about 40 ms more than it should (a run makes dozens). And only a
//! connector of netcheck's can carry the answer bound ([`super::bounded`]), which
//! bollard's TLS client has no place for.
//!
//! The verification is the docker CLI's: the server's certificate must chain to the
//! given CA and name the host of the endpoint (an IP address is matched against the
//! certificate's IP addresses); the client certificate is sent when there is one.

use std::path::Path;
use std::sync::Arc;

use rustls::ClientConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use super::EngineError;

/// Where a TLS connection goes and how it is verified.
#[derive(Clone)]
pub struct TlsEndpoint {
    /// `host:port`, as the endpoint gives it.
    pub addr: Arc<str>,
    pub server_name: ServerName<'static>,
    pub config: Arc<ClientConfig>,
}

impl TlsEndpoint {
    /// The target for `addr` (`host:port`, `[v6]:port`), trusting only `ca`, and
    /// presenting `cert` and `key` where they exist.
    pub fn new(addr: &str, ca: &Path, cert: &Path, key: &Path) -> Result<TlsEndpoint, EngineError> {
        let (host, _) =
            super::split_host_port(addr).map_err(|detail| EngineError::BadEndpoint {
                endpoint: addr.to_string(),
                detail,
            })?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let server_name =
            ServerName::try_from(host.to_string()).map_err(|e| EngineError::BadEndpoint {
                endpoint: addr.to_string(),
                detail: format!("not a name TLS can verify: {e}"),
            })?;
        Ok(TlsEndpoint {
            addr: Arc::from(addr),
            server_name,
            config: Arc::new(config(ca, cert, key)?),
        })
    }
}

/// The client configuration: the CA's certificates as the only roots, and the client
/// pair where both files exist (an engine may not ask for one; half a pair is an error).
fn config(ca: &Path, cert: &Path, key: &Path) -> Result<ClientConfig, EngineError> {
    let bad = |path: &Path, detail: String| EngineError::TlsFile {
        path: path.to_path_buf(),
        detail,
    };
    // Missing is said as such, not as a PEM reader's I/O error.
    std::fs::metadata(ca).map_err(|e| bad(ca, e.to_string()))?;
    let mut roots = rustls::RootCertStore::empty();
    for c in certificates(ca)? {
        roots.add(c).map_err(|e| bad(ca, e.to_string()))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(ca, e.to_string()))?
        .with_root_certificates(roots);
    match (cert.exists(), key.exists()) {
        (false, false) => Ok(builder.with_no_client_auth()),
        (true, false) => Err(bad(key, "the certificate has no key beside it".into())),
        (false, true) => Err(bad(cert, "the key has no certificate beside it".into())),
        (true, true) => {
            let chain = certificates(cert)?;
            let private = PrivateKeyDer::from_pem_file(key).map_err(|e| bad(key, e.to_string()))?;
            builder
                .with_client_auth_cert(chain, private)
                .map_err(|e| bad(key, e.to_string()))
        }
    }
}

/// The PEM certificates in `path`: at least one.
fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, EngineError> {
    let bad = |detail: String| EngineError::TlsFile {
        path: path.to_path_buf(),
        detail,
    };
    let all = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(e.to_string()))?;
    if all.is_empty() {
        return Err(bad("holds no PEM certificate".into()));
    }
    Ok(all)
}

/// Connects: TCP without Nagle, then the handshake.
pub async fn connect(
    target: &TlsEndpoint,
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let tcp = tokio::net::TcpStream::connect(&*target.addr).await?;
    tcp.set_nodelay(true)?;
    tokio_rustls::TlsConnector::from(target.config.clone())
        .connect(target.server_name.clone(), tcp)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_that_are_not_pem_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "not a certificate").unwrap();
        let missing = dir.path().join("none.pem");
        let err = TlsEndpoint::new("198.18.0.2:2376", &ca, &missing, &missing)
            .err()
            .expect("a CA without a certificate is refused");
        assert!(
            matches!(&err, EngineError::TlsFile { path, .. } if *path == ca),
            "{err}"
        );
    }

    #[test]
    fn an_ip_endpoint_is_verified_as_an_ip() {
        let (host, _) = super::super::split_host_port("[fd00::2]:2376").unwrap();
        let host = host.trim_start_matches('[').trim_end_matches(']');
        assert!(matches!(
            ServerName::try_from(host.to_string()).unwrap(),
            ServerName::IpAddress(_)
        ));
    }
}
