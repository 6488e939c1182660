//! The mock CRM's recording of every request: a compact record per request
//! (no bodies; names the routes share are not copied), kept in shards so
//! that the server's worker threads do not take one lock in turn, and turned
//! into [`RecordedRequest`]s when read.

use super::server::RecordedRequest;
use crate::contract::Violation;
use std::borrow::Cow;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// A name that is usually one of a few known ones (a method, an object
/// type, an operation): those are borrowed, only others are allocated.
pub(super) type Name = Cow<'static, str>;

/// `name` as one of `known` without allocating, else an owned copy.
pub(super) fn name_among(known: &[&'static str], name: &str) -> Name {
    known
        .iter()
        .find(|k| **k == name)
        .map_or_else(|| Cow::Owned(name.to_owned()), |k| Cow::Borrowed(*k))
}

/// One request as recorded: what [`RecordedRequest`] holds, in less room
/// (times in nanoseconds, known names borrowed, boxed strings and slices).
#[derive(Debug, Default)]
pub(super) struct Record {
    pub(super) seq: u64,
    /// Arrival, in nanoseconds after the server started.
    pub(super) at_nanos: u64,
    /// Time to the answer (or to the abort), in nanoseconds.
    pub(super) duration_nanos: u64,
    pub(super) method: Name,
    pub(super) path: Box<str>,
    pub(super) query: Option<Box<str>>,
    pub(super) object_type: Option<Name>,
    pub(super) operation: Option<Name>,
    pub(super) status: u16,
    pub(super) authorized: bool,
    pub(super) traceparent: Option<Box<str>>,
    pub(super) fault: Option<Box<str>>,
    pub(super) violations: Box<[Violation]>,
    pub(super) affected: Box<[(String, String)]>,
}

impl Record {
    /// The public form.
    fn to_request(&self) -> RecordedRequest {
        let text = |s: &Option<Box<str>>| s.as_deref().map(str::to_owned);
        RecordedRequest {
            seq: self.seq,
            at: Duration::from_nanos(self.at_nanos),
            duration: Duration::from_nanos(self.duration_nanos),
            method: self.method.clone().into_owned(),
            path: self.path.clone().into(),
            query: text(&self.query),
            object_type: self.object_type.clone().map(Cow::into_owned),
            operation: self.operation.clone().map(Cow::into_owned),
            status: self.status,
            authorized: self.authorized,
            traceparent: text(&self.traceparent),
            fault: text(&self.fault),
            violations: self.violations.to_vec(),
            affected: self.affected.to_vec(),
        }
    }
}

/// Every record so far, in shards: a thread records into its own shard,
/// so the server's threads neither wait for one another's lock nor pass
/// its cache line back and forth on every request.
pub(super) struct Recording {
    shards: [Shard; Recording::SHARDS],
}

/// One shard, alone on its cache lines.
#[repr(align(128))]
#[derive(Default)]
struct Shard(Mutex<Chunks>);

impl Default for Recording {
    fn default() -> Self {
        Recording {
            shards: std::array::from_fn(|_| Shard::default()),
        }
    }
}

impl Recording {
    /// Shards; threads beyond this many share them.
    const SHARDS: usize = 8;

    /// Records `record` in the calling thread's shard.
    pub(super) fn push(&self, record: Record) {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        thread_local! {
            static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % Recording::SHARDS;
        }
        let shard = SHARD.with(|s| *s);
        self.shards[shard].0.lock().unwrap().push(record);
    }

    /// Every request so far, in arrival order.
    pub(super) fn requests(&self) -> Vec<RecordedRequest> {
        let mut requests = Vec::new();
        for shard in &self.shards {
            let chunks = shard.0.lock().unwrap();
            requests.extend(chunks.0.iter().flatten().map(Record::to_request));
        }
        requests.sort_by_key(|r| r.seq);
        requests
    }
}

/// The records of one shard, in fixed-size chunks: recording never moves
/// earlier records (a single growing `Vec` copies all of them, under the
/// lock, each time it doubles).
#[derive(Default)]
struct Chunks(Vec<Vec<Record>>);

impl Chunks {
    /// Records per chunk.
    const CHUNK: usize = 1024;

    fn push(&mut self, record: Record) {
        match self.0.last_mut() {
            Some(chunk) if chunk.len() < Self::CHUNK => chunk.push(record),
            _ => {
                let mut chunk = Vec::with_capacity(Self::CHUNK);
                chunk.push(record);
                self.0.push(chunk);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_names_are_borrowed() {
        assert!(matches!(
            name_among(&["GET", "POST"], "POST"),
            Cow::Borrowed("POST")
        ));
        assert!(matches!(name_among(&["GET"], "PURGE"), Cow::Owned(s) if s == "PURGE"));
    }

    #[test]
    fn requests_come_back_in_arrival_order_from_every_thread() {
        let recording = std::sync::Arc::new(Recording::default());
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let recording = recording.clone();
                std::thread::spawn(move || {
                    for i in 0..1500 {
                        recording.push(Record {
                            seq: i * 4 + t,
                            method: Cow::Borrowed("POST"),
                            path: "/crm/v3/objects/contacts".into(),
                            ..Record::default()
                        });
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let requests = recording.requests();
        assert_eq!(requests.len(), 6000);
        assert!(requests.iter().enumerate().all(|(i, r)| r.seq == i as u64));
        assert_eq!(requests[0].method, "POST");
        assert_eq!(requests[0].path, "/crm/v3/objects/contacts");
    }
}
