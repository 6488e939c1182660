//! The recorded history of a run: every delivery attempt the mock helpdesk
//! made, what became of each delivery, and what happened to the SUT.
//!
//! Checks read only this history (plus the CRM's recording and final state),
//! never live systems, so they can be unit-tested on hand-built histories.

use crate::row_table::RowTable;
use foldhash::{HashMap, HashMapExt};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How a delivery's signature is presented (forgery faults change it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignatureMode {
    /// Correctly signed with the current secret.
    Valid,
    /// Signature headers present but the signature is made up.
    Forged,
    /// Signed, then the body was changed after signing.
    Tampered,
    /// No signature headers at all.
    Missing,
    /// Correctly signed, but with a timestamp far outside the tolerance.
    Stale,
    /// Signed with a secret that is not the SUT's.
    WrongSecret,
}

impl SignatureMode {
    /// Whether a correct receiver must reject this delivery.
    pub fn is_forgery(self) -> bool {
        self != SignatureMode::Valid
    }
}

/// The outcome of one HTTP attempt, as a real producer reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum AttemptOutcome {
    /// 2xx: the SUT took ownership of the event.
    Acked {
        /// HTTP status.
        status: u16,
    },
    /// The SUT answered 2xx but the producer dropped the answer (lost-ack
    /// fault) and will retry.
    AckLost {
        /// HTTP status the SUT sent.
        status: u16,
    },
    /// 408, 429 or 5xx: retry with backoff.
    Retryable {
        /// HTTP status.
        status: u16,
    },
    /// Another 4xx: permanent rejection.
    Rejected {
        /// HTTP status.
        status: u16,
    },
    /// No answer within the per-attempt timeout.
    Timeout,
    /// Connection refused or reset.
    ConnectionError {
        /// The error, short.
        error: String,
    },
}

impl AttemptOutcome {
    /// Whether the SUT answered 2xx (whether or not the producer saw it).
    pub fn sut_acked(&self) -> bool {
        matches!(
            self,
            AttemptOutcome::Acked { .. } | AttemptOutcome::AckLost { .. }
        )
    }

    /// Short label for tables and timelines.
    pub fn label(&self) -> String {
        match self {
            AttemptOutcome::Acked { status } => format!("acked {status}"),
            AttemptOutcome::AckLost { status } => format!("ack lost ({status})"),
            AttemptOutcome::Retryable { status } => format!("retryable {status}"),
            AttemptOutcome::Rejected { status } => format!("rejected {status}"),
            AttemptOutcome::Timeout => "timeout".to_string(),
            AttemptOutcome::ConnectionError { error } => format!("connection error: {error}"),
        }
    }
}

/// One HTTP attempt to deliver an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// Index of the delivery in the run's plan.
    pub delivery: usize,
    /// Event id (the same for every copy and retry).
    pub event_id: String,
    /// Short event type, e.g. `ticket.created`.
    pub event_type: String,
    /// Helpdesk ticket id, if any.
    pub ticket_id: Option<String>,
    /// 1-based attempt number within the delivery.
    pub attempt: u32,
    /// Start, relative to the run's origin.
    pub started: Duration,
    /// Time to the answer (or to the timeout / error).
    pub latency: Duration,
    /// What happened.
    #[serde(flatten)]
    pub outcome: AttemptOutcome,
}

impl Attempt {
    /// When the answer (or the timeout / error) came, relative to the run's origin.
    pub fn answered_at(&self) -> Duration {
        self.started + self.latency
    }
}

/// Ack latencies of `attempts`: the latency of every attempt the SUT
/// answered 2xx (whether or not the producer saw the answer), in log order.
pub fn ack_latencies(attempts: &[Attempt]) -> Vec<Duration> {
    attempts
        .iter()
        .filter(|a| a.outcome.sut_acked())
        .map(|a| a.latency)
        .collect()
}

/// When each 2xx answer of `attempts` came ([`Attempt::answered_at`]), in
/// log order: the input of a throughput chart.
pub fn ack_times(attempts: &[Attempt]) -> Vec<Duration> {
    attempts
        .iter()
        .filter(|a| a.outcome.sut_acked())
        .map(Attempt::answered_at)
        .collect()
}

/// What finally became of a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeliveryStatus {
    /// A 2xx reached the producer.
    Acked,
    /// The SUT rejected it permanently (non-retryable 4xx).
    Rejected,
    /// Every attempt failed; the event is in the dead-letter queue.
    DeadLettered,
    /// Never finished (the run was cut short).
    Open,
}

/// One delivery: an event sent (with retries) once; duplicates are separate
/// deliveries of the same event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    /// Index in the plan.
    pub index: usize,
    /// Event id.
    pub event_id: String,
    /// Index of the event in the workload, or `None` for injected
    /// forgeries that are not part of the workload.
    pub event_seq: Option<usize>,
    /// Short event type.
    pub event_type: String,
    /// How it was signed.
    pub signature: SignatureMode,
    /// Why this delivery exists (`original`, `duplicate`, `concurrent-duplicate`, `forgery`, `replay`).
    pub origin: String,
    /// Final status.
    pub status: DeliveryStatus,
    /// Number of attempts made.
    pub attempts: u32,
    /// W3C `traceparent` sent with it.
    pub traceparent: String,
}

/// Something that happened to the SUT process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SutEvent {
    /// When, relative to the run's origin.
    pub at: Duration,
    /// What (`started`, `ready`, `killed`, `restarted`, `exited`).
    pub what: String,
    /// Details.
    pub detail: String,
}

/// Everything the producer side recorded during one run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DeliveryLog {
    /// Every attempt, in start order.
    pub attempts: Vec<Attempt>,
    /// Every delivery, in plan order.
    pub deliveries: Vec<DeliveryRecord>,
    /// The payload of every delivered valid event, by event id (what a
    /// replay re-sends). Not serialized: the JSONL log has the attempts.
    #[serde(skip)]
    pub bodies: std::collections::HashMap<String, std::sync::Arc<Vec<u8>>>,
    /// Positions in `attempts`, ascending, of the attempts whose request
    /// went out twice: written on a reused keep-alive connection that broke
    /// before any byte of an answer arrived, then sent again on a fresh
    /// connection (the producer's one resend, see `producer::connections`).
    /// Kept beside the attempts rather than in [`Attempt`] so that the
    /// attempts of older code and logs stay as they are; the JSONL log marks
    /// them with `"resent_on_fresh_connection": true`
    /// ([`DeliveryLog::was_resent`]). Absent from JSON when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resent: Vec<usize>,
}

impl DeliveryLog {
    /// Attempts that belong to delivery `index`, in order (a scan; see
    /// [`LogIndex`] for many queries).
    pub fn attempts_of(&self, index: usize) -> impl Iterator<Item = &Attempt> {
        self.attempts.iter().filter(move |a| a.delivery == index)
    }

    /// The log indexed by event and by delivery: what checks asking about
    /// many events read, built once in linear time.
    pub fn index(&self) -> LogIndex<'_> {
        LogIndex::new(self)
    }

    /// Ack latencies (2xx answers only).
    pub fn ack_latencies(&self) -> Vec<Duration> {
        ack_latencies(&self.attempts)
    }

    /// Whether the attempt at `position` in `attempts` had its request sent
    /// again on a fresh connection (see [`DeliveryLog::resent`]).
    pub fn was_resent(&self, position: usize) -> bool {
        self.resent.binary_search(&position).is_ok()
    }
}

/// Positions of items grouped by row number, in item order (compressed rows).
#[derive(Debug, Default)]
struct Rows {
    /// Row `r` is `items[starts[r]..starts[r + 1]]`.
    starts: Vec<u32>,
    items: Vec<u32>,
}

impl Rows {
    /// Groups the positions of `rows_of` (each item's row, below `rows`).
    fn new(rows_of: &[u32], rows: usize) -> Rows {
        let mut starts = vec![0u32; rows + 1];
        for &r in rows_of {
            starts[r as usize + 1] += 1;
        }
        for r in 0..rows {
            starts[r + 1] += starts[r];
        }
        let mut next = starts.clone();
        let mut items = vec![0u32; rows_of.len()];
        for (i, &r) in rows_of.iter().enumerate() {
            items[next[r as usize] as usize] = i as u32;
            next[r as usize] += 1;
        }
        Rows { starts, items }
    }

    fn get(&self, row: u32) -> &[u32] {
        let r = row as usize;
        &self.items[self.starts[r] as usize..self.starts[r + 1] as usize]
    }
}

/// Event ids → dense row numbers, in order of first appearance.
#[derive(Debug)]
struct EventRows<'a> {
    /// By row: its event id.
    ids: Vec<&'a str>,
    /// Rows by id.
    table: RowTable,
}

impl<'a> EventRows<'a> {
    /// Room for `capacity` ids.
    fn with_capacity(capacity: usize) -> EventRows<'a> {
        EventRows {
            ids: Vec::with_capacity(capacity),
            table: RowTable::with_capacity(capacity),
        }
    }

    /// The row of `id`, given the next number on first sight.
    fn row(&mut self, id: &'a str) -> u32 {
        let next = self.ids.len() as u32;
        let ids = &self.ids;
        let row = self.table.number_or(id, next, |r| ids[r as usize]);
        if row == next {
            self.ids.push(id);
        }
        row
    }

    /// The row of `id`, if some delivery or attempt carried it.
    fn get(&self, id: &str) -> Option<u32> {
        self.table.number(id, |r| self.ids[r as usize])
    }

    /// How many rows.
    fn len(&self) -> usize {
        self.ids.len()
    }
}

/// Delivery indexes (as attempts name them) → dense row numbers, in order
/// of first appearance: a vector indexed by delivery index when the
/// indexes are few and small (those of a plan are `0..n`), else a map.
#[derive(Debug)]
struct DeliveryRows {
    /// By delivery index: its row (`u32::MAX`: none), when dense.
    dense: Vec<u32>,
    /// Delivery index → row, when not dense.
    sparse: HashMap<usize, u32>,
    rows: u32,
}

impl DeliveryRows {
    /// Room for `indexes` (the row numbers are given out by [`DeliveryRows::row`]).
    fn new(indexes: impl ExactSizeIterator<Item = usize> + Clone) -> DeliveryRows {
        let count = indexes.len();
        let max = indexes.clone().max().unwrap_or(0);
        let dense = max < 2 * count + 1024;
        DeliveryRows {
            dense: if dense {
                vec![u32::MAX; max + 1]
            } else {
                Vec::new()
            },
            sparse: HashMap::with_capacity(if dense { 0 } else { count }),
            rows: 0,
        }
    }

    /// The row of delivery `index`, given the next number on first sight.
    fn row(&mut self, index: usize) -> u32 {
        let next = self.rows;
        let row = match self.dense.get_mut(index) {
            Some(slot) => {
                if *slot == u32::MAX {
                    *slot = next;
                }
                *slot
            }
            None => *self.sparse.entry(index).or_insert(next),
        };
        if row == next {
            self.rows += 1;
        }
        row
    }

    /// The row of delivery `index`, if an attempt named it.
    fn get(&self, index: usize) -> Option<u32> {
        match self.dense.get(index) {
            Some(&row) => (row != u32::MAX).then_some(row),
            None => self.sparse.get(&index).copied(),
        }
    }

    /// How many rows.
    fn len(&self) -> usize {
        self.rows as usize
    }
}

/// A [`DeliveryLog`] indexed by event id and by delivery, so that questions
/// about every event of a run take linear time, not quadratic.
#[derive(Debug)]
pub struct LogIndex<'a> {
    log: &'a DeliveryLog,
    /// Event id → row of `deliveries_by_event` and `attempts_by_event`.
    events: EventRows<'a>,
    /// By delivery (in plan order): its event's row.
    delivery_rows: Vec<u32>,
    deliveries_by_event: Rows,
    attempts_by_event: Rows,
    /// `Attempt::delivery` → row of `attempts_by_delivery`.
    deliveries: DeliveryRows,
    attempts_by_delivery: Rows,
    /// By event row: whether the SUT acked a validly signed delivery of it.
    acked: Vec<bool>,
    /// By event row: whether the SUT owes the event's effect (see
    /// [`LogIndex::sut_owes_event`]).
    owed: Vec<bool>,
}

impl<'a> LogIndex<'a> {
    /// Indexes `log` (which must not change while the index is used: it
    /// borrows it).
    pub fn new(log: &'a DeliveryLog) -> LogIndex<'a> {
        let capacity = log.deliveries.len();
        let mut events = EventRows::with_capacity(capacity);
        let mut row = |id: &'a str| events.row(id);
        let delivery_rows: Vec<u32> = log.deliveries.iter().map(|d| row(&d.event_id)).collect();
        // An attempt's event is usually that of the delivery at its position
        // (a string comparison, not a hash probe).
        let attempt_rows: Vec<u32> = log
            .attempts
            .iter()
            .map(|a| match log.deliveries.get(a.delivery) {
                Some(d) if crate::short_str::eq(&d.event_id, &a.event_id) => {
                    delivery_rows[a.delivery]
                }
                _ => row(&a.event_id),
            })
            .collect();
        let mut deliveries = DeliveryRows::new(log.attempts.iter().map(|a| a.delivery));
        let by_delivery: Vec<u32> = log
            .attempts
            .iter()
            .map(|a| deliveries.row(a.delivery))
            .collect();
        // Which deliveries (rows of `deliveries`) the SUT acked.
        let mut delivery_acked = vec![false; deliveries.len()];
        for (a, &row) in log.attempts.iter().zip(&by_delivery) {
            delivery_acked[row as usize] |= a.outcome.sut_acked();
        }
        let mut acked = vec![false; events.len()];
        let mut owed = vec![false; events.len()];
        for (d, &row) in log.deliveries.iter().zip(&delivery_rows) {
            if d.signature != SignatureMode::Valid {
                continue;
            }
            let row = row as usize;
            if deliveries
                .get(d.index)
                .is_some_and(|r| delivery_acked[r as usize])
            {
                acked[row] = true;
                owed[row] = true;
            }
            owed[row] |= d.status == DeliveryStatus::Rejected;
        }
        LogIndex {
            log,
            deliveries_by_event: Rows::new(&delivery_rows, events.len()),
            attempts_by_event: Rows::new(&attempt_rows, events.len()),
            delivery_rows,
            events,
            attempts_by_delivery: Rows::new(&by_delivery, deliveries.len()),
            deliveries,
            acked,
            owed,
        }
    }

    /// `flags[row]` of `event_id`'s row (`false` for an unknown event).
    fn flag(&self, flags: &[bool], event_id: &str) -> bool {
        self.events
            .get(event_id)
            .is_some_and(|row| flags[row as usize])
    }

    /// The indexed log.
    pub fn log(&self) -> &'a DeliveryLog {
        self.log
    }

    /// Attempts that belong to delivery `index`, in order.
    pub fn attempts_of(&self, index: usize) -> impl Iterator<Item = &'a Attempt> {
        let rows = match self.deliveries.get(index) {
            Some(r) => self.attempts_by_delivery.get(r),
            None => &[],
        };
        rows.iter().map(|&i| &self.log.attempts[i as usize])
    }

    /// Deliveries of `event_id`, in plan order.
    pub fn deliveries_of(&self, event_id: &str) -> impl Iterator<Item = &'a DeliveryRecord> {
        let rows = match self.events.get(event_id) {
            Some(r) => self.deliveries_by_event.get(r),
            None => &[],
        };
        rows.iter().map(|&i| &self.log.deliveries[i as usize])
    }

    /// Attempts carrying `event_id`, in start order.
    pub fn attempts_for_event(&self, event_id: &str) -> impl Iterator<Item = &'a Attempt> {
        let rows = match self.events.get(event_id) {
            Some(r) => self.attempts_by_event.get(r),
            None => &[],
        };
        rows.iter().map(|&i| &self.log.attempts[i as usize])
    }

    /// Whether the SUT answered 2xx to any attempt carrying `event_id` with a
    /// valid signature (i.e. the SUT owns the event).
    pub fn sut_acked_event(&self, event_id: &str) -> bool {
        self.flag(&self.acked, event_id)
    }

    /// Whether the SUT is answerable for the event's effect: it acked a
    /// validly signed delivery of it, or refused one permanently (a non-retryable
    /// 4xx is right for forgeries, wrong for valid events: the producer
    /// drops the event). Only events that dead-lettered after retryable
    /// failures are excused.
    pub fn sut_owes_event(&self, event_id: &str) -> bool {
        self.flag(&self.owed, event_id)
    }

    /// For each of `events` (a workload's events, in order), whether the SUT
    /// owes its effect ([`LogIndex::sut_owes_event`]). A delivery names the
    /// position of its event, so an event is found without hashing its id
    /// (and by its id when no delivery of that id names its position).
    pub fn owed_events(&self, events: &[crate::workload::Event]) -> Vec<bool> {
        // The first delivery naming each position.
        let mut first = vec![u32::MAX; events.len()];
        for (i, d) in self.log.deliveries.iter().enumerate() {
            if let Some(slot) = d.event_seq.and_then(|seq| first.get_mut(seq))
                && *slot == u32::MAX
            {
                *slot = i as u32;
            }
        }
        events
            .iter()
            .zip(first)
            .map(|(e, d)| match self.log.deliveries.get(d as usize) {
                Some(delivery) if crate::short_str::eq(&delivery.event_id, &e.id) => {
                    self.owed[self.delivery_rows[d as usize] as usize]
                }
                _ => self.sut_owes_event(&e.id),
            })
            .collect()
    }

    /// A one-line-per-attempt timeline of the deliveries of `event_id`.
    pub fn timeline(&self, event_id: &str) -> Vec<String> {
        self.attempts_for_event(event_id)
            .map(|a| {
                let origin = self
                    .log
                    .deliveries
                    .get(a.delivery)
                    .map(|d| d.origin.as_str())
                    .unwrap_or("?");
                format!(
                    "+{}ms delivery #{} ({origin}) attempt {}: {} in {}ms",
                    a.started.as_millis(),
                    a.delivery,
                    a.attempt,
                    a.outcome.label(),
                    a.latency.as_millis()
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_rows_number_indexes_in_order_of_first_sight_dense_or_not() {
        for indexes in [
            vec![3usize, 0, 3, 1, 0],
            vec![3, usize::MAX / 2, 3, 1, usize::MAX / 2],
        ] {
            let mut rows = DeliveryRows::new(indexes.iter().copied());
            let numbered: Vec<u32> = indexes.iter().map(|&i| rows.row(i)).collect();
            assert_eq!(numbered, vec![0, 1, 0, 2, 1]);
            assert_eq!(rows.len(), 3);
            assert_eq!(rows.get(indexes[1]), Some(1));
            assert_eq!(rows.get(2), None);
            assert_eq!(rows.get(usize::MAX), None);
        }
    }
}
