//! The mock helpdesk's delivery engine: signs and POSTs webhook events to the
//! SUT with real producer semantics — concurrency, a per-attempt timeout, a
//! retry schedule that honours `Retry-After`, then a dead-letter queue — and
//! records every attempt in the [`DeliveryLog`].
//!
//! A 2xx is an ack (the SUT owns the event); 408, 429, 5xx, timeouts and
//! connection errors are retried; any other 4xx is a permanent rejection.
//!
//! Requests go out on keep-alive HTTP/1.1 connections of the producer's own
//! small client (`producer::connections`), driven by each attempt on a
//! single-threaded runtime of the producer's own. Within an attempt, a
//! request on a reused connection that breaks before any byte of the answer
//! arrived is sent once more on a fresh connection (a delivery carries its
//! event id, so it is replayable, as Go's `net/http` treats requests with an
//! idempotency key); the log records it ([`DeliveryLog::resent`]).

use crate::history::{
    Attempt, AttemptOutcome, DeliveryLog, DeliveryRecord, DeliveryStatus, SignatureMode,
};
use crate::signing::{Message, Scheme, Signer};
use chrono::Utc;
use connections::{Connections, Request, SendError};
use futures::stream::{FuturesUnordered, StreamExt};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod connections;

/// The producer's retry policy: the `[delivery]` table of a scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryPolicy {
    /// Deliveries in flight at once.
    pub concurrency: usize,
    /// Per-attempt timeout.
    #[serde(with = "crate::scenario::duration")]
    pub timeout: Duration,
    /// Delay before each retry; attempts = `retry.len() + 1`, then dead-letter.
    #[serde(with = "crate::scenario::durations")]
    pub retry: Vec<Duration>,
    /// Whether a `Retry-After` on 429/503 postpones the next attempt.
    pub honor_retry_after: bool,
    /// `Retry-After` values above this are capped (time is compressed).
    #[serde(with = "crate::scenario::duration")]
    pub max_retry_after: Duration,
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        DeliveryPolicy {
            concurrency: 8,
            timeout: Duration::from_secs(2),
            retry: [50, 100, 200, 400, 800]
                .into_iter()
                .map(Duration::from_millis)
                .collect(),
            honor_retry_after: true,
            max_retry_after: Duration::from_secs(2),
        }
    }
}

/// Real producers' retry policies, compressed in time so a scenario runs in
/// seconds: schedules by 6000× (a real minute is 10 ms), timeouts by 6×.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    /// Zendesk: 12 s timeout; three retries; 429/503 retried only with a
    /// `Retry-After` under 60 s.
    Zendesk,
    /// HubSpot: up to 10 retries spread over 24 h.
    Hubspot,
    /// Svix: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
    Svix,
    /// Stripe: exponential backoff up to 3 days.
    Stripe,
    /// GitHub: no retries at all.
    Github,
}

impl Preset {
    /// The compressed policy.
    pub fn policy(self) -> DeliveryPolicy {
        let minutes = |m: &[f64]| -> Vec<Duration> {
            m.iter()
                .map(|m| Duration::from_secs_f64(m * 60.0 / 6000.0))
                .collect()
        };
        let timeout = |secs: f64| Duration::from_secs_f64(secs / 6.0);
        let (timeout, retry, max_retry_after) = match self {
            Preset::Zendesk => (
                timeout(12.0),
                minutes(&[1.0, 2.0, 4.0]),
                Duration::from_millis(600),
            ),
            Preset::Hubspot => (
                timeout(5.0),
                minutes(&[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0]),
                Duration::from_secs(2),
            ),
            Preset::Svix => (
                timeout(15.0),
                minutes(&[0.0, 5.0 / 60.0, 5.0, 30.0, 120.0, 300.0, 600.0, 600.0]),
                Duration::from_secs(2),
            ),
            Preset::Stripe => (
                timeout(20.0),
                minutes(&[60.0, 120.0, 240.0, 480.0, 960.0]),
                Duration::from_secs(2),
            ),
            Preset::Github => (timeout(10.0), Vec::new(), Duration::ZERO),
        };
        DeliveryPolicy {
            concurrency: 8,
            timeout,
            retry,
            honor_retry_after: self != Preset::Github,
            max_retry_after,
        }
    }
}

/// Where and how to deliver.
#[derive(Debug, Clone)]
pub struct Target {
    /// Full webhook URL, e.g. `http://127.0.0.1:4000/webhooks/helpdesk`.
    pub url: String,
    /// Signature scheme.
    pub scheme: Scheme,
    /// The SUT's signing secret.
    pub secret: String,
    /// A secret that is not the SUT's (for wrong-secret forgeries).
    pub wrong_secret: String,
}

/// One planned delivery of an event (a copy of it, for duplicates).
#[derive(Debug, Clone)]
pub struct PlannedDelivery {
    /// Index of the event in the workload, `None` for injected forgeries.
    pub event_seq: Option<usize>,
    /// Event id.
    pub event_id: String,
    /// Short event type.
    pub event_type: String,
    /// Helpdesk ticket id.
    pub ticket_id: Option<String>,
    /// The bytes sent.
    pub body: Arc<Vec<u8>>,
    /// The bytes signed, when they differ from `body` (tampering).
    pub signed_body: Option<Arc<Vec<u8>>>,
    /// How it is signed.
    pub signature: SignatureMode,
    /// Why it exists (`original`, `duplicate`, `concurrent-duplicate`, `forgery`, `replay`).
    pub origin: String,
    /// How many 2xx answers the producer drops before it accepts one (lost acks).
    pub lost_acks: u32,
    /// Signed with the retiring secret as well as the current one (rotation).
    pub rotated: bool,
    /// W3C trace context sent with every attempt.
    pub traceparent: String,
}

/// A group of deliveries started at the same moment (concurrent duplicates
/// share a unit), not before `not_before` after the run origin.
#[derive(Debug, Clone)]
pub struct Unit {
    /// Earliest start, relative to the origin.
    pub not_before: Duration,
    /// Deliveries started together.
    pub deliveries: Vec<PlannedDelivery>,
}

impl Unit {
    /// One delivery, due at once.
    pub fn now(delivery: PlannedDelivery) -> Unit {
        Unit {
            not_before: Duration::ZERO,
            deliveries: vec![delivery],
        }
    }
}

/// Live counters for progress display.
#[derive(Debug, Default)]
pub struct Progress {
    /// Deliveries planned.
    pub planned: AtomicUsize,
    /// Deliveries finished (acked, rejected or dead-lettered).
    pub finished: AtomicUsize,
    /// Attempts made.
    pub attempts: AtomicUsize,
}

/// The delivery engine.
#[derive(Debug, Clone)]
pub struct Producer {
    connections: Arc<Connections>,
    signers: Arc<Signers>,
    target: Target,
    policy: DeliveryPolicy,
}

impl Producer {
    /// A producer for `target` with `policy`.
    pub fn new(target: Target, policy: DeliveryPolicy) -> Producer {
        Producer {
            connections: Arc::new(Connections::new(&target.url, &FIXED_HEADERS)),
            signers: Arc::new(Signers::new(&target)),
            target,
            policy,
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> &DeliveryPolicy {
        &self.policy
    }

    /// Delivers every unit, honouring `not_before` and the concurrency limit,
    /// and returns when every delivery is acked, rejected or dead-lettered.
    /// Attempts are appended to `log` as they finish, so a caller can observe
    /// a run in progress.
    ///
    /// Units start in order: a unit starts once it is due and as many
    /// deliveries as it has copies (at most the concurrency) have finished
    /// to make room, so concurrent copies start together. A delivery holds
    /// its place through its retries.
    ///
    /// The deliveries run as futures of one task, not as a task each: they
    /// spend their time waiting on the network, and a task per delivery cost
    /// more than the delivery. That task runs on a single-threaded tokio
    /// runtime on an OS thread of its own (as oha runs its connections), and
    /// each attempt drives its connection itself (see the module
    /// documentation): nothing
    /// of a delivery crosses threads, which measured 0.78× oha's request rate
    /// where hyper's connection tasks on the caller's multi-threaded runtime
    /// gave 0.68× (`BENCHMARKS.md`). The returned future only waits for that
    /// thread, on whatever runtime polls it. Dropping it stops the
    /// deliveries in flight, closing their connections, and returns once
    /// the thread has ended, so nothing is sent or logged after the drop; a
    /// panic in the deliveries is resumed here. Keep-alive connections are
    /// not carried from one call to the next.
    pub async fn deliver(
        &self,
        units: Vec<Unit>,
        origin: Instant,
        log: Arc<Mutex<DeliveryLog>>,
        progress: Arc<Progress>,
    ) {
        let mut producer = self.clone();
        // The connections of a call belong to the runtime of its thread.
        producer.connections = Arc::new(self.connections.without_idle());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (finished, done) = tokio::sync::oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("hookproof-producer".to_string())
            .spawn(move || {
                let run = std::panic::AssertUnwindSafe(|| {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("a tokio runtime for the producer");
                    runtime.block_on(async {
                        tokio::select! {
                            () = producer.dispatch(units, origin, log, progress) => {}
                            _ = stopped => {}
                        }
                    });
                });
                let _ = finished.send(std::panic::catch_unwind(run));
            })
            .expect("a thread for the producer");
        let _running = Running {
            stop: Some(stop),
            thread: Some(thread),
        };
        if let Ok(Err(panic)) = done.await {
            std::panic::resume_unwind(panic);
        }
    }

    /// [`Producer::deliver`]'s work, on the producer's thread.
    async fn dispatch(
        &self,
        units: Vec<Unit>,
        origin: Instant,
        log: Arc<Mutex<DeliveryLog>>,
        progress: Arc<Progress>,
    ) {
        let limit = self.policy.concurrency.max(1);
        {
            // Every delivery gets a record and at least one attempt, every
            // valid one a body: grow the log once rather than by doubling
            // (and rehashing) under load.
            let (planned, valid) =
                units
                    .iter()
                    .flat_map(|u| &u.deliveries)
                    .fold((0, 0), |(all, valid), d| {
                        (
                            all + 1,
                            valid + usize::from(d.signature == SignatureMode::Valid),
                        )
                    });
            let mut log = log.lock().unwrap();
            log.deliveries.reserve(planned);
            log.attempts.reserve(planned);
            log.bodies.reserve(valid);
        }
        // Each finished delivery yields the places it held (0 or 1).
        let mut in_flight = FuturesUnordered::new();
        let mut held = 0;
        let mut units = units.into_iter().peekable();
        loop {
            let Some(unit) = units.peek() else {
                match in_flight.next().await {
                    Some(released) => {
                        held -= released;
                        continue;
                    }
                    None => break,
                }
            };
            let places = unit.deliveries.len().clamp(1, limit);
            let at = origin + unit.not_before;
            if held + places > limit {
                if let Some(released) = in_flight.next().await {
                    held -= released;
                }
                continue;
            }
            if Instant::now() < at {
                tokio::select! {
                    _ = tokio::time::sleep_until(at.into()) => {}
                    Some(released) = in_flight.next(), if !in_flight.is_empty() => {
                        held -= released;
                    }
                }
                continue;
            }
            let unit = units.next().expect("peeked");
            for (copy, planned) in unit.deliveries.into_iter().enumerate() {
                let holds = usize::from(copy < places);
                held += holds;
                let index = self.open(&planned, &log);
                progress.planned.fetch_add(1, Ordering::Relaxed);
                let (log, progress) = (&log, &progress);
                in_flight.push(async move {
                    let (status, attempts) = self
                        .deliver_one(index, &planned, origin, log, progress)
                        .await;
                    let mut log = log.lock().unwrap();
                    log.deliveries[index].status = status;
                    log.deliveries[index].attempts = attempts;
                    progress.finished.fetch_add(1, Ordering::Relaxed);
                    holds
                });
            }
        }
    }

    /// Records `planned` as an open delivery; returns its index.
    fn open(&self, planned: &PlannedDelivery, log: &Mutex<DeliveryLog>) -> usize {
        let mut log = log.lock().unwrap();
        let index = log.deliveries.len();
        log.deliveries.push(DeliveryRecord {
            index,
            event_id: planned.event_id.clone(),
            event_seq: planned.event_seq,
            event_type: planned.event_type.clone(),
            signature: planned.signature,
            origin: planned.origin.clone(),
            status: DeliveryStatus::Open,
            attempts: 0,
            traceparent: planned.traceparent.clone(),
        });
        if planned.signature == SignatureMode::Valid {
            log.bodies
                .entry(planned.event_id.clone())
                .or_insert_with(|| planned.body.clone());
        }
        index
    }

    async fn deliver_one(
        &self,
        index: usize,
        planned: &PlannedDelivery,
        origin: Instant,
        log: &Mutex<DeliveryLog>,
        progress: &Progress,
    ) -> (DeliveryStatus, u32) {
        let mut lost_acks_left = planned.lost_acks;
        let max_attempts = self.policy.retry.len() as u32 + 1;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let started = Instant::now();
            let (outcome, retry_after, resent) = self.attempt(planned).await;
            let latency = started.elapsed();
            let outcome = match outcome {
                AttemptOutcome::Acked { status } if lost_acks_left > 0 => {
                    lost_acks_left -= 1;
                    AttemptOutcome::AckLost { status }
                }
                other => other,
            };
            progress.attempts.fetch_add(1, Ordering::Relaxed);
            {
                let mut log = log.lock().unwrap();
                if resent {
                    let position = log.attempts.len();
                    log.resent.push(position);
                }
                log.attempts.push(Attempt {
                    delivery: index,
                    event_id: planned.event_id.clone(),
                    event_type: planned.event_type.clone(),
                    ticket_id: planned.ticket_id.clone(),
                    attempt,
                    started: started.saturating_duration_since(origin),
                    latency,
                    outcome: outcome.clone(),
                });
            }
            match outcome {
                AttemptOutcome::Acked { .. } => return (DeliveryStatus::Acked, attempt),
                AttemptOutcome::Rejected { .. } => return (DeliveryStatus::Rejected, attempt),
                _ if attempt >= max_attempts => return (DeliveryStatus::DeadLettered, attempt),
                _ => {
                    let mut wait = self.policy.retry[attempt as usize - 1];
                    if self.policy.honor_retry_after
                        && let Some(after) = retry_after
                    {
                        wait = wait.max(after.min(self.policy.max_retry_after));
                    }
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// Makes one HTTP attempt; returns the outcome, any `Retry-After` and
    /// whether its request was sent again on a fresh connection (see
    /// [`connections`]).
    async fn attempt(&self, planned: &PlannedDelivery) -> (AttemptOutcome, Option<Duration>, bool) {
        let mut resent = false;
        let send = async {
            let request = self.build_request(planned)?;
            self.connections.send(&request, &mut resent).await
        };
        let result = tokio::time::timeout(self.policy.timeout, send).await;
        let (outcome, retry_after) = match result {
            Err(_) => (AttemptOutcome::Timeout, None),
            Ok(Err(e)) => (AttemptOutcome::ConnectionError { error: e.short() }, None),
            Ok(Ok(answer)) => (classify(answer.status), answer.retry_after),
        };
        (outcome, retry_after, resent)
    }

    /// The signed request of one attempt (signed anew, with the time of the attempt).
    fn build_request(&self, planned: &PlannedDelivery) -> Result<Request, SendError> {
        let body: &[u8] = &planned.body;
        let mut request = self.connections.request(256 + body.len())?;
        request.header("traceparent", planned.traceparent.as_bytes())?;
        let now = Utc::now();
        let signed: &[u8] = planned.signed_body.as_deref().unwrap_or(&planned.body);
        let signers = &self.signers;
        let signer_and_time = match (planned.signature, planned.rotated) {
            (SignatureMode::Missing, _) => None,
            (SignatureMode::WrongSecret, false) => Some((&signers.wrong_secret, now)),
            (SignatureMode::WrongSecret, true) => Some((&signers.rotated_wrong, now)),
            (SignatureMode::Stale, rotated) => {
                Some((signers.current(rotated), now - chrono::Duration::hours(1)))
            }
            (_, rotated) => Some((signers.current(rotated), now)),
        };
        // A secret the scheme cannot use signs nothing: the delivery goes
        // out without signature headers (as before signers were kept).
        if let Some((Some(signer), timestamp)) = signer_and_time {
            let message = Message {
                id: &planned.event_id,
                timestamp,
                method: "POST",
                url: &self.target.url,
                body: signed,
            };
            let mut result = Ok(());
            signer.sign(&message, |name, value| {
                if result.is_err() {
                    return;
                }
                result = if planned.signature == SignatureMode::Forged {
                    request.header(name, forge(value).as_bytes())
                } else {
                    request.header(name, value.as_bytes())
                };
            });
            result?;
        }
        Ok(request.finish(body))
    }
}

/// The thread of a [`Producer::deliver`] call: dropped (the call finished
/// or was dropped), it stops the deliveries and waits for the thread to end.
struct Running {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            // A panic was caught on the thread and resumed by `deliver`.
            let _ = thread.join();
        }
    }
}

/// The producer's signers, keyed once: with the SUT's secret or the wrong
/// one, each alone or after the retiring secret (rotation, for which the
/// wrong secret stands in as the retiring one). `None` where the scheme
/// cannot sign so.
#[derive(Debug)]
struct Signers {
    secret: Option<Signer>,
    wrong_secret: Option<Signer>,
    rotated: Option<Signer>,
    rotated_wrong: Option<Signer>,
}

impl Signers {
    fn new(target: &Target) -> Signers {
        let signer = |secrets: &[&str]| Signer::new(target.scheme, secrets).ok();
        let (secret, wrong) = (target.secret.as_str(), target.wrong_secret.as_str());
        Signers {
            secret: signer(&[secret]),
            wrong_secret: signer(&[wrong]),
            rotated: signer(&[wrong, secret]),
            rotated_wrong: signer(&[wrong, wrong]),
        }
    }

    /// The signer with the SUT's secret, after the retiring one if `rotated`.
    fn current(&self, rotated: bool) -> &Option<Signer> {
        if rotated { &self.rotated } else { &self.secret }
    }
}

/// Headers every delivery carries, as Zendesk's do: a JSON body, and a
/// user agent that says who sends.
const FIXED_HEADERS: [(&str, &str); 2] = [
    ("content-type", "application/json"),
    ("user-agent", "Zendesk Webhook"),
];

/// Classifies an HTTP status as a real producer does.
pub fn classify(status: u16) -> AttemptOutcome {
    match status {
        200..=299 => AttemptOutcome::Acked { status },
        408 | 429 | 500..=599 => AttemptOutcome::Retryable { status },
        _ => AttemptOutcome::Rejected { status },
    }
}

/// Replaces the signature-looking part of a header value with made-up
/// characters of the same alphabet and length, keeping any timestamp.
fn forge(value: &str) -> String {
    // Timestamps (digits, dashes, colons, `T`, `Z`) are kept; everything that
    // looks like a digest is rotated.
    if value
        .chars()
        .all(|c| c.is_ascii_digit() || "-:TZ.".contains(c))
    {
        return value.to_string();
    }
    value
        .chars()
        .map(|c| match c {
            'a'..='y' | 'A'..='Y' | '0'..='8' => (c as u8 + 1) as char,
            'z' => 'a',
            'Z' => 'A',
            '9' => '0',
            other => other,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing;

    #[test]
    fn classification_follows_producer_semantics() {
        assert_eq!(classify(200), AttemptOutcome::Acked { status: 200 });
        assert_eq!(classify(204), AttemptOutcome::Acked { status: 204 });
        assert_eq!(classify(429), AttemptOutcome::Retryable { status: 429 });
        assert_eq!(classify(408), AttemptOutcome::Retryable { status: 408 });
        assert_eq!(classify(503), AttemptOutcome::Retryable { status: 503 });
        assert_eq!(classify(401), AttemptOutcome::Rejected { status: 401 });
        assert_eq!(classify(400), AttemptOutcome::Rejected { status: 400 });
    }

    fn planned(id: &str) -> PlannedDelivery {
        PlannedDelivery {
            event_seq: Some(0),
            event_id: id.into(),
            event_type: "ticket.created".into(),
            ticket_id: None,
            body: Arc::new(br#"{}"#.to_vec()),
            signed_body: None,
            signature: SignatureMode::Valid,
            origin: "original".into(),
            lost_acks: 0,
            rotated: false,
            traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into(),
        }
    }

    /// A receiver that holds every request for `hold` and counts how many
    /// it held at once at most; returns its URL and that maximum.
    async fn holding_receiver(hold: Duration) -> (String, Arc<AtomicUsize>) {
        let now = Arc::new(AtomicUsize::new(0));
        let max = Arc::new(AtomicUsize::new(0));
        let seen = max.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move || {
                let (now, max) = (now.clone(), max.clone());
                async move {
                    let held = now.fetch_add(1, Ordering::SeqCst) + 1;
                    max.fetch_max(held, Ordering::SeqCst);
                    tokio::time::sleep(hold).await;
                    now.fetch_sub(1, Ordering::SeqCst);
                    "ok"
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (url, seen)
    }

    fn producer_for(url: &str, concurrency: usize) -> Producer {
        Producer::new(
            Target {
                url: url.to_string(),
                scheme: Scheme::Zendesk,
                secret: "s".into(),
                wrong_secret: "w".into(),
            },
            DeliveryPolicy {
                concurrency,
                ..DeliveryPolicy::default()
            },
        )
    }

    /// Delivers `units` to `url` at `concurrency` from `origin`; the log.
    async fn delivered(
        url: &str,
        concurrency: usize,
        units: Vec<Unit>,
        origin: Instant,
    ) -> DeliveryLog {
        let log = Arc::new(Mutex::new(DeliveryLog::default()));
        producer_for(url, concurrency)
            .deliver(units, origin, log.clone(), Arc::default())
            .await;
        std::mem::take(&mut *log.lock().unwrap())
    }

    #[tokio::test]
    async fn deliveries_in_flight_never_exceed_the_concurrency() {
        let (url, max) = holding_receiver(Duration::from_millis(150)).await;
        let units = (0..7)
            .map(|i| Unit::now(planned(&format!("e{i}"))))
            .collect();
        let log = delivered(&url, 3, units, Instant::now()).await;
        assert_eq!(log.deliveries.len(), 7);
        assert!(
            log.deliveries
                .iter()
                .all(|d| d.status == DeliveryStatus::Acked && d.attempts == 1),
            "{:?}",
            log.deliveries
        );
        // All seven were due at once: three at a time, no more, no fewer.
        assert_eq!(max.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn dropping_a_delivery_run_stops_it() {
        let (url, _) = holding_receiver(Duration::from_millis(100)).await;
        let units = (0..5)
            .map(|i| Unit::now(planned(&format!("e{i}"))))
            .collect();
        let log = Arc::new(Mutex::new(DeliveryLog::default()));
        let producer = producer_for(&url, 1);
        let run = producer.deliver(units, Instant::now(), log.clone(), Arc::default());
        // Drop the run halfway through its second delivery (100 ms each).
        assert!(
            tokio::time::timeout(Duration::from_millis(150), run)
                .await
                .is_err()
        );
        let counts = |log: &DeliveryLog| (log.deliveries.len(), log.attempts.len());
        let at_drop = counts(&log.lock().unwrap());
        assert!(at_drop.0 < 5, "{at_drop:?}");
        // Left running, it would open and answer more in this time.
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(counts(&log.lock().unwrap()), at_drop);
    }

    #[tokio::test]
    async fn units_start_in_order_when_due_and_copies_start_together() {
        let (url, max) = holding_receiver(Duration::from_millis(150)).await;
        let later = Duration::from_millis(100);
        let units = vec![
            Unit {
                not_before: later,
                deliveries: vec![planned("a"), planned("a")],
            },
            Unit {
                not_before: Duration::ZERO,
                deliveries: vec![planned("b")],
            },
        ];
        let log = Arc::new(Mutex::new(DeliveryLog::default()));
        let origin = Instant::now();
        producer_for(&url, 4)
            .deliver(units, origin, log.clone(), Arc::default())
            .await;
        let log = log.lock().unwrap();
        let ids: Vec<_> = log.deliveries.iter().map(|d| d.event_id.as_str()).collect();
        // The second unit, though due earlier, waits for the first: units
        // start in order.
        assert_eq!(ids, ["a", "a", "b"]);
        assert!(
            log.attempts.iter().all(|a| a.started >= later),
            "{:?}",
            log.attempts
        );
        // The two copies of `a` were held by the receiver at the same time.
        assert!(max.load(Ordering::SeqCst) >= 2);
    }

    #[tokio::test]
    async fn a_receiver_closing_each_connection_after_answering_costs_no_failed_attempt() {
        // A bare HTTP/1.1 receiver that answers 200 without `Connection:
        // close` and then hangs up, so the producer's kept-alive connection
        // is dead when the next delivery wants it.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            loop {
                let (mut stream, _) = listener.accept().await.unwrap();
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                    .await;
                drop(stream);
            }
        });
        let units = (0..40)
            .map(|i| Unit {
                not_before: Duration::from_millis(20 * (i % 2)),
                deliveries: vec![planned(&format!("e{i}"))],
            })
            .collect();
        let log = delivered(&url, 1, units, Instant::now()).await;
        assert_eq!(log.attempts.len(), 40, "{:?}", log.attempts);
        assert!(
            log.attempts
                .iter()
                .all(|a| a.outcome == AttemptOutcome::Acked { status: 200 }),
            "{:?}",
            log.attempts
        );
    }

    #[tokio::test]
    async fn a_request_reset_on_a_reused_connection_is_resent_and_recorded() {
        // Each connection: the first request is answered 200, the second is
        // read and then the connection is reset, before any answer byte.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let requests = Arc::new(AtomicUsize::new(0));
        let seen = requests.clone();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            loop {
                let (mut stream, _) = listener.accept().await.unwrap();
                let seen = seen.clone();
                tokio::spawn(async move {
                    for answer in [true, false] {
                        let mut request = Vec::new();
                        let mut buf = [0u8; 4096];
                        // The head, then the two-byte body `{}`.
                        while !request.ends_with(b"\r\n\r\n{}") {
                            match stream.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => request.extend_from_slice(&buf[..n]),
                            }
                        }
                        seen.fetch_add(1, Ordering::SeqCst);
                        if answer {
                            let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
                            stream.write_all(ok).await.unwrap();
                        } else {
                            stream.set_zero_linger().unwrap();
                        }
                    }
                });
            }
        });
        let units = (0..3)
            .map(|i| Unit::now(planned(&format!("e{i}"))))
            .collect();
        let log = delivered(&url, 1, units, Instant::now()).await;
        assert!(
            log.attempts
                .iter()
                .all(|a| a.outcome == AttemptOutcome::Acked { status: 200 } && a.attempt == 1),
            "{:?}",
            log.attempts
        );
        // The first went out on a fresh connection; the other two were
        // written on a reused one, reset, and written again.
        assert_eq!(log.resent, [1, 2]);
        assert!(!log.was_resent(0) && log.was_resent(1) && log.was_resent(2));
        assert_eq!(requests.load(Ordering::SeqCst), 5);
    }

    #[tokio::test]
    async fn rotated_deliveries_carry_a_signature_for_each_secret() {
        type Seen = Arc<std::sync::Mutex<Vec<(http::HeaderMap, Vec<u8>)>>>;
        let seen: Seen = Arc::default();
        let store = seen.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: http::HeaderMap, body: bytes::Bytes| {
                let store = store.clone();
                async move {
                    store.lock().unwrap().push((headers, body.to_vec()));
                    "ok"
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let scheme = Scheme::StandardWebhooks;
        let (old, new) = (
            signing::generate_secret(scheme, [1; 24]),
            signing::generate_secret(scheme, [2; 24]),
        );
        let producer = Producer::new(
            Target {
                url: url.clone(),
                scheme,
                secret: new.clone(),
                wrong_secret: old.clone(),
            },
            DeliveryPolicy::default(),
        );
        let delivery = PlannedDelivery {
            event_seq: Some(0),
            event_id: "msg_1".into(),
            event_type: "ticket.created".into(),
            ticket_id: None,
            body: Arc::new(br#"{"id":"msg_1"}"#.to_vec()),
            signed_body: None,
            signature: SignatureMode::Valid,
            origin: "original".into(),
            lost_acks: 0,
            rotated: true,
            traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into(),
        };
        let log = Arc::new(Mutex::new(DeliveryLog::default()));
        let units = vec![Unit::now(delivery)];
        producer
            .deliver(units, Instant::now(), log.clone(), Arc::default())
            .await;
        assert_eq!(
            log.lock().unwrap().deliveries[0].status,
            DeliveryStatus::Acked
        );
        let (headers, body) = seen.lock().unwrap()[0].clone();
        let signatures = headers["webhook-signature"].to_str().unwrap().to_string();
        assert_eq!(signatures.split(' ').count(), 2, "{signatures}");
        for secret in [&old, &new] {
            signing::verify(
                scheme,
                secret,
                &headers,
                "POST",
                &url,
                &body,
                Utc::now(),
                None,
            )
            .unwrap_or_else(|e| panic!("{secret}: {e}"));
        }
    }

    #[test]
    fn presets_compress_real_schedules() {
        let svix = Preset::Svix.policy();
        assert_eq!(svix.retry.len(), 8);
        assert_eq!(svix.retry[2], Duration::from_millis(50));
        assert_eq!(Preset::Zendesk.policy().timeout, Duration::from_secs(2));
        assert!(Preset::Github.policy().retry.is_empty());
    }

    #[test]
    fn forging_changes_digests_but_keeps_timestamps() {
        assert_eq!(forge("2025-01-08T10:12:07Z"), "2025-01-08T10:12:07Z");
        assert_ne!(forge("abcXYZ09+/="), "abcXYZ09+/=");
        assert_eq!(forge("abcXYZ09+/=").len(), "abcXYZ09+/=".len());
    }
}
