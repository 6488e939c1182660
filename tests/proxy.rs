//! `hookproof proxy` end to end, in front of a second mock CRM as the
//! "real" upstream: it forwards (credentials included), validates requests
//! and responses against the contracts, injects a scenario's 503, and
//! records the traffic without credentials; the recording validates again
//! with `hookproof contracts validate`. On the helpdesk side its recording
//! is an events log `hookproof replay` re-delivers.

use hookproof::contract::Contracts;
use hookproof::crm::{CrmConfig, MockCrm};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

const BIN: &str = env!("CARGO_BIN_EXE_hookproof");
const TOKEN: &str = "pat-na1-proxy-test-credential";

/// Starts `hookproof proxy ARGS` and returns it with its URL.
fn start_proxy(dir: &Path, args: &[&str]) -> (Child, String) {
    let mut child = Command::new(BIN)
        .current_dir(dir)
        .arg("proxy")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("hookproof proxy starts");
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let url = line
        .trim()
        .strip_prefix("HOOKPROOF_PROXY_URL=")
        .unwrap_or_else(|| panic!("no URL line, got {line:?}"))
        .to_string();
    (child, url)
}

/// SIGTERM, then the exit code and stderr.
fn stop(child: Child) -> (Option<i32>, String) {
    // SAFETY: plain kill(2) on our own child's pid.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validates_injects_a_503_and_records_without_credentials() {
    let tmp = tempfile::tempdir().unwrap();
    let contracts = Arc::new(Contracts::builtin().unwrap());
    let upstream = MockCrm::start(CrmConfig::new(TOKEN, contracts))
        .await
        .unwrap();
    upstream.arm();
    // Every contacts call answers 503; tickets pass through.
    let scenario = tmp.path().join("faults.toml");
    std::fs::write(
        &scenario,
        "name = \"sandbox-503\"\ndescription = \"d\"\n\n[[fault]]\nkind = \"crm.status\"\n\
         status = 503\nroute = \"contacts\"\n",
    )
    .unwrap();
    let record = tmp.path().join("traffic.jsonl");
    let (child, url) = start_proxy(
        tmp.path(),
        &[
            "--upstream",
            &upstream.url(),
            "--record",
            record.to_str().unwrap(),
            "--scenario",
            scenario.to_str().unwrap(),
        ],
    );
    let client = reqwest::Client::new();
    let post = |path: &str, body: serde_json::Value| {
        client
            .post(format!("{url}{path}"))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
    };
    // 1. A valid ticket create reaches the upstream with its credentials.
    let ok = post(
        "/crm/v3/objects/tickets",
        serde_json::json!({"properties": {"subject": "Printer on fire", "hs_pipeline_stage": "1"}}),
    )
    .await
    .unwrap();
    assert_eq!(ok.status().as_u16(), 201);
    let created: serde_json::Value = ok.json().await.unwrap();
    assert_eq!(created["properties"]["subject"], "Printer on fire");
    // 2. The injected 503 never reaches the upstream.
    let failed = post(
        "/crm/v3/objects/contacts",
        serde_json::json!({"properties": {"email": "ada@example.com"}}),
    )
    .await
    .unwrap();
    assert_eq!(failed.status().as_u16(), 503);
    let body: serde_json::Value = failed.json().await.unwrap();
    assert_eq!(body["status"], "error");
    // 3. A request that breaks the contract is forwarded (the sandbox
    // decides) and flagged.
    let bad = post(
        "/crm/v3/objects/tickets",
        serde_json::json!({"properties": {"hs_pipeline_stage": "1"}}),
    )
    .await
    .unwrap();
    assert_eq!(bad.status().as_u16(), 400, "the upstream's own answer");

    let seen = upstream.requests();
    assert_eq!(seen.len(), 2, "{seen:#?}");
    assert!(
        seen.iter().all(|r| r.authorized),
        "credentials passed through"
    );
    assert!(
        seen.iter()
            .all(|r| r.object_type.as_deref() == Some("tickets"))
    );

    let (code, stderr) = stop(child);
    assert_eq!(code, Some(1), "a violation makes the exit 1: {stderr}");
    assert!(
        stderr.contains("3 exchange(s), 1 with contract violations, 1 with an injected fault"),
        "{stderr}"
    );
    assert!(stderr.contains("hubspot/tickets.create.json"), "{stderr}");

    let text = std::fs::read_to_string(&record).unwrap();
    assert!(!text.contains(TOKEN), "the recording holds no credential");
    let recorded = lines(&record);
    assert_eq!(recorded.len(), 3);
    assert!(recorded.iter().all(|x| x["hookproof"] == "proxy-exchange"));
    assert_eq!(
        recorded[0]["request_headers"]["authorization"],
        "[redacted]"
    );
    assert_eq!(recorded[0]["route"], "tickets create");
    assert_eq!(recorded[0]["http_status"], 201);
    assert_eq!(recorded[1]["fault"], "status 503");
    assert_eq!(recorded[1]["http_status"], 503);
    let violations = recorded[2]["violations"].as_array().unwrap();
    assert!(
        violations
            .iter()
            .any(|v| v["contract"] == "hubspot/tickets.create.json"
                && v["message"].as_str().unwrap().contains("subject")),
        "{violations:?}"
    );

    // The recording is a corpus `contracts validate` checks again.
    let out = Command::new(BIN)
        .args(["contracts", "validate"])
        .arg(&record)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("traffic.jsonl:3: hubspot/tickets.create.json"),
        "{stdout}"
    );
    assert!(stdout.contains("3 payload(s)"), "{stdout}");

    // Never overwritten.
    let (code, err) = start_proxy_err(tmp.path(), &upstream.url(), &record);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("never overwrites"), "{err}");
    assert_eq!(std::fs::read_to_string(&record).unwrap(), text);
    upstream.shutdown().await;
}

/// Runs a proxy expected to refuse to start; returns (exit, stderr).
fn start_proxy_err(dir: &Path, upstream: &str, record: &Path) -> (Option<i32>, String) {
    let out = Command::new(BIN)
        .current_dir(dir)
        .args(["proxy", "--upstream", upstream, "--record"])
        .arg(record)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn refuses_remote_addresses_and_store_changing_faults() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(BIN)
            .current_dir(tmp.path())
            .arg("proxy")
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = run(&["--upstream", "http://api.hubapi.com"]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("--upstream") && err.contains("loopback"),
        "{err}"
    );
    let (code, err) = run(&["--upstream", "http://127.0.0.1:9", "--listen", "0.0.0.0:0"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("--listen"), "{err}");
    let (code, err) = run(&[
        "--upstream",
        "http://127.0.0.1:9",
        "--scenario",
        "partial-batch-failure",
    ]);
    assert_eq!(code, Some(2));
    assert!(err.contains("crm.partial-batch"), "{err}");
    let (code, err) = run(&["--upstream", "http://127.0.0.1:9", "--side", "both"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("--side"), "{err}");
}
