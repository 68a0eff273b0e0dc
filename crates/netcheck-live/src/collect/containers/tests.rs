use super::*;

/// One container with two published ports, as Docker 20.10 listed and inspected it.
const LIST: &str = include_str!("list-20.10.json");
const INSPECT: &str = include_str!("inspect-20.10.json");

fn listed(pid: Option<u32>) -> Seen {
    let list: Vec<ContainerSummary> = serde_json::from_str(LIST).unwrap();
    Seen::listed(list.into_iter().next().unwrap(), |_| pid)
}

fn inspected() -> Seen {
    Seen::inspected(serde_json::from_str(INSPECT).unwrap())
}

/// The list gives what an inspect gave (the pid aside): the same name, endpoints'
/// gateways and published ports, so that the snapshot does not depend on which the
/// engine answered.
#[test]
fn a_listed_container_is_the_inspected_one() {
    let (l, i) = (listed(Some(30094)), inspected());
    assert_eq!(l.id, i.id);
    assert_eq!(l.name, "netcheck-test-seen");
    assert_eq!(l.name, i.name);
    assert_eq!(l.pid, i.pid);
    assert_eq!(l.published, i.published);
    assert_eq!(
        (l.published.iter())
            .map(|p| (p.host_ip.to_string(), p.host_port, p.container_port))
            .collect::<Vec<_>>(),
        [
            ("127.0.0.1".into(), 18081, 8080),
            ("0.0.0.0".into(), 18082, 8080),
            ("::".into(), 18082, 8080)
        ]
    );
    let gateway = |s: &Seen| s.networks["bridge"].gateway.clone();
    assert_eq!(gateway(&l).as_deref(), Some("172.17.0.1"));
    assert_eq!(gateway(&l), gateway(&i));
}

/// A cgroup tree as the engine's drivers lay it out, and /proc beside it.
struct Tree(tempfile::TempDir);

impl Tree {
    fn new() -> Tree {
        Tree(tempfile::tempdir().unwrap())
    }
    fn cgroup(&self, dir: &str, procs: &str) -> &Self {
        let d = self.0.path().join("cgroup").join(dir);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("cgroup.procs"), procs).unwrap();
        self
    }
    fn process(&self, pid: u32, cgroup: &str) -> &Self {
        let d = self.0.path().join("proc").join(pid.to_string());
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("cgroup"), cgroup).unwrap();
        self
    }
    fn pid(&self, id: &str) -> Option<u32> {
        let root = self.0.path();
        pid_in_cgroup(&root.join("cgroup"), &root.join("proc"), id)
    }
}

const ID: &str = "58ab8d5f3ee18396e750a2a9d24196866ef9ea04391362c9baf5dcfe3bdceb97";

#[test]
fn the_pid_is_found_where_each_driver_puts_it() {
    for (dir, own) in [
        (
            format!("system.slice/docker-{ID}.scope"),
            format!("0::/system.slice/docker-{ID}.scope"),
        ),
        (format!("docker/{ID}"), format!("0::/docker/{ID}")),
        (
            format!("pids/docker/{ID}"),
            format!("12:pids:/docker/{ID}\n1:name=systemd:/docker/{ID}"),
        ),
    ] {
        let tree = Tree::new();
        // The lowest pid is the container's init; an exec'd process comes later.
        tree.cgroup(&dir, "4242\n4100\n")
            .process(4100, &own)
            .process(4242, &own);
        assert_eq!(tree.pid(ID), Some(4100), "{dir}");
    }
}

/// Where the pid read from the cgroup now belongs to another process (the container
/// ended and the pid was reused), or the cgroup is elsewhere, or the id could walk
/// the tree, no pid: the caller inspects the container instead.
#[test]
fn no_pid_unless_the_process_is_the_containers() {
    let tree = Tree::new();
    tree.cgroup(&format!("docker/{ID}"), "4100\n")
        .process(4100, "0::/user.slice/session-1.scope");
    assert_eq!(tree.pid(ID), None);
    let tree = Tree::new();
    tree.cgroup(&format!("kubepods/{ID}"), "4100\n")
        .process(4100, &format!("0::/kubepods/{ID}"));
    assert_eq!(tree.pid(ID), None);
    let tree = Tree::new();
    tree.cgroup("docker/../../etc", "1\n").process(1, "0::/");
    assert_eq!(tree.pid("../../etc"), None);
    let tree = Tree::new();
    tree.cgroup(&format!("docker/{ID}"), "")
        .process(4100, &format!("0::/docker/{ID}"));
    assert_eq!(
        tree.pid(ID),
        None,
        "an empty cgroup: the container has ended"
    );
}

/// What is read before the probe starts: every container on a checked network, once,
/// and no netcheck probe (this run's does not exist yet; others' come and go).
#[test]
fn early_reads_are_the_checked_networks_containers_without_probes() {
    use netcheck_model::snapshot::Snapshot;
    let snapshot = Snapshot::from_json(include_str!(
        "../../../../../fixtures/healthy-user-network-and-bridge.json"
    ))
    .unwrap();
    let docker = snapshot.docker.ok().unwrap();
    let names = |ids: Vec<String>| -> Vec<String> {
        let mut names: Vec<String> = (ids.iter())
            .filter_map(|id| docker.containers.iter().find(|c| &c.id == id))
            .map(|c| c.name.clone())
            .collect();
        names.sort();
        names
    };
    assert_eq!(
        names(ids(&docker.networks, &snapshot.networks)),
        [
            "netcheck-test-healthy-app",
            "netcheck-test-healthy-bridge-app"
        ]
    );
    let one = ids(&docker.networks, &["bridge".to_string()]);
    assert_eq!(names(one), ["netcheck-test-healthy-bridge-app"]);
}
