//! `sipwasm test`, the offline plugin test kit: the examples pass the cases written for
//! them (the same files their twins in C, Python and JavaScript run), and a case that expects
//! something else fails with the difference spelled out.

use crate::harness::*;
use sipwasm::config::Config;
use sipwasm::testkit::{Bench, CaseFile, Report, read_cases};

/// Run `cases` on `plugin` under its config: `config/examples/<example>.toml`, or for a twin
/// (`_c`, `_py`, `_js`) `<example>-c.toml` ...
fn run(example: &str, plugin_name: &str, cases: &CaseFile) -> Report {
    let config = match ["c", "py", "js"]
        .into_iter()
        .find(|lang| plugin_name.ends_with(&format!("_{lang}")))
    {
        Some(lang) => format!("config/examples/{example}-{lang}.toml"),
        None => format!("config/examples/{example}.toml"),
    };
    let cfg = Config::load(&root().join(config)).unwrap();
    let mut bench = Bench::new(cfg, Some(&plugin(plugin_name))).unwrap();
    bench.run(cases)
}

fn example_cases(example: &str) -> CaseFile {
    read_cases(&root().join(format!("example-plugins/cases/{example}.toml"))).unwrap()
}

#[test]
fn the_examples_pass_their_cases() {
    for (example, plugin_name) in [
        ("tutorial-501", "tutorial_501"),
        ("kemi-proxy", "kemi_proxy"),
        ("registrar-proxy", "registrar_proxy"),
        ("nosip-log", "nosip_log"),
        ("msrp-relay", "msrp_relay"),
        // the twins in C run the same files
        ("tutorial-501", "tutorial_501_c"),
        ("kemi-proxy", "kemi_proxy_c"),
        ("msrp-relay", "msrp_relay_c"),
        ("registrar-proxy", "registrar_proxy_c"),
        ("nosip-log", "nosip_log_c"),
        // and the twins in Python
        ("tutorial-501", "tutorial_501_py"),
        ("kemi-proxy", "kemi_proxy_py"),
        ("msrp-relay", "msrp_relay_py"),
        ("registrar-proxy", "registrar_proxy_py"),
        ("nosip-log", "nosip_log_py"),
        // and in JavaScript
        ("tutorial-501", "tutorial_501_js"),
        ("kemi-proxy", "kemi_proxy_js"),
        ("msrp-relay", "msrp_relay_js"),
        ("registrar-proxy", "registrar_proxy_js"),
        ("nosip-log", "nosip_log_js"),
    ] {
        let cases = example_cases(example);
        let report = run(example, plugin_name, &cases);
        assert!(
            report.passed(),
            "{example} ({plugin_name}):\n{}",
            report.text
        );
        assert_eq!(report.run, cases.case.len());
    }
}

#[test]
fn a_case_expecting_something_else_fails_with_the_difference() {
    let cases = CaseFile::parse(
        r#"
[[case]]
name = "INVITE"
message = """
INVITE sip:bob@example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-w1
From: <sip:alice@example.com>;tag=a1
To: <sip:bob@example.com>
Call-ID: w1
CSeq: 1 INVITE
Max-Forwards: 70
"""
[case.expect]
verdict = "drop"
reply = "200 OK"
relay = ["sip:bob@example.com"]
headers = ["X-Not: there"]
no_headers = ["Call-ID"]
log = ["Now I am in the respond 501 route"]
htable = { nowhere = { k = 1 } }
"#,
    )
    .unwrap();
    let report = run("tutorial-501", "tutorial_501", &cases);
    assert!(!report.passed());
    let (_, problems) = &report.failed[0];
    let text = problems.join("\n");
    for expected in [
        "verdict: expected drop, got exit",
        r#"reply: expected "200 OK", got "480 Temporarily Unavailable""#,
        r#"relay: expected ["sip:bob@example.com"], got []"#,
        r#"headers: no line "X-Not: there""#,
        "no_headers: Call-ID is there",
        r#"log: no line with "Now I am in the respond 501 route""#,
        "htable: nowhere=>k",
    ] {
        assert!(text.contains(expected), "{expected:?} not in:\n{text}");
    }
    assert!(report.text.contains("FAIL 1 INVITE"), "{}", report.text);
    assert!(report.text.contains("1 cases: 0 passed, 1 failed"));
}

/// The C SDK's calls that no example makes, run by tests/plugins/c/api-check.c over its
/// cases.
#[test]
fn the_c_sdk_calls_answer_as_the_router_does() {
    let cfg = Config::load(&root().join("tests/plugins/c/api-check-router.toml")).unwrap();
    let cases = read_cases(&root().join("tests/plugins/c/api-check.toml")).unwrap();
    let report = Bench::new(cfg, Some(&plugin("api_check_c")))
        .unwrap()
        .run(&cases);
    assert!(report.passed(), "{}", report.text);
    assert_eq!(report.run, 4);
}
