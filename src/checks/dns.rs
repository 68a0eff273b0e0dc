//! `dns`: a generic kind. From the probe container on a network, a name resolves (to
//! given addresses), or does not.

use std::net::IpAddr;

use serde::Deserialize;

use super::{Check, Context, Instance, Needs, Outcome, Subject, missing};

pub static CHECK: Check = Check {
    id: "dns",
    generic: true,
    scope: super::Scope::Host,
    title: "A name resolves in a container, to the expected addresses",
    doc: "\
A generic kind for suites: netcheck's probe container, attached to `network`, resolves
`name` through its /etc/hosts and then the resolver in its /etc/resolv.conf (on user
networks, Docker's embedded DNS at 127.0.0.11, which knows the containers by name).

params:
  network    the network to run from (the probe joins it)
  name       the name to resolve
  expect     \"resolves\" (default) or \"fails\"
  addresses  with expect = \"resolves\": the addresses it must resolve to (any order)",
    needs: Needs {
        host: false,
        probe: true,
        outside: false,
        ..Needs::NONE
    },
    configure: |t| super::params::typed(t, judge),
    params_schema: super::params::schema_of::<Params>,
};

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    pub network: String,
    pub name: String,
    #[serde(default)]
    pub expect: Expect,
    #[serde(default)]
    pub addresses: Option<Vec<IpAddr>>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    #[default]
    Resolves,
    Fails,
}

impl Expect {
    pub fn as_str(self) -> &'static str {
        match self {
            Expect::Resolves => "resolves",
            Expect::Fails => "fails to resolve",
        }
    }
}

impl super::params::CheckParams for Params {
    fn network(&self) -> Option<&str> {
        Some(&self.network)
    }
    fn probe_args(&self, _id: &str) -> Vec<String> {
        vec!["--resolve".into(), self.name.clone()]
    }
    fn describe(&self) -> Option<String> {
        Some(format!(
            "dns from {}: {} {}",
            self.network,
            self.name,
            self.expect.as_str()
        ))
    }
}

fn judge(ctx: &Context, _: &Instance, p: &Params) -> Outcome {
    let Some(probe) = ctx.snapshot.probe.ok() else {
        return missing(&ctx.snapshot.probe, "probe container");
    };
    let Some(l) = probe.report.lookups.iter().find(|l| l.name == p.name) else {
        return Outcome::error(
            format!(
                "the probe did not resolve {}: run it with this suite",
                p.name
            ),
            vec![],
        );
    };
    let mut got: Vec<IpAddr> = l.addrs.clone();
    got.sort();
    let shown = got
        .iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let evidence = vec![match &l.error {
        Some(e) if got.is_empty() => {
            format!("from {}: {} does not resolve: {e}", p.network, p.name)
        }
        _ => format!(
            "from {}: {} -> {shown} (via {})",
            p.network,
            p.name,
            l.source.as_deref().unwrap_or("?")
        ),
    }];
    match (p.expect, got.is_empty()) {
        (Expect::Fails, true) => Outcome::pass(
            format!("{} does not resolve from {}", p.name, p.network),
            evidence,
        ),
        (Expect::Fails, false) => Outcome::fail(
            format!(
                "{} resolves to {shown} from {}, and the suite expects it not to",
                p.name, p.network
            ),
            evidence,
            "something still publishes the name: a container alias, an --add-host entry or a DNS record",
        ).coded("resolves", Subject::network(&p.network)),
        (Expect::Resolves, true) => Outcome::fail(
            format!(
                "{} does not resolve from {}: {}",
                p.name,
                p.network,
                l.error.as_deref().unwrap_or("no address")
            ),
            evidence,
            format!(
                "container names resolve only on user networks, for containers on the same network: \
                 docker network connect {} <container>",
                super::sh(&p.network)
            ),
        ).coded("not-resolving", Subject::network(&p.network)),
        (Expect::Resolves, false) => match &p.addresses {
            Some(want) => {
                let mut want = want.clone();
                want.sort();
                if want == got {
                    Outcome::pass(
                        format!("{} resolves to {shown} from {}", p.name, p.network),
                        evidence,
                    )
                } else {
                    Outcome::fail(
                        format!(
                            "{} resolves to {shown} from {}, the suite expects {}",
                            p.name,
                            p.network,
                            want.iter()
                                .map(|a| a.to_string())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                        evidence,
                        "another container or record holds the name: docker network inspect shows who has which address",
                    ).coded("wrong-addresses", Subject::network(&p.network))
                }
            }
            None => Outcome::pass(format!("{} resolves from {}", p.name, p.network), evidence),
        },
    }
}
