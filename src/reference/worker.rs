//! The worker drains the inbox: it takes due pending rows in arrival order,
//! applies the canonical mapping, and on failure schedules a retry with
//! backoff (or dead-letters the row). Rows are independent, so one failing
//! event never blocks the others; the mapper serialises events per ticket.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

use crate::reference::backoff;
use crate::reference::event::Event;
use crate::reference::flaw::Flaw;
use crate::reference::inbox::{Inbox, Row, now_ms};
use crate::reference::mapping::{ApplyError, Mapper, Outcome};

/// Attempts before a transiently failing event is dead-lettered.
pub const MAX_ATTEMPTS: u32 = 15;
/// Attempts before a permanently failing event (4xx) is dead-lettered.
pub const MAX_PERMANENT_ATTEMPTS: u32 = 3;
/// Events applied concurrently (events of one ticket still go one at a time).
pub const CONCURRENCY: usize = 4;
/// Longest idle sleep between inbox polls.
const IDLE_POLL: Duration = Duration::from_secs(1);
/// Attempts made by the `ack-before-commit` flaw before dropping an event.
const IN_MEMORY_ATTEMPTS: u32 = 3;

/// The inbox worker.
pub struct Worker {
    inbox: Inbox,
    mapper: Arc<Mapper>,
    flaw: Option<Flaw>,
    wake: Arc<Notify>,
    finished: watch::Sender<u64>,
    claimed: Mutex<HashSet<i64>>,
    gate: Mutex<Gate>,
    /// Events being processed in memory (the `ack-before-commit` flaw).
    in_memory: std::sync::atomic::AtomicUsize,
}

/// The global pause: while the CRM is overloaded or down, no event is
/// dispatched until `until_ms`; the pause grows with consecutive failures
/// (exponential backoff with full jitter, never shorter than `Retry-After`)
/// and resets on the first success.
#[derive(Debug, Default)]
struct Gate {
    until_ms: i64,
    failures: u32,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("inbox", &self.inbox)
            .field("flaw", &self.flaw)
            .finish_non_exhaustive()
    }
}

/// What happened to a row after one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Applied or ignored; the row is done.
    Done,
    /// Failed; retried at this time (ms since epoch).
    Retry(i64),
    /// Failed for good; moved to the dead-letter table.
    Dead,
}

impl Worker {
    /// A worker over `inbox` applying events with `mapper`.
    pub fn new(inbox: Inbox, mapper: Arc<Mapper>, flaw: Option<Flaw>) -> Self {
        Worker {
            inbox,
            mapper,
            flaw,
            wake: Arc::new(Notify::new()),
            finished: watch::channel(0).0,
            claimed: Mutex::new(HashSet::new()),
            gate: Mutex::new(Gate::default()),
            in_memory: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// Wake the worker (call after inserting a row).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// A receiver bumped each time a row is finished (done, retried or dead).
    pub fn finished(&self) -> watch::Receiver<u64> {
        self.finished.subscribe()
    }

    fn claimed(&self) -> HashSet<i64> {
        self.claimed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Run until dropped: dispatch due rows to up to [`CONCURRENCY`] tasks.
    /// Dropping the future aborts the in-flight attempts; their rows stay
    /// pending and are picked up again (also after a restart).
    pub async fn run(self: Arc<Self>) {
        let mut tasks = JoinSet::new();
        loop {
            let notified = self.wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            while tasks.try_join_next().is_some() {}

            let paused_for =
                self.gate.lock().unwrap_or_else(|p| p.into_inner()).until_ms - now_ms();
            if paused_for > 0 {
                tokio::time::sleep(Duration::from_millis(paused_for as u64)).await;
                continue;
            }
            let free = CONCURRENCY.saturating_sub(tasks.len());
            if free > 0 {
                match self.inbox.due(now_ms(), self.claimed(), free).await {
                    Ok(rows) if !rows.is_empty() => {
                        for row in rows {
                            self.claimed
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .insert(row.seq);
                            let me = self.clone();
                            tasks.spawn(async move {
                                let seq = row.seq;
                                me.attempt(row).await;
                                me.claimed
                                    .lock()
                                    .unwrap_or_else(|p| p.into_inner())
                                    .remove(&seq);
                                me.wake.notify_one();
                            });
                        }
                        continue;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        println!("hookproof-ref: inbox read failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                }
            }
            let sleep_for = if free > 0 {
                match self.inbox.next_due_at(self.claimed()).await {
                    Ok(Some(at)) => {
                        Duration::from_millis((at - now_ms()).max(0) as u64).min(IDLE_POLL)
                    }
                    _ => IDLE_POLL,
                }
            } else {
                IDLE_POLL
            };
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep(sleep_for) => {}
            }
        }
    }

    /// Make one attempt at a row and record the result.
    pub async fn attempt(&self, row: Row) -> Disposition {
        let attempts = row.attempts + 1;
        let result = match Event::parse(&row.payload) {
            Ok(event) => self.mapper.apply(&event, row.traceparent.as_deref()).await,
            Err(e) => {
                // Cannot happen: bodies are parsed before they are stored.
                let msg = format!("stored payload unreadable: {e}");
                self.finish_dead(&row, attempts, msg).await;
                return Disposition::Dead;
            }
        };
        let disposition = match result {
            Ok(outcome) => {
                let (verb, what) = match outcome {
                    Outcome::Applied(s) => ("applied", s),
                    Outcome::Ignored(s) => ("ignored", s),
                };
                println!(
                    "hookproof-ref: event {} {} {verb} (attempt {attempts}): {what}",
                    row.event_id, row.event_type
                );
                self.record(self.inbox.mark_done(row.seq, attempts).await);
                self.gate.lock().unwrap_or_else(|p| p.into_inner()).failures = 0;
                Disposition::Done
            }
            Err(e) => self.failed(&row, attempts, e).await,
        };
        self.finished.send_modify(|n| *n += 1);
        disposition
    }

    async fn failed(&self, row: &Row, attempts: u32, e: ApplyError) -> Disposition {
        if self.flaw == Some(Flaw::SwallowErrors) && e.is_crm_error_response() {
            println!(
                "hookproof-ref: event {} {} failed, marked done anyway: {e}",
                row.event_id, row.event_type
            );
            self.record(self.inbox.mark_done(row.seq, attempts).await);
            return Disposition::Done;
        }
        let limit = if e.is_permanent() {
            MAX_PERMANENT_ATTEMPTS
        } else {
            MAX_ATTEMPTS
        };
        if attempts >= limit {
            self.finish_dead(row, attempts, e.to_string()).await;
            return Disposition::Dead;
        }
        let delay = {
            let mut rng = rand::rng();
            if self.flaw == Some(Flaw::NoBackoff) {
                backoff::no_backoff_delay(&mut rng)
            } else {
                if e.is_crm_overload() {
                    let mut gate = self.gate.lock().unwrap_or_else(|p| p.into_inner());
                    let pause = backoff::delay(gate.failures, e.retry_after, &mut rng);
                    gate.failures += 1;
                    gate.until_ms = gate
                        .until_ms
                        .max(now_ms() + pause.as_micros().div_ceil(1000) as i64);
                }
                backoff::delay(attempts - 1, e.retry_after, &mut rng)
            }
        };
        let at = now_ms() + delay.as_micros().div_ceil(1000) as i64;
        println!(
            "hookproof-ref: event {} {} failed (attempt {attempts}), retry in {} ms: {e}",
            row.event_id,
            row.event_type,
            delay.as_millis()
        );
        self.record(
            self.inbox
                .schedule_retry(row.seq, attempts, at, e.to_string())
                .await,
        );
        Disposition::Retry(at)
    }

    async fn finish_dead(&self, row: &Row, attempts: u32, error: String) {
        println!(
            "hookproof-ref: event {} {} dead-lettered after {attempts} attempts: {error}",
            row.event_id, row.event_type
        );
        self.record(self.inbox.dead_letter(row.seq, attempts, error).await);
    }

    fn record(&self, r: rusqlite::Result<()>) {
        if let Err(e) = r {
            println!("hookproof-ref: inbox write failed: {e}");
        }
    }

    /// Work not finished yet: pending inbox rows plus events processed in
    /// memory. Zero means the receiver is idle (everything it acked is
    /// applied or dead-lettered), which the `/hookproof/idle` endpoint reports.
    pub async fn backlog(&self) -> rusqlite::Result<u64> {
        let in_memory = self.in_memory.load(std::sync::atomic::Ordering::SeqCst) as u64;
        Ok(self.inbox.pending_count().await? + in_memory)
    }

    /// The `ack-before-commit` flaw: a few quick in-memory attempts, then
    /// drop, in a background task. The event counts in [`Worker::backlog`]
    /// from this call on.
    pub fn spawn_in_memory(self: Arc<Self>, event: Event, traceparent: Option<String>) {
        use std::sync::atomic::Ordering;
        self.in_memory.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(async move {
            self.apply_in_memory_attempts(event, traceparent).await;
            self.in_memory.fetch_sub(1, Ordering::SeqCst);
        });
    }

    async fn apply_in_memory_attempts(&self, event: Event, traceparent: Option<String>) {
        for attempt in 1..=IN_MEMORY_ATTEMPTS {
            match self.mapper.apply(&event, traceparent.as_deref()).await {
                Ok(outcome) => {
                    let what = match outcome {
                        Outcome::Applied(s) | Outcome::Ignored(s) => s,
                    };
                    println!(
                        "hookproof-ref: event {} {} processed in memory (attempt {attempt}): {what}",
                        event.id, event.raw_type
                    );
                    return;
                }
                Err(e) if attempt == IN_MEMORY_ATTEMPTS => {
                    println!(
                        "hookproof-ref: event {} {} dropped after {attempt} attempts: {e}",
                        event.id, event.raw_type
                    );
                }
                Err(_) => {
                    let ms = rand::random_range(0..=100);
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                }
            }
        }
    }
}
