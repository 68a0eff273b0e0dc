//! The checks reference, `docs/checks.md`, rendered from [`REGISTRY`]: each check's id,
//! title, scope, what it needs, its parameters (from the same JSON Schema editors
//! complete suites from) and its documentation (what `netcheck explain ID` prints).
//!
//! Generated rather than written, so that the reference cannot drift from the checks:
//! `tests/offline/docs.rs` fails when the committed file differs, and `UPDATE_DOCS=1 cargo test
//! --test docs` rewrites it. Pure: the registry in, Markdown out.

use std::fmt::Write;

use schemars::generate::SchemaSettings;
use serde_json::Value;

use super::{Check, Needs, REGISTRY, Scope};

/// Where the reference is committed, relative to the repository's root.
pub const PATH: &str = "docs/checks.md";

/// The whole of `docs/checks.md`.
pub fn markdown() -> String {
    let mut md = String::new();
    md.push_str(HEADER);
    let (builtin, kinds): (Vec<&Check>, Vec<&Check>) = REGISTRY.iter().partition(|c| !c.generic);
    index(&mut md, &builtin);
    md.push_str(
        "\nGeneric kinds: checks of your own, which a [suite](suites.md) instantiates under \
         ids of its own, with parameters.\n",
    );
    index(&mut md, &kinds);
    for check in builtin.iter().chain(&kinds) {
        section(&mut md, check);
    }
    md
}

const HEADER: &str = "\
# The checks

<!-- Generated from netcheck's check registry: do not edit by hand.
     `UPDATE_DOCS=1 cargo test --test offline docs::` rewrites this file. -->

Each check gives a verdict (`PASS`, `WARN`, `FAIL`, `SKIP` with its reason, or `ERROR`
when netcheck could not tell), the evidence it saw, and for a failure the command that
fixes it. A network-scoped check reports once per checked network, as `id[network]`.
`netcheck explain ID` prints a check's documentation below on any machine; `netcheck
--list` lists the ids. How IPv6, the engine's versions and firewall backends, and a failed
flow's cause are handled across checks: [engines.md](engines.md).
";

fn index(md: &mut String, checks: &[&Check]) {
    md.push_str("\n| id | scope | what it proves |\n| --- | --- | --- |\n");
    for c in checks {
        let _ = writeln!(
            md,
            "| [`{}`](#{}) | {} | {} |",
            c.id,
            slug(c.id),
            scope_word(c),
            cell(c.title)
        );
    }
}

fn scope_word(check: &Check) -> &'static str {
    match (check.generic, check.scope) {
        (true, _) => "a suite's",
        (false, Scope::Host) => "host",
        (false, Scope::Network) => "per network",
    }
}

fn section(md: &mut String, check: &Check) {
    let _ = write!(md, "\n## {}\n\n**{}**\n\n", check.id, check.title);
    let scope = match (check.generic, check.scope) {
        (true, _) => "a generic kind: a suite's entry gives it an id of its own and its \
                      parameters (`kind = \"KIND\"`)"
            .to_string(),
        (false, Scope::Host) => "the host: one result".to_string(),
        (false, Scope::Network) => format!(
            "each checked network: one result per network, `{}[NETWORK]`",
            check.id
        ),
    };
    let _ = writeln!(md, "- Judges: {scope}");
    let _ = writeln!(md, "- Needs: {}", needs(&check.needs));
    let params = params(check);
    let _ = writeln!(
        md,
        "- Parameters: {}\n",
        if params.is_empty() {
            "none"
        } else {
            "in a suite's `params` (below)"
        }
    );
    doc(md, check.doc);
    if !params.is_empty() {
        param_table(md, &params);
    }
    let codes = finding_codes(check);
    if !codes.is_empty() {
        md.push_str("\nFinding codes (a suite's `allow` takes them):\n\n| code | meaning |\n| --- | --- |\n");
        for (code, meaning) in &codes {
            let _ = writeln!(md, "| `{}/{code}` | {} |", check.id, cell(meaning));
        }
    }
}

/// The parameters' table; a description column only where the schema has descriptions
/// (a generic kind's parameters are described in its documentation's own list).
fn param_table(md: &mut String, params: &[Param]) {
    let described = params.iter().any(|p| !p.description.is_empty());
    md.push_str("\nParameters:\n\n| name | type | default |");
    md.push_str(if described {
        " description |\n| --- | --- | --- | --- |\n"
    } else {
        "\n| --- | --- | --- |\n"
    });
    for p in params {
        let _ = write!(md, "| `{}` | {} | {} |", p.name, p.kind, p.default);
        if described {
            let _ = write!(md, " {} |", cell(&p.description));
        }
        md.push('\n');
    }
}

/// The finding codes a check reports (slug, meaning), from its code enum.
fn finding_codes(check: &Check) -> Vec<(String, String)> {
    (check.codes)()
        .into_iter()
        .map(|c| (c.slug.into(), c.description))
        .collect()
}

fn needs(needs: &Needs) -> String {
    let Needs {
        host,
        probe,
        outside,
        publish,
        peers,
    } = *needs;
    let parts: Vec<&str> = [
        (
            host,
            "the host's links, addresses, routes, sysctls and firewall rules",
        ),
        (probe, "netcheck's probe container and its requests"),
        (
            outside,
            "the hermetic outside peer (a namespace on 198.18.0.0/15)",
        ),
        (
            publish,
            "a port the probe publishes, reached from the host and by hairpin",
        ),
        (
            peers,
            "connections from other containers' namespaces to the probe",
        ),
    ]
    .into_iter()
    .filter_map(|(needed, what)| needed.then_some(what))
    .collect();
    if parts.is_empty() {
        "the engine's answers only".into()
    } else {
        parts.join("; ")
    }
}

/// One parameter, from the check's JSON Schema.
struct Param {
    name: String,
    kind: String,
    default: String,
    description: String,
}

fn params(check: &Check) -> Vec<Param> {
    // Inlined, so that a parameter's type is in place rather than behind a `$ref`.
    let mut generator = SchemaSettings::draft2020_12()
        .with(|s| s.inline_subschemas = true)
        .into_generator();
    let schema = (check.params_schema)(&mut generator).to_value();
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(properties) = schema["properties"].as_object() else {
        return Vec::new();
    };
    properties
        .iter()
        .map(|(name, p)| Param {
            name: name.clone(),
            kind: type_of(p),
            default: match p.get("default") {
                _ if required.contains(&name.as_str()) => "required".into(),
                Some(Value::Null) | None => "optional".into(),
                Some(d) => format!("`{d}`"),
            },
            description: p["description"]
                .as_str()
                .unwrap_or_default()
                .replace('\n', " "),
        })
        .collect()
}

/// A schema's type in words: `string`, `list of string`, `"open"` or `"closed"`.
fn type_of(schema: &Value) -> String {
    if let Some(values) = schema["enum"].as_array() {
        let words: Vec<String> = values.iter().map(|v| format!("`{v}`")).collect();
        return words.join(" or ");
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .collect(),
        _ => Vec::new(),
    };
    match types.as_slice() {
        ["array"] => format!("list of {}", type_of(&schema["items"])),
        ["object"] if schema["additionalProperties"].is_object() => {
            format!("table of {}", type_of(&schema["additionalProperties"]))
        }
        [one] => one.to_string(),
        _ => "value".into(),
    }
}

/// Labels that start a line of their own in a check's plain-text documentation, each a
/// paragraph of its own in Markdown (where consecutive lines would run together).
const LABELS: &[&str] = &[
    "Fails when:",
    "Warns when:",
    "Skips when:",
    "Typical cause:",
    "Params:",
];

/// A check's documentation, written as plain text for the terminal, as Markdown: its
/// paragraphs kept, a labelled line a paragraph of its own, an indented block (a kind's
/// parameter list) kept as written.
fn doc(md: &mut String, text: &str) {
    for paragraph in text.split("\n\n") {
        let lines: Vec<&str> = paragraph.lines().collect();
        if lines.iter().skip(1).any(|l| l.starts_with(' ')) {
            let _ = write!(md, "{}\n\n```text\n", prose(lines[0], &mut false));
            for line in &lines[1..] {
                let _ = writeln!(md, "{line}");
            }
            md.push_str("```\n\n");
            continue;
        }
        let mut in_code = false;
        for (i, line) in lines.iter().enumerate() {
            match LABELS.iter().find(|l| line.starts_with(*l)) {
                Some(label) => {
                    if i > 0 {
                        md.push_str("\n\n");
                    }
                    let rest = prose(&line[label.len()..], &mut in_code);
                    let _ = write!(md, "**{label}** {rest}");
                }
                None => {
                    if i > 0 {
                        md.push('\n');
                    }
                    md.push_str(&prose(line, &mut in_code));
                }
            }
        }
        md.push_str("\n\n");
    }
    // One blank line after the documentation, not two.
    md.truncate(md.trim_end().len());
    md.push('\n');
}

/// A line of plain text as Markdown prose: outside code spans, `<` would open an HTML
/// tag (`br-<id>` would lose its `<id>`), and a line's start could open a list or a
/// heading. Backticks are the documentation's own code spans and are kept; `in_code`
/// carries a span that a line break interrupts.
fn prose(line: &str, in_code: &mut bool) -> String {
    let mut out = String::with_capacity(line.len());
    let trimmed = line.trim_start();
    // A marker is escaped by its punctuation: `\-`, `\#`, and `2\.` for a numbered list.
    let marker = !*in_code && trimmed.starts_with(['#', '>', '-', '+', '*']);
    let digits = trimmed.chars().take_while(char::is_ascii_digit).count();
    let numbered = (!*in_code
        && digits > 0
        && (trimmed[digits..].starts_with(". ") || trimmed[digits..].starts_with(") ")))
    .then_some(digits);
    if marker {
        out.push('\\');
    }
    for (i, c) in trimmed.char_indices() {
        if Some(i) == numbered {
            out.push('\\');
        }
        match c {
            '`' => {
                *in_code = !*in_code;
                out.push(c);
            }
            '<' if !*in_code => out.push_str("&lt;"),
            _ => out.push(c),
        }
    }
    out
}

/// A table cell: a pipe would end it.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

/// The anchor GitHub gives a heading: lowercase, letters, digits, `-` and `_` kept,
/// spaces as `-`, the rest dropped (`bridge.subnet` is `#bridgesubnet`).
pub fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_stays_itself_in_markdown() {
        // `<id>` outside code would be an HTML tag GitHub drops; inside code it is text.
        assert_eq!(
            prose("br-<id> and `<gateway>`", &mut false),
            "br-&lt;id> and `<gateway>`"
        );
        // A wrapped line that starts like a list item or a heading stays prose.
        assert_eq!(prose("-o br0 drops", &mut false), "\\-o br0 drops");
        assert_eq!(prose("2. the next", &mut false), "2\\. the next");
        assert_eq!(prose("2.5 MB", &mut false), "2.5 MB");
        // A code span broken across lines is still code on the second line.
        let mut in_code = false;
        prose("see `ip rule", &mut in_code);
        assert!(in_code);
        assert_eq!(prose("show <x>` <y>", &mut in_code), "show <x>` &lt;y>");
    }

    #[test]
    fn labels_start_paragraphs_and_indented_blocks_stay_as_written() {
        let mut md = String::new();
        doc(
            &mut md,
            "Proves it.\nFails when: a.\nWarns when: b.\n\nparams:\n  network  the network",
        );
        assert_eq!(
            md,
            "Proves it.\n\n**Fails when:** a.\n\n**Warns when:** b.\n\nparams:\n\n```text\n  network  the network\n```\n"
        );
    }

    #[test]
    fn anchors_are_githubs() {
        assert_eq!(slug("bridge.subnet"), "bridgesubnet");
        assert_eq!(slug("Set-up: two commands"), "set-up-two-commands");
        assert_eq!(slug("container.default-route"), "containerdefault-route");
    }

    #[test]
    fn every_check_has_a_section_with_its_parameters() {
        let md = markdown();
        for check in REGISTRY {
            let section = md
                .split(&format!("\n## {}\n", check.id))
                .nth(1)
                .unwrap_or_else(|| panic!("{} has no section", check.id));
            let section = section.split("\n## ").next().unwrap();
            for p in params(check) {
                assert!(
                    section.contains(&format!("| `{}` |", p.name)),
                    "{}: parameter {} missing",
                    check.id,
                    p.name
                );
            }
        }
        // A check with parameters shows them: bridge.subnet's two, typed.
        assert!(md.contains("| `forbid_overlap` | list of string | `[]` |"));
    }
}
