//! Precedence and context parsing, on temporary config directories.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::*;

struct Vars(HashMap<&'static str, String>);

impl Env for Vars {
    fn var(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }
}

fn env(dir: &Path, vars: &[(&'static str, &str)]) -> Vars {
    let mut m: HashMap<&'static str, String> =
        vars.iter().map(|(k, v)| (*k, v.to_string())).collect();
    m.entry("DOCKER_CONFIG")
        .or_insert_with(|| dir.to_string_lossy().into_owned());
    Vars(m)
}

/// Writes a context as `docker context create` does; `tls` puts a CA (and a client pair)
/// beside it.
fn context(dir: &Path, name: &str, host: &str, tls: bool, skip: bool) {
    let hash = docker_context::digest(name);
    let meta = dir.join("contexts/meta").join(&hash);
    std::fs::create_dir_all(&meta).unwrap();
    std::fs::write(
        meta.join("meta.json"),
        serde_json::json!({
            "Name": name,
            "Metadata": {"Description": "test"},
            "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": skip}},
        })
        .to_string(),
    )
    .unwrap();
    if tls {
        let t = dir.join("contexts/tls").join(&hash).join("docker");
        std::fs::create_dir_all(&t).unwrap();
        for f in ["ca.pem", "cert.pem", "key.pem"] {
            std::fs::write(t.join(f), "x").unwrap();
        }
    }
}

fn current(dir: &Path, name: &str) {
    std::fs::write(
        dir.join("config.json"),
        serde_json::json!({"auths": {}, "currentContext": name}).to_string(),
    )
    .unwrap();
}

fn hosts(h: &[&str]) -> Flags {
    Flags {
        hosts: h.iter().map(|s| s.to_string()).collect(),
        ..Flags::default()
    }
}

fn ctx(c: &str) -> Flags {
    Flags {
        contexts: vec![c.to_string()],
        ..Flags::default()
    }
}

/// A config directory with three contexts and `b` current.
fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    context(dir.path(), "a", "tcp://198.18.5.2:2375", false, false);
    context(dir.path(), "b", "ssh://root@198.18.5.2", false, false);
    context(dir.path(), "secure", "tcp://198.18.5.2:2376", true, false);
    current(dir.path(), "b");
    dir
}

#[test]
fn default_is_the_local_socket() {
    let dir = tempfile::tempdir().unwrap();
    let e = resolve(&Flags::default(), &env(dir.path(), &[])).unwrap();
    assert_eq!(e.name, "default");
    assert_eq!(e.source, "default");
    assert_eq!(e.context, None);
    assert_eq!(
        e.transport,
        Transport::Unix {
            path: DEFAULT_SOCKET.into()
        }
    );
}

#[test]
fn context_flag_beats_everything_else() {
    let dir = setup();
    let vars = env(
        dir.path(),
        &[
            ("DOCKER_HOST", "tcp://198.18.9.9:1"),
            ("DOCKER_CONTEXT", "a"),
        ],
    );
    let e = resolve(&ctx("secure"), &vars).unwrap();
    assert_eq!((e.name.as_str(), e.source), ("secure", "--context"));
    assert_eq!(e.context.as_deref(), Some("secure"));
    assert_eq!(e.endpoint, "tcp://198.18.5.2:2376");
    let tls = dir
        .path()
        .join("contexts/tls")
        .join(docker_context::digest("secure"))
        .join("docker");
    assert_eq!(
        e.transport,
        Transport::Tls {
            addr: "198.18.5.2:2376".into(),
            ca: tls.join("ca.pem"),
            cert: tls.join("cert.pem"),
            key: tls.join("key.pem"),
        }
    );
}

#[test]
fn host_flag_beats_the_environment_and_config() {
    let dir = setup();
    let vars = env(
        dir.path(),
        &[
            ("DOCKER_HOST", "tcp://198.18.9.9:1"),
            ("DOCKER_CONTEXT", "a"),
        ],
    );
    let e = resolve(&hosts(&["unix:///tmp/x.sock"]), &vars).unwrap();
    assert_eq!((e.name.as_str(), e.source), ("default", "--host"));
    assert_eq!(
        e.transport,
        Transport::Unix {
            path: "/tmp/x.sock".into()
        }
    );
}

#[test]
fn docker_host_beats_docker_context_and_config() {
    let dir = setup();
    let vars = env(
        dir.path(),
        &[("DOCKER_HOST", "tcp://198.18.9.9"), ("DOCKER_CONTEXT", "a")],
    );
    let e = resolve(&Flags::default(), &vars).unwrap();
    assert_eq!(e.source, "DOCKER_HOST");
    // No port: 2375 in the clear, as the docker CLI.
    assert_eq!(
        e.transport,
        Transport::Tcp {
            addr: "198.18.9.9:2375".into()
        }
    );
}

#[test]
fn docker_context_beats_config_json() {
    let dir = setup();
    let e = resolve(
        &Flags::default(),
        &env(dir.path(), &[("DOCKER_CONTEXT", "a")]),
    )
    .unwrap();
    assert_eq!((e.name.as_str(), e.source), ("a", "DOCKER_CONTEXT"));
    assert_eq!(
        e.transport,
        Transport::Tcp {
            addr: "198.18.5.2:2375".into()
        }
    );
}

#[test]
fn config_json_current_context_is_used_last() {
    let dir = setup();
    let e = resolve(&Flags::default(), &env(dir.path(), &[])).unwrap();
    assert_eq!((e.name.as_str(), e.source), ("b", "config.json"));
    assert_eq!(
        e.transport,
        Transport::Ssh {
            user: Some("root".into()),
            host: "198.18.5.2".into(),
            port: None
        }
    );
}

#[test]
fn empty_variables_count_as_unset() {
    let dir = setup();
    let vars = env(dir.path(), &[("DOCKER_HOST", ""), ("DOCKER_CONTEXT", "")]);
    assert_eq!(
        resolve(&Flags::default(), &vars).unwrap().source,
        "config.json"
    );
    let vars = env(
        dir.path(),
        &[("DOCKER_TLS_VERIFY", ""), ("DOCKER_HOST", "tcp://h:1")],
    );
    assert!(matches!(
        resolve(&Flags::default(), &vars).unwrap().transport,
        Transport::Tcp { .. }
    ));
}

#[test]
fn the_default_context_by_name_uses_the_environment() {
    let dir = setup();
    let vars = env(dir.path(), &[("DOCKER_CONTEXT", "default")]);
    let e = resolve(&Flags::default(), &vars).unwrap();
    assert_eq!((e.name.as_str(), e.source), ("default", "DOCKER_CONTEXT"));
    assert!(e.transport.is_local());
}

#[test]
fn config_flag_beats_docker_config() {
    let dir = setup();
    let other = tempfile::tempdir().unwrap();
    let flags = Flags {
        config: Some(other.path().to_path_buf()),
        ..Flags::default()
    };
    // The other directory has no config.json: the default, not `b`.
    assert_eq!(
        resolve(&flags, &env(dir.path(), &[])).unwrap().source,
        "default"
    );
}

#[test]
fn tls_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let vars = env(
        dir.path(),
        &[
            ("DOCKER_HOST", "tcp://198.18.5.2"),
            ("DOCKER_TLS_VERIFY", "1"),
            ("DOCKER_CERT_PATH", "/certs"),
        ],
    );
    let e = resolve(&Flags::default(), &vars).unwrap();
    assert_eq!(
        e.transport,
        Transport::Tls {
            addr: "198.18.5.2:2376".into(),
            ca: "/certs/ca.pem".into(),
            cert: "/certs/cert.pem".into(),
            key: "/certs/key.pem".into(),
        }
    );
}

#[test]
fn tls_flags_override_the_cert_path_file_by_file() {
    let dir = tempfile::tempdir().unwrap();
    let flags = Flags {
        hosts: vec!["tcp://198.18.5.2:2376".into()],
        tlsverify: true,
        tlscacert: Some("/mine/ca.pem".into()),
        ..Flags::default()
    };
    let e = resolve(&flags, &env(dir.path(), &[])).unwrap();
    let Transport::Tls { ca, cert, .. } = e.transport else {
        panic!("not TLS: {:?}", e.transport)
    };
    assert_eq!(ca, PathBuf::from("/mine/ca.pem"));
    // The rest default to the config directory, as for the docker CLI.
    assert_eq!(cert, dir.path().join("cert.pem"));
}

#[test]
fn tls_without_verification_is_refused() {
    let dir = setup();
    let flags = Flags {
        hosts: vec!["tcp://198.18.5.2:2376".into()],
        tls: true,
        ..Flags::default()
    };
    assert!(matches!(
        resolve(&flags, &env(dir.path(), &[])),
        Err(EngineError::TlsWithoutVerify(_))
    ));
    context(dir.path(), "skip", "tcp://198.18.5.2:2376", true, true);
    assert!(matches!(
        resolve(&ctx("skip"), &env(dir.path(), &[])),
        Err(EngineError::TlsWithoutVerify(_))
    ));
}

#[test]
fn host_and_context_together_are_refused() {
    let dir = setup();
    let flags = Flags {
        hosts: vec!["tcp://h:1".into()],
        contexts: vec!["a".into()],
        ..Flags::default()
    };
    assert!(matches!(
        resolve(&flags, &env(dir.path(), &[])),
        Err(EngineError::HostAndContext)
    ));
}

#[test]
fn several_hosts_resolve_for_a_fleet_but_not_for_one_run() {
    let dir = setup();
    let flags = hosts(&["tcp://198.18.5.2:2375", "ssh://198.18.6.2:2222"]);
    let vars = env(dir.path(), &[]);
    assert!(matches!(
        resolve(&flags, &vars),
        Err(EngineError::SeveralEngines(2))
    ));
    let resolve_each = |flags: &Flags| -> Vec<Engine> {
        (each_given(flags).unwrap().into_iter())
            .map(|(_, one)| resolve(&one, &vars).unwrap())
            .collect()
    };
    let all = resolve_each(&flags);
    assert_eq!(all.len(), 2);
    assert_eq!(
        all[1].transport,
        Transport::Ssh {
            user: None,
            host: "198.18.6.2".into(),
            port: Some(2222)
        }
    );
    let contexts = Flags {
        contexts: vec!["a".into(), "secure".into()],
        ..Flags::default()
    };
    let names: Vec<_> = resolve_each(&contexts)
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(names, ["a", "secure"]);
}

#[test]
fn missing_and_broken_contexts_are_named() {
    let dir = setup();
    let vars = env(dir.path(), &[]);
    assert!(matches!(
        resolve(&ctx("nope"), &vars),
        Err(EngineError::NoSuchContext { name, .. }) if name == "nope"
    ));
    let meta = dir
        .path()
        .join("contexts/meta")
        .join(docker_context::digest("a"));
    std::fs::write(meta.join("meta.json"), "{not json").unwrap();
    assert!(matches!(
        resolve(&ctx("a"), &vars),
        Err(EngineError::BadContext { .. })
    ));
    std::fs::write(dir.path().join("config.json"), "{\"currentContext\": 3}").unwrap();
    // As for the docker CLI: a broken config.json is warned about and ignored.
    assert_eq!(resolve(&Flags::default(), &vars).unwrap().source, "default");
}

#[test]
fn endpoints_parse_as_the_docker_cli_does() {
    let t = |s: &str| transport(s, None);
    assert_eq!(
        t("198.18.5.2:2375").unwrap(),
        Transport::Tcp {
            addr: "198.18.5.2:2375".into()
        }
    );
    assert_eq!(
        t("tcp://[fd00::2]:2375").unwrap(),
        Transport::Tcp {
            addr: "[fd00::2]:2375".into()
        }
    );
    assert_eq!(
        t("tcp://[fd00::2]").unwrap(),
        Transport::Tcp {
            addr: "[fd00::2]:2375".into()
        }
    );
    assert_eq!(
        t("ssh://me@[fd00::2]:22").unwrap(),
        Transport::Ssh {
            user: Some("me".into()),
            host: "fd00::2".into(),
            port: Some(22)
        }
    );
    for bad in [
        "tcp://h:notaport",
        "tcp://h:0",
        "tcp://fd00::2:2375",
        "tcp://h:1/path",
        "unix://",
        "npipe:////./pipe/docker_engine",
        "fd://",
        "ftp://h",
        "ssh://-oProxyCommand=x",
        "ssh://h/path",
        "ssh://@h",
    ] {
        assert!(t(bad).is_err(), "{bad} should be refused");
    }
    assert!(matches!(
        t("https://h:1"),
        Err(EngineError::TlsWithoutVerify(_))
    ));
}

#[test]
fn ssh_arguments_end_options_before_the_host() {
    let a = ssh::args(Some("root"), "198.18.5.2", Some(2222));
    assert_eq!(a[..4], ["-l", "root", "-p", "2222"]);
    let dashdash = a.iter().position(|x| x == "--").unwrap();
    assert_eq!(
        a[dashdash + 1..],
        ["198.18.5.2", "docker", "system", "dial-stdio"]
    );
}
