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

pub fn plan(args: &RunArgs) -> Result<Plan, Error> {
    let plan = Plan::new(
        load(&args.suite)?,
        &Filters {
            include: args.filters.clone(),
            skip: args.skip.clone(),
            exact: args.exact,
        },
    )?;
    Ok(if args.strict { plan.strict() } else { plan })
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
    text.push_str(&codes_text(check));
    print(&text)?;
    Ok(exit::OK)
}

/// The check's finding codes, each with its description: what a report's findings carry
/// and a suite's `allow` takes. The common ones follow, as every check may report them.
fn codes_text(check: &checks::Check) -> String {
    let mut text = String::from("\nFinding codes (a suite's `allow` takes them):\n");
    let mut list = |codes: Vec<checks::CodeInfo>| {
        for c in codes {
            text.push_str(&format!("  {}/{}\n", check.id, c.slug));
            for line in wrapped(&c.description, 80) {
                text.push_str(&format!("      {line}\n"));
            }
        }
    };
    list((check.codes)());
    list(checks::code::list::<checks::Common>());
    text
}

/// `text` in lines of at most `width` characters, broken between words.
fn wrapped(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = vec![];
    for word in text.split_whitespace() {
        match lines.last_mut() {
            Some(line) if line.chars().count() + 1 + word.chars().count() <= width => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_string()),
        }
    }
    lines
}
