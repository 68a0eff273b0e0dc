//! `netcheck cleanup`: what killed runs left behind, removed and listed (see
//! [`netcheck::leftovers`]).

use netcheck::error::{Error, exit};

use super::{live, print};
use crate::cli::EngineArgs;

pub async fn remove(args: &EngineArgs, images: bool) -> Result<u8, Error> {
    let (docker, local) = netcheck::engine::connect(&live::engine(args)?).await?;
    let removed = netcheck::leftovers::remove(&docker, local, images).await?;
    let mut text = String::new();
    for (what, names) in [
        ("removed container", &removed.containers),
        ("removed link", &removed.links),
        ("removed nftables table", &removed.tables),
        ("removed image", &removed.images),
        ("ended orphaned helper process", &removed.processes),
        ("kept the probe of a running netcheck", &removed.kept),
        ("could not remove", &removed.failed),
    ] {
        for n in names {
            text.push_str(&format!("{what} {n}\n"));
        }
    }
    if text.is_empty() {
        text.push_str("nothing to clean up\n");
    }
    print(&text)?;
    Ok(exit::OK)
}
