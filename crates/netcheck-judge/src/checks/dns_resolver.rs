//! `dns.resolver`: containers get a resolver they can reach, and the embedded DNS
//! answers local names. Nothing but local names is ever asked.

use std::net::IpAddr;

use super::{Check, Context, Findings, Needs, Outcome, Subject, docker_or_outcome};
use netcheck_model::protocol::EMBEDDED_DNS;

/// dns.resolver's finding codes, `dns.resolver/<slug>`. A variant's doc comment is its
/// description, which `netcheck explain` prints. Never rename a released slug.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumIter, strum::EnumMessage,
)]
#[strum(serialize_all = "kebab-case")]
pub(crate) enum Code {
    /// A container's resolv.conf names a loopback address: its own, where nothing answers.
    LoopbackNameserver,
    /// The host has no resolver the engine can give containers but its public fallback.
    NoHostResolver,
    /// A container uses the engine's public fallback resolvers, not the host's.
    PublicFallback,
    /// The host's resolv.conf names only loopback resolvers: the default bridge falls back to
    /// public resolvers.
    FallbackTrap,
    /// The embedded DNS server (127.0.0.11) does not answer for a container's name, or answers
    /// wrongly.
    EmbeddedDnsSilent,
}

// Podman's DNS: aardvark-dns at each network's gateway.
mod podman;

pub static CHECK: Check = Check {
    generic: false,
    scope: super::Scope::Network,
    id: "dns.resolver",
    title: "Containers get a resolver they can reach",
    doc: "\
On the default bridge, the engine copies the host's /etc/resolv.conf into containers,
minus loopback nameservers, which a container cannot reach: its 127.0.0.1 is its own.
When nothing else is left (a systemd-resolved host whose /etc/resolv.conf names only
127.0.0.53, read when the engine had not switched to systemd-resolved's upstream list),
it substitutes its built-in public fallback resolvers, which many networks block: every
lookup then fails. On user-defined networks containers ask Docker's embedded DNS server
at 127.0.0.11, which answers container names itself and forwards the rest from the
host's side, where even a loopback resolver is reachable.

For `bridge`, this check reads what its containers actually got (their resolv.conf,
from the host; \"dns\" in daemon.json shows there), else the host's files. On every
network it flags a container whose resolv.conf names a loopback server other than the
embedded one. On user-defined networks the probe asks the embedded DNS server for the
probe's own name, the one name it surely knows (on a network the probe did not join, its
stand-in asks for its own: `--probe-joins`). No query goes anywhere else: netcheck
resolves local names only.

Fails when: containers on the default bridge got the engine's public fallback because
the host lists only loopback nameservers (the 127.0.0.53 trap), or would (no container
seen) where the engine names no resolvers of its own; the host has no /etc/resolv.conf, or one that names no nameserver, and the
engine names no resolvers of its own (\"dns\" in daemon.json, dockerd --dns): every
network, for the engine then has nothing but its public fallback to give or forward to; a
container's resolv.conf names a loopback server other than 127.0.0.11; the embedded DNS
server does not answer, or answers wrongly, on a user-defined network.

Warns when: containers on the default bridge use the engine's public fallback resolvers
although the host names others (\"dns\" in daemon.json set to them): lookups work on the
open internet, but internal names never resolve, and offline or behind a firewall that
blocks outbound DNS every lookup fails.",
    needs: Needs {
        host: true,
        probe: true,
        ..Needs::NONE
    },
    configure: |t| super::params::none(t, judge),
    params_schema: super::params::schema_none,
    codes: super::code::list::<Code>,
};

/// The `nameserver` addresses of a resolv.conf. An IPv6 link-local one carries its
/// zone (`fe80::1%eth0`), which is not part of the address.
pub fn nameservers(conf: &str) -> Vec<IpAddr> {
    conf.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next()? == "nameserver").then(|| w.next()?.split('%').next()?.parse().ok())?
        })
        .collect()
}

fn list(addrs: &[IpAddr]) -> String {
    addrs
        .iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Docker's built-in fallback when the host leaves it no usable nameserver. Only
/// compared with what a container's resolv.conf lists: netcheck never contacts them.
const FALLBACK: [IpAddr; 2] = [
    IpAddr::V4(std::net::Ipv4Addr::new(8, 8, 8, 8)),
    IpAddr::V4(std::net::Ipv4Addr::new(8, 8, 4, 4)),
];

/// The IPv6 pair the engine adds to its fallback where the network has IPv6.
const FALLBACK_V6: [IpAddr; 2] = [
    IpAddr::V6(std::net::Ipv6Addr::new(
        0x2001, 0x4860, 0x4860, 0, 0, 0, 0, 0x8888,
    )),
    IpAddr::V6(std::net::Ipv6Addr::new(
        0x2001, 0x4860, 0x4860, 0, 0, 0, 0, 0x8844,
    )),
];

/// Whether a container's nameservers are the engine's fallback: its IPv4 pair, and its
/// IPv6 pair where the network has IPv6.
fn is_fallback(servers: &[IpAddr]) -> bool {
    let v4: Vec<IpAddr> = servers.iter().copied().filter(IpAddr::is_ipv4).collect();
    let v6: Vec<IpAddr> = servers.iter().copied().filter(IpAddr::is_ipv6).collect();
    v4 == FALLBACK && (v6.is_empty() || v6 == FALLBACK_V6)
}

const NO_RESOLVER_FIX: &str = "give the host a resolv.conf naming your resolvers (or link it to \
/run/systemd/resolve/resolv.conf), or set \"dns\": [\"<your upstream>\"] in /etc/docker/daemon.json; \
then restart docker and recreate the containers";

const FALLBACK_FIX: &str = "drop the public resolvers from \"dns\" in /etc/docker/daemon.json \
(the engine then passes on the host's), or name your site's resolvers there; then restart docker \
and recreate the containers";

const TRAP_FIX: &str = "give the engine reachable resolvers: \"dns\": [\"<your upstream>\"] in \
/etc/docker/daemon.json, or point /etc/resolv.conf at /run/systemd/resolve/resolv.conf; \
then restart docker and recreate the containers";

fn judge(ctx: &Context, _: &super::Instance) -> Outcome {
    if let Err(o) = docker_or_outcome(ctx) {
        return o;
    }
    let mut f = Findings::default();
    let probe = ctx.snapshot.probe.ok();
    let docker = ctx.snapshot.docker.ok().expect("checked above");
    for n in &ctx.networks {
        let default_bridge = n.name == "bridge";
        // What each container on the network got, where it was read.
        let mut seen: Vec<(&str, Vec<IpAddr>, bool)> = vec![];
        for ep in &n.endpoints {
            let Some(c) = ctx.snapshot.container(&ep.container_id) else {
                continue;
            };
            let conf = if c.probe {
                probe.map(|p| p.report.resolv_conf.as_str())
            } else {
                c.resolv_conf.as_deref()
            };
            let Some(conf) = conf else {
                f.skip(format!("{}: resolv.conf not read", ep.container_name));
                continue;
            };
            // On the default bridge, only a container on no other network shows what
            // the engine gives it there: one on a user network gets 127.0.0.11.
            let only_here = docker
                .networks
                .iter()
                .filter(|m| {
                    m.endpoints
                        .iter()
                        .any(|e| e.container_id == ep.container_id)
                })
                .count()
                == 1;
            seen.push((&ep.container_name, nameservers(conf), only_here));
        }
        for (who, servers, _) in &seen {
            let bad: Vec<IpAddr> = servers
                .iter()
                .copied()
                .filter(|a| a.is_loopback() && *a != IpAddr::V4(EMBEDDED_DNS))
                .collect();
            if !bad.is_empty() {
                f.fail_at(Code::LoopbackNameserver, Subject::container(who),
                    format!(
                        "{who}'s resolv.conf names {}: the container's own loopback, where nothing answers",
                        list(&bad)
                    ),
                    format!(
                        "drop the loopback --dns from {who}'s run options (or \"dns\" in daemon.json) and recreate it"
                    ),
                );
            }
        }
        let engine_dns = engine_dns(ctx);
        if let (Some(why), false) = (host_without_resolver(ctx), engine_dns.is_empty()) {
            f.pass(format!(
                "{why}, but the engine gives containers resolvers of its own: {} (\"dns\" in its configuration; not queried)",
                list(engine_dns)
            ));
        } else if let Some(why) = host_without_resolver(ctx) {
            f.fail_at(Code::NoHostResolver, Subject::file("/etc/resolv.conf"),
                format!(
                    "{why}: the engine has no resolver to give containers{} but its public fallback, \
                     which offline and corporate networks never answer",
                    if default_bridge { "" } else { " or to forward to from the embedded DNS" }
                ),
                NO_RESOLVER_FIX,
            );
        }
        if default_bridge {
            default_bridge_resolvers(&mut f, ctx, &seen);
        } else {
            embedded(&mut f, ctx, n);
        }
    }
    f.finish("containers get a resolver they can reach")
}

/// The resolvers the engine is configured to give containers instead of the host's
/// (daemon.json's `"dns"`, `dockerd --dns`); empty where none are, or not observed.
fn engine_dns<'a>(ctx: &'a Context<'a>) -> &'a [IpAddr] {
    ctx.snapshot
        .host
        .ok()
        .and_then(|h| h.engine_config.as_ref())
        .map_or(&[], |c| c.dns.as_slice())
}

/// Why the host gives the engine no resolver at all, where the host was read: no
/// /etc/resolv.conf, or one that names no nameserver.
fn host_without_resolver(ctx: &Context) -> Option<&'static str> {
    let host = ctx.snapshot.host.ok()?;
    // A snapshot leaves resolv_conf out both where the file is missing and where its
    // netcheck did not read it yet; only one from a netcheck that judges a missing file
    // (it observes conntrack too, added with this judgement) tells them apart.
    let tells_missing = host.conntrack.is_some();
    match host.resolv_conf.as_deref() {
        None if !tells_missing => None,
        None => Some("the host has no /etc/resolv.conf"),
        Some(conf) if nameservers(conf).is_empty() => {
            Some("the host's /etc/resolv.conf names no nameserver")
        }
        Some(_) => None,
    }
}

/// The default bridge: what its containers got, else what the host's files would give.
fn default_bridge_resolvers(f: &mut Findings, ctx: &Context, seen: &[(&str, Vec<IpAddr>, bool)]) {
    let host = ctx.snapshot.host.ok();
    let host_servers = host.and_then(|h| h.resolv_conf.as_deref()).map(nameservers);
    // The engine uses systemd-resolved's list only when /etc/resolv.conf names exactly
    // its stub.
    let stub = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 53));
    let resolved: Vec<IpAddr> = match &host_servers {
        Some(s) if s.as_slice() == [stub] => host
            .and_then(|h| h.resolved_conf.as_deref())
            .map(nameservers)
            .unwrap_or_default()
            .into_iter()
            .filter(|a| !a.is_loopback())
            .collect(),
        _ => vec![],
    };
    let loopback_only = host_servers
        .as_ref()
        .is_some_and(|s| !s.is_empty() && s.iter().all(|a| a.is_loopback()) && resolved.is_empty());
    let trap = |servers: &[IpAddr]| {
        format!(
            "the host's resolv.conf names only loopback resolvers ({}), which containers cannot reach: \
         containers on the default bridge get the engine's public fallback resolvers instead, and \
         lookups fail where those are blocked",
            if servers.is_empty() {
                "none".into()
            } else {
                list(servers)
            },
        )
    };
    let theirs: Vec<&(&str, Vec<IpAddr>, bool)> =
        seen.iter().filter(|(_, _, only)| *only).collect();
    let no_resolver = host_without_resolver(ctx).is_some() && engine_dns(ctx).is_empty();
    if let Some((who, servers, _)) = theirs.first() {
        let fallback = is_fallback(servers);
        let host_has_them = host_servers
            .as_ref()
            .is_some_and(|h| FALLBACK.iter().all(|a| h.contains(a)));
        if fallback && loopback_only {
            f.fail_at(
                Code::FallbackTrap,
                Subject::network("bridge"),
                trap(host_servers.as_deref().unwrap_or(&[])),
                TRAP_FIX,
            );
        } else if fallback && !no_resolver && !host_has_them && host_servers.is_some() {
            f.warn_at(Code::PublicFallback, Subject::container(who),
                format!(
                    "{who} uses the engine's public fallback resolvers ({}), not the host's ({}): \
                     internal names never resolve, and lookups fail offline or where outbound DNS is blocked",
                    list(servers),
                    list(host_servers.as_deref().unwrap_or(&[]))
                ),
                FALLBACK_FIX,
            );
        } else if !no_resolver {
            f.pass(format!(
                "{who}: nameserver {} (what the engine gives the default bridge; not queried)",
                list(servers)
            ));
        }
        return;
    }
    let engine_dns = engine_dns(ctx);
    match host_servers {
        // The engine gives the default bridge these, whatever the host's files say.
        _ if !engine_dns.is_empty() => f.pass(format!(
            "the engine gives the default bridge its configured resolvers: {} (not queried)",
            list(engine_dns)
        )),
        _ if no_resolver => {}
        None => f.skip(format!(
            "neither a container's nor the host's resolv.conf observed{}",
            ctx.snapshot.host.why_missing().map(|w| format!(": {w}")).unwrap_or_default()
        )),
        Some(servers) if loopback_only => f.fail_at(Code::FallbackTrap, Subject::file("/etc/resolv.conf"), trap(&servers), TRAP_FIX),
        Some(servers) if !resolved.is_empty() => f.pass(format!(
            "host resolv.conf names {}; the engine uses systemd-resolved's upstream {} (not queried)",
            list(&servers),
            list(&resolved)
        )),
        Some(servers) => f.pass(format!(
            "host resolv.conf: nameserver {} (the default bridge's upstream; not queried)",
            list(&servers.into_iter().filter(|a| !a.is_loopback()).collect::<Vec<_>>())
        )),
    }
}

/// A user-defined network: the embedded DNS server, asked by the probe for its own name.
fn embedded(f: &mut Findings, ctx: &Context, n: &netcheck_model::snapshot::NetworkObs) {
    let Some(probe) = ctx.snapshot.probe.ok() else {
        f.skip(format!(
            "embedded DNS not asked: {}",
            ctx.snapshot.probe.why_missing().unwrap_or("")
        ));
        return;
    };
    // The probe asks for its own name; a stand-in (a network the probe did not join),
    // for its own, from its namespace.
    let Some(who) = probe.vantage(n) else {
        f.skip(format!(
            "neither the probe nor a stand-in for it is on {}",
            n.name
        ));
        return;
    };
    let own = n
        .endpoints
        .iter()
        .find(|e| e.container_name == who.container_name)
        .and_then(|e| e.ipv4)
        .map(|a| a.addr());
    // The embedded server answers a multi-homed container's name with one of its
    // addresses, whichever network asks: any of its own is right.
    let probe_addrs: Vec<IpAddr> = ctx
        .snapshot
        .docker
        .ok()
        .into_iter()
        .flat_map(|d| &d.networks)
        .flat_map(|n| &n.endpoints)
        .filter(|e| e.container_name == who.container_name)
        .filter_map(|e| e.ipv4.map(|a| a.addr()))
        .collect();
    if let Some(why) = who.stand_in.and_then(|s| s.unasked.as_deref()) {
        f.error(format!(
            "the embedded DNS server was not asked from {who}: {why}"
        ));
        return;
    }
    if ctx.engine.podman {
        return podman::dns(f, n, probe, &probe_addrs);
    }
    let lookup =
        match who.stand_in {
            Some(s) => s.embedded_dns.as_ref(),
            None => probe.report.lookups.iter().find(|l| {
                l.source.as_deref() == Some(netcheck_model::protocol::EMBEDDED_DNS_SOURCE)
            }),
        };
    match (lookup, own) {
        (None, _) => f.note(format!(
            "network {}: {who} did not ask the embedded DNS (an older snapshot)",
            n.name
        )),
        (Some(_), None) => f.skip(format!("{who} has no IPv4 address on {}", n.name)),
        (Some(l), Some(ip)) if l.addrs.iter().any(|a| probe_addrs.contains(a)) => f.pass(format!(
            "embedded DNS {EMBEDDED_DNS} answers {} with {}, its own (on {}: {ip})",
            l.name,
            list(&l.addrs),
            n.name
        )),
        (Some(l), Some(ip)) => f.fail_at(Code::EmbeddedDnsSilent, Subject::network(&n.name),
            match &l.error {
                Some(e) => format!(
                    "the embedded DNS server {EMBEDDED_DNS} did not answer for {}: {e}{}",
                    l.name,
                    who.caveat()
                ),
                None => format!(
                    "the embedded DNS server answers {} with {}, none of its addresses ({ip} on {}){}",
                    l.name,
                    list(&l.addrs),
                    n.name,
                    who.caveat()
                ),
            },
            "restart the container (its 127.0.0.11 NAT rules live in its namespace); if every container \
             is affected, restart docker and check that nothing flushes the containers' nat tables",
        ),
    }
}
