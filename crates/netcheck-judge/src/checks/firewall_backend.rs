//! `firewall.backend`: Docker's rules are in the firewall backend the host uses, and
//! nothing in the other backend works against them.

use super::engine_rules::Backend;
use super::rules::{self, Rule};
use super::{Check, Context, Findings, Needs, Outcome, missing};
use netcheck_model::snapshot::{FirewallObs, HostObs, Observed, OtherBackend};

/// firewall.backend's finding codes, `firewall.backend/<slug>`. A variant's doc comment is
/// its description, which `netcheck explain` prints. Never rename a released slug.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumIter, strum::EnumMessage,
)]
#[strum(serialize_all = "kebab-case")]
pub(crate) enum Code {
    /// Docker's chains are in both iptables backends (nft and legacy): its rules are split.
    RulesSplit,
    /// Docker's chains are in the iptables backend that `iptables` no longer runs: it was
    /// switched after the engine started.
    ChainsInOtherBackend,
    /// The iptables backend not in use holds a rule that drops forwarded traffic, out of
    /// `iptables`' sight.
    OtherBackendDrops,
    /// The iptables backend not in use sets a FORWARD policy that drops what the backend in use
    /// accepts.
    OtherBackendPolicyDrop,
    /// Docker's chains are missing, and the engine was not told to keep none.
    DockerChainsMissing,
}

pub static CHECK: Check = Check {
    generic: false,
    scope: super::Scope::Host,
    id: "firewall.backend",
    title: "Docker's rules live in the firewall backend in use",
    doc: "\
A Linux host can hold iptables rules in two backends at once: iptables-nft (nf_tables)
and iptables-legacy (x_tables). The kernel applies both, so a DROP in either one wins,
but each `iptables` command shows only its own. Docker writes its chains with the
`iptables` it found at start (or, from Docker 29, nftables directly). This check reports
which backend holds Docker's chains, and reads the other backend too (and the nftables
table list).

Fails when: Docker's chains are in no backend although the engine was not configured
with `iptables: false` (a firewall reload or `nft flush ruleset` removed them);
Docker's chains are in both backends (rules split); Docker's chains are only
in the backend `iptables` no longer runs (`update-alternatives` switched it after the
engine started); or the other backend holds a FORWARD rule that drops or rejects, or a
FORWARD policy of DROP, which the kernel applies out of sight. Its other rules (a
kube-proxy's, a VPN's, INPUT rules) are counted in the evidence, not failed.",
    needs: Needs {
        host: true,
        ..Needs::NONE
    },
    configure: |t| super::params::none(t, judge),
    params_schema: super::params::schema_none,
    codes: super::code::list::<Code>,
};

const RESTART: &str = "restart the Docker daemon, so that it writes its rules with the iptables in use \
(update-alternatives --display iptables shows which that is): systemctl restart docker";

fn judge(ctx: &Context, _: &super::Instance) -> Outcome {
    let Some(host) = ctx.snapshot.host.ok() else {
        return missing(&ctx.snapshot.host, "host");
    };
    let fw = match &host.firewall {
        Observed::Ok { value } => value,
        other => return missing(other, "firewall"),
    };
    if ctx.engine.podman {
        return podman(ctx, fw);
    }
    let mut f = Findings::default();
    let active = &fw.backend;
    let docker_active = rules::has_docker_chains(fw.tables.values());
    let docker_nft = fw.docker_nft_tables();
    let engine = &ctx.engine;
    note_backends(&mut f, ctx, fw, &docker_nft);
    // The engine's nftables backend: its rules are its own tables, and iptables (either
    // backend, both installed and empty being the normal state) holds none of Docker's.
    if engine.backend == Backend::Nftables {
        if docker_nft.is_empty() {
            no_chains(&mut f, ctx, host, fw, "nftables");
            return f.finish("Docker's rules are in nftables");
        }
        f.pass(format!(
            "Docker's rules are in nftables ({}): the engine's nftables backend",
            docker_nft.join(", ")
        ));
    }
    let Some(other) = &fw.other else {
        return judge_one_backend(f, ctx, host, fw, docker_active, &docker_nft);
    };
    let docker_other = rules::has_docker_chains(other.tables.values());
    locate_docker_chains(&mut f, ctx, host, fw, other, docker_active, &docker_nft);
    // Where Docker's chains are in the other backend, its policy and its other rules are
    // Docker's stale copy too: the restart above is the whole fix.
    if docker_other {
        return f.finish("Docker's rules are in the backend in use");
    }
    judge_other_backend_rules(&mut f, ctx, active, other);
    match engine.backend {
        Backend::Nftables => f.finish(format!(
            "Docker's rules are in nftables, and neither {active} nor {} works against them",
            other.backend
        )),
        Backend::Iptables => f.finish(format!(
            "Docker's rules are in {active}, and {} holds none",
            other.backend
        )),
    }
}

/// What the reader needs to follow the verdict: the engine, which backend `iptables`
/// runs, and Docker's own nftables tables.
fn note_backends(f: &mut Findings, ctx: &Context, fw: &FirewallObs, docker_nft: &[&str]) {
    let active = &fw.backend;
    f.note(format!("the engine: {}", ctx.engine.describe()));
    match fw.version.trim() {
        "" => f.note(format!("`iptables` runs {active}")),
        v => f.note(format!("`iptables` runs {active} ({v})")),
    }
    if !docker_nft.is_empty() {
        f.note(format!(
            "nftables: {} (Docker's nftables backend)",
            docker_nft.join(", ")
        ));
    }
}

/// Only one iptables backend could be read (the other's tool is missing, or both hold the
/// same nothing): there is no split to find, only whether Docker's chains are there.
fn judge_one_backend(
    mut f: Findings,
    ctx: &Context,
    host: &HostObs,
    fw: &FirewallObs,
    docker_active: bool,
    docker_nft: &[&str],
) -> Outcome {
    let active = &fw.backend;
    let nftables = ctx.engine.backend == Backend::Nftables;
    if netcheck_model::snapshot::holds_no_rules(&fw.tables) {
        f.note(format!(
            "{active}: no rules; the other iptables backend holds the same (none), or its tool is not installed"
        ));
    } else {
        f.note("the other iptables backend's tool is not installed: only one backend to read");
    }
    match (docker_active, docker_nft.is_empty()) {
        _ if nftables => {}
        (true, _) => f.pass(format!(
            "Docker's chains are in {active}, the backend in use"
        )),
        (false, false) => f.pass("Docker programs nftables directly"),
        (false, true) => no_chains(&mut f, ctx, host, fw, &format!("{active} nor nftables")),
    }
    if nftables {
        return f.finish("Docker's rules are in nftables, and iptables holds none of them");
    }
    f.finish("Docker's rules are in the backend in use")
}

/// Which of the two iptables backends holds Docker's chains: both (split), only the one
/// `iptables` no longer runs (switched), the one in use, or neither.
fn locate_docker_chains(
    f: &mut Findings,
    ctx: &Context,
    host: &HostObs,
    fw: &FirewallObs,
    other: &OtherBackend,
    docker_active: bool,
    docker_nft: &[&str],
) {
    let active = &fw.backend;
    let docker_other = rules::has_docker_chains(other.tables.values());
    match (docker_active, docker_other) {
        (true, true) => f.fail_at(Code::RulesSplit, super::Subject::Host,
            format!("Docker's chains are in both {active} and {}: its rules are split", other.backend),
            format!("{RESTART}; then flush the stale copy: {}-save shows it", other.backend),
        ),
        (false, true) => f.fail_at(Code::ChainsInOtherBackend, super::Subject::Host,
            format!(
                "Docker's chains are in {}, but `iptables` now runs {active}: it was switched after the engine started",
                other.backend
            ),
            RESTART,
        ),
        (true, false) => f.pass(format!("Docker's chains are in {active}, the backend in use")),
        (false, false) if ctx.engine.backend == Backend::Nftables => {}
        (false, false) if !docker_nft.is_empty() => f.pass("Docker programs nftables directly"),
        (false, false) => no_chains(
            f,
            ctx,
            host,
            fw,
            &format!("{active}, {} or nftables", other.backend),
        ),
    }
}

/// The other backend's own rules and policies, which the kernel applies out of `iptables`'
/// sight. Only drops on the forwarding path work against Docker's traffic; the rest
/// (kube-proxy's, a VPN's, an INPUT rule for ssh) is noted.
fn judge_other_backend_rules(f: &mut Findings, ctx: &Context, active: &str, other: &OtherBackend) {
    let bridges: Vec<&str> = ctx
        .snapshot
        .docker
        .ok()
        .into_iter()
        .flat_map(|d| &d.networks)
        .map(|n| n.bridge.as_str())
        .collect();
    let theirs: Vec<Rule> = other
        .tables
        .iter()
        .filter(|(t, _)| t.as_str() == "filter")
        .flat_map(|(_, lines)| lines)
        .filter_map(|l| Rule::parse(l))
        .filter(|r| !rules::is_dockers(r, &bridges))
        .collect();
    let others_count = other
        .tables
        .values()
        .flatten()
        .filter(|l| l.starts_with("-A"))
        .count();
    let mut harmless = others_count;
    for r in theirs.iter().filter(|r| r.chain == "FORWARD" && r.drops()) {
        harmless -= 1;
        f.fail_at(
            Code::OtherBackendDrops,
            super::rules::subject("filter", "FORWARD", Some(r.line)),
            format!(
                "{} holds a rule the kernel applies out of `iptables`' sight: {}",
                other.backend, r.line
            ),
            format!(
                "move the host's rules into {active} (or delete them): {0}-save shows them, and \
                 `{0} -D ...` removes one; both backends filter every packet",
                other.backend
            ),
        );
    }
    if harmless > 0 {
        f.note(format!(
            "{}: {harmless} other rule(s), none dropping forwarded traffic (shown by {}-save)",
            other.backend, other.backend
        ));
    }
    if let Some(filter) = other.tables.get("filter") {
        judge_other_policies(f, active, &other.backend, filter);
    }
    if others_count == 0 {
        f.note(format!(
            "{}: {} tables, no rules, no DROP policy",
            other.backend,
            other.tables.len()
        ));
    }
}

/// A DROP policy in the other backend: FORWARD's drops what the backend in use accepts,
/// INPUT's only concerns the host's own services, so it is noted.
fn judge_other_policies(f: &mut Findings, active: &str, backend: &str, filter: &[String]) {
    if let Some(p @ "DROP") = rules::policy(filter, "FORWARD") {
        f.fail_at(
            Code::OtherBackendPolicyDrop,
            super::rules::subject("filter", "FORWARD", None),
            format!("{backend} sets FORWARD policy {p}: the kernel drops what {active} accepts"),
            format!(
                "{backend} -P FORWARD ACCEPT (the backend in use, {active}, holds the host's policy)"
            ),
        );
    }
    if let Some(p @ "DROP") = rules::policy(filter, "INPUT") {
        f.note(format!(
            "{backend} sets INPUT policy {p}: the host's own services (and host.docker.internal) answer only what it allows"
        ));
    }
}

/// No Docker chains anywhere: by configuration (`"iptables": false`), or removed.
fn no_chains(f: &mut Findings, ctx: &Context, host: &HostObs, fw: &FirewallObs, where_: &str) {
    match rules::iptables_off(host) {
        Some(off) => f.skip(format!(
            "no Docker chains in {where_}: the engine keeps no firewall rules ({off})"
        )),
        None => f.fail_at(Code::DockerChainsMissing, super::Subject::Host,
            format!(
                "no Docker chains in {where_}, and the engine was not told to keep none: something removed them ({} missing)",
                ctx.engine.missing(fw).join(", ")
            ),
            rules::restore_chains_hint(fw),
        ),
    }
}

/// Podman: netavark's rules, in the backend in use (or its own nftables table), where a
/// container runs on a bridge network; the other backend's drops count as for Docker.
fn podman(ctx: &Context, fw: &FirewallObs) -> Outcome {
    use super::netavark;
    let mut f = Findings::default();
    let active = &fw.backend;
    note_backends(&mut f, ctx, fw, &[]);
    if !ctx.engine.netavark {
        f.skip(netavark::CNI);
        return f.finish("Podman's rules are CNI's");
    }
    let other = fw.other.as_ref();
    let in_other = other.is_some_and(|o| {
        netavark::in_iptables(&FirewallObs {
            tables: o.tables.clone(),
            ..fw.clone()
        })
    });
    let with_rules: Vec<&str> = (ctx.snapshot.docker.ok().into_iter())
        .flat_map(|d| &d.networks)
        .filter(|n| netavark::has_rules(n))
        .map(|n| n.name.as_str())
        .collect();
    // Before the probe started, with containers running: what their traffic met.
    let ran: Vec<&str> = (ctx.snapshot.docker.ok().into_iter())
        .flat_map(|d| &d.networks)
        .filter(|n| n.driver == "bridge" && !n.internal && netavark::ran_before_probe(n))
        .map(|n| n.name.as_str())
        .collect();
    let gone_before = fw.tables_before_probe.as_ref().is_some_and(|tables| {
        let before = FirewallObs {
            tables: tables.clone(),
            ..fw.clone()
        };
        !ran.is_empty() && !netavark::in_iptables(&before) && !netavark::in_nftables(fw)
    });
    if gone_before {
        f.fail_at(
            Code::DockerChainsMissing,
            super::Subject::Host,
            format!(
                "netavark's rules were missing from {active} while containers ran on {}: netavark wrote them \
                 again only when netcheck's probe joined; something removed them (a firewall reload, \
                 `nft flush ruleset`, iptables -F)",
                ran.join(", ")
            ),
            format!(
                "{}, after every firewall reload: Podman writes a network's rules again only when a container joins it",
                netavark::RELOAD
            ),
        );
    } else if netavark::in_nftables(fw) {
        f.pass(format!(
            "netavark's rules are in nftables (table {})",
            netavark::NFT_TABLE
        ));
    } else if netavark::in_iptables(fw) {
        f.pass(format!(
            "netavark's chains are in {active}, the backend in use"
        ));
    } else if let (true, Some(o)) = (in_other, other) {
        f.fail_at(
            Code::ChainsInOtherBackend,
            super::Subject::Host,
            format!(
                "netavark's chains are in {}, but `iptables` now runs {active}: it was switched after Podman wrote them",
                o.backend
            ),
            format!("{}, so that netavark writes them with the iptables in use", netavark::RELOAD),
        );
    } else if with_rules.is_empty() {
        f.skip(
            "no container runs on a Podman bridge network, and netavark writes a network's rules only while one does",
        );
    } else {
        f.fail_at(
            Code::DockerChainsMissing,
            super::Subject::Host,
            format!(
                "netavark's rules are missing from {active} and nftables although containers run on {}: \
                 something removed them (a firewall reload, `nft flush ruleset`, iptables -F)",
                with_rules.join(", ")
            ),
            format!(
                "{}: it writes them again for every running container (never by hand)",
                netavark::RELOAD
            ),
        );
    }
    if let (Some(o), false) = (other, in_other) {
        judge_other_backend_rules(&mut f, ctx, active, o);
    }
    f.finish("Podman's rules (netavark's) are in the backend in use")
}
