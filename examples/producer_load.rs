//! Drives hookproof's producer alone at full speed: N signed webhook events
//! (Zendesk scheme, a 200-byte `ticket.created`-like body), all due at once,
//! delivered by [`hookproof::producer::Producer`] with a concurrency limit
//! (signing, the delivery log, retries armed but unused against a 2xx
//! receiver). Prints one line of `key=value` pairs, including `rps=`.
//!
//! Run: `cargo run --release --example producer_load -- URL [N] [CONCURRENCY] [BODY_FILE]`
//! (defaults: 200000 events, concurrency 50, the built-in body; a load
//! generator compared with it can send the same BODY_FILE).

// The allocator of the `hookproof` binary (see `hookproof::allocator`), so
// this measures the producer as `hookproof run` and `bench` run it.
hookproof::global_allocator!();

use hookproof::history::{DeliveryLog, DeliveryStatus, SignatureMode};
use hookproof::producer::{DeliveryPolicy, PlannedDelivery, Producer, Progress, Target, Unit};
use hookproof::signing::Scheme;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(url) = args.next() else {
        eprintln!("usage: producer_load URL [N] [CONCURRENCY] [BODY_FILE]");
        std::process::exit(2);
    };
    let count: usize = args.next().map_or(200_000, |n| n.parse().expect("N"));
    let concurrency: usize = args.next().map_or(50, |c| c.parse().expect("CONCURRENCY"));
    let body = Arc::new(match args.next() {
        Some(file) => std::fs::read(&file).expect("BODY_FILE"),
        None => serde_json::to_vec(&serde_json::json!({
            "type": "zen:event-type:ticket.created",
            "account_id": 1,
            "detail": {"id": "1001", "subject": "Printer on fire", "status": "new",
                       "requester_id": "42", "priority": "high"},
            "time": "2026-11-30T00:00:00Z"
        }))
        .expect("a JSON body"),
    });
    let units: Vec<Unit> = (0..count)
        .map(|i| {
            Unit::now(PlannedDelivery {
                event_seq: Some(i),
                event_id: format!("evt-{i}"),
                event_type: "ticket.created".to_string(),
                ticket_id: Some("1001".to_string()),
                body: body.clone(),
                signed_body: None,
                signature: SignatureMode::Valid,
                origin: "original".to_string(),
                lost_acks: 0,
                rotated: false,
                traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_string(),
            })
        })
        .collect();
    let producer = Producer::new(
        Target {
            url,
            scheme: Scheme::Zendesk,
            secret: "bench-secret".to_string(),
            wrong_secret: "not-the-secret".to_string(),
        },
        DeliveryPolicy {
            concurrency,
            timeout: Duration::from_secs(5),
            ..DeliveryPolicy::default()
        },
    );
    let log = Arc::new(Mutex::new(DeliveryLog::default()));
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let started = Instant::now();
    runtime.block_on(producer.deliver(
        units,
        Instant::now(),
        log.clone(),
        Arc::new(Progress::default()),
    ));
    let elapsed = started.elapsed();
    let log = log.lock().unwrap();
    let acked = log
        .deliveries
        .iter()
        .filter(|d| d.status == DeliveryStatus::Acked)
        .count();
    println!(
        "events={count} concurrency={concurrency} acked={acked} attempts={} secs={:.3} rps={:.0}",
        log.attempts.len(),
        elapsed.as_secs_f64(),
        log.attempts.len() as f64 / elapsed.as_secs_f64()
    );
}
