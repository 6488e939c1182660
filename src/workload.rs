//! Deterministic helpdesk workloads.
//!
//! A workload is the list of webhook events a helpdesk would emit for a set
//! of tickets: creation, status and priority changes, comments, and noise
//! events a receiver should acknowledge and ignore. The same [`WorkloadSpec`]
//! and seed always produce the same events, byte for byte, so a failing run
//! can be replayed exactly.

use chrono::{DateTime, Duration as ChronoDuration, TimeZone, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The Zendesk account id every generated event carries.
pub const ACCOUNT_ID: u64 = 22_129_848;
/// The `zendesk_event_version` of generated ticket events.
pub const EVENT_VERSION: &str = "2022-11-06";
/// Prefix of every Zendesk event type.
pub const TYPE_PREFIX: &str = "zen:event-type:";
/// First helpdesk ticket id; ids are distinctive so that they can be traced
/// through CRM property values.
pub const FIRST_TICKET_ID: u64 = 70_001;
/// First helpdesk user id (requesters).
pub const FIRST_USER_ID: u64 = 8_447_388_090_001;
/// First helpdesk comment id.
pub const FIRST_COMMENT_ID: u64 = 9_100_000_001;

/// What a workload contains; the `[workload]` table of a scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct WorkloadSpec {
    /// Number of tickets created.
    pub tickets: usize,
    /// Number of distinct requesters; tickets share requesters when smaller
    /// than `tickets` (so contact upserts must be idempotent).
    pub requesters: usize,
    /// Status changes per ticket (at most; drawn uniformly from 0..=n).
    pub status_changes: usize,
    /// Priority changes per ticket (at most).
    pub priority_changes: usize,
    /// Comments per ticket (at most).
    pub comments: usize,
    /// Noise events (types the receiver should acknowledge and ignore), as a
    /// fraction of the other events.
    pub noise: f64,
}

impl Default for WorkloadSpec {
    fn default() -> Self {
        WorkloadSpec {
            tickets: 20,
            requesters: 15,
            status_changes: 2,
            priority_changes: 1,
            comments: 2,
            noise: 0.2,
        }
    }
}

/// The kind of a helpdesk event, as the checks and the canonical mapping see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    /// `ticket.created`
    TicketCreated,
    /// `ticket.status_changed`
    StatusChanged,
    /// `ticket.priority_changed`
    PriorityChanged,
    /// `ticket.comment_added`
    CommentAdded,
    /// Any event type a receiver should acknowledge and ignore.
    Noise,
}

/// One helpdesk user (a ticket requester).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Helpdesk user id (digits).
    pub id: String,
    /// Full name.
    pub name: String,
    /// Email address (unique).
    pub email: String,
}

/// One webhook event of a workload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Position in the workload (emission order).
    pub seq: usize,
    /// The event id (`id` in the envelope); stable across retries.
    pub id: String,
    /// The full event type, e.g. `zen:event-type:ticket.created`.
    pub event_type: String,
    /// Classification used by the checks.
    pub kind: EventKind,
    /// The helpdesk ticket this event is about, if any.
    pub ticket_id: Option<String>,
    /// The comment id, for `comment_added`.
    pub comment_id: Option<String>,
    /// The envelope's `time`.
    pub time: DateTime<Utc>,
    /// The complete payload.
    pub body: Value,
}

impl Event {
    /// The short type without the `zen:event-type:` prefix.
    pub fn short_type(&self) -> &str {
        self.event_type
            .strip_prefix(TYPE_PREFIX)
            .unwrap_or(&self.event_type)
    }

    /// The serialized payload, exactly as delivered.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&self.body).expect("a JSON value always serializes")
    }
}

/// A generated workload: events in emission order plus the helpdesk data
/// the mock helpdesk API serves for enrichment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Workload {
    /// The seed it was generated from.
    pub seed: u64,
    /// Events in emission order.
    pub events: Vec<Event>,
    /// Requesters.
    pub users: Vec<User>,
    /// Final ticket snapshots by ticket id (what `GET /api/v2/tickets/{id}` serves).
    pub tickets: Vec<Value>,
}

const STATUSES: &[&str] = &["OPEN", "PENDING", "HOLD", "SOLVED", "CLOSED"];
const PRIORITIES: &[&str] = &["LOW", "NORMAL", "HIGH", "URGENT"];
const TICKET_TYPES: &[&str] = &["QUESTION", "INCIDENT", "PROBLEM", "TASK"];
const FIRST_NAMES: &[&str] = &[
    "Ada",
    "Grace",
    "Alan",
    "Edsger",
    "Barbara",
    "Donald",
    "Frances",
    "Ken",
    "Margaret",
    "Tim",
    "Radia",
    "Leslie",
    "Hedy",
    "Dennis",
    "Katherine",
    "John",
];
const LAST_NAMES: &[&str] = &[
    "Lovelace",
    "Hopper",
    "Turing",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Allen",
    "Thompson",
    "Hamilton",
    "Berners-Lee",
    "Perlman",
    "Lamport",
    "Lamarr",
    "Ritchie",
    "Johnson",
    "Backus",
];
const SUBJECTS: &[&str] = &[
    "Cannot login to mobile app",
    "Invoice shows the wrong VAT",
    "Export to CSV times out",
    "Password reset email never arrives",
    "Dashboard loads slowly",
    "Refund for duplicate charge",
    "SSO with Okta fails",
    "Webhook deliveries delayed",
];
const NOISE_TYPES: &[&str] = &[
    "ticket.tags_changed",
    "ticket.agent_assignment_changed",
    "ticket.group_assignment_changed",
    "ticket.custom_field_changed",
    "user.active_changed",
];

/// Generates the workload for `spec` from `seed`.
///
/// Guarantees: event ids are unique; per ticket, `detail.updated_at`
/// strictly increases in emission order; the same inputs give the same output.
pub fn generate(spec: &WorkloadSpec, seed: u64) -> Workload {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let base = Utc.with_ymd_and_hms(2025, 1, 8, 9, 0, 0).unwrap();
    let requesters = spec.requesters.clamp(1, spec.tickets.max(1));
    let users: Vec<User> = (0..requesters)
        .map(|i| {
            let first = FIRST_NAMES[i % FIRST_NAMES.len()];
            let last = LAST_NAMES[(i / FIRST_NAMES.len() + i) % LAST_NAMES.len()];
            User {
                id: (FIRST_USER_ID + i as u64).to_string(),
                name: format!("{first} {last}"),
                email: format!(
                    "{}.{}{}@customer.example",
                    first.to_lowercase(),
                    last.to_lowercase(),
                    i
                ),
            }
        })
        .collect();

    // Per ticket: a timeline of (time, kind) changes, then merged globally.
    let mut pending: Vec<(DateTime<Utc>, usize, Change)> = Vec::new();
    let mut next_comment = FIRST_COMMENT_ID;
    for t in 0..spec.tickets {
        let created = base + ChronoDuration::seconds(rng.random_range(0..3_600));
        let mut at = created;
        pending.push((at, t, Change::Created));
        let mut changes = Vec::new();
        for _ in 0..rng.random_range(0..=spec.status_changes) {
            changes.push(Change::Status(
                STATUSES[rng.random_range(0..STATUSES.len())],
            ));
        }
        for _ in 0..rng.random_range(0..=spec.priority_changes) {
            changes.push(Change::Priority(
                PRIORITIES[rng.random_range(0..PRIORITIES.len())],
            ));
        }
        for _ in 0..rng.random_range(0..=spec.comments) {
            changes.push(Change::Comment(next_comment));
            next_comment += 1;
        }
        let other = changes.len();
        let noise = (other as f64 * spec.noise).round() as usize
            + usize::from(rng.random_bool(spec.noise.clamp(0.0, 1.0)));
        for _ in 0..noise {
            changes.push(Change::Noise(
                NOISE_TYPES[rng.random_range(0..NOISE_TYPES.len())],
            ));
        }
        shuffle(&mut changes, &mut rng);
        for change in changes {
            at += ChronoDuration::seconds(rng.random_range(5..900));
            pending.push((at, t, change));
        }
    }
    pending.sort_by_key(|(at, t, _)| (*at, *t));

    let mut tickets: Vec<Ticket> = (0..spec.tickets)
        .map(|t| Ticket::new(t, &users, &mut rng))
        .collect();
    let mut events = Vec::with_capacity(pending.len());
    for (seq, (at, t, change)) in pending.into_iter().enumerate() {
        let ticket = &mut tickets[t];
        let id = uuid_from(&mut rng);
        let (kind, short, event, comment_id) = match change {
            Change::Created => {
                ticket.created_at = at;
                (EventKind::TicketCreated, "ticket.created", json!({}), None)
            }
            Change::Status(s) => {
                let previous = std::mem::replace(&mut ticket.status, s);
                (
                    EventKind::StatusChanged,
                    "ticket.status_changed",
                    json!({"previous": previous, "current": s}),
                    None,
                )
            }
            Change::Priority(p) => {
                let previous = ticket.priority.replace(p);
                (
                    EventKind::PriorityChanged,
                    "ticket.priority_changed",
                    json!({"previous": previous, "current": p}),
                    None,
                )
            }
            Change::Comment(c) => {
                let author = &users[rng.random_range(0..users.len())];
                let body = format!(
                    "Comment {c} on ticket {}: {}",
                    ticket.id,
                    SUBJECTS[rng.random_range(0..SUBJECTS.len())]
                );
                (
                    EventKind::CommentAdded,
                    "ticket.comment_added",
                    json!({"comment": {
                        "id": c.to_string(),
                        "body": body,
                        "is_public": rng.random_bool(0.8),
                        "author": {"id": author.id, "name": author.name, "is_staff": false},
                    }}),
                    Some(c.to_string()),
                )
            }
            Change::Noise(n) => (EventKind::Noise, n, noise_event(n, ticket, &mut rng), None),
        };
        ticket.updated_at = at;
        let time = at + ChronoDuration::milliseconds(rng.random_range(0..1_000));
        let is_user_event = short.starts_with("user.");
        let (subject, detail) = if is_user_event {
            let user = users.iter().find(|u| u.id == ticket.requester_id).unwrap();
            (
                format!("zen:user:{}", user.id),
                json!({
                    "id": user.id, "email": user.email, "role": "end-user",
                    "created_at": fmt_time(base), "updated_at": fmt_time(at),
                    "external_id": null, "default_group_id": "0", "organization_id": null,
                }),
            )
        } else {
            (format!("zen:ticket:{}", ticket.id), ticket.snapshot())
        };
        let body = json!({
            "account_id": ACCOUNT_ID,
            "detail": detail,
            "event": event,
            "id": id,
            "subject": subject,
            "time": time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "type": format!("{TYPE_PREFIX}{short}"),
            "zendesk_event_version": EVENT_VERSION,
        });
        events.push(Event {
            seq,
            id,
            event_type: format!("{TYPE_PREFIX}{short}"),
            kind,
            ticket_id: (!is_user_event).then(|| ticket.id.clone()),
            comment_id,
            time,
            body,
        });
    }
    Workload {
        seed,
        events,
        tickets: tickets.iter().map(Ticket::snapshot).collect(),
        users,
    }
}

fn shuffle<T>(items: &mut [T], rng: &mut ChaCha8Rng) {
    for i in (1..items.len()).rev() {
        items.swap(i, rng.random_range(0..=i));
    }
}

/// A v4-shaped UUID drawn from the workload's RNG (deterministic).
pub fn uuid_from(rng: &mut impl Rng) -> String {
    let bytes: [u8; 16] = rng.random();
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

fn fmt_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

enum Change {
    Created,
    Status(&'static str),
    Priority(&'static str),
    Comment(u64),
    Noise(&'static str),
}

struct Ticket {
    id: String,
    subject: &'static str,
    description: String,
    status: &'static str,
    priority: Option<&'static str>,
    ticket_type: Option<&'static str>,
    tags: Option<Vec<String>>,
    requester_id: String,
    assignee_id: Option<String>,
    organization_id: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl Ticket {
    fn new(t: usize, users: &[User], rng: &mut ChaCha8Rng) -> Ticket {
        let subject = SUBJECTS[rng.random_range(0..SUBJECTS.len())];
        let requester = &users[t % users.len()];
        Ticket {
            id: (FIRST_TICKET_ID + t as u64).to_string(),
            subject,
            description: format!("{subject} (reported by {})", requester.name),
            status: "NEW",
            priority: rng
                .random_bool(0.7)
                .then(|| PRIORITIES[rng.random_range(0..PRIORITIES.len())]),
            ticket_type: rng
                .random_bool(0.6)
                .then(|| TICKET_TYPES[rng.random_range(0..TICKET_TYPES.len())]),
            tags: rng.random_bool(0.7).then(|| vec!["hookproof".to_string()]),
            requester_id: requester.id.clone(),
            assignee_id: rng.random_bool(0.5).then(|| "8447388099001".to_string()),
            organization_id: rng.random_bool(0.5).then(|| "8447346622462".to_string()),
            created_at: DateTime::<Utc>::MIN_UTC,
            updated_at: DateTime::<Utc>::MIN_UTC,
        }
    }

    fn snapshot(&self) -> Value {
        json!({
            "actor_id": self.requester_id,
            "assignee_id": self.assignee_id,
            "brand_id": "8447346621310",
            "created_at": fmt_time(self.created_at),
            "custom_status": "8447320465790",
            "description": self.description,
            "external_id": null,
            "form_id": "8646151517822",
            "group_id": "8447320466430",
            "id": self.id,
            "is_public": true,
            "organization_id": self.organization_id,
            "priority": self.priority,
            "requester_id": self.requester_id,
            "status": self.status,
            "subject": self.subject,
            "submitter_id": self.requester_id,
            "tags": self.tags,
            "type": self.ticket_type,
            "updated_at": fmt_time(self.updated_at),
            "via": {"channel": "web_service"},
        })
    }
}

fn noise_event(kind: &str, ticket: &mut Ticket, rng: &mut ChaCha8Rng) -> Value {
    match kind {
        "ticket.tags_changed" => {
            let previous = ticket.tags.clone();
            let mut tags = previous.clone().unwrap_or_default();
            tags.push(format!("tag-{}", rng.random_range(0..100)));
            ticket.tags = Some(tags.clone());
            json!({"previous": previous, "current": tags})
        }
        "ticket.agent_assignment_changed" => {
            let current = format!("84473880990{:02}", rng.random_range(0..100));
            let previous = ticket.assignee_id.replace(current.clone());
            json!({"previous": previous, "current": current})
        }
        "ticket.group_assignment_changed" => {
            json!({"previous": "8447320466430", "current": "8447320466431"})
        }
        "user.active_changed" => json!({"previous": true, "current": true}),
        _ => json!({"field": "plan", "previous": null, "current": "gold"}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};

    #[test]
    fn same_seed_same_workload() {
        let spec = WorkloadSpec::default();
        let a = serde_json::to_string(&generate(&spec, 7).events).unwrap();
        let b = serde_json::to_string(&generate(&spec, 7).events).unwrap();
        let c = serde_json::to_string(&generate(&spec, 8).events).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn ids_unique_and_updated_at_strictly_increases_per_ticket() {
        let spec = WorkloadSpec {
            tickets: 60,
            comments: 4,
            status_changes: 4,
            ..WorkloadSpec::default()
        };
        let w = generate(&spec, 42);
        let ids: HashSet<_> = w.events.iter().map(|e| &e.id).collect();
        assert_eq!(ids.len(), w.events.len());
        let mut last: HashMap<String, String> = HashMap::new();
        for e in w
            .events
            .iter()
            .filter(|e| e.event_type.contains(":ticket."))
        {
            let t = e.ticket_id.clone().unwrap();
            let upd = e.body["detail"]["updated_at"].as_str().unwrap().to_string();
            if let Some(prev) = last.get(&t) {
                assert!(upd > *prev, "ticket {t}: {upd} !> {prev}");
            }
            last.insert(t, upd);
        }
        assert_eq!(
            w.events
                .iter()
                .filter(|e| e.kind == EventKind::TicketCreated)
                .count(),
            60
        );
    }

    #[test]
    fn first_event_of_each_ticket_is_its_creation() {
        let w = generate(&WorkloadSpec::default(), 3);
        let mut seen = HashSet::new();
        for e in &w.events {
            if let Some(t) = &e.ticket_id
                && seen.insert(t.clone())
            {
                assert_eq!(e.kind, EventKind::TicketCreated, "{}", e.id);
            }
        }
    }
}
