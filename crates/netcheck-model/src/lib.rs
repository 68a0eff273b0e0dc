//! netcheck's data model: what a run observes ([`snapshot`]), what netcheck and its
//! probe say to each other ([`protocol`]), what it reports ([`report`], [`finding`],
//! [`record`]), and its errors. No engine, no host, no I/O beyond reading a file: the
//! judges and the reporters depend on this crate alone.

pub mod error;
pub mod escape;
pub mod finding;
pub mod input;
pub mod nftables;
pub mod protocol;
pub mod record;
pub mod report;
pub mod snapshot;
pub mod status;
