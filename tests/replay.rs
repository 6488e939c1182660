//! `hookproof replay` end to end: a run with an outage leaves dead-lettered
//! events in its events log; replaying them to a receiver delivers exactly
//! those events, once each, freshly signed, with their original ids.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

const BIN: &str = env!("CARGO_BIN_EXE_hookproof");
const SECRET: &str = "replay-test-secret";

type Seen = Arc<Mutex<HashMap<String, usize>>>;

async fn receive(
    State(seen): State<(Seen, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let (seen, url) = seen;
    let verified = hookproof::signing::verify(
        hookproof::signing::Scheme::Zendesk,
        SECRET,
        &headers,
        "POST",
        &url,
        &body,
        chrono::Utc::now(),
        None,
    );
    if verified.is_err() {
        return StatusCode::UNAUTHORIZED;
    }
    let event: serde_json::Value = serde_json::from_slice(&body).unwrap();
    *seen
        .lock()
        .unwrap()
        .entry(event["id"].as_str().unwrap().to_string())
        .or_default() += 1;
    StatusCode::OK
}

async fn receiver() -> (String, Seen) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let seen = Seen::default();
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state((seen.clone(), url.clone()));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

fn events_log(dir: &Path) -> Vec<serde_json::Value> {
    let run = Command::new(BIN)
        .current_dir(dir)
        .args([
            "run",
            "--quiet",
            "--scenario",
            "dead-letter-blindness",
            "--report-dir",
            "r",
        ])
        .output()
        .unwrap();
    assert!(run.status.code().is_some(), "{run:?}");
    let text =
        std::fs::read_to_string(dir.join("r/delivery-log/dead-letter-blindness.events.jsonl"))
            .unwrap();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn replay(dir: &Path, url: &str, extra: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .current_dir(dir)
        .env("REPLAY_SECRET", SECRET)
        .args([
            "replay",
            "--log",
            "r/delivery-log/dead-letter-blindness.events.jsonl",
        ])
        .args(["--target", url, "--secret-env", "REPLAY_SECRET"])
        .args(extra)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_the_dead_letters_once_each_with_their_ids() {
    let tmp = tempfile::tempdir().unwrap();
    let records = events_log(tmp.path());
    let dead: Vec<String> = records
        .iter()
        .filter(|r| r["status"] == "dead-lettered")
        .map(|r| r["event_id"].as_str().unwrap().to_string())
        .collect();
    assert!(!dead.is_empty(), "the outage scenario dead-letters events");
    assert!(records.iter().all(|r| r["payload"]["id"] == r["event_id"]));

    let (url, seen) = receiver().await;
    let dir = tmp.path().to_path_buf();
    let u = url.clone();
    let out = tokio::task::spawn_blocking(move || replay(&dir, &u, &[]))
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = seen.lock().unwrap().clone();
    let mut ids: Vec<&String> = got.keys().collect();
    ids.sort();
    let mut want: Vec<&String> = dead.iter().collect();
    want.sort();
    assert_eq!(ids, want);
    assert!(got.values().all(|n| *n == 1), "{got:?}");
    assert!(
        stdout.contains(&format!("{} of {} landed", dead.len(), dead.len())),
        "{stdout}"
    );

    // A type filter and --status all.
    seen.lock().unwrap().clear();
    let dir = tmp.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        replay(&dir, &url, &["--status", "all", "--type", "ticket.created"])
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let created = records
        .iter()
        .filter(|r| r["event_type"] == "ticket.created")
        .count();
    assert_eq!(seen.lock().unwrap().len(), created);
}

#[test]
fn refuses_other_hosts_missing_secrets_and_garbled_logs() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("r/delivery-log")).unwrap();
    std::fs::write(
        tmp.path()
            .join("r/delivery-log/dead-letter-blindness.events.jsonl"),
        "not json\n",
    )
    .unwrap();
    let cases: [(&str, &[&str], &str); 3] = [
        ("http://10.1.2.3:80/hook", &[], "--target"),
        (
            "http://127.0.0.1:9/hook",
            &["--status", "sometimes"],
            "--status",
        ),
        ("http://127.0.0.1:9/hook", &[], "events.jsonl:1:"),
    ];
    for (url, extra, named) in cases {
        let out = replay(tmp.path(), url, extra);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(named), "{err}");
    }
    let out = Command::new(BIN)
        .current_dir(tmp.path())
        .args(["replay", "--log", "x", "--target", "http://127.0.0.1:9/h"])
        .args(["--secret-env", "HOOKPROOF_TEST_UNSET_VAR"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--secret-env"));
}

/// Runs tests/data/dead-letter-window.toml with its replay window ending at
/// `until`; returns (report.json, replayed event ids, dead letters first
/// sent before `until_ms`).
fn run_window(
    dir: &Path,
    until: &str,
    until_ms: u64,
) -> (serde_json::Value, Vec<String>, Vec<String>) {
    let template = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/dead-letter-window.toml"),
    )
    .unwrap();
    let file = dir.join(format!("window-{until}.toml"));
    std::fs::write(&file, template.replace("UNTIL", until)).unwrap();
    let report = dir.join(format!("report-{until}"));
    let out = Command::new(BIN)
        .current_dir(dir)
        .args(["run", "--quiet", "--scenario"])
        .arg(&file)
        .arg("--report-dir")
        .arg(&report)
        .output()
        .unwrap();
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report.join("report.json")).unwrap())
            .unwrap();
    let log = report.join("delivery-log/dead-letter-window");
    let events: Vec<serde_json::Value> =
        std::fs::read_to_string(log.with_extension("events.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
    let in_window: Vec<String> = events
        .iter()
        .filter(|e| {
            e["status"] == "dead-lettered" && e["first_attempt_ms"].as_u64() < Some(until_ms)
        })
        .map(|e| e["event_id"].as_str().unwrap().to_string())
        .collect();
    // No duplicates in this scenario: deliveries 0..events are the
    // originals, the ones after them the replay.
    let mut replayed: Vec<String> = std::fs::read_to_string(log.with_extension("jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|a| a["delivery"].as_u64().unwrap() >= events.len() as u64)
        .map(|a| a["event_id"].as_str().unwrap().to_string())
        .collect();
    replayed.sort();
    replayed.dedup();
    (json, replayed, in_window)
}

fn verdict(report: &serde_json::Value, check: &str) -> String {
    report["scenarios"][0]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == check)
        .map(|c| c["verdict"].as_str().unwrap().to_string())
        .unwrap_or_else(|| panic!("no {check} in {report:#}"))
}

#[test]
fn replaying_a_dead_letter_window_completes_the_crm_state_exactly_once() {
    let tmp = tempfile::tempdir().unwrap();
    // The window covers the outage: every dead letter is replayed, once,
    // and the final CRM state equals the clean run's.
    let (report, mut replayed, mut window) = run_window(tmp.path(), "1500ms", 1_500);
    replayed.sort();
    window.sort();
    assert!(!window.is_empty(), "the outage dead-letters events");
    assert_eq!(replayed, window);
    for check in ["replays", "no_loss", "idempotent", "converges"] {
        assert_eq!(verdict(&report, check), "pass", "{check}: {report:#}");
    }
    let stats = &report["scenarios"][0]["stats"];
    assert_eq!(
        stats["deliveries"].as_u64().unwrap() - stats["events"].as_u64().unwrap(),
        window.len() as u64,
        "one replay delivery per dead letter"
    );

    // A window that ends mid-outage replays only its part: each replayed
    // event still lands once, and the state stays incomplete (converges
    // says so) instead of the replay being blamed.
    let (report, mut replayed, mut window) = run_window(tmp.path(), "700ms", 700);
    replayed.sort();
    window.sort();
    assert_eq!(replayed, window);
    assert_eq!(verdict(&report, "replays"), "pass", "{report:#}");
    assert_eq!(verdict(&report, "idempotent"), "pass", "{report:#}");
    assert_eq!(verdict(&report, "converges"), "fail", "{report:#}");
}

#[test]
fn replays_into_a_fresh_sut_against_fresh_mocks() {
    let tmp = tempfile::tempdir().unwrap();
    let records = events_log(tmp.path());
    let tickets: std::collections::BTreeSet<&str> = records
        .iter()
        .filter(|r| r["event_type"] == "ticket.created")
        .map(|r| r["payload"]["detail"]["id"].as_str().unwrap())
        .collect();
    let log = tmp
        .path()
        .join("r/delivery-log/dead-letter-blindness.events.jsonl");
    let out = Command::new(BIN)
        .current_dir(tmp.path())
        .args(["replay", "--status", "all", "--log"])
        .arg(&log)
        .args(["--sut", &format!("{BIN} sut reference")])
        .args(["--idle-path", "/hookproof/idle"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let n = records.len();
    assert!(stdout.contains(&format!("{n} of {n} landed")), "{stdout}");
    // Every ticket of the log exists once in the fresh CRM, and the
    // receiver broke no contract.
    assert!(
        stdout.contains(&format!("{} tickets", tickets.len())),
        "{stdout}"
    );
    assert!(stdout.contains(", 0 contract violation(s)"), "{stdout}");

    // --target and --sut exclude each other; one of them is needed.
    let both = Command::new(BIN)
        .args(["replay", "--log"])
        .arg(&log)
        .args(["--target", "http://127.0.0.1:9/x", "--sut", "true"])
        .output()
        .unwrap();
    assert_eq!(both.status.code(), Some(2));
    let neither = Command::new(BIN)
        .args(["replay", "--log"])
        .arg(&log)
        .output()
        .unwrap();
    assert_eq!(neither.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&neither.stderr).contains("--sut CMD"));
}
