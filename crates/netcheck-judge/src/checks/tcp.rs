//! `tcp`: a generic kind. From the probe container on a network, a TCP connection to a
//! target must open (or must not).

use serde::Deserialize;

use super::{Check, Context, Instance, Needs, Outcome, Subject, probe_request};
use netcheck_model::protocol::{Ask, ProbeArgs, Purpose};

/// tcp's finding codes, `tcp/<slug>`. A variant's doc comment is its description, which
/// `netcheck explain` prints. Never rename a released slug.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumIter, strum::EnumMessage,
)]
#[strum(serialize_all = "kebab-case")]
pub(crate) enum Code {
    /// The target is not reachable, and the suite expects it open.
    Unreachable,
    /// The target is open, and the suite expects it closed.
    Open,
}

pub static CHECK: Check = Check {
    id: "tcp",
    generic: true,
    scope: super::Scope::Host,
    title: "A TCP connection from a container opens, or is refused",
    doc: "\
A generic kind for suites: netcheck's probe container, attached to `network`, connects to
`target` (HOST:PORT; HOST is an address or a name, resolved through the container's
/etc/hosts and resolver: container names work on user networks).

params:
  network  the network to run from (the probe joins it)
  target   HOST:PORT
  expect   \"open\" (default) or \"closed\"",
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
    pub target: String,
    #[serde(default)]
    pub expect: Expect,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    #[default]
    Open,
    Closed,
}

impl Expect {
    pub fn as_str(self) -> &'static str {
        match self {
            Expect::Open => "open",
            Expect::Closed => "closed",
        }
    }
}

impl super::params::CheckParams for Params {
    fn network(&self) -> Option<&str> {
        Some(&self.network)
    }
    fn probe_args(&self, id: &str, args: &mut ProbeArgs) {
        args.tcps
            .push(Ask::new(Purpose::instance(id), &self.target));
    }
    fn describe(&self) -> Option<String> {
        Some(format!(
            "tcp from {} to {}: {}",
            self.network,
            self.target,
            self.expect.as_str()
        ))
    }
}

fn judge(ctx: &Context, instance: &Instance, p: &Params) -> Outcome {
    let req = match probe_request(ctx, &instance.id) {
        Ok(r) => r,
        Err(o) => return o,
    };
    // Closed means the connection was refused or went unanswered; a target that never
    // resolved proves nothing either way.
    let Some(to) = req.addr.as_deref() else {
        return Outcome::error(
            format!(
                "{} could not be tried from {}: {}",
                p.target,
                p.network,
                req.error.as_deref().unwrap_or("no address")
            ),
            vec![],
        );
    };
    let evidence = vec![format!(
        "from {} to {} ({to}): {} in {} ms",
        p.network,
        p.target,
        if req.ok {
            "open"
        } else {
            req.error.as_deref().unwrap_or("failed")
        },
        req.elapsed_ms
    )];
    match (p.expect, req.ok) {
        (Expect::Open, true) => {
            Outcome::pass(format!("{} is open from {}", p.target, p.network), evidence)
        }
        (Expect::Closed, false) => Outcome::pass(
            format!("{} is closed from {}", p.target, p.network),
            evidence,
        ),
        (Expect::Open, false) => Outcome::fail(
            format!(
                "{} is not reachable from {}: {}",
                p.target,
                p.network,
                req.error.as_deref().unwrap_or("failed")
            ),
            evidence,
            format!(
                "check that the service listens on {to} and that {} reaches it (docker network inspect {})",
                p.network,
                super::sh(&p.network)
            ),
        ).coded(Code::Unreachable, Subject::network(&p.network)),
        (Expect::Closed, true) => Outcome::fail(
            format!(
                "{} is open from {}, and the suite expects it closed",
                p.target, p.network
            ),
            evidence,
            "isolate it: a firewall rule, another network, or an internal network",
        ).coded(Code::Open, Subject::network(&p.network)),
    }
}
