//! `bridge.veth`: every container's interface is a veth whose host end is on the bridge.

use super::{Check, Context, Findings, Needs, Outcome, Subject, docker_or_outcome, missing, sh};
use netcheck_model::snapshot::{EndpointObs, LinkObs, NetnsObs, NetworkObs};

/// bridge.veth's finding codes, `bridge.veth/<slug>`. A variant's doc comment is its
/// description, which `netcheck explain` prints. Never rename a released slug.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumIter, strum::EnumMessage,
)]
#[strum(serialize_all = "kebab-case")]
pub(crate) enum Code {
    /// The network's bridge does not exist on the host.
    BridgeMissing,
    /// The network's bridge is down.
    BridgeDown,
    /// A container has no interface with its endpoint's MAC address.
    NoInterface,
    /// A container's interface on the network is not a veth.
    NotVeth,
    /// A container's interface on the network is down.
    InterfaceDown,
    /// A container's veth has no peer on the host: its host end is gone, or in another
    /// namespace.
    NoPeer,
    /// The host end of a container's veth is on no bridge, or on another bridge than the
    /// network's.
    WrongMaster,
    /// The host end of a container's veth is down.
    PeerDown,
    /// A pinned (PERMANENT or NOARP) neighbour entry, on the host or in a container, sends an
    /// address of the network to a MAC that is not there.
    NeighbourPinned,
}

pub static CHECK: Check = Check {
    generic: false,
    scope: super::Scope::Network,
    id: "bridge.veth",
    title: "Container interfaces are veths bound to their network's bridge",
    doc: "\
Each container on a checked bridge network reaches it through a veth pair: one end is the
container's interface (eth0 for its first network), the other end lives on the host and
must be enslaved to the network's bridge (docker0, br-<id>). Both ends and the bridge must
be up. The pairing is read from netlink on both sides: the container end's peer ifindex
must name a host veth whose own peer is the container end, and whose master is the bridge.

Fails when: the host end has no master or the wrong one (`ip link set vethX nomaster`);
either end is down, or the host end was moved into another namespace; the bridge is down
or missing; a pinned (PERMANENT or NOARP) neighbour entry, on the host's bridge or inside a
container, maps an address of the network (a container's, the gateway's) to a MAC that is
not its owner's.",
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
    let Some(host) = ctx.snapshot.host.ok() else {
        return missing(&ctx.snapshot.host, "host side");
    };
    let ns = &host.netns;
    let mut f = Findings::default();
    for n in &ctx.networks {
        if let Some(why) = super::netavark::no_bridge_by_design(ctx.engine.podman, n, ns) {
            f.note(why);
            continue;
        }
        let Some(br) = ns.link_by_name(&n.bridge) else {
            f.fail_at(Code::BridgeMissing, Subject::interface(&n.bridge),
                format!("bridge {} of network {} does not exist on the host", n.bridge, n.name),
                "restart the Docker daemon so that it recreates the bridge: systemctl restart docker",
            );
            continue;
        };
        if !br.up {
            f.fail_at(
                Code::BridgeDown,
                Subject::interface(&n.bridge),
                format!("bridge {} of network {} is down", n.bridge, n.name),
                format!("ip link set {} up", sh(&n.bridge)),
            );
        }
        if n.endpoints.is_empty() {
            f.note(format!("network {}: no containers attached", n.name));
        }
        for ep in &n.endpoints {
            judge_endpoint(&mut f, ctx, ns, br, n, ep);
        }
    }
    for n in &ctx.networks {
        // Pinned neighbour entries are the bridge's layer 2 too: a wrong one sends the
        // packets for an address of the network to a MAC that is not there.
        for c in super::causes::pinned_wrong(ctx, n) {
            f.fail_at(
                Code::NeighbourPinned,
                Subject::network(&n.name),
                format!("{} ({} layer)", c.message, c.layer.name()),
                c.fix,
            );
        }
    }
    f.finish("every container interface is a veth on its bridge")
}

/// One endpoint of network `n`, followed from the container's interface (found by the
/// endpoint's MAC) to its veth peer on the host and that peer's bridge.
fn judge_endpoint(
    f: &mut Findings,
    ctx: &Context,
    ns: &NetnsObs,
    br: &LinkObs,
    n: &NetworkObs,
    ep: &EndpointObs,
) {
    let who = &ep.container_name;
    let Some((inner, iface)) = container_end(f, ctx, n, ep) else {
        return;
    };
    let addrs: Vec<String> = inner.addrs_of(iface.index).map(|a| a.to_string()).collect();
    let inside = format!("{} {}", iface.name, addrs.join(","));
    if iface.kind.as_deref() != Some("veth") {
        f.fail_at(
            Code::NotVeth,
            Subject::inside(who, &iface.name),
            format!(
                "container {who}'s {} is a {}, not a veth",
                iface.name,
                iface.kind.as_deref().unwrap_or("device")
            ),
            format!("docker restart {}", sh(who)),
        );
        return;
    }
    if !iface.up {
        f.fail_at(
            Code::InterfaceDown,
            Subject::inside(who, &iface.name),
            format!("container {who}'s {} is down", iface.name),
            format!("docker restart {}", sh(who)),
        );
        return;
    }
    let Some(peer) = ns.veth_peer_of(iface) else {
        // The container end still names its peer: the host end was moved into
        // another namespace (a CNI plugin's or a script's `ip link set … netns`).
        let elsewhere = iface
            .link_netnsid
            .map(|id| format!(": it is in another namespace (netnsid {id} as the container sees it), not the host's"))
            .unwrap_or_default();
        f.fail_at(
            Code::NoPeer,
            Subject::inside(who, &iface.name),
            format!(
                "container {who}'s {} has no veth peer on the host (peer if{}){elsewhere}",
                iface.name,
                iface.peer.unwrap_or(0)
            ),
            format!("docker restart {}", sh(who)),
        );
        return;
    };
    let master = peer.master.map(|m| ns.link_name(m));
    let seen = format!(
        "{who}: {inside} peer {}@if{} master {} ({})",
        peer.name,
        iface.index,
        master.as_deref().unwrap_or("none"),
        if peer.up { "up" } else { "down" }
    );
    if peer.master != Some(br.index) {
        f.note(seen);
        f.fail_at(
            Code::WrongMaster,
            Subject::interface(&peer.name),
            format!(
                "host end {} of {who}'s {} is {}; it belongs on {}",
                peer.name,
                iface.name,
                master
                    .map(|m| format!("enslaved to {m}"))
                    .unwrap_or_else(|| "on no bridge".into()),
                n.bridge
            ),
            format!(
                "ip link set {} master {}   (or docker restart {})",
                sh(&peer.name),
                sh(&n.bridge),
                sh(who)
            ),
        );
    } else if !peer.up {
        f.note(seen);
        f.fail_at(
            Code::PeerDown,
            Subject::interface(&peer.name),
            format!("host end {} of {who}'s {} is down", peer.name, iface.name),
            format!("ip link set {} up", sh(&peer.name)),
        );
    } else {
        f.pass(seen);
    }
}

/// The container's namespace and its interface for endpoint `ep`, or `None` (with the
/// skip or failure said) when the container, its inside, or the interface is not there.
fn container_end<'a>(
    f: &mut Findings,
    ctx: &'a Context,
    n: &NetworkObs,
    ep: &EndpointObs,
) -> Option<(&'a NetnsObs, &'a LinkObs)> {
    let who = &ep.container_name;
    let Some(container) = ctx.snapshot.container(&ep.container_id) else {
        f.skip(format!("{who}: not among the observed containers"));
        return None;
    };
    let Some(inner) = container.interior.ok() else {
        f.skip(format!(
            "{who}: inside not observed ({})",
            container.interior.why_missing().unwrap_or("")
        ));
        return None;
    };
    let Some(mac) = ep.mac.as_deref() else {
        f.skip(format!(
            "{who}: the engine lists no MAC for its endpoint on {}",
            n.name
        ));
        return None;
    };
    let Some(iface) = inner.link_by_mac(mac) else {
        f.fail_at(
            Code::NoInterface,
            Subject::container(who),
            format!(
                "container {who} has no interface with its endpoint's MAC {mac} on {}",
                n.name
            ),
            format!("docker restart {}", sh(who)),
        );
        return None;
    };
    Some((inner, iface))
}
