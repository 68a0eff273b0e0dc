//! `link.mtu`: no container on a network sends packets larger than the uplink carries.

use serde::{Deserialize, Serialize};

use super::{Check, Context, Findings, Needs, Outcome, docker_or_outcome, routing};
use netcheck_model::snapshot::{LinkObs, LookupPath, NetnsObs, NetworkObs, RoutingObs};

/// link.mtu's finding codes, `link.mtu/<slug>`. A variant's doc comment is its description,
/// which `netcheck explain` prints. Never rename a released slug.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumIter, strum::EnumMessage,
)]
#[strum(serialize_all = "kebab-case")]
pub(crate) enum Code {
    /// A container's MTU exceeds its uplink's (or is not the suite's `expect`): larger packets
    /// are dropped on the way out.
    AboveUplink,
    /// A container's MTU exceeds that of the interface policy routing sends the network's
    /// traffic out by (or is not the suite's `expect`).
    AbovePolicyEgress,
    /// The two ends of a container's veth have different MTUs.
    VethEndsDiffer,
    /// The host end of a container's veth has a lower MTU than its bridge: larger packets are
    /// dropped at the port.
    PortBelowBridge,
}

pub static CHECK: Check = Check {
    generic: false,
    scope: super::Scope::Network,
    id: "link.mtu",
    title: "No container MTU exceeds the uplink's",
    doc: "\
A container sends packets as large as its interface's MTU. If that is larger than the
MTU of the host's uplink (the interface of the default route, or of a VPN's split
default), large packets are dropped on the way out, and where path-MTU discovery is
blocked, connections hang after the handshake: TLS and `git clone` stall, small requests
work. The default bridge takes its MTU from \"mtu\" in /etc/docker/daemon.json; every
user-defined network from its own `com.docker.network.driver.mtu` option (1500 if unset),
not from the daemon's setting. This check compares each container interface on the
network (read inside the containers, and the probe's) with the uplink's MTU.

The limit is the MTU of the interface the kernel routes the network's egress to (a route
lookup for a container's packet, honouring `ip rule` and policy tables: a VPN's tunnel
chosen by a rule is named, with the rule and table). A snapshot without lookups (an older
netcheck) falls back to the main table's uplink, and says so.

Params: `expect = 1450`: every container interface on the network must have exactly this
MTU (a site's standard), instead of the comparison with the uplink.

Both ends of each container's veth are compared too: a veth drops what is larger than
its receiving end's MTU, and a bridge what is larger than the port it forwards to, both
silently (no ICMP tells the sender to send less).

Fails when: a container interface's MTU exceeds the uplink's (or differs from `expect`);
the container end and the host end of a veth differ; a host end is below its bridge's.
Typical cause: a VPN or cloud uplink with MTU 1450 and Docker at 1500.",
    needs: Needs {
        host: true,
        probe: true,
        ..Needs::NONE
    },
    configure: |t| super::params::typed(t, judge),
    params_schema: super::params::schema_of::<Params>,
    codes: super::code::list::<Code>,
};

#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// The MTU every container interface on the network must have.
    pub expect: Option<u32>,
}

const MTU_OPTION: &str = "com.docker.network.driver.mtu";

impl super::params::CheckParams for Params {}

fn judge(ctx: &Context, _: &super::Instance, params: &Params) -> Outcome {
    if let Err(o) = docker_or_outcome(ctx) {
        return o;
    }
    let expect = params.expect;
    let mut f = Findings::default();
    let host = ctx.snapshot.host.ok();
    let routing = host.and_then(|h| routing::observed(&mut f, h));
    let uplink = host.and_then(|h| {
        h.netns
            .uplinks()
            .into_iter()
            .filter_map(|l| Some((l.name.clone(), l.mtu?)))
            .min_by_key(|(_, mtu)| *mtu)
    });
    if let Some(e) = expect {
        f.note(format!("the suite expects MTU {e}"));
    }
    let mut limit_seen = None;
    let probe = ctx.snapshot.probe.ok();
    for n in &ctx.networks {
        if n.internal && expect.is_none() {
            f.note(format!(
                "network {}: internal, its traffic never reaches the uplink",
                n.name
            ));
            continue;
        }
        let Some(limit) = limit_of(&mut f, n, expect, routing, uplink.as_ref()) else {
            let why = ctx
                .snapshot
                .host
                .why_missing()
                .unwrap_or("the host has no default route");
            f.skip(format!("uplink MTU not observed: {why}"));
            continue;
        };
        limit_seen = Some(limit.mtu);
        // Podman's option is `mtu`.
        let option = if ctx.engine.podman { "mtu" } else { MTU_OPTION };
        let configured = n.options.get(option);
        f.note(format!(
            "network {}: {option}={}",
            n.name,
            configured.map(String::as_str).unwrap_or("unset")
        ));
        for ep in &n.endpoints {
            let who = &ep.container_name;
            let interior = match ctx.snapshot.container(&ep.container_id) {
                Some(c) if c.probe => probe.map(|p| &p.report.netns),
                Some(c) => c.interior.ok(),
                None => None,
            };
            let Some(ns) = interior else {
                f.skip(format!("{who}: inside not observed"));
                continue;
            };
            let Some((link, mtu)) = ep
                .mac
                .as_deref()
                .and_then(|m| ns.link_by_mac(m))
                .and_then(|l| Some((l, l.mtu?)))
            else {
                f.skip(format!("{who}: its interface on {} not found", n.name));
                continue;
            };
            let iface = link.name.as_str();
            if expect.is_none()
                && let Some(h) = host
            {
                both_ends(&mut f, &h.netns, n, who, link);
            }
            let seen = format!("{who}: {iface} MTU {mtu}");
            let bad = match expect {
                Some(e) => mtu != e,
                None => mtu > limit.mtu,
            };
            if !bad {
                f.pass(seen);
                continue;
            }
            mtu_too_large(
                &mut f,
                (n, ctx.engine.podman),
                &limit,
                expect,
                who,
                iface,
                &seen,
            );
        }
    }
    match limit_seen {
        Some(l) => f.finish(format!("every container MTU fits (at most {l})")),
        None => f.finish("no container MTU compared"),
    }
}

/// Container `who`'s interface `iface` (`seen`, its MTU) does not fit the `limit` (or
/// the suite's `expect`): larger packets are dropped on the way out. The fix lowers the
/// network's MTU, in the engine's terms.
fn mtu_too_large(
    f: &mut Findings,
    (n, podman): (&NetworkObs, bool),
    limit: &Limit,
    expect: Option<u32>,
    who: &str,
    iface: &str,
    seen: &str,
) {
    let want = limit.mtu;
    let fix = if podman && n.name == "bridge" {
        format!(
            "give Podman's default network a fitting MTU: \"options\": {{\"mtu\": \"{want}\"}} in podman.json \
             in its network_config_dir (/etc/containers/networks), then recreate its containers"
        )
    } else if podman {
        format!(
            "recreate the network with a fitting MTU: podman network create --opt mtu={want} {}, \
             then recreate its containers",
            super::sh(&n.name)
        )
    } else if n.name == "bridge" {
        format!("set \"mtu\": {want} in /etc/docker/daemon.json and restart docker")
    } else {
        format!(
            "recreate the network with a fitting MTU: docker network create -o {MTU_OPTION}={want} {} \
             (compose: driver_opts), then recreate its containers",
            super::sh(&n.name)
        )
    };
    let fix = match &limit.policy {
        Some(_) => format!(
            "{fix}; or raise the MTU of {} if its path allows",
            limit.dev
        ),
        None => fix,
    };
    let message = match (expect, &limit.policy) {
        (Some(e), _) => format!("{seen}, the suite expects {e}"),
        (None, None) => format!(
            "{seen} exceeds the uplink {}'s {want}: larger packets are dropped on the way out (TLS hangs)",
            limit.dev
        ),
        (None, Some(policy)) => format!(
            "{seen} exceeds the {want} of {}, where the network's traffic leaves ({policy}): \
             larger packets are dropped on the way out (TLS hangs)",
            limit.dev
        ),
    };
    let slug = if limit.policy.is_some() {
        Code::AbovePolicyEgress
    } else {
        Code::AboveUplink
    };
    f.fail_at(slug, super::Subject::inside(who, iface), message, fix);
}

/// The two ends of a container's veth, and its host end against the bridge: a veth
/// drops what is larger than the receiving end's MTU, and the bridge drops what is
/// larger than the port it forwards to, silently (no ICMP tells the sender).
fn both_ends(f: &mut Findings, host: &NetnsObs, n: &NetworkObs, who: &str, inner: &LinkObs) {
    let (Some(peer), Some(inner_mtu)) = (host.veth_peer_of(inner), inner.mtu) else {
        return;
    };
    let Some(peer_mtu) = peer.mtu else { return };
    let iface = &inner.name;
    let host_end = &peer.name;
    if peer_mtu != inner_mtu {
        let low = peer_mtu.min(inner_mtu);
        f.fail_at(
            Code::VethEndsDiffer,
            super::Subject::interface(host_end),
            format!(
                "{who}: {iface} MTU {inner_mtu} but its host end {host_end} MTU {peer_mtu}: packets larger \
                 than {low} are dropped between the two ends of the veth"
            ),
            format!(
                "ip link set {} mtu {inner_mtu}   (or docker restart {}); find what changed it",
                super::sh(host_end),
                super::sh(who)
            ),
        );
        return;
    }
    let bridge_mtu = host.link_by_name(&n.bridge).and_then(|b| b.mtu);
    match bridge_mtu {
        Some(b) if b > peer_mtu => f.fail_at(
            Code::PortBelowBridge,
            super::Subject::interface(host_end),
            format!(
                "{who}: host end {host_end} MTU {peer_mtu} is below its bridge {}'s {b}: packets routed to \
                 the container larger than {peer_mtu} are dropped at the port",
                n.bridge
            ),
            format!(
                "ip link set {} mtu {b}   (or docker restart {})",
                super::sh(host_end),
                super::sh(who)
            ),
        ),
        // Matching ends say nothing new: the container end's line above stands for both.
        _ => {}
    }
}

/// The MTU a network's packets must fit, and where it comes from.
struct Limit {
    mtu: u32,
    /// The interface whose MTU it is.
    dev: String,
    /// Why the traffic leaves there, when a policy rule rather than the main table sent it.
    policy: Option<String>,
}

/// The network's limit: the suite's `expect`; else the MTU of the interface the kernel
/// routes the network's egress to; else (a snapshot without lookups) the uplink's.
fn limit_of(
    f: &mut Findings,
    n: &NetworkObs,
    expect: Option<u32>,
    routing: Option<&RoutingObs>,
    uplink: Option<&(String, u32)>,
) -> Option<Limit> {
    if let Some(e) = expect {
        return Some(Limit {
            mtu: e,
            dev: "the suite's".into(),
            policy: None,
        });
    }
    let answer = routing.and_then(|r| Some((r, routing::egress(r, n)?)));
    if let Some((r, l)) = answer {
        let route = l
            .route
            .as_ref()
            .expect("egress() keeps answers with a route");
        let dev = route
            .oif
            .clone()
            .expect("egress() keeps answers with an interface");
        let mtu = route.mtu.expect("egress() keeps answers with an MTU");
        f.note(routing::describe(l));
        f.note(format!("network {}: egress by {dev}, MTU {mtu}", n.name));
        return Some(Limit {
            mtu,
            dev,
            policy: routing::policy(r, l),
        });
    }
    if let Some(r) = routing {
        for l in r
            .lookups
            .iter()
            .filter(|l| l.network == n.name && l.path == LookupPath::Egress)
        {
            f.note(routing::describe(l));
        }
        f.note(format!(
            "network {}: the kernel names no egress interface: the uplink is read from the main table",
            n.name
        ));
    }
    let (name, mtu) = uplink?;
    f.note(format!("uplink {name} MTU {mtu}"));
    Some(Limit {
        mtu: *mtu,
        dev: name.clone(),
        policy: None,
    })
}
