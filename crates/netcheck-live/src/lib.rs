//! netcheck against a live engine: reach it ([`engine`]), observe it and its host
//! ([`collect`], through the probe container and the host agent, [`probe`]), and turn
//! one run ([`run`]), many engines ([`fleet`]) or a schedule ([`serve`]) into
//! [`RunRecord`](netcheck_model::record::RunRecord)s. What a run creates is labelled
//! by its owner ([`owner`]) and removed, by it or by the next run ([`leftovers`]).

pub mod agent;
pub mod collect;
pub mod engine;
pub mod fleet;
pub mod leftovers;
pub mod log;
pub mod net;
pub mod owner;
pub mod probe;
pub mod run;
pub mod serve;
