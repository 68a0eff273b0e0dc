//! Reading `iptables-save` rules, for the checks that judge the firewall. Not a check.

use ipnet::IpNet;

use netcheck_model::snapshot::{FirewallObs, HostObs, NetworkObs};

/// One `-A CHAIN ... -j TARGET` line, split into its matches.
#[derive(Debug)]
pub struct Rule<'a> {
    pub line: &'a str,
    pub chain: &'a str,
    pub target: Option<&'a str>,
    /// `(negated, flag, value)`, e.g. `(true, "-o", "docker0")` for `! -o docker0`.
    pub matches: Vec<(bool, &'a str, &'a str)>,
}

impl<'a> Rule<'a> {
    pub fn parse(line: &'a str) -> Option<Rule<'a>> {
        let mut words = words(line).into_iter().peekable();
        if words.next()? != "-A" {
            return None;
        }
        let chain = words.next()?;
        let mut rule = Rule {
            line,
            chain,
            target: None,
            matches: vec![],
        };
        let mut negated = false;
        while let Some(w) = words.next() {
            match w {
                "!" => negated = true,
                "-j" | "-g" => {
                    rule.target = words.next();
                    // What follows the target are its options (`--reject-with ...`,
                    // `--to-destination ...`), not matches.
                    break;
                }
                // Comments say nothing about what a rule matches.
                "--comment" => {
                    words.next();
                }
                "-m" => {
                    if words.peek() == Some(&"comment") {
                        words.next();
                    } else {
                        rule.matches.push((negated, w, words.next().unwrap_or("")));
                    }
                    negated = false;
                }
                flag if flag.starts_with('-') => {
                    let value = match words.peek() {
                        Some(v) if !v.starts_with('-') && *v != "!" => words.next().unwrap_or(""),
                        _ => "",
                    };
                    rule.matches.push((negated, flag, value));
                    negated = false;
                }
                _ => {}
            }
        }
        Some(rule)
    }

    pub fn drops(&self) -> bool {
        matches!(self.target, Some("DROP" | "REJECT"))
    }

    /// Whether this rule matches every packet of `n`'s traffic in some direction, on
    /// interfaces and addresses alone: no protocol, port or state match. Such a rule
    /// decides the whole network's fate; a narrower one is a deliberate policy.
    /// `v6`: the rule is an ip6tables rule, judged against the network's IPv6 subnet.
    pub fn covers_family(&self, n: &NetworkObs, v6: bool) -> bool {
        let subnet = if v6 { n.subnet_v6() } else { n.subnet_v4() };
        self.matches.iter().all(|(negated, flag, value)| {
            let iface = |v: &str| match v.strip_suffix('+') {
                Some(prefix) => n.bridge.starts_with(prefix),
                None => v == n.bridge,
            };
            match *flag {
                "-i" | "-o" => !negated && iface(value) || *negated && !iface(value),
                "-s" | "-d" => {
                    let Ok(net) = value
                        .parse::<IpNet>()
                        .or_else(|_| value.parse::<std::net::IpAddr>().map(IpNet::from))
                    else {
                        return false;
                    };
                    // Only a range that holds the whole subnet: a rule for one
                    // container's address is not the network's fate.
                    !negated
                        && subnet.is_some_and(|s| {
                            net.contains(&s.network()) && net.prefix_len() <= s.prefix_len()
                        })
                }
                _ => false,
            }
        })
    }
}

/// A rule line's words, a double-quoted string (a comment) as one word.
fn words(line: &str) -> Vec<&str> {
    let mut out = vec![];
    let mut rest = line.trim_start();
    while !rest.is_empty() {
        let end = if let Some(quoted) = rest.strip_prefix('"') {
            quoted.find('"').map(|i| i + 2).unwrap_or(rest.len())
        } else {
            rest.find(char::is_whitespace).unwrap_or(rest.len())
        };
        out.push(&rest[..end]);
        rest = rest[end..].trim_start();
    }
    out
}

/// The rules of `chain` in `table`, in order.
pub fn chain<'a>(fw: &'a FirewallObs, table: &str, chain: &str) -> Vec<Rule<'a>> {
    chain_lines(fw, table, chain)
        .into_iter()
        .filter_map(Rule::parse)
        .filter(|r| r.chain == chain)
        .collect()
}

/// The lines of `chain` in `table`, in order, not yet split into words. Checks ask per
/// network: a host of a hundred networks has thousands of rules, and parsing a whole
/// chain for each network cost more than the rest of the judging.
pub fn chain_lines<'a>(fw: &'a FirewallObs, table: &str, chain: &str) -> Vec<&'a str> {
    let head = format!("-A {chain} ");
    (fw.tables.get(table).into_iter().flatten())
        .map(|l| l.as_str())
        .filter(|l| l.trim_start().starts_with(&head))
        .collect()
}

/// Docker's rule that lets a bridge's traffic out, in any chain: `-i BR ! -o BR -j
/// ACCEPT` (Docker 20-27, in FORWARD) or `-i BR -j ACCEPT` (Docker 28, DOCKER-FORWARD).
pub fn accepts_out<'a>(fw: &'a FirewallObs, bridge: &str) -> Option<&'a str> {
    let filter = fw.tables.get("filter")?;
    // Only a line that names the bridge can be its rule (see `chain`).
    let named = filter.iter().filter(|l| l.contains(bridge));
    named.filter_map(|l| Rule::parse(l)).find_map(|r| {
        let ok = r.target == Some("ACCEPT")
            && r.matches
                .iter()
                .any(|(neg, fl, v)| !neg && *fl == "-i" && *v == bridge)
            && r.matches.iter().all(|(neg, fl, v)| match *fl {
                "-i" => !neg && *v == bridge,
                "-o" => *neg && *v == bridge,
                _ => false,
            });
        ok.then_some(r.line)
    })
}

/// Docker's rule that lets replies back into a bridge: `-o BR ... RELATED,ESTABLISHED
/// -j ACCEPT`, in FORWARD (Docker 20-27) or DOCKER-CT (Docker 28).
pub fn accepts_back<'a>(fw: &'a FirewallObs, bridge: &str) -> Option<&'a str> {
    let filter = fw.tables.get("filter")?;
    let named = filter.iter().filter(|l| l.contains(bridge));
    named.filter_map(|l| Rule::parse(l)).find_map(|r| {
        let ok = r.target == Some("ACCEPT")
            && r.matches
                .iter()
                .any(|(neg, fl, v)| !neg && *fl == "-o" && *v == bridge)
            && r.line.contains("ESTABLISHED");
        ok.then_some(r.line)
    })
}

/// A built-in chain's policy (`ACCEPT`, `DROP`), from its `:FORWARD DROP` line.
pub fn policy<'a>(lines: &'a [String], chain: &str) -> Option<&'a str> {
    lines.iter().find_map(|l| {
        let mut w = l.strip_prefix(':')?.split_whitespace();
        (w.next()? == chain).then(|| w.next()).flatten()
    })
}

pub use netcheck_model::snapshot::has_docker_chains;

/// Docker's own nftables tables, if it keeps its rules there.
pub fn docker_nft_tables(fw: &FirewallObs) -> Vec<&str> {
    fw.docker_nft_tables()
}

/// Whether Docker's rules are to be read in iptables.
pub fn docker_in_iptables(fw: &FirewallObs) -> bool {
    fw.docker_in_iptables()
}

/// Docker's own rules, not a host firewall's: its chains and jumps, and the rules it
/// writes for its bridges (`bridges`) in the built-in chains.
pub fn is_dockers(rule: &Rule, bridges: &[&str]) -> bool {
    rule.chain.starts_with("DOCKER")
        || rule.target.is_some_and(|t| t.starts_with("DOCKER"))
        || rule
            .matches
            .iter()
            .any(|(_, flag, value)| matches!(*flag, "-i" | "-o") && bridges.contains(value))
}

/// Whether a traced verdict is in a table iptables-nft writes (`ip filter`, `ip6 raw`):
/// its fix is an iptables command, not an nft one.
pub fn is_iptables_table(v: &netcheck_model::snapshot::TraceVerdict) -> bool {
    matches!(v.family.as_str(), "ip" | "ip6")
        && matches!(
            v.table.as_str(),
            "filter" | "nat" | "mangle" | "raw" | "security"
        )
}

/// A finding's subject: a chain of a table, and the rule where one decided.
pub fn subject(table: &str, chain: &str, rule: Option<&str>) -> super::Subject {
    super::Subject::Rule {
        table: table.into(),
        chain: chain.into(),
        rule: rule.map(str::to_string),
    }
}

/// Where the engine was told to keep no iptables rules: `"iptables": false in
/// /etc/docker/daemon.json`.
pub fn iptables_off(host: &HostObs) -> Option<String> {
    let config = host.engine_config.as_ref()?;
    (config.iptables == Some(false)).then(|| {
        let source = config
            .sources
            .iter()
            .find(|s| s.contains("iptables=false"))
            .or(config.sources.first())
            .map(String::as_str)
            .unwrap_or("the engine's configuration");
        if source.starts_with("dockerd ") {
            format!("the engine runs `{source}`")
        } else {
            format!("\"iptables\": false in {source}")
        }
    })
}

/// Whether firewalld runs here: its nftables table, or its iptables chains.
pub fn firewalld(fw: &FirewallObs) -> bool {
    fw.nft_tables.iter().any(|t| t.ends_with(" firewalld"))
        || fw
            .tables
            .values()
            .flatten()
            .any(|l| l.starts_with(":FORWARD_direct") || l.starts_with(":FWD_"))
}

/// How to get Docker's chains back, and what removed them.
pub fn restore_chains_hint(fw: &FirewallObs) -> String {
    let mut hint = "restart the engine so that it writes its chains again: systemctl restart docker; \
                    then find what removed them (a firewall reload, `nft flush ruleset`, a script running \
                    iptables -F/-X)"
        .to_string();
    if firewalld(fw) {
        hint.push_str(
            "; with firewalld: put Docker's bridges in its docker zone \
             (firewall-cmd --permanent --zone=docker --add-interface=docker0; firewall-cmd --reload) \
             and restart docker after every firewalld reload",
        );
    }
    hint
}

/// A DNAT rule's `--to-destination 172.17.0.2:8080`: its address, and its port if one.
pub fn to_destination(line: &str) -> Option<(std::net::IpAddr, Option<u16>)> {
    let mut words = line.split_whitespace();
    words.find(|w| *w == "--to-destination")?;
    let value = words.next()?;
    if let Ok(sa) = value.parse::<std::net::SocketAddr>() {
        return Some((sa.ip(), Some(sa.port())));
    }
    // `ADDR`, `ADDR-ADDR` or `ADDR:PORT-PORT`: the first address, and no single port.
    let host = value.split(['-', ':']).next()?;
    Some((host.parse().ok()?, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net() -> NetworkObs {
        serde_json::from_value(serde_json::json!({
            "id": "x", "name": "n", "driver": "bridge", "bridge": "br-1", "internal": false,
            "ip_masquerade": true, "enable_ipv6": false,
            "ipam": [{"subnet": "172.18.0.0/16", "gateway": null}], "options": {}, "endpoints": []
        }))
        .unwrap()
    }

    #[test]
    fn parses_negation_targets_and_comments() {
        let r = Rule::parse("-A FORWARD -i br-1 ! -o br-1 -m comment --comment \"x y\" -j ACCEPT")
            .unwrap();
        assert_eq!(r.chain, "FORWARD");
        assert_eq!(r.target, Some("ACCEPT"));
        assert_eq!(r.matches, [(false, "-i", "br-1"), (true, "-o", "br-1")]);
    }

    #[test]
    fn covers_only_blanket_rules_of_the_network() {
        let n = net();
        let covers = |l: &str| Rule::parse(l).unwrap().covers_family(&n, false);
        assert!(covers("-A FORWARD -j DROP"));
        assert!(covers("-A DOCKER-USER -s 172.18.0.0/16 -j DROP"));
        assert!(covers("-A DOCKER-USER -s 172.16.0.0/12 -j DROP"));
        assert!(!covers("-A DOCKER-USER -s 172.18.0.5/32 -j DROP"));
        assert!(covers(
            "-A FORWARD -i br-1 -m comment --comment \"a -p b\" -j REJECT --reject-with icmp-host-prohibited"
        ));
        assert!(covers("-A DOCKER-USER -i br+ -j DROP"));
        assert!(!covers("-A DOCKER-USER -s 10.0.0.0/8 -j DROP"));
        assert!(!covers("-A DOCKER-USER -i docker0 -j DROP"));
        assert!(!covers(
            "-A DOCKER-USER -s 172.18.0.0/16 -p tcp --dport 25 -j DROP"
        ));
        assert!(!covers("-A DOCKER-USER ! -s 172.18.0.0/16 -j DROP"));
    }
}
