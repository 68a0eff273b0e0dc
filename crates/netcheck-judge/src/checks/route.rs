//! `route`: a generic kind. In the probe container, the route to a destination leaves
//! through the expected interface or gateway.

use std::net::IpAddr;

use serde::Deserialize;

use super::{Check, Context, Instance, Needs, Outcome, Subject, missing};
use netcheck_model::snapshot::RouteObs;

/// route's finding codes, `route/<slug>`. A variant's doc comment is its description, which
/// `netcheck explain` prints. Never rename a released slug.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumIter, strum::EnumMessage,
)]
#[strum(serialize_all = "kebab-case")]
pub(crate) enum Code {
    /// A container on the network has no route to the destination.
    NoRoute,
    /// The route to the destination uses another gateway or interface than the suite expects.
    WrongRoute,
}

pub static CHECK: Check = Check {
    id: "route",
    generic: true,
    scope: super::Scope::Host,
    title: "A container's route to a destination uses the expected interface or gateway",
    doc: "\
A generic kind for suites: in netcheck's probe container, attached to `network` (and to
every other checked network), the routing table's longest match for `destination` must
leave through the expected interface and/or gateway. It reads the table; it sends nothing.

params:
  network      the network to run from (the probe joins it)
  destination  an IP address
  via          the gateway the route must use (optional)
  dev          the interface it must leave through, e.g. \"eth0\" (optional)",
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
    pub destination: IpAddr,
    #[serde(default)]
    pub via: Option<IpAddr>,
    #[serde(default)]
    pub dev: Option<String>,
}

/// The kernel's choice, simplified: the main table's longest prefix that contains the
/// destination, lowest metric ignored (Docker's containers have one route per prefix).
fn lookup(routes: &[RouteObs], dst: IpAddr) -> Option<&RouteObs> {
    routes
        .iter()
        .filter(|r| r.table == netcheck_model::snapshot::TABLE_MAIN && r.dst.contains(&dst))
        .max_by_key(|r| r.dst.prefix_len())
}

impl super::params::CheckParams for Params {
    fn validate(&self) -> Result<(), super::params::ParamError> {
        if self.via.is_none() && self.dev.is_none() {
            return Err(super::params::ParamError {
                key: None,
                message: "give `via`, `dev` or both: what the route must use".into(),
            });
        }
        Ok(())
    }
    fn network(&self) -> Option<&str> {
        Some(&self.network)
    }
    fn describe(&self) -> Option<String> {
        Some(format!(
            "route from {} to {}",
            self.network, self.destination
        ))
    }
}

fn judge(ctx: &Context, _: &Instance, p: &Params) -> Outcome {
    let Some(probe) = ctx.snapshot.probe.ok() else {
        return missing(&ctx.snapshot.probe, "probe container");
    };
    let ns = &probe.report.netns;
    let Some(r) = lookup(&ns.routes, p.destination) else {
        return Outcome::fail(
            format!(
                "no route to {} in a container on {}",
                p.destination, p.network
            ),
            vec![],
            "a container gets a default route from its first network; an internal network gives none",
        ).coded(Code::NoRoute, Subject::network(&p.network));
    };
    let dev = r.oif.map(|i| ns.link_name(i)).unwrap_or_else(|| "?".into());
    let via = r.gateway.map(|g| format!(" via {g}")).unwrap_or_default();
    let evidence = vec![format!("{} -> {}{via} dev {dev}", p.destination, r.dst)];
    let mut wrong = vec![];
    if let Some(want) = p.via
        && r.gateway != Some(want)
    {
        wrong.push(format!(
            "gateway {} instead of {want}",
            r.gateway.map(|g| g.to_string()).unwrap_or("(none)".into())
        ));
    }
    if let Some(want) = &p.dev
        && &dev != want
    {
        wrong.push(format!("interface {dev} instead of {want}"));
    }
    if wrong.is_empty() {
        Outcome::pass(
            format!("{} is routed{via} dev {dev}", p.destination),
            evidence,
        )
    } else {
        Outcome::fail(
            format!(
                "the route to {} uses {}",
                p.destination,
                wrong.join(" and ")
            ),
            evidence,
            "the first network a container joins gives its default route: reorder the container's networks, or add the route it needs",
        ).coded(Code::WrongRoute, Subject::network(&p.network))
    }
}
