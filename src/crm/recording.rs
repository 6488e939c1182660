//! The mock CRM's recording of every request: a compact record per request
//! (no bodies; names the routes share are not copied), kept in shards so
//! that the server's worker threads do not take one lock in turn, and turned
//! into [`RecordedRequest`]s when read.

use super::schema::OBJECT_TYPES;
use super::server::RecordedRequest;
use crate::contract::Violation;
use std::borrow::Cow;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// A name that is usually one of a few known ones (an operation): those
/// are borrowed, only others are allocated.
pub(crate) type Name = Cow<'static, str>;

/// The methods a record names in one byte.
const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// The operations a record names in one byte (what `Route::operation`
/// answers; another name, e.g. a batch operation HubSpot does not have,
/// is spelled out in the record's extras).
pub(super) const OPERATIONS: &[&str] = &[
    "create",
    "list",
    "read",
    "update",
    "archive",
    "search",
    "batch-create",
    "batch-read",
    "batch-update",
    "batch-upsert",
    "batch-archive",
    "associate",
    "associations",
    "properties",
];

/// A name in one byte: its index in its table of known names, [`ABSENT`],
/// or [`SPELLED`] when the record's extras hold it.
type Code = u8;
/// No name (a route without an object type or operation).
const ABSENT: Code = u8::MAX;
/// A name outside its table, kept in the record's extras.
const SPELLED: Code = u8::MAX - 1;

/// `name`'s code among `known`, or [`SPELLED`].
fn code_among(known: &[&str], name: &str) -> Code {
    known
        .iter()
        .position(|k| *k == name)
        .and_then(|i| Code::try_from(i).ok())
        .filter(|c| *c < SPELLED)
        .unwrap_or(SPELLED)
}

/// One request as recorded: what [`RecordedRequest`] holds, in less room,
/// as every request of a run (a load test: millions) keeps one. Times are
/// nanoseconds; the method, object type and operation are a byte each;
/// what few requests have (a query, a fault, violations, unknown names)
/// is boxed apart.
#[derive(Debug, Default)]
pub(super) struct Record {
    pub(super) seq: u64,
    /// Arrival, in nanoseconds after the server started.
    pub(super) at_nanos: u64,
    /// Time to the answer (or to the abort), in nanoseconds.
    pub(super) duration_nanos: u64,
    path: Box<str>,
    pub(super) traceparent: Option<Box<str>>,
    pub(super) affected: Box<[(String, String)]>,
    extras: Option<Box<Extras>>,
    method: Code,
    object_type: Code,
    operation: Code,
    pub(super) status: u16,
    pub(super) authorized: bool,
}

/// The parts of a [`Record`] that few requests have.
#[derive(Debug, Default)]
struct Extras {
    query: Option<Box<str>>,
    fault: Option<Box<str>>,
    violations: Box<[Violation]>,
    /// Names outside the tables: method, object type, operation.
    names: [Option<Box<str>>; 3],
}

/// What a request is, for [`Record::new`].
pub(super) struct Arrival<'a> {
    /// Arrival number.
    pub(super) seq: u64,
    /// Arrival, in nanoseconds after the server started.
    pub(super) at_nanos: u64,
    /// HTTP method.
    pub(super) method: &'a str,
    /// Path, as sent.
    pub(super) path: &'a str,
    /// Query string, as sent.
    pub(super) query: Option<&'a str>,
    /// Object type of the route.
    pub(super) object_type: Option<&'a str>,
    /// Operation of the route.
    pub(super) operation: Option<&'a str>,
    /// Whether the bearer token was right.
    pub(super) authorized: bool,
    /// The W3C `traceparent` header.
    pub(super) traceparent: Option<&'a str>,
}

impl Record {
    /// The record of a request that has just arrived (no answer yet).
    pub(super) fn new(arrival: Arrival<'_>) -> Record {
        let mut record = Record {
            seq: arrival.seq,
            at_nanos: arrival.at_nanos,
            path: arrival.path.into(),
            traceparent: arrival.traceparent.map(Into::into),
            authorized: arrival.authorized,
            ..Record::default()
        };
        let names = [
            (METHODS, Some(arrival.method)),
            (OBJECT_TYPES, arrival.object_type),
            (OPERATIONS, arrival.operation),
        ];
        for (i, (known, name)) in names.into_iter().enumerate() {
            let code = name.map_or(ABSENT, |n| code_among(known, n));
            if code == SPELLED {
                record.extras().names[i] = name.map(Into::into);
            }
            match i {
                0 => record.method = code,
                1 => record.object_type = code,
                _ => record.operation = code,
            }
        }
        if let Some(query) = arrival.query {
            record.extras().query = Some(query.into());
        }
        record
    }

    /// The extras, boxed when first needed.
    fn extras(&mut self) -> &mut Extras {
        self.extras.get_or_insert_with(Box::default)
    }

    /// Name `i` of the record (0 method, 1 object type, 2 operation).
    fn name(&self, i: usize) -> Option<&str> {
        let (code, known) = match i {
            0 => (self.method, METHODS),
            1 => (self.object_type, OBJECT_TYPES),
            _ => (self.operation, OPERATIONS),
        };
        match code {
            ABSENT => None,
            SPELLED => self.extras.as_ref()?.names[i].as_deref(),
            c => known.get(usize::from(c)).copied(),
        }
    }

    /// The operation (`create`, `search`, `batch-upsert`, …), if the route has one.
    pub(super) fn operation(&self) -> Option<&str> {
        self.name(2)
    }

    /// The query string.
    pub(super) fn query(&self) -> Option<&str> {
        self.extras.as_ref()?.query.as_deref()
    }

    /// The fault that fired, if any.
    pub(super) fn fault(&self) -> Option<&str> {
        self.extras.as_ref()?.fault.as_deref()
    }

    /// Notes the fault that fired (the last one noted is kept).
    pub(super) fn set_fault(&mut self, label: impl Into<Box<str>>) {
        self.extras().fault = Some(label.into());
    }

    /// Notes the contract violations of the body.
    pub(super) fn set_violations(&mut self, violations: Vec<Violation>) {
        self.extras().violations = violations.into();
    }

    /// The public form.
    fn to_request(&self) -> RecordedRequest {
        let text = |s: Option<&str>| s.map(str::to_owned);
        RecordedRequest {
            seq: self.seq,
            at: Duration::from_nanos(self.at_nanos),
            duration: Duration::from_nanos(self.duration_nanos),
            method: self.name(0).unwrap_or_default().to_owned(),
            path: self.path.clone().into(),
            query: text(self.query()),
            object_type: text(self.name(1)),
            operation: text(self.operation()),
            status: self.status,
            authorized: self.authorized,
            traceparent: text(self.traceparent.as_deref()),
            fault: text(self.fault()),
            violations: self
                .extras
                .as_ref()
                .map(|e| e.violations.to_vec())
                .unwrap_or_default(),
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

    fn arrival<'a>(
        method: &'a str,
        object_type: Option<&'a str>,
        operation: Option<&'a str>,
    ) -> Arrival<'a> {
        Arrival {
            seq: 7,
            at_nanos: 5,
            method,
            path: "/crm/v3/objects/contacts",
            query: None,
            object_type,
            operation,
            authorized: true,
            traceparent: None,
        }
    }

    #[test]
    fn known_names_take_a_byte_others_are_kept_in_full() {
        let known = Record::new(arrival("POST", Some("contacts"), Some("create")));
        assert!(known.extras.is_none());
        let r = known.to_request();
        assert_eq!(
            (
                r.method.as_str(),
                r.object_type.as_deref(),
                r.operation.as_deref()
            ),
            ("POST", Some("contacts"), Some("create"))
        );
        let other = Record::new(arrival("PURGE", Some("deals"), Some("batch-merge")));
        let r = other.to_request();
        assert_eq!(
            (
                r.method.as_str(),
                r.object_type.as_deref(),
                r.operation.as_deref()
            ),
            ("PURGE", Some("deals"), Some("batch-merge"))
        );
        let none = Record::new(arrival("GET", None, None)).to_request();
        assert_eq!((none.object_type, none.operation), (None, None));
        assert!(size_of::<Record>() <= 96, "{} bytes", size_of::<Record>());
    }

    #[test]
    fn query_fault_and_violations_round_trip() {
        let mut record = Record::new(Arrival {
            query: Some("idProperty=email"),
            traceparent: Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
            ..arrival("GET", Some("contacts"), Some("read"))
        });
        assert_eq!(record.query(), Some("idProperty=email"));
        assert_eq!(record.fault(), None);
        record.set_fault("crm 503");
        record.set_violations(vec![Violation {
            contract: "c.json".into(),
            pointer: "/x".into(),
            message: "m".into(),
        }]);
        let r = record.to_request();
        assert_eq!(r.query.as_deref(), Some("idProperty=email"));
        assert_eq!(r.fault.as_deref(), Some("crm 503"));
        assert_eq!(r.violations.len(), 1);
        assert_eq!(r.path, "/crm/v3/objects/contacts");
        assert!(r.traceparent.is_some());
        assert_eq!(
            Record::new(Arrival {
                query: Some(""),
                ..arrival("GET", None, None)
            })
            .query(),
            Some("")
        );
    }

    #[test]
    fn requests_come_back_in_arrival_order_from_every_thread() {
        let recording = std::sync::Arc::new(Recording::default());
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let recording = recording.clone();
                std::thread::spawn(move || {
                    for i in 0..1500 {
                        recording.push(Record::new(Arrival {
                            seq: i * 4 + t,
                            ..arrival("POST", None, None)
                        }));
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
