//! firewall.forward where Docker's rules are in iptables (either family): for each
//! network, nothing in FORWARD drops its traffic before Docker's jump, DOCKER-USER does
//! not drop it, and something lets it out of its bridge and back in.

use super::super::rules::{self, Rule};
use super::super::{Context, Findings, Subject, sh_words};
use super::Code;
use netcheck_model::snapshot::{FirewallObs, NetworkObs};

pub(super) fn iptables(
    ctx: &Context,
    f: &mut Findings,
    fw: &FirewallObs,
    filter: &[String],
    v6: bool,
) {
    let policy = rules::policy(filter, "FORWARD").unwrap_or("ACCEPT");
    f.note(format!("{}: FORWARD policy {policy}", fw.backend));
    // Only the rules before Docker's first jump are parsed: Docker's jumps come first
    // on a healthy host, and FORWARD holds four rules per network.
    let forward = rules::chain_lines(fw, "filter", "FORWARD");
    let first_docker = forward
        .iter()
        .position(|l| Rule::parse(l).is_some_and(|r| rules::is_dockers(&r, &[])));
    let before: Vec<Rule> = forward[..first_docker.unwrap_or(forward.len())]
        .iter()
        .filter_map(|l| Rule::parse(l))
        .collect();
    let user = rules::chain(fw, "filter", "DOCKER-USER");
    let tool = if v6 { "ip6tables" } else { "iptables" };
    for n in ctx
        .networks
        .iter()
        .filter(|n| !v6 || (n.enable_ipv6 && n.subnet_v6().is_some()))
    {
        let mut blocked = drops_before_engine(f, &before, n, (v6, tool), Engine::Docker);
        if first_docker.is_none() {
            f.fail_at(Code::NoDockerJump, rules::subject("filter", "FORWARD", None),
                format!("FORWARD has no jump to Docker's chains ({} rules)", forward.len()),
                "restart the Docker daemon to restore its rules (systemctl restart docker), and find what flushed FORWARD",
            );
            continue;
        }
        blocked |= docker_user_drops(f, &user, n, v6, tool);
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
        way_through(f, fw, n, policy);
    }
}

/// The FORWARD rules `before` the engine's first jump that drop network `n`'s traffic
/// (failed) or only some other traffic (noted). True when one drops `n`'s. `engine` is
/// whose rules the jump leads to: Docker's, or netavark's on Podman.
pub(super) fn drops_before_engine(
    f: &mut Findings,
    before: &[Rule],
    n: &NetworkObs,
    (v6, tool): (bool, &str),
    engine: Engine,
) -> bool {
    let mut blocked = false;
    for (i, r) in before.iter().enumerate() {
        if r.drops() && r.covers_family(n, v6) {
            blocked = true;
            f.fail_at(
                Code::DropBeforeDocker,
                rules::subject("filter", "FORWARD", Some(r.line)),
                format!(
                    "{tool} FORWARD rule {} `{}` drops {}'s traffic before {} rules see it",
                    i + 1,
                    r.line,
                    n.name,
                    engine.whose()
                ),
                format!(
                    "delete it or move it below {} jump: {tool} -D {}{}",
                    engine.whose(),
                    sh_words(r.line.trim_start_matches("-A ")),
                    engine.site_rules()
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
    blocked
}

/// Whose rules FORWARD's first jump leads to.
#[derive(Clone, Copy)]
pub(super) enum Engine {
    Docker,
    Netavark,
}

impl Engine {
    fn whose(self) -> &'static str {
        match self {
            Engine::Docker => "Docker's",
            Engine::Netavark => "netavark's",
        }
    }

    /// Where a site's own rules for containers go instead.
    fn site_rules(self) -> &'static str {
        match self {
            Engine::Docker => "; site rules for containers belong in DOCKER-USER",
            Engine::Netavark => "",
        }
    }
}

/// The DOCKER-USER rules that drop network `n`'s traffic. True when one does.
fn docker_user_drops(
    f: &mut Findings,
    user: &[Rule],
    n: &NetworkObs,
    v6: bool,
    tool: &str,
) -> bool {
    let mut blocked = false;
    // DOCKER-USER in order: what an earlier rule returns or accepts never reaches
    // a later drop, and after a conntrack accept, a drop toward the network only
    // stops new connections into it (published ports), not its own traffic.
    let mut replies_pass = false;
    for r in user {
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
        if !r.covers_family(n, v6) {
            f.note(format!("DOCKER-USER (narrower, kept): {}", r.line));
        } else if replies_pass && inbound_only && !r.matches.is_empty() {
            f.note(format!(
                "DOCKER-USER stops new connections into {} (replies pass): {}",
                n.name, r.line
            ));
        } else {
            blocked = true;
            f.fail_at(
                Code::DockerUserDrops,
                rules::subject("filter", "DOCKER-USER", Some(r.line)),
                format!(
                    "DOCKER-USER rule `{}` drops {}'s traffic ({})",
                    r.line, n.name, n.bridge
                ),
                format!(
                    "narrow it or delete it: {tool} -D {}",
                    sh_words(r.line.trim_start_matches("-A "))
                ),
            );
        }
    }
    blocked
}

/// Something lets network `n`'s traffic out of its bridge and the replies back in: the
/// engine's ACCEPT rules, or a FORWARD policy of ACCEPT.
fn way_through(f: &mut Findings, fw: &FirewallObs, n: &NetworkObs, policy: &str) {
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
            (None, p) => f.fail_at(
                Code::NoWayThrough,
                Subject::interface(&n.bridge),
                format!(
                    "nothing lets traffic {what} {} ({}) with FORWARD policy {p}",
                    n.bridge, n.name
                ),
                format!("restart the Docker daemon to restore its rules (expected: {fix})"),
            ),
        }
    }
}
