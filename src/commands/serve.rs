//! `netcheck serve`: the plan on a timer, its latest result over HTTP.

use netcheck::collect::docker;
use netcheck::error::Error;
use netcheck::{run, serve};

use super::{check, live, suites};
use crate::cli::{EngineArgs, ServeArgs};

pub async fn run(args: &ServeArgs, engine_args: &EngineArgs) -> Result<u8, Error> {
    let engine = live::engine(engine_args)?;
    let config = serve::Config {
        listen: args.listen,
        interval: args.interval,
        plan: suites::plan(&args.run)?,
        options: run::Options {
            socket: engine.socket(),
            engine: Some(engine.reference(false)),
            ..live::options(&args.run)
        },
        outputs: check::outputs(&args.run),
    };
    serve::serve(config, || docker::connect(&engine)).await
}
