//! What a judge may look at ([`Context`]), and the steps many judges share: the docker
//! observation or why it is missing, a root cause on the bridge, quoting for fixes.

use super::Outcome;
use netcheck_model::protocol::Purpose;
use netcheck_model::snapshot::{NetworkObs, Snapshot};

/// Everything a judge may look at, bundled.
pub struct Context<'a> {
    pub snapshot: &'a Snapshot,
    /// The checked networks that the engine knows, in the order asked.
    pub networks: Vec<&'a NetworkObs>,
    /// What the engine's own rules should look like: its version and backend decide.
    pub engine: super::engine_rules::EngineRules,
}

impl<'a> Context<'a> {
    pub fn new(snapshot: &'a Snapshot) -> Self {
        let networks = snapshot
            .networks
            .iter()
            .filter_map(|name| snapshot.network(name))
            .collect();
        Context {
            snapshot,
            networks,
            engine: super::engine_rules::EngineRules::of(snapshot),
        }
    }

    /// The same context, narrowed to one network.
    pub fn narrowed(&self, n: &'a NetworkObs) -> Context<'a> {
        Context {
            snapshot: self.snapshot,
            networks: vec![n],
            engine: self.engine.clone(),
        }
    }
}

/// A common first step: the docker observation, or the outcome that says why not.
pub(crate) fn docker_or_outcome(ctx: &Context) -> Result<(), Outcome> {
    if let Some(why) = ctx.snapshot.docker.why_missing() {
        return Err(Outcome::error(
            format!("no Docker observations: {why}"),
            vec![],
        ));
    }
    // Collection refuses a network the engine does not have, so only a snapshot made
    // or edited elsewhere gets here; a network-scoped check is judged per known network.
    if ctx.networks.is_empty() {
        let why = match ctx.snapshot.networks.join(", ") {
            names if names.is_empty() => "the snapshot names no network to check".into(),
            names => format!("none of the requested networks exist: {names}"),
        };
        return Err(Outcome::error(why, vec![]));
    }
    Ok(())
}

/// The probe's request for a suite instance, or the outcome that says why there is none.
pub(crate) fn probe_request<'a>(
    ctx: &'a Context,
    id: &str,
) -> Result<&'a netcheck_model::snapshot::Request, Outcome> {
    let Some(probe) = ctx.snapshot.probe.ok() else {
        return Err(missing(&ctx.snapshot.probe, "probe container"));
    };
    let purpose = Purpose::instance(id);
    probe.report.requests.iter().find(|r| r.purpose == purpose).ok_or_else(|| {
        Outcome::error(
            format!("the probe made no request for {id}: the snapshot was collected with another suite"),
            vec![],
        )
    })
}

/// The outcome of a check whose observation is missing: skip when it could not be made
/// here (no root, a remote engine), error when netcheck tried and failed.
pub(crate) fn missing<T: Observation>(
    obs: &netcheck_model::snapshot::Observed<T>,
    what: &str,
) -> Outcome {
    let why = obs.why_missing().unwrap_or("");
    match obs {
        netcheck_model::snapshot::Observed::Skipped { .. } => {
            Outcome::skip(format!("{what} not observed: {why}"), vec![])
        }
        _ => Outcome {
            hint: Some(T::FIX.into()),
            ..Outcome::error(format!("{what} not observed: {why}"), vec![])
        },
    }
}

/// The fix for an observation that errored, by which observation it is: every errored
/// check then carries a fix, as every exit 2 must.
pub(crate) trait Observation {
    const FIX: &'static str;
}

impl Observation for netcheck_model::snapshot::ProbeObs {
    const FIX: &'static str = netcheck_model::error::PROBE_FIX;
}

impl Observation for netcheck_model::snapshot::HostObs {
    const FIX: &'static str = netcheck_model::error::HOST_FIX;
}

impl Observation for netcheck_model::snapshot::FirewallObs {
    const FIX: &'static str = netcheck_model::error::HOST_FIX;
}

impl Observation for netcheck_model::snapshot::DockerObs {
    const FIX: &'static str = netcheck_model::error::DOCKER_FIX;
}

/// Whether a network sets icc=false: its containers must not reach each other.
pub(crate) fn icc_disabled(n: &NetworkObs) -> bool {
    n.icc_disabled()
}

/// `eth0 172.17.0.2/16 (up)`: a link as evidence.
pub(crate) fn describe_link(ns: &netcheck_model::snapshot::NetnsObs, index: u32) -> String {
    match ns.link(index) {
        None => format!("if{index} (absent)"),
        Some(l) => {
            let addrs: Vec<String> = ns.addrs_of(index).map(|a| a.to_string()).collect();
            let mut s = l.name.clone();
            if !addrs.is_empty() {
                s.push(' ');
                s.push_str(&addrs.join(","));
            }
            s.push_str(if l.up { " (up)" } else { " (down)" });
            s
        }
    }
}

/// A value from the engine or the host (a network, bridge, container or link name),
/// quoted for a suggested command: a pasted fix never runs what a name contains.
/// A name holding a control character (a newline, ESC) or a bidi control gets ANSI-C
/// quoting (`$'a\nb'`), so that the fix stays one line that shows what the name holds
/// and pastes as that name.
pub(crate) fn sh(value: &str) -> std::borrow::Cow<'_, str> {
    if value.chars().any(netcheck_model::escape::is_unsafe) {
        return std::borrow::Cow::Owned(ansi_c(value));
    }
    // Only a NUL byte cannot be quoted, and it is unsafe: handled above.
    shlex::try_quote(value).unwrap_or(std::borrow::Cow::Borrowed("''"))
}

/// Bash's `$'…'`: every unsafe character as a fixed-width escape (`\xHH` below 0x80,
/// `\uHHHH` or `\UHHHHHHHH` above, which bash turns back into that character), and `\`
/// and `'` escaped. Fixed widths, so that a following hex digit is never read into one.
fn ansi_c(value: &str) -> String {
    use std::fmt::Write;
    let mut out = String::from("$'");
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if netcheck_model::escape::is_unsafe(c) => {
                let n = c as u32;
                let _ = match n {
                    0..0x80 => write!(out, "\\x{n:02x}"),
                    0x80..0x1_0000 => write!(out, "\\u{n:04x}"),
                    _ => write!(out, "\\U{n:08x}"),
                };
            }
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// A command line read from the host (an iptables rule as iptables-save prints it),
/// requoted word by word, so that it pastes as the same words.
pub(crate) fn sh_words(line: &str) -> String {
    match shlex::split(line) {
        Some(words) => words.iter().map(|w| sh(w)).collect::<Vec<_>>().join(" "),
        None => sh(line).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    /// A hostile name is one line in a fix, and bash reads it back as that very name.
    #[test]
    fn fixes_quote_hostile_names_on_one_line_that_bash_reads_back() {
        for name in [
            "app\n::error::forged",
            "a\u{1b}[2Jb",
            "rtl\u{202e}gnp.exe",
            "it's \\ here\t1",
            "\u{85}c1\u{7f}",
            "plain-name",
            "with space",
        ] {
            let quoted = super::sh(name);
            assert!(!quoted.contains('\n'), "{quoted}");
            assert!(
                !quoted.chars().any(netcheck_model::escape::is_unsafe),
                "{quoted:?}"
            );
            // \u escapes decode to UTF-8 only under a UTF-8 locale.
            let out = std::process::Command::new("bash")
                .env("LC_ALL", "C.UTF-8")
                .args(["-c", &format!("printf %s {quoted}")])
                .output()
                .unwrap();
            assert_eq!(String::from_utf8(out.stdout).unwrap(), name, "{quoted}");
        }
        assert_eq!(
            super::sh_words("-A FORWARD -i 'a\nb' -j DROP"),
            "-A FORWARD -i $'a\\nb' -j DROP"
        );
    }
}
