//! netcheck diagnoses Docker networking on a live host.
//!
//! The flow, one module a step: [`plan`] picks the checks, [`collect`] gathers the
//! observations they need into a [`snapshot::Snapshot`], [`checks`] judge it (pure
//! functions), and [`report`] renders the outcomes.

pub mod checks;
pub mod collect;
pub mod engine;
pub mod error;
pub mod fleet;
pub mod input;
pub mod leftovers;
pub mod log;
pub mod net;
pub mod nftables;
pub mod owner;
pub mod plan;
pub mod probe;
pub mod protocol;
pub mod redact;
pub mod report;
pub mod run;
pub mod serve;
pub mod snapshot;
pub mod spelling;
pub mod suite;
