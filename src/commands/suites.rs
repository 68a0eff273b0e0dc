//! Which checks run: the suite (a file, or a shipped profile) and the filters make the
//! plan; `netcheck suite check` validates a suite; `netcheck explain` documents a check.

use netcheck::checks;
use netcheck::error::{Error, exit};
use netcheck::plan::{Filters, Plan};
use netcheck::suite::Suite;

use super::print;
use crate::cli::{RunArgs, SuiteArgs};

pub fn load(args: &SuiteArgs) -> Result<Suite, Error> {
    match &args.suite {
        Some(path) => Suite::from_file(path),
        None => Suite::shipped(&args.profile),
    }
    .map_err(Error::BadSuite)
}

pub fn plan(run: &RunArgs) -> Result<Plan, Error> {
    let plan = Plan::new(
        load(&run.suite)?,
        &Filters {
            include: run.filters.clone(),
            skip: run.skip.clone(),
            exact: run.exact,
        },
    )?;
    Ok(if run.strict { plan.strict() } else { plan })
}

/// `netcheck suite check FILE`.
pub fn check(file: &std::path::Path) -> Result<u8, Error> {
    let suite = Suite::from_file(file).map_err(Error::BadSuite)?;
    print(&format!(
        "{}: suite `{}` is valid: {} checks\n",
        file.display(),
        suite.name,
        suite.instances.len()
    ))?;
    Ok(exit::OK)
}

/// `netcheck explain ID`: a built-in check or a kind by its id, else the suite's
/// instance of that id.
pub fn explain(id: &str, suite: &SuiteArgs) -> Result<u8, Error> {
    let (check, instance) = match checks::find(id) {
        Some(check) => (check, None),
        None => {
            let suite = load(suite)?;
            let Some(instance) = suite.instances.iter().find(|i| i.id == id).cloned() else {
                // Built-in ids and kinds, then the suite's own, each once.
                let mut known: Vec<&str> = checks::REGISTRY.iter().map(|c| c.id).collect();
                for i in &suite.instances {
                    if !known.contains(&i.id.as_str()) {
                        known.push(&i.id);
                    }
                }
                return Err(Error::UnknownCheck {
                    id: id.to_string(),
                    suggestion: netcheck::plan::did_you_mean(id, known.into_iter()),
                });
            };
            (instance.check, Some(instance))
        }
    };
    let mut text = match &instance {
        Some(i) => format!(
            "{}: {}\n(a `{}` check{})\n\n",
            i.id,
            i.title(),
            check.id,
            match i.gate {
                checks::Gate::Off => ", not gating",
                checks::Gate::Fail => "",
                checks::Gate::Warn => ", warnings gate too",
            }
        ),
        None => format!("{}: {}\n\n", check.id, check.title),
    };
    text.push_str(check.doc);
    text.push('\n');
    print(&text)?;
    Ok(exit::OK)
}
