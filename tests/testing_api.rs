//! The `hookproof::testing` API as a Rust user sees it: a small receiver
//! written here (axum + reqwest, running inside the test process) is tested
//! with proptest-generated scenarios, and a flawed variant of it is caught.
//!
//! The receiver keeps a CRM ticket per helpdesk ticket (upsert by
//! `helpdesk_ticket_id`: subject, status and pipeline stage), verifies
//! signatures,
//! acks only after the CRM write (answering 503 when the CRM keeps failing,
//! so the producer retries), ignores older snapshots (`updated_at`), and
//! deduplicates by event id. It keeps its state in memory, so crash faults
//! are left out of its fuzz space.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use hookproof::testing::{CheckName, FuzzSpace, Harness, SutEnv, Verdict, scenarios};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone)]
struct Receiver {
    env: SutEnv,
    http: reqwest::Client,
    state: Arc<tokio::sync::Mutex<Seen>>,
    /// The flaw to catch: apply snapshots in arrival order.
    newest_wins: bool,
}

#[derive(Default)]
struct Seen {
    events: HashSet<String>,
    versions: HashMap<String, DateTime<Utc>>,
}

async fn serve(env: SutEnv, newest_wins: bool) {
    let listener = tokio::net::TcpListener::bind(env.listen_addr())
        .await
        .expect("the port hookproof picked is free");
    let receiver = Receiver {
        env,
        http: reqwest::Client::builder().no_proxy().build().unwrap(),
        state: Arc::default(),
        newest_wins,
    };
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/webhooks/helpdesk", post(webhook))
        .with_state(receiver);
    axum::serve(listener, app).await.unwrap();
}

fn stage(status: &str) -> &'static str {
    match status {
        "PENDING" | "HOLD" => "2",
        "SOLVED" | "CLOSED" => "4",
        _ => "1",
    }
}

async fn webhook(State(rx): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let url = format!("http://{}/webhooks/helpdesk", rx.env.listen_addr());
    let scheme = rx.env.scheme.parse().unwrap();
    let verified = hookproof::signing::verify(
        scheme,
        &rx.env.webhook_secret,
        &headers,
        "POST",
        &url,
        &body,
        Utc::now(),
        None,
    );
    if verified.is_err() {
        return StatusCode::UNAUTHORIZED;
    }
    let Ok(event) = serde_json::from_slice::<Value>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let id = event["id"].as_str().unwrap_or_default().to_string();
    let kind = event["type"].as_str().unwrap_or_default();
    let ticket_event = [
        "zen:event-type:ticket.created",
        "zen:event-type:ticket.status_changed",
        "zen:event-type:ticket.priority_changed",
    ]
    .contains(&kind);
    let ticket = &event["detail"];
    let (Some(ticket_id), Some(updated_at)) = (
        ticket["id"].as_str(),
        ticket["updated_at"]
            .as_str()
            .and_then(|t| t.parse::<DateTime<Utc>>().ok()),
    ) else {
        // Not a ticket snapshot we use: acknowledge and ignore.
        return StatusCode::OK;
    };
    if !ticket_event {
        return StatusCode::OK;
    }
    // One event at a time: a concurrent duplicate waits for the first copy.
    let mut seen = rx.state.lock().await;
    if seen.events.contains(&id) {
        return StatusCode::OK;
    }
    if rx.newest_wins && seen.versions.get(ticket_id) >= Some(&updated_at) {
        seen.events.insert(id);
        return StatusCode::OK;
    }
    let body = json!({"inputs": [{
        "idProperty": "helpdesk_ticket_id",
        "id": ticket_id,
        "properties": {
            "helpdesk_ticket_id": ticket_id,
            "subject": ticket["subject"].as_str().unwrap_or("(no subject)"),
            "hs_pipeline": "0",
            "hs_pipeline_stage": stage(ticket["status"].as_str().unwrap_or("OPEN")),
            "helpdesk_status": ticket["status"].as_str().unwrap_or("OPEN"),
        },
    }]});
    for attempt in 0..4u32 {
        let sent = rx
            .http
            .post(format!(
                "{}/crm/v3/objects/tickets/batch/upsert",
                rx.env.crm_url
            ))
            .bearer_auth(&rx.env.crm_token)
            .timeout(Duration::from_secs(1))
            .json(&body)
            .send()
            .await;
        if let Ok(response) = sent
            && response.status().is_success()
            && response.status() != 207
        {
            seen.events.insert(id);
            seen.versions.insert(ticket_id.to_string(), updated_at);
            return StatusCode::OK;
        }
        tokio::time::sleep(Duration::from_millis(20 << attempt)).await;
    }
    // Not committed: the producer must retry.
    StatusCode::SERVICE_UNAVAILABLE
}

fn harness(newest_wins: bool) -> Harness {
    Harness::in_process("tiny receiver", move |env| serve(env, newest_wins))
}

fn space() -> FuzzSpace {
    FuzzSpace {
        max_tickets: 3,
        crashes: false,
        properties: vec![
            CheckName::Contract,
            CheckName::NoLoss,
            CheckName::Idempotent,
            CheckName::Converges,
            CheckName::RejectsForgeries,
        ],
        ..FuzzSpace::default()
    }
}

proptest! {
    // A fixed seed: the same cases on every run (proptest prints the
    // minimal failing scenario, whose `seed` field reproduces its workload).
    #![proptest_config(Config {
        cases: 12,
        rng_seed: RngSeed::Fixed(20261123),
        failure_persistence: None,
        ..Config::default()
    })]
    #[test]
    fn the_tiny_receiver_holds_its_properties(scenario in scenarios(space())) {
        let outcome = harness(true).run_blocking(&scenario).expect("the harness runs");
        prop_assert!(outcome.passed(), "{}", outcome.explain());
    }
}

#[test]
fn applying_in_arrival_order_is_caught() {
    // Every ticket's status changes three times, and deliveries are
    // shuffled in windows of 12: some older snapshot arrives last.
    let scenario = hookproof::testing::scenario(
        r#"
        name = "shuffled-status-changes"
        description = "status changes delivered out of order"
        seed = 6
        [workload]
        tickets = 6
        status-changes = 3
        priority-changes = 0
        comments = 0
        noise = 0.0
        [delivery]
        concurrency = 1
        [[fault]]
        kind = "delivery.reorder"
        window = 12
        "#,
    )
    .unwrap();
    let outcome = harness(false)
        .run_blocking(&scenario)
        .expect("the harness runs");
    assert_eq!(
        outcome.verdict(CheckName::Converges),
        Some(Verdict::Fail),
        "{}",
        outcome.explain()
    );
    assert!(!outcome.passed());
    assert!(outcome.explain().contains("converges"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_receiver_runs_in_process_and_its_flaw_is_caught() {
    let duplicates = hookproof::testing::builtin("duplicates").unwrap();
    let clean = Harness::reference(None).run(&duplicates).await.unwrap();
    assert!(clean.passed(), "{}", clean.explain());
    let flawed = Harness::reference(Some("no-dedupe".parse().unwrap()))
        .run(&duplicates)
        .await
        .unwrap();
    assert_eq!(
        flawed.verdict(CheckName::Idempotent),
        Some(Verdict::Fail),
        "{}",
        flawed.explain()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mock_crm_starts_in_process() {
    let crm = hookproof::testing::MockCrm::builder()
        .token("pat-test")
        .start()
        .await
        .unwrap();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let create = |token: &'static str| {
        client
            .post(format!("{}/crm/v3/objects/contacts", crm.url()))
            .bearer_auth(token)
            .json(&json!({"properties": {"email": "ada@example.com"}}))
            .send()
    };
    assert_eq!(create("wrong").await.unwrap().status(), 401);
    assert_eq!(create("pat-test").await.unwrap().status(), 201);
    assert_eq!(crm.snapshot().objects["contacts"].len(), 1);
}
