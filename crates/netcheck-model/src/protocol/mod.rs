//! What netcheck, its probe and its agent share: what a check needs collected, and the
//! names and addresses both sides of a request must agree on. It sits below collect,
//! probe and checks, so that none of them needs another for these.

mod error_kind;
mod probe_args;
mod purpose;
pub use error_kind::ErrorKind;
pub use probe_args::{Ask, ProbeArgs};
pub use purpose::Purpose;

/// Probe containers are named `netcheck-probe-<run id>`: the judges know the probe by
/// it (its name survives redaction).
pub const PROBE_PREFIX: &str = "netcheck-probe-";

/// Where the engine answers when nothing else is configured.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// The name containers use to reach their host.
pub const HOST_DOCKER_INTERNAL: &str = "host.docker.internal";
/// Podman's name for the host, which it writes into every container's /etc/hosts: the
/// gateway of the container's first network (rootful), the host's address (rootless).
pub const HOST_CONTAINERS_INTERNAL: &str = "host.containers.internal";

/// Docker's embedded DNS server, inside every container on a user-defined network.
pub const EMBEDDED_DNS: std::net::Ipv4Addr = std::net::Ipv4Addr::new(127, 0, 0, 11);

/// The `source` of a lookup made through the embedded DNS server.
pub const EMBEDDED_DNS_SOURCE: &str = "embedded-dns";

/// How many other networks each network's isolation is tested toward, besides the
/// default bridge. A host with N networks then needs about N·(1+this) connections, not
/// N²: 100 networks make 600, where every pair would make 9900. The others are the next
/// ones by name, cyclically, so that each network is also a target that many times,
/// and the same host gets the same sample on every run.
pub const ISOLATION_SAMPLE: usize = 4;

/// netcheck's own trace tables (`netcheck_trace_<run id>`): they only mark packets.
pub const TRACE_TABLE_PREFIX: &str = "netcheck_trace";

/// What a check needs collected, so that a filtered run collects nothing more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Needs {
    /// Host links, addresses, routes, sysctls and firewall rules.
    pub host: bool,
    /// The probe container and its requests.
    pub probe: bool,
    /// The hermetic outside peer (a namespace on 198.18.0.0/15).
    pub outside: bool,
    /// The probe publishes a port, reached from the host and from itself (hairpin).
    pub publish: bool,
    /// Connections from other containers' namespaces to the probe (icc, isolation).
    pub peers: bool,
}

impl Needs {
    pub const NONE: Needs = Needs {
        host: false,
        probe: false,
        outside: false,
        publish: false,
        peers: false,
    };
}
