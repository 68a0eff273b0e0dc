//! A check's verdict: what every result, finding and report summary counts by.

use serde::{Deserialize, Serialize};

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
    strum::EnumIter,
)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Skip,
    /// Works now, but is fragile or risky (a public fallback resolver, ports that bypass
    /// the host firewall). It does not gate unless `--strict` or a suite's `gate = "warn"`.
    Warn,
    /// The host is misconfigured: what the check is about is broken.
    Fail,
    /// netcheck could not tell: an observation it needed is missing or broken.
    Error,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Skip => "skip",
            Status::Warn => "warn",
            Status::Fail => "fail",
            Status::Error => "error",
        }
    }
}
