//! Builders for hand-made histories, so every check can be unit-tested
//! without servers or processes: a tiny hand-built workload, the CRM state a
//! correct receiver leaves for it, a [`RunObservation`] builder and a
//! [`Case`] that owns everything a [`CheckInput`] borrows.

use super::diff::tests::{object, state};
use super::input::{CheckInput, RunObservation, Seeded, Settle};
use super::mapping::Mapping;
use super::verdict::{CheckName, CheckResult, Verdict};
use crate::contract::Violation;
use crate::crm::{CrmObject, CrmSnapshot, RecordedRequest};
use crate::history::{
    Attempt, AttemptOutcome, DeliveryRecord, DeliveryStatus, SignatureMode, SutEvent,
};
use crate::scenario::{Scenario, parse};
use crate::workload::{Event, EventKind, TYPE_PREFIX, User, Workload};
use std::collections::HashMap;
use std::time::Duration;

/// Ticket 70001 is created (requester Ada).
pub(crate) const CREATE_1: &str = "ev-create-1";
/// Ticket 70002 is created (requester Grace).
pub(crate) const CREATE_2: &str = "ev-create-2";
/// Ticket 70001 goes to SOLVED.
pub(crate) const STATUS_1: &str = "ev-status-1";
/// Comment 9100000001 is added to ticket 70001.
pub(crate) const COMMENT_1: &str = "ev-comment-1";
/// Every event of [`workload`], in emission order.
pub(crate) const EVENTS: &[&str] = &[CREATE_1, CREATE_2, STATUS_1, COMMENT_1];

pub(crate) const TICKET_1: &str = "70001";
pub(crate) const TICKET_2: &str = "70002";
pub(crate) const COMMENT_ID: &str = "9100000001";
pub(crate) const ADA: &str = "ada.lovelace0@customer.example";
pub(crate) const GRACE: &str = "grace.hopper1@customer.example";
pub(crate) const NOTE_BODY: &str = "Comment 9100000001 on ticket 70001: Export to CSV times out";

const ADA_ID: &str = "8447388090001";
const GRACE_ID: &str = "8447388090002";

fn event(
    seq: usize,
    id: &str,
    short: &str,
    ticket: &str,
    requester: &str,
    status: &str,
    comment: Option<&str>,
) -> Event {
    let time = chrono::DateTime::parse_from_rfc3339("2025-01-08T09:00:00Z")
        .unwrap()
        .to_utc()
        + chrono::Duration::seconds(seq as i64 * 60);
    let kind = match short {
        "ticket.created" => EventKind::TicketCreated,
        "ticket.status_changed" => EventKind::StatusChanged,
        "ticket.comment_added" => EventKind::CommentAdded,
        _ => EventKind::Noise,
    };
    let inner = match comment {
        Some(c) => serde_json::json!({"comment": {"id": c, "body": NOTE_BODY, "is_public": true}}),
        None => serde_json::json!({}),
    };
    Event {
        seq,
        id: id.to_string(),
        event_type: format!("{TYPE_PREFIX}{short}"),
        kind,
        ticket_id: Some(ticket.to_string()),
        comment_id: comment.map(str::to_string),
        time,
        body: serde_json::json!({
            "id": id,
            "type": format!("{TYPE_PREFIX}{short}"),
            "subject": format!("zen:ticket:{ticket}"),
            "detail": {"id": ticket, "requester_id": requester, "status": status},
            "event": inner,
        }),
    }
}

/// Two tickets by two requesters, a status change and a comment on the first.
pub(crate) fn workload() -> Workload {
    let events = vec![
        event(0, CREATE_1, "ticket.created", TICKET_1, ADA_ID, "NEW", None),
        event(
            1,
            CREATE_2,
            "ticket.created",
            TICKET_2,
            GRACE_ID,
            "NEW",
            None,
        ),
        event(
            2,
            STATUS_1,
            "ticket.status_changed",
            TICKET_1,
            ADA_ID,
            "SOLVED",
            None,
        ),
        event(
            3,
            COMMENT_1,
            "ticket.comment_added",
            TICKET_1,
            ADA_ID,
            "SOLVED",
            Some(COMMENT_ID),
        ),
    ];
    let user = |id: &str, name: &str, email: &str| User {
        id: id.into(),
        name: name.into(),
        email: email.into(),
    };
    Workload {
        seed: 0,
        events,
        users: vec![
            user(ADA_ID, "Ada Lovelace", ADA),
            user(GRACE_ID, "Grace Hopper", GRACE),
        ],
        tickets: Vec::new(),
    }
}

/// The final CRM state a correct receiver leaves for [`workload`]: contacts
/// 1 (Ada) and 2 (Grace), tickets 3 (70001, solved) and 4 (70002), note 5,
/// tickets associated with their requester, the note with its ticket.
pub(crate) fn correct_state() -> CrmSnapshot {
    state(
        vec![
            object("contacts", "1", &[("email", ADA), ("firstname", "Ada")]),
            object("contacts", "2", &[("email", GRACE), ("firstname", "Grace")]),
            object(
                "tickets",
                "3",
                &[
                    ("helpdesk_ticket_id", TICKET_1),
                    ("subject", "Export to CSV times out"),
                    ("hs_pipeline_stage", "4"),
                ],
            ),
            object(
                "tickets",
                "4",
                &[
                    ("helpdesk_ticket_id", TICKET_2),
                    ("subject", "SSO with Okta fails"),
                    ("hs_pipeline_stage", "1"),
                ],
            ),
            object(
                "notes",
                "5",
                &[
                    ("hs_note_body", NOTE_BODY),
                    ("helpdesk_comment_id", COMMENT_ID),
                ],
            ),
        ],
        &[
            ("tickets", "3", "contacts", "1"),
            ("tickets", "4", "contacts", "2"),
            ("notes", "5", "tickets", "3"),
        ],
    )
}

/// Removes the object with CRM id `id` and every association touching it.
pub(crate) fn remove_object(snapshot: &mut CrmSnapshot, id: &str) {
    for objects in snapshot.objects.values_mut() {
        objects.retain(|o| o.id != id);
    }
    snapshot
        .associations
        .retain(|a| a.from_id != id && a.to_id != id);
}

/// Removes the association `from_id → to_id`.
pub(crate) fn remove_association(snapshot: &mut CrmSnapshot, from_id: &str, to_id: &str) {
    snapshot
        .associations
        .retain(|a| !(a.from_id == from_id && a.to_id == to_id));
}

/// Sets `property` of the object with CRM id `id`.
pub(crate) fn set_property(snapshot: &mut CrmSnapshot, id: &str, property: &str, value: &str) {
    let o = snapshot
        .objects
        .values_mut()
        .flatten()
        .find(|o| o.id == id)
        .unwrap_or_else(|| panic!("no object {id}"));
    o.properties.insert(property.into(), value.into());
}

/// Adds an object.
pub(crate) fn add_object(snapshot: &mut CrmSnapshot, o: CrmObject) {
    snapshot
        .objects
        .entry(o.object_type.clone())
        .or_default()
        .push(o);
}

/// A copy of the object with CRM id `id` under the new id `new_id`.
pub(crate) fn copy_of(snapshot: &CrmSnapshot, id: &str, new_id: &str) -> CrmObject {
    let mut o = snapshot
        .objects
        .values()
        .flatten()
        .find(|o| o.id == id)
        .unwrap_or_else(|| panic!("no object {id}"))
        .clone();
    o.id = new_id.into();
    o.properties.insert("hs_object_id".into(), new_id.into());
    o
}

/// A scenario; `extra` is appended TOML (`[checks]`, `[[fault]]`, …).
pub(crate) fn scenario(extra: &str) -> Scenario {
    parse(
        &format!("name = \"unit\"\ndescription = \"hand-built history\"\n{extra}"),
        "unit.toml",
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// A 32-hex-digit trace id derived from `event_id`.
pub(crate) fn trace_id_of(event_id: &str) -> String {
    let digest = <sha2::Sha256 as sha2::Digest>::digest(event_id.as_bytes());
    hex::encode(digest)[..32].to_string()
}

/// The W3C `traceparent` deliveries of `event_id` carry.
pub(crate) fn traceparent_of(event_id: &str) -> String {
    format!("00-{}-00f067aa0ba902b7-01", trace_id_of(event_id))
}

/// 2xx.
pub(crate) fn acked() -> AttemptOutcome {
    AttemptOutcome::Acked { status: 200 }
}

/// 2xx the producer never saw.
pub(crate) fn ack_lost() -> AttemptOutcome {
    AttemptOutcome::AckLost { status: 200 }
}

/// A retryable status.
pub(crate) fn retryable(status: u16) -> AttemptOutcome {
    AttemptOutcome::Retryable { status }
}

/// A permanent 4xx.
pub(crate) fn rejected(status: u16) -> AttemptOutcome {
    AttemptOutcome::Rejected { status }
}

/// One CRM request; change it with the chained setters.
#[derive(Debug, Clone)]
pub(crate) struct Req(RecordedRequest);

impl Req {
    /// `POST /crm/v3/objects/tickets` arriving at `at_ms`, answered `status` after 5 ms, no traceparent.
    pub(crate) fn new(at_ms: u64, status: u16) -> Req {
        Req(RecordedRequest {
            seq: 0,
            at: Duration::from_millis(at_ms),
            duration: Duration::from_millis(5),
            method: "POST".into(),
            path: "/crm/v3/objects/tickets".into(),
            query: None,
            object_type: Some("tickets".into()),
            operation: Some("create".into()),
            status,
            authorized: true,
            traceparent: None,
            fault: None,
            violations: Vec::new(),
            affected: Vec::new(),
        })
    }

    pub(crate) fn duration_ms(mut self, ms: u64) -> Req {
        self.0.duration = Duration::from_millis(ms);
        self
    }

    pub(crate) fn method_path(mut self, method: &str, path: &str) -> Req {
        self.0.method = method.into();
        self.0.path = path.into();
        self
    }

    pub(crate) fn traceparent(mut self, tp: &str) -> Req {
        self.0.traceparent = Some(tp.into());
        self
    }

    /// Carries the trace context of `event_id`'s deliveries.
    pub(crate) fn traced(self, event_id: &str) -> Req {
        self.traceparent(&traceparent_of(event_id))
    }

    pub(crate) fn violation(mut self, v: Violation) -> Req {
        self.0.violations.push(v);
        self
    }
}

/// A contract violation.
pub(crate) fn violation(contract: &str, pointer: &str, message: &str) -> Violation {
    Violation {
        contract: contract.into(),
        pointer: pointer.into(),
        message: message.into(),
    }
}

/// Builds a [`RunObservation`]. Deliveries of workload events take their
/// type and sequence number from the workload; others (forgeries, new event
/// types) are `ticket.status_changed` with no sequence number.
pub(crate) struct Run {
    obs: RunObservation,
    events: HashMap<String, (usize, String, Option<String>)>,
    clock: u64,
}

impl Run {
    /// An empty, settled run of `workload`'s events.
    pub(crate) fn new(workload: &Workload) -> Run {
        Run {
            obs: RunObservation {
                settle: Some(Settle::Settled),
                ..RunObservation::default()
            },
            events: workload
                .events
                .iter()
                .map(|e| {
                    (
                        e.id.clone(),
                        (e.seq, e.short_type().to_string(), e.ticket_id.clone()),
                    )
                })
                .collect(),
            clock: 0,
        }
    }

    /// A settled run in which every event of [`workload`] was delivered once
    /// and acked in 5 ms, leaving [`correct_state`].
    pub(crate) fn all_acked() -> Run {
        let w = workload();
        let mut run = Run::new(&w);
        for e in &w.events {
            run = run.ack(&e.id);
        }
        run.snapshot(correct_state())
    }

    /// A delivery of `event_id` with `attempts` as `(start ms, latency ms,
    /// outcome)`; its status follows the last outcome (2xx → acked, other
    /// 4xx → rejected, anything else → dead-lettered, none → open).
    pub(crate) fn deliver(
        mut self,
        event_id: &str,
        origin: &str,
        signature: SignatureMode,
        attempts: &[(u64, u64, AttemptOutcome)],
    ) -> Run {
        let index = self.obs.log.deliveries.len();
        let (seq, event_type, ticket_id) = match self.events.get(event_id) {
            Some((seq, t, ticket)) => (Some(*seq), t.clone(), ticket.clone()),
            None => (None, "ticket.status_changed".to_string(), None),
        };
        for (n, (start, latency, outcome)) in attempts.iter().enumerate() {
            self.obs.log.attempts.push(Attempt {
                delivery: index,
                event_id: event_id.into(),
                event_type: event_type.clone(),
                ticket_id: ticket_id.clone(),
                attempt: n as u32 + 1,
                started: Duration::from_millis(*start),
                latency: Duration::from_millis(*latency),
                outcome: outcome.clone(),
            });
            self.clock = self.clock.max(start + latency);
        }
        let status = match attempts.last().map(|a| &a.2) {
            None => DeliveryStatus::Open,
            Some(AttemptOutcome::Acked { .. }) => DeliveryStatus::Acked,
            Some(AttemptOutcome::Rejected { .. }) => DeliveryStatus::Rejected,
            Some(_) => DeliveryStatus::DeadLettered,
        };
        self.obs.log.deliveries.push(DeliveryRecord {
            index,
            event_id: event_id.into(),
            event_seq: seq,
            event_type,
            signature,
            origin: origin.into(),
            status,
            attempts: attempts.len() as u32,
            traceparent: traceparent_of(event_id),
        });
        self
    }

    /// A valid original delivery of `event_id`, acked in 5 ms at the next 10 ms tick.
    pub(crate) fn ack(self, event_id: &str) -> Run {
        let t = self.clock + 10;
        self.ack_at(event_id, t, 5)
    }

    /// A valid original delivery of `event_id` starting at `start_ms`, acked after `latency_ms`.
    pub(crate) fn ack_at(self, event_id: &str, start_ms: u64, latency_ms: u64) -> Run {
        self.deliver(
            event_id,
            "original",
            SignatureMode::Valid,
            &[(start_ms, latency_ms, acked())],
        )
    }

    /// A valid original delivery of `event_id` that failed with 503 three times and dead-lettered.
    pub(crate) fn dead_letter(self, event_id: &str) -> Run {
        let t = self.clock + 10;
        self.deliver(
            event_id,
            "original",
            SignatureMode::Valid,
            &[
                (t, 5, retryable(503)),
                (t + 100, 5, retryable(503)),
                (t + 300, 5, retryable(503)),
            ],
        )
    }

    /// A CRM request; its `seq` is its position (1-based).
    pub(crate) fn request(mut self, req: Req) -> Run {
        let mut r = req.0;
        r.seq = self.obs.crm_requests.len() as u64 + 1;
        self.obs.crm_requests.push(r);
        self
    }

    pub(crate) fn snapshot(mut self, snapshot: CrmSnapshot) -> Run {
        self.obs.snapshot = snapshot;
        self
    }

    /// Changes the snapshot in place.
    pub(crate) fn edit(mut self, f: impl FnOnce(&mut CrmSnapshot)) -> Run {
        f(&mut self.obs.snapshot);
        self
    }

    pub(crate) fn sut_event(mut self, at_ms: u64, what: &str) -> Run {
        self.obs.sut_events.push(SutEvent {
            at: Duration::from_millis(at_ms),
            what: what.into(),
            detail: String::new(),
        });
        self
    }

    /// A SIGKILL at `at_ms` and the restart 100 ms later.
    pub(crate) fn kill_at(self, at_ms: u64) -> Run {
        self.sut_event(at_ms, "killed")
            .sut_event(at_ms + 100, "restarted")
    }

    /// A pre-seeded object with its CRM-owned properties.
    pub(crate) fn seeded(
        mut self,
        object_type: &str,
        key: &str,
        value: &str,
        owned: &[(&str, &str)],
    ) -> Run {
        self.obs.seeded.push(Seeded {
            object_type: object_type.into(),
            key: key.into(),
            value: value.into(),
            owned: owned
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        });
        self
    }

    pub(crate) fn drifted(mut self, ids: &[&str]) -> Run {
        self.obs.drifted = ids.iter().map(|s| s.to_string()).collect();
        self
    }

    pub(crate) fn replayed(mut self, ids: &[&str]) -> Run {
        self.obs.replayed = ids.iter().map(|s| s.to_string()).collect();
        self
    }

    pub(crate) fn retry_after_ms(mut self, ms: u64) -> Run {
        self.obs.retry_after = Some(Duration::from_millis(ms));
        self
    }

    pub(crate) fn forged_marker(mut self, marker: &str) -> Run {
        self.obs.forged_markers.push(marker.into());
        self
    }

    pub(crate) fn event_violation(mut self, event_id: &str, v: Violation) -> Run {
        self.obs.event_violations.push((event_id.into(), v));
        self
    }

    /// The settle phase hit its deadline.
    pub(crate) fn timed_out(mut self, reason: &str) -> Run {
        self.obs.settle = Some(Settle::TimedOut {
            reason: reason.into(),
        });
        self
    }

    pub(crate) fn build(self) -> RunObservation {
        self.obs
    }
}

/// Everything a [`CheckInput`] borrows.
pub(crate) struct Case {
    pub(crate) scenario: Scenario,
    pub(crate) workload: Workload,
    pub(crate) clean: RunObservation,
    pub(crate) faulted: RunObservation,
    pub(crate) mapping: Option<Mapping>,
}

impl Case {
    /// [`workload`] with a clean run in which everything was acked and a
    /// faulted run; default scenario, no declared mapping.
    pub(crate) fn new(faulted: Run) -> Case {
        Case::with(Run::all_acked(), faulted)
    }

    pub(crate) fn with(clean: Run, faulted: Run) -> Case {
        Case {
            scenario: scenario(""),
            workload: workload(),
            clean: clean.build(),
            faulted: faulted.build(),
            mapping: None,
        }
    }

    /// Appends `toml` to the scenario.
    pub(crate) fn scenario(mut self, toml: &str) -> Case {
        self.scenario = scenario(toml);
        self
    }

    pub(crate) fn mapping(mut self, mapping: Mapping) -> Case {
        self.mapping = Some(mapping);
        self
    }

    pub(crate) fn input(&self) -> CheckInput<'_> {
        CheckInput {
            scenario: &self.scenario,
            workload: &self.workload,
            clean: &self.clean,
            faulted: &self.faulted,
            mapping: self.mapping.as_ref(),
        }
    }

    /// One state check.
    pub(crate) fn state_check(&self, check: CheckName) -> CheckResult {
        let mut results = super::state::state_checks(&self.input(), &[check]);
        assert_eq!(results.len(), 1, "{results:#?}");
        results.remove(0)
    }
}

/// Asserts the verdict, printing the whole result when it differs.
#[track_caller]
pub(crate) fn assert_verdict(result: &CheckResult, verdict: Verdict) {
    assert_eq!(result.verdict, verdict, "{result:#?}");
}

/// Every event id named in the evidence, sorted, deduplicated.
pub(crate) fn evidence_ids(result: &CheckResult) -> Vec<String> {
    let mut ids: Vec<String> = result
        .evidence
        .iter()
        .flat_map(|e| e.event_ids.iter().cloned())
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// Whether any evidence line contains `needle`.
pub(crate) fn evidence_mentions(result: &CheckResult, needle: &str) -> bool {
    result.evidence.iter().any(|e| e.what.contains(needle))
}

/// Asserts the summary contains `needle`.
#[track_caller]
pub(crate) fn assert_summary(result: &CheckResult, needle: &str) {
    assert!(
        result.summary.contains(needle),
        "summary {:?} lacks {needle:?}",
        result.summary
    );
}

/// Sorted ids.
pub(crate) fn ids(v: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

mod selftest {
    use super::*;

    #[test]
    fn the_kit_builds_what_it_says() {
        let w = workload();
        assert_eq!(
            w.events.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
            EVENTS
        );
        let run = Run::all_acked().dead_letter(STATUS_1).build();
        assert_eq!(run.log.deliveries.len(), 5);
        assert_eq!(run.log.deliveries[4].status, DeliveryStatus::DeadLettered);
        assert_eq!(run.log.deliveries[4].event_seq, Some(2));
        assert_eq!(run.log.attempts_of(4).count(), 3);
        let index = run.log.index();
        assert_eq!(index.attempts_of(4).count(), 3);
        assert!(index.sut_acked_event(CREATE_1));
        assert!(index.sut_owes_event(STATUS_1) && !index.sut_owes_event("ev-unknown"));
        assert_eq!(index.deliveries_of(STATUS_1).count(), 2);
        assert!(super::super::audit::trace_id(&traceparent_of(CREATE_1)).is_some());
        // The correct state has no differences with itself but is not empty.
        assert!(
            super::super::diff_states(&correct_state(), &correct_state())
                .differences
                .is_empty()
        );
        assert_eq!(correct_state().associations.len(), 3);
    }

    #[test]
    fn owed_events_agree_with_owes_event_whatever_the_positions_say() {
        let w = workload();
        // Acked, dead-lettered, refused and never delivered events.
        let mut run = Run::new(&w)
            .ack(EVENTS[0])
            .dead_letter(EVENTS[1])
            .deliver(
                EVENTS[2],
                "original",
                SignatureMode::Valid,
                &[(50, 5, AttemptOutcome::Rejected { status: 422 })],
            )
            .ack(EVENTS[3])
            .build();
        let agree = |log: &crate::history::DeliveryLog| {
            let index = log.index();
            let by_id: Vec<bool> = w
                .events
                .iter()
                .map(|e| index.sut_owes_event(&e.id))
                .collect();
            assert_eq!(index.owed_events(&w.events), by_id);
            by_id
        };
        let owed = agree(&run.log);
        assert_eq!(owed[..4], [true, false, true, true]);
        assert!(owed[4..].iter().all(|owed| !owed));
        // A delivery naming the wrong position or none: found by id.
        run.log.deliveries[0].event_seq = Some(3);
        run.log.deliveries[1].event_seq = None;
        run.log.deliveries[2].event_seq = Some(99);
        agree(&run.log);
    }
}
