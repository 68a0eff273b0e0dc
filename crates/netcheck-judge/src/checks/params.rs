//! Parameters belong to their check. A check that takes any has its own type, typed
//! from a suite's `params` table when the suite loads, and its judge receives that type:
//! no sum of every check's parameters, and no judge that could be handed another's.

use std::sync::Arc;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::de::DeserializeOwned;

use super::{Context, Instance, Outcome};
use netcheck_model::protocol::ProbeArgs;

/// A check with its parameters, ready to judge; what an [`Instance`] holds.
pub trait Configured: std::fmt::Debug + Send + Sync {
    fn judge(&self, ctx: &Context, instance: &Instance) -> Outcome;
    /// The network a generic kind runs from: the probe joins it.
    fn network(&self) -> Option<&str> {
        None
    }
    /// Adds what the probe must do for this instance.
    fn probe_args(&self, _id: &str, _args: &mut ProbeArgs) {}
    /// A title that says what this instance checks.
    fn describe(&self) -> Option<String> {
        None
    }
}

/// A check's own parameter type.
pub trait CheckParams:
    DeserializeOwned + JsonSchema + std::fmt::Debug + Send + Sync + 'static
{
    /// What serde cannot check: a problem, at a key where there is one.
    fn validate(&self) -> Result<(), ParamError> {
        Ok(())
    }
    fn network(&self) -> Option<&str> {
        None
    }
    fn probe_args(&self, _id: &str, _args: &mut ProbeArgs) {}
    fn describe(&self) -> Option<String> {
        None
    }
}

/// A problem with a `params` table; `key` locates it in the suite file.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamError {
    pub key: Option<String>,
    pub message: String,
}

impl ParamError {
    pub fn at(key: &str, message: impl Into<String>) -> ParamError {
        ParamError {
            key: Some(key.into()),
            message: message.into(),
        }
    }
}

/// How a check is configured from a `params` table.
pub type Configure = fn(&toml::Table) -> Result<Arc<dyn Configured>, ParamError>;

/// A check that takes no parameters.
struct Plain(fn(&Context, &Instance) -> Outcome);

impl std::fmt::Debug for Plain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("no parameters")
    }
}

impl Configured for Plain {
    fn judge(&self, ctx: &Context, instance: &Instance) -> Outcome {
        (self.0)(ctx, instance)
    }
}

/// A check and its typed parameters.
struct With<P> {
    params: P,
    judge: fn(&Context, &Instance, &P) -> Outcome,
}

impl<P: std::fmt::Debug> std::fmt::Debug for With<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.params.fmt(f)
    }
}

impl<P: CheckParams> Configured for With<P> {
    fn judge(&self, ctx: &Context, instance: &Instance) -> Outcome {
        (self.judge)(ctx, instance, &self.params)
    }
    fn network(&self) -> Option<&str> {
        self.params.network()
    }
    fn probe_args(&self, id: &str, args: &mut ProbeArgs) {
        self.params.probe_args(id, args)
    }
    fn describe(&self) -> Option<String> {
        self.params.describe()
    }
}

/// For a check that takes none: any key is an error, at that key.
pub fn none(
    table: &toml::Table,
    judge: fn(&Context, &Instance) -> Outcome,
) -> Result<Arc<dyn Configured>, ParamError> {
    match table.keys().next() {
        None => Ok(Arc::new(Plain(judge))),
        Some(k) => Err(ParamError::at(
            k,
            format!("unknown parameter `{k}`: this check takes none"),
        )),
    }
}

/// Types a `params` table with serde, then the type's own validation.
pub fn typed<P: CheckParams>(
    table: &toml::Table,
    judge: fn(&Context, &Instance, &P) -> Outcome,
) -> Result<Arc<dyn Configured>, ParamError> {
    let params = P::deserialize(toml::Value::Table(table.clone())).map_err(|e| {
        let message = e.message().trim().to_string();
        ParamError {
            key: key_of(&message, table),
            message,
        }
    })?;
    params.validate()?;
    Ok(Arc::new(With { params, judge }))
}

/// The key a serde message is about: a key it names in backticks (an unknown field),
/// else the one key whose value has the wrong type, where the message says which.
fn key_of(message: &str, table: &toml::Table) -> Option<String> {
    let named = message
        .split('`')
        .skip(1)
        .step_by(2)
        .find(|k| table.contains_key(*k));
    if let Some(k) = named {
        return Some(k.to_string());
    }
    // A table of one key: the problem is there, whatever the message says.
    if table.len() == 1 {
        return table.keys().next().cloned();
    }
    // "invalid type: string \"x\", expected u32": the key whose value is that string.
    let (_, rest) = message.split_once("invalid type: ")?;
    let shown = rest.split(", expected").next()?;
    table
        .iter()
        .find(|(_, v)| {
            let text = match v {
                toml::Value::String(s) => format!("string {s:?}"),
                toml::Value::Integer(i) => format!("integer `{i}`"),
                toml::Value::Boolean(b) => format!("boolean `{b}`"),
                toml::Value::Float(f) => format!("floating point `{f}`"),
                toml::Value::Array(_) => "sequence".into(),
                toml::Value::Table(_) => "map".into(),
                toml::Value::Datetime(_) => "datetime".into(),
            };
            text == shown
        })
        .map(|(k, _)| k.clone())
}

/// The schema of a check that takes no parameters: an empty table.
pub fn schema_none(_: &mut SchemaGenerator) -> Schema {
    schemars::json_schema!({ "type": "object", "additionalProperties": false })
}

/// The schema of a check's parameter type.
pub fn schema_of<P: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<P>()
}

/// The `params` of every check and kind, for the suite's JSON Schema (editor completion).
pub fn suite_schema(generator: &mut SchemaGenerator) -> Schema {
    let each: Vec<serde_json::Value> = super::REGISTRY
        .iter()
        .map(|c| (c.params_schema)(generator).to_value())
        .collect();
    schemars::json_schema!({ "anyOf": each })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_is_located_at_its_key() {
        let table: toml::Table = toml::from_str("network = \"n\"\ntarget = 5").unwrap();
        let e = typed::<crate::checks::tcp::Params>(&table, |_, _, _| unreachable!()).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("target"), "{e:?}");
        let table: toml::Table = toml::from_str("network = \"n\"\nport = 5").unwrap();
        let e = typed::<crate::checks::tcp::Params>(&table, |_, _, _| unreachable!()).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("port"), "{e:?}");
    }
}
