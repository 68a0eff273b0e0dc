//! Docker's completion protocol for CLI plugins, which is cobra's: on TAB after
//! `docker netcheck `, the docker CLI runs
//! `docker-netcheck __complete netcheck WORD... PARTIAL` and prints what comes back:
//! one candidate a line (`candidate<TAB>description`), then `:<directive>`.
//! `__completeNoDesc` asks for the same without descriptions.
//!
//! Completion reads the command-line definition (clap's), the check registry and the
//! shipped suites, the docker CLI's stored contexts, and for `--network` lists the
//! engine's networks under a short deadline. It never runs a check and creates nothing:
//! a TAB must neither probe the host nor wait on it.

use std::time::Duration;

use netcheck::{checks, engine, suite};

/// The directives of cobra's `ShellCompDirective`, a bit set.
mod directive {
    /// Let the shell complete file names.
    pub const FILES: u8 = 0;
    /// Offer only the candidates given.
    pub const NO_FILES: u8 = 4;
    /// Complete directory names only.
    pub const DIRS: u8 = 16;
    /// Keep the candidates' order (check ids in the order they run).
    pub const KEEP_ORDER: u8 = 32;
}

/// The engine gets this long to list its networks: a TAB must answer within 200 ms,
/// and an engine that does not answer by then is not waited for.
const ENGINE_DEADLINE: Duration = Duration::from_millis(120);

/// A completion request: the words typed so far (after `netcheck`) and the partial last
/// one.
#[derive(Debug, PartialEq, Eq)]
pub struct CompletionRequest {
    pub words: Vec<String>,
    pub partial: String,
    pub descriptions: bool,
}

/// The answer cobra's shell scripts read: candidates, then `:<directive>`.
pub fn answer(request: &CompletionRequest) -> String {
    let (candidates, directive) = candidates(&request.words, &request.partial);
    let mut out = String::new();
    for (value, description) in candidates {
        // One line each: a newline or tab inside would split or mislabel a candidate.
        let value = first_line(&value);
        out.push_str(value.trim());
        let description = first_line(&description).trim().to_string();
        if request.descriptions && !description.is_empty() {
            out.push('\t');
            out.push_str(&description.replace('\t', " "));
        }
        out.push('\n');
    }
    out.push_str(&format!(":{directive}\n"));
    out
}

/// A description's first clause: a completion menu has one short line per candidate.
fn headline(text: &str) -> &str {
    let end = [". ", ": "]
        .iter()
        .filter_map(|sep| text.find(sep))
        .min()
        .unwrap_or(text.len());
    &text[..end]
}

fn first_line(text: &str) -> &str {
    text.split('\n').next().unwrap_or_default()
}

type Candidates = Vec<(String, String)>;

/// Where the words leave the command line: which (sub)command, which flag waits for a
/// value, how many positionals were given, and the engine flags seen.
struct State {
    command: clap::Command,
    pending: Option<clap::Arg>,
    positionals: usize,
    flags: engine::Flags,
    profile: Option<String>,
}

fn candidates(words: &[String], partial: &str) -> (Candidates, u8) {
    let mut root = crate::commands::package::visible(&crate::cli::definition());
    root.build();
    let state = walk(&root, words);
    if let Some(arg) = &state.pending {
        return values(arg, partial, &state, "");
    }
    if let Some(rest) = partial.strip_prefix("--")
        && let Some((name, value)) = rest.split_once('=')
    {
        return match find_long(&state.command, name) {
            Some(arg) if takes_value(&arg) => values(&arg, value, &state, &format!("--{name}=")),
            _ => (Vec::new(), directive::NO_FILES),
        };
    }
    if partial.starts_with('-') {
        return (flags(&state.command, partial), directive::NO_FILES);
    }
    positional(&state, partial)
}

/// Reads the words as clap would, far enough to know what the partial word is.
fn walk(root: &clap::Command, words: &[String]) -> State {
    let mut state = State {
        command: root.clone(),
        pending: None,
        positionals: 0,
        flags: engine::Flags::default(),
        profile: None,
    };
    let mut escaped = false;
    for word in words {
        if let Some(arg) = state.pending.take() {
            record(&mut state, &arg, word);
            continue;
        }
        if escaped || word == "-" || !word.starts_with('-') {
            let sub = (state.command.get_name() == root.get_name() && state.positionals == 0)
                .then(|| state.command.find_subcommand(word).cloned())
                .flatten();
            match sub {
                Some(sub) => state.command = sub,
                None => state.positionals += 1,
            }
            continue;
        }
        if word == "--" {
            escaped = true;
        } else if let Some(long) = word.strip_prefix("--") {
            let (name, value) = match long.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (long, None),
            };
            if let Some(arg) = find_long(&state.command, name).filter(takes_value) {
                match value {
                    Some(value) => record(&mut state, &arg, value),
                    None => state.pending = Some(arg),
                }
            }
        } else {
            // A cluster of short flags; the first that takes a value takes the rest.
            let shorts: Vec<char> = word.chars().skip(1).collect();
            for (i, short) in shorts.iter().enumerate() {
                let found = state
                    .command
                    .get_arguments()
                    .find(|a| a.get_short() == Some(*short))
                    .cloned();
                if let Some(arg) = found.filter(takes_value) {
                    let rest: String = shorts[i + 1..].iter().collect();
                    let rest = rest.strip_prefix('=').unwrap_or(&rest).to_string();
                    if rest.is_empty() {
                        state.pending = Some(arg);
                    } else {
                        record(&mut state, &arg, &rest);
                    }
                    break;
                }
            }
        }
    }
    state
}

/// Keeps the values that change what completes: the engine and the profile.
fn record(state: &mut State, arg: &clap::Arg, value: &str) {
    match arg.get_id().as_str() {
        "hosts" => state.flags.hosts.push(value.to_string()),
        "contexts" => state.flags.contexts.push(value.to_string()),
        "config" => state.flags.config = Some(value.into()),
        "profile" => state.profile = Some(value.to_string()),
        _ => {}
    }
}

fn find_long(command: &clap::Command, name: &str) -> Option<clap::Arg> {
    command
        .get_arguments()
        .find(|a| a.get_long() == Some(name))
        .cloned()
}

fn takes_value(arg: &clap::Arg) -> bool {
    arg.get_num_args()
        .is_some_and(|n| n.takes_values() && n.min_values() > 0)
        || matches!(
            arg.get_action(),
            clap::ArgAction::Set | clap::ArgAction::Append
        )
}

/// The flags of the command, long ones, and short ones for a lone `-`.
fn flags(command: &clap::Command, partial: &str) -> Candidates {
    let mut out = Vec::new();
    for arg in command.get_arguments().filter(|a| !a.is_positional()) {
        let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
        if let Some(long) = arg.get_long() {
            out.push((format!("--{long}"), help.clone()));
        }
        if partial == "-"
            && let Some(short) = arg.get_short()
        {
            out.push((format!("-{short}"), help));
        }
    }
    out.push(("--help".into(), "Print help".into()));
    out.retain(|(c, _)| c.starts_with(partial));
    out
}

/// The values a flag takes.
fn values(arg: &clap::Arg, partial: &str, state: &State, prefix: &str) -> (Candidates, u8) {
    let id = arg.get_id().as_str();
    let mut out: Candidates = match id {
        "profile" => profiles(),
        "contexts" => contexts(state),
        "networks" => networks(state),
        "skip" => check_ids(state),
        _ if arg.get_value_hint() == clap::ValueHint::DirPath => {
            return (Vec::new(), directive::DIRS);
        }
        _ if is_path(arg) => return (Vec::new(), directive::FILES),
        _ => arg
            .get_possible_values()
            .into_iter()
            .filter(|v| !v.is_hide_set())
            .map(|v| {
                let help = v.get_help().map(|h| h.to_string()).unwrap_or_default();
                (v.get_name().to_string(), help)
            })
            .collect(),
    };
    out.retain(|(c, _)| c.starts_with(partial));
    for (c, _) in &mut out {
        c.insert_str(0, prefix);
    }
    (out, directive::NO_FILES | directive::KEEP_ORDER)
}

/// Whether a flag's value is a file: the shell completes it.
fn is_path(arg: &clap::Arg) -> bool {
    matches!(
        arg.get_value_hint(),
        clap::ValueHint::FilePath | clap::ValueHint::AnyPath
    ) || arg
        .get_value_names()
        .is_some_and(|names| names.iter().any(|n| n == "FILE" || n == "DIR"))
}

/// The positional word: a check id or a subcommand, a check to explain, a shell, a file.
fn positional(state: &State, partial: &str) -> (Candidates, u8) {
    let name = state.command.get_name();
    let mut out: Candidates = match name {
        "explain" if state.positionals == 0 => {
            let mut ids = check_ids(state);
            ids.extend(
                checks::REGISTRY
                    .iter()
                    .filter(|c| c.generic)
                    .map(|c| (c.id.to_string(), c.title.to_string())),
            );
            ids
        }
        "completions" if state.positionals == 0 => {
            let shell = state.command.get_arguments().find(|a| a.is_positional());
            return match shell {
                Some(arg) => values(arg, partial, state, ""),
                None => (Vec::new(), directive::NO_FILES),
            };
        }
        "analyze" if state.positionals == 0 => return (Vec::new(), directive::FILES),
        "check" if state.positionals == 0 => return (Vec::new(), directive::FILES),
        "suite" | "netcheck" if state.positionals == 0 => {
            let mut out = if name == "netcheck" {
                check_ids(state)
            } else {
                Vec::new()
            };
            out.extend(
                state
                    .command
                    .get_subcommands()
                    .filter(|s| !s.is_hide_set())
                    .map(|s| {
                        let about = s.get_about().map(|a| a.to_string()).unwrap_or_default();
                        (s.get_name().to_string(), headline(&about).to_string())
                    }),
            );
            out
        }
        "netcheck" | "analyze" | "collect" | "serve" => check_ids(state),
        _ => Vec::new(),
    };
    out.retain(|(c, _)| c.starts_with(partial));
    (out, directive::NO_FILES | directive::KEEP_ORDER)
}

/// The ids of the profile's checks (the default suite's unless --profile says), with
/// their titles.
fn check_ids(state: &State) -> Candidates {
    let profile = state.profile.as_deref().unwrap_or("default");
    let suite = suite::Suite::shipped(profile).or_else(|_| suite::Suite::shipped("default"));
    match suite {
        Ok(suite) => suite
            .instances
            .iter()
            .map(|i| (i.id.clone(), i.title()))
            .collect(),
        Err(_) => checks::REGISTRY
            .iter()
            .filter(|c| !c.generic)
            .map(|c| (c.id.to_string(), c.title.to_string()))
            .collect(),
    }
}

/// The shipped suites, with their descriptions.
pub fn profiles() -> Candidates {
    suite::SHIPPED
        .iter()
        .map(|(name, text)| {
            let description = text
                .parse::<toml::Table>()
                .ok()
                .and_then(|t| t.get("description")?.as_str().map(str::to_string))
                .unwrap_or_default();
            (name.to_string(), description)
        })
        .collect()
}

/// The docker CLI's contexts, as `docker context ls` lists them: `default` and the
/// stored ones.
fn contexts(state: &State) -> Candidates {
    let dir = engine::config_dir(&state.flags, &engine::ProcessEnv);
    let mut out = vec![(
        "default".to_string(),
        "the engine DOCKER_HOST or the local socket names".to_string(),
    )];
    for (name, host) in engine::docker_context::stored(&dir) {
        out.push((name, host));
    }
    out
}

/// The engine's bridge networks, if it lists them within the deadline; none otherwise
/// (an ssh engine is not dialled for a TAB).
fn networks(state: &State) -> Candidates {
    let flags = engine::Flags {
        hosts: state.flags.hosts.first().cloned().into_iter().collect(),
        contexts: if state.flags.hosts.is_empty() {
            state.flags.contexts.first().cloned().into_iter().collect()
        } else {
            Vec::new()
        },
        ..state.flags.clone()
    };
    let Ok(engine) = engine::resolve(&flags, &engine::ProcessEnv) else {
        return Vec::new();
    };
    if matches!(engine.transport, engine::Transport::Ssh { .. }) {
        return Vec::new();
    }
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return Vec::new();
    };
    runtime.block_on(async {
        let Ok(docker) = engine::client(&engine) else {
            return Vec::new();
        };
        let list = tokio::time::timeout(
            ENGINE_DEADLINE,
            docker.list_networks(None::<bollard::query_parameters::ListNetworksOptions>),
        )
        .await;
        match list {
            Ok(Ok(networks)) => networks
                .into_iter()
                .filter(|n| n.driver.as_deref() == Some("bridge"))
                .filter_map(|n| {
                    let subnet = n
                        .ipam
                        .and_then(|i| i.config)
                        .and_then(|c| c.into_iter().find_map(|c| c.subnet))
                        .unwrap_or_default();
                    Some((n.name?, subnet))
                })
                .collect(),
            _ => Vec::new(),
        }
    })
}

#[cfg(test)]
mod tests;
