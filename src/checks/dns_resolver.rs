//! `dns.resolver`: containers get a resolver they can reach, and the embedded DNS
//! answers local names. Nothing but local names is ever asked.

use std::net::IpAddr;

use super::{Check, Context, Findings, Needs, Outcome, docker_or_outcome};

pub static CHECK: Check = Check {
    generic: false,
    scope: super::Scope::Network,
    id: "dns.resolver",
    title: "Containers get a resolver they can reach",
    doc: "\
On the default bridge, the engine copies the host's /etc/resolv.conf into containers,
minus loopback nameservers, which a container cannot reach: its 127.0.0.1 is its own.
When nothing else is left (a systemd-resolved host whose /etc/resolv.conf names only
127.0.0.53), it substitutes public resolvers (8.8.8.8, 8.8.4.4), which many networks
block: every lookup then fails. On user-defined networks containers ask Docker's
embedded DNS server at 127.0.0.11, which answers container names itself and forwards
the rest to those same upstream servers.

This check reads the host's resolv.conf (and systemd-resolved's upstream list), each
container's resolv.conf on the network (from the host), and has the probe ask the
embedded DNS server for the probe's own name, the one name it surely knows. It never
sends a query anywhere else: netcheck resolves local names only.

Fails when: the host lists only loopback nameservers and no upstream list replaces them
(the 127.0.0.53 trap); a container's resolv.conf names a loopback server other than the
embedded one; the embedded DNS server does not answer, or answers wrongly, for a
container on its network.",
    needs: Needs {
        host: true,
        probe: true,
        ..Needs::NONE
    },
    params: super::no_params,
    judge,
};

const EMBEDDED: &str = "127.0.0.11";

/// The `nameserver` addresses of a resolv.conf.
pub fn nameservers(conf: &str) -> Vec<IpAddr> {
    conf.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next()? == "nameserver").then(|| w.next()?.parse().ok())?
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

fn judge(ctx: &Context, _: &super::Instance) -> Outcome {
    if let Err(o) = docker_or_outcome(ctx) {
        return o;
    }
    let mut f = Findings::default();
    let host = ctx.snapshot.host.ok();
    // The host's side: what the engine can hand on.
    match host.and_then(|h| h.resolv_conf.as_deref()) {
        None => f.skip(format!(
            "the host's resolv.conf not observed{}",
            ctx.snapshot
                .host
                .why_missing()
                .map(|w| format!(": {w}"))
                .unwrap_or_default()
        )),
        Some(conf) => {
            let servers = nameservers(conf);
            let upstream: Vec<IpAddr> = servers
                .iter()
                .copied()
                .filter(|a| !a.is_loopback())
                .collect();
            let resolved: Vec<IpAddr> = host
                .and_then(|h| h.resolved_conf.as_deref())
                .map(nameservers)
                .unwrap_or_default()
                .into_iter()
                .filter(|a| !a.is_loopback())
                .collect();
            if !upstream.is_empty() {
                f.pass(format!(
                    "host resolv.conf: nameserver {} (containers' upstream; not queried)",
                    list(&upstream)
                ));
            } else if !resolved.is_empty() {
                f.pass(format!(
                    "host resolv.conf names only {}; systemd-resolved's upstream {} stands in (not queried)",
                    list(&servers),
                    list(&resolved)
                ));
            } else {
                f.fail(
                    format!(
                        "the host's resolv.conf names only loopback resolvers ({}), which containers cannot reach: \
                         the engine falls back to 8.8.8.8 and 8.8.4.4, and lookups fail where those are blocked",
                        if servers.is_empty() { "none".into() } else { list(&servers) }
                    ),
                    "give the engine reachable resolvers: \"dns\": [\"<your upstream>\"] in /etc/docker/daemon.json, \
                     or point /etc/resolv.conf at /run/systemd/resolve/resolv.conf; then restart docker",
                );
            }
        }
    }
    let probe = ctx.snapshot.probe.ok();
    for n in &ctx.networks {
        let embedded = n.name != "bridge";
        for ep in &n.endpoints {
            let Some(c) = ctx.snapshot.container(&ep.container_id) else {
                continue;
            };
            let conf = if c.probe {
                probe.map(|p| p.report.resolv_conf.as_str())
            } else {
                c.resolv_conf.as_deref()
            };
            let Some(conf) = conf else { continue };
            let servers = nameservers(conf);
            let bad: Vec<IpAddr> = servers
                .iter()
                .copied()
                .filter(|a| a.is_loopback() && a.to_string() != EMBEDDED)
                .collect();
            if !bad.is_empty() {
                f.fail(
                    format!(
                        "{}'s resolv.conf names {}: the container's own loopback, where nothing answers",
                        ep.container_name,
                        list(&bad)
                    ),
                    format!(
                        "drop the loopback --dns from {0}'s run options (or \"dns\" in daemon.json) and recreate it",
                        ep.container_name
                    ),
                );
            } else if !c.probe {
                f.note(format!(
                    "{}: nameserver {}",
                    ep.container_name,
                    list(&servers)
                ));
            }
        }
        if !embedded {
            f.note(format!(
                "network {}: no embedded DNS on the default bridge; containers use the host's resolvers",
                n.name
            ));
            continue;
        }
        // The embedded DNS server, asked by the probe for its own name.
        let Some(probe) = probe else {
            f.skip(format!(
                "embedded DNS not asked: {}",
                ctx.snapshot.probe.why_missing().unwrap_or("")
            ));
            continue;
        };
        let own = n
            .endpoints
            .iter()
            .find(|e| e.container_name == probe.container_name)
            .and_then(|e| e.ipv4)
            .map(|a| a.addr());
        // The embedded server answers a multi-homed container's name with one of its
        // addresses, whichever network asks: any of the probe's own is right.
        let probe_addrs: Vec<IpAddr> = ctx
            .snapshot
            .docker
            .ok()
            .into_iter()
            .flat_map(|d| &d.networks)
            .flat_map(|n| &n.endpoints)
            .filter(|e| e.container_name == probe.container_name)
            .filter_map(|e| e.ipv4.map(|a| a.addr()))
            .collect();
        let lookup = probe
            .report
            .lookups
            .iter()
            .find(|l| l.source.as_deref() == Some("embedded-dns"));
        match (lookup, own) {
            (None, _) => f.note(format!(
                "network {}: the probe did not ask the embedded DNS (an older snapshot)",
                n.name
            )),
            (Some(_), None) => f.skip(format!("the probe is not on {}", n.name)),
            (Some(l), Some(ip)) if l.addrs.iter().any(|a| probe_addrs.contains(a)) => f.pass(format!(
                "embedded DNS {EMBEDDED} answers {} with {}, its own (on {}: {ip})",
                l.name,
                list(&l.addrs),
                n.name
            )),
            (Some(l), Some(ip)) => f.fail(
                match &l.error {
                    Some(e) => format!("the embedded DNS server {EMBEDDED} did not answer for {}: {e}", l.name),
                    None => format!(
                        "the embedded DNS server answers {} with {}, none of its addresses ({ip} on {})",
                        l.name,
                        list(&l.addrs),
                        n.name
                    ),
                },
                "restart the container (its 127.0.0.11 NAT rules live in its namespace); if every container \
                 is affected, restart docker and check that nothing flushes the containers' nat tables",
            ),
        }
    }
    f.finish("containers get a resolver they can reach")
}
