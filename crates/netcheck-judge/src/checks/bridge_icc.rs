//! `bridge.icc`: containers on a network reach each other exactly when icc allows it,
//! and bridge networks are isolated from each other.

use super::{Check, Context, Findings, Needs, Outcome, Subject, docker_or_outcome, icc_disabled};
use netcheck_model::protocol::{ErrorKind, Purpose};
use netcheck_model::snapshot::{NetworkObs, ProbeObs, Request};

mod isolation;
use isolation::{judge_isolation, note_untested};

/// bridge.icc's finding codes, `bridge.icc/<slug>`. A variant's doc comment is its
/// description, which `netcheck explain` prints. Never rename a released slug.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumIter, strum::EnumMessage,
)]
#[strum(serialize_all = "kebab-case")]
pub(crate) enum Code {
    /// Containers on one network cannot reach each other, though icc is on.
    IccBlocked,
    /// Containers on a network with icc=false reach each other.
    IccNotEnforced,
    /// A container reaches a container on another network: the networks are not isolated.
    NotIsolated,
}

pub static CHECK: Check = Check {
    generic: false,
    scope: super::Scope::Network,
    id: "bridge.icc",
    title: "Containers reach each other exactly as icc and isolation allow",
    doc: "\
Containers on one bridge network talk to each other unless the network sets icc=false
(`com.docker.network.bridge.enable_icc=false`); containers on different bridge networks
must not reach each other at all. From inside the first running container on the network
(its namespace entered from the host, nothing run in it), netcheck connects to the
probe's listener at its address on the same network (icc; on a network the probe did
not join, see `--probe-joins`, to a listener inside its stand-in, from another
container there), and to a listener of netcheck's inside a container on other checked
networks the container is not on (isolation): the default bridge and the next 4
networks by name, so that a host of many networks costs connections in proportion to
its networks, not to their pairs. A blocked connection's handshake is given 300 ms: on
a local bridge it takes well under a millisecond. Connections are made as many at a
time as the open-file limit leaves room for; the evidence says so when that was fewer
than usual.

Where a container's icc connection fails, it asks its own gateway too, which the probe
reached: a container that cannot reach that either drops what it sends itself (a VPN
client's kill switch), and none of its connections is judged; the check says so.

Needs root and a local engine, and a container on the network besides the probe (or
its stand-in); the check skips, saying which, where one is missing.

Fails when: icc is on and the container cannot reach the probe (or its stand-in);
icc=false and it can (br_netfilter missing: isolation silently off); it reaches a
container on another network.",
    needs: Needs {
        host: true,
        probe: true,
        peers: true,
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
    let Some(probe) = ctx.snapshot.probe.ok() else {
        return super::missing(&ctx.snapshot.probe, "probe container");
    };
    let mut f = Findings::default();
    if let Some(c) = &probe.peer_concurrency {
        f.note(format!(
            "connections made {} at a time (of {}): the open-file limit is {} (ulimit -n)",
            c.at_once, c.requests, c.open_files
        ));
    }
    for n in &ctx.networks {
        judge_network(&mut f, ctx, probe, n);
    }
    f.finish("containers reach each other exactly as icc and isolation allow")
}

/// With `"iptables": false` the engine writes no rules: nothing isolates networks or
/// enforces icc=false, by the daemon's own configuration.
fn keeps_no_rules(ctx: &Context) -> bool {
    // Podman's rules are netavark's, and its isolation is said by open_to_other_networks.
    if ctx.engine.podman {
        return false;
    }
    let host = ctx.snapshot.host.ok();
    host.and_then(|h| h.firewall.ok()).is_some_and(|fw| {
        !super::rules::docker_in_iptables(fw) && super::rules::docker_nft_tables(fw).is_empty()
    })
}

/// The connections tried from network `n`: to the probe on the same network (icc) and
/// to the other networks (isolation).
fn judge_network(f: &mut Findings, ctx: &Context, probe: &ProbeObs, n: &NetworkObs) {
    note_untested(f, ctx, probe, &n.name);
    let icc = !icc_disabled(n);
    f.note(format!(
        "network {}: icc {}",
        n.name,
        if icc { "on" } else { "off (enable_icc=false)" }
    ));
    let asked: Vec<_> = probe
        .host_requests
        .iter()
        .filter(|r| match &r.purpose {
            Purpose::Icc { network, .. } | Purpose::Isolation { network, .. } => *network == n.name,
            _ => false,
        })
        .collect();
    let mut blocked: Vec<&str> = vec![];
    if asked.is_empty() {
        let others = n
            .endpoints
            .iter()
            .any(|e| Some(e.container_name.as_str()) != probe.vantage(n).map(|v| v.container_name));
        let dropping =
            (probe.stand_ins.iter()).find(|s| s.network == n.name && s.replaced.is_some());
        f.skip(match (ctx.snapshot.host.why_missing(), dropping) {
            (Some(why), _) => format!("no connection tried from {}: {why}", n.name),
            (None, Some(s)) => format!(
                "no connection tried from {}: its one container, {}, drops what it sends itself ({})",
                n.name,
                s.container_name,
                s.replaced.as_deref().unwrap_or_default()
            ),
            (None, None) if !others => format!(
                "no container on {} besides {} to connect from",
                n.name,
                probe
                    .vantage(n)
                    .map_or("the probe".to_string(), |v| v.to_string())
            ),
            (None, None) => format!(
                "no connection tried from {} (needs root; or its containers have no pid)",
                n.name
            ),
        });
        return;
    }
    for r in asked {
        // A failure to enter the namespace says nothing about the network.
        if r.error_kind() == Some(ErrorKind::Setup) {
            let e = r.error.as_deref().unwrap_or_default();
            f.error(format!("{}: {e}", r.purpose));
            continue;
        }
        match &r.purpose {
            // Its own gateway failed it too, which the probe reached: the container
            // drops what it sends itself, and neither its icc nor its isolation
            // connections say anything of the network.
            Purpose::Icc { from: who, .. } | Purpose::Isolation { from: who, .. }
                if drops_its_own(probe, &n.name, who) =>
            {
                if matches!(r.purpose, Purpose::Icc { .. }) {
                    f.skip(format!(
                        "{who}'s connections on {} not judged: it could not reach its own gateway either, \
                         which {} reached: it drops what it sends itself (its own rules, a VPN client's say)",
                        n.name,
                        probe.vantage(n).map_or("the probe".to_string(), |v| v.to_string())
                    ));
                }
            }
            Purpose::Icc { from: who, .. } => {
                let vantage = probe.vantage(n);
                let to = vantage.map_or("the probe".to_string(), |v| v.to_string());
                let caveat = vantage.map(|v| v.caveat()).unwrap_or_default();
                judge_icc(f, ctx, n, icc, r, (who, &to, &caveat))
            }
            // Blocked, as isolation wants: gathered into one line below.
            Purpose::Isolation { other, .. } if !r.ok => blocked.push(other.as_str()),
            Purpose::Isolation {
                other,
                from: who,
                to,
                ..
            } => judge_isolation(f, ctx, n, r, (who, to, other)),
            _ => {}
        }
    }
    // The probe's stand-in is icc's target: with no other container to connect from,
    // only the rules above speak for icc there.
    if let Some(v) = probe.vantage(n).filter(|v| v.stand_in.is_some())
        && !probe
            .host_requests
            .iter()
            .any(|r| matches!(&r.purpose, Purpose::Icc { network, .. } if *network == n.name))
    {
        f.note(format!(
            "icc within {} not tested by a connection: {v} (standing in for the probe, which did not join it) is the only container on it",
            n.name
        ));
    }
    // One line for the isolation that holds, however many networks: the report
    // stays linear in the host's size. Failing pairs have a line each above.
    if !blocked.is_empty() {
        f.pass(format!(
            "isolation holds from {}: blocked toward {} other network(s): {}",
            n.name,
            blocked.len(),
            blocked.join(", ")
        ));
    }
}

/// Whether container `who` on `network` failed its icc connection and then its own
/// gateway too, which netcheck's vantage there reached (see `Purpose::IccControl`).
fn drops_its_own(probe: &ProbeObs, network: &str, who: &str) -> bool {
    probe.host_requests.iter().any(|r| {
        matches!(&r.purpose, Purpose::IccControl { network: n, from } if n == network && from == who)
            && !r.ok
            && r.error_kind() != Some(ErrorKind::Setup)
    })
}

/// How request `r` ended, as the report says it.
fn outcome_of(r: &Request) -> String {
    if r.ok {
        "reached it".to_string()
    } else {
        format!("blocked ({})", r.error.as_deref().unwrap_or("no answer"))
    }
}

/// Container `who` to the probe (or its stand-in, `to`) on the same network `n`: it
/// must get through exactly when `icc` is on.
fn judge_icc(
    f: &mut Findings,
    ctx: &Context,
    n: &NetworkObs,
    icc: bool,
    r: &Request,
    (who, to, caveat): (&str, &str, &str),
) {
    let host = ctx.snapshot.host.ok();
    let seen = format!(
        "{who} -> {to} {} on {}: {}",
        r.target,
        n.name,
        outcome_of(r)
    );
    match (icc, r.ok) {
        (true, true) | (false, false) => f.pass(seen),
        (true, false) => f.fail_at(Code::IccBlocked, Subject::network(&n.name),
            format!("{who} cannot reach {to} at {} on the same network {}: containers there are cut off from each other ({}){caveat}", r.target, n.name, super::nft_path::why_failed(ctx.snapshot, r)),
            format!("look for rules that drop traffic within {0}: iptables -S DOCKER-USER; iptables -S FORWARD | grep -- {0}", super::sh(&n.bridge)),
        ),
        (false, true) if keeps_no_rules(ctx) => f.pass(format!(
            "{seen}: the engine keeps no firewall rules (iptables=false), so icc=false is not enforced, by its configuration"
        )),
        (false, true) => {
            let cause = match host.map(|h| h.sysctl.get("net.bridge.bridge-nf-call-iptables")) {
                Some(None) => ": br_netfilter is not loaded, so bridged traffic skips iptables (see kernel.br-netfilter)",
                Some(Some(v)) if v != "1" => ": bridge-nf-call-iptables is 0, so bridged traffic skips iptables (see kernel.br-netfilter)",
                _ => "",
            };
            f.fail_at(Code::IccNotEnforced, Subject::network(&n.name),
                format!("{who} reached {to} at {} although {} sets icc=false{cause}", r.target, n.name),
                "modprobe br_netfilter; sysctl -w net.bridge.bridge-nf-call-iptables=1; and check for \
                 ACCEPT rules in DOCKER-USER",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::checks::{self, Status};
    use netcheck_model::protocol::ErrorKind;
    use netcheck_model::snapshot::Snapshot;

    /// bridge.icc on a healthy fixture whose first icc request failed with `error`.
    fn judged_with(error: &str, kind: Option<ErrorKind>) -> Status {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/healthy-user-network-and-bridge.json"
        );
        let mut snapshot = Snapshot::load(std::path::Path::new(path)).unwrap();
        let probe = match &mut snapshot.probe {
            netcheck_model::snapshot::Observed::Ok { value } => value,
            other => panic!("the fixture has a probe: {other:?}"),
        };
        let r = probe
            .host_requests
            .iter_mut()
            .find(|r| matches!(r.purpose, netcheck_model::protocol::Purpose::Icc { .. }))
            .unwrap();
        r.ok = false;
        r.seen_source = None;
        r.error = Some(error.into());
        r.error_kind = kind;
        let instances = checks::builtin_instances();
        checks::judge(&snapshot, &instances)
            .iter()
            .filter(|j| j.instance.id == "bridge.icc")
            .map(|j| j.outcome.status)
            .max()
            .unwrap()
    }

    /// A host of 60 networks whose every pair was tested (as netcheck did before it
    /// sampled): the evidence is a few lines per network, not one per pair, and the one
    /// pair that is not isolated is named.
    #[test]
    fn evidence_stays_linear_in_the_networks_and_names_failing_pairs() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/healthy-all-networks.json"
        );
        let mut snapshot = Snapshot::load(std::path::Path::new(path)).unwrap();
        let netcheck_model::snapshot::Observed::Ok { value: docker } = &mut snapshot.docker else {
            panic!("the fixture has docker");
        };
        let template = docker.networks[1].clone();
        let names: Vec<String> = (0..60).map(|i| format!("net-{i:02}")).collect();
        for name in &names {
            let mut n = template.clone();
            n.name = name.clone();
            docker.networks.push(n);
        }
        snapshot.networks.extend(names.iter().cloned());
        let netcheck_model::snapshot::Observed::Ok { value: probe } = &mut snapshot.probe else {
            panic!("the fixture has a probe");
        };
        let template = probe
            .host_requests
            .iter()
            .find(|r| {
                matches!(
                    r.purpose,
                    netcheck_model::protocol::Purpose::Isolation { .. }
                )
            })
            .unwrap()
            .clone();
        for a in &names {
            for b in names.iter().filter(|b| *b != a) {
                let mut r = template.clone();
                r.purpose = netcheck_model::protocol::Purpose::isolation(a, b, "app-a", "app-b");
                r.ok = a == "net-07" && b == "net-42";
                probe.host_requests.push(r);
            }
        }
        let instances = checks::builtin_instances();
        let judged: Vec<_> = checks::judge(&snapshot, &instances)
            .into_iter()
            .filter(|j| j.instance.id == "bridge.icc")
            .collect();
        let lines: usize = judged.iter().map(|j| j.outcome.evidence.len()).sum();
        assert!(
            lines <= 4 * (names.len() + 2),
            "{lines} evidence lines for {} networks",
            names.len() + 2
        );
        let failing: Vec<_> = judged
            .iter()
            .filter(|j| j.outcome.status == Status::Fail)
            .collect();
        assert_eq!(failing.len(), 1);
        assert!(
            failing[0].outcome.message.contains("net-07")
                && failing[0].outcome.message.contains("net-42"),
            "{}",
            failing[0].outcome.message
        );
    }

    #[test]
    fn a_request_netcheck_could_not_make_is_an_error_not_a_verdict() {
        // Written before requests carried a kind: read from the words.
        let entering = "entering /proc/4242/ns/net: Operation not permitted (os error 1)";
        assert_eq!(judged_with(entering, None), Status::Error);
        // Recorded: the kind decides, whatever the words.
        assert_eq!(
            judged_with("Operation not permitted", Some(ErrorKind::Setup)),
            Status::Error
        );
        assert_eq!(
            judged_with("no answer within 2000 ms", Some(ErrorKind::NoAnswer)),
            Status::Fail
        );
        assert_eq!(judged_with("no answer within 2000 ms", None), Status::Fail);
    }
}
