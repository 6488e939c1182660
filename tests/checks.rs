//! Every check, passing and failing, on hand-built histories: no servers, no
//! processes, just the recorded history a run would produce.

use chrono::Utc;
use hookproof::check::{
    CheckInput, CheckName, Mapping, RunObservation, Seeded, Settle, Verdict, run_checks,
};
use hookproof::crm::{Association, CrmObject, CrmSnapshot, RecordedRequest};
use hookproof::history::{
    Attempt, AttemptOutcome, DeliveryLog, DeliveryRecord, DeliveryStatus, SignatureMode, SutEvent,
};
use hookproof::scenario::{Scenario, parse};
use hookproof::workload::{EventKind, Workload, WorkloadSpec, generate};
use std::collections::BTreeMap;
use std::time::Duration;

const TRACE: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

fn scenario(checks: &[&str]) -> Scenario {
    let names: Vec<String> = checks.iter().map(|c| format!("\"{c}\"")).collect();
    parse(
        &format!(
            "name = \"t\"\ndescription = \"d\"\n[checks]\nrequire = [{}]\n",
            names.join(", ")
        ),
        "t.toml",
    )
    .unwrap()
}

fn workload() -> Workload {
    generate(
        &WorkloadSpec {
            tickets: 2,
            requesters: 2,
            comments: 1,
            status_changes: 0,
            priority_changes: 0,
            noise: 0.0,
        },
        9,
    )
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A delivery log where every event of `w` was delivered once with `outcome`.
fn log_all(w: &Workload, outcome: AttemptOutcome) -> DeliveryLog {
    let mut log = DeliveryLog::default();
    for (i, e) in w.events.iter().enumerate() {
        push(
            &mut log,
            &e.id,
            e.short_type(),
            SignatureMode::Valid,
            "original",
            outcome.clone(),
            ms(i as u64),
            ms(3),
        );
    }
    log
}

#[allow(clippy::too_many_arguments)]
fn push(
    log: &mut DeliveryLog,
    event_id: &str,
    event_type: &str,
    signature: SignatureMode,
    origin: &str,
    outcome: AttemptOutcome,
    started: Duration,
    latency: Duration,
) {
    let index = log.deliveries.len();
    let status = match outcome {
        AttemptOutcome::Acked { .. } => DeliveryStatus::Acked,
        AttemptOutcome::Rejected { .. } => DeliveryStatus::Rejected,
        _ => DeliveryStatus::DeadLettered,
    };
    log.deliveries.push(DeliveryRecord {
        index,
        event_id: event_id.into(),
        event_seq: None,
        event_type: event_type.into(),
        signature,
        origin: origin.into(),
        status,
        attempts: 1,
        traceparent: TRACE.into(),
    });
    log.attempts.push(Attempt {
        delivery: index,
        event_id: event_id.into(),
        event_type: event_type.into(),
        ticket_id: None,
        attempt: 1,
        started,
        latency,
        outcome,
    });
}

fn object(t: &str, id: &str, props: &[(&str, &str)]) -> CrmObject {
    CrmObject {
        object_type: t.into(),
        id: id.into(),
        properties: props
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        created_at: Utc::now(),
        updated_at: Utc::now(),
        archived: false,
    }
}

/// The state the canonical mapping implies for `w`.
fn canonical_state(w: &Workload) -> CrmSnapshot {
    let mut s = CrmSnapshot::default();
    let email_of: BTreeMap<&str, &str> = w
        .users
        .iter()
        .map(|u| (u.id.as_str(), u.email.as_str()))
        .collect();
    let mut next = 100;
    let mut ticket_ids = BTreeMap::new();
    let mut contact_ids = BTreeMap::new();
    for e in &w.events {
        let ticket = e.ticket_id.clone().unwrap_or_default();
        match e.kind {
            EventKind::TicketCreated => {
                let email = email_of[e.body["detail"]["requester_id"].as_str().unwrap()];
                let cid = contact_ids
                    .entry(email.to_string())
                    .or_insert_with(|| {
                        next += 1;
                        s.objects.entry("contacts".into()).or_default().push(object(
                            "contacts",
                            &next.to_string(),
                            &[("email", email)],
                        ));
                        next.to_string()
                    })
                    .clone();
                next += 1;
                let tid = next.to_string();
                s.objects.entry("tickets".into()).or_default().push(object(
                    "tickets",
                    &tid,
                    &[("helpdesk_ticket_id", &ticket), ("hs_pipeline_stage", "1")],
                ));
                s.associations.push(Association {
                    from_type: "tickets".into(),
                    from_id: tid.clone(),
                    to_type: "contacts".into(),
                    to_id: cid,
                    category: "HUBSPOT_DEFINED".into(),
                    type_id: 16,
                });
                ticket_ids.insert(ticket, tid);
            }
            EventKind::CommentAdded => {
                next += 1;
                let nid = next.to_string();
                let c = e.comment_id.clone().unwrap();
                s.objects.entry("notes".into()).or_default().push(object(
                    "notes",
                    &nid,
                    &[("helpdesk_comment_id", &c), ("hs_note_body", "b")],
                ));
                s.associations.push(Association {
                    from_type: "notes".into(),
                    from_id: nid,
                    to_type: "tickets".into(),
                    to_id: ticket_ids[&ticket].clone(),
                    category: "HUBSPOT_DEFINED".into(),
                    type_id: 228,
                });
            }
            _ => {}
        }
    }
    s
}

fn observation(w: &Workload) -> RunObservation {
    RunObservation {
        log: log_all(w, AttemptOutcome::Acked { status: 200 }),
        snapshot: canonical_state(w),
        ..RunObservation::default()
    }
}

fn verdict(
    s: &Scenario,
    w: &Workload,
    clean: &RunObservation,
    faulted: &RunObservation,
    mapping: Option<&Mapping>,
    check: CheckName,
) -> (Verdict, String, Vec<String>) {
    let input = CheckInput {
        scenario: s,
        workload: w,
        clean,
        faulted,
        mapping,
    };
    let r = run_checks(&input)
        .into_iter()
        .find(|r| r.check == check)
        .unwrap();
    let evidence = r
        .evidence
        .iter()
        .map(|e| format!("{} {:?}", e.what, e.event_ids))
        .collect();
    (r.verdict, r.summary, evidence)
}

fn remove_first(s: &mut CrmSnapshot, t: &str) -> CrmObject {
    s.objects.get_mut(t).unwrap().remove(0)
}

#[test]
fn state_checks_pass_on_identical_states_and_unknown_when_unsettled() {
    let w = workload();
    let s = scenario(&["no_loss", "idempotent", "converges"]);
    let clean = observation(&w);
    let faulted = observation(&w);
    for c in [
        CheckName::NoLoss,
        CheckName::Idempotent,
        CheckName::Converges,
    ] {
        assert_eq!(
            verdict(&s, &w, &clean, &faulted, None, c).0,
            Verdict::Pass,
            "{c}"
        );
    }
    let mut stuck = observation(&w);
    stuck.settle = Some(Settle::TimedOut {
        reason: "still busy".into(),
    });
    let (v, summary, _) = verdict(&s, &w, &clean, &stuck, None, CheckName::NoLoss);
    assert_eq!(v, Verdict::Unknown);
    assert!(summary.contains("still busy"), "{summary}");
}

#[test]
fn no_loss_fails_on_a_missing_effect_of_an_acked_event_and_names_it() {
    let w = workload();
    let s = scenario(&["no_loss"]);
    let clean = observation(&w);
    let mut faulted = observation(&w);
    let gone = remove_first(&mut faulted.snapshot, "notes");
    let comment = gone.properties["helpdesk_comment_id"].clone();
    let event = w
        .events
        .iter()
        .find(|e| e.comment_id.as_deref() == Some(&comment))
        .unwrap();
    let (v, _, evidence) = verdict(&s, &w, &clean, &faulted, None, CheckName::NoLoss);
    assert_eq!(v, Verdict::Fail);
    assert!(
        evidence.iter().any(|e| e.contains(&event.id)),
        "{evidence:?}"
    );
    // The same loss is excused when that event dead-lettered without an ack.
    faulted.log = log_all(&w, AttemptOutcome::Acked { status: 200 });
    let i = faulted
        .log
        .deliveries
        .iter()
        .position(|d| d.event_id == event.id)
        .unwrap();
    faulted.log.deliveries[i].status = DeliveryStatus::DeadLettered;
    faulted.log.attempts[i].outcome = AttemptOutcome::Retryable { status: 503 };
    let (v, summary, _) = verdict(&s, &w, &clean, &faulted, None, CheckName::NoLoss);
    assert_eq!(v, Verdict::Pass, "{summary}");
    assert!(summary.contains("dead-lettered"), "{summary}");
    // But not when the SUT refused the valid event with a permanent 4xx.
    faulted.log.deliveries[i].status = DeliveryStatus::Rejected;
    faulted.log.attempts[i].outcome = AttemptOutcome::Rejected { status: 400 };
    assert_eq!(
        verdict(&s, &w, &clean, &faulted, None, CheckName::NoLoss).0,
        Verdict::Fail
    );
}

#[test]
fn idempotent_fails_on_a_duplicate_note_and_converges_on_a_changed_property() {
    let w = workload();
    let s = scenario(&["idempotent", "converges"]);
    let clean = observation(&w);
    let mut faulted = observation(&w);
    let mut copy = faulted.snapshot.objects["notes"][0].clone();
    copy.id = "999".into();
    faulted
        .snapshot
        .objects
        .get_mut("notes")
        .unwrap()
        .push(copy);
    let (v, summary, _) = verdict(&s, &w, &clean, &faulted, None, CheckName::Idempotent);
    assert_eq!(v, Verdict::Fail);
    assert!(summary.contains("duplicated"), "{summary}");
    assert_eq!(
        verdict(&s, &w, &clean, &faulted, None, CheckName::Converges).0,
        Verdict::Pass
    );
    let mut diverged = observation(&w);
    diverged.snapshot.objects.get_mut("tickets").unwrap()[0]
        .properties
        .insert("hs_pipeline_stage".into(), "4".into());
    let (v, _, evidence) = verdict(&s, &w, &clean, &diverged, None, CheckName::Converges);
    assert_eq!(v, Verdict::Fail);
    assert!(evidence[0].contains("hs_pipeline_stage"), "{evidence:?}");
}

#[test]
fn declared_mapping_catches_what_both_runs_share() {
    let w = workload();
    let s = scenario(&["no_loss", "idempotent"]);
    // Both runs lack every ticket → contact association (drop-association).
    let mut clean = observation(&w);
    clean.snapshot.associations.retain(|a| a.type_id != 16);
    let faulted = clean.clone();
    assert_eq!(
        verdict(&s, &w, &clean, &faulted, None, CheckName::NoLoss).0,
        Verdict::Pass
    );
    let mapping = Mapping::canonical();
    let (v, _, evidence) = verdict(&s, &w, &clean, &faulted, Some(&mapping), CheckName::NoLoss);
    assert_eq!(v, Verdict::Fail);
    assert!(
        evidence
            .iter()
            .any(|e| e.contains("not associated with contacts")),
        "{evidence:?}"
    );
    // A second contact with the same email breaks the mapping's uniqueness.
    let mut dup = observation(&w);
    let mut c = dup.snapshot.objects["contacts"][0].clone();
    c.id = "998".into();
    dup.snapshot.objects.get_mut("contacts").unwrap().push(c);
    let same = dup.clone();
    let (v, _, evidence) = verdict(&s, &w, &same, &dup, Some(&mapping), CheckName::Idempotent);
    assert_eq!(v, Verdict::Fail);
    assert!(
        evidence.iter().any(|e| e.contains("2 contacts")),
        "{evidence:?}"
    );
}

#[test]
fn rejects_forgeries_skips_fails_on_ack_and_on_trace_and_passes_on_401() {
    let w = workload();
    let s = scenario(&["rejects_forgeries"]);
    let clean = observation(&w);
    let faulted = observation(&w);
    assert_eq!(
        verdict(&s, &w, &clean, &faulted, None, CheckName::RejectsForgeries).0,
        Verdict::Skipped
    );
    let mut refused = observation(&w);
    push(
        &mut refused.log,
        "forged-1",
        "ticket.status_changed",
        SignatureMode::Forged,
        "forgery",
        AttemptOutcome::Rejected { status: 401 },
        ms(5),
        ms(1),
    );
    refused.forged_markers = vec!["990001".into()];
    assert_eq!(
        verdict(&s, &w, &clean, &refused, None, CheckName::RejectsForgeries).0,
        Verdict::Pass
    );
    let mut acked = refused.clone();
    acked.log.attempts.last_mut().unwrap().outcome = AttemptOutcome::Acked { status: 200 };
    let (v, _, evidence) = verdict(&s, &w, &clean, &acked, None, CheckName::RejectsForgeries);
    assert_eq!(v, Verdict::Fail);
    assert!(evidence[0].contains("forged-1"), "{evidence:?}");
    let mut trace = refused.clone();
    trace
        .snapshot
        .objects
        .get_mut("tickets")
        .unwrap()
        .push(object(
            "tickets",
            "777",
            &[("helpdesk_ticket_id", "990001")],
        ));
    let (v, _, evidence) = verdict(&s, &w, &clean, &trace, None, CheckName::RejectsForgeries);
    assert_eq!(v, Verdict::Fail);
    assert!(evidence[0].contains("990001"), "{evidence:?}");
    // A marker inside punctuation (`zen:ticket:990001`) is still a trace.
    let mut note = refused.clone();
    note.snapshot.objects.get_mut("notes").unwrap().push(object(
        "notes",
        "778",
        &[("hs_note_body", "forged for zen:ticket:990001, see above")],
    ));
    let (v, summary, _) = verdict(&s, &w, &clean, &note, None, CheckName::RejectsForgeries);
    assert_eq!(v, Verdict::Fail);
    assert!(summary.contains("1 CRM object(s)"), "{summary}");
}

#[test]
fn ack_after_commit_needs_a_crash_and_fails_on_a_lost_acked_event() {
    let w = workload();
    let s = scenario(&["ack_after_commit"]);
    let clean = observation(&w);
    let mut faulted = observation(&w);
    assert_eq!(
        verdict(&s, &w, &clean, &faulted, None, CheckName::AckAfterCommit).0,
        Verdict::Skipped
    );
    faulted.sut_events = vec![SutEvent {
        at: ms(1_000),
        what: "killed".into(),
        detail: String::new(),
    }];
    assert_eq!(
        verdict(&s, &w, &clean, &faulted, None, CheckName::AckAfterCommit).0,
        Verdict::Pass
    );
    remove_first(&mut faulted.snapshot, "notes");
    let (v, summary, _) = verdict(&s, &w, &clean, &faulted, None, CheckName::AckAfterCommit);
    assert_eq!(v, Verdict::Fail);
    assert!(summary.contains("missing after the restart"), "{summary}");
}

#[test]
fn replays_and_tolerates_drift() {
    let w = workload();
    let s = scenario(&["replays", "tolerates_drift"]);
    let clean = observation(&w);
    let mut faulted = observation(&w);
    assert_eq!(
        verdict(&s, &w, &clean, &faulted, None, CheckName::Replays).0,
        Verdict::Skipped
    );
    assert_eq!(
        verdict(&s, &w, &clean, &faulted, None, CheckName::ToleratesDrift).0,
        Verdict::Skipped
    );
    let event = w.events[0].id.clone();
    push(
        &mut faulted.log,
        &event,
        "ticket.created",
        SignatureMode::Valid,
        "replay",
        AttemptOutcome::Acked { status: 200 },
        ms(900),
        ms(2),
    );
    faulted.replayed = vec![event.clone()];
    assert_eq!(
        verdict(&s, &w, &clean, &faulted, None, CheckName::Replays).0,
        Verdict::Pass
    );
    faulted.log.attempts.last_mut().unwrap().outcome = AttemptOutcome::Retryable { status: 503 };
    faulted.log.deliveries.last_mut().unwrap().status = DeliveryStatus::DeadLettered;
    let (v, _, evidence) = verdict(&s, &w, &clean, &faulted, None, CheckName::Replays);
    assert_eq!(v, Verdict::Fail);
    assert!(evidence[0].contains(&event), "{evidence:?}");

    let mut drift = observation(&w);
    drift.drifted = vec![w.events[1].id.clone()];
    assert_eq!(
        verdict(&s, &w, &clean, &drift, None, CheckName::ToleratesDrift).0,
        Verdict::Pass
    );
    drift.log.deliveries[1].status = DeliveryStatus::Rejected;
    drift.log.attempts[1].outcome = AttemptOutcome::Rejected { status: 400 };
    let (v, _, evidence) = verdict(&s, &w, &clean, &drift, None, CheckName::ToleratesDrift);
    assert_eq!(v, Verdict::Fail);
    assert!(evidence[0].contains("rejected"), "{evidence:?}");
}

fn request(seq: u64, at: u64, status: u16, method: &str, trace: Option<&str>) -> RecordedRequest {
    RecordedRequest {
        seq,
        at: ms(at),
        duration: ms(1),
        method: method.into(),
        path: "/crm/v3/objects/tickets/batch/upsert".into(),
        query: None,
        object_type: Some("tickets".into()),
        operation: Some("batch-upsert".into()),
        status,
        authorized: true,
        traceparent: trace.map(str::to_string),
        fault: None,
        violations: Vec::new(),
        affected: Vec::new(),
    }
}

#[test]
fn backs_off_honours_retry_after_and_bounds_the_rate() {
    let w = workload();
    let s = scenario(&["backs_off"]);
    let clean = observation(&w);
    let mut faulted = observation(&w);
    assert_eq!(
        verdict(&s, &w, &clean, &faulted, None, CheckName::BacksOff).0,
        Verdict::Skipped
    );
    faulted.retry_after = Some(Duration::from_secs(1));
    // Within 50 ms of the 429: in flight, excused. After 1 s: fine.
    faulted.crm_requests = vec![
        request(1, 100, 429, "POST", None),
        request(2, 120, 200, "POST", None),
        request(3, 1_200, 200, "POST", None),
    ];
    assert_eq!(
        verdict(&s, &w, &clean, &faulted, None, CheckName::BacksOff).0,
        Verdict::Pass
    );
    // 400 ms after the 429 with Retry-After 1 s: a violation.
    faulted
        .crm_requests
        .push(request(4, 500, 200, "POST", None));
    faulted.crm_requests.sort_by_key(|r| r.at);
    let (v, _, evidence) = verdict(&s, &w, &clean, &faulted, None, CheckName::BacksOff);
    assert_eq!(v, Verdict::Fail);
    assert!(evidence[0].contains("#4"), "{evidence:?}");
    // A retry storm: 100 failing requests in one second (limit 40/s).
    let mut storm = observation(&w);
    storm.crm_requests = (0..100)
        .map(|i| request(i, 1_000 + i * 5, 503, "POST", None))
        .collect();
    let (v, _, evidence) = verdict(&s, &w, &clean, &storm, None, CheckName::BacksOff);
    assert_eq!(v, Verdict::Fail);
    assert!(
        evidence.iter().any(|e| e.contains("retry storm")),
        "{evidence:?}"
    );
}

#[test]
fn ack_latency_against_the_threshold() {
    let w = workload();
    let s = scenario(&["ack_latency"]);
    let clean = observation(&w);
    let fast = observation(&w);
    let (v, summary, _) = verdict(&s, &w, &clean, &fast, None, CheckName::AckLatency);
    assert_eq!(v, Verdict::Pass, "{summary}");
    let mut slow = observation(&w);
    for a in &mut slow.log.attempts {
        a.latency = ms(450);
    }
    let (v, summary, evidence) = verdict(&s, &w, &clean, &slow, None, CheckName::AckLatency);
    assert_eq!(v, Verdict::Fail);
    assert!(summary.contains("450.0 ms"), "{summary}");
    assert!(!evidence.is_empty());
    let mut none = observation(&w);
    none.log = log_all(&w, AttemptOutcome::Rejected { status: 400 });
    assert_eq!(
        verdict(&s, &w, &clean, &none, None, CheckName::AckLatency).0,
        Verdict::Skipped
    );
}

#[test]
fn audit_trail_coverage() {
    let w = workload();
    let s = scenario(&["audit_trail"]);
    let clean = observation(&w);
    let mut traced = observation(&w);
    traced.crm_requests = vec![
        request(1, 10, 200, "POST", Some(TRACE)),
        request(2, 20, 200, "GET", None),
    ];
    let (v, summary, _) = verdict(&s, &w, &clean, &traced, None, CheckName::AuditTrail);
    assert_eq!(v, Verdict::Pass, "{summary}");
    assert!(summary.starts_with("100.0%"), "{summary}");
    traced.crm_requests.push(request(3, 30, 200, "POST", None));
    let (v, summary, evidence) = verdict(&s, &w, &clean, &traced, None, CheckName::AuditTrail);
    assert_eq!(v, Verdict::Fail);
    assert!(summary.starts_with("50.0%"), "{summary}");
    assert!(evidence[0].contains("no traceparent"), "{evidence:?}");
}

#[test]
fn no_clobber_on_seeded_owned_properties() {
    let w = workload();
    let s = scenario(&["no_clobber"]);
    let clean = observation(&w);
    let mut faulted = observation(&w);
    assert_eq!(
        verdict(&s, &w, &clean, &faulted, None, CheckName::NoClobber).0,
        Verdict::Skipped
    );
    let email = faulted.snapshot.objects["contacts"][0].properties["email"].clone();
    faulted.seeded = vec![Seeded {
        object_type: "contacts".into(),
        key: "email".into(),
        value: email,
        owned: [("lifecyclestage".to_string(), "customer".to_string())].into(),
    }];
    faulted.snapshot.objects.get_mut("contacts").unwrap()[0]
        .properties
        .insert("lifecyclestage".into(), "customer".into());
    assert_eq!(
        verdict(&s, &w, &clean, &faulted, None, CheckName::NoClobber).0,
        Verdict::Pass
    );
    faulted.snapshot.objects.get_mut("contacts").unwrap()[0]
        .properties
        .insert("lifecyclestage".into(), "lead".into());
    let (v, _, evidence) = verdict(&s, &w, &clean, &faulted, None, CheckName::NoClobber);
    assert_eq!(v, Verdict::Fail);
    assert!(
        evidence[0].contains("\"customer\" to \"lead\""),
        "{evidence:?}"
    );
}

#[test]
fn contract_fails_on_a_recorded_violation() {
    let w = workload();
    let s = scenario(&["contract"]);
    let clean = observation(&w);
    let mut faulted = observation(&w);
    assert_eq!(
        verdict(&s, &w, &clean, &faulted, None, CheckName::Contract).0,
        Verdict::Pass
    );
    let mut r = request(1, 10, 400, "POST", None);
    r.violations = vec![hookproof::contract::Violation {
        contract: "hubspot/tickets.batch-upsert.json".into(),
        pointer: "/inputs/0/properties".into(),
        message: "not an object".into(),
    }];
    faulted.crm_requests = vec![r];
    let (v, _, evidence) = verdict(&s, &w, &clean, &faulted, None, CheckName::Contract);
    assert_eq!(v, Verdict::Fail);
    assert!(evidence[0].contains("/inputs/0/properties"), "{evidence:?}");
}
