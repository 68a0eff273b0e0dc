//! `firewall.forward`: FORWARD lets each network's traffic out and back.

use super::nft_path::{self, Flow, Iface};
use super::rules::{self, Rule};
use super::{Check, Context, Findings, Needs, Outcome, docker_or_outcome, missing};
use netcheck_model::snapshot::{FirewallObs, HostObs, Observed};

mod codes;
use codes::Code;

// Where Docker's rules are in iptables: a part of the check of its own.
mod iptables;
use iptables::iptables;

// Podman's: netavark's rules.
mod podman;

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

Every other nftables base chain on the way counts too, whoever owns it (a hardened
/etc/nftables.conf, a VPN kill switch, firewalld): each `forward` chain of the ip, ip6
and inet families, and the bridge family's, in priority order, for the network's
traffic out (new connections from its subnet, out of its bridge) and back (replies),
IPv4 and, where the network has it, IPv6. A drop there is final, whatever Docker's
chains accept. Under iptables-legacy, this static reading is all there is: no trace
sees x_tables rules.

On Podman the rules are netavark's: FORWARD's jump to NETAVARK_FORWARD, which accepts
the subnet's traffic out and its replies back; a blanket drop above that jump fails.

Fails when: a host firewall inserts a DROP above Docker's jump, or sets FORWARD to DROP
and Docker's accept rules are gone, or DOCKER-USER drops the network's subnet; another
table's forward chain drops the traffic (`policy drop`, or a rule); Docker's chains are
missing (flushed by a firewall reload or `nft flush ruleset`).",
    needs: Needs {
        host: true,
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
        return missing(&ctx.snapshot.host, "host");
    };
    let fw = match &host.firewall {
        Observed::Ok { value } => value,
        other => return missing(other, "firewall"),
    };
    let mut f = Findings::default();
    let empty = vec![];
    let filter = fw.tables.get("filter").unwrap_or(&empty);
    let nft = rules::docker_nft_tables(fw);
    if ctx.engine.podman {
        podman::netavark(ctx, &mut f, fw, false);
        let v6 = FirewallObs {
            backend: format!("ip6tables ({})", fw.backend),
            tables: fw.tables_v6.clone(),
            ..fw.clone()
        };
        if ctx.networks.iter().any(|n| n.enable_ipv6) {
            podman::netavark(ctx, &mut f, &v6, true);
        }
        foreign_tables(ctx, &mut f, fw, host);
        return f.finish("FORWARD lets the network's traffic out and back");
    }
    if !nft.is_empty() {
        nftables_backend(ctx, &mut f, filter, &nft, &fw.backend, false);
    } else if rules::docker_in_iptables(fw) {
        iptables(ctx, &mut f, fw, filter, false);
    } else {
        no_docker_chains(ctx, &mut f, fw, host, filter);
    }
    ip6tables(ctx, &mut f, fw, host);
    foreign_tables(ctx, &mut f, fw, host);
    f.finish("FORWARD lets the network's traffic out and back")
}

/// Docker's chains are not in iptables, and it programs no nftables of its own: the
/// engine was told to keep none, or something removed them.
fn no_docker_chains(
    ctx: &Context,
    f: &mut Findings,
    fw: &FirewallObs,
    host: &HostObs,
    filter: &[String],
) {
    if let Some(off) = rules::iptables_off(host) {
        f.note(format!(
            "{off}: the engine keeps no firewall rules, so nothing of Docker's lets traffic through FORWARD"
        ));
        let policy = rules::policy(filter, "FORWARD").unwrap_or("ACCEPT");
        for n in ctx.networks.iter().filter(|n| !n.internal) {
            if policy == "ACCEPT" {
                f.pass(format!("{}: FORWARD policy ACCEPT", fw.backend));
            } else {
                f.fail_at(Code::ForwardPolicyDrops, super::rules::subject("filter", "FORWARD", None),
                    format!(
                        "FORWARD policy is {policy} and {off}: nothing lets {}'s traffic through",
                        n.name
                    ),
                    format!(
                        "remove \"iptables\": false and restart docker, or accept the bridge yourself: \
                         iptables -I FORWARD -i {0} -j ACCEPT; iptables -I FORWARD -o {0} -j ACCEPT",
                        super::sh(&n.bridge)
                    ),
                );
            }
        }
        return;
    }
    if let Some(other) = fw
        .other
        .as_ref()
        .filter(|o| rules::has_docker_chains(o.tables.values()))
    {
        f.skip(format!(
            "Docker's chains are in {}, not in {} which `iptables` runs (see firewall.backend): FORWARD not judged here",
            other.backend, fw.backend
        ));
        return;
    }
    let missing = ctx.engine.missing(fw);
    let place = match ctx.engine.backend {
        super::engine_rules::Backend::Nftables => "nftables".to_string(),
        super::engine_rules::Backend::Iptables => fw.backend.clone(),
    };
    f.fail_at(Code::DockerChainsMissing, super::Subject::Host,
        format!(
            "Docker's rules are missing from {place} ({}; {}): something removed them, and nothing of Docker's \
             lets traffic through FORWARD",
            missing.join(", "),
            ctx.engine.describe()
        ),
        rules::restore_chains_hint(fw),
    );
}

/// The nftables base chains Docker does not own, on the network's way out and back.
fn foreign_tables(ctx: &Context, f: &mut Findings, fw: &FirewallObs, host: &HostObs) {
    if fw.backend == "iptables-legacy" {
        f.note(
            "iptables-legacy: its rules are read statically (iptables-save); no packet trace sees them",
        );
    }
    let Some(rs) = &fw.nftables else {
        f.note("nftables ruleset not in the snapshot (nft not installed, or an older netcheck): other tables not checked");
        return;
    };
    let uplinks = host.netns.uplinks();
    let uplink = match uplinks.as_slice() {
        [one] => Some(one.name.as_str()),
        _ => None,
    };
    let mut seen = false;
    for n in &ctx.networks {
        for (v6, subnet) in [(false, n.subnet_v4()), (true, n.subnet_v6())] {
            let Some(subnet) = subnet else { continue };
            if v6 && !n.enable_ipv6 {
                continue;
            }
            let families: &[&str] = if v6 {
                &["ip6", "inet"]
            } else {
                &["ip", "inet"]
            };
            let out_of = Flow {
                v6,
                iif: Iface::Is(&n.bridge),
                oif: uplink.map_or(Iface::NotThis(&n.bridge), Iface::Is),
                bridge: None,
                saddr: Some(subnet),
                daddr: None,
                established: false,
            };
            let back = Flow {
                iif: uplink.map_or(Iface::NotThis(&n.bridge), Iface::Is),
                oif: Iface::Is(&n.bridge),
                saddr: None,
                daddr: Some(subnet),
                established: true,
                ..out_of.clone()
            };
            let bridged = Flow {
                iif: Iface::Unknown,
                oif: Iface::Unknown,
                bridge: Some(&n.bridge),
                ..out_of.clone()
            };
            let ip = if v6 { "IPv6" } else { "IPv4" };
            let mut ways = vec![];
            if !n.internal {
                ways.push((
                    format!("{ip} traffic out of {}", n.bridge),
                    families,
                    &["forward"][..],
                    out_of,
                ));
                ways.push((
                    format!("{ip} reply traffic back into {}", n.bridge),
                    families,
                    &["forward"][..],
                    back,
                ));
                ways.push((
                    format!(
                        "{ip} traffic from {}'s containers to the host and beyond",
                        n.name
                    ),
                    &["bridge"][..],
                    &["prerouting", "input"][..],
                    bridged.clone(),
                ));
            }
            ways.push((
                format!("{ip} traffic between {}'s containers", n.name),
                &["bridge"][..],
                &["prerouting", "forward"][..],
                Flow {
                    daddr: Some(subnet),
                    ..bridged
                },
            ));
            for (what, families, hooks, flow) in ways {
                for v in nft_path::walk(rs, fw, families, hooks, &flow) {
                    seen = true;
                    match &v.drop {
                        Some(by) => f.fail_at(Code::ForeignChainDrops, super::rules::subject(&v.table, &v.chain, Some(by.as_str())),
                            format!(
                                "{}'s {what} is dropped by table {}, chain {}, {by} (hook {}, priority {}; a table Docker does not own)",
                                n.name, v.table, v.chain, v.hook, v.prio
                            ),
                            format!(
                                "let the bridge through that chain (it is not Docker's), e.g. \
                                 nft insert rule {t} {c} iifname {b} accept; \
                                 nft insert rule {t} {c} oifname {b} ct state established,related accept; \
                                 or find who wrote it (/etc/nftables.conf, a VPN's kill switch, firewalld's zones)",
                                t = v.table,
                                c = super::sh(&v.chain),
                                b = super::sh(&n.bridge),
                            ),
                        ),
                        None => f.pass(format!(
                            "nftables {}: {what}: {}",
                            v.place(),
                            v.notes.join("; ")
                        )),
                    }
                }
            }
        }
    }
    if !seen {
        f.note("nftables: no table besides Docker's and iptables' filters forwarded or bridged traffic");
    }
}

/// The IPv6 half: ip6tables' FORWARD for the networks that have IPv6. With the
/// engine's ip6tables on (the default from Docker 27) its chains are there and are
/// judged as IPv4's are; without them IPv6 traffic is routed as is, and only a FORWARD
/// that drops it stands in its way.
fn ip6tables(ctx: &Context, f: &mut Findings, fw: &FirewallObs, host: &HostObs) {
    if ctx
        .networks
        .iter()
        .all(|n| !n.enable_ipv6 || n.subnet_v6().is_none())
    {
        return;
    }
    let v6 = FirewallObs {
        backend: format!("ip6tables ({})", fw.backend),
        tables: fw.tables_v6.clone(),
        ..fw.clone()
    };
    let Some(filter) = v6.tables.get("filter") else {
        f.note("IPv6: ip6tables holds no filter table (no IPv6 rules at all, or not read): nothing of it filters IPv6 forwarding");
        return;
    };
    if ctx.engine.backend == super::engine_rules::Backend::Nftables {
        // Docker's own ip6 table carries its rules (noted with IPv4's); ip6tables'
        // FORWARD still filters.
        nftables_backend(ctx, f, filter, &[], &v6.backend, true);
    } else if rules::has_docker_chains(v6.tables.values()) {
        iptables(ctx, f, &v6, filter, true);
    } else {
        let off = host
            .engine_config
            .as_ref()
            .and_then(|c| c.ip6tables)
            .map_or("the engine writes no ip6tables rules", |on| {
                if on {
                    "the engine's ip6tables rules are missing"
                } else {
                    "\"ip6tables\": false: the engine writes no ip6tables rules"
                }
            });
        f.note(format!(
            "IPv6: {off}; IPv6 traffic is routed as ip6tables' FORWARD allows"
        ));
        nftables_backend(ctx, f, filter, &[], &v6.backend, true);
    }
}

/// With Docker's nftables backend its rules are in tables of its own, but iptables'
/// FORWARD chain still filters every packet: a DROP policy there (ufw, or one Docker
/// itself left before the switch) drops what Docker's nftables rules accept.
fn nftables_backend(
    ctx: &Context,
    f: &mut Findings,
    filter: &[String],
    nft: &[&str],
    backend: &str,
    v6: bool,
) {
    if !nft.is_empty() {
        f.note(format!("Docker programs nftables: {}", nft.join(", ")));
    }
    let tool = if v6 { "ip6tables" } else { "iptables" };
    let policy = rules::policy(filter, "FORWARD").unwrap_or("ACCEPT");
    let all: Vec<Rule> = filter.iter().filter_map(|l| Rule::parse(l)).collect();
    for n in ctx
        .networks
        .iter()
        .filter(|n| !v6 || (n.enable_ipv6 && n.subnet_v6().is_some()))
    {
        let accepts_bridge = |r: &Rule| {
            r.chain == "FORWARD"
                && r.target == Some("ACCEPT")
                && r.matches
                    .iter()
                    .any(|(neg, fl, v)| !neg && matches!(*fl, "-i" | "-o") && *v == n.bridge)
        };
        let accepted = all.iter().any(accepts_bridge);
        // A blanket drop in FORWARD before anything accepts the bridge: nothing of the
        // engine's stands before it here.
        let first_accept = all.iter().position(accepts_bridge).unwrap_or(all.len());
        if let Some((i, r)) = all[..first_accept]
            .iter()
            .enumerate()
            .filter(|(_, r)| r.chain == "FORWARD")
            .find(|(_, r)| r.drops() && r.covers_family(n, v6))
        {
            f.fail_at(
                Code::DropBeforeDocker,
                super::rules::subject("filter", "FORWARD", Some(r.line)),
                format!(
                    "{backend} FORWARD rule {} `{}` drops {}'s {} traffic",
                    i + 1,
                    r.line,
                    n.name,
                    if v6 { "IPv6" } else { "IPv4" }
                ),
                format!(
                    "delete it, or accept the bridge above it: {tool} -D {}",
                    super::sh_words(r.line.trim_start_matches("-A "))
                ),
            );
            continue;
        }
        if policy == "ACCEPT" || accepted || n.internal {
            f.pass(format!(
                "{backend}: FORWARD policy {policy}; nothing there drops {}",
                n.name
            ));
        } else {
            f.fail_at(Code::ForwardPolicyDrops, super::rules::subject("filter", "FORWARD", None),
                format!(
                    "{backend} FORWARD policy is {policy}, and nothing there accepts {}: the network's traffic is dropped there",
                    n.bridge
                ),
                format!(
                    "accept the bridge's traffic in {tool} too: {tool} -I FORWARD -i {0} -j ACCEPT; \
                     {tool} -I FORWARD -o {0} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT \
                     (or set the policy to ACCEPT if nothing else needs it)",
                    super::sh(&n.bridge)
                ),
            );
        }
    }
}
