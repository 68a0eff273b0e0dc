//! `firewall.forward`: FORWARD lets each network's traffic out and back.

use super::rules::{self, Rule};
use super::{Check, Context, Findings, Needs, Outcome, docker_or_outcome, missing};
use crate::snapshot::Observed;

pub static CHECK: Check = Check {
    generic: false,
    scope: super::Scope::Network,
    id: "firewall.forward",
    title: "FORWARD lets the network's traffic out and back",
    doc: "\
Container traffic that leaves a bridge crosses the filter table's FORWARD chain. The
engine puts its own jumps there (DOCKER-USER, DOCKER-ISOLATION-STAGE-1, DOCKER-FORWARD)
and an accept for each bridge, and usually sets the policy to DROP. For each checked
network this check reads the rules of the backend `iptables` uses and requires: no rule
that drops or rejects the whole network's traffic (on its bridge, or its subnet, with
no narrower match) before Docker's first jump; a way out (policy ACCEPT, or Docker's
`-i <bridge> ! -o <bridge> -j ACCEPT`); a way back for replies (policy ACCEPT, or
`-o <bridge> ... RELATED,ESTABLISHED -j ACCEPT`); and no such blanket drop in
DOCKER-USER. A narrower rule (a port, a protocol) is a deliberate policy and only noted.
Internal networks are cut off by design and need no way out.

Fails when: a host firewall inserts a DROP above Docker's jump, or sets FORWARD to DROP
and Docker's accept rules are gone, or DOCKER-USER drops the network's subnet.",
    needs: Needs {
        host: true,
        ..Needs::NONE
    },
    params: super::no_params,
    judge,
};

fn judge(ctx: &Context, _: &super::Instance) -> Outcome {
    if let Err(o) = docker_or_outcome(ctx) {
        return o;
    }
    let Some(host) = ctx.snapshot.host.ok() else {
        return missing(&ctx.snapshot.host, "host");
    };
    let fw = match &host.firewall {
        Observed::Ok { value } => value,
        other => return missing(other, "firewall"),
    };
    let Some(filter) = fw.tables.get("filter") else {
        return Outcome::error("no filter table in the firewall rules", vec![]);
    };
    let nft = rules::docker_nft_tables(fw);
    if !nft.is_empty() {
        return nftables_backend(ctx, filter, &nft, &fw.backend);
    }
    if !rules::docker_in_iptables(fw) {
        return Outcome::skip(
            format!(
                "no Docker chains in {} nor nftables: the engine keeps no firewall rules (iptables=false?)",
                fw.backend
            ),
            vec![],
        );
    }
    let mut f = Findings::default();
    let policy = rules::policy(filter, "FORWARD").unwrap_or("ACCEPT");
    f.note(format!("{}: FORWARD policy {policy}", fw.backend));
    let forward = rules::chain(fw, "filter", "FORWARD");
    let user = rules::chain(fw, "filter", "DOCKER-USER");
    for n in &ctx.networks {
        let first_docker = forward.iter().position(|r| rules::is_dockers(r, &[]));
        let before = &forward[..first_docker.unwrap_or(forward.len())];
        let mut blocked = false;
        for (i, r) in before.iter().enumerate() {
            if r.drops() && r.covers(n) {
                blocked = true;
                f.fail(
                    format!(
                        "FORWARD rule {} `{}` drops {}'s traffic before Docker's rules see it",
                        i + 1,
                        r.line,
                        n.name
                    ),
                    format!(
                        "delete it or move it below Docker's jump: iptables -D {}; \
                         site rules for containers belong in DOCKER-USER",
                        super::sh_words(r.line.trim_start_matches("-A "))
                    ),
                );
            } else if r.drops() {
                f.note(format!(
                    "FORWARD rule {} (narrower, kept): {}",
                    i + 1,
                    r.line
                ));
            }
        }
        if first_docker.is_none() {
            f.fail(
                format!("FORWARD has no jump to Docker's chains ({} rules)", forward.len()),
                "restart the Docker daemon to restore its rules (systemctl restart docker), and find what flushed FORWARD",
            );
            continue;
        }
        // DOCKER-USER in order: what an earlier rule returns or accepts never reaches
        // a later drop, and after a conntrack accept, a drop toward the network only
        // stops new connections into it (published ports), not its own traffic.
        let mut replies_pass = false;
        for r in &user {
            let stops = matches!(r.target, Some("RETURN" | "ACCEPT"));
            if stops && r.matches.is_empty() {
                break;
            }
            if stops && r.line.contains("ESTABLISHED") {
                replies_pass = true;
                continue;
            }
            if !r.drops() {
                continue;
            }
            let inbound_only = r
                .matches
                .iter()
                .all(|(_, flag, _)| matches!(*flag, "-d" | "-o"));
            if !r.covers(n) {
                f.note(format!("DOCKER-USER (narrower, kept): {}", r.line));
            } else if replies_pass && inbound_only && !r.matches.is_empty() {
                f.note(format!(
                    "DOCKER-USER stops new connections into {} (replies pass): {}",
                    n.name, r.line
                ));
            } else {
                blocked = true;
                f.fail(
                    format!(
                        "DOCKER-USER rule `{}` drops {}'s traffic ({})",
                        r.line, n.name, n.bridge
                    ),
                    format!(
                        "narrow it or delete it: iptables -D {}",
                        super::sh_words(r.line.trim_start_matches("-A "))
                    ),
                );
            }
        }
        if n.internal {
            f.note(format!(
                "network {}: internal, cut off from outside by design",
                n.name
            ));
            if !blocked {
                f.pass(format!("nothing drops {} before Docker's rules", n.name));
            }
            continue;
        }
        let out = rules::accepts_out(fw, &n.bridge);
        let back = rules::accepts_back(fw, &n.bridge);
        for (what, rule, fix) in [
            (
                "out of",
                out,
                format!("-A FORWARD -i {0} ! -o {0} -j ACCEPT", n.bridge),
            ),
            (
                "back into",
                back,
                format!(
                    "-A FORWARD -o {} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
                    n.bridge
                ),
            ),
        ] {
            match (rule, policy) {
                (Some(r), _) => f.pass(format!("{what} {}: {}", n.bridge, r)),
                (None, "ACCEPT") => f.pass(format!("{what} {}: FORWARD policy ACCEPT", n.bridge)),
                (None, p) => f.fail(
                    format!(
                        "nothing lets traffic {what} {} ({}) with FORWARD policy {p}",
                        n.bridge, n.name
                    ),
                    format!("restart the Docker daemon to restore its rules (expected: {fix})"),
                ),
            }
        }
    }
    f.finish("FORWARD lets the network's traffic out and back")
}

/// With Docker's nftables backend its rules are in tables of its own, but iptables'
/// FORWARD chain still filters every packet: a DROP policy there (ufw, or one Docker
/// itself left before the switch) drops what Docker's nftables rules accept.
fn nftables_backend(ctx: &Context, filter: &[String], nft: &[&str], backend: &str) -> Outcome {
    let mut f = Findings::default();
    f.note(format!("Docker programs nftables: {}", nft.join(", ")));
    let policy = rules::policy(filter, "FORWARD").unwrap_or("ACCEPT");
    let all: Vec<Rule> = filter.iter().filter_map(|l| Rule::parse(l)).collect();
    for n in &ctx.networks {
        let accepted = all.iter().any(|r| {
            r.chain == "FORWARD"
                && r.target == Some("ACCEPT")
                && r.matches
                    .iter()
                    .any(|(neg, fl, v)| !neg && matches!(*fl, "-i" | "-o") && *v == n.bridge)
        });
        if policy == "ACCEPT" || accepted || n.internal {
            f.pass(format!(
                "{backend}: FORWARD policy {policy}; nothing there drops {}",
                n.name
            ));
        } else {
            f.fail(
                format!(
                    "{backend} FORWARD policy is {policy}, and nothing there accepts {}: it drops what Docker's nftables rules let through",
                    n.bridge
                ),
                format!(
                    "accept the bridge's traffic in iptables too: iptables -I FORWARD -i {0} -j ACCEPT; \
                     iptables -I FORWARD -o {0} -j ACCEPT (or set the policy to ACCEPT if nothing else needs it)",
                    super::sh(&n.bridge)
                ),
            );
        }
    }
    f.finish("FORWARD lets the network's traffic out and back")
}
