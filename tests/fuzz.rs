//! End-to-end: `hookproof fuzz` against the reference receiver and three of
//! its flaws. Each flaw is found, shrunk to at most 10 events, saved as a
//! scenario file, and `hookproof run` on that file fails the same way. The
//! reference passes. Seeds are fixed (and printed by hookproof on failure).

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_hookproof");

fn reference(flaw: Option<&str>) -> String {
    match flaw {
        Some(f) => format!("{BIN} sut reference --flaw {f}"),
        None => format!("{BIN} sut reference"),
    }
}

fn fuzz(dir: &Path, sut: &str, seed: u64, cases: usize, extra: &[&str]) -> Output {
    Command::new(BIN)
        .current_dir(dir)
        .args([
            "fuzz",
            "--quiet",
            "--jobs",
            "4",
            "--idle-path",
            "/hookproof/idle",
        ])
        .args(["--sut", sut, "--seed", &seed.to_string()])
        .args(["--cases", &cases.to_string(), "--time", "60s"])
        .args(extra)
        .output()
        .expect("hookproof runs")
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The event count in "shrunk in N step(s) to E event(s)".
fn shrunk_events(stdout: &str) -> usize {
    let at = stdout.find("event(s) and").expect("a shrink summary");
    let before = stdout[..at].trim_end();
    before[before.rfind(' ').unwrap() + 1..]
        .parse()
        .expect("an event count")
}

/// `extra`: generator flags for the campaign (and the re-check of the
/// kept case).
fn finds_and_shrinks(flaw: &str, seed: u64, check: &str, extra: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let sut = reference(Some(flaw));
    let mut flags = vec!["--report-dir", "fuzz-report"];
    flags.extend(extra);
    let out = fuzz(dir.path(), &sut, seed, 150, &flags);
    let report = text(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "flaw {flaw} not found:\n{report}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&format!("fail {check}")), "{report}");
    let events = shrunk_events(&stdout);
    assert!(
        (1..=10).contains(&events),
        "flaw {flaw} shrunk only to {events} events:\n{report}"
    );
    // A fresh run of the saved case reproduced it (on one of its tries).
    assert!(stdout.contains("5 of 5 fresh run(s)"), "{report}");
    assert!(!stdout.contains("WARNING"), "{report}");
    // --report-dir: the same failure as an HTML page.
    let html = std::fs::read_to_string(dir.path().join("fuzz-report/report.html")).unwrap();
    assert!(html.contains("<strong>FAILED</strong>"), "{html}");
    assert!(
        html.contains(&format!("data-check=\"{check}\" data-verdict=\"fail\"")),
        "{html}"
    );
    assert!(html.contains("<h3>Minimal scenario</h3>"), "{html}");

    // The saved case replays with `hookproof run` and the same verdict.
    let saved: Vec<_> = std::fs::read_dir(dir.path().join("fuzz-regressions"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(saved.len(), 1, "{saved:?}");
    let run = Command::new(BIN)
        .current_dir(dir.path())
        .args([
            "run",
            "--quiet",
            "--idle-path",
            "/hookproof/idle",
            "--sut",
            &sut,
        ])
        .arg("--scenario")
        .arg(&saved[0])
        .args(["--report-dir", "report"])
        .output()
        .unwrap();
    let run_report = text(&run);
    assert_eq!(run.status.code(), Some(1), "{run_report}");
    let run_stdout = String::from_utf8_lossy(&run.stdout);
    let header = run_stdout.lines().next().unwrap();
    // Columns are right-aligned under their headers.
    let end = header.find(check).expect("the check's column") + check.len();
    let row = run_stdout
        .lines()
        .find(|l| l.starts_with("fuzz-"))
        .expect("the scenario's row");
    assert_eq!(&row[end - 4..end], "FAIL", "{run_report}");

    // The next campaign re-checks the kept case first, and stops on it.
    let again = fuzz(dir.path(), &sut, seed + 1, 150, extra);
    let again_report = text(&again);
    assert_eq!(again.status.code(), Some(1), "{again_report}");
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("kept regression still fails"),
        "{again_report}"
    );
}

#[test]
fn finds_and_shrinks_no_dedupe() {
    // Without crashes: a duplicate processed while the receiver restarts is
    // a race that a fresh run may not repeat; plain duplicates always are.
    finds_and_shrinks("no-dedupe", 3, "idempotent", &["--no-crashes"]);
}

#[test]
fn finds_and_shrinks_strict_parser() {
    finds_and_shrinks("strict-parser", 11, "tolerates_drift", &[]);
}

#[test]
fn finds_and_shrinks_no_signature_check() {
    finds_and_shrinks("no-signature-check", 11, "rejects_forgeries", &[]);
}

#[test]
fn the_reference_receiver_passes() {
    let dir = tempfile::tempdir().unwrap();
    let out = fuzz(dir.path(), &reference(None), 42, 60, &[]);
    let report = text(&out);
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("60 generated case(s)"),
        "{report}"
    );
    assert!(!dir.path().join("fuzz-regressions").exists());
}

#[test]
fn bad_flags_are_named() {
    let dir = tempfile::tempdir().unwrap();
    for (flags, named) in [
        (&["--properties", "idempotent,bogus"][..], "--properties"),
        (&["--time", "soon"][..], "--time"),
        (&["--jobs", "0"][..], "--jobs"),
        // Not a report directory: refused before the campaign starts.
        (&["--report-dir", "."][..], "--report-dir"),
    ] {
        std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
        let out = fuzz(dir.path(), &reference(None), 1, 1, flags);
        let report = text(&out);
        assert_eq!(out.status.code(), Some(2), "{report}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(named),
            "{report}"
        );
    }
}
