//! `kernel.br-netfilter`: bridged traffic passes through iptables where the engine needs it.

use super::{Check, Context, Findings, Needs, Outcome, Subject, missing};

/// kernel.br-netfilter's finding codes, `kernel.br-netfilter/<slug>`. A variant's doc
/// comment is its description, which `netcheck explain` prints. Never rename a released
/// slug.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumIter, strum::EnumMessage,
)]
#[strum(serialize_all = "kebab-case")]
pub(crate) enum Code {
    /// br_netfilter is not loaded, though something relies on it (a network with icc=false,
    /// or hairpin NAT without docker-proxy): bridged traffic skips iptables.
    NotLoaded,
    /// bridge-nf-call-iptables (or -ip6tables) is 0, though something relies on it (a network
    /// with icc=false, or hairpin NAT without docker-proxy): bridged traffic skips iptables.
    CallIptablesOff,
    /// bridge-nf-call-iptables is 0: nothing relies on it yet, but a network with icc=false
    /// would not be isolated.
    CallIptablesOffUnused,
}

pub static CHECK: Check = Check {
    generic: false,
    scope: super::Scope::Host,
    id: "kernel.br-netfilter",
    title: "br_netfilter is loaded where the engine relies on it",
    doc: "\
Traffic between two containers on one bridge is switched, not routed: iptables sees it
only when the br_netfilter module is loaded and `net.bridge.bridge-nf-call-iptables=1`
(`-ip6tables` for IPv6). The engine relies on that for a network with icc=false
(`com.docker.network.bridge.enable_icc=false`: its DROP rule never sees the traffic
otherwise), and, with userland-proxy off, for hairpin NAT to a published port from the
same bridge. This check lists what relies on it, and requires it where something does;
where nothing does, it passes and says so.

Fails when: something relies on it, and the module is not loaded or the sysctl is 0.
Warns when: the module is loaded but the sysctl is 0 and nothing relies on it yet: the
first network created with icc=false would silently not be isolated.
Typical cause: the module is not loaded after a reboot (nothing lists it in
/etc/modules-load.d).",
    needs: Needs {
        host: true,
        ..Needs::NONE
    },
    configure: |t| super::params::none(t, judge),
    params_schema: super::params::schema_none,
    codes: super::code::list::<Code>,
};

const IPT: &str = "net.bridge.bridge-nf-call-iptables";
const IP6T: &str = "net.bridge.bridge-nf-call-ip6tables";

fn judge(ctx: &Context, _: &super::Instance) -> Outcome {
    let Some(host) = ctx.snapshot.host.ok() else {
        return missing(&ctx.snapshot.host, "host");
    };
    let mut f = Findings::default();
    // What relies on it, and whether IPv6 traffic is among it.
    let mut reasons: Vec<(String, bool)> = ctx
        .networks
        .iter()
        .filter(|n| super::icc_disabled(n))
        .map(|n| (format!("network {} sets icc=false", n.name), n.enable_ipv6))
        .collect();
    // No docker-proxy means userland-proxy is off only where every process is visible:
    // as root, which the firewall read also needs.
    if let Some(p) = ctx.snapshot.probe.ok()
        && !p.published.is_empty()
        && host.proxies.is_empty()
        && host.firewall.ok().is_some()
    {
        reasons.push((
            "published ports with no docker-proxy (userland-proxy off): hairpin NAT on the bridge"
                .into(),
            false,
        ));
    }
    let loaded = host.sysctl.contains_key(IPT);
    let state = |k: &str| host.sysctl.get(k).map(String::as_str).unwrap_or("absent");
    f.note(if loaded {
        format!(
            "br_netfilter loaded: {IPT}={}, {IP6T}={}",
            state(IPT),
            state(IP6T)
        )
    } else {
        "br_netfilter not loaded (/proc/sys/net/bridge is absent)".to_string()
    });
    if reasons.is_empty() {
        f.pass("nothing relies on it: no checked network sets icc=false, and docker-proxy carries published ports");
        // Loaded and deliberately off is a trap for the next network, not a fault now.
        if loaded && state(IPT) == "0" {
            f.warn_at(Code::CallIptablesOffUnused, Subject::sysctl(IPT),
                format!("{IPT}=0: nothing relies on it yet, but a network created with icc=false would not be isolated"),
                format!("sysctl -w {IPT}=1, and persist it in /etc/sysctl.d/99-docker.conf"),
            );
        }
        return f.finish("nothing here relies on br_netfilter");
    }
    for (why, v6) in &reasons {
        if !loaded {
            f.fail_at(Code::NotLoaded, Subject::Host,
                format!("br_netfilter is not loaded, but {why}: bridged traffic skips iptables"),
                "modprobe br_netfilter, and load it at boot: echo br_netfilter > /etc/modules-load.d/br_netfilter.conf",
            );
            continue;
        }
        for key in [IPT].into_iter().chain(v6.then_some(IP6T)) {
            if state(key) == "1" {
                f.pass(format!("{why}: {key}=1"));
            } else {
                f.fail_at(
                    Code::CallIptablesOff,
                    Subject::sysctl(key),
                    format!(
                        "{key}={}, but {why}: bridged traffic skips iptables",
                        state(key)
                    ),
                    format!("sysctl -w {key}=1, and persist it in /etc/sysctl.d/99-docker.conf"),
                );
            }
        }
    }
    f.finish("bridged traffic reaches iptables wherever the engine relies on it")
}
