//! A synthetic, deterministic pair of run observations of `n` helpdesk
//! events, for the `checks` bench group: what `hookproof run` hands the
//! check registry after a clean run and a faulted run of the same workload.
//!
//! Each ticket has four events (created, status changed, two comments); ten
//! tickets share a requester. The clean run acks every event at the first
//! attempt and the CRM holds one contact per requester, one ticket per
//! ticket and one note per comment, associated as the canonical mapping
//! says, under other CRM ids than the faulted run's. The faulted run, seeded
//! by `seed`, adds about 1 % retried events (a 503, then an ack) with a
//! failing CRM request and `Retry-After`, 0.1 % duplicated deliveries, 0.1 %
//! lost comments (dead-lettered, note missing), 0.1 % tickets left at
//! another stage, 0.1 % drifted events, 0.1 % refused forgeries and 0.1 %
//! pre-seeded contacts: every check has work to do and some fail.

use chrono::{DateTime, Utc};
use hookproof::check::{RunObservation, Seeded};
use hookproof::crm::{Association, CrmObject, CrmSnapshot, RecordedRequest};
use hookproof::history::{
    Attempt, AttemptOutcome, DeliveryLog, DeliveryRecord, DeliveryStatus, SignatureMode,
};
use hookproof::workload::{Event, EventKind, TYPE_PREFIX, User, Workload};
use std::collections::BTreeMap;
use std::time::Duration;

/// The workload and the clean and faulted observations of one run.
pub struct Synthetic {
    /// `n` events.
    pub workload: Workload,
    /// The clean run.
    pub clean: RunObservation,
    /// The faulted run.
    pub faulted: RunObservation,
}

/// A small deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// True with probability `per_mille` / 1000.
    fn chance(&mut self, per_mille: u64) -> bool {
        self.next() % 1000 < per_mille
    }
}

fn ticket_of(t: usize) -> String {
    (70_000 + t).to_string()
}

fn comment_of(i: usize) -> String {
    (9_100_000_000 + i).to_string()
}

fn email_of(u: usize) -> String {
    format!("requester{u}@customer.example")
}

fn traceparent_of(event: usize) -> String {
    format!("00-{event:032x}-00f067aa0ba902b7-01")
}

fn workload(n: usize) -> Workload {
    let origin: DateTime<Utc> = DateTime::from_timestamp(1_736_326_800, 0).unwrap();
    let tickets = n.div_ceil(4);
    let users: Vec<User> = (0..tickets.div_ceil(10))
        .map(|u| User {
            id: (8_447_388_090_000u64 + u as u64).to_string(),
            name: format!("Requester {u}"),
            email: email_of(u),
        })
        .collect();
    let events = (0..n)
        .map(|i| {
            let t = i / 4;
            let (kind, short) = match i % 4 {
                0 => (EventKind::TicketCreated, "ticket.created"),
                1 => (EventKind::StatusChanged, "ticket.status_changed"),
                _ => (EventKind::CommentAdded, "ticket.comment_added"),
            };
            let ticket = ticket_of(t);
            let comment = (kind == EventKind::CommentAdded).then(|| comment_of(i));
            let id = format!("ev-{i}");
            Event {
                seq: i,
                body: serde_json::json!({
                    "id": id,
                    "type": format!("{TYPE_PREFIX}{short}"),
                    "detail": {"id": ticket, "requester_id": users[t / 10].id},
                }),
                id,
                event_type: format!("{TYPE_PREFIX}{short}"),
                kind,
                ticket_id: Some(ticket),
                comment_id: comment,
                time: origin + chrono::Duration::seconds(i as i64),
            }
        })
        .collect();
    Workload {
        seed: 0,
        events,
        users,
        tickets: Vec::new(),
    }
}

fn object(object_type: &str, id: usize, props: &[(&str, String)]) -> CrmObject {
    let now = DateTime::from_timestamp(1_736_326_800, 0).unwrap();
    let mut properties: BTreeMap<String, String> = props
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    properties.insert("hs_object_id".into(), id.to_string());
    properties.insert("createdate".into(), "2026-01-01T00:00:00Z".into());
    CrmObject {
        object_type: object_type.into(),
        id: id.to_string(),
        properties,
        created_at: now,
        updated_at: now,
        archived: false,
    }
}

fn association(from: (&str, usize), to: (&str, usize), type_id: u32) -> Association {
    Association {
        from_type: from.0.into(),
        from_id: from.1.to_string(),
        to_type: to.0.into(),
        to_id: to.1.to_string(),
        category: "HUBSPOT_DEFINED".into(),
        type_id,
    }
}

/// What became of one event in a run.
#[derive(Clone, Copy, PartialEq)]
enum Fate {
    Acked,
    Retried,
    Duplicated,
    Lost,
}

fn observation(w: &Workload, fates: &[Fate], stage_off: &[bool], id_base: usize) -> RunObservation {
    let mut obs = RunObservation::default();
    let mut log = DeliveryLog::default();
    let ms = |n: usize| Duration::from_millis(n as u64);
    let attempt =
        |log: &mut DeliveryLog, delivery: usize, e: &Event, n: u32, at: usize, outcome| {
            log.attempts.push(Attempt {
                delivery,
                event_id: e.id.clone(),
                event_type: e.event_type[TYPE_PREFIX.len()..].to_string(),
                ticket_id: e.ticket_id.clone(),
                attempt: n,
                started: ms(at),
                latency: ms(5 + at % 40),
                outcome,
            });
        };
    let request = |obs_requests: &mut Vec<RecordedRequest>, at: usize, event: usize, status| {
        obs_requests.push(RecordedRequest {
            seq: obs_requests.len() as u64,
            at: ms(at + 3),
            duration: ms(4),
            method: "POST".into(),
            path: "/crm/v3/objects/tickets".into(),
            query: None,
            object_type: Some("tickets".into()),
            operation: Some("create".into()),
            status,
            authorized: true,
            traceparent: Some(traceparent_of(event)),
            fault: None,
            violations: Vec::new(),
            affected: Vec::new(),
        });
    };
    let mut requests = Vec::new();
    for (i, e) in w.events.iter().enumerate() {
        let at = i * 10;
        let copies = if fates[i] == Fate::Duplicated { 2 } else { 1 };
        for _ in 0..copies {
            let delivery = log.deliveries.len();
            let (status, attempts) = match fates[i] {
                Fate::Lost => {
                    for n in 1..=3 {
                        attempt(
                            &mut log,
                            delivery,
                            e,
                            n,
                            at + n as usize,
                            AttemptOutcome::Retryable { status: 503 },
                        );
                    }
                    (DeliveryStatus::DeadLettered, 3)
                }
                Fate::Retried => {
                    attempt(
                        &mut log,
                        delivery,
                        e,
                        1,
                        at,
                        AttemptOutcome::Retryable { status: 503 },
                    );
                    request(&mut requests, at, i, 503);
                    attempt(
                        &mut log,
                        delivery,
                        e,
                        2,
                        at + 2,
                        AttemptOutcome::Acked { status: 200 },
                    );
                    (DeliveryStatus::Acked, 2)
                }
                _ => {
                    attempt(
                        &mut log,
                        delivery,
                        e,
                        1,
                        at,
                        AttemptOutcome::Acked { status: 200 },
                    );
                    (DeliveryStatus::Acked, 1)
                }
            };
            log.deliveries.push(DeliveryRecord {
                index: delivery,
                event_id: e.id.clone(),
                event_seq: Some(e.seq),
                event_type: e.event_type[TYPE_PREFIX.len()..].to_string(),
                signature: SignatureMode::Valid,
                origin: if copies == 2 { "duplicate" } else { "original" }.into(),
                status,
                attempts,
                traceparent: traceparent_of(i),
            });
            if status == DeliveryStatus::Acked {
                request(&mut requests, at + 1, i, 201);
            }
        }
    }
    obs.log = log;
    obs.crm_requests = requests;
    // The CRM state: objects under CRM ids from `id_base` on.
    let mut s = CrmSnapshot::default();
    let mut next = id_base;
    let mut id = || {
        next += 1;
        next
    };
    let contacts: Vec<usize> = w
        .users
        .iter()
        .map(|user| {
            let cid = id();
            s.objects.entry("contacts".into()).or_default().push(object(
                "contacts",
                cid,
                &[
                    ("email", user.email.clone()),
                    ("firstname", user.name.clone()),
                ],
            ));
            cid
        })
        .collect();
    let mut ticket_ids = Vec::new();
    for (i, e) in w.events.iter().enumerate() {
        let t = i / 4;
        match e.kind {
            EventKind::TicketCreated => {
                let tid = id();
                let stage = if stage_off[t] { "2" } else { "4" };
                s.objects.entry("tickets".into()).or_default().push(object(
                    "tickets",
                    tid,
                    &[
                        ("helpdesk_ticket_id", ticket_of(t)),
                        ("subject", format!("Ticket {t}")),
                        ("hs_pipeline_stage", stage.into()),
                    ],
                ));
                s.associations.push(association(
                    ("tickets", tid),
                    ("contacts", contacts[t / 10]),
                    16,
                ));
                ticket_ids.push(tid);
            }
            EventKind::CommentAdded if fates[i] != Fate::Lost => {
                let nid = id();
                s.objects.entry("notes".into()).or_default().push(object(
                    "notes",
                    nid,
                    &[
                        ("helpdesk_comment_id", comment_of(i)),
                        (
                            "hs_note_body",
                            format!("Comment {} on ticket {}", comment_of(i), ticket_of(t)),
                        ),
                    ],
                ));
                s.associations
                    .push(association(("notes", nid), ("tickets", ticket_ids[t]), 228));
            }
            _ => {}
        }
    }
    obs.snapshot = s;
    obs
}

/// The synthetic workload of `n` events and its two observations.
pub fn synthetic(n: usize, seed: u64) -> Synthetic {
    let workload = workload(n);
    let tickets = n.div_ceil(4);
    let clean = observation(&workload, &vec![Fate::Acked; n], &vec![false; tickets], 0);
    let mut rng = Rng(seed);
    let fates: Vec<Fate> = workload
        .events
        .iter()
        .map(|e| match rng.next() % 1000 {
            0 if e.kind == EventKind::CommentAdded => Fate::Lost,
            1 => Fate::Duplicated,
            2..=11 => Fate::Retried,
            _ => Fate::Acked,
        })
        .collect();
    let stage_off: Vec<bool> = (0..tickets).map(|_| rng.chance(1)).collect();
    let mut faulted = observation(&workload, &fates, &stage_off, 5 * n);
    faulted.retry_after = Some(Duration::from_secs(1));
    faulted.drifted = workload
        .events
        .iter()
        .filter(|_| rng.chance(1))
        .map(|e| e.id.clone())
        .collect();
    // Forgeries: refused, with markers no CRM object carries.
    for f in 0..n / 1000 {
        let delivery = faulted.log.deliveries.len();
        let event_id = format!("forged-{f}");
        faulted.log.attempts.push(Attempt {
            delivery,
            event_id: event_id.clone(),
            event_type: "ticket.status_changed".into(),
            ticket_id: Some((990_000 + f).to_string()),
            attempt: 1,
            started: Duration::from_millis((f * 9_973) as u64),
            latency: Duration::from_millis(2),
            outcome: AttemptOutcome::Rejected { status: 401 },
        });
        faulted.log.deliveries.push(DeliveryRecord {
            index: delivery,
            event_id,
            event_seq: None,
            event_type: "ticket.status_changed".into(),
            signature: SignatureMode::Forged,
            origin: "forgery".into(),
            status: DeliveryStatus::Rejected,
            attempts: 1,
            traceparent: traceparent_of(n + f),
        });
        faulted.forged_markers.push((990_000 + f).to_string());
    }
    // Pre-seeded contacts and their CRM-owned properties.
    faulted.seeded = workload
        .users
        .iter()
        .filter(|_| rng.chance(1))
        .map(|u| Seeded {
            object_type: "contacts".into(),
            key: "email".into(),
            value: u.email.clone(),
            owned: [("lifecyclestage".to_string(), String::new())].into(),
        })
        .collect();
    Synthetic {
        workload,
        clean,
        faulted,
    }
}

/// Reads every string of `run` once (its length and first byte): the least
/// any check that looks at every recorded fact must do, and so a floor for
/// `run_checks`. Returns a sum the caller must `black_box`.
pub fn read_every_string(run: &RunObservation) -> u64 {
    fn s(v: &str) -> u64 {
        v.len() as u64 + u64::from(v.as_bytes().first().copied().unwrap_or(0))
    }
    fn o(v: &Option<String>) -> u64 {
        v.as_deref().map_or(0, s)
    }
    let mut sum = 0;
    for a in &run.log.attempts {
        sum += s(&a.event_id) + s(&a.event_type) + o(&a.ticket_id);
    }
    for d in &run.log.deliveries {
        sum += s(&d.event_id) + s(&d.event_type) + s(&d.origin) + s(&d.traceparent);
    }
    for r in &run.crm_requests {
        sum += s(&r.method) + s(&r.path) + o(&r.query) + o(&r.object_type) + o(&r.operation);
        sum += o(&r.traceparent) + o(&r.fault);
        sum += r.affected.iter().map(|(t, id)| s(t) + s(id)).sum::<u64>();
        sum += r.violations.iter().map(|v| s(&v.pointer)).sum::<u64>();
    }
    for (object_type, objects) in &run.snapshot.objects {
        sum += s(object_type);
        for object in objects {
            sum += s(&object.object_type) + s(&object.id);
            sum += object
                .properties
                .iter()
                .map(|(k, v)| s(k) + s(v))
                .sum::<u64>();
        }
    }
    for a in &run.snapshot.associations {
        sum += s(&a.from_type) + s(&a.from_id) + s(&a.to_type) + s(&a.to_id) + s(&a.category);
    }
    sum
}
