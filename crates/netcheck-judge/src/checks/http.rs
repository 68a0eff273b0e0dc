//! `http`: a generic kind. From the probe container on a network, an HTTP GET answers
//! with the expected status (and body).

use serde::Deserialize;

use super::{Check, Context, Instance, Needs, Outcome, Subject, probe_request};
use netcheck_model::protocol::{Ask, ProbeArgs, Purpose};

/// http's finding codes, `http/<slug>`. A variant's doc comment is its description, which
/// `netcheck explain` prints. Never rename a released slug.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumIter, strum::EnumMessage,
)]
#[strum(serialize_all = "kebab-case")]
pub(crate) enum Code {
    /// The URL got no HTTP answer.
    NoAnswer,
    /// The URL answered another status than the suite expects.
    Status,
    /// The URL's answer lacks the text the suite expects.
    Body,
}

pub static CHECK: Check = Check {
    id: "http",
    generic: true,
    scope: super::Scope::Host,
    title: "An HTTP request from a container gets the expected answer",
    doc: "\
A generic kind for suites: netcheck's probe container, attached to `network`, sends
`GET url` (plain HTTP, through reqwest; host names resolve through the container's
/etc/hosts and resolver) and checks the status and, optionally, the body.

params:
  network        the network to run from (the probe joins it)
  url            http://HOST:PORT/PATH
  expect_status  the status the answer must have (default 200)
  body_contains  a string the body's first 64 KiB must contain (optional)",
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
    pub url: String,
    #[serde(default = "ok")]
    pub expect_status: u16,
    #[serde(default)]
    pub body_contains: Option<String>,
}

fn ok() -> u16 {
    200
}

impl super::params::CheckParams for Params {
    fn validate(&self) -> Result<(), super::params::ParamError> {
        if self.url.starts_with("http://") {
            return Ok(());
        }
        Err(super::params::ParamError::at(
            "url",
            format!("url `{}`: only http:// URLs are supported", self.url),
        ))
    }
    fn network(&self) -> Option<&str> {
        Some(&self.network)
    }
    fn probe_args(&self, id: &str, args: &mut ProbeArgs) {
        args.https.push(Ask::new(Purpose::instance(id), &self.url));
    }
    fn describe(&self) -> Option<String> {
        Some(format!(
            "http from {}: GET {} answers {}",
            self.network, self.url, self.expect_status
        ))
    }
}

fn judge(ctx: &Context, instance: &Instance, p: &Params) -> Outcome {
    let req = match probe_request(ctx, &instance.id) {
        Ok(r) => r,
        Err(o) => return o,
    };
    let mut evidence = vec![format!(
        "from {}: GET {} ({}) -> {} in {} ms",
        p.network,
        p.url,
        req.addr.as_deref().unwrap_or("?"),
        req.status
            .map(|s| format!("HTTP {s}"))
            .or_else(|| req.error.clone())
            .unwrap_or_else(|| "no answer".into()),
        req.elapsed_ms
    )];
    let Some(status) = req.status else {
        return Outcome::fail(
            format!(
                "GET {} from {} got no answer: {}",
                p.url,
                p.network,
                req.error.as_deref().unwrap_or("failed")
            ),
            evidence,
            format!(
                "check that the service is up and that {} reaches it",
                p.network
            ),
        )
        .coded(Code::NoAnswer, Subject::network(&p.network));
    };
    if status != p.expect_status {
        return Outcome::fail(
            format!(
                "GET {} answered {status}, the suite expects {}",
                p.url, p.expect_status
            ),
            evidence,
            "look at the service's logs: it answers, but not as expected",
        )
        .coded(Code::Status, Subject::network(&p.network));
    }
    if let Some(needle) = &p.body_contains {
        let body = req.body.as_deref().unwrap_or("");
        if !body.contains(needle.as_str()) {
            evidence.push(format!(
                "body starts: {:?}",
                body.chars().take(200).collect::<String>()
            ));
            return Outcome::fail(
                format!(
                    "GET {} answered {status}, but its body lacks {needle:?}",
                    p.url
                ),
                evidence,
                "the service answers something else: is the name or port the right service?",
            )
            .coded(Code::Body, Subject::network(&p.network));
        }
    }
    Outcome::pass(
        format!("GET {} answered {status} from {}", p.url, p.network),
        evidence,
    )
}
