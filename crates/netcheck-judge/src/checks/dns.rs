//! `dns`: a generic kind. From the probe container on a network, a name resolves (to
//! given addresses), or does not.

use std::net::IpAddr;

use serde::Deserialize;

use super::{Check, Context, Instance, Needs, Outcome, Subject, missing};

/// dns's finding codes, `dns/<slug>`. A variant's doc comment is its description, which
/// `netcheck explain` prints. Never rename a released slug.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumIter, strum::EnumMessage,
)]
#[strum(serialize_all = "kebab-case")]
pub(crate) enum Code {
    /// The name does not resolve, and the suite expects it to.
    NotResolving,
    /// The name resolves, and the suite expects it not to.
    Resolves,
    /// The name resolves to other addresses than the suite expects.
    WrongAddresses,
}

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
    codes: super::code::list::<Code>,
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
    fn probe_args(&self, _id: &str, args: &mut netcheck_model::protocol::ProbeArgs) {
        args.resolves.push(self.name.clone());
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
    // The suite's own lookup: netcheck's checks may look the same name up too, through
    // /etc/hosts alone, with another answer.
    let lookups = &probe.report.lookups;
    let Some(l) = lookups.iter().find(|l| l.suite && l.name == p.name) else {
        return Outcome::error(
            format!(
                "the probe did not resolve {} for a suite: collect again with this suite \
                 (a snapshot from an older netcheck does not mark the suites' lookups)",
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
        ).coded(Code::Resolves, Subject::network(&p.network)),
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
        ).coded(Code::NotResolving, Subject::network(&p.network)),
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
                    ).coded(Code::WrongAddresses, Subject::network(&p.network))
                }
            }
            None => Outcome::pass(format!("{} resolves from {}", p.name, p.network), evidence),
        },
    }
}

#[cfg(test)]
mod tests {
    use crate::checks::Status;
    use netcheck_model::snapshot::{Lookup, Observed, Snapshot};

    /// A suite's `dns` check that gateway.docker.internal resolves, on a snapshot whose
    /// probe looked the name up for netcheck's own checks (through /etc/hosts alone: no
    /// address), and, with `for_suite`, for the suite too (through DNS: an address).
    fn judged(for_suite: Option<Lookup>) -> crate::checks::Outcome {
        let mut snap: Snapshot = serde_json::from_str(include_str!(
            "../../../../fixtures/healthy-default-bridge.json"
        ))
        .unwrap();
        let Observed::Ok { value: probe } = &mut snap.probe else {
            panic!("the fixture holds a probe");
        };
        probe.report.lookups.extend(for_suite);
        let suite = crate::suite::Suite::from_text(
            "name = \"t\"\n[[check]]\nid = \"gw\"\nkind = \"dns\"\n\
             params = { network = \"bridge\", name = \"gateway.docker.internal\" }\n",
        )
        .unwrap();
        let instance = &suite.instances[0];
        instance
            .configured
            .judge(&crate::checks::Context::new(&snap), instance)
    }

    #[test]
    fn a_suite_reads_its_own_lookup_not_netchecks() {
        let outcome = judged(Some(Lookup {
            name: "gateway.docker.internal".into(),
            source: Some("dns".into()),
            addrs: vec!["172.17.0.1".parse().unwrap()],
            error: None,
            suite: true,
        }));
        assert_eq!(outcome.status, Status::Pass, "{outcome:?}");
        assert!(outcome.evidence[0].contains("-> 172.17.0.1 (via dns)"));
    }

    #[test]
    fn without_its_own_lookup_a_suite_says_so() {
        let outcome = judged(None);
        assert_eq!(outcome.status, Status::Error, "{outcome:?}");
        assert!(outcome.message.contains("collect again with this suite"));
    }
}
