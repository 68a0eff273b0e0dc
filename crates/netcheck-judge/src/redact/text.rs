//! Free text, token by token: names, ids, MACs and addresses wherever they appear (a
//! firewall rule, /etc/resolv.conf, an error message), whole tokens only.

use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;

use super::Pseudonyms;
use super::addresses::keep;

/// Characters that continue a name, an id or an address: a token ends at anything else.
fn token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':')
}

/// Replaces whole tokens only, so that a container called `app` does not turn `happy`
/// into `hcontainer-1y`. Addresses are recognised by parsing, so that any address in
/// free text (a firewall rule, /etc/resolv.conf, an error message) is caught too.
pub(super) fn redact_text(text: &str, p: &mut Pseudonyms, docker: &[IpNet]) -> String {
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

/// An address, or an IPv4 address with a port (`ADDR:PORT`).
fn is_address(part: &str) -> bool {
    part.parse::<IpAddr>().is_ok()
        || part.rsplit_once(':').is_some_and(|(host, port)| {
            host.parse::<Ipv4Addr>().is_ok() && port.parse::<u16>().is_ok()
        })
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
    // A range (`10.0.0.1-10.0.0.9` in iprange, nft and SNAT's `--to-source`, with
    // ports after the last address or not): each end. A hyphen also joins the parts of
    // names, so only a token with an address for a part is split.
    if token.contains('-') && token.split('-').any(is_address) {
        return token
            .split('-')
            .map(|part| redact_token(part, p, docker))
            .collect::<Vec<_>>()
            .join("-");
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
