//! `daemon.warnings`: what the engine itself warns about, as outcomes with fixes.

use super::{Check, Context, Findings, Needs, Outcome};

pub static CHECK: Check = Check {
    generic: false,
    scope: super::Scope::Host,
    id: "daemon.warnings",
    title: "The engine reports no networking warnings",
    doc: "\
`docker info` carries the engine's own warnings (the info endpoint's `Warnings`), which
few people read. Each one becomes evidence here, with a fix where netcheck knows one.
Warnings about networking or exposure (IP forwarding, bridge-nf-call-iptables, an API
reachable without TLS, ...) fail the check; warnings about resource limits (swap, memory,
cpu cgroups) are listed and left alone: they are real, but not this tool's subject.

Fails when: the engine reports a networking warning.",
    needs: Needs::NONE,
    params: super::no_params,
    judge,
};

/// Known warnings, by a phrase they contain: the fix, and whether it is about networking.
const KNOWN: &[(&str, bool, &str)] = &[
    (
        "IPv4 forwarding is disabled",
        true,
        "sysctl -w net.ipv4.ip_forward=1, and persist it in /etc/sysctl.d/99-docker.conf (see kernel.ip-forward)",
    ),
    (
        "bridge-nf-call-iptables is disabled",
        true,
        "modprobe br_netfilter; sysctl -w net.bridge.bridge-nf-call-iptables=1 (see kernel.br-netfilter)",
    ),
    (
        "bridge-nf-call-ip6tables is disabled",
        true,
        "modprobe br_netfilter; sysctl -w net.bridge.bridge-nf-call-ip6tables=1 (see kernel.br-netfilter)",
    ),
    (
        "without encryption",
        true,
        "bind the API to a unix socket, or use TLS (--tlsverify): an unencrypted TCP API is root for anyone who reaches it",
    ),
    (
        "API is accessible on",
        true,
        "bind the API to a unix socket, or use TLS (--tlsverify)",
    ),
    (
        "userland-proxy",
        true,
        "see port.publish: published ports and hairpin depend on it",
    ),
    (
        "iptables",
        true,
        "the engine cannot manage its firewall rules: check `iptables -L` works as root, and the engine's log",
    ),
    ("DNS", true, "see dns.resolver"),
    ("swap", false, ""),
    ("memory", false, ""),
    ("cpu", false, ""),
    ("cgroup", false, ""),
    ("blkio", false, ""),
    ("pids limit", false, ""),
    ("oom", false, ""),
    ("storage-driver", false, ""),
];

fn judge(ctx: &Context, _: &super::Instance) -> Outcome {
    let Some(docker) = ctx.snapshot.docker.ok() else {
        return super::missing(&ctx.snapshot.docker, "Docker engine");
    };
    let warnings = &docker.engine.warnings;
    let mut f = Findings::default();
    if warnings.is_empty() {
        f.pass(format!(
            "docker info: no warnings (engine {})",
            docker.engine.version
        ));
    }
    for w in warnings {
        let line = w.trim();
        let known = KNOWN
            .iter()
            .find(|(phrase, _, _)| line.to_lowercase().contains(&phrase.to_lowercase()));
        match known {
            Some((_, false, _)) => f.pass(format!("not about networking, left alone: {line}")),
            Some((_, true, fix)) => f.fail(format!("the engine warns: {line}"), *fix),
            // A warning netcheck does not know: shown, and failed only if it sounds
            // like networking.
            None if ["network", "bridge", "forward", "proxy", "nat", "port"]
                .iter()
                .any(|k| line.to_lowercase().contains(k)) =>
            {
                f.fail(
                    format!("the engine warns: {line}"),
                    "see the engine's documentation for this warning, and its log (journalctl -u docker)",
                )
            }
            None => f.pass(format!("not about networking, left alone: {line}")),
        }
    }
    f.finish("the engine reports no networking warnings")
}
