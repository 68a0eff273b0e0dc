//! netcheck diagnoses Docker networking on a live host.
//!
//! The flow, one crate a layer (see ARCHITECTURE.md): [`plan`] picks the checks,
//! [`collect`] gathers the observations they need into a [`snapshot::Snapshot`]
//! (netcheck-live), [`checks`] judge it, pure (netcheck-judge), and [`report`] renders
//! the outcomes (netcheck-render), all over the types of netcheck-model. This crate is
//! the command line; it re-exports the layers' modules under one name each.

pub use netcheck_judge::{checks, plan, redact, suite};
pub use netcheck_live::{agent, collect, engine, fleet, leftovers, log, net, probe, run, serve};
pub use netcheck_model::{error, escape, protocol, record, snapshot};

pub mod schemas;

/// The report and its formats: the types (netcheck-model) and the renderers
/// (netcheck-render) under one path.
pub mod report {
    pub use netcheck_model::report::*;
    pub use netcheck_render::*;
}

/// Contract A: see [`netcheck_judge::judge`].
pub use netcheck_judge::judge;
