//! Redaction (`--redact`): a snapshot fit for a public bug ticket.
//!
//! Replaces hostnames, MAC addresses, container names and ids, and IP addresses outside
//! Docker's own subnets with pseudonyms. The same value always gets the same pseudonym,
//! so the report stays readable ("container-2 has no default route"). It works on the
//! snapshot, before judging: every report rendered from it, in any format, only ever
//! sees pseudonyms, and so do the messages the judges write.
//!
//! Redaction never changes a verdict. Judges compare addresses with prefixes (a VPN's
//! /12 over Docker's /16, a gateway inside its subnet, a private resolver): so an
//! address's pseudonym keeps everything a judge can ask of it, and nothing more:
//! - its class: a private address stays in its RFC 1918 block, link-local stays
//!   link-local, public stays public (see [`ANCHORS_V4`]);
//! - its relation to every other address: the mapping is prefix-preserving (as
//!   Crypto-PAn), so two addresses share as many leading bits after redaction as before,
//!   and a route that overlapped a subnet still does;
//! - its relation to Docker's subnets, which are kept as they are.
//!
//! The bits that get rewritten are chosen by a key drawn for each redaction, so a
//! pseudonym cannot be reversed by trying candidates. Well-known public resolvers are
//! kept: they identify nobody, and their role (the engine's fallback) is the finding.
//! MACs become locally administered MACs, so a redacted snapshot still parses and judges.

use ipnet::IpNet;
use serde_json::Value;

use netcheck_model::protocol::Purpose;
use netcheck_model::snapshot::Snapshot;

// Each module one step of a pseudonym: the address's (prefix-preserving, its class
// kept), the table of pseudonyms a redaction fills, and the rewriting of free text.
mod addresses;
mod pseudonyms;
mod text;

use pseudonyms::Pseudonyms;
use text::redact_text;

fn walk(value: &mut Value, p: &mut Pseudonyms, docker: &[IpNet]) {
    match value {
        Value::String(s) => *s = redact_text(s, p, docker),
        Value::Array(items) => items.iter_mut().for_each(|v| walk(v, p, docker)),
        // Tags are the format's, not the host's: a container called `error` must not
        // rewrite `"state": "error"`.
        Value::Object(map) => map
            .iter_mut()
            .filter(|(k, _)| {
                !matches!(
                    k.as_str(),
                    "state" | "schema" | "status" | "kind" | "error_kind" | "protocol"
                )
            })
            .for_each(|(k, v)| match (k.as_str(), v) {
                // A request's purpose, part by part: its separators and tags are the
                // format's, its names the host's.
                ("purpose", Value::String(s)) => {
                    *s = Purpose::parse(s)
                        .map_parts(|part| redact_text(part, p, docker))
                        .to_string()
                }
                (_, v) => walk(v, p, docker),
            }),
        _ => {}
    }
}

/// The snapshot with every identifying value replaced by its pseudonym.
pub fn redact(snapshot: &Snapshot) -> Result<Snapshot, String> {
    let mut p = Pseudonyms::with_random_key();
    let mut docker_subnets = vec![];
    if let Some(d) = snapshot.docker.ok() {
        p.name(&d.engine.hostname, "host");
        // A fully qualified name's host part may appear alone.
        if let Some((short, _)) = d.engine.hostname.split_once('.') {
            p.name(short, "host");
        }
        for n in &d.networks {
            docker_subnets.extend(n.ipam.iter().filter_map(|c| c.subnet));
            for e in &n.endpoints {
                e.mac.as_deref().into_iter().for_each(|m| p.mac(m));
            }
        }
        for c in d.containers.iter().filter(|c| !c.probe) {
            p.name(&c.name, "container");
            p.container_id(&c.id);
        }
        for n in &d.networks {
            for e in n
                .endpoints
                .iter()
                .filter(|e| !e.container_name.starts_with("netcheck-probe-"))
            {
                p.name(&e.container_name, "container");
                p.container_id(&e.container_id);
            }
        }
    }
    let namespaces = snapshot
        .host
        .ok()
        .map(|h| &h.netns)
        .into_iter()
        .chain(
            snapshot
                .docker
                .ok()
                .into_iter()
                .flat_map(|d| d.containers.iter().filter_map(|c| c.interior.ok())),
        )
        .chain(snapshot.probe.ok().map(|pr| &pr.report.netns));
    for ns in namespaces {
        for l in &ns.links {
            l.mac.as_deref().into_iter().for_each(|m| p.mac(m));
        }
    }
    // The search domains of every resolver configuration name the user's network.
    let host = snapshot.host.ok();
    let confs = snapshot
        .probe
        .ok()
        .map(|pr| pr.report.resolv_conf.as_str())
        .into_iter()
        .chain(host.and_then(|h| h.resolv_conf.as_deref()))
        .chain(host.and_then(|h| h.resolved_conf.as_deref()))
        .chain(
            snapshot
                .docker
                .ok()
                .into_iter()
                .flat_map(|d| d.containers.iter().filter_map(|c| c.resolv_conf.as_deref())),
        );
    for conf in confs {
        for line in conf.lines() {
            let mut words = line.split_whitespace();
            if matches!(words.next(), Some("search" | "domain")) {
                words.for_each(|d| p.name(d, "domain"));
            }
        }
    }
    let mut value = serde_json::to_value(snapshot).expect("a snapshot serialises");
    walk(&mut value, &mut p, &docker_subnets);
    let mut redacted: Snapshot = serde_json::from_value(value)
        .map_err(|e| format!("the redacted snapshot no longer parses: {e}"))?;
    if let Some(e) = &mut redacted.engine {
        e.endpoint = endpoint(&e.endpoint);
    }
    Ok(redacted)
}

/// An engine's endpoint names a host, a user or a home directory: only its scheme and
/// the well-known local socket are kept.
fn endpoint(endpoint: &str) -> String {
    if endpoint == format!("unix://{}", netcheck_model::protocol::DEFAULT_SOCKET) {
        return endpoint.to_string();
    }
    match endpoint.split_once("://") {
        Some((scheme, _)) => format!("{scheme}://redacted"),
        None => "redacted".into(),
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::addresses::ANCHORS_V4;
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn engine_endpoints_are_redacted_but_the_local_socket() {
        assert_eq!(endpoint("tcp://10.1.2.3:2376"), "tcp://redacted");
        assert_eq!(endpoint("ssh://alice@build-7.corp"), "ssh://redacted");
        assert_eq!(
            endpoint("unix:///home/alice/.docker/run/docker.sock"),
            "unix://redacted"
        );
        assert_eq!(
            endpoint("unix:///var/run/docker.sock"),
            "unix:///var/run/docker.sock"
        );
    }

    #[test]
    fn tokens_not_substrings() {
        let mut p = Pseudonyms::with_random_key();
        p.name("app", "container");
        let docker = [net("172.17.0.0/16")];
        assert_eq!(
            redact_text("app is happy; app.", &mut p, &docker),
            "container-1 is happy; container-1."
        );
        let text = redact_text(
            "nameserver 10.255.255.53\nvia 172.17.0.1:80 and 10.255.255.53:53",
            &mut p,
            &docker,
        );
        let resolver = p.map["10.255.255.53"].clone();
        assert_eq!(
            text,
            format!("nameserver {resolver}\nvia 172.17.0.1:80 and {resolver}:53")
        );
        assert_ne!(resolver, "10.255.255.53");
        let ll = redact_text("fe80::42:e3ff:fe33:abfd/64", &mut p, &docker);
        let ll_net = net(&ll);
        assert!(
            net("fe80::/10").contains(&ll_net.addr()) && ll_net.prefix_len() == 64,
            "{ll}"
        );
        assert_ne!(ll, "fe80::42:e3ff:fe33:abfd/64");
    }

    /// Ranges in every rule syntax: iptables' SNAT `--to-source A-B[:P-Q]`, iprange's
    /// `--src-range A-B`, nft's `ip saddr A-B` and `snat to A-B`, IPv6 too; prefixes
    /// in nft's and iptables' syntax.
    #[test]
    fn ranges_and_prefixes_are_redacted_in_every_rule_syntax() {
        let docker = [net("172.17.0.0/16")];
        let mut p = Pseudonyms::with_random_key();
        p.name("web-1", "container");
        for (rule, secrets) in [
            (
                "-A POSTROUTING -s 172.17.0.0/16 -j SNAT --to-source 93.184.216.34-93.184.216.40",
                &["93.184.216.34", "93.184.216.40"][..],
            ),
            (
                "-A POSTROUTING -j SNAT --to-source 93.184.216.34-93.184.216.40:1024-2048",
                &["93.184.216.34", "93.184.216.40"],
            ),
            (
                "-A FORWARD -m iprange --src-range 10.20.30.1-10.20.30.9 -j DROP",
                &["10.20.30.1", "10.20.30.9"],
            ),
            (
                "ip saddr 10.20.30.1-10.20.30.9 drop; snat ip to 93.184.216.34-93.184.216.40",
                &["10.20.30.1", "10.20.30.9", "93.184.216.34"],
            ),
            (
                "ip6 saddr 2001:db8:1::1-2001:db8:1::9 drop; ip daddr 93.184.216.0/24 accept",
                &["2001:db8:1::1", "2001:db8:1::9", "93.184.216.0"],
            ),
            (
                "ip saddr { 10.20.30.0/24, 10.20.31.7 } counter",
                &["10.20.30.0", "10.20.31.7"],
            ),
        ] {
            let out = redact_text(rule, &mut p, &docker);
            for s in secrets {
                assert!(!out.contains(s), "{rule}\n -> {out}");
            }
        }
        // A range's ends stay a range of the same span; ports and hyphenated names
        // stay as they were.
        let out = redact_text(
            "--to-source 10.0.0.1-10.0.0.9:80-90 web-1 my-app",
            &mut p,
            &docker,
        );
        assert!(out.ends_with(":80-90 container-1 my-app"), "{out}");
        let (a, b) = out
            .trim_start_matches("--to-source ")
            .split_once(' ')
            .unwrap()
            .0
            .split_once('-')
            .unwrap();
        let a: IpAddr = a.parse().unwrap();
        let b: IpAddr = b.split(':').next().unwrap().parse().unwrap();
        // 10.0.0.1 and 10.0.0.9 share 28 leading bits: their pseudonyms do too.
        assert!(IpNet::new(a, 28).unwrap().trunc().contains(&b), "{out}");
        assert_ne!(a.to_string(), "10.0.0.1");
    }

    #[test]
    fn class_and_block_are_kept() {
        let docker = [net("172.17.0.0/16")];
        for _ in 0..20 {
            let mut p = Pseudonyms::with_random_key();
            for (addr, block) in [
                ("10.20.30.40", "10.0.0.0/8"),
                ("172.31.9.9", "172.16.0.0/12"),
                ("192.168.1.7", "192.168.0.0/16"),
                ("100.100.1.1", "100.64.0.0/10"),
                ("169.254.77.1", "169.254.0.0/16"),
                ("fd00::2", "fc00::/7"),
                ("fe80::1", "fe80::/10"),
            ] {
                let ip: IpAddr = addr.parse().unwrap();
                let out: IpAddr = p.ip(ip, &docker).parse().unwrap();
                assert!(net(block).contains(&out), "{addr} became {out}");
                assert!(
                    !docker[0].contains(&out),
                    "{addr} became {out}, inside Docker's"
                );
            }
            // A public address stays out of every special block.
            let out: IpAddr = p
                .ip("93.184.216.34".parse().unwrap(), &docker)
                .parse()
                .unwrap();
            let IpAddr::V4(v4) = out else { panic!() };
            assert!(
                !v4.is_private() && !v4.is_loopback() && !v4.is_link_local(),
                "{v4}"
            );
            assert!(
                !ANCHORS_V4.iter().any(|(a, l)| {
                    IpNet::new(IpAddr::V4(Ipv4Addr::from(*a)), *l)
                        .unwrap()
                        .contains(&out)
                }),
                "{v4}"
            );
        }
    }

    #[test]
    fn overlaps_and_prefixes_are_kept() {
        let docker = [net("172.17.0.0/16")];
        for _ in 0..20 {
            let mut p = Pseudonyms::with_random_key();
            // A VPN's /12 over Docker's /16 still covers it; a /13 beside it still misses.
            let wide = net(&redact_text("172.16.0.0/12", &mut p, &docker));
            assert_eq!(wide.prefix_len(), 12);
            assert!(wide.contains(&docker[0]), "{wide}");
            let beside = net(&redact_text("172.24.0.0/13", &mut p, &docker));
            assert!(!beside.contains(&docker[0].network()), "{beside}");
            assert_eq!(beside, beside.trunc(), "a network address stays one");
            // A host and its gateway stay in one /24; another /24 stays apart.
            let a = net(&redact_text("10.1.2.3/24", &mut p, &docker));
            let gw: IpAddr = redact_text("10.1.2.1", &mut p, &docker).parse().unwrap();
            let other: IpAddr = redact_text("10.1.3.1", &mut p, &docker).parse().unwrap();
            assert!(a.contains(&gw) && !a.contains(&other), "{a} {gw} {other}");
        }
    }

    #[test]
    fn purposes_are_redacted_by_part() {
        let mut p = Pseudonyms::with_random_key();
        p.name("app", "container");
        p.name("db", "container");
        let mut value = serde_json::json!({
            "purpose": "isolation:front:back:app:db",
            "requests": [{"purpose": "icc:front:app"}, {"purpose": "publish:hairpin"}],
        });
        walk(&mut value, &mut p, &[]);
        assert_eq!(
            value,
            serde_json::json!({
                "purpose": "isolation:front:back:container-1:container-2",
                "requests": [{"purpose": "icc:front:container-1"}, {"purpose": "publish:hairpin"}],
            })
        );
    }

    #[test]
    fn names_match_as_written_and_macs_in_any_case() {
        let mut p = Pseudonyms::with_random_key();
        p.name("docker", "host");
        p.mac("02:42:ac:11:00:02");
        let text = redact_text(
            "-A DOCKER -j ACCEPT on docker; lladdr 02:42:AC:11:00:02",
            &mut p,
            &[],
        );
        assert_eq!(
            text,
            "-A DOCKER -j ACCEPT on host-1; lladdr 02:00:00:00:00:01"
        );
    }

    #[test]
    fn resolvers_and_own_ranges_are_kept() {
        let mut p = Pseudonyms::with_random_key();
        let docker = [net("172.17.0.0/16")];
        // Public resolvers by role, as data: a redaction test sends nothing anywhere.
        let public_v4 = std::net::Ipv4Addr::new(8, 8, 8, 8);
        let public_v6 = std::net::Ipv6Addr::new(0x2001, 0x4860, 0x4860, 0, 0, 0, 0, 0x8888);
        let text = format!(
            "nameserver {public_v4}\nnameserver {public_v6}\npeer 198.18.0.2 via 127.0.0.11"
        );
        let text = text.as_str();
        assert_eq!(redact_text(text, &mut p, &docker), text);
    }
}
