//! Redaction (`--redact`): a snapshot fit for a public bug ticket.
//!
//! Replaces hostnames, MAC addresses, container names and ids, and IP addresses outside
//! Docker's own subnets with pseudonyms. The same value always gets the same pseudonym,
//! so the report stays readable ("container-2 has no default route"). It works on the
//! snapshot, before judging: every report rendered from it, in any format, only ever
//! sees pseudonyms, and so do the messages the judges write.
//!
//! Pseudonyms keep their type: addresses become addresses from the documentation ranges
//! (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32), MACs become locally
//! administered MACs, so a redacted snapshot still parses and judges.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use serde_json::Value;

use crate::snapshot::Snapshot;

/// Addresses that say nothing about a host, kept as they are.
fn keep(ip: IpAddr, docker: &[IpNet]) -> bool {
    if docker.iter().any(|n| n.contains(&ip)) {
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

#[derive(Default)]
struct Pseudonyms {
    /// Original token -> pseudonym, for names, ids, MACs and addresses alike.
    map: BTreeMap<String, String>,
    counts: BTreeMap<&'static str, u32>,
}

impl Pseudonyms {
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

    fn ip(&mut self, ip: IpAddr) -> String {
        let key = ip.to_string();
        if let Some(p) = self.map.get(&key) {
            return p.clone();
        }
        let pseudo = match ip {
            IpAddr::V4(_) => {
                let n = self.next("ipv4");
                // 3 × 254 addresses from the documentation ranges, then wrap.
                let (net, host) = ((n - 1) / 254 % 3, (n - 1) % 254 + 1);
                let base = [[192, 0, 2], [198, 51, 100], [203, 0, 113]][net as usize];
                IpAddr::V4(Ipv4Addr::new(base[0], base[1], base[2], host as u8))
            }
            IpAddr::V6(_) => {
                let n = self.next("ipv6");
                IpAddr::V6(Ipv6Addr::new(
                    0x2001,
                    0xdb8,
                    0,
                    0,
                    0,
                    0,
                    (n >> 16) as u16,
                    n as u16,
                ))
            }
        }
        .to_string();
        self.map.insert(key, pseudo.clone());
        pseudo
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
    for c in text.chars() {
        if token_char(c) {
            token.push(c);
        } else {
            flush(&mut token, &mut out, p);
            out.push(c);
        }
    }
    flush(&mut token, &mut out, p);
    out
}

fn redact_token(token: &str, p: &mut Pseudonyms, docker: &[IpNet]) -> String {
    // A number is never a name here: a container called `16` must not rewrite the
    // prefix length of `172.17.0.2/16`.
    if token.chars().all(|c| c.is_ascii_digit()) {
        return token.to_string();
    }
    if let Some(pseudo) = p
        .map
        .get(token)
        .or_else(|| p.map.get(&token.to_ascii_lowercase()))
    {
        return pseudo.clone();
    }
    if let Ok(ip) = token.parse::<IpAddr>() {
        return if keep(ip, docker) {
            token.to_string()
        } else {
            p.ip(ip)
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
            p.ip(ip)
        };
        return format!("{host}:{port}");
    }
    // Compound tokens such as a request's purpose (`icc:NETWORK:CONTAINER`): each part.
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
                    "state" | "schema" | "status" | "kind" | "protocol"
                )
            })
            .for_each(|(_, v)| walk(v, p, docker)),
        _ => {}
    }
}

/// The snapshot with every identifying value replaced by its pseudonym.
pub fn redact(snapshot: &Snapshot) -> Result<Snapshot, String> {
    let mut p = Pseudonyms::default();
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
    serde_json::from_value(value)
        .map_err(|e| format!("the redacted snapshot no longer parses: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_not_substrings() {
        let mut p = Pseudonyms::default();
        p.name("app", "container");
        let docker = ["172.17.0.0/16".parse().unwrap()];
        assert_eq!(
            redact_text("app is happy; app.", &mut p, &docker),
            "container-1 is happy; container-1."
        );
        assert_eq!(
            redact_text(
                "nameserver 10.255.255.53\nvia 172.17.0.1:80 and 10.255.255.53:53",
                &mut p,
                &docker
            ),
            "nameserver 192.0.2.1\nvia 172.17.0.1:80 and 192.0.2.1:53"
        );
        assert_eq!(
            redact_text("fe80::42:e3ff:fe33:abfd/64", &mut p, &docker),
            "2001:db8::1/64"
        );
    }
}
