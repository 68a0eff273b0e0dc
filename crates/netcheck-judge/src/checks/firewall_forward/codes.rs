//! firewall.forward's finding codes, in a file of their own beside the check's, which is long.

/// firewall.forward's finding codes, `firewall.forward/<slug>`. A variant's doc comment is
/// its description, which `netcheck explain` prints. Never rename a released slug.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumIter, strum::EnumMessage,
)]
#[strum(serialize_all = "kebab-case")]
pub(crate) enum Code {
    /// The FORWARD policy drops, and nothing accepts the network's traffic.
    ForwardPolicyDrops,
    /// Docker's chains (or its nftables table) are gone, and nothing of Docker's lets traffic
    /// through FORWARD.
    DockerChainsMissing,
    /// An nftables chain Docker does not own drops the network's traffic.
    ForeignChainDrops,
    /// A FORWARD rule drops the network's traffic before Docker's rules see it.
    DropBeforeDocker,
    /// FORWARD has no jump to Docker's chains.
    NoDockerJump,
    /// A DOCKER-USER rule drops the network's traffic.
    DockerUserDrops,
    /// Nothing lets the bridge's traffic through FORWARD, whose policy drops it.
    NoWayThrough,
}
