//! `nat.masquerade`: container traffic leaving the host is source-NATed to the host.

use std::net::IpAddr;

use super::engine_rules::{self, Backend};
use super::{Check, Context, Findings, Needs, Outcome, docker_or_outcome};
use netcheck_model::snapshot::{FirewallObs, NetworkObs};

mod codes;
mod ipv6;
mod live;
mod podman;

use codes::Code;

pub static CHECK: Check = Check {
    generic: false,
    scope: super::Scope::Network,
    id: "nat.masquerade",
    title: "Container traffic leaving the host is masqueraded",
    doc: "\
Containers on a bridge network use private addresses; the host must source-NAT
(MASQUERADE) their traffic to the outside. This check reads the firewall backend in use
(iptables-nft or iptables-legacy) and requires, for each checked network that has
masquerading enabled: `net.ipv4.ip_forward=1`; a nat POSTROUTING rule
`-s <subnet> ! -o <bridge> -j MASQUERADE`; and a FORWARD path that lets the bridge's
traffic out. Then it proves it, for every checked network: a throw-away namespace on
198.18.0.0/15 plays the outside world, and the probe connects to it, through its default
route and, for each other network, from its interface on that network (a policy rule in
the probe's own namespace), or from the namespace of the container that stands in for it
on a network it did not join (`--probe-joins`). The peer must see the host's address,
not the container's.
No packet leaves the machine. A network that sets its own source address
(`com.docker.network.host_ipv4`) gets `-j SNAT --to-source` that address instead, and
the peer must see that address.

On Podman the rule is netavark's: POSTROUTING's jump for the subnet to its
`NETAVARK-<hash>` chain, whose MASQUERADE must not be bypassed by a rule above it.
netavark writes a network's rules again whenever a container joins it (netcheck's probe
too), so the nat table is also read before the probe starts, and a rule missing then
fails: the containers that ran had no NAT.

Fails when: the MASQUERADE rule is missing; ip_forward is 0; FORWARD drops the traffic;
the outside peer sees the container's own address or is unreachable.
Typical cause: a \"no NAT\" rule (`-j ACCEPT`) above Docker's MASQUERADE in nat
POSTROUTING exempts one network.",
    needs: Needs {
        host: true,
        probe: true,
        outside: true,
        ..Needs::NONE
    },
    configure: |t| super::params::none(t, judge),
    params_schema: super::params::schema_none,
    codes: super::code::list::<Code>,
};

/// The option that gives a network its own source address: Docker then writes
/// `-j SNAT --to-source ADDR` instead of MASQUERADE, and the outside sees ADDR.
const HOST_IPV4: &str = "com.docker.network.host_ipv4";

/// The source address a network's traffic is given on purpose, where it sets one.
fn snat_source(n: &NetworkObs) -> Option<IpAddr> {
    n.options.get(HOST_IPV4)?.parse().ok()
}

/// The nat POSTROUTING rule Docker writes for a network, e.g.
/// `-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE`, or with
/// `-j SNAT --to-source ADDR` where the network sets its source address.
fn masquerade_rule<'a>(fw: &'a FirewallObs, n: &NetworkObs, subnet: &str) -> Option<&'a str> {
    let src = format!("-s {subnet} ");
    let not_out = format!("! -o {} ", n.bridge);
    let target = match snat_source(n) {
        Some(addr) => format!("-j SNAT --to-source {addr}"),
        None => "-j MASQUERADE".to_string(),
    };
    fw.tables.get("nat")?.iter().map(String::as_str).find(|l| {
        l.starts_with("-A POSTROUTING ")
            && l.contains(&src)
            && l.contains(&not_out)
            && l.ends_with(&target)
    })
}

/// A FORWARD path out of the bridge: policy ACCEPT, or Docker's accept rule
/// `-i <bridge> ! -o <bridge> -j ACCEPT` in FORWARD or one of Docker's chains.
fn forward_out<'a>(fw: &'a FirewallObs, n: &NetworkObs) -> Option<&'a str> {
    let filter = fw.tables.get("filter")?;
    match super::rules::policy(filter, "FORWARD") {
        Some("ACCEPT") => Some(":FORWARD ACCEPT"),
        _ => super::rules::accepts_out(fw, &n.bridge),
    }
}

fn judge(ctx: &Context, _: &super::Instance) -> Outcome {
    if let Err(o) = docker_or_outcome(ctx) {
        return o;
    }
    let mut f = Findings::default();
    let host = ctx.snapshot.host.ok();
    if let Some(why) = ctx.snapshot.host.why_missing() {
        f.skip(format!("host side not observed: {why}"));
    }
    for n in &ctx.networks {
        if n.internal {
            f.note(format!("network {}: internal, no NAT by design", n.name));
            continue;
        }
        if !n.ip_masquerade {
            f.note(format!(
                "network {}: masquerading disabled (com.docker.network.bridge.enable_ip_masquerade=false)",
                n.name
            ));
            continue;
        }
        if let Some(host) = host {
            ipv6::judge(&mut f, ctx, n, host);
        }
        if n.options
            .get("com.docker.network.bridge.gateway_mode_ipv4")
            .is_some_and(|m| m == "routed")
        {
            f.note(format!(
                "network {}: gateway_mode_ipv4=routed, no NAT by design",
                n.name
            ));
            continue;
        }
        let Some(subnet) = n.subnet_v4() else {
            if !n.enable_ipv4 {
                f.note(format!("IPv4: off on network {} (IPv6 only)", n.name));
                continue;
            }
            f.error_with_fix(
                format!("network {} has no IPv4 subnet (see bridge.subnet)", n.name),
                "follow bridge.subnet's fix: netcheck cannot judge masquerading without a subnet",
            );
            continue;
        };
        if let Some(host) = host {
            match host.sysctl.get("net.ipv4.ip_forward").map(String::as_str) {
                Some("1") => f.note("net.ipv4.ip_forward=1"),
                Some(v) => f.fail_at(Code::IpForwardOff, super::Subject::sysctl("net.ipv4.ip_forward"),
                    format!("net.ipv4.ip_forward={v}: the host does not route container traffic"),
                    "sysctl -w net.ipv4.ip_forward=1, then find what reset it: grep -rs ip_forward /etc/sysctl.conf /etc/sysctl.d /etc/systemd/network",
                ),
                None => f.error("net.ipv4.ip_forward could not be read"),
            }
            match &host.firewall {
                netcheck_model::snapshot::Observed::Ok { .. }
                    if ctx.engine.podman && !ctx.engine.netavark =>
                {
                    f.note(super::netavark::CNI)
                }
                netcheck_model::snapshot::Observed::Ok { value: fw } if ctx.engine.podman => {
                    podman::rules(&mut f, fw, n, subnet)
                }
                netcheck_model::snapshot::Observed::Ok { value: fw }
                    if ctx.engine.backend == Backend::Nftables =>
                {
                    nft_rules(&mut f, ctx, fw, n, subnet)
                }
                netcheck_model::snapshot::Observed::Ok { value: fw }
                    if !super::rules::docker_in_iptables(fw) =>
                {
                    no_docker_chains(&mut f, ctx, fw, host, n, &subnet.to_string())
                }
                netcheck_model::snapshot::Observed::Ok { value: fw } => {
                    match masquerade_rule(fw, n, &subnet.to_string()) {
                        Some(rule) => f.pass(format!("{}: nat {rule}", fw.backend)),
                        None => f.fail_at(Code::MasqueradeRuleMissing, super::rules::subject("nat", "POSTROUTING", None),
                            format!("no MASQUERADE rule for {subnet} ({}) in nat POSTROUTING ({})", n.name, fw.backend),
                            format!(
                                "restart the Docker daemon to restore its rules (systemctl restart docker), and find what \
                                 flushed them (firewalld, ufw, a script running iptables -t nat -F); \
                                 the engine writes it itself, never add it by hand: -A POSTROUTING -s {subnet} ! -o {} -j MASQUERADE",
                                super::sh(&n.bridge)
                            ),
                        ),
                    }
                    match forward_out(fw, n) {
                        Some(rule) => f.pass(format!("{}: filter {rule}", fw.backend)),
                        None => f.fail_at(Code::ForwardClosed, super::rules::subject("filter", "FORWARD", None),
                            format!("FORWARD lets no traffic out of {} ({}): policy is not ACCEPT and Docker's accept rule is missing", n.bridge, n.name),
                            "restart the Docker daemon to restore its FORWARD rules; check what a host firewall inserted: iptables -S FORWARD",
                        ),
                    }
                }
                other => f.skip(format!(
                    "firewall rules not read: {}",
                    other.why_missing().unwrap_or("")
                )),
            }
        }

        live::live_egress(&mut f, ctx, n, subnet);
    }
    f.finish("container traffic leaves the host masqueraded")
}

/// Docker keeps no chains in iptables: told not to (`"iptables": false`), then no NAT
/// unless the host adds its own; or something removed them.
fn no_docker_chains(
    f: &mut Findings,
    ctx: &Context,
    fw: &FirewallObs,
    host: &netcheck_model::snapshot::HostObs,
    n: &NetworkObs,
    subnet: &str,
) {
    if let Some(rule) = masquerade_rule(fw, n, subnet) {
        f.pass(format!(
            "{}: nat {rule} (not Docker's: its chains are absent)",
            fw.backend
        ));
        return;
    }
    // Docker's chains in the other backend (see firewall.backend): its rule is there.
    if let Some(other) = fw
        .other
        .as_ref()
        .filter(|o| super::rules::has_docker_chains(o.tables.values()))
    {
        let theirs = FirewallObs {
            tables: other.tables.clone(),
            ..fw.clone()
        };
        match masquerade_rule(&theirs, n, subnet) {
            Some(rule) => f.pass(format!(
                "{}: nat {rule} (Docker's chains are in the backend `iptables` no longer runs: see firewall.backend)",
                other.backend
            )),
            None => f.fail_at(Code::MasqueradeRuleMissing, super::rules::subject("nat", "POSTROUTING", None),
                format!("no MASQUERADE rule for {subnet} ({}) in {}, where Docker's chains are", n.name, other.backend),
                "restart the Docker daemon to restore its rules (systemctl restart docker)",
            ),
        }
        return;
    }
    match super::rules::iptables_off(host) {
        Some(off) => f.fail_at(Code::IptablesOff, super::Subject::Host,
            format!("{off}: the engine masquerades nothing, and no MASQUERADE rule for {subnet} ({}) exists", n.name),
            format!(
                "remove \"iptables\": false (or --iptables=false) and restart docker, or masquerade it yourself: \
                 iptables -t nat -A POSTROUTING -s {subnet} ! -o {} -j MASQUERADE",
                super::sh(&n.bridge)
            ),
        ),
        None => f.fail_at(Code::DockerChainsMissing, super::Subject::Host,
            format!(
                "Docker's chains are missing from {} ({}): its MASQUERADE rule for {subnet} ({}) went with them",
                fw.backend,
                ctx.engine.missing(fw).join(", "),
                n.name
            ),
            super::rules::restore_chains_hint(fw),
        ),
    }
}

/// Every network the engine has: a traced drop may name any container's address.
fn all_networks<'a>(ctx: &Context<'a>) -> &'a [NetworkObs] {
    ctx.snapshot
        .docker
        .ok()
        .map(|d| d.networks.as_slice())
        .unwrap_or_default()
}

/// How to get a network's traffic masqueraded again, in the engine's own terms: the
/// engine writes the rule, so a restart restores it; by hand only where it was told to
/// keep no rules.
fn unnatted_fix(ctx: &Context, n: &NetworkObs, subnet: ipnet::IpNet) -> String {
    let bridge = super::sh(&n.bridge);
    if ctx.engine.podman {
        return format!(
            "remove what lets {subnet} out un-NATed (iptables -t nat -S POSTROUTING, and netavark's chain it \
             jumps to), then {}: netavark writes its rules again (never edit them by hand)",
            super::netavark::RELOAD
        );
    }
    match ctx.snapshot.host.ok().and_then(super::rules::iptables_off) {
        Some(off) => format!(
            "{off}: remove it and restart docker, or masquerade it yourself: \
             iptables -t nat -A POSTROUTING -s {subnet} ! -o {bridge} -j MASQUERADE"
        ),
        None if ctx.engine.backend == Backend::Nftables => format!(
            "restore the engine's rules: systemctl restart docker (expected: a masquerade rule for {subnet} in \
             table ip {} chain nat-postrouting-out__{}); the engine owns that table, so never edit it by hand, \
             and find what removed the rule (nft flush ruleset, a firewall reload)",
            engine_rules::NFT_TABLE,
            n.bridge
        ),
        None => format!(
            "restore the rule: systemctl restart docker (expected: -A POSTROUTING -s {subnet} ! -o {bridge} -j MASQUERADE)"
        ),
    }
}

/// Docker's nftables backend: the network's masquerade rule in the engine's own table.
fn nft_rules(
    f: &mut Findings,
    ctx: &Context,
    fw: &FirewallObs,
    n: &NetworkObs,
    subnet: ipnet::IpNet,
) {
    if fw.nftables.is_none() {
        f.note(format!(
            "{}: the nftables ruleset was not read (nft not installed): the live test decides",
            ctx.engine.describe()
        ));
        return;
    }
    match engine_rules::nft_masquerade(fw, n, false) {
        Ok(rule) => f.pass(format!("nftables: {rule}")),
        Err(why) if !ctx.engine.present(fw) => f.fail_at(
            Code::DockerChainsMissing,
            super::Subject::Host,
            format!(
                "{why}: the engine's rules are gone ({}), and with them its masquerade rule for {subnet} ({})",
                ctx.engine.describe(),
                n.name
            ),
            super::rules::restore_chains_hint(fw),
        ),
        Err(why) => f.fail_at(
            Code::MasqueradeRuleMissing,
            super::rules::subject(
                &format!("ip {}", engine_rules::NFT_TABLE),
                &format!("nat-postrouting-out__{}", n.bridge),
                None,
            ),
            format!("no masquerade rule for {subnet} ({}): {why}", n.name),
            unnatted_fix(ctx, n, subnet),
        ),
    }
}
