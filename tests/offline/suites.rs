//! Suite files: validation with positions (snapshot-tested), and `netcheck suite check`.

use crate::common;

use std::path::Path;

use common::*;
use netcheck::suite::Suite;

crate::trials!(
    validation_errors_name_file_line_and_column,
    a_valid_suite_loads_with_its_includes,
    link_mtu_takes_a_typed_expect,
    suite_check_exit_codes,
    shipped_suites_and_examples_validate,
    list_filters_and_explain_work_on_suite_ids,
    suite_schema_accepts_the_shipped_suites,
    bridge_subnet_expect_param_is_compared,
    require_gateway_domain_param_fails_where_it_is_unmapped
);

/// Every problem of every bad suite in tests/suites/, with its file, line and column.
fn validation_errors_name_file_line_and_column() {
    let mut report = String::new();
    let mut names: Vec<_> = std::fs::read_dir("tests/suites")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".toml") && n != "good.toml")
        .collect();
    names.sort();
    for name in names {
        let path = Path::new("tests/suites").join(&name);
        match Suite::from_file(&path) {
            Ok(_) => panic!("{name} should not validate"),
            Err(problems) => {
                for p in problems {
                    assert!(p.line > 0 && p.column > 0, "{p}: no position");
                    report.push_str(&format!("{p}\n"));
                }
            }
        }
    }
    // tests/snapshots/ holds every snapshot of the offline tests, under this name.
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots"));
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| {
        insta::assert_snapshot!(
            "suites__validation_errors_name_file_line_and_column",
            report
        )
    });
}

fn a_valid_suite_loads_with_its_includes() {
    let suite = Suite::from_file(Path::new("tests/suites/good.toml")).unwrap();
    let ids: Vec<&str> = suite.instances.iter().map(|i| i.id.as_str()).collect();
    // The included default suite (every built-in check, in the registry's order), then
    // the suite's own.
    let mut expected: Vec<&str> = netcheck::checks::REGISTRY
        .iter()
        .filter(|c| !c.generic)
        .map(|c| c.id)
        .collect();
    expected.push("app.port");
    assert_eq!(ids, expected);
    assert_eq!(
        suite.instances.last().unwrap().gate,
        netcheck::checks::Gate::Off
    );
}

fn link_mtu_takes_a_typed_expect() {
    let ok = Suite::from_text(
        "name = \"x\"\n[[check]]\nid = \"link.mtu\"\nparams = { expect = 1450 }\n",
    );
    assert!(ok.is_ok(), "{ok:?}");
    let bad = Suite::from_text(
        "name = \"x\"\n[[check]]\nid = \"link.mtu\"\nparams = { expect = \"big\" }\n",
    );
    let problems = bad.expect_err("a string MTU is refused");
    assert!(
        problems
            .iter()
            .any(|p| p.to_string().contains("invalid type")),
        "{problems:?}"
    );
    let unknown =
        Suite::from_text("name = \"x\"\n[[check]]\nid = \"link.mtu\"\nparams = { max = 1450 }\n");
    assert!(unknown.is_err());
}

fn suite_check_exit_codes() {
    let ok = netcheck_plain(&["suite", "check", "tests/suites/good.toml"]);
    assert_eq!(ok.code, 0, "{}", ok.explain());
    let builtin = netcheck::checks::REGISTRY
        .iter()
        .filter(|c| !c.generic)
        .count();
    assert!(
        ok.stdout
            .contains(&format!("is valid: {} checks", builtin + 1)),
        "{}",
        ok.stdout
    );
    let bad = netcheck_plain(&["suite", "check", "tests/suites/ids.toml"]);
    assert_eq!(bad.code, 2, "{}", bad.explain());
    assert!(
        bad.stderr
            .contains("tests/suites/ids.toml:7:6: duplicate check id `bridge.veth`"),
        "{}",
        bad.stderr
    );
    // A suite with errors never runs half: nothing is collected or judged.
    let run = netcheck(&["--suite", "tests/suites/ids.toml"]);
    assert_eq!(run.code, 2, "{}", run.explain());
    assert!(!run.stdout.contains("PASS"), "{}", run.stdout);
}

fn shipped_suites_and_examples_validate() {
    for path in [
        "checks/default.toml",
        "checks/onboarding.toml",
        "checks/ci.toml",
    ]
    .into_iter()
    .map(String::from)
    .chain(
        std::fs::read_dir("checks/examples")
            .unwrap()
            .map(|e| e.unwrap().path().display().to_string()),
    ) {
        let run = netcheck_plain(&["suite", "check", &path]);
        assert_eq!(run.code, 0, "{path}: {}", run.explain());
    }
}

fn list_filters_and_explain_work_on_suite_ids() {
    let run = netcheck_plain(&[
        "--suite",
        "checks/examples/app-reachability.toml",
        "--list",
        "app.",
    ]);
    assert_eq!(run.code, 0, "{}", run.explain());
    let ids: Vec<&str> = run
        .stdout
        .lines()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "app.port-open",
            "app.admin-port-closed",
            "app.http",
            "app.name",
            "app.egress-route"
        ]
    );
    let run = netcheck_plain(&[
        "explain",
        "app.http",
        "--suite",
        "checks/examples/app-reachability.toml",
    ]);
    assert_eq!(run.code, 0, "{}", run.explain());
    assert!(
        run.stdout.contains("(a `http` check)") && run.stdout.contains("expect_status"),
        "{}",
        run.stdout
    );
    let run = netcheck_plain(&[
        "--suite",
        "checks/examples/app-reachability.toml",
        "--exact",
        "app.nope",
        "--list",
    ]);
    assert_eq!(run.code, 2, "{}", run.explain());
}

/// The published suite schema accepts every shipped suite and example, so editors that
/// complete from it agree with netcheck.
fn suite_schema_accepts_the_shipped_suites() {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string("reports/netcheck-suite.v1.schema.json").unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let files = [
        "checks/default.toml",
        "checks/onboarding.toml",
        "checks/ci.toml",
        "tests/suites/good.toml",
    ]
    .into_iter()
    .map(std::path::PathBuf::from)
    .chain(
        std::fs::read_dir("checks/examples")
            .unwrap()
            .map(|e| e.unwrap().path()),
    );
    for path in files {
        let value: toml::Value = toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let json = serde_json::to_value(value).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&json)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
    }
}

/// `bridge.subnet`'s `expect` is compared with the network's subnet.
fn bridge_subnet_expect_param_is_compared() {
    let dir = tempdir();
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/healthy-default-bridge.json"
    );
    for (want, code, status) in [("172.17.0.0/16", 0, "pass"), ("172.18.0.0/16", 1, "fail")] {
        let suite = dir.path().join("expect.toml");
        std::fs::write(
            &suite,
            format!("name = \"expect\"\n[[check]]\nid = \"bridge.subnet\"\nparams = {{ expect = {{ bridge = \"{want}\" }} }}\n"),
        )
        .unwrap();
        let run = netcheck(&["analyze", fixture, "--suite", suite.to_str().unwrap()]);
        assert_eq!(run.code, code, "{}", run.explain());
        assert_eq!(run.status("bridge.subnet"), status, "{}", run.explain());
        if status == "fail" {
            assert!(
                run.message("bridge.subnet")
                    .contains("the suite expects 172.18.0.0/16"),
                "{}",
                run.explain()
            );
        }
    }
}

/// `host.docker-internal`'s `require_gateway_domain`: a Linux engine maps no
/// gateway.docker.internal, so requiring it fails there.
fn require_gateway_domain_param_fails_where_it_is_unmapped() {
    let dir = tempdir();
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/healthy-default-bridge.json"
    );
    let suite = dir.path().join("gw.toml");
    std::fs::write(
        &suite,
        "name = \"gw\"\n[[check]]\nid = \"host.docker-internal\"\nparams = { require_gateway_domain = true }\n",
    )
    .unwrap();
    let run = netcheck(&["analyze", fixture, "--suite", suite.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{}", run.explain());
    assert!(
        run.message("host.docker-internal")
            .contains("gateway.docker.internal does not resolve, and the suite requires it"),
        "{}",
        run.explain()
    );
}
