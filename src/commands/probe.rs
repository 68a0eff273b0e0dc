//! The probe's side: `netcheck probe`, run inside the probe container, and
//! `netcheck probe-image`, for benchmarks and tests that run that image themselves.

use std::process::ExitCode;

use netcheck::collect::image;
use netcheck::error::{Error, exit};
use netcheck::protocol::ProbeArgs;

use super::{live, print};
use crate::cli::EngineArgs;

/// Inside the container, where no one reads netcheck's usual error lines: the probe's
/// own error, and exit 2.
pub fn run(runtime: &tokio::runtime::Runtime, args: ProbeArgs) -> ExitCode {
    match runtime.block_on(netcheck::probe::run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("netcheck probe: {e}");
            ExitCode::from(exit::ERROR)
        }
    }
}

/// Builds the probe image if it is missing, and prints its reference.
pub async fn image(args: &EngineArgs) -> Result<u8, Error> {
    let (docker, _) = netcheck::engine::connect(&live::engine(args)?).await?;
    let image = image::ensure(&docker).await?;
    print(&format!("{image}\n"))?;
    Ok(exit::OK)
}
