//! nat.masquerade's finding codes, in a file of their own beside the check's, which is long.

/// nat.masquerade's finding codes, `nat.masquerade/<slug>`. A variant's doc comment is its
/// description, which `netcheck explain` prints. Never rename a released slug.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumIter, strum::EnumMessage,
)]
#[strum(serialize_all = "kebab-case")]
pub(crate) enum Code {
    /// net.ipv4.ip_forward is off: the host routes no container traffic.
    IpForwardOff,
    /// No masquerade rule covers the network's subnet.
    MasqueradeRuleMissing,
    /// FORWARD lets nothing out of the bridge: its policy is not ACCEPT and Docker's accept
    /// rule is missing.
    ForwardClosed,
    /// The engine runs with `iptables: false`, and nothing masquerades the subnet in its place.
    IptablesOff,
    /// Docker's chains (or its nftables table) are gone, and its masquerade rule with them.
    DockerChainsMissing,
    /// The outside peer saw the container's own address: traffic leaves the host un-NATed.
    UnNatted,
    /// A conntrack exemption (NOTRACK) takes the network's traffic out of NAT: the outside peer
    /// saw the container's own address.
    Untracked,
    /// A nat POSTROUTING rule above Docker's MASQUERADE rewrites the network's source address.
    SnatRewritten,
    /// A container cannot reach the outside peer, a namespace standing in for the internet.
    OutsideUnreachable,
    /// No IPv6 masquerade rule covers the network's IPv6 subnet.
    MasqueradeRuleMissingV6,
    /// The outside peer saw the container's own IPv6 address: IPv6 traffic leaves the host un-
    /// NATed.
    UnNattedV6,
    /// A container cannot reach the outside peer over IPv6.
    OutsideUnreachableV6,
}
