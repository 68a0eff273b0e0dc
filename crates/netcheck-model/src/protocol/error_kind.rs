//! Why a request failed, as a judge must tell it: the network's doing, or netcheck's
//! inability to try. The error's text is for people; its kind is for judges.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Why a request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// netcheck could not make the request from where it had to: entering the
    /// container's network namespace, binding to its interface, routing it out. Says
    /// nothing about the network.
    Setup,
    /// No answer within the deadline: dropped on the way, or by the peer.
    NoAnswer,
    /// The connection failed: refused, reset, unreachable.
    Connection,
    /// Something answered, but not netcheck's listener.
    NotListener,
    /// The target's name did not resolve.
    Unresolved,
    /// The target is neither HOST:PORT nor an http:// URL.
    BadTarget,
}

impl ErrorKind {
    /// The kind of a failure recorded before requests carried one, read from the words
    /// that netcheck wrote then; a failure they do not name was the connection's.
    pub fn from_text(error: &str) -> ErrorKind {
        const SETUP: [&str; 4] = ["entering", "/proc", "binding to", "routing the probe's"];
        if SETUP.iter().any(|s| error.starts_with(s)) {
            ErrorKind::Setup
        } else if error.starts_with("no answer within") {
            ErrorKind::NoAnswer
        } else if error.starts_with("not netcheck's listener")
            || error == "answered, but not as netcheck's listener"
        {
            ErrorKind::NotListener
        } else if error.ends_with(" does not resolve") {
            ErrorKind::Unresolved
        } else if error.starts_with("target is not HOST:PORT") {
            ErrorKind::BadTarget
        } else {
            ErrorKind::Connection
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorKind;

    /// The words older snapshots hold, as peers.rs, egress.rs and the probe wrote them.
    #[test]
    fn older_snapshots_error_text_reads_as_its_kind() {
        for (text, kind) in [
            (
                "entering /proc/4242/ns/net: Operation not permitted",
                ErrorKind::Setup,
            ),
            (
                "/proc/4242/ns/net: No such file or directory (os error 2)",
                ErrorKind::Setup,
            ),
            ("binding to eth0: No such device", ErrorKind::Setup),
            (
                "routing the probe's eth1 out: File exists",
                ErrorKind::Setup,
            ),
            ("no answer within 300 ms", ErrorKind::NoAnswer),
            ("Connection refused (os error 111)", ErrorKind::Connection),
            (
                "answered, but not as netcheck's listener",
                ErrorKind::NotListener,
            ),
            (
                "not netcheck's listener: expected value at line 1 column 1",
                ErrorKind::NotListener,
            ),
            ("db.internal does not resolve", ErrorKind::Unresolved),
            (
                "target is not HOST:PORT or an http:// URL",
                ErrorKind::BadTarget,
            ),
        ] {
            assert_eq!(ErrorKind::from_text(text), kind, "{text}");
        }
    }

    #[test]
    fn a_recorded_kind_wins_over_the_words() {
        let older: crate::snapshot::Request = serde_json::from_value(serde_json::json!({
            "purpose": "icc:front:web",
            "target": "172.18.0.2:4000",
            "addr": "172.18.0.2:4000",
            "ok": false,
            "seen_source": null,
            "error": "binding to eth0: No such device",
            "elapsed_ms": 0,
        }))
        .unwrap();
        assert_eq!(older.error_kind, None);
        assert_eq!(older.error_kind(), Some(ErrorKind::Setup));
        let mut newer = older.clone();
        newer.fail(ErrorKind::NoAnswer, "binding to eth0 took too long");
        assert_eq!(newer.error_kind(), Some(ErrorKind::NoAnswer));
        let json = serde_json::to_value(&newer).unwrap();
        assert_eq!(json["error_kind"], "no-answer");
    }

    #[test]
    fn kinds_are_written_in_kebab_case() {
        assert_eq!(
            serde_json::to_string(&ErrorKind::NotListener).unwrap(),
            "\"not-listener\""
        );
    }
}
