//! What tests/live/podman.rs asks of netcheck's verdicts on Podman: a healthy run, a
//! check that fails naming its cause, and no fix that is Docker's; and the Podman it
//! starts them on.

use super::engine_faults::FAULT_PROBE_TIMEOUT_MS;
use super::engine_verdicts::{cause_text, result_text, results};
use super::podman_engine::{PodmanNet, TestPodman};
use super::*;

/// Podman started, with one user network `a` and its container.
pub fn start() -> Option<(TestPodman, PodmanNet)> {
    let mut podman = TestPodman::start()?;
    let a = podman.network("a");
    Some((podman, a))
}

/// A run's text output, printed whatever its verdict: what netcheck said of Podman.
pub fn show(what: &str, run: &Run) {
    eprintln!(
        "---- {what}: exit {}\n{}{}----",
        run.code, run.stdout, run.stderr
    );
}

/// Every result a pass or a skip that says why, and exit code 0 (for a run of a few
/// checks).
pub fn passes_or_skips(run: &Run) -> Result<(), String> {
    let bad: Vec<String> = (results(run)?.iter())
        .filter(|r| !matches!(r["status"].as_str(), Some("pass" | "skip")))
        .map(|r| format!("{} is {}: {}", r["id"], r["status"], r["message"]))
        .collect();
    match (bad.is_empty(), run.code) {
        (true, 0) => Ok(()),
        _ => Err(format!("{}\n{}", bad.join("\n"), run.explain())),
    }
}

/// A healthy Podman: a report naming Podman, every result a pass or a skip that says
/// why, and exit code 0.
pub fn healthy(run: &Run) -> Result<(), String> {
    let results = results(run)?;
    let mut wrong = vec![];
    let product = &run.report.as_ref().unwrap()["host"]["engine_product"];
    if product != "Podman" {
        wrong.push(format!("host.engine_product is {product}, not \"Podman\""));
    }
    for id in ALL {
        if !results.iter().any(|r| is(r, id)) {
            wrong.push(format!("{id} not reported"));
        }
    }
    for r in results {
        let message = r["message"].as_str().unwrap_or("").trim();
        let ok = match r["status"].as_str() {
            Some("pass") => true,
            // A reason, not the bare placeholder of a check that found nothing.
            Some("skip") => !message.is_empty() && message != "nothing to check",
            _ => false,
        };
        if !ok {
            wrong.push(format!("{} is {}: {message:?}", r["id"], r["status"]));
        }
    }
    if run.code != 0 {
        wrong.push(format!("exit {}, not 0", run.code));
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(format!("{}\n{}", wrong.join("\n"), run.explain()))
    }
}

/// No fix in the run tells a Podman user to restart a Docker daemon or edit its
/// daemon.json: Podman has neither.
pub fn docker_remedies(run: &Run) -> Result<(), String> {
    for r in results(run)? {
        let hint = r["hint"].as_str().unwrap_or_default();
        if [
            "restart docker",
            "docker restart",
            "Docker daemon",
            "daemon.json",
        ]
        .iter()
        .any(|w| hint.contains(w))
        {
            return Err(format!("{}: a Docker remedy on Podman: {hint}", r["id"]));
        }
    }
    Ok(())
}

/// `check[network]` fails, its headline or findings name every one of `causes`
/// (case-insensitive), no fix is Docker's, and the exit code is 1.
pub fn fails(run: &Run, check: &str, network: &str, causes: &[&str]) -> Result<(), String> {
    let results = results(run)?;
    let id = format!("{check}[{network}]");
    let r = results
        .iter()
        .find(|r| r["id"] == id.as_str())
        .ok_or_else(|| format!("{id} not reported:\n{}", run.explain()))?;
    if r["status"] != "fail" {
        return Err(format!(
            "{id} is {}, not fail: {}\n{}",
            r["status"],
            r["message"],
            run.explain()
        ));
    }
    let said = cause_text(r).to_lowercase();
    for cause in causes {
        if !said.contains(&cause.to_lowercase()) {
            return Err(format!(
                "{id} fails without naming {cause:?}:\n{}",
                result_text(r)
            ));
        }
    }
    docker_remedies(run)?;
    if run.code != 1 {
        return Err(format!("exit {}, not 1:\n{}", run.code, run.explain()));
    }
    Ok(())
}

/// netcheck over network `a` alone, with the fault tests' short deadline.
pub fn fault_run(podman: &TestPodman, a: &PodmanNet) -> Run {
    podman.run_local(&[
        "--network",
        &a.name,
        "--probe-timeout-ms",
        FAULT_PROBE_TIMEOUT_MS,
    ])
}

/// One fault in Podman's namespace: `inject` now, `undo` by a guard once judged;
/// `verdict` asks what netcheck over network `a` said of it, as step `what`.
pub fn one_fault(
    (podman, a, v): (
        &TestPodman,
        &PodmanNet,
        &mut super::engine_verdicts::Verdicts,
    ),
    what: &str,
    (inject, undo): (&[&str], &[&str]),
    verdict: impl FnOnce(&Run) -> Result<(), String>,
) {
    let mut guard = Restore::default();
    podman.change(&mut guard, inject, undo);
    let run = fault_run(podman, a);
    show(what, &run);
    v.step(what, verdict(&run));
}

/// netavark's own nat chain of network `a`: the target of POSTROUTING's `-s SUBNET` jump.
pub fn masquerade_chain(podman: &TestPodman, a: &PodmanNet) -> String {
    let postrouting = podman.sh(&["iptables", "-t", "nat", "-S", "POSTROUTING"]);
    let jump = format!("-A POSTROUTING -s {} -j ", a.subnet);
    postrouting
        .lines()
        .find_map(|l| l.strip_prefix(&jump))
        .filter(|chain| chain.starts_with("NETAVARK-"))
        .unwrap_or_else(|| {
            panic!(
                "no jump to netavark's chain for {}:\n{postrouting}",
                a.subnet
            )
        })
        .to_string()
}

/// Host-scoped `check` fails, naming every one of `causes`, with exit code 1.
pub fn fails_host(run: &Run, check: &str, causes: &[&str]) -> Result<(), String> {
    let results = results(run)?;
    let r = (results.iter())
        .find(|r| r["id"] == check)
        .ok_or_else(|| format!("{check} not reported:\n{}", run.explain()))?;
    docker_remedies(run)?;
    let text = r.to_string().to_lowercase();
    match (
        r["status"].as_str(),
        causes.iter().find(|c| !text.contains(&c.to_lowercase())),
    ) {
        (Some("fail"), None) if run.code == 1 => Ok(()),
        _ => Err(format!("{check}: {r}\n{}", run.explain())),
    }
}
