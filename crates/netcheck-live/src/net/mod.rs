//! Kernel and socket access shared by the host side (collect) and the probe: netlink
//! dumps of a namespace, and netcheck's HTTP listener that reports whom it saw. Below
//! both, so that neither needs the other.

pub mod in_netns;
pub mod limits;
pub mod listener;
pub mod netlink;
pub mod netns_dump;
pub mod tc;
