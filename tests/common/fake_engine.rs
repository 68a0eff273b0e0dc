//! A fake Docker engine: a small HTTP/1.1 server on a unix socket that the test makes,
//! answering each request from a table the test controls. It stands for engines that
//! lie: hostile names, huge answers, refusals, old API versions, or no Docker at all.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// What the fake engine answers to one request.
#[derive(Clone)]
pub enum Answer {
    /// A status and a JSON body.
    Json(u16, String),
    /// A status and `len` bytes of a JSON array that never ends in time: `[` then
    /// `{"Name":"x"},` repeated, streamed without being held in memory.
    Huge(u16, usize),
    /// Raw bytes written as they are, then the connection closes: not HTTP from Docker.
    Raw(Vec<u8>),
    /// Docker's answer to attach (101, then the raw stream), with this output before the
    /// stream ends: what a probe that exits at once looks like.
    Upgrade(Vec<u8>),
}

type Routes = HashMap<(String, String), Answer>;

/// The engine, listening until dropped. `requests` records `METHOD PATH` of each request.
pub struct FakeEngine {
    _dir: tempfile::TempDir,
    pub socket: PathBuf,
    routes: Arc<Mutex<Routes>>,
    pub requests: Arc<Mutex<Vec<String>>>,
}

/// A network id the fake engine uses: 64 hex digits, as the engine's are.
pub const NET_ID: &str = "0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f";
pub const CONTAINER_ID: &str = "c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0";

impl FakeEngine {
    /// An engine that answers like Docker 20.10 (API 1.41), with one bridge network
    /// `name` holding one container `container`. Its bridge is no link of this host, so
    /// netcheck judges it as an engine in another namespace: nothing on the host is read.
    pub fn docker(network: &str, container: &str) -> FakeEngine {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("docker.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        let engine = FakeEngine {
            _dir: dir,
            socket,
            routes: Arc::default(),
            requests: Arc::default(),
        };
        let json = |s: serde_json::Value| Answer::Json(200, s.to_string());
        engine.answer(
            "GET",
            "/version",
            json(serde_json::json!({
                "Version": "20.10.24", "ApiVersion": "1.41", "MinAPIVersion": "1.12",
                "Os": "linux", "Arch": "amd64"
            })),
        );
        engine.answer("GET", "/_ping", Answer::Json(200, "OK".into()));
        engine.answer(
            "GET",
            "/info",
            json(serde_json::json!({
                "Name": "fakehost", "OperatingSystem": "Debian GNU/Linux 12",
                "KernelVersion": "6.1.0", "Warnings": []
            })),
        );
        // As a real engine lists them: all but the endpoints, which the running
        // containers' list gives.
        let mut listed = network_json(network, container);
        listed["Containers"] = serde_json::json!({});
        engine.answer("GET", "/networks", json(serde_json::json!([listed])));
        engine.answer(
            "GET",
            &format!("/networks/{NET_ID}"),
            json(network_json(network, container)),
        );
        engine.answer(
            "GET",
            &format!("/containers/{CONTAINER_ID}/json"),
            json(serde_json::json!({
                "Id": CONTAINER_ID, "Name": format!("/{container}"),
                "State": { "Running": true, "Pid": 999999 },
                "NetworkSettings": { "Networks": { network: {
                    "Gateway": "172.30.0.1", "IPAddress": "172.30.0.2"
                }}}
            })),
        );
        // The probe image exists; the probe is created, then exits at once.
        engine.answer_prefix(
            "GET",
            "/images/",
            json(serde_json::json!({"Id": "sha256:0"})),
        );
        engine.answer(
            "POST",
            "/containers/create",
            Answer::Json(201, r#"{"Id":"p0","Warnings":[]}"#.into()),
        );
        engine.answer_prefix("POST", "/containers/", Answer::Json(204, String::new()));
        engine.answer("POST", "/containers/*/attach", Answer::Upgrade(vec![]));
        engine.answer(
            "POST",
            "/containers/*/wait",
            Answer::Json(200, r#"{"StatusCode":137}"#.into()),
        );
        // The one container, on the network (and no netcheck run's probe: it has no
        // label of netcheck's).
        engine.answer(
            "GET",
            "/containers/json",
            json(serde_json::json!([{
                "Id": CONTAINER_ID, "Names": [format!("/{container}")], "State": "running",
                "Labels": {},
                "NetworkSettings": { "Networks": { network: {
                    "NetworkID": NET_ID, "Gateway": "172.30.0.1", "IPAddress": "172.30.0.2",
                    "IPPrefixLen": 16, "MacAddress": "02:42:ac:1e:00:02"
                }}}
            }])),
        );
        engine.answer_prefix("DELETE", "/containers/", Answer::Json(204, String::new()));
        engine.answer_prefix("POST", "/networks/", Answer::Json(200, String::new()));
        engine.serve(listener);
        engine
    }

    /// A socket where something other than Docker answers every request with `answer`.
    pub fn other(answer: Answer) -> FakeEngine {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("docker.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        let engine = FakeEngine {
            _dir: dir,
            socket,
            routes: Arc::default(),
            requests: Arc::default(),
        };
        for method in ["GET", "POST", "HEAD", "DELETE"] {
            engine.answer_prefix(method, "/", answer.clone());
        }
        engine.serve(listener);
        engine
    }

    /// Answers `METHOD PATH` (the path without the query and any `/v1.NN` prefix).
    pub fn answer(&self, method: &str, path: &str, answer: Answer) {
        self.routes
            .lock()
            .unwrap()
            .insert((method.into(), path.into()), answer);
    }

    /// Answers every path under `prefix` that no exact entry answers.
    pub fn answer_prefix(&self, method: &str, prefix: &str, answer: Answer) {
        self.answer(method, &format!("{prefix}*"), answer);
    }

    pub fn docker_host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    fn serve(&self, listener: UnixListener) {
        let routes = self.routes.clone();
        let requests = self.requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let routes = routes.clone();
                let requests = requests.clone();
                std::thread::spawn(move || connection(stream, &routes, &requests));
            }
        });
    }
}

fn network_json(network: &str, container: &str) -> serde_json::Value {
    serde_json::json!({
        "Id": NET_ID, "Name": network, "Driver": "bridge", "Scope": "local",
        "EnableIPv6": false, "Internal": false,
        "IPAM": { "Driver": "default", "Config": [{ "Subnet": "172.30.0.0/16", "Gateway": "172.30.0.1" }] },
        "Options": { "com.docker.network.bridge.name": "nc-fake0" },
        "Containers": { CONTAINER_ID: {
            "Name": container, "IPv4Address": "172.30.0.2/16", "MacAddress": "02:42:ac:1e:00:02"
        }}
    })
}

/// Serves one connection: requests one after another (keep-alive), until it closes.
fn connection(stream: UnixStream, routes: &Mutex<Routes>, requests: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut out = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, target) = (
            parts.next().unwrap_or("").to_string(),
            parts.next().unwrap_or("").to_string(),
        );
        let mut length = 0usize;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            if h == "\r\n" {
                break;
            }
            if let Some((k, v)) = h.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let path = target.split('?').next().unwrap_or("").to_string();
        // `/v1.41/networks` and `/networks` are the same endpoint.
        let path = match path.strip_prefix("/v1.") {
            Some(rest) => rest
                .find('/')
                .map(|i| rest[i..].to_string())
                .unwrap_or(path),
            None => path,
        };
        requests.lock().unwrap().push(format!("{method} {path}"));
        let answer = find(&routes.lock().unwrap(), &method, &path);
        let keep = match answer {
            Some(a) => respond(&mut out, a),
            None => respond(
                &mut out,
                Answer::Json(404, r#"{"message":"page not found"}"#.into()),
            ),
        };
        if !keep {
            return;
        }
    }
}

fn find(routes: &Routes, method: &str, path: &str) -> Option<Answer> {
    if let Some(a) = routes.get(&(method.into(), path.into())) {
        return Some(a.clone());
    }
    // `A*B` matches what starts with A and ends with B; the longest pattern wins.
    routes
        .iter()
        .filter_map(|((m, p), a)| {
            let (prefix, suffix) = p.split_once('*')?;
            let hit = m == method
                && path.len() >= prefix.len() + suffix.len()
                && path.starts_with(prefix)
                && path.ends_with(suffix);
            hit.then_some((p.len(), a))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, a)| a.clone())
}

/// Writes the answer; returns whether the connection stays open for another request.
fn respond(out: &mut UnixStream, answer: Answer) -> bool {
    let reason = |s: u16| match s {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        404 => "Not Found",
        _ => "Status",
    };
    let result = match answer {
        Answer::Json(status, body) => write!(
            out,
            "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nApi-Version: 1.41\r\n\
             Server: Docker/20.10.24 (linux)\r\nContent-Length: {}\r\n\r\n{body}",
            reason(status),
            body.len()
        ),
        Answer::Huge(status, len) => {
            let item = br#"{"Name":"x"},"#;
            let head = write!(
                out,
                "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\n\
                 Server: Docker/20.10.24 (linux)\r\nContent-Length: {len}\r\n\r\n[",
                reason(status)
            );
            let chunk: Vec<u8> = item.iter().copied().cycle().take(64 * 1024).collect();
            let mut left = len.saturating_sub(1);
            let mut r = head;
            while left > 0 && r.is_ok() {
                let n = left.min(chunk.len());
                r = out.write_all(&chunk[..n]);
                left -= n;
            }
            r
        }
        Answer::Raw(bytes) => {
            let _ = out.write_all(&bytes);
            return false;
        }
        Answer::Upgrade(output) => {
            let _ = write!(
                out,
                "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n\
                 Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
            );
            let _ = out.write_all(&output);
            return false;
        }
    };
    result.is_ok()
}
