//! An address's pseudonym: prefix-preserving, inside the special block (and Docker
//! subnet) its address is in and outside every other; and the addresses kept as they are.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// Well-known public resolvers: kept, so that "the engine's public fallback" stays a
/// finding after redaction. They say nothing about the host.
pub(super) const RESOLVERS: [IpAddr; 12] = [
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
pub(super) const ANCHORS_V4: &[([u8; 4], u8)] = &[
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
pub(super) const ANCHORS_V6: &[(u128, u8)] = &[
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
pub(super) fn keep(ip: IpAddr, docker: &[IpNet]) -> bool {
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
pub(super) fn bits(ip: IpAddr) -> (u128, u32) {
    match ip {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32),
        IpAddr::V6(v6) => (u128::from(v6), 128),
    }
}

/// The first `n` of `width` bits of `x`.
pub(super) fn top(x: u128, n: u32, width: u32) -> u128 {
    x.checked_shr(width - n).unwrap_or(0)
}

/// Prefix-preserving pseudonymisation: bit i of the result is bit i of `ip`, flipped
/// or not by a keyed hash of the bits before it. Two addresses that share k leading
/// bits therefore share exactly k after. A bit is never flipped where the bits before
/// it lead towards an anchor (a special block or a Docker subnet): so an address keeps
/// its distance to each anchor, inside it or outside it.
pub(super) fn pseudonymise(ip: IpAddr, key: &[u8; 32], docker: &[IpNet]) -> IpAddr {
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
