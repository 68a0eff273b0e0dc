//! Tiny HTTP listeners the probe talks to. Each answers every request with the client
//! address it saw, as JSON: that is how the masquerade test learns the source address
//! after NAT, and how the gateway and host-domain tests prove the host answered.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::task::JoinHandle;

/// What a listener answers: `{"seen":"172.17.0.2"}`.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Seen {
    pub seen: IpAddr,
}

pub struct Listener {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Binds a listener on one specific address (never a wildcard: it would expose the
/// listener on every interface of the host) and serves it in the background.
pub fn bind(ip: IpAddr) -> std::io::Result<Listener> {
    bind_port(ip, 0)
}

/// Binds an address that may not exist yet (IP_FREEBIND): Podman gives a network's
/// bridge its gateway address only when the network's first container (the probe)
/// starts, after netcheck binds the listener the probe is to reach there.
pub fn bind_ahead(ip: IpAddr, port: u16) -> std::io::Result<Listener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address((ip, 0).into()), Type::STREAM, None)?;
    // As std's bind does: a port of a listener that just closed is free to take.
    socket.set_reuse_address(true)?;
    match ip {
        IpAddr::V4(_) => socket.set_freebind_v4(true)?,
        IpAddr::V6(_) => socket.set_freebind_v6(true)?,
    }
    socket.bind(&std::net::SocketAddr::new(ip, port).into())?;
    socket.listen(1024)?;
    serve(socket.into())
}

pub fn bind_port(ip: IpAddr, port: u16) -> std::io::Result<Listener> {
    serve(std::net::TcpListener::bind((ip, port))?)
}

pub fn serve(listener: std::net::TcpListener) -> std::io::Result<Listener> {
    let addr = listener.local_addr()?;
    assert!(
        !addr.ip().is_unspecified(),
        "netcheck never listens on a wildcard address"
    );
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let task = tokio::spawn(async move {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                // Out of descriptors for a moment (a burst of connections under a low
                // limit): the connection waits in the backlog, and is taken once the
                // burst's others close. Serving on beats dying with the listener.
                Err(e)
                    if e.raw_os_error() == Some(libc::EMFILE)
                        || e.raw_os_error() == Some(libc::ENFILE) =>
                {
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                    continue;
                }
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionAborted => continue,
                Err(_) => break,
            };
            tokio::spawn(async move {
                let service = service_fn(move |_req: Request<hyper::body::Incoming>| async move {
                    let body = serde_json::to_vec(&Seen { seen: peer.ip() }).unwrap_or_default();
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body))))
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(Listener { addr, task })
}
