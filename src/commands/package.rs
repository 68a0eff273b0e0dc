//! What the package ships beside the binary, generated from the same clap definition as
//! --help so that it never drifts from it: completions and man pages.

use netcheck::checks;
use netcheck::error::{Error, exit};

use super::print;
use crate::cli;

/// `netcheck completions SHELL`: the script the package installs, for any shell.
pub fn completions(shell: clap_complete::Shell) -> Result<u8, Error> {
    let mut script = Vec::new();
    let mut command = visible(&crate::cli::definition()).version(cli::VERSION);
    clap_complete::generate(shell, &mut command, "netcheck", &mut script);
    let mut script = String::from_utf8_lossy(&script).into_owned();
    if shell == clap_complete::Shell::Bash {
        script.push_str(BASH_ENGINE_VALUES);
    }
    print(&script)?;
    Ok(exit::OK)
}

/// Values no script can hold when it is written, the engine's networks and the docker
/// CLI's contexts: bash asks netcheck itself for them, with the same `__complete` answer
/// docker's TAB gets, and leaves every other word to the generated function.
const BASH_ENGINE_VALUES: &str = r#"
# The engine's networks and the docker CLI's contexts, asked of netcheck at TAB time.
_netcheck_engine_values() {
    local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}"
    case "$prev" in
        --network|--context|-c)
            local IFS=$'\n' out
            out=$("${COMP_WORDS[0]}" __completeNoDesc "${COMP_WORDS[@]:1:COMP_CWORD-1}" "$cur" 2>/dev/null) || return 0
            COMPREPLY=($(compgen -W "${out%:*}" -- "$cur"))
            return 0
            ;;
    esac
    _netcheck "$@"
}
complete -F _netcheck_engine_values -o bashdefault -o default netcheck
"#;

/// The command without its hidden subcommands and arguments, which clap_complete's
/// generators would otherwise offer (`netcheck probe-image`, `--probe-arg`).
pub fn visible(command: &clap::Command) -> clap::Command {
    let mut out = clap::Command::new(command.get_name().to_string());
    if let Some(about) = command.get_about() {
        out = out.about(about.clone());
    }
    for arg in command.get_arguments().filter(|a| !a.is_hide_set()) {
        out = out.arg(hinted(arg.clone()));
    }
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        out = out.subcommand(visible(sub));
    }
    out
}

/// The argument as completion scripts should offer it: check ids for filters, the
/// shipped profiles, and no file names for values that are not files. The command this
/// goes into only generates scripts: it never parses a command line, so the check-id
/// lists constrain nothing.
fn hinted(arg: clap::Arg) -> clap::Arg {
    use clap::builder::PossibleValuesParser;
    let ids = || -> Vec<String> {
        checks::REGISTRY
            .iter()
            .filter(|c| !c.generic)
            .map(|c| c.id.to_string())
            .collect()
    };
    match arg.get_id().as_str() {
        "filters" | "skip" => arg.value_parser(PossibleValuesParser::new(ids())),
        "id" => {
            let kinds = checks::REGISTRY.iter().filter(|c| c.generic).map(|c| c.id);
            let all: Vec<String> = ids().into_iter().chain(kinds.map(String::from)).collect();
            arg.value_parser(PossibleValuesParser::new(all))
        }
        "profile" => arg.value_parser(PossibleValuesParser::new(
            netcheck::suite::SHIPPED.iter().map(|(name, _)| *name),
        )),
        "contexts" | "networks" | "listen" | "interval" | "timeout" | "probe_timeout_ms"
        | "jobs" => arg.value_hint(clap::ValueHint::Other),
        "hosts" => arg.value_hint(clap::ValueHint::Url),
        _ => arg,
    }
}

/// `netcheck manpages DIR`: netcheck.1 and a page per visible subcommand.
/// scripts/package runs it. netcheck.1 adds what clap does not know: the environment,
/// the exit status, examples, and the checks (from the registry, so never stale).
pub fn manpages(dir: &std::path::Path) -> Result<u8, Error> {
    let write_error = |source| Error::Write {
        path: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(write_error)?;
    let command = crate::cli::definition();
    clap_mangen::generate_to(command.clone(), dir).map_err(write_error)?;
    let mut page = Vec::new();
    main_page(command, &mut page).map_err(write_error)?;
    std::fs::write(dir.join("netcheck.1"), page).map_err(write_error)?;
    Ok(exit::OK)
}

/// The environment netcheck reads, each with what it means.
const ENVIRONMENT: &[(&str, &str)] = &[
    (
        "DOCKER_HOST",
        "The engine's endpoint (unix://, tcp://, ssh://), as for the docker CLI; -H overrides it.",
    ),
    (
        "DOCKER_CONTEXT",
        "The docker context to use; --context overrides it.",
    ),
    (
        "DOCKER_CONFIG",
        "The docker CLI's configuration directory (contexts, currentContext); default ~/.docker.",
    ),
    (
        "DOCKER_TLS_VERIFY",
        "Non-empty: use TLS and verify the engine, with the files in DOCKER_CERT_PATH.",
    ),
    (
        "DOCKER_CERT_PATH",
        "Where ca.pem, cert.pem and key.pem are for TLS.",
    ),
    (
        "NO_COLOR",
        "Any value: no colour in the terminal report under --color auto.",
    ),
];

const EXAMPLES: &[(&str, &str)] = &[
    (
        "netcheck",
        "Run every check of the default suite against the local engine.",
    ),
    (
        "netcheck --network app-net bridge",
        "Run the bridge checks on the network app-net only.",
    ),
    (
        "netcheck --profile ci --junit netcheck.xml",
        "A CI gate: warnings fail too, with a JUnit report.",
    ),
    (
        "netcheck explain link.mtu",
        "What a check proves, and when it fails.",
    ),
    (
        "netcheck collect -o snap.json && netcheck analyze snap.json",
        "Observe on one machine, judge anywhere.",
    ),
    (
        "netcheck serve --interval 5m",
        "Check every five minutes; serve /healthz and /metrics on 127.0.0.1:9955.",
    ),
    (
        "docker --context prod netcheck",
        "As a Docker CLI plugin, against the engine of the context prod.",
    ),
];

const EXIT_STATUS: &[(&str, &str)] = &[
    ("0", "Every check passed, warned or was skipped."),
    (
        "1",
        "At least one check failed (with --strict, or a suite's gate = \"warn\": a warning too).",
    ),
    (
        "2",
        "netcheck could not do its job: bad arguments or files, no daemon, a socket it may not use, a check that errored.",
    ),
    (
        "129, 130, 143",
        "Interrupted by SIGHUP, SIGINT or SIGTERM, after removing what it created.",
    ),
];

fn main_page(command: clap::Command, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    use roff::{Roff, bold, roman};
    let man = clap_mangen::Man::new(command.clone());
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    man.render_options_section(out)?;
    man.render_subcommands_section(out)?;
    let mut roff = Roff::new();
    let list = |roff: &mut Roff, title: &str, items: &[(String, String)]| {
        roff.control("SH", [title]);
        for (term, text) in items {
            roff.control("TP", []);
            roff.text([bold(term.as_str())]);
            roff.text([roman(text.as_str())]);
        }
    };
    let owned = |items: &[(&str, &str)]| -> Vec<(String, String)> {
        items
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    let checks: Vec<(String, String)> = checks::REGISTRY
        .iter()
        .map(|c| {
            let kind = if c.generic {
                " (a kind for suites)"
            } else {
                ""
            };
            (c.id.to_string(), format!("{}{kind}", c.title))
        })
        .collect();
    list(&mut roff, "CHECKS", &checks);
    roff.control("PP", []).text([roman(
        "netcheck explain ID prints what a check proves and when it fails.",
    )]);
    list(&mut roff, "ENVIRONMENT", &owned(ENVIRONMENT));
    list(&mut roff, "EXIT STATUS", &owned(EXIT_STATUS));
    list(&mut roff, "EXAMPLES", &owned(EXAMPLES));
    roff.to_writer(out)?;
    man.render_version_section(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_main_man_page_has_the_sections_and_every_check() {
        let dir = tempfile::tempdir().unwrap();
        manpages(dir.path()).unwrap();
        let page = std::fs::read_to_string(dir.path().join("netcheck.1")).unwrap();
        for section in [
            "ENVIRONMENT",
            "EXAMPLES",
            "EXIT STATUS",
            "CHECKS",
            "OPTIONS",
            "SUBCOMMANDS",
        ] {
            assert!(
                page.contains(&format!(".SH {section}"))
                    || page.contains(&format!(".SH \"{section}\"")),
                "{section}: {page}"
            );
        }
        for c in checks::REGISTRY {
            assert!(page.contains(&c.id.replace('-', "\\-")), "{}", c.id);
        }
        assert!(dir.path().join("netcheck-serve.1").exists());
    }

    #[test]
    fn static_completions_offer_check_ids_and_no_files_for_names() {
        let mut script = Vec::new();
        let mut command = visible(&crate::cli::definition());
        clap_complete::generate(
            clap_complete::Shell::Bash,
            &mut command,
            "netcheck",
            &mut script,
        );
        let script = String::from_utf8(script).unwrap();
        assert!(script.contains("kernel.ip-forward"), "no check ids");
        // --profile offers the profiles; --context and --network no file names.
        let case = |flag: &str| {
            let at = script.find(&format!("{flag})")).unwrap();
            script[at..].lines().nth(1).unwrap_or("").to_string()
        };
        assert!(
            case("--profile").contains("default onboarding ci"),
            "{}",
            case("--profile")
        );
        for flag in ["--context", "--network"] {
            assert!(!case(flag).contains("compgen -f"), "{flag}: {}", case(flag));
        }
    }
}
