//! End-to-end: the upgrade rehearsals (`--scenario upgrade`, the next
//! helpdesk event version and the next CRM API version) pass against the
//! reference receiver and fail against `--flaw strict-parser`; the version
//! flags replace every scenario's `[versions]`; a contracts directory
//! without a `next/` set, and a bad version name, are named errors.

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_hookproof");

fn hookproof(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .current_dir(dir)
        .args(args)
        .output()
        .expect("hookproof runs")
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `(scenario, check) -> verdict` from a report.json.
fn verdicts(path: &Path) -> Vec<(String, String, String)> {
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut out = Vec::new();
    for s in report["scenarios"].as_array().unwrap() {
        for c in s["checks"].as_array().unwrap() {
            out.push((
                s["name"].as_str().unwrap().to_string(),
                c["check"].as_str().unwrap().to_string(),
                c["verdict"].as_str().unwrap().to_string(),
            ));
        }
    }
    out
}

fn verdict<'a>(all: &'a [(String, String, String)], scenario: &str, check: &str) -> &'a str {
    all.iter()
        .find(|(s, c, _)| s == scenario && c == check)
        .map(|(_, _, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {check} verdict for {scenario} in {all:?}"))
}

fn reference(flaw: Option<&str>) -> String {
    match flaw {
        Some(f) => format!("{BIN} sut reference --flaw {f}"),
        None => format!("{BIN} sut reference"),
    }
}

fn rehearse(dir: &Path, flaw: Option<&str>) -> (Output, Vec<(String, String, String)>) {
    let report = format!("report-{}", flaw.unwrap_or("reference"));
    let out = hookproof(
        dir,
        &[
            "run",
            "--quiet",
            "--scenario",
            "upgrade",
            "--sut",
            &reference(flaw),
            "--idle-path",
            "/hookproof/idle",
            "--report-dir",
            &report,
        ],
    );
    let all = verdicts(&dir.join(&report).join("report.json"));
    (out, all)
}

#[test]
fn the_rehearsals_pass_the_reference_and_catch_a_strict_parser() {
    let tmp = tempfile::tempdir().unwrap();
    let (out, all) = rehearse(tmp.path(), None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let scenarios: std::collections::BTreeSet<&str> =
        all.iter().map(|(s, _, _)| s.as_str()).collect();
    assert_eq!(
        scenarios.into_iter().collect::<Vec<_>>(),
        ["upgrade-crm-next", "upgrade-helpdesk-next"]
    );
    assert_eq!(
        verdict(&all, "upgrade-helpdesk-next", "tolerates_drift"),
        "pass"
    );
    assert_eq!(verdict(&all, "upgrade-crm-next", "contract"), "pass");

    let (out, all) = rehearse(tmp.path(), Some("strict-parser"));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(
        verdict(&all, "upgrade-helpdesk-next", "tolerates_drift"),
        "fail",
        "{}",
        text(&out)
    );
}

#[test]
fn the_version_flags_replace_every_scenarios_versions() {
    let tmp = tempfile::tempdir().unwrap();
    let out = hookproof(
        tmp.path(),
        &[
            "run",
            "--quiet",
            "--scenario",
            "baseline",
            "--helpdesk-version",
            "next",
            "--crm-version",
            "next",
            "--sut",
            &reference(Some("strict-parser")),
            "--idle-path",
            "/hookproof/idle",
            "--report-dir",
            "r",
        ],
    );
    // baseline has no [versions]: the flag alone makes the strict parser
    // meet the next event version, and tolerates_drift judges it.
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let all = verdicts(&tmp.path().join("r/report.json"));
    assert_eq!(verdict(&all, "baseline", "tolerates_drift"), "fail");
}

#[test]
fn bad_versions_and_missing_next_sets_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let out = hookproof(
        tmp.path(),
        &["run", "--scenario", "baseline", "--crm-version", "v4"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--crm-version") && err.contains("`current` or `next`"),
        "{err}"
    );

    // A contracts directory with only the current set.
    let contracts = Path::new(env!("CARGO_MANIFEST_DIR")).join("contracts");
    let mine = tmp.path().join("mine");
    for profile in ["zendesk", "hubspot"] {
        std::fs::create_dir_all(mine.join(profile)).unwrap();
        for entry in std::fs::read_dir(contracts.join(profile)).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, mine.join(profile).join(path.file_name().unwrap())).unwrap();
        }
    }
    let mine = mine.display().to_string();
    let out = hookproof(
        tmp.path(),
        &["run", "--contracts", &mine, "--helpdesk-version", "next"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no next/ contract set"), "{err}");
    assert!(err.contains(&format!("{mine}/next/zendesk/")), "{err}");

    // A scenario's [versions] with a typo names the file and line.
    let file = tmp.path().join("typo.toml");
    std::fs::write(
        &file,
        "name = \"typo\"\ndescription = \"d\"\n\n[versions]\nhelpdesk = \"nxt\"\n",
    )
    .unwrap();
    let out = hookproof(tmp.path(), &["run", "--scenario", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("typo.toml:5"), "{err}");
    assert!(err.contains("current") && err.contains("next"), "{err}");
}
