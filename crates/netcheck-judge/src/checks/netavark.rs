//! What Podman's rules should look like: netavark's, not Docker's. Not a check: the
//! firewall checks ask it where the engine is Podman, as they ask
//! [`super::engine_rules`] where it is Docker.
//!
//! netavark (Podman 4 and later) writes a network's rules when its first container
//! starts and removes them with its last, so a network without a running container has
//! none, by design. With its iptables driver (Debian's netavark 1.4, and the default
//! before Podman 5.3 on Fedora):
//! - nat POSTROUTING `-s <subnet> -j NETAVARK-<hash>`, whose chain accepts the subnet's
//!   own traffic and masquerades the rest (`! -d 224.0.0.0/4 -j MASQUERADE`);
//! - filter FORWARD `-j NETAVARK_FORWARD`, which accepts replies to the subnet
//!   (`-d <subnet> ... RELATED,ESTABLISHED -j ACCEPT`) and all from it (`-s <subnet>`);
//! - nat NETAVARK-HOSTPORT-DNAT, reached from PREROUTING and OUTPUT for local
//!   addresses, jumping per container to NETAVARK-DN-<hash>, which holds the DNATs;
//! - no isolation between networks unless a network is created with `isolate=true`.
//!
//! With its nftables driver (netavark 1.13 and later), everything is in `table inet
//! netavark`, which netcheck does not parse: the live tests decide there.
//!
//! The rules are netavark's own: the fix for a missing one is `podman network reload`,
//! which writes them again, never a hand-written rule.

use netcheck_model::snapshot::{FirewallObs, NetworkObs};

use super::rules::{self, Rule};

/// Rewrites netavark's rules for every running container, as Podman documents for a
/// firewall reload that removed them.
pub const RELOAD: &str = "podman network reload --all";

/// Why a Podman with CNI's backend has its rules left unread.
pub const CNI: &str = "Podman runs CNI's network backend, whose rules are the CNI plugins' \
(CNI-* chains), not netavark's: netcheck does not read them, and the live tests decide";

/// netavark's own nftables table (its nftables driver).
pub const NFT_TABLE: &str = "inet netavark";

/// Whether netavark keeps its rules in nftables (its table is there).
pub fn in_nftables(fw: &FirewallObs) -> bool {
    fw.nft_tables.iter().any(|t| t == NFT_TABLE)
}

/// Whether any of netavark's iptables chains is there.
pub fn in_iptables(fw: &FirewallObs) -> bool {
    fw.tables.values().flatten().any(|l| {
        l.strip_prefix(':')
            .is_some_and(|c| c.starts_with("NETAVARK"))
    })
}

/// Whether netavark's rules are anywhere netcheck looks.
pub fn present(fw: &FirewallObs) -> bool {
    in_iptables(fw) || in_nftables(fw)
}

/// Whether a container other than netcheck's probe ran on `n` when netcheck first
/// looked: only then did what netavark had set up for it matter before the probe joined.
pub fn ran_before_probe(n: &NetworkObs) -> bool {
    (n.endpoints.iter()).any(|e| {
        !e.container_name
            .starts_with(netcheck_model::protocol::PROBE_PREFIX)
    })
}

/// The firewall as it was before the probe started, where containers ran on `n` then:
/// what their traffic met, before netavark wrote `n`'s rules again for the probe.
pub fn before_probe(fw: &FirewallObs, n: &NetworkObs) -> Option<FirewallObs> {
    let tables = fw
        .tables_before_probe
        .as_ref()
        .filter(|_| ran_before_probe(n))?;
    Some(FirewallObs {
        tables: tables.clone(),
        tables_before_probe: None,
        ..fw.clone()
    })
}

/// Why `n`'s bridge is rightly absent: Podman makes a network's bridge with its first
/// container and removes it with its last, so one without a container has none.
pub fn no_bridge_by_design(
    ctx_podman: bool,
    n: &NetworkObs,
    host: &netcheck_model::snapshot::NetnsObs,
) -> Option<String> {
    (ctx_podman && n.endpoints.is_empty() && host.link_by_name(&n.bridge).is_none()).then(|| {
        format!(
            "network {}: no container runs on it, and Podman makes a network's bridge ({}) with its first \
             container and removes it with its last",
            n.name, n.bridge
        )
    })
}

/// Whether netavark writes rules for `n` now: a bridge network with a running
/// container. Without one it has none, by design.
pub fn has_rules(n: &NetworkObs) -> bool {
    n.driver == "bridge" && !n.endpoints.is_empty()
}

/// Why a network's traffic is not masqueraded by netavark's rules.
#[derive(Debug)]
pub enum Unmasqueraded {
    /// A rule of netavark's is missing: it writes it again itself.
    Missing(String),
    /// A rule above netavark's lets the subnet out un-NATed: the rule's line.
    Bypassed { line: String, why: String },
}

impl std::fmt::Display for Unmasqueraded {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            Unmasqueraded::Missing(why) | Unmasqueraded::Bypassed { why, .. } => f.write_str(why),
        }
    }
}

/// The network's masquerade: POSTROUTING's jump for its subnet, and the MASQUERADE in
/// the chain it jumps to, with nothing above either that lets the subnet out un-NATed.
pub fn masquerade(fw: &FirewallObs, subnet: &str) -> Result<String, Unmasqueraded> {
    let nat = |chain: &str| rules::chain(fw, "nat", chain);
    let src = subnet.to_string();
    let jump = nat("POSTROUTING").into_iter().find(|r| {
        r.matches
            .iter()
            .any(|(neg, f, v)| !neg && *f == "-s" && *v == src)
            && r.target.is_some_and(|t| t.starts_with("NETAVARK-"))
    });
    let Some(jump) = jump else {
        return Err(Unmasqueraded::Missing(format!(
            "nat POSTROUTING has no jump for {subnet} to a NETAVARK chain"
        )));
    };
    // A rule above that lets all of the subnet's traffic out un-NATed (a "no NAT"
    // ACCEPT or RETURN, in POSTROUTING or in netavark's chain) wins over it.
    let postrouting = nat("POSTROUTING");
    let above = postrouting.iter().take_while(|r| r.line != jump.line);
    if let Some(r) = above.into_iter().find(|r| bypasses(r, &src)) {
        return Err(Unmasqueraded::Bypassed {
            line: r.line.to_string(),
            why: format!("nat `{}` lets {subnet} out before netavark's jump", r.line),
        });
    }
    let chain = jump.target.unwrap_or_default();
    let rules = nat(chain);
    let Some(at) = rules.iter().position(|r| r.target == Some("MASQUERADE")) else {
        return Err(Unmasqueraded::Missing(format!(
            "nat {chain} (jumped to for {subnet}) holds no MASQUERADE"
        )));
    };
    if let Some(r) = rules[..at].iter().find(|r| bypasses(r, &src)) {
        return Err(Unmasqueraded::Bypassed {
            line: r.line.to_string(),
            why: format!("nat {chain}: `{}` returns before its MASQUERADE", r.line),
        });
    }
    Ok(format!("nat {}; {}", jump.line, rules[at].line))
}

/// Whether a nat rule takes all of `subnet`'s traffic out of NAT: ACCEPT or RETURN, on
/// no match but a source range that holds the subnet (a VPN's "no NAT for 10.0.0.0/8").
fn bypasses(r: &Rule, subnet: &str) -> bool {
    let Ok(subnet) = subnet.parse::<ipnet::IpNet>() else {
        return false;
    };
    matches!(r.target, Some("ACCEPT" | "RETURN"))
        && (r.matches.iter()).all(|(neg, f, v)| {
            !neg && *f == "-s"
                && v.parse::<ipnet::IpNet>()
                    .is_ok_and(|range| range.contains(&subnet))
        })
}

/// netavark's FORWARD accepts for the network: out (`-s <subnet>`) and back
/// (`-d <subnet>`, replies), in NETAVARK_FORWARD. `Err` says which is missing.
pub fn forward(fw: &FirewallObs, subnet: &str) -> Result<(String, String), String> {
    let chain = rules::chain(fw, "filter", "NETAVARK_FORWARD");
    let accepts = |flag: &str| {
        chain
            .iter()
            .find(|r| {
                r.target == Some("ACCEPT")
                    && r.matches
                        .iter()
                        .any(|(neg, f, v)| !neg && *f == flag && *v == subnet)
            })
            .map(|r| r.line.to_string())
    };
    match (accepts("-s"), accepts("-d")) {
        (Some(out), Some(back)) => Ok((out, back)),
        (None, _) => Err(format!("NETAVARK_FORWARD accepts nothing from {subnet}")),
        (_, None) => Err(format!("NETAVARK_FORWARD accepts no replies to {subnet}")),
    }
}

/// The index in FORWARD of its jump to NETAVARK_FORWARD, if there is one.
pub fn forward_jump(filter: &[Rule]) -> Option<usize> {
    filter
        .iter()
        .filter(|r| r.chain == "FORWARD")
        .position(|r| r.target == Some("NETAVARK_FORWARD"))
}

/// netavark's DNAT for a published port: `-A NETAVARK-DN-<hash> ... --dport H -j DNAT
/// --to-destination IP:P`, in the nat table.
pub fn dnat(fw: &FirewallObs, host_port: u16, container_port: u16) -> Option<&str> {
    let port = format!("--dport {host_port} ");
    let to = format!(":{container_port}");
    fw.tables.get("nat")?.iter().map(String::as_str).find(|l| {
        l.starts_with("-A NETAVARK-DN-")
            && l.contains(&port)
            && l.contains("-j DNAT")
            && l.ends_with(&to)
    })
}

/// Whether netavark drops traffic between networks `a` and `b`: both created with
/// `--opt isolate=true` (each is isolated from the other isolated networks only), or
/// either with `isolate=strict` (later netavarks: from every other network).
/// Otherwise Podman's networks reach each other, by design.
///
/// Podman 4.3's API leaves the option out of its answers; netavark's own isolation
/// rules (`NETAVARK_ISOLATION_1`, `-i <bridge> ! -o <bridge>`), which it writes for an
/// isolated network whenever one of its containers starts, say it then.
pub fn isolated_between(a: &NetworkObs, b: &NetworkObs, fw: Option<&FirewallObs>) -> bool {
    let isolate = |n: &NetworkObs| -> Option<String> {
        if let Some(v) = n.options.get("isolate") {
            return Some(v.clone());
        }
        let marks = format!("-i {} ! -o {} ", n.bridge, n.bridge);
        let chain = fw.map(|fw| rules::chain_lines(fw, "filter", "NETAVARK_ISOLATION_1"));
        chain
            .is_some_and(|lines| lines.iter().any(|l| l.contains(&marks)))
            .then(|| "true".to_string())
    };
    let (a, b) = (isolate(a), isolate(b));
    let (a, b) = (a.as_deref(), b.as_deref());
    a == Some("strict")
        || b == Some("strict")
        || (matches!(a, Some("true" | "strict")) && matches!(b, Some("true" | "strict")))
}

/// Docker's remedies in a fix, and Podman's for the same: Podman has no daemon whose
/// restart sets the networks up again; a network's container does that when it starts,
/// and `podman network reload` writes netavark's rules. Most specific first. No
/// apostrophe in them: they must not change how a shell reads the fix around them.
const IN_PODMANS_WORDS: &[(&str, &str)] = &[
    (
        "systemctl restart docker",
        "restart the containers on the network (podman restart NAME: Podman has no daemon to restart)",
    ),
    (
        "restart the Docker daemon",
        "restart the containers on the network (Podman has no daemon to restart)",
    ),
    ("restart docker", "restart the containers on the network"),
    ("docker restart ", "podman restart "),
    ("docker network ", "podman network "),
    ("docker run ", "podman run "),
    ("docker inspect ", "podman inspect "),
    ("/etc/docker/daemon.json", "containers.conf"),
    (
        "journalctl -u docker",
        "podman logs, and journalctl -t podman",
    ),
];

/// Docker's settings named in netcheck's own fixes, each with its quotes, and Podman's
/// for the same (containers.conf is TOML). Matched whole, before the rest: these
/// phrases are netcheck's templates, never the host's words.
const PODMANS_SETTINGS: &[(&str, &str)] = &[
    (
        "\"dns\": [\"<your upstream>\"] in /etc/docker/daemon.json",
        "dns_servers = [\"<your upstream>\"] under [containers] in containers.conf",
    ),
    (
        "\"dns\" in /etc/docker/daemon.json",
        "dns_servers (under [containers]) in containers.conf",
    ),
    ("\"dns\" in daemon.json", "dns_servers in containers.conf"),
    (
        "\"bip\" in /etc/docker/daemon.json",
        "default_subnet (under [network]) in containers.conf",
    ),
    (
        "\"default-address-pools\" in /etc/docker/daemon.json",
        "default_subnet_pools (under [network]) in containers.conf",
    ),
];

/// A fix worded for Docker, in Podman's terms: one place, so that no check's fix
/// tells a Podman user to restart a daemon it does not have. Only the fix's own words
/// change: what is quoted in it (a rule, a name from the host) is left as it is.
pub fn in_podmans_words(fix: &str) -> String {
    let mut fix = fix.to_string();
    for (docker, podman) in PODMANS_SETTINGS {
        fix = fix.replace(docker, podman);
    }
    let mut out = String::with_capacity(fix.len());
    let mut plain = String::new();
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let flush = |plain: &mut String, out: &mut String| {
        let mut text = std::mem::take(plain);
        for (docker, podman) in IN_PODMANS_WORDS {
            text = text.replace(docker, podman);
        }
        out.push_str(&text);
    };
    for c in fix.chars() {
        match quote {
            None if c == '\'' || c == '"' => {
                flush(&mut plain, &mut out);
                quote = Some(c);
                out.push(c);
            }
            None => plain.push(c),
            Some('"') if escaped => {
                escaped = false;
                out.push(c);
            }
            Some('"') if c == '\\' => {
                escaped = true;
                out.push(c);
            }
            Some(q) => {
                if c == q {
                    quote = None;
                }
                out.push(c);
            }
        }
    }
    flush(&mut plain, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fw(nat: &[&str], filter: &[&str]) -> FirewallObs {
        let lines = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        serde_json::from_value(serde_json::json!({
            "backend": "iptables-nft", "version": "",
            "tables": {"nat": lines(nat), "filter": lines(filter)},
        }))
        .unwrap()
    }

    /// netavark 1.4's rules for one network with a running container, as iptables-save
    /// printed them in Podman 4.3.1's namespace.
    const NAT: &[&str] = &[
        ":POSTROUTING ACCEPT [0:0]",
        ":NETAVARK-7C874284184B8 - [0:0]",
        "-A POSTROUTING -j NETAVARK-HOSTPORT-MASQ",
        "-A POSTROUTING -s 10.89.0.0/24 -j NETAVARK-7C874284184B8",
        "-A NETAVARK-7C874284184B8 -d 10.89.0.0/24 -j ACCEPT",
        "-A NETAVARK-7C874284184B8 ! -d 224.0.0.0/4 -j MASQUERADE",
    ];
    const FILTER: &[&str] = &[
        ":FORWARD ACCEPT [0:0]",
        ":NETAVARK_FORWARD - [0:0]",
        "-A FORWARD -m comment --comment \"netavark firewall plugin rules\" -j NETAVARK_FORWARD",
        "-A NETAVARK_FORWARD -d 10.89.0.0/24 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
        "-A NETAVARK_FORWARD -s 10.89.0.0/24 -j ACCEPT",
    ];

    #[test]
    fn finds_a_networks_masquerade_and_forward_accepts() {
        let fw = fw(NAT, FILTER);
        assert!(present(&fw));
        assert!(
            masquerade(&fw, "10.89.0.0/24")
                .unwrap()
                .contains("MASQUERADE")
        );
        assert!(forward(&fw, "10.89.0.0/24").is_ok());
        let parsed: Vec<Rule> = FILTER.iter().filter_map(|l| Rule::parse(l)).collect();
        assert_eq!(forward_jump(&parsed), Some(0));
    }

    #[test]
    fn says_what_is_missing() {
        let without = |lines: &[&str], gone: &str| -> Vec<String> {
            lines
                .iter()
                .filter(|l| !l.contains(gone))
                .map(|s| s.to_string())
                .collect()
        };
        let nat = without(NAT, "-j MASQUERADE");
        let nat: Vec<&str> = nat.iter().map(String::as_str).collect();
        let e = masquerade(&fw(&nat, FILTER), "10.89.0.0/24").unwrap_err();
        assert!(e.to_string().contains("holds no MASQUERADE"), "{e}");
        let mut bypassed: Vec<&str> = NAT.to_vec();
        bypassed.insert(4, "-A NETAVARK-7C874284184B8 -j RETURN");
        let e = masquerade(&fw(&bypassed, FILTER), "10.89.0.0/24").unwrap_err();
        assert!(matches!(e, Unmasqueraded::Bypassed { .. }), "{e}");
        let e = masquerade(&fw(NAT, FILTER), "10.90.0.0/24").unwrap_err();
        assert!(e.to_string().contains("no jump for 10.90.0.0/24"), "{e}");
        let filter = without(FILTER, "-s 10.89.0.0/24 -j ACCEPT");
        let filter: Vec<&str> = filter.iter().map(String::as_str).collect();
        assert!(forward(&fw(NAT, &filter), "10.89.0.0/24").is_err());
        assert!(!present(&fw(&[], &[":FORWARD ACCEPT [0:0]"])));
    }

    #[test]
    fn dockers_remedies_are_said_in_podmans_words() {
        let fix =
            in_podmans_words("ip addr add 10.89.0.1/24 dev podman1 (or systemctl restart docker)");
        assert_eq!(
            fix,
            "ip addr add 10.89.0.1/24 dev podman1 (or restart the containers on the network \
             (podman restart NAME: Podman has no daemon to restart))"
        );
        assert!(
            !in_podmans_words("restart docker; set mtu in /etc/docker/daemon.json")
                .contains("docker")
        );
        let dns = in_podmans_words(
            "or set \"dns\": [\"<your upstream>\"] in /etc/docker/daemon.json; then restart docker",
        );
        assert_eq!(
            dns,
            "or set dns_servers = [\"<your upstream>\"] under [containers] in containers.conf; \
             then restart the containers on the network"
        );
        // What is quoted is the host's, and stays as it was: a rule's comment that says
        // "restart docker" is still the rule to delete, and still one word to the shell.
        let hostile = "iptables -D FORWARD -m comment --comment 'x restart docker $(id)' -j DROP; restart docker";
        let fix = in_podmans_words(hostile);
        assert!(fix.contains("'x restart docker $(id)'"), "{fix}");
        assert!(
            fix.ends_with("; restart the containers on the network"),
            "{fix}"
        );
        let words = shlex::split(fix.split(';').next().unwrap()).unwrap();
        assert!(
            words.contains(&"x restart docker $(id)".to_string()),
            "{words:?}"
        );
    }
}
