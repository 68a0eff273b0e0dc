//! `netcheck serve`: the plan on a timer, its latest result over HTTP.

use netcheck::error::Error;
use netcheck::{run, serve};

use super::{live, suites};
use crate::cli::{EngineArgs, ServeArgs};

pub async fn run(args: &ServeArgs, engine_args: &EngineArgs) -> Result<u8, Error> {
    let engine = live::engine(engine_args)?;
    let config = serve::Config {
        listen: args.listen,
        interval: args.interval,
        plan: suites::plan(&args.run)?,
        options: live::options(&args.run),
        outputs: args.run.outputs.0.clone(),
    };
    serve::serve(config, || run::target(Ok(engine.clone()), engine.label())).await
}
