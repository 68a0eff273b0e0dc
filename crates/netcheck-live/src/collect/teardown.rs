//! Removing what a run created, on every path out: the registry a run fills as it
//! creates things, and the probe's end (waiting for the engine's own removal).

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bollard::Docker;
use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, KillContainerOptions, RemoveContainerOptionsBuilder,
    WaitContainerOptionsBuilder,
};

use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use super::{outside, trace};
use crate::net::listener;

/// Everything a run created, removed by [`Teardown::run`] on every path out:
/// success, failure, timeout and signals alike. Not to be confused with what dead runs
/// left, which [`crate::leftovers`] removes.
#[derive(Default)]
pub struct Teardown {
    pub(super) probes: Mutex<Vec<ProbeRun>>,
    /// The probe's output: its attachment lives until the probe is ended.
    pub(super) attachments: Mutex<Vec<Box<dyn Send>>>,
    pub(super) outside: Mutex<Option<(rtnetlink::Handle, outside::Outside)>>,
    pub(super) listeners: Mutex<Vec<listener::Listener>>,
    pub(super) agents: Mutex<Vec<AgentRun>>,
    /// The `nft -i` sessions holding packet-trace tables (they go with the session).
    pub(super) traces: trace::Sessions,
    /// Container creates still in flight: each ends (sends or drops) when its request
    /// has been answered.
    creates: Mutex<Vec<tokio::sync::oneshot::Receiver<()>>>,
}

impl Teardown {
    /// Creates container `name` in a task of its own. An interrupt drops the run in the
    /// middle of its requests, but the engine carries out a create it has been sent; were
    /// the request dropped with the run, the container could come to exist after the
    /// teardown looked for it, and stay. The teardown waits for every create first.
    pub(super) async fn create(
        &self,
        docker: &Docker,
        name: &str,
        body: ContainerCreateBody,
    ) -> Result<(), bollard::errors::Error> {
        let (answered, wait) = tokio::sync::oneshot::channel();
        self.creates.lock().unwrap().push(wait);
        let (docker, options) = (
            docker.clone(),
            CreateContainerOptionsBuilder::new().name(name).build(),
        );
        let request = tokio::spawn(async move {
            let created = docker.create_container(Some(options), body).await;
            let _ = answered.send(());
            created.map(|_| ())
        });
        match request.await {
            Ok(created) => created,
            // The task panicked or the runtime is shutting down: as a failed request.
            Err(e) => Err(bollard::errors::Error::IOError {
                err: std::io::Error::other(e),
            }),
        }
    }

    pub async fn run(&self) {
        let creates = std::mem::take(&mut *self.creates.lock().unwrap());
        let _ =
            tokio::time::timeout(CREATE_ANSWER_WAIT, futures_util::future::join_all(creates)).await;
        let probes = std::mem::take(&mut *self.probes.lock().unwrap());
        let outside = self.outside.lock().unwrap().take();
        self.listeners.lock().unwrap().clear();
        let agents = std::mem::take(&mut *self.agents.lock().unwrap());
        let agents = futures_util::future::join_all(agents.into_iter().map(end_agent));
        let containers = futures_util::future::join_all(probes.into_iter().map(
            |ProbeRun {
                 docker,
                 name,
                 stdin,
             }| async move { end_probe(&docker, &name, stdin).await },
        ));
        let outside = async {
            if let Some((handle, o)) = outside {
                o.remove(&handle).await;
            }
        };
        tokio::join!(containers, outside, agents, self.traces.end());
        self.attachments.lock().unwrap().clear();
    }
}

/// How long the teardown waits for the engine to answer the creates in flight (a busy
/// engine takes seconds; a hung one is the teardown's own bound's to cut short).
const CREATE_ANSWER_WAIT: Duration = Duration::from_secs(10);

/// A probe container of this run, and its stdin once it has its arguments (ending it
/// ends the probe).
pub(super) struct ProbeRun {
    pub(super) docker: Docker,
    pub(super) name: String,
    pub(super) stdin: Option<std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>>>,
}

/// Ends a probe and returns once the engine has removed it. The probe is AutoRemove:
/// once it has exited, the engine removes it itself, so this waits for that removal
/// instead of racing it with a remove of its own (which the engine refuses while its
/// own is under way).
///
/// The end of its stdin ends it (it was started with --args-on-stdin, which exits with
/// stdin): no request, and no kill for the
/// engine to carry out, as a bare `docker run --rm` whose command returns. One that does
/// not go that way is killed; one that was never started, or is paused, is not
/// auto-removed: it is removed outright.
pub(super) async fn end_probe(
    docker: &Docker,
    name: &str,
    stdin: Option<std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>>>,
) {
    use bollard::errors::Error as B;
    use tokio::io::AsyncWriteExt;
    if let Some(mut stdin) = stdin {
        let closed = tokio::time::timeout(Duration::from_secs(1), stdin.shutdown()).await;
        if matches!(closed, Ok(Ok(()))) && wait_removed(docker, name, Duration::from_secs(2)).await
        {
            return;
        }
    }
    match docker
        .kill_container(name, None::<KillContainerOptions>)
        .await
    {
        Ok(()) => {
            if wait_removed(docker, name, Duration::from_secs(5)).await {
                return;
            }
        }
        // Not there: its create failed (the teardown has waited for every create's
        // answer, so none is still under way).
        Err(B::DockerResponseServerError {
            status_code: 404, ..
        }) => return,
        // Not running (created, exited, paused, or being removed already).
        Err(_) => {}
    }
    if remove_probe(docker, name).await.is_err() {
        // The engine's own removal is under way, or it has just come to exist.
        if !wait_removed(docker, name, Duration::from_secs(5)).await {
            let _ = remove_probe(docker, name).await;
        }
    }
}

/// Waits until the engine has removed `name` (or it does not exist); false on timeout.
pub(super) async fn wait_removed(docker: &Docker, name: &str, timeout: Duration) -> bool {
    use bollard::errors::Error as B;
    let options = WaitContainerOptionsBuilder::new()
        .condition("removed")
        .build();
    let mut wait = docker.wait_container(name, Some(options));
    match tokio::time::timeout(timeout, wait.next()).await {
        // bollard reports a non-zero exit code (a killed probe's 137) as an error.
        Ok(None | Some(Ok(_)) | Some(Err(B::DockerContainerWaitError { .. }))) => true,
        Ok(Some(Err(B::DockerResponseServerError {
            status_code: 404, ..
        }))) => true,
        _ => false,
    }
}

/// Removes a probe container outright: killed, not stopped (a graceful stop would wait
/// out its linger), and thawed first if it is frozen (paused), which the engine
/// refuses to kill.
pub async fn remove_probe(docker: &Docker, name: &str) -> Result<(), bollard::errors::Error> {
    let force = RemoveContainerOptionsBuilder::new()
        .force(true)
        .v(true)
        .build();
    if docker
        .remove_container(name, Some(force.clone()))
        .await
        .is_ok()
    {
        return Ok(());
    }
    let _ = docker.unpause_container(name).await;
    docker.remove_container(name, Some(force)).await
}

/// An agent container of this run, and its stdin (closing it asks the agent to stop).
pub struct AgentRun {
    pub docker: Docker,
    pub name: String,
    pub stdin: Option<AgentStdin>,
}

/// Ends an agent run: asks the agent to stop (the end of its stdin), and waits for the
/// engine to remove it. (The probe is this process's to end, beside it.)
async fn end_agent(run: AgentRun) {
    let AgentRun {
        docker,
        name,
        stdin,
    } = run;
    if let Some(stdin) = stdin {
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            stdin.lock().await.shutdown().await
        })
        .await;
    }
    // Running, it ends by itself now that its stdin is closed; created and never
    // started, or exited without AutoRemove's removal, it is removed outright.
    let running = docker
        .inspect_container(&name, None)
        .await
        .ok()
        .and_then(|c| c.state?.running)
        .unwrap_or(false);
    if !running || !wait_removed(&docker, &name, Duration::from_secs(10)).await {
        let _ = remove_probe(&docker, &name).await;
    }
}

/// The agent's stdin, written by the run and closed by its teardown.
pub type AgentStdin = Arc<tokio::sync::Mutex<Pin<Box<dyn tokio::io::AsyncWrite + Send>>>>;
