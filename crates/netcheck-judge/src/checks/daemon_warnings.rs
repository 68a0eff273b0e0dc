//! `daemon.warnings`: what the engine itself warns about, as outcomes with fixes.

use super::{Check, Context, Findings, Needs, Outcome, Subject};

/// daemon.warnings's finding codes, `daemon.warnings/<slug>`. A variant's doc comment is
/// its description, which `netcheck explain` prints. Never rename a released slug.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumIter, strum::EnumMessage,
)]
#[strum(serialize_all = "kebab-case")]
pub(crate) enum Code {
    /// The engine warns about its networking (docker info).
    Networking,
}

pub static CHECK: Check = Check {
    generic: false,
    scope: super::Scope::Host,
    id: "daemon.warnings",
    title: "The engine reports no networking warnings",
    doc: "\
`docker info` carries the engine's own warnings (the info endpoint's `Warnings`), which
few people read. Each one becomes evidence here, with a fix where netcheck knows one.
Warnings about networking or exposure (IP forwarding, an API reachable without TLS, ...)
fail the check. The bridge-nf-call warnings are listed and left to kernel.br-netfilter,
which knows whether anything relies on them (the engine warns either way). Warnings
about resource limits (swap, memory, cpu, io cgroups) are listed and left alone: they
are real, but not this tool's subject.

Fails when: the engine reports a networking warning.",
    needs: Needs::NONE,
    configure: |t| super::params::none(t, judge),
    params_schema: super::params::schema_none,
    codes: super::code::list::<Code>,
};

/// What a known warning is.
enum Kind {
    /// A networking fault, with its fix.
    Networking(&'static str),
    /// Judged by another check, which has the context this list lacks.
    JudgedBy(&'static str),
    /// Not about networking.
    Other,
}

/// Known warnings, by a phrase they contain (case-insensitive).
const KNOWN: &[(&str, Kind)] = &[
    (
        "IPv4 forwarding is disabled",
        Kind::Networking(
            "sysctl -w net.ipv4.ip_forward=1, and persist it in /etc/sysctl.d/99-docker.conf (see kernel.ip-forward)",
        ),
    ),
    // The engine warns whenever these are off; only some networks rely on them.
    (
        "bridge-nf-call-iptables is disabled",
        Kind::JudgedBy("kernel.br-netfilter"),
    ),
    (
        "bridge-nf-call-ip6tables is disabled",
        Kind::JudgedBy("kernel.br-netfilter"),
    ),
    (
        "without encryption",
        Kind::Networking(
            "bind the API to a unix socket, or use TLS (--tlsverify): an unencrypted TCP API is root for anyone who reaches it",
        ),
    ),
    (
        "API is accessible on",
        Kind::Networking("bind the API to a unix socket, or use TLS (--tlsverify)"),
    ),
    ("userland-proxy", Kind::JudgedBy("port.publish")),
    ("DNS", Kind::JudgedBy("dns.resolver")),
    (
        "iptables",
        Kind::Networking(
            "the engine cannot manage its firewall rules: check that `iptables -L` works as root, and the engine's log",
        ),
    ),
    ("swap", Kind::Other),
    ("memory", Kind::Other),
    ("cpu", Kind::Other),
    ("cgroup", Kind::Other),
    ("blkio", Kind::Other),
    ("io.", Kind::Other),
    ("hugetlb", Kind::Other),
    ("pids limit", Kind::Other),
    ("oom", Kind::Other),
    ("storage-driver", Kind::Other),
];

/// Words that make an unknown warning sound like networking (whole words: "port" must
/// not match "support").
const NETWORK_WORDS: &[&str] = &[
    "network",
    "bridge",
    "forwarding",
    "proxy",
    "nat",
    "port",
    "ports",
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
        let lower = line.to_lowercase();
        let words: Vec<&str> = lower
            .split(|c: char| !c.is_ascii_alphanumeric() && c != '-')
            .collect();
        match KNOWN.iter().find(|(phrase, _)| lower.contains(&phrase.to_lowercase())) {
            Some((_, Kind::Networking(fix))) => f.fail_at(Code::Networking, Subject::Host, format!("the engine warns: {line}"), *fix),
            Some((_, Kind::JudgedBy(check))) => f.pass(format!("left to {check}: {line}")),
            Some((_, Kind::Other)) => f.pass(format!("not about networking, left alone: {line}")),
            None if NETWORK_WORDS.iter().any(|k| words.contains(k)) => f.fail_at(Code::Networking, Subject::Host,
                format!("the engine warns: {line}"),
                "see the engine's documentation for this warning, and its log (journalctl -u docker)",
            ),
            None => f.pass(format!("not about networking, left alone: {line}")),
        }
    }
    f.finish("the engine reports no networking warnings")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(warning: &str) -> crate::checks::Status {
        let mut snap: netcheck_model::snapshot::Snapshot = serde_json::from_str(include_str!(
            "../../../../fixtures/healthy-default-bridge.json"
        ))
        .unwrap();
        if let netcheck_model::snapshot::Observed::Ok { value } = &mut snap.docker {
            value.engine.warnings = vec![warning.to_string()];
        }
        let ctx = Context::new(&snap);
        let instance = crate::checks::builtin_instances()
            .into_iter()
            .find(|i| i.id == "daemon.warnings")
            .unwrap();
        judge(&ctx, &instance).status
    }

    #[test]
    fn only_networking_warnings_fail() {
        use crate::checks::Status::{Fail, Pass};
        assert_eq!(verdict("WARNING: IPv4 forwarding is disabled"), Fail);
        assert_eq!(
            verdict("WARNING: API is accessible on http://0.0.0.0:2375 without encryption."),
            Fail
        );
        assert_eq!(verdict("WARNING: No io.weight support"), Pass);
        assert_eq!(verdict("WARNING: No hugetlb limit support"), Pass);
        assert_eq!(verdict("WARNING: No swap limit support"), Pass);
        assert_eq!(
            verdict("WARNING: bridge-nf-call-iptables is disabled"),
            Pass
        );
        assert_eq!(verdict("WARNING: the bridge network is odd"), Fail);
    }
}
