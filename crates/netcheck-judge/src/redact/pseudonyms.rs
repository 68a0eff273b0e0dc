//! The pseudonyms of one redaction: the same value always gets the same one, so that
//! the report stays readable ("container-2 has no default route").

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;

use super::addresses::pseudonymise;

/// Original values and their pseudonyms, by class (`host-1`, `container-2`, MACs,
/// addresses).
#[derive(Default)]
pub(super) struct Pseudonyms {
    /// Original token -> pseudonym, for names, ids, MACs and addresses alike.
    pub(super) map: BTreeMap<String, String>,
    counts: BTreeMap<&'static str, u32>,
    /// Picks which address bits are rewritten; drawn afresh for each redaction.
    key: [u8; 32],
}

impl Pseudonyms {
    pub(super) fn with_random_key() -> Self {
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

    pub(super) fn name(&mut self, original: &str, class: &'static str) {
        if original.is_empty() || self.map.contains_key(original) {
            return;
        }
        let n = self.next(class);
        self.map
            .insert(original.to_string(), format!("{class}-{n}"));
    }

    pub(super) fn container_id(&mut self, id: &str) {
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

    pub(super) fn mac(&mut self, mac: &str) {
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

    pub(super) fn ip(&mut self, ip: IpAddr, docker: &[IpNet]) -> String {
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
    pub(super) fn net(&mut self, ip: IpAddr, len: u8, docker: &[IpNet]) -> String {
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
