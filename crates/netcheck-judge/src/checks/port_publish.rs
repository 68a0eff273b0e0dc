//! `port.publish`: a published port reaches its container, from the host and by hairpin.

use super::{Check, Context, Findings, Needs, Outcome, missing};
use netcheck_model::snapshot::{HostObs, Observed, ProbeObs, ProxyObs, Published};

mod codes;
use codes::Code;

// Whether a published port answers, and why not: a part of the check of its own.
mod answer;
// The users' own published ports: a part of the check of its own.
mod users;

pub static CHECK: Check = Check {
    generic: false,
    scope: super::Scope::Host,
    id: "port.publish",
    title: "A published port reaches its container, also by hairpin",
    doc: "\
The probe container publishes its listener's port twice: on 127.0.0.1 and on the
gateway address of its network (never on a wildcard, so nothing is exposed beyond this
machine). netcheck then fetches it from the host through 127.0.0.1, and the probe fetches
it from inside through the gateway address: the hairpin, a container reaching a
published port through a host address. Both answers must come from the probe's listener.
The check also reads how the engine carries each port: its DNAT rule in the nat DOCKER
chain, and its docker-proxy process. Where the engine keeps iptables rules, the DNAT
rule must be there.

The ports that running containers on the checked networks publish are tested too (at
most 16 a run; the evidence says how many there were): a TCP connection from the host to
each (to the host's own address for a port published on every address), which must meet
the container: an accept, or a reset from a container with no listener on it. The nat
rules must take the port to the container the engine says owns it: a DNAT rule above the
engine's that sends it elsewhere (a removed container's leftover, a script's) is named,
with its chain and position.

Skips when: the probe's network is internal (it publishes nothing, by design).

Warns when: a port is published on every address (0.0.0.0) while a host firewall runs
(ufw, firewalld, an INPUT policy of drop): Docker's DNAT takes the packets before that
firewall's INPUT rules see them, so the port is open whatever the firewall says.

Fails when: the engine cannot publish the probe's ports at all (Docker's chains were
removed: the container does not start with them); a published port does not answer
from the host or by hairpin; its DNAT rule is missing (something flushed Docker's nat
rules); or neither a rule nor a proxy carries it; a user's published port does not reach its
container from the host, or a stale DNAT rule takes it.
Typical cause: a firewalld reload wiped Docker's DNAT rules; userland-proxy is off and
hairpin NAT is broken, or `route_localnet=0`; an OUTPUT allow-list drops the host's
connections to its containers.",
    needs: Needs {
        host: true,
        probe: true,
        publish: true,
        ..Needs::NONE
    },
    configure: |t| super::params::none(t, judge),
    params_schema: super::params::schema_none,
    codes: super::code::list::<Code>,
};

const RESTART: &str = "restart the Docker daemon to restore its rules (systemctl restart docker); \
with firewalld, start it before docker, so that docker re-adds its rules on every reload";

fn judge(ctx: &Context, _: &super::Instance) -> Outcome {
    let Some(probe) = ctx.snapshot.probe.ok() else {
        return missing(&ctx.snapshot.probe, "probe container");
    };
    if let Some(skipped) = nothing_published(ctx, probe) {
        return skipped;
    }
    let mut f = Findings::default();
    let probe_ip = probe_address(ctx, probe);
    let host = ctx.snapshot.host.ok();
    for p in &probe.published {
        judge_port(&mut f, ctx, probe, host, p, probe_ip);
    }
    if let Some(h) = host {
        exposure(&mut f, h);
    }
    users::judge(&mut f, ctx);
    // The gateway binding needs the network's gateway before the probe exists: an
    // engine's IPAM may not state it, and with the agent no host view says it yet.
    if probe.published.iter().all(|p| p.host_ip.is_loopback()) {
        f.note("the hairpin was not tested: the gateway of the probe's network was not known when it was created");
        return f.finish(
            "the published port reaches the container from the host (the hairpin was not tested)",
        );
    }
    f.finish("published ports reach the container, from the host and by hairpin")
}

/// The outcome when the probe has no port to test: its network is internal, the engine
/// refused to publish, or nothing was published.
fn nothing_published(ctx: &Context, probe: &ProbeObs) -> Option<Outcome> {
    // The probe publishes on its first network; an internal one publishes nothing by
    // design (the engine carries no port of it), which is not a fault.
    if let Some(n) = ctx
        .snapshot
        .networks
        .first()
        .and_then(|n| ctx.snapshot.network(n))
        .filter(|n| n.internal)
    {
        return Some(Outcome::skip(
            "internal: publishes nothing",
            vec![format!(
                "network {} is internal: the engine publishes no port of its containers",
                n.name
            )],
        ));
    }
    if let Some(e) = &probe.publish_error {
        return Some(publish_refused(ctx, e));
    }
    if probe.published.is_empty() {
        let why = ctx
            .snapshot
            .host
            .why_missing()
            .unwrap_or("the probe published no port");
        return Some(Outcome::skip(
            format!("no published port to test: {why}"),
            vec![],
        ));
    }
    None
}

/// The probe's address the published ports lead to.
fn probe_address(ctx: &Context, probe: &ProbeObs) -> Option<std::net::IpAddr> {
    // The engine publishes a container's ports on its address on the network of its
    // default route (GwPriority, then the networks' names decide which), not on the
    // first network netcheck asked for.
    let egress = ctx.snapshot.probe_egress().or_else(|| {
        let first = ctx.snapshot.networks.first()?;
        ctx.snapshot.network(first)
    });
    egress
        .into_iter()
        .flat_map(|n| &n.endpoints)
        .find(|e| e.container_name == probe.container_name)
        .and_then(|e| e.ipv4)
        .map(|a| a.addr())
}

/// One published port: how the engine carries it, then whether it answers.
fn judge_port(
    f: &mut Findings,
    ctx: &Context,
    probe: &ProbeObs,
    host: Option<&HostObs>,
    p: &Published,
    probe_ip: Option<std::net::IpAddr>,
) {
    let at = format!("{}:{}", p.host_ip, p.host_port);
    f.note(format!(
        "probe port {}/tcp published on {at}",
        p.container_port
    ));
    let proxy = judge_carrier(f, ctx, host, p, &at);
    answer::judge(f, ctx, probe, p, &at, probe_ip, proxy.is_some());
}

/// How the engine carries port `p`: its DNAT rule (in iptables or in its own nftables
/// table) and its docker-proxy. Returns the proxy, which the cause of a failure needs.
fn judge_carrier<'a>(
    f: &mut Findings,
    ctx: &Context,
    host: Option<&'a HostObs>,
    p: &Published,
    at: &str,
) -> Option<&'a ProxyObs> {
    let dnat = host.and_then(|h| match &h.firewall {
        // Podman's: netavark's DNAT chain for the container, in iptables; with its
        // nftables driver or CNI's backend, not read (the requests below decide).
        Observed::Ok { value } if ctx.engine.netavark && !super::netavark::in_nftables(value) => {
            Some(super::netavark::dnat(value, p.host_port, p.container_port).map(str::to_string))
        }
        _ if ctx.engine.podman => None,
        Observed::Ok { value } if super::rules::docker_in_iptables(value) => {
            Some(dnat_rule(value, p).map(str::to_string))
        }
        // Docker's nftables backend: its DNAT rules are in its own table.
        Observed::Ok { value }
            if ctx.engine.backend == super::engine_rules::Backend::Nftables
                && value.docker_nft_after_publish =>
        {
            Some(super::engine_rules::nft_dnat(
                value,
                p.host_port,
                p.container_port,
            ))
        }
        _ => None,
    });
    let proxy = host.and_then(|h| {
        h.proxies
            .iter()
            .find(|x| x.host_port == p.host_port && x.host_ip == p.host_ip.to_string())
    });
    if let Some(x) = proxy {
        f.note(format!(
            "docker-proxy {}:{} -> {}:{}",
            x.host_ip, x.host_port, x.container_ip, x.container_port
        ));
    }
    match (dnat, proxy) {
        (Some(Some(rule)), _) => f.pass(format!("nat {rule}")),
        (Some(None), _) if ctx.engine.podman => f.fail_at(
            Code::DnatMissing,
            super::rules::subject("nat", "NETAVARK-HOSTPORT-DNAT", None),
            format!("netavark's DNAT rule for {at} is missing from the nat table: its rules were flushed"),
            format!("{}: netavark writes them again", super::netavark::RELOAD),
        ),
        (Some(None), _) if ctx.engine.backend == super::engine_rules::Backend::Nftables => f.fail_at(
            Code::DnatMissing,
            super::rules::subject(&format!("ip {}", super::engine_rules::NFT_TABLE), "nat-prerouting-and-output", None),
            format!(
                "the DNAT rule for {at} is missing from the engine's table ip {}: its rules were flushed or edited",
                super::engine_rules::NFT_TABLE
            ),
            RESTART,
        ),
        (Some(None), _) => f.fail_at(Code::DnatMissing, super::rules::subject("nat", "DOCKER", None),
            format!("the DNAT rule for {at} is missing from the nat DOCKER chain: Docker's nat rules were flushed"),
            RESTART,
        ),
        (None, Some(_)) => f.note("firewall not read: the DNAT rule was not checked"),
        // Rules not readable here (no root, or Docker's nftables backend) and no proxy
        // (userland-proxy off): the requests below still tell whether it works.
        (None, None) => f.note(format!(
            "how {at} is carried was not seen: no readable DNAT rule, no docker-proxy"
        )),
    }
    proxy
}

/// Ports published on every address while a host firewall runs: they work, and they
/// are open to the network whatever that firewall says. A warning.
fn exposure(f: &mut Findings, host: &netcheck_model::snapshot::HostObs) {
    let Some(fw) = host.firewall.ok() else { return };
    let wildcard = super::publish_paths::wildcard_ports(host, fw);
    match super::publish_paths::host_firewall(fw) {
        Some(firewall) if !wildcard.is_empty() => f.warn_at(Code::WildcardBypassesFirewall, super::Subject::Host,
            format!(
                "{} port(s) published on every address bypass the host firewall ({firewall}): {}; Docker's DNAT \
                 happens before its INPUT rules see them",
                wildcard.len(),
                wildcard.join(", ")
            ),
            "publish on the address meant (-p 127.0.0.1:HOST:CONTAINER), or filter them in DOCKER-USER \
             (iptables -I DOCKER-USER -i UPLINK -p tcp --dport CONTAINER_PORT -j DROP); with firewalld, \
             its docker zone; with ufw, rules in DOCKER-USER (ufw alone does not see them)",
        ),
        Some(firewall) => f.note(format!(
            "host firewall {firewall}: no port is published on every address"
        )),
        None if !wildcard.is_empty() => f.note(format!(
            "published on every address (no host firewall seen): {}",
            wildcard.join(", ")
        )),
        None => {}
    }
}

/// The engine could not start the probe with its ports published: say why, with the
/// missing chains where the firewall shows them.
fn publish_refused(ctx: &Context, error: &str) -> Outcome {
    let fw = ctx.snapshot.host.ok().and_then(|h| h.firewall.ok());
    let missing = fw.map(|fw| ctx.engine.missing(fw)).unwrap_or_default();
    let hint = fw.map_or(RESTART.to_string(), super::rules::restore_chains_hint);
    let cause = if missing.is_empty() {
        String::new()
    } else {
        format!(": Docker's chains are missing ({})", missing.join(", "))
    };
    Outcome::fail(
        format!("the engine could not publish the probe's ports{cause}"),
        vec![
            format!("the engine said: {error}"),
            "the run went on with a probe without published ports".into(),
        ],
        hint,
    )
}

/// `-A DOCKER -d 127.0.0.1/32 ! -i docker0 -p tcp -m tcp --dport 32768 -j DNAT
/// --to-destination 172.17.0.2:8080`.
fn dnat_rule<'a>(fw: &'a netcheck_model::snapshot::FirewallObs, p: &Published) -> Option<&'a str> {
    let port = format!("--dport {} ", p.host_port);
    let to = format!(":{}", p.container_port);
    fw.tables.get("nat")?.iter().map(String::as_str).find(|l| {
        l.starts_with("-A DOCKER ")
            && l.contains(&port)
            && l.contains("-j DNAT")
            && l.ends_with(&to)
    })
}

#[cfg(test)]
mod tests {
    use crate::checks::{self, Status};
    use netcheck_model::snapshot::{Observed, Snapshot};

    /// port.publish on a two-network fixture whose published port stopped answering,
    /// with the networks asked for in the order given.
    fn judged_in_order(reverse: bool) -> (Status, String, String) {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/healthy-user-network-and-bridge.json"
        );
        let mut snapshot = Snapshot::load(std::path::Path::new(path)).unwrap();
        if reverse {
            snapshot.networks.reverse();
        }
        let Observed::Ok { value: probe } = &mut snapshot.probe else {
            panic!("the fixture has a probe")
        };
        for r in probe
            .host_requests
            .iter_mut()
            .chain(&mut probe.report.requests)
        {
            if matches!(
                r.purpose,
                netcheck_model::protocol::Purpose::Publish { .. }
                    | netcheck_model::protocol::Purpose::Hairpin
            ) {
                r.ok = false;
                r.error = Some("no answer within 2000 ms".into());
            }
        }
        // Where the engine publishes the probe's port: its address on the network of its
        // default route.
        let probe_name = probe.container_name.clone();
        let expected = snapshot
            .probe_egress()
            .and_then(|n| n.endpoints.iter().find(|e| e.container_name == probe_name))
            .and_then(|e| e.ipv4)
            .map(|a| a.addr().to_string())
            .unwrap();
        let instances = checks::builtin_instances();
        let judged = checks::judge(&snapshot, &instances);
        let j = judged
            .iter()
            .find(|j| j.instance.id == "port.publish")
            .unwrap();
        (j.outcome.status, j.outcome.message.clone(), expected)
    }

    #[test]
    fn the_probes_address_is_on_the_network_of_its_default_route() {
        // The engine, not the order of --network, decides which network carries the
        // probe's default route and its published ports (W6).
        for reverse in [false, true] {
            let (status, message, expected) = judged_in_order(reverse);
            assert_eq!(status, Status::Fail, "{message}");
            assert!(
                message.contains(&format!("the container {expected}:")),
                "{message}"
            );
        }
    }
}
