//! netcheck against a second engine in namespaces of its own, reached over TLS, SSH and
//! a docker context (tests/common/remote_engine.rs), with and without the host agent.

mod common;

use common::remote_engine::{CONTEXT, RemoteEngine};
use common::*;

#[test]
fn remote_engine_over_tls_ssh_and_a_context() {
    let Some(_lock) = live() else { return };
    let engine = RemoteEngine::start();
    let certs = engine.certs();
    let path = format!(
        "{}:{}",
        engine.ssh_bin().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let tls = netcheck_env(
        &["-H", &engine.tcp()],
        &[("DOCKER_TLS_VERIFY", "1"), ("DOCKER_CERT_PATH", certs.to_str().unwrap())],
    );
    eprintln!("TLS:\n{}", tls.explain());
    let ssh = netcheck_env(&["-H", &engine.ssh()], &[("PATH", &path)]);
    eprintln!("SSH:\n{}", ssh.explain());
    let ctx = netcheck_env(
        &["--config", engine.docker_config().to_str().unwrap(), "--context", CONTEXT],
        &[],
    );
    eprintln!("context:\n{}", ctx.explain());
    assert!(engine.leftovers().is_empty(), "{:?}", engine.leftovers());
}
