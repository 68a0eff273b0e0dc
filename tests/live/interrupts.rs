//! Interruptions and hangs, live: a probe that hangs, the run's deadline, SIGINT and
//! SIGKILL at every moment of a run, and cleanup, which removes only what a dead run
//! left. Each leaves the host as it found it (hardening.rs holds the rest of hardening).

use crate::common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// A run whose probe hangs (a test hook of `netcheck probe`), with a short deadline.
pub const STALLED_PROBE: &[&str] = &[
    "--probe-timeout-ms",
    "300",
    "--probe-arg",
    "--stall-ms",
    "--probe-arg",
    "60000",
];

pub fn spawn(args: &[&str]) -> std::process::Child {
    Command::new(bin())
        .args(args)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits until the netcheck process `pid` has started its probe.
pub fn wait_for_probe(pid: u32, timeout: Duration) {
    let started = Instant::now();
    let filter = format!("label=netcheck.pid={pid}");
    while sh(&[
        "docker",
        "ps",
        "--filter",
        &filter,
        "--format",
        "{{.Names}}",
    ])
    .is_empty()
    {
        assert!(started.elapsed() < timeout, "the probe never started");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A probe that hangs becomes an errored outcome naming what timed out; it never hangs
/// netcheck, and the frozen probe is removed.
#[test]
fn a_hanging_probe_is_an_error_not_a_hang() {
    let Some(_live) = live() else { return };
    let started = Instant::now();
    let run = netcheck(STALLED_PROBE);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "netcheck hung with its probe"
    );
    assert_eq!(run.code, 2, "{}", run.explain());
    assert_eq!(
        run.status("host.docker-internal"),
        "error",
        "{}",
        run.explain()
    );
    assert!(
        run.message("host.docker-internal")
            .contains("gave no report within 5 s"),
        "{}",
        run.explain()
    );
    // Checks that need no probe still judge.
    assert_eq!(run.status("bridge.subnet"), "pass", "{}", run.explain());
    assert_no_leftovers();
}

/// The whole run has a deadline too: it names the phase, exits 2 and cleans up.
#[test]
fn the_run_deadline_cuts_a_hang_short() {
    let Some(_live) = live() else { return };
    let started = Instant::now();
    let run = netcheck(&[
        "--timeout",
        "2",
        "--probe-arg",
        "--stall-ms",
        "--probe-arg",
        "60000",
    ]);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "--timeout 2 took {:?}",
        started.elapsed()
    );
    assert_eq!(run.code, 2, "{}", run.explain());
    assert!(
        run.stderr
            .contains("timed out after 2 s while collecting observations"),
        "{}",
        run.explain()
    );
    assert_eq!(run.report.as_ref().unwrap()["checks"][0]["status"], "error");
    assert_no_leftovers();
}

/// Interrupted at 20 moments from start to finish, by SIGINT or SIGTERM: every time,
/// nothing is left behind, and the exit code says how the run ended.
#[test]
fn interrupts_at_twenty_moments_leave_nothing_behind() {
    let Some(_live) = live() else { return };
    for i in 0..20u64 {
        let signal = if i % 2 == 0 {
            Signal::SIGINT
        } else {
            Signal::SIGTERM
        };
        let child = spawn(&[]);
        std::thread::sleep(Duration::from_millis(i * 55));
        let _ = kill(Pid::from_raw(child.id() as i32), signal);
        let out = child.wait_with_output().unwrap();
        let code = out.status.code();
        let expected = if signal == Signal::SIGINT { 130 } else { 143 };
        // A signal that lands after the last report line may find netcheck done (0),
        // and one in the first instants, before the handler is installed, kills it
        // outright (no code): nothing exists yet to leave behind then.
        assert!(
            matches!(code, Some(0)) || code == Some(expected) || code.is_none(),
            "moment {i}: exit {code:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_no_leftovers();
    }
}

/// `netcheck cleanup` removes a crashed run's leftovers, keeps a running netcheck's
/// probe, and touches nothing without netcheck's label or run prefix.
#[test]
fn cleanup_removes_only_what_netcheck_left() {
    let Some(_live) = live() else { return };
    let mut restore = Restore::default();
    // A netcheck in progress, its probe stalled. It is started first: every run sweeps
    // dead runs' leftovers as it starts, and this one must leave those below to the
    // command.
    let running = spawn(STALLED_PROBE);
    wait_for_probe(running.id(), Duration::from_secs(30));
    // A crashed run's probe (its pid is long gone) and its outside link.
    run_sleeper(
        "netcheck-probe-dead0",
        &[
            "--label",
            "netcheck.run=dead0",
            "--label",
            "netcheck.pid=999999",
        ],
        &[],
    );
    restore.push(&["docker", "rm", "-f", "netcheck-probe-dead0"]);
    sh(&[
        "ip",
        "link",
        "add",
        "netcheckdead0h",
        "type",
        "veth",
        "peer",
        "name",
        "netcheckdead0p",
    ]);
    restore.push(&["ip", "link", "del", "netcheckdead0h"]);
    // Bystanders: a test container without the run label, a link outside the pattern.
    run_sleeper(
        "netcheck-test-bystander",
        &["--label", "netcheck.test=1"],
        &[],
    );
    restore.push(&["docker", "rm", "-f", "netcheck-test-bystander"]);
    sh(&[
        "ip",
        "link",
        "add",
        "netcheck-tkeep0",
        "type",
        "veth",
        "peer",
        "name",
        "netcheck-tkeep1",
    ]);
    restore.push(&["ip", "link", "del", "netcheck-tkeep0"]);
    let out = netcheck_plain(&["cleanup"]);
    assert_eq!(out.code, 0, "{}", out.explain());
    assert!(
        out.stdout
            .contains("removed container netcheck-probe-dead0"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("kept the probe of a running netcheck"),
        "{}",
        out.stdout
    );
    let names = sh(&["docker", "ps", "-a", "--format", "{{.Names}}"]);
    assert!(
        !names.contains("netcheck-probe-dead0") && names.contains("netcheck-test-bystander"),
        "{names}"
    );
    let links = sh(&["ip", "-o", "link", "show"]);
    assert!(
        links.contains("netcheck-tkeep0"),
        "a bystander link was removed"
    );
    // The dead run's link pair went; the running netcheck's outside link (its peer in
    // that run's namespace) stayed, and goes with the run.
    assert!(
        out.stdout.contains("removed link netcheckdead0"),
        "{}",
        out.stdout
    );
    // Deleting one end of a pair deletes both: one line names it.
    let links_removed: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("removed link"))
        .collect();
    assert_eq!(links_removed.len(), 1, "{}", out.stdout);
    assert!(
        !sh(&["ip", "-o", "link", "show"]).contains("netcheckdead0"),
        "the pair survived"
    );
    let _ = running.wait_with_output();
    drop(restore);
    assert_no_leftovers();
}

/// The names of probe containers a netcheck process `pid` owns, in any state.
fn probes_of(pid: u32, state: Option<&str>) -> String {
    let mut args = vec![
        "docker".to_string(),
        "ps".into(),
        "-a".into(),
        "--filter".into(),
        format!("label=netcheck.pid={pid}"),
        "--format".into(),
        "{{.Names}}".into(),
    ];
    if let Some(s) = state {
        args.extend(["--filter".into(), format!("status={s}")]);
    }
    sh(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// Waits until `done` holds, up to `timeout`; returns how long it took, or None.
fn wait_until(timeout: Duration, done: impl Fn() -> bool) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < timeout {
        if done() {
            return Some(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

fn nft_tables() -> String {
    Command::new("nft")
        .args(["list", "tables"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// Killed with SIGKILL (a CI runner's timeout, the OOM killer) while its probe is
/// created, started or lingering: the probe removes itself when it was started, and
/// the next run removes what is left (one line says so), while a run that is live all
/// along keeps its probe and passes. Nothing is left: no container, network, link or
/// nftables table.
#[test]
fn sigkill_at_any_moment_leaves_nothing_behind() {
    let Some(_live) = live() else { return };
    let mut restore = Restore::default();
    // A dead run's trace table (its owner pid reaped), and one of the live run below.
    let mut dead = Command::new("true").spawn().unwrap();
    let dead_pid = dead.id();
    dead.wait().unwrap();
    let dead_table = format!("netcheck_trace_dead0_{dead_pid}");
    sh(&["nft", "add", "table", "ip", &dead_table]);
    restore.push(&["nft", "delete", "table", "ip", &dead_table]);

    // Live all along: its probe stalls 4 s, then reports, and the run passes.
    let live_run = spawn(&["--probe-arg", "--stall-ms", "--probe-arg", "4000"]);
    let live_table = format!("netcheck_trace_live0_{}", live_run.id());
    sh(&["nft", "add", "table", "ip", &live_table]);
    restore.push(&["nft", "delete", "table", "ip", &live_table]);
    wait_for_probe(live_run.id(), Duration::from_secs(30));

    // Moments: once the probe exists (being created), once it runs (started, its
    // report not yet given: stalled), and at fixed times through a whole run.
    enum Moment {
        Created,
        Running,
        After(u64),
    }
    let moments = [
        Moment::Created,
        Moment::Running,
        Moment::After(150),
        Moment::After(300),
        Moment::After(450),
        Moment::After(600),
    ];
    for moment in moments {
        let args: &[&str] = match moment {
            Moment::Running => &["--probe-arg", "--stall-ms", "--probe-arg", "3000"],
            _ => &[],
        };
        let child = spawn(args);
        let pid = child.id();
        let label = match moment {
            Moment::Created => {
                wait_until(Duration::from_secs(20), || !probes_of(pid, None).is_empty());
                "created".to_string()
            }
            Moment::Running => {
                wait_until(Duration::from_secs(20), || {
                    !probes_of(pid, Some("running")).is_empty()
                });
                "running".to_string()
            }
            Moment::After(ms) => {
                std::thread::sleep(Duration::from_millis(ms));
                format!("{ms} ms")
            }
        };
        let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
        let _ = child.wait_with_output();
        let had = probes_of(pid, None);
        // A started probe ends itself: its stdin closes with netcheck's attachment.
        let by_itself = wait_until(Duration::from_secs(5), || probes_of(pid, None).is_empty());
        eprintln!("SIGKILL at {label}: probe {had:?}, gone by itself: {by_itself:?}");
        if moment_started(&label) {
            assert!(
                by_itself.is_some(),
                "{label}: the started probe {had} outlived its owner"
            );
        }
        // The next run removes the rest, and says so.
        let next = netcheck(&[]);
        assert_eq!(next.code, 0, "{}", next.explain());
        assert!(
            probes_of(pid, None).is_empty(),
            "{label}: the next run left the dead run's probe"
        );
        if by_itself.is_none() && !had.is_empty() {
            assert!(
                next.stderr
                    .contains("removed what killed netcheck runs left behind")
                    && next.stderr.contains(&had),
                "{label}: no notice of {had}: {}",
                next.explain()
            );
        }
    }
    // The dead run's table went with the first run after it; the live run's stayed.
    let tables = nft_tables();
    assert!(!tables.contains(&dead_table), "{tables}");
    assert!(tables.contains(&live_table), "{tables}");
    let out = live_run.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "the live run: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    drop(restore);
    assert!(!nft_tables().contains("netcheck"), "{}", nft_tables());
    assert_no_leftovers();
}

/// Whether a moment is one where the probe had surely been started.
fn moment_started(label: &str) -> bool {
    label == "running"
}

/// A run started as `docker netcheck` (comm `docker-netcheck`) or from a renamed copy of
/// the binary is alive to the sweep of a plain run beside it: its probe stays. Before,
/// liveness was the comm `netcheck`, and the plain run removed the live probe.
#[test]
fn a_plain_run_never_sweeps_a_plugin_or_renamed_run() {
    let Some(_live) = live() else { return };
    let dir = tempdir();
    for (name, plugin_word) in [("docker-netcheck", true), ("nc-renamed", false)] {
        let copy = dir.path().join(name);
        std::fs::copy(bin(), &copy).unwrap();
        let mut args: Vec<&str> = if plugin_word {
            vec!["netcheck"]
        } else {
            vec![]
        };
        // A probe that stalls keeps the run alive for its 5 s report deadline.
        args.extend(["--probe-arg", "--stall-ms", "--probe-arg", "60000"]);
        let mut child = Command::new(&copy)
            .args(&args)
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_for_probe(child.id(), Duration::from_secs(30));
        let plain = netcheck(&["bridge.subnet"]);
        assert!(
            child.try_wait().unwrap().is_none(),
            "{name}'s run ended before the plain run's sweep could be judged"
        );
        assert!(
            !plain
                .stderr
                .contains("removed what killed netcheck runs left behind"),
            "{name}: {}",
            plain.explain()
        );
        assert!(
            !probes_of(child.id(), None).is_empty(),
            "{name}'s live probe was swept"
        );
        let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
        child.wait().unwrap();
    }
    assert_no_leftovers();
}
