//! `hookproof bench` end to end: the built binary against the bundled
//! reference receiver (and a flawed variant), its KPI table and bench.json,
//! and its errors. Timing values are never asserted, only their presence
//! and consistency.

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_hookproof");

fn hookproof(args: &[&str], dir: &Path) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("hookproof runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn bench(dir: &Path, sut: &str, extra: &[&str]) -> (Output, Value) {
    let report = dir.join("report");
    let mut args = vec![
        "bench",
        "--sut",
        sut,
        "--idle-path",
        "/hookproof/idle",
        "--rate",
        "100",
        "--duration",
        "2s",
        "--report-dir",
        report.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = hookproof(&args, dir);
    assert_eq!(
        o.status.code(),
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(report.join("bench.json")).unwrap()).unwrap();
    (o, json)
}

fn ordered(p: &Value) {
    let f = |k: &str| p[k].as_f64().unwrap_or_else(|| panic!("{k} in {p}"));
    assert!(f("p50_ms") <= f("p90_ms"), "{p}");
    assert!(f("p90_ms") <= f("p99_ms"), "{p}");
    assert!(f("p99_ms") <= f("max_ms"), "{p}");
    let qs: Vec<f64> = p["percentiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["ms"].as_f64().unwrap())
        .collect();
    assert_eq!(qs.len(), 7, "{p}");
    assert!(qs.windows(2).all(|w| w[0] <= w[1]), "{p}");
    assert_eq!(p["percentiles"][6]["percentile"], 99.99);
}

#[test]
fn the_reference_receiver_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let sut = format!("{BIN} sut reference");
    let (o, json) = bench(dir.path(), &sut, &[]);
    let stdout = text(&o.stdout);
    for row in [
        "ack p50",
        "ack p99",
        "ack max",
        "end-to-end p99",
        "throughput (acked/s)",
        "loss rate",
        "duplicate-effect rate",
        "producer retries",
        "dead-letter depth",
    ] {
        assert!(stdout.contains(row), "{row} missing:\n{stdout}");
    }
    assert!(stdout.contains("bench.json"), "{stdout}");
    assert!(dir.path().join("report/bench.md").exists());

    assert_eq!(json["schema_version"], 1);
    let command = json["command"].as_str().unwrap();
    assert!(command.starts_with("hookproof bench --sut"), "{command}");
    assert!(command.contains("--rate 100"), "{command}");
    assert_eq!(json["outcome"]["mode"], "single");
    let k = &json["outcome"]["kpis"];
    assert_eq!(k["events"], 200, "{k}");
    assert_eq!(k["deliveries"], 200);
    assert_eq!(k["acked"], 200, "{k}");
    assert_eq!(k["loss_rate"], 0.0, "{k}");
    assert_eq!(k["duplicate_rate"], 0.0, "{k}");
    assert_eq!(k["dead_lettered"], 0);
    assert_eq!(k["settled"], true);
    assert!(k["crm_requests"].as_u64().unwrap() > 0);
    assert_eq!(k["ack"]["count"], 200);
    assert!(k["ack"]["p99_ms"].as_f64().is_some());
    ordered(&k["ack"]);
    // Every non-noise event writes to the CRM, with its traceparent.
    assert!(k["e2e"]["count"].as_u64().unwrap() > 100, "{k}");
    ordered(&k["e2e"]);
    assert!(k["throughput"].as_f64().unwrap() > 0.0);
}

#[test]
fn no_dedupe_under_duplicate_deliveries_shows_duplicated_effects() {
    let dir = tempfile::tempdir().unwrap();
    let sut = format!("{BIN} sut reference --flaw no-dedupe");
    let (o, json) = bench(dir.path(), &sut, &["--duplicates", "20%", "--seed", "7"]);
    let k = &json["outcome"]["kpis"];
    // Every duplicated comment event makes a second note.
    assert!(k["duplicate_rate"].as_f64().unwrap() > 0.0, "{k}");
    assert!(!k["duplicated_events"].as_array().unwrap().is_empty());
    assert!(k["deliveries"].as_u64().unwrap() > k["events"].as_u64().unwrap());
    assert!(text(&o.stdout).contains("duplicated events:"));

    // The same load against the reference: no duplicated effect.
    let dir = tempfile::tempdir().unwrap();
    let sut = format!("{BIN} sut reference");
    let (_, json) = bench(dir.path(), &sut, &["--duplicates", "20%", "--seed", "7"]);
    assert_eq!(json["outcome"]["kpis"]["duplicate_rate"], 0.0);
}

#[test]
fn a_crm_outage_profile_shows_sut_retries() {
    let dir = tempfile::tempdir().unwrap();
    let sut = format!("{BIN} sut reference");
    let (_, json) = bench(dir.path(), &sut, &["--fault-profile", "crm-503"]);
    assert_eq!(json["config"]["fault_profile"], "crm-503");
    let k = &json["outcome"]["kpis"];
    // Every CRM request is answered 503 for a second mid-run: the
    // receiver retries them, and still loses nothing.
    assert!(k["crm_retries"].as_u64().unwrap() > 0, "{k}");
    assert_eq!(k["loss_rate"], 0.0, "{k}");
    ordered(&k["e2e"]);
}

#[test]
fn bad_flags_are_usage_errors_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    for (args, flag) in [
        (vec!["bench", "--rate", "fast"], "--rate"),
        (vec!["bench", "--rate", "0/s"], "--rate"),
        (vec!["bench", "--duration", "soon"], "--duration"),
        (
            vec!["bench", "--fault-profile", "crm-418"],
            "--fault-profile",
        ),
        (
            vec!["bench", "--max-error-rate", "200%"],
            "--max-error-rate",
        ),
        (vec!["bench", "--slo-p99", "quick"], "--slo-p99"),
        (
            vec!["bench", "--saturate", "--step-factor", "0.5"],
            "--step-factor",
        ),
        (vec!["bench", "--no-such-flag"], "--no-such-flag"),
    ] {
        let o = hookproof(&args, dir.path());
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o.stderr));
        assert!(
            text(&o.stderr).contains(flag),
            "{args:?}: {}",
            text(&o.stderr)
        );
        assert!(!text(&o.stderr).contains("panicked"));
    }
    // A user's directory is never written into.
    let theirs = dir.path().join("theirs");
    std::fs::create_dir(&theirs).unwrap();
    std::fs::write(theirs.join("notes.txt"), "precious").unwrap();
    let o = hookproof(
        &["bench", "--report-dir", theirs.to_str().unwrap()],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("--report-dir"));
    assert_eq!(
        std::fs::read_to_string(theirs.join("notes.txt")).unwrap(),
        "precious"
    );
}

#[test]
fn a_sut_that_will_not_start_or_hangs_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let o = hookproof(
        &[
            "bench",
            "--sut",
            "exit 3",
            "--duration",
            "1s",
            "--report-dir",
            "r",
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("exited"), "{}", text(&o.stderr));

    let script = dir.path().join("hang.py");
    std::fs::write(
        &script,
        r#"
import http.server, os, time
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
    def do_POST(self):
        time.sleep(3600)
    def log_message(self, *a): pass
host, port = os.environ["HOOKPROOF_LISTEN"].rsplit(":", 1)
http.server.ThreadingHTTPServer((host, int(port)), H).serve_forever()
"#,
    )
    .unwrap();
    let started = Instant::now();
    let cmd = format!("exec python3 {}", script.display());
    let o = hookproof(
        &[
            "bench",
            "--sut",
            &cmd,
            "--rate",
            "50",
            "--duration",
            "2s",
            "--report-dir",
            "r",
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("it hangs"), "{}", text(&o.stderr));
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(!dir.path().join("r/bench.json").exists());
}
