//! `link.mtu`: no container on a network sends packets larger than the uplink carries.

use serde::{Deserialize, Serialize};

use super::{Check, Context, Findings, Needs, Outcome, docker_or_outcome};

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

Params: `expect = 1450`: every container interface on the network must have exactly this
MTU (a site's standard), instead of the comparison with the uplink.

Fails when: a container interface's MTU exceeds the uplink's (or differs from `expect`).
Typical cause: a VPN or cloud uplink with MTU 1450 and Docker at 1500.",
    needs: Needs {
        host: true,
        probe: true,
        ..Needs::NONE
    },
    configure: |t| super::params::typed(t, judge),
    params_schema: super::params::schema_of::<Params>,
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
    let uplink = ctx.snapshot.host.ok().and_then(|h| {
        h.netns
            .uplinks()
            .into_iter()
            .filter_map(|l| Some((l.name.clone(), l.mtu?)))
            .min_by_key(|(_, mtu)| *mtu)
    });
    let limit = match (expect, &uplink) {
        (Some(e), _) => {
            f.note(format!("the suite expects MTU {e}"));
            e
        }
        (None, Some((name, mtu))) => {
            f.note(format!("uplink {name} MTU {mtu}"));
            *mtu
        }
        (None, None) => {
            let why = ctx
                .snapshot
                .host
                .why_missing()
                .unwrap_or("the host has no default route");
            return Outcome::skip(format!("uplink MTU not observed: {why}"), vec![]);
        }
    };
    let probe = ctx.snapshot.probe.ok();
    for n in &ctx.networks {
        if n.internal && expect.is_none() {
            f.note(format!(
                "network {}: internal, its traffic never reaches the uplink",
                n.name
            ));
            continue;
        }
        let configured = n.options.get(MTU_OPTION);
        f.note(format!(
            "network {}: {MTU_OPTION}={}",
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
            let Some((iface, mtu)) = ep
                .mac
                .as_deref()
                .and_then(|m| ns.link_by_mac(m))
                .and_then(|l| Some((l.name.as_str(), l.mtu?)))
            else {
                f.skip(format!("{who}: its interface on {} not found", n.name));
                continue;
            };
            let seen = format!("{who}: {iface} MTU {mtu}");
            let bad = match expect {
                Some(e) => mtu != e,
                None => mtu > limit,
            };
            if !bad {
                f.pass(seen);
                continue;
            }
            let fix = if n.name == "bridge" {
                format!("set \"mtu\": {limit} in /etc/docker/daemon.json and restart docker")
            } else {
                format!(
                    "recreate the network with a fitting MTU: docker network create -o {MTU_OPTION}={limit} {} \
                     (compose: driver_opts), then recreate its containers",
                    super::sh(&n.name)
                )
            };
            let message = match (expect, &uplink) {
                (Some(e), _) => format!("{seen}, the suite expects {e}"),
                (None, Some((name, up))) => format!(
                    "{seen} exceeds the uplink {name}'s {up}: larger packets are dropped on the way out (TLS hangs)"
                ),
                (None, None) => format!("{seen} exceeds {limit}"),
            };
            f.fail(message, fix);
        }
    }
    f.finish(format!("every container MTU fits (at most {limit})"))
}
