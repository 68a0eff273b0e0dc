//! `host.docker-internal`: containers can find and reach the host by name.

use super::{Check, Context, Findings, Needs, Outcome, Subject, missing, request_lost};
use netcheck_model::snapshot::{Lookup, ProbeReport};

/// host.docker-internal's finding codes, `host.docker-internal/<slug>`. A variant's doc
/// comment is its description, which `netcheck explain` prints. Never rename a released
/// slug.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumIter, strum::EnumMessage,
)]
#[strum(serialize_all = "kebab-case")]
pub(crate) enum Code {
    /// host.docker.internal does not resolve in a container.
    NotResolving,
    /// host.docker.internal resolves, but the host does not answer there.
    HostSilent,
    /// gateway.docker.internal does not resolve where the suite (or Docker Desktop) needs it.
    GatewayDomainMissing,
}

pub static CHECK: Check = Check {
    generic: false,
    scope: super::Scope::Host,
    id: "host.docker-internal",
    title: "host.docker.internal resolves in a container and reaches the host",
    doc: "\
`host.docker.internal` is how a container reaches a service on its host. Docker Desktop
resolves it natively (and `gateway.docker.internal` too); Linux engines map it only when the
container is started with `--add-host host.docker.internal:host-gateway` (compose:
`extra_hosts: [\"host.docker.internal:host-gateway\"]`), which netcheck's probe does, as a
user would. The probe resolves the name without libc (through /etc/hosts, then the DNS
servers of /etc/resolv.conf), then makes an HTTP request to a listener that netcheck binds
on the host-side address (never 0.0.0.0).

On Podman, the name is Podman's own, `host.containers.internal`, which Podman writes
into every container's /etc/hosts (the gateway of one of its networks); Podman 4 knows no
host-gateway. netcheck listens on one port on every gateway of the probe's networks.

Skips when: every checked network is internal (they reach no host address, by design).

Fails when: the name does not resolve; it resolves, but the host does not answer (a host
firewall dropping traffic from the container subnet is the usual cause).",
    needs: Needs {
        host: false,
        probe: true,
        outside: false,
        ..Needs::NONE
    },
    configure: |t| super::params::typed(t, judge),
    params_schema: super::params::schema_of::<Params>,
    codes: super::code::list::<Code>,
};

use super::HOST_DOCKER_INTERNAL as NAME;

/// What a suite may ask of `host.docker-internal`.
#[derive(Debug, Clone, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Also require `gateway.docker.internal` (Docker Desktop maps it; Linux engines do not).
    #[serde(default)]
    pub require_gateway_domain: bool,
}

/// The addresses netcheck's listener for this check is bound to: the default bridge's
/// gateway; on Podman, every gateway of the probe's networks (its name for the host maps
/// to one of them).
fn listener_ips(ctx: &Context) -> Vec<std::net::IpAddr> {
    let host = ctx.snapshot.host.ok().map(|h| &h.netns);
    let networks = ctx.snapshot.docker.ok().map_or(&[][..], |d| &d.networks);
    let probe = ctx.snapshot.probe.ok();
    (networks.iter())
        .filter(|n| match ctx.engine.podman {
            true => probe.is_some_and(|p| {
                n.endpoints
                    .iter()
                    .any(|e| e.container_name == p.container_name)
            }),
            false => n.name == "bridge",
        })
        .filter_map(|n| n.gateway_v4(host))
        .collect()
}

impl super::params::CheckParams for Params {}

fn judge(ctx: &Context, _: &super::Instance, params: &Params) -> Outcome {
    let Some(probe) = ctx.snapshot.probe.ok() else {
        return missing(&ctx.snapshot.probe, "probe container");
    };
    // Internal networks route nowhere beyond their own subnet, the host's other
    // addresses included: a probe on internal networks alone cannot reach the host.
    if !ctx.networks.is_empty() && ctx.networks.iter().all(|n| n.internal) {
        return Outcome::skip(
            "internal: a container on an internal network reaches no host address, by design",
            ctx.networks
                .iter()
                .map(|n| format!("network {} is internal", n.name))
                .collect(),
        );
    }
    let desktop = ctx.snapshot.docker.ok().is_some_and(|d| d.engine.desktop);
    // Podman writes its own name for the host into every container's /etc/hosts, and
    // knows no host-gateway: that name is what its containers use.
    let name = host_name(ctx);
    let egress = ctx.snapshot.probe_egress();
    let network = egress.map(|n| n.name.as_str()).unwrap_or("its network");
    let mut f = Findings::default();
    let report = &probe.report;
    for line in report
        .hosts_file
        .lines()
        .filter(|l| l.contains(".docker.internal") || l.contains(".containers.internal"))
    {
        f.note(format!("/etc/hosts: {}", line.trim()));
    }
    // netcheck's own lookup, not a suite's of the same name (which also asks DNS).
    let own = |name: &str| report.lookups.iter().find(|l| !l.suite && l.name == name);
    match own(name) {
        None => f.error(format!("the probe did not look up {name}")),
        Some(l) if l.addrs.is_empty() => f.fail_at(Code::NotResolving, Subject::Host,
            format!(
                "{name} does not resolve in a container on {}: {}",
                network,
                l.error.as_deref().unwrap_or("no address")
            ),
            if ctx.engine.podman {
                "Podman writes host.containers.internal into every container's /etc/hosts unless \
                 containers.conf says host_containers_internal_ip = \"none\" or the container was started \
                 with --no-hosts: remove that, and recreate the container"
                    .to_string()
            } else if desktop {
                "Docker Desktop should resolve it natively: restart Docker Desktop".to_string()
            } else {
                "on a Linux engine, start containers with --add-host host.docker.internal:host-gateway \
                 (compose: extra_hosts: [\"host.docker.internal:host-gateway\"]); it needs Docker 20.10 or later"
                    .to_string()
            },
        ),
        Some(l) => judge_host_reached(&mut f, ctx, report, l),
    }
    if let Some(l) = own("gateway.docker.internal") {
        judge_gateway_domain(&mut f, l, params, desktop);
    }
    f.finish(format!("{name} resolves and reaches the host"))
}

/// The name a container reaches the host by: Podman's own, or Docker's.
fn host_name(ctx: &Context) -> &'static str {
    match ctx.engine.podman {
        true => netcheck_model::protocol::HOST_CONTAINERS_INTERNAL,
        false => NAME,
    }
}

/// host.docker.internal resolved (lookup `l`): the host answers netcheck's listener at
/// the address it resolved to.
fn judge_host_reached(f: &mut Findings, ctx: &Context, report: &ProbeReport, l: &Lookup) {
    let egress = ctx.snapshot.probe_egress();
    let network = egress.map(|n| n.name.as_str()).unwrap_or("its network");
    let addrs: Vec<String> = l.addrs.iter().map(|a| a.to_string()).collect();
    let name = host_name(ctx);
    f.pass(format!(
        "{name} -> {} (via {})",
        addrs.join(", "),
        l.source.as_deref().unwrap_or("?")
    ));
    match report
        .requests
        .iter()
        .find(|r| r.purpose == netcheck_model::protocol::Purpose::HostDockerInternal)
    {
        None => f.skip(format!(
            "{name} resolves to {}, where netcheck has no listener to test",
            addrs.join(", ")
        )),
        Some(r) if r.ok => f.pass(format!(
            "HTTP {} answered in {} ms (the host saw {})",
            r.target,
            r.elapsed_ms,
            r.seen_source
                .map(|s| s.to_string())
                .unwrap_or_else(|| "?".into())
        )),
        // netcheck listens on the default bridge's address, where host-gateway
        // points unless the daemon's host-gateway-ip says otherwise.
        Some(r) if !r.ok && !l.addrs.iter().any(|a| listener_ips(ctx).contains(a)) => {
            f.skip(format!(
                "{name} maps to {} (host-gateway-ip?), where netcheck has no listener to test",
                addrs.join(", ")
            ))
        }
        Some(r) => {
            let subnet = egress
                .and_then(|n| n.subnet_v4())
                .map(|s| s.to_string())
                .unwrap_or_else(|| "the container subnet".into());
            let failed = format!(
                "{name} resolves to {}, but the host does not answer on {}",
                addrs.join(", "),
                r.addr.as_deref().unwrap_or(&r.target)
            );
            match request_lost(ctx, network, r) {
                Some((cause, fix)) => f.fail_at(Code::HostSilent, Subject::Host,
                    format!("{failed}: {cause}"),
                    fix,
                ),
                None => f.fail_at(Code::HostSilent, Subject::Host,
                    format!("{failed}: {}", super::nft_path::why_failed(ctx.snapshot, r)),
                    format!(
                        "the host's firewall likely drops traffic from {subnet}: look for DROP or REJECT rules in \
                         iptables -S INPUT (and ufw/firewalld zones), and allow {subnet} to reach host services"
                    ),
                ),
            }
        }
    }
}

/// gateway.docker.internal (lookup `l`): built into Docker Desktop only, so on a Linux
/// engine its absence fails only where the suite requires it.
fn judge_gateway_domain(f: &mut Findings, l: &Lookup, params: &Params, desktop: bool) {
    match l {
        l if !l.addrs.is_empty() => f.note(format!(
            "gateway.docker.internal -> {}",
            l.addrs
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )),
        l if params.require_gateway_domain => f.fail_at(Code::GatewayDomainMissing, Subject::Host,
            format!(
                "gateway.docker.internal does not resolve, and the suite requires it: {}",
                l.error.as_deref().unwrap_or("no address")
            ),
            "on a Linux engine, add --add-host gateway.docker.internal:host-gateway; Docker Desktop maps it natively",
        ),
        _ if !desktop => {
            f.note("gateway.docker.internal: not mapped (built into Docker Desktop only)")
        }
        l => f.fail_at(Code::GatewayDomainMissing, Subject::Host,
            format!(
                "gateway.docker.internal does not resolve on Docker Desktop: {}",
                l.error.as_deref().unwrap_or("")
            ),
            "restart Docker Desktop",
        ),
    }
}
