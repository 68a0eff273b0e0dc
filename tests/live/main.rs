//! The live tests: everything that needs the Docker daemon, root, or namespaces of the
//! test's own. Each test holds the host-wide lock (tests/common: `live()`,
//! `lock_host()`), so they run one at a time whatever the thread count, and leave the
//! host as they found it. One binary, so the crate is linked once for all of them.
//!
//! A new module: a file here, one `mod` line below, and `#[test]` fns that start with
//! `let Some(_live) = common::live() else { return };`.

#[path = "../common/mod.rs"]
mod common;

mod action;
mod catalogue;
mod causes;
mod checks;
mod engines;
mod examples;
mod firewall;
mod fleet;
mod hardening;
mod image;
mod interrupts;
mod kernel;
mod layers;
mod package;
mod plugin;
mod podman;
mod remote;
mod routing;
mod rules;
mod scale;
mod serve;
mod stand_ins;
mod suites;
mod terminal;
