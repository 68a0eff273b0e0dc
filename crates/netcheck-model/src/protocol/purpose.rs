//! What a request is for: written by collection (and by the probe, which reports it
//! back), read by the judges, the tracer and the redactor.
//!
//! It travels as text (`gateway:bridge`, `icc:app-net:web`) on the probe's command line
//! and in every snapshot, and stays that text: snapshots written before this type
//! existed load and judge as they did.

use std::borrow::Cow;
use std::net::IpAddr;

/// What a request is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// `gateway:<network>`: the probe's request to netcheck's listener on the gateway
    /// of `network`.
    Gateway { network: String },
    /// `host.docker.internal`: the probe's request to the host by that name.
    HostDockerInternal,
    /// `outside`: the probe's request to the outside peer, through its default route's
    /// network.
    Outside,
    /// `outside:<network>`: the request to the outside peer through `network`, made
    /// from the probe's interface on it (every checked network's egress is tested, not
    /// only the default route's).
    OutsideFrom { network: String },
    /// `outside6:<network>`: the same over IPv6, to the outside peer's IPv6 address,
    /// from the probe's interface on an IPv6 network.
    OutsideV6From { network: String },
    /// `publish:hairpin`: the probe's request to its own port, published on its
    /// network's gateway.
    Hairpin,
    /// `publish:<ip>`: the host's request to the probe's port published on `host_ip`.
    Publish { host_ip: IpAddr },
    /// `icc:<network>:<from>`: from container `from` to the probe, both on `network`.
    Icc { network: String, from: String },
    /// `icc-control:<network>:<from>`: where `icc:<network>:<from>` failed, from the same
    /// container to its network's gateway listener, which the probe reached: a container
    /// that cannot reach that either drops what it sends itself.
    IccControl { network: String, from: String },
    /// `isolation:<network>:<other>:<from>:<to>`: from container `from` on `network`
    /// to container `to`, which is on `other` alone.
    Isolation {
        network: String,
        other: String,
        from: String,
        to: String,
    },
    /// `check:<id>`: the request of a suite's check instance `id`.
    Instance { id: String },
    /// Text none of the above reads: a purpose given to `netcheck probe` by hand, or
    /// written by another version. Kept as written.
    Other(String),
}

const GATEWAY: &str = "gateway:";
const HOST_DOCKER_INTERNAL: &str = super::HOST_DOCKER_INTERNAL;
const OUTSIDE: &str = "outside";
const OUTSIDE_FROM: &str = "outside:";
const OUTSIDE_V6_FROM: &str = "outside6:";
const HAIRPIN: &str = "publish:hairpin";
const PUBLISH: &str = "publish:";
const ICC: &str = "icc:";
const ICC_CONTROL: &str = "icc-control:";
const ISOLATION: &str = "isolation:";
const INSTANCE: &str = "check:";

impl Purpose {
    pub fn gateway(network: &str) -> Purpose {
        Purpose::Gateway {
            network: network.into(),
        }
    }

    pub fn outside_from(network: &str) -> Purpose {
        Purpose::OutsideFrom {
            network: network.into(),
        }
    }

    pub fn outside_v6_from(network: &str) -> Purpose {
        Purpose::OutsideV6From {
            network: network.into(),
        }
    }

    pub fn icc(network: &str, from: &str) -> Purpose {
        Purpose::Icc {
            network: network.into(),
            from: from.into(),
        }
    }

    pub fn isolation(network: &str, other: &str, from: &str, to: &str) -> Purpose {
        Purpose::Isolation {
            network: network.into(),
            other: other.into(),
            from: from.into(),
            to: to.into(),
        }
    }

    pub fn instance(id: &str) -> Purpose {
        Purpose::Instance { id: id.into() }
    }

    /// Reads a purpose; never fails: text that no variant reads is [`Purpose::Other`].
    pub fn parse(text: &str) -> Purpose {
        Purpose::read(text).unwrap_or_else(|| Purpose::Other(text.to_string()))
    }

    fn read(text: &str) -> Option<Purpose> {
        Some(match text {
            HOST_DOCKER_INTERNAL => Purpose::HostDockerInternal,
            OUTSIDE => Purpose::Outside,
            HAIRPIN => Purpose::Hairpin,
            _ => {
                if let Some(network) = text.strip_prefix(GATEWAY) {
                    Purpose::gateway(network)
                } else if let Some(network) = text.strip_prefix(OUTSIDE_FROM) {
                    Purpose::outside_from(network)
                } else if let Some(network) = text.strip_prefix(OUTSIDE_V6_FROM) {
                    Purpose::outside_v6_from(network)
                } else if let Some(ip) = text.strip_prefix(PUBLISH) {
                    Purpose::Publish {
                        host_ip: ip.parse().ok()?,
                    }
                } else if let Some(rest) = text.strip_prefix(ICC_CONTROL) {
                    let (network, from) = rest.rsplit_once(':')?;
                    Purpose::IccControl {
                        network: unescape(network),
                        from: unescape(from),
                    }
                } else if let Some(rest) = text.strip_prefix(ICC) {
                    // A container's name has no ':' (the engine refuses one); the network's
                    // is escaped where this was written, and taken whole where an older
                    // netcheck wrote it unescaped.
                    let (network, from) = rest.rsplit_once(':')?;
                    Purpose::icc(&unescape(network), &unescape(from))
                } else if let Some(rest) = text.strip_prefix(ISOLATION) {
                    let (networks, to) = rest.rsplit_once(':')?;
                    let (networks, from) = networks.rsplit_once(':')?;
                    let (network, other) = networks.split_once(':')?;
                    Purpose::isolation(
                        &unescape(network),
                        &unescape(other),
                        &unescape(from),
                        &unescape(to),
                    )
                } else if let Some(id) = text.strip_prefix(INSTANCE) {
                    Purpose::instance(id)
                } else {
                    return None;
                }
            }
        })
    }

    /// The same purpose with each name and address in it replaced by `f` (the
    /// redactor's pseudonyms): the parts, never the separators, are rewritten.
    pub fn map_parts(&self, mut f: impl FnMut(&str) -> String) -> Purpose {
        match self {
            Purpose::Gateway { network } => Purpose::gateway(&f(network)),
            Purpose::OutsideFrom { network } => Purpose::outside_from(&f(network)),
            Purpose::OutsideV6From { network } => Purpose::outside_v6_from(&f(network)),
            Purpose::Publish { host_ip } => {
                let mapped = f(&host_ip.to_string());
                match mapped.parse() {
                    Ok(host_ip) => Purpose::Publish { host_ip },
                    Err(_) => Purpose::Other(format!("{PUBLISH}{mapped}")),
                }
            }
            Purpose::Icc { network, from } => Purpose::icc(&f(network), &f(from)),
            Purpose::IccControl { network, from } => Purpose::IccControl {
                network: f(network),
                from: f(from),
            },
            Purpose::Isolation {
                network,
                other,
                from,
                to,
            } => Purpose::isolation(&f(network), &f(other), &f(from), &f(to)),
            Purpose::Instance { id } => Purpose::instance(&f(id)),
            Purpose::Other(text) => Purpose::Other(f(text)),
            Purpose::HostDockerInternal | Purpose::Outside | Purpose::Hairpin => self.clone(),
        }
    }
}

/// In the purposes whose parts ':' separates (icc, isolation), a name's own ':' is
/// written `%3A`, and so its '%' is written `%25`. Names without either (all that the
/// engine lets a container have, and every network name seen so far) read as written.
fn escape(name: &str) -> Cow<'_, str> {
    if name.contains([':', '%']) {
        Cow::Owned(name.replace('%', "%25").replace(':', "%3A"))
    } else {
        Cow::Borrowed(name)
    }
}

fn unescape(name: &str) -> String {
    name.replace("%3A", ":").replace("%25", "%")
}

impl std::fmt::Display for Purpose {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Purpose::Gateway { network } => write!(f, "{GATEWAY}{network}"),
            Purpose::HostDockerInternal => f.write_str(HOST_DOCKER_INTERNAL),
            Purpose::Outside => f.write_str(OUTSIDE),
            Purpose::OutsideFrom { network } => write!(f, "{OUTSIDE_FROM}{network}"),
            Purpose::OutsideV6From { network } => write!(f, "{OUTSIDE_V6_FROM}{network}"),
            Purpose::Hairpin => f.write_str(HAIRPIN),
            Purpose::Publish { host_ip } => write!(f, "{PUBLISH}{host_ip}"),
            Purpose::Icc { network, from } => {
                write!(f, "{ICC}{}:{}", escape(network), escape(from))
            }
            Purpose::IccControl { network, from } => {
                write!(f, "{ICC_CONTROL}{}:{}", escape(network), escape(from))
            }
            Purpose::Isolation {
                network,
                other,
                from,
                to,
            } => write!(
                f,
                "{ISOLATION}{}:{}:{}:{}",
                escape(network),
                escape(other),
                escape(from),
                escape(to)
            ),
            Purpose::Instance { id } => write!(f, "{INSTANCE}{id}"),
            Purpose::Other(text) => f.write_str(text),
        }
    }
}

impl std::str::FromStr for Purpose {
    type Err = std::convert::Infallible;
    fn from_str(text: &str) -> Result<Purpose, Self::Err> {
        Ok(Purpose::parse(text))
    }
}

impl serde::Serialize for Purpose {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Purpose {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Purpose, D::Error> {
        let text = <Cow<'de, str>>::deserialize(d)?;
        Ok(Purpose::parse(&text))
    }
}

/// A string in the schemas, as it always was.
impl schemars::JsonSchema for Purpose {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        String::schema_name()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        String::json_schema(generator)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every purpose a stored snapshot holds, as an older netcheck wrote it.
    const STORED: &[&str] = &[
        "gateway:bridge",
        "gateway:netcheck-test-healthy-all",
        "host.docker.internal",
        "outside",
        "outside:netcheck-test-healthy",
        "publish:hairpin",
        "publish:127.0.0.1",
        "icc:bridge:netcheck-test-bridge-app",
        "icc-control:bridge:netcheck-test-bridge-app",
        "isolation:netcheck-test-iso-a:netcheck-test-iso-b:netcheck-test-iso-a-app:netcheck-test-iso-b-db",
        "check:tcp-to-db",
    ];

    #[test]
    fn stored_purposes_read_as_their_variant_and_write_back_the_same() {
        for text in STORED {
            let p = Purpose::parse(text);
            assert!(!matches!(p, Purpose::Other(_)), "{text} read as {p:?}");
            assert_eq!(p.to_string(), *text);
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(json, format!("\"{text}\""));
            assert_eq!(serde_json::from_str::<Purpose>(&json).unwrap(), p);
        }
        assert_eq!(
            Purpose::parse("isolation:a:b:web:db"),
            Purpose::isolation("a", "b", "web", "db")
        );
        assert_eq!(
            Purpose::parse("publish:127.0.0.1"),
            Purpose::Publish {
                host_ip: [127, 0, 0, 1].into()
            }
        );
    }

    #[test]
    fn odd_names_round_trip() {
        let odd = [
            "a:b",
            "a::b:",
            ":",
            "100%",
            "%3A",
            "x%25:y",
            "fe80::1",
            "with space",
        ];
        for net in odd {
            for other in odd {
                for p in [
                    Purpose::gateway(net),
                    Purpose::outside_from(net),
                    Purpose::icc(net, "web"),
                    Purpose::icc(net, other),
                    Purpose::IccControl {
                        network: net.into(),
                        from: other.into(),
                    },
                    Purpose::isolation(net, other, "web", "db"),
                    Purpose::isolation(net, other, other, net),
                    Purpose::instance(net),
                ] {
                    let text = p.to_string();
                    assert_eq!(Purpose::parse(&text), p, "{text}");
                }
            }
        }
        let v6 = Purpose::Publish {
            host_ip: "fd00::1".parse().unwrap(),
        };
        assert_eq!(Purpose::parse(&v6.to_string()), v6);
        // An older netcheck wrote an icc network's ':' unescaped: a container's name
        // has none, so the last ':' still separates.
        assert_eq!(Purpose::parse("icc:a:b:web"), Purpose::icc("a:b", "web"));
    }

    #[test]
    fn unknown_text_is_kept_as_written() {
        for text in [
            "",
            "x",
            "publish:nowhere",
            "icc:",
            "icc:no-container",
            "isolation:a:b",
        ] {
            let p = Purpose::parse(text);
            assert_eq!(p, Purpose::Other(text.to_string()));
            assert_eq!(p.to_string(), text);
        }
    }

    #[test]
    fn parts_are_mapped_not_separators() {
        let p = Purpose::isolation("net", "other", "web", "db");
        let mapped = p.map_parts(|s| format!("<{s}>"));
        assert_eq!(
            mapped,
            Purpose::isolation("<net>", "<other>", "<web>", "<db>")
        );
        assert_eq!(
            Purpose::Hairpin.map_parts(|_| unreachable!()),
            Purpose::Hairpin
        );
    }
}
