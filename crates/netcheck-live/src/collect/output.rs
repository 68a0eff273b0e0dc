//! A container's attached output, as lines of its stdout: how netcheck reads its probe's
//! report and its agent's messages. What the container writes to stderr is kept to say
//! why it ended.

use std::pin::Pin;

use futures_util::StreamExt;

/// An attachment's output stream, as bollard gives it.
pub type Output = Pin<
    Box<
        dyn futures_util::Stream<
                Item = Result<bollard::container::LogOutput, bollard::errors::Error>,
            > + Send,
    >,
>;

/// The longest line taken from a container: many times a snapshot of hundreds of
/// containers, and a bound on what an engine that lies can make netcheck hold.
const LINE_MAX: usize = 64 << 20;

/// How much of a container's stderr is kept, to say why it ended.
const STDERR_KEPT: usize = 64 << 10;

#[derive(Default)]
pub struct Lines {
    stdout: Vec<u8>,
    /// How much of `stdout` holds no line's end.
    searched: usize,
    stderr: String,
}

/// Why no line came.
#[derive(Debug)]
pub enum LineError {
    TooLong,
    Read(bollard::errors::Error),
    /// The output ended first; the container's stderr, trimmed.
    Ended(String),
}

impl LineError {
    /// Said of the `who` container, which was to give `what`.
    pub fn said(&self, who: &str, what: &str) -> String {
        match self {
            LineError::TooLong => format!(
                "the {who}'s output has a line longer than {} MiB",
                LINE_MAX >> 20
            ),
            LineError::Read(e) => format!("reading the {who}'s output: {e}"),
            LineError::Ended(stderr) => format!("the {who} exited without {what}: {stderr}"),
        }
    }
}

impl Lines {
    /// The next line, with its end.
    pub async fn next(&mut self, output: &mut Output) -> Result<Vec<u8>, LineError> {
        loop {
            // Only what came since the last look is searched: a snapshot comes in many
            // chunks.
            if let Some(at) = self.stdout[self.searched..]
                .iter()
                .position(|b| *b == b'\n')
            {
                let line = self.stdout.drain(..=self.searched + at).collect();
                self.searched = 0;
                return Ok(line);
            }
            self.searched = self.stdout.len();
            match output.next().await {
                Some(Ok(bollard::container::LogOutput::StdOut { message })) => {
                    if self.stdout.len() + message.len() > LINE_MAX {
                        return Err(LineError::TooLong);
                    }
                    self.stdout.extend_from_slice(&message)
                }
                // Only its beginning is kept: the cause comes first.
                Some(Ok(other)) if self.stderr.len() < STDERR_KEPT => self
                    .stderr
                    .push_str(&String::from_utf8_lossy(&other.into_bytes())),
                Some(Ok(_)) => {}
                // A container that exited while netcheck wrote to its stdin: the engine
                // answers the write with a reset, which is that end, not a fault of
                // its own.
                Some(Err(bollard::errors::Error::IOError { err }))
                    if err.kind() == std::io::ErrorKind::ConnectionReset =>
                {
                    return Err(LineError::Ended(self.stderr.trim().to_string()));
                }
                Some(Err(e)) => return Err(LineError::Read(e)),
                None => return Err(LineError::Ended(self.stderr.trim().to_string())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(chunks: Vec<bollard::container::LogOutput>) -> Output {
        Box::pin(futures_util::stream::iter(chunks.into_iter().map(Ok)))
    }

    fn out(text: &str) -> bollard::container::LogOutput {
        bollard::container::LogOutput::StdOut {
            message: text.as_bytes().to_vec().into(),
        }
    }

    #[tokio::test]
    async fn lines_are_cut_where_they_end_not_where_chunks_do() {
        let err = bollard::container::LogOutput::StdErr {
            message: b"agent: no such socket\n".to_vec().into(),
        };
        let mut stream = output(vec![out("{\"a\""), out(":1}\n{\"b\":2}\n{\"c"), err]);
        let mut lines = Lines::default();
        assert_eq!(lines.next(&mut stream).await.unwrap(), b"{\"a\":1}\n");
        assert_eq!(lines.next(&mut stream).await.unwrap(), b"{\"b\":2}\n");
        // A line never finished: the container's stderr says why it ended.
        let e = lines.next(&mut stream).await.unwrap_err();
        assert_eq!(
            e.said("agent", "a reply"),
            "the agent exited without a reply: agent: no such socket"
        );
    }

    #[tokio::test]
    async fn a_reset_after_the_container_exited_is_its_end() {
        let err = bollard::container::LogOutput::StdErr {
            message: b"exec format error".to_vec().into(),
        };
        let reset = bollard::errors::Error::IOError {
            err: std::io::Error::from(std::io::ErrorKind::ConnectionReset),
        };
        let mut stream: Output = Box::pin(futures_util::stream::iter([Ok(err), Err(reset)]));
        let e = Lines::default().next(&mut stream).await.unwrap_err();
        assert_eq!(
            e.said("probe", "a report"),
            "the probe exited without a report: exec format error"
        );
    }

    #[tokio::test]
    async fn an_endless_line_is_refused_not_held() {
        let chunk = "x".repeat(1 << 20);
        let mut stream = output((0..=LINE_MAX >> 20).map(|_| out(&chunk)).collect());
        let e = Lines::default().next(&mut stream).await.unwrap_err();
        assert!(matches!(e, LineError::TooLong), "{e:?}");
    }
}
