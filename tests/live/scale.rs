//! netcheck on a host with more networks than it handles at once (issue #22): the probe
//! joins them a few at a time on engines before API 1.44 (all in its create request on
//! later ones), and every network's results still come from the probe on that network.

use crate::common;

use common::*;

/// More networks than the connect requests the probe has in flight at once (eight, in
/// crates/netcheck-live/src/collect/probe_container.rs): every one is joined, its gateway reached from it,
/// and nothing errs or is left behind.
#[test]
fn the_probe_joins_more_networks_than_it_connects_at_once() {
    let Some(_lock) = live() else { return };
    let nets: Vec<TestNet> = (0..10)
        .map(|i| TestNet::new(&format!("perf-join-{i}")))
        .collect();
    let mut args = vec!["--exact", "bridge.veth", "container.default-route"];
    for n in &nets {
        args.extend(["--network", n.name.as_str()]);
    }
    let run = netcheck(&args);
    let errors: Vec<&serde_json::Value> = run
        .results()
        .iter()
        .filter(|c| c["status"] == "error")
        .collect();
    assert!(errors.is_empty(), "{errors:?}\n{}", run.explain());
    for n in &nets {
        let veth = run.check(&format!("bridge.veth[{}]", n.name));
        let probe_there = veth["evidence"].as_array().unwrap().iter().any(|e| {
            let e = e.as_str().unwrap_or("");
            e.starts_with("netcheck-probe-") && e.contains(&format!("master {}", n.bridge))
        });
        assert!(probe_there, "no probe interface on {}: {veth}", n.name);
        let route = format!("container.default-route[{}]", n.name);
        assert_eq!(run.status(&route), "pass", "{}", run.explain());
        assert!(
            run.check(&route)["evidence"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e
                    .as_str()
                    .is_some_and(|e| e.contains("reached the gateway listener"))),
            "{}",
            run.explain()
        );
    }
    drop(nets);
    assert_no_leftovers();
}

/// A container's pid comes from the kernel's cgroup tree where the engine's driver put
/// it, and from an inspect where it did not (a custom `--cgroup-parent`): both
/// containers' namespaces are read, each by the pid the engine reports.
#[test]
fn a_container_outside_the_engines_cgroup_is_still_read() {
    let Some(_lock) = live() else { return };
    let parent = "netcheck-test-cgparent";
    // The engine leaves the parent's cgroup directories behind: removed once the
    // containers are (declared first, so dropped last, on failure too).
    struct Parents(&'static str);
    impl Drop for Parents {
        fn drop(&mut self) {
            for dir in std::fs::read_dir("/sys/fs/cgroup")
                .into_iter()
                .flatten()
                .flatten()
            {
                let _ = std::fs::remove_dir(dir.path().join(self.0));
            }
            let _ = std::fs::remove_dir(std::path::Path::new("/sys/fs/cgroup").join(self.0));
        }
    }
    let _parents = Parents(parent);
    let mut net = TestNet::new("cgroups");
    let usual = net.sleeper("usual");
    let elsewhere = net.container_with(
        &format!("{}-elsewhere", net.name),
        &["--cgroup-parent", &format!("/{parent}")],
    );
    let dir = tempdir();
    let snapshot = collect_to(
        &dir.path().join("snap.json"),
        &["--exact", "bridge.veth", "--network", &net.name],
    );
    let snapshot: serde_json::Value = serde_json::from_str(&snapshot).unwrap();
    let containers = snapshot["docker"]["value"]["containers"]
        .as_array()
        .unwrap();
    for name in [usual, elsewhere] {
        let c = containers
            .iter()
            .find(|c| c["name"] == name.as_str())
            .unwrap_or_else(|| panic!("{name} not observed: {containers:?}"));
        let pid = sh(&["docker", "inspect", "-f", "{{.State.Pid}}", &name]);
        assert_eq!(c["pid"].to_string(), pid, "{name}: {c}");
        assert_eq!(c["interior"]["state"], "ok", "{name}: {c}");
    }
}
