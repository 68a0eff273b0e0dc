//! port.publish's finding codes, in a file of their own beside the check's, which is long.

/// port.publish's finding codes, `port.publish/<slug>`. A variant's doc comment is its
/// description, which `netcheck explain` prints. Never rename a released slug.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumIter, strum::EnumMessage,
)]
#[strum(serialize_all = "kebab-case")]
pub(crate) enum Code {
    /// The engine's DNAT rule for a published port is missing.
    DnatMissing,
    /// A published port does not reach its container.
    NotAnswering,
    /// Ports published on every address bypass the host's firewall (ufw, firewalld).
    WildcardBypassesFirewall,
    /// A nat rule above the engine's sends a published port elsewhere.
    PortStolen,
    /// A port published by a container of yours does not reach it from the host.
    UserPortSilent,
}
