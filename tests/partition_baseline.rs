//! `--partition K/N` + `hookproof merge` (the union of the partitions is the
//! whole run), and the `--baseline` gate (pass, and a regression).

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_hookproof");
const SCENARIOS: &[&str] = &[
    "event-type-overreach",
    "duplicates",
    "forgery",
    "reordering",
    "crm-outage",
];

fn run(dir: &Path, report: &str, extra: &[&str]) -> Output {
    let mut args = vec!["run", "--quiet", "--report-dir", report];
    for s in SCENARIOS {
        args.extend(["--scenario", s]);
    }
    args.extend(extra);
    Command::new(BIN)
        .current_dir(dir)
        .args(&args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n{}\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn verdicts(path: &Path) -> Vec<(String, Vec<(String, String)>)> {
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut out: Vec<_> = report["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let checks = s["checks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| {
                    (
                        c["check"].as_str().unwrap().to_string(),
                        c["verdict"].as_str().unwrap().to_string(),
                    )
                })
                .collect();
            (s["name"].as_str().unwrap().to_string(), checks)
        })
        .collect();
    out.sort();
    out
}

#[test]
fn the_union_of_the_partitions_is_the_whole_run() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let whole = run(dir, "whole", &[]);
    assert_eq!(whole.status.code(), Some(0), "{}", text(&whole));
    for k in 1..=3 {
        let part = run(
            dir,
            &format!("part{k}"),
            &["--partition", &format!("{k}/3")],
        );
        assert_eq!(part.status.code(), Some(0), "{}", text(&part));
    }
    let merged = Command::new(BIN)
        .current_dir(dir)
        .args([
            "merge",
            "part1/report.json",
            "part2/report.json",
            "part3/report.json",
        ])
        .args(["--out", "merged"])
        .output()
        .unwrap();
    assert_eq!(merged.status.code(), Some(0), "{}", text(&merged));
    let merged_verdicts = verdicts(&dir.join("merged/report.json"));
    assert_eq!(merged_verdicts.len(), SCENARIOS.len());
    assert_eq!(merged_verdicts, verdicts(&dir.join("whole/report.json")));
    assert!(dir.join("merged/junit.xml").exists());
    // The merged report.html charts every scenario from the partitions'
    // delivery logs.
    let html = std::fs::read_to_string(dir.join("merged/report.html")).unwrap();
    for s in SCENARIOS {
        assert!(
            html.contains(&format!("id=\"scenario-{s}\"")),
            "{s} has a section"
        );
    }
    assert_eq!(
        html.matches("data-chart=\"timeline\"").count(),
        SCENARIOS.len(),
        "a timeline per scenario"
    );
    assert!(!html.contains("No delivery log for this scenario"));

    // Overlapping partitions are refused.
    let overlap = Command::new(BIN)
        .current_dir(dir)
        .args([
            "merge",
            "part1/report.json",
            "whole/report.json",
            "--out",
            "o",
        ])
        .output()
        .unwrap();
    assert_eq!(overlap.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&overlap.stderr).contains("overlap"));
    // A bad partition is a usage error.
    let bad = run(dir, "bad", &["--partition", "4/3"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--partition"));
}

#[test]
fn the_baseline_gate_passes_and_catches_a_regression() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let one = |report: &str, sut: Option<&str>, baseline: Option<&str>| {
        let mut cmd = Command::new(BIN);
        cmd.current_dir(dir).args([
            "run",
            "--quiet",
            "--scenario",
            "duplicates",
            "--report-dir",
            report,
        ]);
        if let Some(sut) = sut {
            cmd.args(["--sut", sut, "--idle-path", "/hookproof/idle"]);
        }
        if let Some(b) = baseline {
            // A generous p99 allowance: this test is about verdicts.
            cmd.args(["--baseline", b, "--max-p99-regression", "1000"]);
        }
        cmd.output().unwrap()
    };
    let reference = format!("{BIN} sut reference");
    let base = one("base", Some(&reference), None);
    assert_eq!(base.status.code(), Some(0), "{}", text(&base));
    let same = one("same", Some(&reference), Some("base/report.json"));
    assert_eq!(same.status.code(), Some(0), "{}", text(&same));
    assert!(String::from_utf8_lossy(&same.stdout).contains("baseline gate: no regression"));
    let flawed = format!("{BIN} sut reference --flaw no-dedupe");
    let worse = one("worse", Some(&flawed), Some("base/report.json"));
    let out = text(&worse);
    assert_eq!(worse.status.code(), Some(1), "{out}");
    assert!(
        out.contains("new duplicates: idempotent passed in the baseline"),
        "{out}"
    );
    let missing = one("x", None, Some("nope.json"));
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("--baseline"));
}
