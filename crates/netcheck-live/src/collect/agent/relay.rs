//! The messages between netcheck and its agent, one JSON line each: on the agent's
//! stdin ([`ToAgent`]) and its stdout ([`FromAgent`]).
//!
//! netcheck starts the probe container itself, while the agent container starts, so
//! that the two starts overlap; the agent makes what the probe is to reach (listeners,
//! the outside peer) on its host and names it in the probe's arguments. netcheck carries
//! them to the probe and its report back:
//!
//! ```text
//! netcheck → agent   Started      the probe runs (its published ports), or why not
//! agent → netcheck   Probe        the probe's arguments
//! netcheck → agent   Report       the probe's report
//! agent → netcheck   Reply        the snapshot, or why there is none
//! ```

use std::pin::Pin;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;

use super::super::output::{Lines, Output};
use super::super::probe_container::{Running, Started};
use super::super::teardown::{AgentStdin, Teardown};
use netcheck_model::error::Error;
use netcheck_model::protocol::ProbeArgs;
use netcheck_model::snapshot::{ProbeReport, Published, Snapshot};

/// netcheck's messages to the agent.
#[derive(Debug, Serialize, Deserialize)]
pub enum ToAgent {
    /// The probe runs, published on these ports (none, and why, where the engine could
    /// not publish them); or it could not be started.
    Started(Result<(Vec<Published>, Option<String>), String>),
    /// The probe's report to the arguments the agent sent.
    Report(Result<ProbeReport, String>),
}

/// The agent's messages to netcheck.
#[derive(Debug, Serialize, Deserialize)]
pub enum FromAgent {
    /// The probe's arguments, once what it is to reach exists.
    Probe(ProbeArgs),
    /// The end: what the agent observed, or why it could not. (Boxed: a snapshot is
    /// large beside the arguments.)
    Reply(Box<Reply>),
}

impl FromAgent {
    /// The message as the line the agent prints.
    pub fn line(&self) -> String {
        serde_json::to_string(self).expect("an agent message serialises") + "\n"
    }
}

/// The agent's end: netcheck's messages as they come in on stdin.
pub struct Relay {
    incoming: tokio::sync::Mutex<tokio::sync::mpsc::UnboundedReceiver<ToAgent>>,
}

impl Relay {
    /// Reads netcheck's messages from stdin. The returned future ends with stdin (netcheck
    /// went, or asked the agent to stop).
    pub fn from_stdin() -> (Relay, impl std::future::Future<Output = ()>) {
        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
        let read = async move {
            use tokio::io::AsyncBufReadExt;
            let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                // An unreadable line is dropped: the wait for it then meets the deadline.
                if let Ok(message) = serde_json::from_str(&line) {
                    let _ = sender.send(message);
                }
            }
        };
        let relay = Relay {
            incoming: tokio::sync::Mutex::new(receiver),
        };
        (relay, read)
    }

    async fn next(&self) -> Result<ToAgent, Error> {
        self.incoming
            .lock()
            .await
            .recv()
            .await
            .ok_or(Error::Interrupted("the end of the agent's stdin"))
    }

    /// The probe netcheck started: its published ports and why there are none.
    pub(crate) async fn started(&self) -> Result<(Vec<Published>, Option<String>), Error> {
        match self.next().await? {
            ToAgent::Started(started) => started.map_err(Error::Probe),
            other => Err(Error::Agent(format!(
                "expected the probe's start, got {other:?}"
            ))),
        }
    }

    /// Sends the probe its arguments through netcheck, and returns its report.
    pub(crate) async fn report(&self, args: &ProbeArgs) -> Result<ProbeReport, Error> {
        let line = FromAgent::Probe(args.clone()).line();
        {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            out.write_all(line.as_bytes())
                .and_then(|()| out.flush())
                .map_err(|e| Error::Agent(format!("writing to netcheck: {e}")))?;
        }
        match self.next().await? {
            ToAgent::Report(report) => report.map_err(Error::Probe),
            other => Err(Error::Agent(format!(
                "expected the probe's report, got {other:?}"
            ))),
        }
    }
}

/// netcheck's end: tells the agent how the probe's start went, carries the probe's
/// arguments and report, and returns the agent's reply.
///
/// The agent's output is read while the probe answers: an agent that gave up waiting
/// for the report (its own deadline) replies without it.
pub(super) async fn carry(
    mut output: Output,
    stdin: &AgentStdin,
    started: Option<Result<Started, Error>>,
    teardown: &Teardown,
) -> Result<Snapshot, Error> {
    let mut probe: Option<Running> = None;
    if let Some(started) = started {
        let message = ToAgent::Started(match started {
            Ok(s) => {
                probe = Some(s.probe);
                Ok((s.published, s.publish_error))
            }
            Err(e) => Err(probe_error(e)),
        });
        send(stdin, &message).await?;
    }
    let mut lines = Lines::default();
    let who = "agent";
    let mut report: Option<ReportFuture<'_>> = None;
    loop {
        tokio::select! {
            line = lines.next(&mut output) => {
                let line = line.map_err(|e| Error::Agent(e.said(who, "a reply")))?;
                match serde_json::from_slice::<FromAgent>(&line)
                    .map_err(|e| Error::Agent(format!("unreadable agent message: {e}")))?
                {
                    FromAgent::Probe(args) => {
                        let Some(p) = probe.take() else {
                            let no = ToAgent::Report(Err("no probe runs for this agent".into()));
                            send(stdin, &no).await?;
                            continue;
                        };
                        report = Some(Box::pin(async move { p.report(&args, teardown).await }));
                    }
                    FromAgent::Reply(reply) => {
                        let reply = *reply;
                        return match (reply.snapshot, reply.error) {
                            (Some(s), None) => Ok(s),
                            (_, Some(e)) => Err(Error::Agent(e)),
                            (None, None) => Err(Error::Agent("an empty reply".into())),
                        };
                    }
                }
            }
            r = async { report.as_mut().expect("guarded").await }, if report.is_some() => {
                report = None;
                send(stdin, &ToAgent::Report(r.map_err(probe_error))).await?;
            }
        }
    }
}

/// A probe's error as the agent is to give it: without the prefix the agent's own
/// `Error::Probe` adds again.
fn probe_error(e: Error) -> String {
    match e {
        Error::Probe(e) => e,
        other => other.to_string(),
    }
}

type ReportFuture<'a> =
    Pin<Box<dyn std::future::Future<Output = Result<ProbeReport, Error>> + Send + 'a>>;

async fn send(stdin: &AgentStdin, message: &ToAgent) -> Result<(), Error> {
    let line = serde_json::to_string(message).expect("an agent message serialises") + "\n";
    let mut stdin = stdin.lock().await;
    let write = async {
        stdin.write_all(line.as_bytes()).await?;
        stdin.flush().await
    };
    // An agent that stopped reading is one that went: its reply, or its absence, says.
    tokio::time::timeout(Duration::from_secs(10), write)
        .await
        .map_err(|_| Error::Agent("the agent stopped reading its stdin".into()))?
        .map_err(|e| Error::Agent(format!("writing to the agent: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_one_line_each_and_read_back() {
        let line = FromAgent::Probe(ProbeArgs {
            lookups: vec!["a\nb".into()],
            ..ProbeArgs::default()
        })
        .line();
        assert_eq!(line.matches('\n').count(), 1);
        match serde_json::from_str(&line).unwrap() {
            FromAgent::Probe(args) => assert_eq!(args.lookups, ["a\nb"]),
            other => panic!("{other:?}"),
        }
        let started = ToAgent::Started(Err("no".into()));
        let back: ToAgent =
            serde_json::from_str(&serde_json::to_string(&started).unwrap()).unwrap();
        assert!(matches!(back, ToAgent::Started(Err(e)) if e == "no"));
    }
}

/// The agent's one line of output.
#[derive(Debug, Serialize, Deserialize)]
pub struct Reply {
    pub snapshot: Option<Snapshot>,
    pub error: Option<String>,
}
