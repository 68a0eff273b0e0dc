//! `kernel.ip-forward`: the kernel routes container traffic, globally and per interface.

use super::{Check, Context, Findings, Needs, Outcome, Subject, missing};
use netcheck_model::snapshot::NetworkObs;

/// kernel.ip-forward's finding codes, `kernel.ip-forward/<slug>`. A variant's doc comment
/// is its description, which `netcheck explain` prints. Never rename a released slug.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumIter, strum::EnumMessage,
)]
#[strum(serialize_all = "kebab-case")]
pub(crate) enum Code {
    /// IP forwarding is off, globally or on a bridge or uplink: the host does not route
    /// container traffic there.
    Off,
}

pub static CHECK: Check = Check {
    generic: false,
    scope: super::Scope::Host,
    id: "kernel.ip-forward",
    title: "The kernel forwards IP traffic on the bridges and the uplink",
    doc: "\
Traffic from a container to anywhere beyond its bridge is routed by the host, which
needs `net.ipv4.ip_forward=1` and, per interface, `net.ipv4.conf.<if>.forwarding=1` on
each checked network's bridge and on the uplink (the interface of the default route, or
of a VPN's split default). Where a checked network has IPv6 enabled,
`net.ipv6.conf.all.forwarding=1` too. The engine turns these on at start; something that
runs later can turn them off again.

Fails when: any of them is 0.
Typical cause: systemd-networkd (IPForward= unset in a .network file) or a sysctl file
applied after the engine started resets them.",
    needs: Needs {
        host: true,
        ..Needs::NONE
    },
    configure: |t| super::params::none(t, judge),
    params_schema: super::params::schema_none,
    codes: super::code::list::<Code>,
};

const FIX: &str = "sysctl -w net.ipv4.ip_forward=1 (it resets every interface's forwarding to 1), \
then find what turned it off: grep -rs forward /etc/sysctl.conf /etc/sysctl.d /etc/systemd/network \
(systemd-networkd needs IPForward=yes); persist it: echo net.ipv4.ip_forward=1 > /etc/sysctl.d/99-docker.conf";

/// IPv6 forwarding has its own switch: turning it on also stops the host taking router
/// advertisements where accept_ra=1, which a SLAAC uplink needs kept (accept_ra=2).
const FIX_V6: &str = "sysctl -w net.ipv6.conf.all.forwarding=1 (if the uplink takes its address by SLAAC, \
first keep router advertisements: sysctl -w net.ipv6.conf.UPLINK.accept_ra=2), then find what turned it off: \
grep -rs forward /etc/sysctl.conf /etc/sysctl.d /etc/systemd/network (systemd-networkd needs IPForward=yes); \
persist it: echo net.ipv6.conf.all.forwarding=1 > /etc/sysctl.d/99-docker.conf";

fn judge(ctx: &Context, _: &super::Instance) -> Outcome {
    let Some(host) = ctx.snapshot.host.ok() else {
        return missing(&ctx.snapshot.host, "host");
    };
    let mut f = Findings::default();
    let sysctl = |f: &mut Findings, name: &str, what: &str| match host
        .sysctl
        .get(name)
        .map(String::as_str)
    {
        Some("1") => f.pass(format!("{name}=1")),
        Some(v) => f.fail_at(
            Code::Off,
            Subject::sysctl(name),
            format!("{name}={v}: {what}"),
            if name.starts_with("net.ipv6.") {
                FIX_V6
            } else {
                FIX
            },
        ),
        None => f.error(format!("{name} could not be read")),
    };
    sysctl(
        &mut f,
        "net.ipv4.ip_forward",
        "the host routes no container traffic",
    );
    // Podman: netavark turned forwarding on again when the probe joined a network; the
    // containers that ran before, on a network that leads out, had it off. Without such
    // a container, off is how a host starts, and netavark turns it on with the first.
    let before = (host.sysctl_before_probe.as_ref()).and_then(|b| b.get("net.ipv4.ip_forward"));
    let routed_before = (ctx.snapshot.docker.ok().into_iter())
        .flat_map(|d| &d.networks)
        .any(|n| !n.internal && super::netavark::ran_before_probe(n));
    if let Some(v) = before.filter(|v| v.as_str() != "1" && !routed_before) {
        f.note(format!(
            "net.ipv4.ip_forward={v} before the probe started, with no container running on a network that \
             leads out: netavark turns it on with the first"
        ));
    } else if let Some(v) = before.filter(|v| v.as_str() != "1") {
        f.fail_at(
            Code::Off,
            Subject::sysctl("net.ipv4.ip_forward"),
            format!(
                "net.ipv4.ip_forward={v} while the containers ran: the host routed none of their traffic \
                 until netavark turned it on again for netcheck's probe"
            ),
            format!("{FIX}; Podman turns it on only when a container joins a network"),
        );
    }
    // An internal network's traffic never leaves its bridge, so it is bridged, never
    // routed: netavark turns forwarding off on such a bridge, by design.
    let (internal, routed): (Vec<&NetworkObs>, Vec<&NetworkObs>) =
        ctx.networks.iter().partition(|n| n.internal);
    for n in internal {
        if let Some(v) = host
            .sysctl
            .get(&format!("net.ipv4.conf.{}.forwarding", n.bridge))
        {
            f.note(format!(
                "net.ipv4.conf.{}.forwarding={v}: {} is internal, its traffic is bridged, never routed",
                n.bridge, n.name
            ));
        }
    }
    let mut ifaces: Vec<(String, String)> = routed
        .iter()
        .map(|n| (n.bridge.clone(), format!("bridge of {}", n.name)))
        .collect();
    ifaces.extend(
        host.netns
            .uplinks()
            .iter()
            .map(|l| (l.name.clone(), "uplink".to_string())),
    );
    for (iface, role) in &ifaces {
        let name = format!("net.ipv4.conf.{iface}.forwarding");
        if !host.sysctl.contains_key(&name) {
            // A bridge that does not exist is bridge.veth's finding, not this check's;
            // a snapshot from an older netcheck holds no per-interface values.
            if host.netns.link_by_name(iface).is_some() {
                f.skip(format!("{name} not observed"));
            }
            continue;
        }
        sysctl(&mut f, &name, &format!("the {role} does not forward"));
    }
    let v6: Vec<&str> = ctx
        .networks
        .iter()
        .filter(|n| n.enable_ipv6)
        .map(|n| n.name.as_str())
        .collect();
    if v6.is_empty() {
        f.note("IPv6: off on every checked network; net.ipv6.conf.all.forwarding not needed");
    } else {
        sysctl(
            &mut f,
            "net.ipv6.conf.all.forwarding",
            &format!("IPv6 is enabled on {} but not forwarded", v6.join(", ")),
        );
    }
    f.finish("IP forwarding is on, globally and on every bridge and uplink")
}
