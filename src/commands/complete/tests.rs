//! Completion answers, word by word, without a shell.

use super::*;

fn ask(words: &[&str], partial: &str) -> (Vec<String>, u8) {
    let words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
    let (c, d) = candidates(&words, partial);
    (c.into_iter().map(|(c, _)| c).collect(), d)
}

#[test]
fn an_empty_word_offers_check_ids_and_subcommands() {
    let (c, d) = ask(&[], "");
    assert!(c.contains(&"kernel.ip-forward".to_string()), "{c:?}");
    assert!(c.contains(&"explain".to_string()), "{c:?}");
    assert!(
        !c.iter().any(|c| c == "probe-image" || c == "agent"),
        "{c:?}"
    );
    assert_eq!(d & directive::NO_FILES, directive::NO_FILES);
}

#[test]
fn a_partial_id_narrows_and_a_second_filter_offers_no_subcommand() {
    let (c, _) = ask(&[], "bridge.");
    assert_eq!(c, ["bridge.subnet", "bridge.veth", "bridge.icc"]);
    let (c, _) = ask(&["bridge"], "");
    assert!(!c.contains(&"explain".to_string()));
    assert!(c.contains(&"link.mtu".to_string()));
}

#[test]
fn flags_complete_by_prefix() {
    let (c, d) = ask(&[], "--col");
    assert_eq!(c, ["--color"]);
    assert_eq!(d, directive::NO_FILES);
    let (c, _) = ask(&["serve"], "--int");
    assert_eq!(c, ["--interval"]);
    assert!(!ask(&[], "--").0.contains(&"--probe-arg".to_string()));
}

#[test]
fn flag_values_are_offered_not_files() {
    assert_eq!(ask(&["--profile"], "").0, ["default", "onboarding", "ci"]);
    assert_eq!(ask(&[], "--profile=o").0, ["--profile=onboarding"]);
    assert_eq!(ask(&["--format"], "").0, ["human", "github"]);
    assert_eq!(ask(&["--color"], "n").0, ["never"]);
    assert_eq!(
        ask(&["completions"], "").0,
        ["bash", "elvish", "fish", "powershell", "zsh"]
    );
    assert!(ask(&["--context"], "").0.contains(&"default".to_string()));
    assert_eq!(ask(&["--context"], "").1 & directive::NO_FILES, 4);
    assert!(
        ask(&["--skip"], "dns")
            .0
            .contains(&"dns.resolver".to_string())
    );
    assert!(ask(&["-l"], "").0.contains(&"debug".to_string()));
}

#[test]
fn file_flags_leave_it_to_the_shell() {
    assert_eq!(ask(&["--json"], ""), (vec![], directive::FILES));
    assert_eq!(ask(&["analyze"], ""), (vec![], directive::FILES));
    assert_eq!(ask(&["--junit=x", "--suite"], "").1, directive::FILES);
}

#[test]
fn explain_offers_checks_and_kinds() {
    let (c, _) = ask(&["explain"], "");
    assert!(c.contains(&"link.mtu".to_string()) && c.contains(&"tcp".to_string()));
    assert!(ask(&["explain", "link.mtu"], "").0.is_empty());
}

#[test]
fn the_profile_given_picks_the_ids() {
    // Every shipped profile holds the built-in ids; a bad one falls back to default.
    let (c, _) = ask(&["--profile", "nope"], "kernel.ip");
    assert_eq!(c, ["kernel.ip-forward"]);
}

#[test]
fn the_answer_is_cobras_format() {
    let request = CompletionRequest {
        words: vec![],
        partial: "--prof".into(),
        descriptions: true,
    };
    let out = answer(&request);
    let mut lines = out.lines();
    let first = lines.next().unwrap();
    assert!(first.starts_with("--profile\t"), "{out}");
    assert_eq!(lines.next(), Some(":4"));
    let request = CompletionRequest {
        descriptions: false,
        ..request
    };
    assert_eq!(answer(&request), "--profile\n:4\n");
}
