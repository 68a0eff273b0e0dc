//! `bridge.icc`: containers on a network reach each other exactly when icc allows it,
//! and bridge networks are isolated from each other.

use super::{Check, Context, Findings, Needs, Outcome, Subject, docker_or_outcome, icc_disabled};
use crate::protocol::{ErrorKind, Purpose};

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
probe's listener: at its address on the same network (icc), and at its address on each
other checked network the container is not on (isolation). A blocked connection is given
300 ms: on a local bridge an answer takes well under a millisecond.

Needs root and a local engine, and a container on the network besides the probe; the
check skips, saying which, where one is missing.

Fails when: icc is on and the container cannot reach the probe; icc=false and it can
(br_netfilter missing: isolation silently off); it reaches the probe on another network.",
    needs: Needs {
        host: true,
        probe: true,
        peers: true,
        ..Needs::NONE
    },
    configure: |t| super::params::none(t, judge),
    params_schema: super::params::schema_none,
};

fn judge(ctx: &Context, _: &super::Instance) -> Outcome {
    if let Err(o) = docker_or_outcome(ctx) {
        return o;
    }
    let Some(probe) = ctx.snapshot.probe.ok() else {
        return super::missing(&ctx.snapshot.probe, "probe container");
    };
    let host = ctx.snapshot.host.ok();
    // With `"iptables": false` the engine writes no rules: nothing isolates networks or
    // enforces icc=false, by the daemon's own configuration.
    let no_rules = host.and_then(|h| h.firewall.ok()).is_some_and(|fw| {
        !super::rules::docker_in_iptables(fw) && super::rules::docker_nft_tables(fw).is_empty()
    });
    let mut f = Findings::default();
    for n in &ctx.networks {
        // Isolation is tested toward a container that is on the other network alone.
        for m in ctx.snapshot.networks.iter().filter(|m| **m != n.name) {
            let tested = probe.host_requests.iter().any(|r| {
                matches!(&r.purpose, Purpose::Isolation { network, other, .. }
                    if *network == n.name && other == m)
            });
            if !tested {
                f.note(format!(
                    "isolation from {} to {m} not tested: it takes a container on {} and one on {m} alone",
                    n.name, n.name
                ));
            }
        }
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
                Purpose::Icc { network, .. } | Purpose::Isolation { network, .. } => {
                    *network == n.name
                }
                _ => false,
            })
            .collect();
        if asked.is_empty() {
            let others = n
                .endpoints
                .iter()
                .any(|e| e.container_name != probe.container_name);
            f.skip(match ctx.snapshot.host.why_missing() {
                Some(why) => format!("no connection tried from {}: {why}", n.name),
                None if !others => format!(
                    "no container on {} besides the probe to connect from",
                    n.name
                ),
                None => format!(
                    "no connection tried from {} (needs root; or its containers have no pid)",
                    n.name
                ),
            });
            continue;
        }
        for r in asked {
            // A failure to enter the namespace says nothing about the network.
            if r.error_kind() == Some(ErrorKind::Setup) {
                let e = r.error.as_deref().unwrap_or_default();
                f.error(format!("{}: {e}", r.purpose));
                continue;
            }
            let outcome = if r.ok {
                "reached it".to_string()
            } else {
                format!("blocked ({})", r.error.as_deref().unwrap_or("no answer"))
            };
            if let Purpose::Icc { from: who, .. } = &r.purpose {
                let seen = format!("{who} -> probe {} on {}: {outcome}", r.target, n.name);
                match (icc, r.ok) {
                    (true, true) | (false, false) => f.pass(seen),
                    (true, false) => f.fail_at("icc-blocked", Subject::network(&n.name), 
                        format!("{who} cannot reach the probe at {} on the same network {}: containers there are cut off from each other ({})", r.target, n.name, super::nft_path::why_failed(ctx.snapshot, r)),
                        format!("look for rules that drop traffic within {0}: iptables -S DOCKER-USER; iptables -S FORWARD | grep -- {0}", super::sh(&n.bridge)),
                    ),
                    (false, true) if no_rules => f.pass(format!(
                        "{seen}: the engine keeps no firewall rules (iptables=false), so icc=false is not enforced, by its configuration"
                    )),
                    (false, true) => {
                        let cause = match host.map(|h| h.sysctl.get("net.bridge.bridge-nf-call-iptables")) {
                            Some(None) => ": br_netfilter is not loaded, so bridged traffic skips iptables (see kernel.br-netfilter)",
                            Some(Some(v)) if v != "1" => ": bridge-nf-call-iptables is 0, so bridged traffic skips iptables (see kernel.br-netfilter)",
                            _ => "",
                        };
                        f.fail_at("icc-not-enforced", Subject::network(&n.name), 
                            format!("{who} reached the probe at {} although {} sets icc=false{cause}", r.target, n.name),
                            "modprobe br_netfilter; sysctl -w net.bridge.bridge-nf-call-iptables=1; and check for \
                             ACCEPT rules in DOCKER-USER",
                        );
                    }
                }
            } else if let Purpose::Isolation {
                other,
                from: who,
                to,
                ..
            } = &r.purpose
            {
                let seen = format!(
                    "{who} on {} -> {to} at {} on {other}: {outcome}",
                    n.name, r.target
                );
                let open = ctx.snapshot.network(other).and_then(|o| {
                    ctx.engine
                        .open_to_other_networks(o, host.and_then(|h| h.firewall.ok()))
                });
                if r.ok && no_rules {
                    f.pass(format!(
                        "{seen}: the engine keeps no firewall rules (iptables=false), so networks are not isolated, by its configuration"
                    ));
                } else if let (true, Some(why)) = (r.ok, open) {
                    f.pass(format!("{seen}: {why}"));
                } else if r.ok {
                    f.fail_at("not-isolated", Subject::network(&n.name),
                        format!("{who} on {} reaches {to} at {} on {other}: the networks are not isolated", n.name, r.target),
                        not_isolated_fix(ctx, &n.bridge, other),
                    );
                } else {
                    f.pass(seen);
                }
            }
        }
    }
    f.finish("containers reach each other exactly as icc and isolation allow")
}

/// Where to look for what lets one network into another, in the running engine's
/// terms: its isolation chains up to Docker 28, each network's default rule in DOCKER
/// from 29 (or its nftables table); never a rule to add to the engine's own chains.
fn not_isolated_fix(ctx: &Context, bridge: &str, other: &str) -> String {
    let bridge = super::sh(bridge);
    let other_bridge = ctx
        .snapshot
        .network(other)
        .map_or_else(|| super::sh(other), |o| super::sh(&o.bridge));
    let fw = ctx.snapshot.host.ok().and_then(|h| h.firewall.ok());
    let engine = match (ctx.engine.backend, fw) {
        (super::engine_rules::Backend::Nftables, _) => format!(
            "the engine isolates networks in table ip {} (chain filter-forward-in__{other_bridge}): \
             nft list table ip {}",
            super::engine_rules::NFT_TABLE,
            super::engine_rules::NFT_TABLE
        ),
        (_, Some(fw)) if !ctx.engine.isolation_chains(fw) => format!(
            "the engine isolates networks by each network's default rule in DOCKER (`! -i {other_bridge} -o {other_bridge} -j DROP`): \
             iptables -S DOCKER"
        ),
        _ => {
            "Docker's DOCKER-ISOLATION chains must come first: iptables -S DOCKER-ISOLATION-STAGE-2"
                .to_string()
        }
    };
    format!(
        "find the rule that lets {bridge} through to {other_bridge}: iptables -S DOCKER-USER; iptables -S FORWARD; {engine}; \
         if the engine's own rules are missing, restart it (systemctl restart docker)"
    )
}

#[cfg(test)]
mod tests {
    use crate::checks::{self, Status};
    use crate::protocol::ErrorKind;
    use crate::snapshot::Snapshot;

    /// bridge.icc on a healthy fixture whose first icc request failed with `error`.
    fn judged_with(error: &str, kind: Option<ErrorKind>) -> Status {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/healthy-user-network-and-bridge.json"
        );
        let mut snapshot = Snapshot::load(std::path::Path::new(path)).unwrap();
        let probe = match &mut snapshot.probe {
            crate::snapshot::Observed::Ok { value } => value,
            other => panic!("the fixture has a probe: {other:?}"),
        };
        let r = probe
            .host_requests
            .iter_mut()
            .find(|r| matches!(r.purpose, crate::protocol::Purpose::Icc { .. }))
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
