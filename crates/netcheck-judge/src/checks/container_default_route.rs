//! `container.default-route`: containers route out via their network's gateway, and it answers.

use super::{
    Check, Context, Findings, Needs, Outcome, Subject, docker_or_outcome, request_lost, sh,
};
use netcheck_model::snapshot::{EndpointObs, NetnsObs, NetworkObs};
use std::net::IpAddr;

/// container.default-route's finding codes, `container.default-route/<slug>`. A variant's
/// doc comment is its description, which `netcheck explain` prints. Never rename a released
/// slug.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumIter, strum::EnumMessage,
)]
#[strum(serialize_all = "kebab-case")]
pub(crate) enum Code {
    /// The network has no gateway: no IPAM gateway, and no address of the bridge in its subnet.
    NoGateway,
    /// The network's gateway is not an address of its bridge: default routes lead nowhere.
    GatewayNotOnBridge,
    /// A container has no IPv4 default route.
    NoDefaultRoute,
    /// A container's default route goes via another address than its network's gateway.
    WrongGateway,
    /// The network's gateway does not answer the probe.
    GatewaySilent,
    /// The network has IPv6 enabled but no IPv6 gateway.
    NoGatewayV6,
    /// A container has no IPv6 default route, on a network with IPv6.
    NoDefaultRouteV6,
    /// A container's IPv6 default route goes via another address than its network's IPv6
    /// gateway.
    WrongGatewayV6,
}

pub static CHECK: Check = Check {
    generic: false,
    scope: super::Scope::Network,
    id: "container.default-route",
    title: "Containers' default route goes via the network gateway, which answers",
    doc: "\
Inside a container on a bridge network the routing table must hold
`default via <gateway> dev eth0`, where the gateway is the network's IPAM gateway (or the
bridge's address when IPAM lists none, as on the default bridge). The gateway must be
carried by the bridge on the host, and it must answer: netcheck's probe container (or, on
a network it did not join, its stand-in: see `--probe-joins`) makes an HTTP request to a
listener that netcheck binds on the gateway address (never 0.0.0.0).
Containers on several networks have one default route; it is checked against the network
it leaves through. Internal networks have no default route by design and are skipped.

Fails when: a container has no default route; it points at the wrong gateway; the gateway
address is missing from the bridge; the gateway does not answer.",
    needs: Needs {
        host: true,
        probe: true,
        outside: false,
        ..Needs::NONE
    },
    configure: |t| super::params::none(t, judge),
    params_schema: super::params::schema_none,
    codes: super::code::list::<Code>,
};

fn judge(ctx: &Context, _: &super::Instance) -> Outcome {
    if let Err(o) = docker_or_outcome(ctx) {
        return o;
    }
    let host = ctx.snapshot.host.ok().map(|h| &h.netns);
    let mut f = Findings::default();
    for n in &ctx.networks {
        if n.internal {
            // Evidence, not a verdict: internal networks route nowhere on purpose.
            f.note(format!(
                "network {}: internal, no default route by design",
                n.name
            ));
            continue;
        }
        let Some(gw) = n.gateway_v4(host) else {
            if !n.enable_ipv4 {
                f.note(format!("IPv4: off on network {} (IPv6 only)", n.name));
                ipv6(&mut f, ctx, n, host);
                continue;
            }
            f.fail_at(Code::NoGateway, Subject::network(&n.name),
                format!("network {} has no gateway: no IPAM gateway, and bridge {} carries no address in its subnet", n.name, n.bridge),
                format!("restart docker, or give the bridge its address: ip addr add <gateway>/<len> dev {}", sh(&n.bridge)),
            );
            continue;
        };
        if let Some(ns) = host {
            gateway_on_bridge(&mut f, ns, n, gw);
        }
        for ep in &n.endpoints {
            judge_default_routes(&mut f, ctx, n, ep, gw);
        }
        ipv6(&mut f, ctx, n, host);
        gateway_answers(&mut f, ctx, n, gw);
    }
    f.finish("containers route via their gateway, and it answers")
}

/// The gateway `gw` of network `n` is an address of its bridge on the host: else the
/// containers' default routes lead nowhere.
fn gateway_on_bridge(f: &mut Findings, ns: &NetnsObs, n: &NetworkObs, gw: IpAddr) {
    let on_bridge = ns
        .link_by_name(&n.bridge)
        .is_some_and(|br| ns.addrs_of(br.index).any(|a| a.addr() == gw));
    if !on_bridge {
        f.fail_at(
            Code::GatewayNotOnBridge,
            Subject::interface(&n.bridge),
            format!(
                "gateway {gw} of network {} is not on bridge {}: default routes lead nowhere",
                n.name, n.bridge
            ),
            format!(
                "ip addr add {gw}/{} dev {} (or systemctl restart docker)",
                n.subnet_v4().map(|s| s.prefix_len()).unwrap_or(16),
                sh(&n.bridge)
            ),
        );
    }
}

/// The container of endpoint `ep` has an IPv4 default route, and the one through this
/// network goes via its gateway `gw`.
fn judge_default_routes(
    f: &mut Findings,
    ctx: &Context,
    n: &NetworkObs,
    ep: &EndpointObs,
    gw: IpAddr,
) {
    let who = &ep.container_name;
    let container = ctx.snapshot.container(&ep.container_id);
    let Some(inner) = container.and_then(|c| c.interior.ok()) else {
        f.skip(format!(
            "{who}: inside not observed ({})",
            container
                .and_then(|c| c.interior.why_missing())
                .unwrap_or("not listed")
        ));
        return;
    };
    let iface = ep.mac.as_deref().and_then(|m| inner.link_by_mac(m));
    let defaults: Vec<_> = inner.default_routes_v4().collect();
    if defaults.is_empty() {
        f.fail_at(
            Code::NoDefaultRoute,
            Subject::container(who),
            format!("container {who} has no IPv4 default route"),
            format!(
                "docker restart {}; inside it, `ip route` should show: default via {gw}",
                sh(who)
            ),
        );
        return;
    }
    for r in defaults {
        let dev = r
            .oif
            .map(|i| inner.link_name(i))
            .unwrap_or_else(|| "?".into());
        let via = r
            .gateway
            .map(|g| g.to_string())
            .unwrap_or_else(|| "(none)".into());
        let line = format!("{who}: default via {via} dev {dev}");
        let through_this = iface.is_some_and(|l| Some(l.index) == r.oif);
        if !through_this {
            // It leaves through another network; that network's run judges it.
            f.note(format!("{line} (not through {})", n.name));
        } else if r.gateway != Some(gw) {
            f.fail_at(
                Code::WrongGateway,
                Subject::container(who),
                format!(
                    "container {who}'s default route goes via {via}, not via {}'s gateway {gw}",
                    n.name
                ),
                format!(
                    "docker restart {} (something inside it replaced the route)",
                    sh(who)
                ),
            );
        } else {
            f.pass(line);
        }
    }
}

/// The active half: does the gateway `gw` of network `n` answer the probe?
fn gateway_answers(f: &mut Findings, ctx: &Context, n: &NetworkObs, gw: IpAddr) {
    let Some(probe) = ctx.snapshot.probe.ok() else {
        f.note(format!(
            "gateway not probed: {}",
            ctx.snapshot.probe.why_missing().unwrap_or("")
        ));
        return;
    };
    let purpose = netcheck_model::protocol::Purpose::gateway(&n.name);
    let replaced = (probe.stand_ins.iter()).find(|s| s.network == n.name && s.replaced.is_some());
    if let Some(s) = replaced {
        f.note(format!(
            "stand-in {} did not speak for the probe on {}: {}; the probe joined {} and asked itself",
            s.container_name,
            n.name,
            s.replaced.as_deref().unwrap_or_default(),
            n.name
        ));
    }
    let Some(who) = probe.vantage(n) else {
        f.note(format!(
            "gateway of {} not probed: neither the probe nor a stand-in for it is on it",
            n.name
        ));
        return;
    };
    match probe.request(&purpose) {
        None => f.note(format!("gateway of {} not probed: netcheck had no listener on {gw}", n.name)),
        Some(r) if r.ok => f.pass(format!(
            "{who} reached the gateway listener {} in {} ms",
            r.target, r.elapsed_ms
        )),
        // netcheck could not make the request (a namespace it could not enter): that
        // says nothing of the network.
        Some(r) if r.error_kind() == Some(netcheck_model::protocol::ErrorKind::Setup) => f.error(format!(
            "the gateway was not asked from {who}: {}",
            r.error.as_deref().unwrap_or_default()
        )),
        Some(r) => match request_lost(ctx, &n.name, r) {
            Some((cause, fix)) => f.fail_at(Code::GatewaySilent, Subject::interface(&n.bridge), format!("gateway {gw} of {} does not answer {who}: {cause}{}", n.name, who.caveat()), fix),
            None => f.fail_at(Code::GatewaySilent, Subject::interface(&n.bridge),
                format!(
                    "gateway {gw} of {} does not answer {who}: {}{}",
                    n.name,
                    super::nft_path::why_failed(ctx.snapshot, r),
                    who.caveat()
                ),
                format!(
                    "the host drops what {} sends to its gateway: look for DROP or REJECT rules in iptables -S INPUT",
                    n.subnet_v4().map(|s| s.to_string()).unwrap_or_default()
                ),
            ),
        },
    }
}

/// The IPv6 half, where the network has it: each container's IPv6 default route goes
/// via the network's IPv6 gateway.
fn ipv6(
    f: &mut Findings,
    ctx: &Context,
    n: &netcheck_model::snapshot::NetworkObs,
    host: Option<&netcheck_model::snapshot::NetnsObs>,
) {
    if !n.enable_ipv6 {
        f.note(format!("IPv6: off on network {}", n.name));
        return;
    }
    let Some(gw) = n.gateway_v6(host) else {
        f.fail_at(Code::NoGatewayV6, Subject::network(&n.name),
            format!("network {} has IPv6 enabled but no IPv6 gateway", n.name),
            format!("restart docker, or give the bridge its IPv6 address: ip -6 addr add <gateway>/<len> dev {}", sh(&n.bridge)),
        );
        return;
    };
    for ep in &n.endpoints {
        let who = &ep.container_name;
        let Some(inner) = ctx
            .snapshot
            .container(&ep.container_id)
            .and_then(|c| c.interior.ok())
        else {
            continue;
        };
        let iface = ep.mac.as_deref().and_then(|m| inner.link_by_mac(m));
        let defaults: Vec<_> = inner.default_routes_v6().collect();
        if defaults.is_empty() {
            f.fail_at(
                Code::NoDefaultRouteV6,
                Subject::container(who),
                format!(
                    "container {who} has no IPv6 default route, though {} has IPv6",
                    n.name
                ),
                format!(
                    "docker restart {}; inside it, `ip -6 route` should show: default via {gw}",
                    sh(who)
                ),
            );
            continue;
        }
        for r in defaults {
            let via = r
                .gateway
                .map(|g| g.to_string())
                .unwrap_or_else(|| "(none)".into());
            let line = format!(
                "{who}: IPv6 default via {via} dev {}",
                r.oif
                    .map(|i| inner.link_name(i))
                    .unwrap_or_else(|| "?".into())
            );
            if iface.is_none_or(|l| Some(l.index) != r.oif) {
                f.note(format!("{line} (not through {})", n.name));
            } else if r.gateway != Some(gw) {
                f.fail_at(Code::WrongGatewayV6, Subject::container(who),
                    format!("container {who}'s IPv6 default route goes via {via}, not via {}'s gateway {gw}", n.name),
                    format!("docker restart {} (something inside it replaced the route)", sh(who)),
                );
            } else {
                f.pass(line);
            }
        }
    }
}
