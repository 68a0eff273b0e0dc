//! netcheck as a Docker CLI plugin: `docker netcheck …`.
//!
//! The docker CLI finds `docker-netcheck` in a cli-plugins directory, asks it for
//! `docker-cli-plugin-metadata`, and then execs it with docker's own argv, global flags
//! included: `docker --context prod -D netcheck x` runs
//! `docker-netcheck --context prod -D netcheck x`. The CLI sets neither DOCKER_HOST nor
//! DOCKER_CONTEXT for the plugin, so those globals are netcheck's own global flags too,
//! with docker's meaning; this module only removes the `netcheck` word that separates
//! them from netcheck's arguments.

use std::ffi::OsString;
use std::path::Path;

/// The argument with which the docker CLI asks a plugin to describe itself.
pub const METADATA_COMMAND: &str = "docker-cli-plugin-metadata";

/// The plugin's name: the binary is `docker-<NAME>`, and users type `docker <NAME>`.
pub const NAME: &str = "netcheck";

/// Docker's global flags that take a value (`docker --help`, "Global Options"). The
/// others (`-D/--debug`, `--tls`, `--tlsverify`, `-v/--version`) are switches.
const VALUED: &[&str] = &[
    "--config",
    "-c",
    "--context",
    "-H",
    "--host",
    "-l",
    "--log-level",
    "--tlscacert",
    "--tlscert",
    "--tlskey",
];
const SWITCHES: &[&str] = &["-D", "--debug", "--tls", "--tlsverify", "-v", "--version"];

/// What the process was asked to do, once docker's conventions are unwrapped.
#[derive(Debug, PartialEq, Eq)]
pub enum Invocation {
    /// Print the plugin metadata JSON and exit.
    Metadata,
    /// Answer a shell completion request (cobra's `__complete`, which the docker CLI
    /// sends its plugins on TAB): the words after `netcheck`, the last one partial.
    Complete {
        words: Vec<String>,
        partial: String,
        descriptions: bool,
    },
    /// Parse these arguments as netcheck's (argv[0] included); `plugin` when docker ran
    /// netcheck as `docker netcheck`.
    Run { args: Vec<OsString>, plugin: bool },
}

/// Unwraps a plugin invocation. Outside docker (`netcheck …`) the arguments pass through
/// unchanged unless they start, after docker-style global flags, with the word
/// `netcheck`, which is how docker calls a plugin.
pub fn invocation(args: Vec<OsString>) -> Invocation {
    if args.get(1).is_some_and(|a| a == METADATA_COMMAND) {
        return Invocation::Metadata;
    }
    if let Some(request) = completion(&args) {
        return request;
    }
    let named = args.first().is_some_and(|a| {
        Path::new(a).file_name() == Some(std::ffi::OsStr::new(&format!("docker-{NAME}")))
    });
    let Some(word) = plugin_word(&args) else {
        return Invocation::Run {
            args,
            plugin: named,
        };
    };
    let mut args = args;
    args.remove(word);
    // Before the word, `-v` is docker's `--version` (docker hands `docker -v netcheck`
    // to the plugin); after it, netcheck's own `-v`, as `docker run -v` is run's.
    for arg in &mut args[1..word] {
        if arg == "-v" {
            *arg = "--version".into();
        }
    }
    // `docker help netcheck` runs `docker-netcheck help netcheck`: the word removed
    // above was the second one, and `help` (with nothing after it) asks for the help.
    if word >= 2 && args[word - 1] == "help" && args.len() == word {
        args[word - 1] = "--help".into();
    }
    Invocation::Run { args, plugin: true }
}

/// The words of a completion request: `__complete netcheck WORD... PARTIAL` as the
/// docker CLI sends it (docker/cli's cli-plugins/manager/cobra.go), or
/// `__complete WORD... PARTIAL` typed against netcheck itself.
fn completion(args: &[OsString]) -> Option<Invocation> {
    let descriptions = match args.get(1)?.to_str()? {
        "__complete" => true,
        "__completeNoDesc" => false,
        _ => return None,
    };
    let mut words: Vec<String> = args[2..]
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    // The plugin word, unless it is the partial word itself.
    if words.len() >= 2 && words[0] == NAME {
        words.remove(0);
    }
    let partial = words.pop().unwrap_or_default();
    Some(Invocation::Complete {
        words,
        partial,
        descriptions,
    })
}

/// The index of the `netcheck` word that follows docker's global flags, if there is one.
fn plugin_word(args: &[OsString]) -> Option<usize> {
    let mut i = 1;
    while let Some(arg) = args.get(i).and_then(|a| a.to_str()) {
        if arg == NAME {
            return Some(i);
        }
        if arg == "help" && args.get(i + 1).is_some_and(|a| a == NAME) {
            return Some(i + 1);
        }
        let flag = arg.split_once('=').map_or(arg, |(flag, _)| flag);
        if VALUED.contains(&flag) {
            // `--host=X` carries its value; `--host X` takes the next argument.
            i += if arg.contains('=') { 1 } else { 2 };
        } else if SWITCHES.contains(&flag) || is_attached_short(arg) {
            i += 1;
        } else {
            return None;
        }
    }
    None
}

/// `-Hunix:///x.sock`, `-lwarn`, `-cprod`: a short valued flag with its value attached.
fn is_attached_short(arg: &str) -> bool {
    ["-H", "-l", "-c"]
        .iter()
        .any(|f| arg.len() > 2 && arg.starts_with(f))
}

/// Stops netcheck as SIGTERM would when the docker CLI that ran it asks its plugin to
/// stop. Outside a terminal (a CI job, `docker netcheck | tee`) a signal to `docker` is
/// not forwarded to the plugin: the CLI closes the socket it named in
/// DOCKER_CLI_PLUGIN_SOCKET instead, and kills the plugin after a few more signals.
/// Without this, netcheck would run on, and a kill would leave its probe behind.
pub fn watch_docker_cli() {
    use std::io::Read;
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixStream};

    let Some(name) = std::env::var_os("DOCKER_CLI_PLUGIN_SOCKET") else {
        return;
    };
    // Go names a Linux abstract socket with a leading `@`; docker uses no other kind here.
    let Some(name) = name.to_str().and_then(|n| n.strip_prefix('@')) else {
        return;
    };
    let connected = SocketAddr::from_abstract_name(name.as_bytes())
        .and_then(|addr| UnixStream::connect_addr(&addr));
    let Ok(mut stream) = connected else {
        // An older CLI, or none listening: signals then come as usual.
        return;
    };
    std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
        // The CLI closed it: stop as for SIGTERM, so that the teardown runs and the exit
        // code says why.
        let _ = nix::sys::signal::kill(nix::unistd::Pid::this(), nix::sys::signal::SIGTERM);
    });
}

/// The metadata JSON the docker CLI reads (`docker info` shows it under Plugins).
pub fn metadata(version: &str) -> String {
    let mut json = serde_json::json!({
        "SchemaVersion": "0.1.0",
        "Vendor": "netcheck",
        "Version": version,
        "ShortDescription": "Diagnose Docker networking on this host",
    });
    // URL is optional in the contract: give it only once the project has a homepage,
    // rather than an address that leads nowhere.
    if !env!("CARGO_PKG_HOMEPAGE").is_empty() {
        json["URL"] = env!("CARGO_PKG_HOMEPAGE").into();
    }
    format!("{json}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Invocation {
        invocation(args.iter().map(OsString::from).collect())
    }

    fn args(args: &[&str]) -> Invocation {
        Invocation::Run {
            args: args.iter().map(OsString::from).collect(),
            plugin: true,
        }
    }

    fn plain(args: &[&str]) -> Invocation {
        Invocation::Run {
            args: args.iter().map(OsString::from).collect(),
            plugin: false,
        }
    }

    #[test]
    fn the_metadata_request_is_answered_under_any_name() {
        assert_eq!(
            run(&["docker-netcheck", METADATA_COMMAND]),
            Invocation::Metadata
        );
        assert_eq!(run(&["netcheck", METADATA_COMMAND]), Invocation::Metadata);
    }

    #[test]
    fn the_plugin_word_is_removed_and_docker_globals_kept() {
        assert_eq!(
            run(&["docker-netcheck", "netcheck", "--list"]),
            args(&["docker-netcheck", "--list"])
        );
        assert_eq!(
            run(&[
                "docker-netcheck",
                "--context",
                "prod",
                "-D",
                "netcheck",
                "x"
            ]),
            args(&["docker-netcheck", "--context", "prod", "-D", "x"])
        );
        assert_eq!(
            run(&[
                "d",
                "-Hunix:///a.sock",
                "--tlsverify",
                "-l=warn",
                "netcheck"
            ]),
            args(&["d", "-Hunix:///a.sock", "--tlsverify", "-l=warn"])
        );
        // A flag's value that happens to be `netcheck` is not the plugin word.
        assert_eq!(
            run(&["d", "--context", "netcheck", "netcheck", "bridge"]),
            args(&["d", "--context", "netcheck", "bridge"])
        );
    }

    #[test]
    fn docker_help_asks_for_the_help() {
        assert_eq!(
            run(&["docker-netcheck", "help", "netcheck"]),
            args(&["docker-netcheck", "--help"])
        );
        assert_eq!(
            run(&["docker-netcheck", "netcheck", "help", "explain"]),
            args(&["docker-netcheck", "help", "explain"])
        );
    }

    #[test]
    fn docker_completion_requests_are_recognised() {
        assert_eq!(
            run(&["docker-netcheck", "__complete", "netcheck", "--network", ""]),
            Invocation::Complete {
                words: vec!["--network".into()],
                partial: "".into(),
                descriptions: true,
            }
        );
        assert_eq!(
            run(&["netcheck", "__completeNoDesc", "netcheck"]),
            Invocation::Complete {
                words: vec![],
                partial: "netcheck".into(),
                descriptions: false,
            }
        );
        assert_eq!(
            run(&["netcheck", "__complete"]),
            Invocation::Complete {
                words: vec![],
                partial: "".into(),
                descriptions: true,
            }
        );
    }

    #[test]
    fn plain_netcheck_arguments_pass_through() {
        for argv in [
            &["netcheck", "bridge", "netcheck"][..],
            &["netcheck", "--network", "netcheck"],
            &["netcheck"],
            &["netcheck", "-v", "bridge"],
        ] {
            assert_eq!(run(argv), plain(argv));
        }
        // Run by its plugin name without the word: still the plugin, arguments as given.
        assert_eq!(
            run(&["/usr/libexec/docker/cli-plugins/docker-netcheck", "--list"]),
            args(&["/usr/libexec/docker/cli-plugins/docker-netcheck", "--list"])
        );
    }

    #[test]
    fn docker_version_flag_before_the_word_asks_for_the_version() {
        assert_eq!(
            run(&["d", "-v", "netcheck", "-v"]),
            args(&["d", "--version", "-v"])
        );
    }

    #[test]
    fn metadata_is_the_plugin_contract() {
        let m: serde_json::Value = serde_json::from_str(&metadata("1.2.3 (abc)")).unwrap();
        assert_eq!(m["SchemaVersion"], "0.1.0");
        assert_eq!(m["Version"], "1.2.3 (abc)");
        for key in ["Vendor", "ShortDescription"] {
            assert!(m[key].as_str().is_some_and(|s| !s.is_empty()), "{key}");
        }
    }
}
