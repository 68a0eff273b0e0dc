//! Connecting to the engine, and when the first request fails, the cause a user can act
//! on: a missing socket, a permission, a daemon that is down, or something that answered
//! but is not Docker (said with what it was).

use std::io;

use bollard::Docker;

use crate::engine::Engine;
use netcheck_model::error::Error;

/// Connects to the resolved engine and negotiates the API version (20.10 engines
/// speak 1.41).
///
/// Returns whether the engine is local: on a unix socket, this machine's kernel is the
/// engine's, so host-side observations are about the right host (collection still
/// checks that its bridges are visible here).
pub async fn connect(engine: &Engine) -> Result<(Docker, bool), Error> {
    crate::engine::check_files(engine)?;
    let endpoint = engine.endpoint.clone();
    let docker = crate::engine::client(engine).map_err(|e| match e {
        bollard::errors::Error::SocketNotFoundError(_) => missing(engine),
        e => Error::BadDockerHost {
            endpoint: endpoint.clone(),
            detail: e.to_string(),
        },
    })?;
    let docker = match docker.negotiate_version().await {
        Ok(docker) => docker,
        Err(e) => {
            let mut error = classify(engine, &e);
            // Something answered, but not as Docker does: say what it was.
            if matches!(error, Error::DaemonDown { .. }) && answered(&e) {
                error = Error::NotDocker {
                    endpoint: endpoint.clone(),
                    answer: what_answered(&engine.transport)
                        .await
                        .unwrap_or_else(|| e.to_string()),
                };
            }
            return Err(error);
        }
    };
    Ok((docker, engine.transport.is_local()))
}

/// Whether the failed request reached something that answered (an HTTP status, or
/// bytes that are not the HTTP or JSON Docker speaks), rather than nothing at all.
fn answered(e: &bollard::errors::Error) -> bool {
    use bollard::errors::Error as B;
    match e {
        B::DockerResponseServerError { .. }
        | B::JsonDataError { .. }
        | B::JsonSerdeError { .. } => true,
        B::APIVersionParseError { .. } => true,
        // Bytes came back that hyper could not read as HTTP.
        _ => {
            let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
            while let Some(err) = source {
                if let Some(h) = err.downcast_ref::<hyper::Error>()
                    && (h.is_parse() || h.is_parse_status())
                {
                    return true;
                }
                source = err.source();
            }
            false
        }
    }
}

/// The most an answer's excerpt shows, and the most read of it.
const EXCERPT_CHARS: usize = 120;
const ANSWER_READ_BYTES: usize = 4096;

/// What answers at a plain endpoint (unix socket or TCP), in one bounded request of its
/// own: its status line, its Server header, and the start of its body. Engines behind
/// TLS or ssh are not asked: their transport already proved it is no plain listener.
async fn what_answered(transport: &crate::engine::Transport) -> Option<String> {
    use crate::engine::Transport;
    let buf = match transport {
        Transport::Unix { path } => ask(tokio::net::UnixStream::connect(path).await.ok()?).await,
        Transport::Tcp { addr } => ask(tokio::net::TcpStream::connect(addr).await.ok()?).await,
        _ => return None,
    };
    Some(describe_answer(&buf))
}

/// Sends `GET /version` and reads the answer: until its body is complete, the
/// connection closes, [`ANSWER_READ_BYTES`] are in, or two seconds have passed.
async fn ask(mut s: impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin) -> Vec<u8> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = Vec::with_capacity(ANSWER_READ_BYTES);
    let request = b"GET /version HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n";
    if s.write_all(request).await.is_err() {
        return buf;
    }
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
    let mut chunk = [0u8; 1024];
    while buf.len() < ANSWER_READ_BYTES {
        match tokio::time::timeout_at(deadline, s.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => break,
        }
        if answer_complete(&buf) {
            break;
        }
    }
    buf.truncate(ANSWER_READ_BYTES);
    buf
}

/// Whether `buf` holds a whole HTTP answer: headers, and the body they announce.
fn answer_complete(buf: &[u8]) -> bool {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    let Ok(httparse::Status::Complete(end)) = response.parse(buf) else {
        return false;
    };
    let length = response
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| {
            std::str::from_utf8(h.value)
                .ok()?
                .trim()
                .parse::<usize>()
                .ok()
        });
    length.is_some_and(|l| buf.len() >= end + l)
}

/// An answer in a few words: `HTTP 404 Not Found, Server: nginx/1.25, body "<html>…"`,
/// or the bytes themselves when they are not HTTP.
fn describe_answer(buf: &[u8]) -> String {
    let excerpt = |bytes: &[u8]| {
        let text = String::from_utf8_lossy(bytes);
        let text = text.trim();
        let mut short: String = text.chars().take(EXCERPT_CHARS).collect();
        if short.len() < text.len() {
            short.push('…');
        }
        format!("{short:?}")
    };
    if buf.is_empty() {
        return "it closed the connection without a word".into();
    }
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(buf) {
        Ok(status) => {
            let server = response
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("server"))
                .map(|h| String::from_utf8_lossy(h.value).into_owned());
            let mut text = format!(
                "HTTP {} {}, {}",
                response.code.unwrap_or(0),
                response.reason.unwrap_or(""),
                match server {
                    Some(s) => format!("Server: {}", excerpt(s.as_bytes())),
                    None => "no Server header".into(),
                }
            );
            if let httparse::Status::Complete(end) = status {
                text.push_str(&format!(", body {}", excerpt(&buf[end..])));
            }
            text
        }
        Err(_) => format!("not HTTP: {}", excerpt(buf)),
    }
}

/// Turns a failed first request into the cause a user can act on.
/// The socket the engine's endpoint names is not there, with what chose it.
fn missing(engine: &Engine) -> Error {
    Error::SocketMissing {
        endpoint: engine.endpoint.clone(),
        chosen_by: engine.source,
        context: engine.context.clone(),
    }
}

fn classify(engine: &Engine, e: &bollard::errors::Error) -> Error {
    let endpoint = engine.endpoint.clone();
    if let Some(limit) = crate::engine::bounded::too_large(e) {
        return Error::AnswerTooLarge {
            what: "version".into(),
            limit_mib: limit >> 20,
        };
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<io::Error>() {
            return match io.kind() {
                io::ErrorKind::NotFound if endpoint.starts_with("unix://") => missing(engine),
                io::ErrorKind::PermissionDenied => Error::SocketPermission { endpoint },
                _ => Error::DaemonDown {
                    endpoint,
                    detail: io.to_string(),
                },
            };
        }
        source = err.source();
    }
    let detail = e.to_string();
    if detail.contains("No such file")
        || matches!(e, bollard::errors::Error::SocketNotFoundError(_))
    {
        return missing(engine);
    }
    if detail.contains("ermission denied") {
        return Error::SocketPermission { endpoint };
    }
    Error::DaemonDown { endpoint, detail }
}
