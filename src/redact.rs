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

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use serde_json::Value;

use crate::protocol::Purpose;
use crate::snapshot::Snapshot;

/// Well-known public resolvers: kept, so that "the engine's public fallback" stays a
/// finding after redaction. They say nothing about the host.
const RESOLVERS: [IpAddr; 12] = [
    IpAddr::V4(Ipv4Addr::new(8, 8, 8, 8)),
    IpAddr::V4(Ipv4Addr::new(8, 8, 4, 4)),
    IpAddr::V4(Ipv4Addr::new(1, 1, 1, 1)),
    IpAddr::V4(Ipv4Addr::new(1, 0, 0, 1)),
    IpAddr::V4(Ipv4Addr::new(9, 9, 9, 9)),
    IpAddr::V4(Ipv4Addr::new(149, 112, 112, 112)),
    IpAddr::V4(Ipv4Addr::new(208, 67, 222, 222)),
    IpAddr::V4(Ipv4Addr::new(208, 67, 220, 220)),
    IpAddr::V6(Ipv6Addr::new(0x2001, 0x4860, 0x4860, 0, 0, 0, 0, 0x8888)),
    IpAddr::V6(Ipv6Addr::new(0x2001, 0x4860, 0x4860, 0, 0, 0, 0, 0x8844)),
    IpAddr::V6(Ipv6Addr::new(0x2606, 0x4700, 0x4700, 0, 0, 0, 0, 0x1111)),
    IpAddr::V6(Ipv6Addr::new(0x2606, 0x4700, 0x4700, 0, 0, 0, 0, 0x1001)),
];

/// The IPv4 special-purpose blocks (RFC 6890 and friends). A pseudonym stays inside the
/// block its address is in, and outside every block its address is not in: private stays
/// private in the same block size, link-local stays link-local, public stays public.
const ANCHORS_V4: &[([u8; 4], u8)] = &[
    ([0, 0, 0, 0], 8),
    ([10, 0, 0, 0], 8),
    ([100, 64, 0, 0], 10),
    ([127, 0, 0, 0], 8),
    ([169, 254, 0, 0], 16),
    ([172, 16, 0, 0], 12),
    ([192, 0, 0, 0], 24),
    ([192, 0, 2, 0], 24),
    ([192, 168, 0, 0], 16),
    ([198, 18, 0, 0], 15),
    ([198, 51, 100, 0], 24),
    ([203, 0, 113, 0], 24),
    ([224, 0, 0, 0], 4),
    ([240, 0, 0, 0], 4),
];

/// The IPv6 counterparts: global unicast, documentation, unique local, link-local,
/// multicast, IPv4-mapped and NAT64.
const ANCHORS_V6: &[(u128, u8)] = &[
    (0, 96),
    (0xffff << 32, 96),
    (0x0064_ff9b << 96, 96),
    (0x2 << 124, 3),
    (0x2001_0db8 << 96, 32),
    (0xfc << 120, 7),
    (0xfe80 << 112, 10),
    (0xff << 120, 8),
];

/// Addresses that say nothing about a host, kept as they are.
fn keep(ip: IpAddr, docker: &[IpNet]) -> bool {
    if docker.iter().any(|n| n.contains(&ip)) || RESOLVERS.contains(&ip) {
        return true;
    }
    match ip {
        // 198.18.0.0/15 is netcheck's own outside peer.
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || (v4.octets()[0] == 198 && v4.octets()[1] & 0xfe == 18)
        }
        IpAddr::V6(v6) => v6.is_loopback() || v6.is_unspecified() || v6.is_multicast(),
    }
}

/// An address as `width` bits, most significant first, in the low bits of a u128.
fn bits(ip: IpAddr) -> (u128, u32) {
    match ip {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32),
        IpAddr::V6(v6) => (u128::from(v6), 128),
    }
}

/// The first `n` of `width` bits of `x`.
fn top(x: u128, n: u32, width: u32) -> u128 {
    x.checked_shr(width - n).unwrap_or(0)
}

/// Prefix-preserving pseudonymisation: bit i of the result is bit i of `ip`, flipped
/// or not by a keyed hash of the bits before it. Two addresses that share k leading
/// bits therefore share exactly k after. A bit is never flipped where the bits before
/// it lead towards an anchor (a special block or a Docker subnet): so an address keeps
/// its distance to each anchor, inside it or outside it.
fn pseudonymise(ip: IpAddr, key: &[u8; 32], docker: &[IpNet]) -> IpAddr {
    use sha2::Digest;
    let (x, width) = bits(ip);
    let mut anchors: Vec<(u128, u32)> = match ip {
        IpAddr::V4(_) => ANCHORS_V4
            .iter()
            .map(|(a, len)| (u128::from(u32::from(Ipv4Addr::from(*a))), u32::from(*len)))
            .collect(),
        IpAddr::V6(_) => ANCHORS_V6
            .iter()
            .map(|(a, len)| (*a, u32::from(*len)))
            .collect(),
    };
    anchors.extend(docker.iter().filter_map(|n| {
        let (net, w) = bits(n.network());
        (w == width).then_some((net, u32::from(n.prefix_len())))
    }));
    let mut out = x;
    for i in 0..width {
        let prefix = top(x, i, width);
        let towards_anchor = anchors
            .iter()
            .any(|(net, len)| i < *len && top(*net, i, width) == prefix);
        if towards_anchor {
            continue;
        }
        let mut h = sha2::Sha256::new();
        h.update(key);
        h.update(width.to_be_bytes());
        h.update(i.to_be_bytes());
        h.update(prefix.to_be_bytes());
        if h.finalize()[0] & 1 == 1 {
            out ^= 1 << (width - 1 - i);
        }
    }
    match ip {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(out as u32)),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(out)),
    }
}

#[derive(Default)]
struct Pseudonyms {
    /// Original token -> pseudonym, for names, ids, MACs and addresses alike.
    map: BTreeMap<String, String>,
    counts: BTreeMap<&'static str, u32>,
    /// Picks which address bits are rewritten; drawn afresh for each redaction.
    key: [u8; 32],
}

impl Pseudonyms {
    fn with_random_key() -> Self {
        Pseudonyms {
            key: rand::random(),
            ..Pseudonyms::default()
        }
    }

    fn next(&mut self, class: &'static str) -> u32 {
        let n = self.counts.entry(class).or_default();
        *n += 1;
        *n
    }

    fn name(&mut self, original: &str, class: &'static str) {
        if original.is_empty() || self.map.contains_key(original) {
            return;
        }
        let n = self.next(class);
        self.map
            .insert(original.to_string(), format!("{class}-{n}"));
    }

    fn container_id(&mut self, id: &str) {
        if id.is_empty() || self.map.contains_key(id) {
            return;
        }
        let n = self.next("container-id");
        let pseudo = format!("{n:064x}");
        // Docker shows the first 12 characters as the container's hostname.
        if let Some(short) = id.get(..12) {
            self.map.insert(short.to_string(), pseudo[..12].to_string());
        }
        self.map.insert(id.to_string(), pseudo);
    }

    fn mac(&mut self, mac: &str) {
        let mac = mac.to_ascii_lowercase();
        if self.map.contains_key(&mac) || mac == "00:00:00:00:00:00" {
            return;
        }
        let n = self.next("mac");
        self.map.insert(
            mac,
            format!(
                "02:00:00:{:02x}:{:02x}:{:02x}",
                n >> 16 & 0xff,
                n >> 8 & 0xff,
                n & 0xff
            ),
        );
    }

    fn ip(&mut self, ip: IpAddr, docker: &[IpNet]) -> String {
        let key = ip.to_string();
        if let Some(p) = self.map.get(&key) {
            return p.clone();
        }
        let pseudo = pseudonymise(ip, &self.key, docker).to_string();
        self.map.insert(key, pseudo.clone());
        pseudo
    }

    /// `ADDR/LEN`: a network address (host bits zero) stays one, so `172.16.0.0/12`
    /// reads as a route, not as a host.
    fn net(&mut self, ip: IpAddr, len: u8, docker: &[IpNet]) -> String {
        let pseudo: IpAddr = self
            .ip(ip, docker)
            .parse()
            .expect("a pseudonym is an address");
        match (IpNet::new(ip, len), IpNet::new(pseudo, len)) {
            (Ok(orig), Ok(p)) if orig.network() == ip => format!("{}/{len}", p.network()),
            _ => format!("{pseudo}/{len}"),
        }
    }
}

/// Characters that continue a name, an id or an address: a token ends at anything else.
fn token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':')
}

/// Replaces whole tokens only, so that a container called `app` does not turn `happy`
/// into `hcontainer-1y`. Addresses are recognised by parsing, so that any address in
/// free text (a firewall rule, /etc/resolv.conf, an error message) is caught too.
fn redact_text(text: &str, p: &mut Pseudonyms, docker: &[IpNet]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut token = String::new();
    let flush = |token: &mut String, out: &mut String, p: &mut Pseudonyms| {
        if !token.is_empty() {
            out.push_str(&redact_token(token, p, docker));
            token.clear();
        }
    };
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        if token_char(c) {
            token.push(c);
            continue;
        }
        // `ADDR/LEN`: the address is redacted knowing its prefix length.
        if c == '/'
            && let Some((ip, digits)) = network_at(&token, &chars[i..])
        {
            if keep(ip, docker) {
                out.push_str(&token);
            } else {
                let len: u8 = digits.parse().expect("network_at checked the length");
                out.push_str(&p.net(ip, len, docker));
                i += digits.len();
                token.clear();
                continue;
            }
            token.clear();
            out.push('/');
            continue;
        }
        flush(&mut token, &mut out, p);
        out.push(c);
    }
    flush(&mut token, &mut out, p);
    out
}

/// The address in `token` and the prefix length in `rest` (after its `/`), when they
/// make a network: digits that fit the family, not followed by more of a token.
fn network_at(token: &str, rest: &[char]) -> Option<(IpAddr, String)> {
    let ip: IpAddr = token.parse().ok()?;
    let digits: String = rest.iter().take_while(|c| c.is_ascii_digit()).collect();
    let next = rest.get(digits.len()).copied();
    let len: u8 = digits.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    (len <= max && !next.is_some_and(|c| token_char(c) && c != '.' && c != ':'))
        .then_some((ip, digits))
}

fn redact_token(token: &str, p: &mut Pseudonyms, docker: &[IpNet]) -> String {
    // A number is never a name here: a container called `16` must not rewrite the
    // prefix length of `172.17.0.2/16`.
    if token.chars().all(|c| c.is_ascii_digit()) {
        return token.to_string();
    }
    // MACs are mapped lower-case, whatever case a tool printed them in; every other
    // name is matched as written: iptables' `DOCKER` chain is not a host called docker.
    let mac = token.len() == 17
        && token
            .split(':')
            .all(|b| b.len() == 2 && b.chars().all(|c| c.is_ascii_hexdigit()));
    if let Some(pseudo) = p.map.get(token).or_else(|| {
        mac.then(|| p.map.get(&token.to_ascii_lowercase()))
            .flatten()
    }) {
        return pseudo.clone();
    }
    if let Ok(ip) = token.parse::<IpAddr>() {
        return if keep(ip, docker) {
            token.to_string()
        } else {
            p.ip(ip, docker)
        };
    }
    // Trailing punctuation of prose ("... 10.0.0.1.") is not part of the token.
    let trimmed = token.trim_end_matches(['.', ':', '-']);
    if !trimmed.is_empty() && trimmed.len() < token.len() {
        return format!(
            "{}{}",
            redact_token(trimmed, p, docker),
            &token[trimmed.len()..]
        );
    }
    // ADDRESS:PORT, and names with an address inside them are left to the parts.
    if let Some((host, port)) = token.rsplit_once(':')
        && port.chars().all(|c| c.is_ascii_digit())
        && let Ok(ip) = host.parse::<Ipv4Addr>()
    {
        let ip = IpAddr::V4(ip);
        let host = if keep(ip, docker) {
            host.to_string()
        } else {
            p.ip(ip, docker)
        };
        return format!("{host}:{port}");
    }
    // Compound tokens in free text (`NAME:PORT`, an image's `NAME:TAG`): each part.
    if token.contains(':') {
        return token
            .split(':')
            .map(|part| redact_token(part, p, docker))
            .collect::<Vec<_>>()
            .join(":");
    }
    token.to_string()
}

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
    if endpoint == format!("unix://{}", crate::engine::DEFAULT_SOCKET) {
        return endpoint.to_string();
    }
    match endpoint.split_once("://") {
        Some((scheme, _)) => format!("{scheme}://redacted"),
        None => "redacted".into(),
    }
}

#[cfg(test)]
mod tests {
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
