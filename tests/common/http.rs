//! A plain HTTP/1.0 GET for the tests of netcheck's own servers (and Prometheus'), so
//! that no HTTP client is needed: loopback only.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// The status code (0 when nothing answers) and the body of `GET path`.
pub fn get(port: u16, path: &str, accept: &str) -> (u16, String) {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new());
    };
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    if write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nAccept: {accept}\r\n\r\n"
    )
    .is_err()
    {
        return (0, String::new());
    }
    let mut response = String::new();
    let _ = s.read_to_string(&mut response);
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, body.to_string())
}

/// Polls until `pred` holds on a GET of `path`, or panics after `within`.
pub fn wait_get(
    port: u16,
    path: &str,
    within: Duration,
    pred: impl Fn(u16, &str) -> bool,
) -> String {
    let started = Instant::now();
    loop {
        let (code, body) = get(port, path, "*/*");
        if pred(code, &body) {
            return body;
        }
        assert!(
            started.elapsed() < within,
            "{path} did not change within {within:?}: last {code}\n{body}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A free loopback port (free when asked: good enough for a test's own servers).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed and reaped on drop, whatever the test's outcome.
pub struct Reaped(pub std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
