//! End to end: the built-in suite against the real reference receiver (a
//! separate process started by the `hookproof` binary, talking HTTP on
//! 127.0.0.1 to the mock CRM and helpdesk), and against its flawed variants,
//! each of which must be caught by the check that guards its rule.

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_hookproof")
}

/// Runs are timing-sensitive (ack latency, Retry-After): one at a time, so
/// the test harness's threads do not load the 2 cores past what a real run sees.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn run(args: &[&str], dir: &Path) -> (Output, Value) {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let report_dir = dir.join("report");
    let out = Command::new(bin())
        .args(args)
        .arg("--quiet")
        .arg("--report-dir")
        .arg(&report_dir)
        .current_dir(dir)
        .output()
        .expect("hookproof runs");
    let report = std::fs::read_to_string(report_dir.join("report.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    (out, report)
}

fn verdict(report: &Value, scenario: &str, check: &str) -> String {
    report["scenarios"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == scenario))
        .and_then(|s| s["checks"].as_array())
        .and_then(|c| c.iter().find(|c| c["check"] == check))
        .and_then(|c| c["verdict"].as_str())
        .unwrap_or("missing")
        .to_string()
}

fn explain(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn flawed(flaw: &str) -> String {
    format!("'{}' sut reference --flaw {flaw}", bin())
}

#[test]
fn builtin_suite_passes_against_the_reference_receiver() {
    let dir = tempfile::tempdir().unwrap();
    let (out, report) = run(&["run"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", explain(&out));
    for name in ["baseline", "duplicates", "crm-outage", "forgery"] {
        assert_eq!(verdict(&report, name, "no_loss"), "pass", "{name}");
        assert_eq!(verdict(&report, name, "contract"), "pass", "{name}");
    }
    assert_eq!(verdict(&report, "forgery", "rejects_forgeries"), "pass");
    let junit = std::fs::read_to_string(dir.path().join("report/junit.xml")).unwrap();
    assert!(junit.contains("<testcase name=\"idempotent\""), "{junit}");
    assert!(
        dir.path()
            .join("report/delivery-log/crm-outage.jsonl")
            .exists()
    );
}

#[test]
fn no_dedupe_fails_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let sut = flawed("no-dedupe");
    let (out, report) = run(
        &["run", "--sut", &sut, "--scenario", "duplicates"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1), "{}", explain(&out));
    assert_eq!(
        verdict(&report, "duplicates", "idempotent"),
        "fail",
        "{}",
        explain(&out)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("idempotent"), "{stdout}");
    assert!(stdout.contains("replay: hookproof run"), "{stdout}");
}

#[test]
fn ack_before_commit_fails_no_loss_under_crm_outage() {
    let dir = tempfile::tempdir().unwrap();
    let sut = flawed("ack-before-commit");
    let (out, report) = run(
        &["run", "--sut", &sut, "--scenario", "crm-outage"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1), "{}", explain(&out));
    assert_eq!(
        verdict(&report, "crm-outage", "no_loss"),
        "fail",
        "{}",
        explain(&out)
    );
}

#[test]
fn no_signature_check_fails_rejects_forgeries() {
    let dir = tempfile::tempdir().unwrap();
    let sut = flawed("no-signature-check");
    let (out, report) = run(&["run", "--sut", &sut, "--scenario", "forgery"], dir.path());
    assert_eq!(out.status.code(), Some(1), "{}", explain(&out));
    assert_eq!(
        verdict(&report, "forgery", "rejects_forgeries"),
        "fail",
        "{}",
        explain(&out)
    );
}

#[test]
fn drop_association_is_caught_only_by_the_declared_mapping() {
    let dir = tempfile::tempdir().unwrap();
    let sut = flawed("drop-association");
    // Without a declared mapping the differential oracle is blind: the
    // association is missing in the clean run and in the faulted run alike.
    let (out, report) = run(
        &["run", "--sut", &sut, "--scenario", "baseline"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", explain(&out));
    assert_eq!(verdict(&report, "baseline", "no_loss"), "pass");
    // With the canonical mapping declared in hookproof.toml, it is caught.
    let config = dir.path().join("hookproof.toml");
    std::fs::write(&config, "[sut]\nmapping = \"canonical\"\n").unwrap();
    let dir2 = tempfile::tempdir().unwrap();
    let (out, report) = run(
        &[
            "run",
            "--config",
            config.to_str().unwrap(),
            "--sut",
            &sut,
            "--scenario",
            "baseline",
        ],
        dir2.path(),
    );
    assert_eq!(out.status.code(), Some(1), "{}", explain(&out));
    assert_eq!(verdict(&report, "baseline", "no_loss"), "fail");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("is not associated with contacts"),
        "{stdout}"
    );
}

#[test]
fn secret_rotation_scenario_passes_against_the_reference() {
    let dir = tempfile::tempdir().unwrap();
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/opt-in/secret-rotation.toml"
    );
    let (out, report) = run(&["run", "--scenario", file], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", explain(&out));
    assert_eq!(
        verdict(&report, "secret-rotation", "rejects_forgeries"),
        "pass"
    );
    assert_eq!(verdict(&report, "secret-rotation", "no_loss"), "pass");
}

#[test]
fn a_crash_waiting_for_more_acks_than_come_does_not_hang_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("never.toml");
    std::fs::write(
        &file,
        "name = \"never\"\ndescription = \"d\"\n[workload]\ntickets = 3\n[[fault]]\nkind = \"sut.kill\"\nafter-acks = 100000\n",
    )
    .unwrap();
    let (out, report) = run(&["run", "--scenario", file.to_str().unwrap()], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", explain(&out));
    assert_eq!(verdict(&report, "never", "ack_after_commit"), "skipped");
}
