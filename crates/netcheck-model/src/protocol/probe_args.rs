//! The probe's arguments, as one type: collection and suites build it, the probe
//! container reads it as one JSON line on its stdin (`netcheck probe --args-on-stdin`),
//! and clap reads the same fields from a command line (`netcheck probe --lookup NAME …`,
//! as tests and examples run it). Nothing edits argv word by word.

use serde::{Deserialize, Serialize};

use super::Purpose;

/// What `netcheck probe` is asked to do.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args, Serialize, Deserialize)]
pub struct ProbeArgs {
    /// A name to resolve: through /etc/hosts, and through DNS only with --dns.
    #[arg(long = "lookup", value_name = "NAME")]
    pub lookups: Vec<String>,
    /// A request to one of netcheck's own listeners, as PURPOSE=HOST:PORT. Names resolve
    /// through /etc/hosts only (and DNS with --dns).
    #[arg(long = "get", value_name = "PURPOSE=HOST:PORT")]
    pub gets: Vec<Ask>,
    /// A suite's TCP connection, as PURPOSE=HOST:PORT. Names resolve through /etc/hosts,
    /// then the resolver the suite's author chose the network for.
    #[arg(long = "tcp", value_name = "PURPOSE=HOST:PORT")]
    pub tcps: Vec<Ask>,
    /// A suite's HTTP GET, as PURPOSE=URL (http:// only).
    #[arg(long = "http", value_name = "PURPOSE=URL")]
    pub https: Vec<Ask>,
    /// A suite's name to resolve, through /etc/hosts and then DNS.
    #[arg(long = "resolve", value_name = "NAME")]
    pub resolves: Vec<String>,
    /// Ask Docker's embedded DNS server (127.0.0.11, inside the container) for NAME, if
    /// /etc/resolv.conf names it. Only for names the engine knows (the probe's own):
    /// the embedded server forwards names it does not know to the host's upstream.
    #[arg(long = "embedded-dns", value_name = "NAME")]
    pub embedded_dns: Vec<String>,
    /// The engine's own DNS servers besides 127.0.0.11, asked for the names of
    /// --embedded-dns where /etc/resolv.conf names one of them: Podman's aardvark-dns,
    /// which answers at the gateway of each network that has DNS.
    #[arg(long = "engine-dns", value_name = "ADDR")]
    pub engine_dns: Vec<std::net::IpAddr>,
    /// Serve netcheck's HTTP listener on PORT of each of the container's own addresses
    /// (never a wildcard): a target for other containers, in tests and examples.
    #[arg(long, value_name = "PORT")]
    pub listen_port: Option<u16>,
    /// Also ask the DNS servers of /etc/resolv.conf. Off by default: on Linux engines
    /// they are the host's upstream servers, and netcheck's traffic stays on the machine.
    #[arg(long)]
    pub dns: bool,
    /// Deadline of each lookup and request.
    #[arg(long, default_value_t = ProbeArgs::TIMEOUT_MS, value_name = "MS")]
    pub timeout_ms: u64,
    /// For tests: stall this long before observing anything, as a frozen probe would.
    #[arg(long, hide = true, default_value_t = 0, value_name = "MS")]
    pub stall_ms: u64,
    /// How long to stay alive after printing the report.
    #[arg(long, default_value_t = ProbeArgs::LINGER_SECS, value_name = "SECS")]
    pub linger_secs: u64,
    /// Exit as soon as stdin ends. netcheck attaches to the probe's stdin, and the engine
    /// closes it when that attachment ends, however netcheck ended (SIGKILL included):
    /// with the engine's AutoRemove, a probe whose owner is gone removes itself.
    #[arg(long)]
    pub exit_with_stdin: bool,
    /// Read the arguments as one JSON line on stdin first (those given here are then
    /// ignored), and exit as soon as stdin ends: the probe container starts while
    /// netcheck still makes what it is to reach.
    #[arg(long)]
    pub args_on_stdin: bool,
}

impl ProbeArgs {
    const TIMEOUT_MS: u64 = 2000;
    const LINGER_SECS: u64 = 60;

    /// The command line that clap reads back as `self`, for the test that the two forms
    /// agree. Every value is joined to its flag (`--lookup=NAME`), so that a value
    /// starting with '-' stays a value.
    #[cfg(test)]
    fn to_argv(&self) -> Vec<String> {
        let defaults = ProbeArgs::default();
        let mut argv = vec![];
        let mut put = |flag: &str, value: &dyn std::fmt::Display| {
            argv.push(format!("--{flag}={value}"));
        };
        self.lookups.iter().for_each(|v| put("lookup", v));
        self.gets.iter().for_each(|v| put("get", v));
        self.tcps.iter().for_each(|v| put("tcp", v));
        self.https.iter().for_each(|v| put("http", v));
        self.resolves.iter().for_each(|v| put("resolve", v));
        self.embedded_dns
            .iter()
            .for_each(|v| put("embedded-dns", v));
        self.engine_dns.iter().for_each(|v| put("engine-dns", v));
        if let Some(port) = self.listen_port {
            put("listen-port", &port);
        }
        if self.timeout_ms != defaults.timeout_ms {
            put("timeout-ms", &self.timeout_ms);
        }
        if self.stall_ms != defaults.stall_ms {
            put("stall-ms", &self.stall_ms);
        }
        if self.linger_secs != defaults.linger_secs {
            put("linger-secs", &self.linger_secs);
        }
        for (set, flag) in [
            (self.dns, "--dns"),
            (self.exit_with_stdin, "--exit-with-stdin"),
            (self.args_on_stdin, "--args-on-stdin"),
        ] {
            if set {
                argv.push(flag.to_string());
            }
        }
        argv
    }

    /// Reads probe arguments given as words (`netcheck --probe-arg`, for tests).
    pub fn from_argv<S: AsRef<str>>(words: &[S]) -> Result<ProbeArgs, clap::Error> {
        #[derive(clap::Parser)]
        #[command(name = "netcheck probe", no_binary_name = true)]
        struct Command {
            #[command(flatten)]
            args: ProbeArgs,
        }
        use clap::Parser;
        Command::try_parse_from(words.iter().map(AsRef::as_ref)).map(|c| c.args)
    }

    /// Adds `other`'s requests and lookups after this one's; its other settings are
    /// taken where they differ from the defaults.
    pub fn extend(&mut self, other: ProbeArgs) {
        let defaults = ProbeArgs::default();
        self.lookups.extend(other.lookups);
        self.gets.extend(other.gets);
        self.tcps.extend(other.tcps);
        self.https.extend(other.https);
        self.resolves.extend(other.resolves);
        self.embedded_dns.extend(other.embedded_dns);
        self.engine_dns.extend(other.engine_dns);
        self.listen_port = other.listen_port.or(self.listen_port);
        self.dns |= other.dns;
        self.exit_with_stdin |= other.exit_with_stdin;
        self.args_on_stdin |= other.args_on_stdin;
        if other.timeout_ms != defaults.timeout_ms {
            self.timeout_ms = other.timeout_ms;
        }
        if other.stall_ms != defaults.stall_ms {
            self.stall_ms = other.stall_ms;
        }
        if other.linger_secs != defaults.linger_secs {
            self.linger_secs = other.linger_secs;
        }
    }
}

impl Default for ProbeArgs {
    /// What clap gives for an empty command line.
    fn default() -> ProbeArgs {
        ProbeArgs {
            lookups: vec![],
            gets: vec![],
            tcps: vec![],
            https: vec![],
            resolves: vec![],
            embedded_dns: vec![],
            engine_dns: vec![],
            listen_port: None,
            dns: false,
            timeout_ms: ProbeArgs::TIMEOUT_MS,
            stall_ms: 0,
            linger_secs: ProbeArgs::LINGER_SECS,
            exit_with_stdin: false,
            args_on_stdin: false,
        }
    }
}

/// One request for the probe to make: PURPOSE=TARGET on its command line, where the
/// target is HOST:PORT or a URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ask {
    pub purpose: Purpose,
    pub target: String,
}

impl Ask {
    pub fn new(purpose: Purpose, target: impl ToString) -> Ask {
        Ask {
            purpose,
            target: target.to_string(),
        }
    }
}

/// The purpose is split from the target at the first '=' (a URL's query may hold
/// more), so a purpose's own '=' is written `%3D`, and its '%' `%25`.
impl std::fmt::Display for Ask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let purpose = self.purpose.to_string();
        let purpose = purpose.replace('%', "%25").replace('=', "%3D");
        write!(f, "{purpose}={}", self.target)
    }
}

impl std::str::FromStr for Ask {
    type Err = String;
    fn from_str(text: &str) -> Result<Ask, String> {
        let (purpose, target) = text
            .split_once('=')
            .ok_or_else(|| format!("`{text}` is not PURPOSE=TARGET"))?;
        let purpose = purpose.replace("%3D", "=").replace("%25", "%");
        Ok(Ask::new(Purpose::parse(&purpose), target))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every field set, with the values that are hard to carry on a command line.
    fn full() -> ProbeArgs {
        ProbeArgs {
            lookups: vec!["host.docker.internal".into(), "-looks-like-a-flag".into()],
            gets: vec![
                Ask::new(Purpose::gateway("a=b:c%d"), "172.18.0.1:4000"),
                Ask::new(Purpose::Hairpin, "172.18.0.1:31000"),
                Ask::new(Purpose::isolation("a:b", "c", "web", "db"), "10.0.0.2:1"),
                Ask::new(Purpose::Other(String::new()), "x"),
            ],
            tcps: vec![Ask::new(Purpose::instance("db-open"), "db:5432")],
            https: vec![Ask::new(
                Purpose::instance("api"),
                "http://api:8080/health?a=b&c==d",
            )],
            resolves: vec!["db".into()],
            embedded_dns: vec!["netcheck-probe-abcde".into()],
            engine_dns: vec!["10.89.0.1".parse().unwrap()],
            listen_port: Some(4000),
            dns: true,
            timeout_ms: 1500,
            stall_ms: 3000,
            linger_secs: 5,
            exit_with_stdin: true,
            args_on_stdin: true,
        }
    }

    #[test]
    fn the_command_line_reads_back_as_what_was_written() {
        for args in [full(), ProbeArgs::default()] {
            let argv = args.to_argv();
            assert_eq!(ProbeArgs::from_argv(&argv).unwrap(), args, "{argv:?}");
        }
    }

    #[test]
    fn the_defaults_are_claps() {
        assert_eq!(
            ProbeArgs::from_argv::<&str>(&[]).unwrap(),
            ProbeArgs::default()
        );
        assert!(ProbeArgs::default().to_argv().is_empty());
    }

    #[test]
    fn hand_written_words_still_read() {
        let args = ProbeArgs::from_argv(&[
            "--get",
            "gateway:bridge=172.17.0.1:4000",
            "--stall-ms",
            "60000",
        ])
        .unwrap();
        assert_eq!(
            args.gets,
            [Ask::new(Purpose::gateway("bridge"), "172.17.0.1:4000")]
        );
        assert_eq!(args.stall_ms, 60000);
        assert!(ProbeArgs::from_argv(&["--get", "no-target"]).is_err());
    }

    #[test]
    fn extending_appends_requests_and_takes_settings_that_were_set() {
        let mut catalogue = ProbeArgs {
            lookups: vec!["host.docker.internal".into()],
            timeout_ms: 1500,
            ..ProbeArgs::default()
        };
        catalogue.extend(full());
        let mut expected = full();
        expected.lookups.insert(0, "host.docker.internal".into());
        assert_eq!(catalogue, expected);
        let mut kept = full();
        kept.extend(ProbeArgs::default());
        assert_eq!(kept, full());
    }
}
