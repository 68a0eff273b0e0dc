//! Stand-ins (issue #22's 100 networks): past `--probe-joins` networks, a container on
//! a network alone speaks for the probe there. Each test checks three networks with
//! `--probe-joins 1`, so that the second and third are the stand-ins' (as the 97th of a
//! hundred would be under the default), and proves the stand-in's network is judged by
//! traffic from the stand-in: healthy, it passes; broken, the right check fails there.

use crate::common;

use common::*;

/// Three networks, a container on each; the probe joins the first alone.
fn three_networks(tag: &str) -> Vec<TestNet> {
    (0..3)
        .map(|i| {
            let mut net = TestNet::new(&format!("{tag}-{i}"));
            net.sleeper("app");
            net
        })
        .collect()
}

fn run_on(nets: &[TestNet], extra: &[&str]) -> Run {
    let mut args = vec!["--probe-joins", "1"];
    for n in nets {
        args.extend(["--network", n.name.as_str()]);
    }
    args.extend_from_slice(extra);
    netcheck(&args)
}

fn evidence(run: &Run, id: &str) -> String {
    run.check(id)["evidence"].to_string()
}

/// Healthy: every check passes on every network, and on the stand-ins' networks the
/// gateway, the outside peer and the embedded DNS server were asked from the stand-in,
/// not from the probe, which joined none of them.
#[test]
fn stand_ins_speak_for_the_probe_past_its_joins() {
    let Some(_live) = live() else { return };
    let nets = three_networks("stand");
    let run = run_on(&nets, &[]);
    assert_healthy(&run);
    for n in &nets[1..] {
        let app = format!("{}-app", n.name);
        let route = evidence(&run, &format!("container.default-route[{}]", n.name));
        assert!(
            route.contains(&format!("stand-in {app} reached the gateway listener")),
            "{route}"
        );
        let masq = evidence(&run, &format!("nat.masquerade[{}]", n.name));
        assert!(
            masq.contains(&format!("from stand-in {app}'s interface on {}", n.name))
                && masq.contains("the host's address"),
            "{masq}"
        );
        let dns = evidence(&run, &format!("dns.resolver[{}]", n.name));
        assert!(dns.contains(&format!("answers {app} with")), "{dns}");
        let veth = evidence(&run, &format!("bridge.veth[{}]", n.name));
        assert!(
            !veth.contains("netcheck-probe-"),
            "the probe joined {}: {veth}",
            n.name
        );
    }
    // The first network is the probe's own.
    let first = evidence(&run, &format!("container.default-route[{}]", nets[0].name));
    assert!(
        first.contains("the probe reached the gateway listener"),
        "{first}"
    );
    let mut args = vec!["--probe-joins", "1"];
    for n in &nets {
        args.extend(["--network", n.name.as_str()]);
    }
    capture_fixture("healthy-stand-ins", &args);
    drop(nets);
    assert_no_leftovers();
}

/// A stand-in's network without its MASQUERADE rule: nat.masquerade fails there, and
/// the live half says the outside peer saw the stand-in's own address.
#[test]
fn a_masquerade_fault_on_a_stand_ins_network_is_caught() {
    let Some(_live) = live() else { return };
    let nets = three_networks("stand-masq");
    let broken = &nets[2];
    let subnet = broken.subnet.to_string();
    let mut restore = Restore::default();
    broken.delete_masquerade(&mut restore);

    let run = run_on(&nets, &[]);
    let id = format!("nat.masquerade[{}]", broken.name);
    assert_eq!(run.status(&id), "fail", "{}", run.explain());
    assert!(
        run.message(&id)
            .contains(&format!("no MASQUERADE rule for {subnet}")),
        "{}",
        run.explain()
    );
    let masq = evidence(&run, &id);
    assert!(
        masq.contains(&format!("stand-in {}-app", broken.name))
            && masq.contains("saw the container's own address"),
        "{masq}"
    );
    for n in &nets[..2] {
        let other = format!("nat.masquerade[{}]", n.name);
        assert_eq!(run.status(&other), "pass", "{}", run.explain());
    }
    let mut args = vec!["--probe-joins", "1"];
    for n in &nets {
        args.extend(["--network", n.name.as_str()]);
    }
    capture_fixture("fault-nat.masquerade-stand-in-rule-deleted", &args);
    drop(restore);
    assert_healthy(&run_on(&nets, &[]));
}

/// A stand-in is icc's target on its network: a second container there connects to it.
/// A site rule that drops traffic within that bridge makes bridge.icc fail there,
/// naming the stand-in it could not reach.
#[test]
fn an_icc_fault_on_a_stand_ins_network_is_caught() {
    let Some(_live) = live() else { return };
    let mut nets = three_networks("stand-icc");
    let second = format!("{}-b", nets[1].name);
    nets[1].sleeper("b");
    let broken = &nets[1];
    let mut restore = Restore::default();
    insert_rule(
        &mut restore,
        "iptables",
        "filter",
        "DOCKER-USER",
        &["-i", &broken.bridge, "-o", &broken.bridge, "-j", "DROP"],
    );
    let run = run_on(&nets, &["--exact", "bridge.icc"]);
    let id = format!("bridge.icc[{}]", broken.name);
    assert_eq!(run.status(&id), "fail", "{}", run.explain());
    let message = run.message(&id);
    assert!(
        message.contains(&format!(
            "{second} cannot reach stand-in {}-app",
            broken.name
        )),
        "{}",
        run.explain()
    );
    drop(restore);
    let run = run_on(&nets, &["--exact", "bridge.icc"]);
    assert_eq!(run.status(&id), "pass", "{}", run.explain());
    assert!(
        evidence(&run, &id).contains(&format!("{second} -> stand-in {}-app", broken.name)),
        "{}",
        run.explain()
    );
}

/// A stand-in whose own namespace drops what it sends (a VPN client's kill switch, say):
/// its failures are not the network's. The probe joins that network late and asks
/// itself, every check passes, and the gateway's evidence says why the probe took over.
#[test]
fn a_stand_in_that_drops_its_own_traffic_is_replaced_by_the_probe() {
    let Some(_live) = live() else { return };
    let nets = three_networks("stand-own");
    let guarded = &nets[2];
    let app = format!("{}-app", guarded.name);
    let pid = sh(&["docker", "inspect", "-f", "{{.State.Pid}}", &app]);
    // Inside the container's own namespace only: the host's rules stay as they are, and
    // the rule goes with the container.
    let netns = format!("--net=/proc/{pid}/ns/net");
    sh(&["nsenter", &netns, "iptables", "-I", "OUTPUT", "-j", "DROP"]);
    let run = run_on(&nets, &[]);
    assert_eq!(run.code, 0, "{}", run.explain());
    // Nothing fails; bridge.icc has no connection to try from that network, whose one
    // container drops what it sends, and says so.
    let icc = format!("bridge.icc[{}]", guarded.name);
    for r in run.results() {
        if r["id"] == icc.as_str() {
            assert_eq!(r["status"], "skip", "{}", run.explain());
            assert!(
                run.message(&icc).contains("drops what it sends itself"),
                "{}",
                run.explain()
            );
        } else {
            assert!(fine(r), "{}:\n{}", r["id"], run.explain());
        }
    }
    let route = evidence(&run, &format!("container.default-route[{}]", guarded.name));
    assert!(
        route.contains(&format!("stand-in {app} did not speak for the probe"))
            && route.contains("the probe reached the gateway listener"),
        "{route}"
    );
    let masq = evidence(&run, &format!("nat.masquerade[{}]", guarded.name));
    assert!(masq.contains("from the probe's interface on"), "{masq}");
    // The other stand-in still speaks for its network.
    let other = evidence(&run, &format!("container.default-route[{}]", nets[1].name));
    assert!(other.contains("stand-in "), "{other}");
    drop(nets);
    assert_no_leftovers();
}
