//! Same seed → same schedule → same verdict: the suite's verdicts are
//! identical across runs, against the reference and against a flaw.

use serde_json::Value;
use std::process::Command;

fn verdicts(sut: Option<&str>, scenarios: &[&str]) -> Vec<(String, String, String)> {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hookproof"));
    cmd.arg("run")
        .arg("--quiet")
        .arg("--report-dir")
        .arg(dir.path().join("r"));
    for s in scenarios {
        cmd.arg("--scenario").arg(s);
    }
    if let Some(sut) = sut {
        cmd.arg("--sut").arg(sut);
    }
    let out = cmd.output().unwrap();
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("r/report.json")).unwrap())
            .unwrap();
    let mut v = Vec::new();
    for s in report["scenarios"].as_array().unwrap() {
        for c in s["checks"].as_array().unwrap() {
            v.push((
                s["name"].as_str().unwrap().to_string(),
                c["check"].as_str().unwrap().to_string(),
                c["verdict"].as_str().unwrap().to_string(),
            ));
        }
    }
    v
}

#[test]
fn verdicts_repeat_against_the_reference_and_a_flaw() {
    let scenarios = ["duplicates", "reordering", "forgery"];
    let reference: Vec<_> = (0..3).map(|_| verdicts(None, &scenarios)).collect();
    assert!(reference.windows(2).all(|w| w[0] == w[1]), "{reference:#?}");
    let flaw = format!(
        "'{}' sut reference --flaw no-dedupe",
        env!("CARGO_BIN_EXE_hookproof")
    );
    let flawed: Vec<_> = (0..3).map(|_| verdicts(Some(&flaw), &scenarios)).collect();
    assert!(flawed.windows(2).all(|w| w[0] == w[1]), "{flawed:#?}");
    assert!(
        flawed[0]
            .iter()
            .any(|(_, c, v)| c == "idempotent" && v == "fail")
    );
}
