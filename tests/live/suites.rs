//! Live tests of suites: the shipped profiles and examples on a healthy host, and each
//! generic kind passing and failing against a container the test creates. Targets are
//! containers on this machine, never outside addresses.

use crate::common;

use common::*;

/// The example's app: an HTTP server on port 8080 in a container named
/// netcheck-example-app, on the network netcheck-example.
fn example_app() -> TestNet {
    let mut net = TestNet::named("netcheck-example", &[]);
    net.container("netcheck-example-app", &["--listen-port", "8080"]);
    net
}

#[test]
fn shipped_profiles_pass_on_a_healthy_host() {
    let Some(_live) = live() else { return };
    for profile in ["default", "onboarding", "ci"] {
        let run = netcheck(&["--profile", profile]);
        assert_eq!(run.code, 0, "{profile}: {}", run.explain());
    }
    let run = netcheck(&["--suite", "checks/examples/vpn-overlap.toml"]);
    assert_eq!(run.code, 0, "{}", run.explain());
    assert_no_leftovers();
}

#[test]
fn example_app_reachability_passes() {
    let Some(_live) = live() else { return };
    let net = example_app();
    let run = netcheck(&["--suite", "checks/examples/app-reachability.toml"]);
    assert_eq!(run.code, 0, "{}", run.explain());
    for id in [
        "app.port-open",
        "app.admin-port-closed",
        "app.http",
        "app.name",
        "app.egress-route",
    ] {
        assert_eq!(run.status(id), "pass", "{id}: {}", run.explain());
    }
    drop(net);
    assert_no_leftovers();
}

/// Each generic kind fails when its expectation does not hold, and names what it saw.
#[test]
fn generic_kinds_fail_when_expectations_do_not_hold() {
    let Some(_live) = live() else { return };
    let net = example_app();
    let dir = tempdir();
    let suite = dir.path().join("failing.toml");
    std::fs::write(
        &suite,
        r#"
name = "failing"
[[check]]
id = "tcp.closed-port"
kind = "tcp"
params = { network = "netcheck-example", target = "netcheck-example-app:9091" }
[[check]]
id = "tcp.open-port"
kind = "tcp"
params = { network = "netcheck-example", target = "netcheck-example-app:8080", expect = "closed" }
[[check]]
id = "http.status"
kind = "http"
params = { network = "netcheck-example", url = "http://netcheck-example-app:8080/", expect_status = 404 }
[[check]]
id = "http.body"
kind = "http"
params = { network = "netcheck-example", url = "http://netcheck-example-app:8080/", body_contains = "welcome" }
[[check]]
id = "dns.address"
kind = "dns"
params = { network = "netcheck-example", name = "netcheck-example-app", addresses = ["198.18.0.99"] }
[[check]]
id = "dns.should-fail"
kind = "dns"
params = { network = "netcheck-example", name = "netcheck-example-app", expect = "fails" }
[[check]]
id = "tcp.unusable-target"
kind = "tcp"
params = { network = "netcheck-example", target = "::not a target::", expect = "closed" }
[[check]]
id = "route.dev"
kind = "route"
params = { network = "netcheck-example", destination = "198.18.0.1", dev = "eth9" }
"#,
    )
    .unwrap();
    let run = netcheck(&["--suite", suite.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{}", run.explain());
    let expect = [
        (
            "tcp.closed-port",
            "is not reachable from netcheck-example: Connection refused",
        ),
        (
            "tcp.open-port",
            "is open from netcheck-example, and the suite expects it closed",
        ),
        ("http.status", "answered 200, the suite expects 404"),
        ("http.body", "its body lacks \"welcome\""),
        ("dns.address", "the suite expects 198.18.0.99"),
        ("dns.should-fail", "the suite expects it not to"),
        ("route.dev", "instead of eth9"),
    ];
    // A target that cannot be tried proves nothing: an error, not a "closed" pass.
    assert_eq!(
        run.status("tcp.unusable-target"),
        "error",
        "{}",
        run.explain()
    );
    for (id, cause) in expect {
        assert_eq!(run.status(id), "fail", "{id}: {}", run.explain());
        assert!(
            run.message(id).contains(cause),
            "{id}: expected {cause:?} in {:?}",
            run.message(id)
        );
    }

    // The same failure, not gating: reported, and the run still exits 0.
    std::fs::write(
        &suite,
        r#"
name = "advisory"
[[check]]
id = "tcp.closed-port"
kind = "tcp"
gate = false
params = { network = "netcheck-example", target = "netcheck-example-app:9091" }
"#,
    )
    .unwrap();
    let run = netcheck(&["--suite", suite.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.explain());
    assert_eq!(run.status("tcp.closed-port"), "fail");
    assert!(run.stdout.contains("(not gating)"), "{}", run.stdout);
    drop(net);
    assert_no_leftovers();
}

/// `forbid_overlap`: a network inside the VPN's range fails bridge.subnet, whether or not
/// it is one of the checked networks.
#[test]
fn forbid_overlap_catches_a_network_in_the_vpn_range() {
    let Some(_live) = live() else { return };
    let net = TestNet::named("netcheck-test-vpnrange", &["--subnet", "10.213.7.0/24"]);
    let run = netcheck(&["--suite", "checks/examples/vpn-overlap.toml"]);
    assert_eq!(run.code, 1, "{}", run.explain());
    assert_eq!(run.status("bridge.subnet"), "fail");
    assert!(
        run.message("bridge.subnet").contains(&format!(
            "network {} (10.213.7.0/24) overlaps the forbidden range 10.0.0.0/8",
            net.name
        )),
        "{}",
        run.explain()
    );
    for id in [
        "bridge.veth",
        "container.default-route",
        "nat.masquerade",
        "host.docker-internal",
    ] {
        assert_eq!(run.status(id), "pass", "{id}: {}", run.explain());
    }
    drop(net);
    assert_no_leftovers();
}
