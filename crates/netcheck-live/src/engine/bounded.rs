//! A bound on what netcheck reads from the engine. bollard reads every answer whole
//! into memory before parsing it, so an engine (or whatever answers in its place) that
//! sends 200 MB would hold 200 MB and more of netcheck. The bound sits below HTTP, in
//! the connection: the bytes read since the last request was written count against
//! [`ANSWER_LIMIT`], and past it the read fails with [`AnswerTooLarge`], which ends that
//! request (and its connection) and nothing else.

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bollard::{API_DEFAULT_VERSION, BollardRequest, Docker};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The most one answer may hold. The largest a real engine sends is a network's inspect
/// on a crowded host or a container's inspect: hundreds of KiB. 16 MiB is far above
/// that, and keeps netcheck's memory within tens of MB whatever the engine sends.
pub const ANSWER_LIMIT: usize = 16 * 1024 * 1024;

/// The error a read past [`ANSWER_LIMIT`] fails with, found again in bollard's error's
/// sources by [`too_large`].
#[derive(Debug, thiserror::Error)]
#[error("the answer exceeds {} MiB", .limit / (1024 * 1024))]
pub struct AnswerTooLarge {
    pub limit: usize,
}

/// Whether a failed request failed on the bound, and at what size.
pub fn too_large(e: &(dyn std::error::Error + 'static)) -> Option<usize> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(t) = err.downcast_ref::<AnswerTooLarge>() {
            return Some(t.limit);
        }
        // io::Error hides a custom error from `source()`: look inside.
        if let Some(inner) = err
            .downcast_ref::<io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|i| i.downcast_ref::<AnswerTooLarge>())
        {
            return Some(inner.limit);
        }
        source = err.source();
    }
    None
}

/// A stream that counts what it reads since its last write, and fails past `limit`.
pub struct Bounded<S> {
    inner: S,
    read: usize,
    limit: usize,
}

impl<S> Bounded<S> {
    pub fn new(inner: S, limit: usize) -> Self {
        Bounded {
            inner,
            read: 0,
            limit,
        }
    }
}

impl<S: Connection> Connection for Bounded<S> {
    fn connected(&self) -> Connected {
        self.inner.connected()
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Bounded<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            this.read += buf.filled().len() - before;
            if this.read > this.limit {
                return Poll::Ready(Err(io::Error::other(AnswerTooLarge { limit: this.limit })));
            }
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Bounded<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        // A new request: its answer starts from zero. hyper writes a request only once
        // the previous answer was read (HTTP/1.1, no pipelining).
        if let Poll::Ready(Ok(n)) = polled
            && n > 0
        {
            this.read = 0;
        }
        polled
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Where a direct connection (no `ssh` between) goes: the transport's address, whatever
/// the request's URI.
#[derive(Clone)]
pub enum Direct {
    Unix(Arc<PathBuf>),
    Tcp(Arc<str>),
    Tls(super::tls::TlsEndpoint),
}

/// A unix-socket, TCP or TLS stream, as one type for the connector.
pub enum DirectStream {
    Unix(tokio::net::UnixStream),
    Tcp(tokio::net::TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>),
}

impl Connection for DirectStream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl AsyncRead for DirectStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            DirectStream::Unix(s) => Pin::new(s).poll_read(cx, buf),
            DirectStream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            DirectStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for DirectStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            DirectStream::Unix(s) => Pin::new(s).poll_write(cx, buf),
            DirectStream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            DirectStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            DirectStream::Unix(s) => Pin::new(s).poll_flush(cx),
            DirectStream::Tcp(s) => Pin::new(s).poll_flush(cx),
            DirectStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            DirectStream::Unix(s) => Pin::new(s).poll_shutdown(cx),
            DirectStream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            DirectStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

impl tower_service::Service<hyper::Uri> for Direct {
    type Response = TokioIo<Bounded<DirectStream>>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: hyper::Uri) -> Self::Future {
        let to = self.clone();
        Box::pin(async move {
            let stream = match to {
                Direct::Unix(path) => {
                    DirectStream::Unix(tokio::net::UnixStream::connect(&*path).await?)
                }
                Direct::Tcp(addr) => {
                    let s = tokio::net::TcpStream::connect(&*addr).await?;
                    s.set_nodelay(true)?;
                    DirectStream::Tcp(s)
                }
                Direct::Tls(target) => {
                    DirectStream::Tls(Box::new(super::tls::connect(&target).await?))
                }
            };
            Ok(TokioIo::new(Bounded::new(stream, ANSWER_LIMIT)))
        })
    }
}

/// A bollard client over `connector`, whose connections carry the bound.
pub fn client<C>(connector: C, timeout_secs: u64) -> Result<Docker, bollard::errors::Error>
where
    C: tower_service::Service<hyper::Uri> + Clone + Send + Sync + 'static,
    C::Response: hyper::rt::Read + hyper::rt::Write + Connection + Send + Unpin + 'static,
    C::Future: Send + Unpin + 'static,
    C::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let client = Arc::new(Client::builder(TokioExecutor::new()).build(connector));
    Docker::connect_with_custom_transport(
        move |req: BollardRequest| {
            let client = client.clone();
            Box::pin(async move {
                client
                    .request(req)
                    .await
                    .map_err(bollard::errors::Error::from)
            })
        },
        // Requests need a well-formed URI; the connector ignores it.
        Some("http://docker.engine"),
        timeout_secs,
        API_DEFAULT_VERSION,
    )
}
