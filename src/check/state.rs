//! The state checks of the differential oracle: `no_loss`, `idempotent` and
//! `converges`, each a view on the same [`StateDiff`] between the clean run's
//! final CRM state and the faulted run's, with differences attributed to the
//! helpdesk events whose keys (ticket id, comment id, requester email) the
//! differing objects carry.

use super::diff::{Difference, diff_states};
use super::input::CheckInput;
use super::verdict::{CheckName, CheckResult, Evidence, Verdict};
use crate::workload::{EventKind, Workload};
use std::collections::{BTreeSet, HashMap};

/// Maps helpdesk key values (ticket ids, comment ids, emails) to event ids.
pub(crate) struct KeyIndex {
    /// Key value → (specificity, event ids); lower specificity is more precise.
    by_value: HashMap<String, (u8, Vec<String>)>,
}

/// Specificity of a key: a comment id names one event, a ticket id all the
/// events of a ticket, an email the creations of its requester's tickets.
const COMMENT: u8 = 0;
const TICKET: u8 = 1;
const EMAIL: u8 = 2;

impl KeyIndex {
    pub(crate) fn new(workload: &Workload) -> KeyIndex {
        let mut by_value: HashMap<String, (u8, Vec<String>)> = HashMap::new();
        let mut add = |key: &str, rank: u8, id: &str| {
            by_value
                .entry(key.to_string())
                .or_insert_with(|| (rank, Vec::new()))
                .1
                .push(id.to_string());
        };
        let mut requester_of: HashMap<String, String> = HashMap::new();
        for e in &workload.events {
            if let Some(t) = &e.ticket_id {
                add(t, TICKET, &e.id);
                if e.kind == EventKind::TicketCreated
                    && let Some(r) = e.body["detail"]["requester_id"].as_str()
                {
                    requester_of.insert(e.id.clone(), r.to_string());
                }
            }
            if let Some(c) = &e.comment_id {
                add(c, COMMENT, &e.id);
            }
        }
        for user in &workload.users {
            for (event, r) in &requester_of {
                if *r == user.id {
                    add(&user.email, EMAIL, event);
                }
            }
        }
        KeyIndex { by_value }
    }

    /// Event ids related to any of `values` (whole values or their words),
    /// keeping only the most specific key found (a note's comment id rather
    /// than the ticket id its body mentions).
    pub(crate) fn related<'a>(&self, values: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        let mut best = u8::MAX;
        let mut out = BTreeSet::new();
        for value in values {
            let words = std::iter::once(value).chain(
                value
                    .split(|c: char| c.is_whitespace() || c == ',' || c == ':' || c == '=')
                    .filter(|w| !w.is_empty()),
            );
            for w in words {
                if let Some((rank, ids)) = self.by_value.get(w) {
                    if *rank < best {
                        best = *rank;
                        out.clear();
                    }
                    if *rank == best {
                        out.extend(ids.iter().cloned());
                    }
                }
            }
        }
        out.into_iter().collect()
    }
}

fn unknown_reason(input: &CheckInput) -> Option<String> {
    if let Some(r) = input.faulted.unsettled() {
        return Some(format!("the faulted run did not settle: {r}"));
    }
    if let Some(r) = input.clean.unsettled() {
        return Some(format!("the clean run did not settle: {r}"));
    }
    None
}

fn evidence_for(
    input: &CheckInput,
    index: &KeyIndex,
    d: &Difference,
    only_acked: bool,
) -> Evidence {
    let mut event_ids = index.related(d.values());
    if only_acked {
        event_ids.retain(|id| input.faulted.log.sut_owes_event(id));
    }
    let timeline = event_ids
        .iter()
        .take(6)
        .flat_map(|id| {
            std::iter::once(format!("event {id}:")).chain(
                input
                    .faulted
                    .log
                    .timeline(id)
                    .into_iter()
                    .map(|l| format!("  {l}")),
            )
        })
        .collect();
    Evidence {
        what: d.describe(),
        event_ids,
        timeline,
        objects: serde_json::to_value(d).ok(),
    }
}

/// The checks that read the state diff.
pub(crate) const STATE_CHECKS: &[CheckName] = &[
    CheckName::NoLoss,
    CheckName::Idempotent,
    CheckName::Converges,
    CheckName::AckAfterCommit,
    CheckName::Replays,
    CheckName::ToleratesDrift,
];

/// Runs the state checks in `wanted` over one diff.
pub(crate) fn state_checks(input: &CheckInput, wanted: &[CheckName]) -> Vec<CheckResult> {
    let wanted: Vec<CheckName> = STATE_CHECKS
        .iter()
        .copied()
        .filter(|c| wanted.contains(c))
        .collect();
    if wanted.is_empty() {
        return Vec::new();
    }
    let skipped = |c: CheckName| match c {
        CheckName::AckAfterCommit
            if !input.faulted.sut_events.iter().any(|e| e.what == "killed") =>
        {
            Some("the scenario does not crash the SUT")
        }
        CheckName::Replays if input.faulted.replayed.is_empty() => {
            Some("no dead-lettered event was replayed")
        }
        CheckName::ToleratesDrift if input.faulted.drifted.is_empty() => {
            Some("the scenario sends no newer-version payloads")
        }
        _ => None,
    };
    let unknown = unknown_reason(input);
    let declared: Vec<(CheckName, Evidence)> = match (input.mapping, &unknown) {
        (Some(m), None) => [("clean", input.clean), ("faulted", input.faulted)]
            .into_iter()
            .flat_map(|(run, obs)| super::mapping::mapping_violations(input, m, run, obs))
            .collect(),
        _ => Vec::new(),
    };
    let declared_for = |c: CheckName| -> Vec<Evidence> {
        declared
            .iter()
            .filter(|(name, _)| *name == c)
            .map(|(_, e)| e.clone())
            .collect()
    };
    let mut diff = None;
    let index = KeyIndex::new(input.workload);
    wanted
        .into_iter()
        .map(|check| {
            if let Some(reason) = skipped(check) {
                return CheckResult::new(check, Verdict::Skipped, reason, Vec::new());
            }
            if let Some(reason) = &unknown {
                return CheckResult::new(check, Verdict::Unknown, reason.clone(), Vec::new());
            }
            let diffs = &diff
                .get_or_insert_with(|| diff_states(&input.clean.snapshot, &input.faulted.snapshot))
                .differences;
            match check {
                CheckName::NoLoss => {
                    with_declared(no_loss(input, &index, diffs), declared_for(check))
                }
                CheckName::Idempotent => {
                    with_declared(idempotent(input, &index, diffs), declared_for(check))
                }
                CheckName::AckAfterCommit => ack_after_commit(input, &index, diffs),
                CheckName::Replays => replays(input, &index, diffs),
                CheckName::ToleratesDrift => tolerates_drift(input, &index, diffs),
                _ => converges(input, &index, diffs),
            }
        })
        .collect()
}

/// Adds the expected-state oracle's evidence to a differential result.
fn with_declared(mut result: CheckResult, declared: Vec<Evidence>) -> CheckResult {
    if declared.is_empty() {
        return result;
    }
    let n = declared.len();
    if result.verdict == Verdict::Pass {
        result.verdict = Verdict::Fail;
        result.summary = format!("{n} violation(s) of the declared mapping");
    } else {
        result.summary = format!(
            "{}; {n} violation(s) of the declared mapping",
            result.summary
        );
    }
    result.evidence.extend(declared);
    result.evidence.truncate(CheckResult::MAX_EVIDENCE);
    result
}

fn related_to<'a>(
    index: &KeyIndex,
    diffs: &'a [Difference],
    ids: &[String],
) -> Vec<(&'a Difference, Vec<String>)> {
    diffs
        .iter()
        .filter_map(|d| {
            let related: Vec<String> = index
                .related(d.values())
                .into_iter()
                .filter(|id| ids.contains(id))
                .collect();
            (!related.is_empty()).then_some((d, related))
        })
        .collect()
}

fn ack_after_commit(input: &CheckInput, index: &KeyIndex, diffs: &[Difference]) -> CheckResult {
    let kills: Vec<_> = input
        .faulted
        .sut_events
        .iter()
        .filter(|e| e.what == "killed")
        .map(|e| e.at)
        .collect();
    let last_kill = kills.iter().max().copied().unwrap_or_default();
    // Events whose first ack came before a crash.
    let acked_before: Vec<String> = input
        .faulted
        .log
        .attempts
        .iter()
        .filter(|a| a.outcome.sut_acked() && a.started <= last_kill)
        .map(|a| a.event_id.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let missing: Vec<Difference> = diffs
        .iter()
        .filter(|d| {
            matches!(
                d,
                Difference::Missing { .. }
                    | Difference::MissingAssociation { .. }
                    | Difference::Mismatch { .. }
            )
        })
        .cloned()
        .collect();
    let lost: Vec<Evidence> = related_to(index, &missing, &acked_before)
        .into_iter()
        .map(|(d, _)| evidence_for(input, index, d, true))
        .collect();
    let summary = format!(
        "{} crash(es); {} event(s) were acked before the last one",
        kills.len(),
        acked_before.len()
    );
    if lost.is_empty() {
        CheckResult::new(
            CheckName::AckAfterCommit,
            Verdict::Pass,
            summary,
            Vec::new(),
        )
    } else {
        CheckResult::new(
            CheckName::AckAfterCommit,
            Verdict::Fail,
            format!(
                "{summary}; {} of their effects are missing after the restart",
                lost.len()
            ),
            lost,
        )
    }
}

fn replays(input: &CheckInput, index: &KeyIndex, diffs: &[Difference]) -> CheckResult {
    let log = &input.faulted.log;
    let replayed = &input.faulted.replayed;
    let mut evidence: Vec<Evidence> = log
        .deliveries
        .iter()
        .filter(|d| d.origin == "replay" && d.status != crate::history::DeliveryStatus::Acked)
        .map(|d| Evidence {
            what: format!("replayed {} was not acked ({:?})", d.event_type, d.status),
            event_ids: vec![d.event_id.clone()],
            timeline: log.timeline(&d.event_id),
            objects: None,
        })
        .collect();
    evidence.extend(
        related_to(index, diffs, replayed)
            .into_iter()
            .map(|(d, _)| evidence_for(input, index, d, false)),
    );
    let summary = format!("{} dead-lettered event(s) replayed", replayed.len());
    if evidence.is_empty() {
        CheckResult::new(
            CheckName::Replays,
            Verdict::Pass,
            format!("{summary}; each landed exactly once"),
            Vec::new(),
        )
    } else {
        CheckResult::new(
            CheckName::Replays,
            Verdict::Fail,
            format!("{summary}; {} did not land exactly once", evidence.len()),
            evidence,
        )
    }
}

fn tolerates_drift(input: &CheckInput, index: &KeyIndex, diffs: &[Difference]) -> CheckResult {
    let drifted = &input.faulted.drifted;
    let mut evidence = super::drift::refused_drift(input);
    evidence.extend(
        related_to(index, diffs, drifted)
            .into_iter()
            .map(|(d, _)| evidence_for(input, index, d, false)),
    );
    let summary = format!("{} event(s) sent in a newer payload version", drifted.len());
    if evidence.is_empty() {
        CheckResult::new(
            CheckName::ToleratesDrift,
            Verdict::Pass,
            format!("{summary}; all acked and applied like their older form"),
            Vec::new(),
        )
    } else {
        CheckResult::new(
            CheckName::ToleratesDrift,
            Verdict::Fail,
            format!("{summary}; {} refused or misapplied", evidence.len()),
            evidence,
        )
    }
}

fn no_loss(input: &CheckInput, index: &KeyIndex, diffs: &[Difference]) -> CheckResult {
    let mut lost = Vec::new();
    let mut excused = 0;
    for d in diffs.iter().filter(|d| {
        matches!(
            d,
            Difference::Missing { .. } | Difference::MissingAssociation { .. }
        )
    }) {
        let related = index.related(d.values());
        let acked = related.is_empty()
            || related
                .iter()
                .any(|id| input.faulted.log.sut_owes_event(id));
        if acked {
            lost.push(evidence_for(input, index, d, !related.is_empty()));
        } else {
            excused += 1;
        }
    }
    let note = if excused > 0 {
        format!(
            "; {excused} missing effect(s) belong to events that dead-lettered without an ack, which is not a loss"
        )
    } else {
        String::new()
    };
    if lost.is_empty() {
        CheckResult::new(
            CheckName::NoLoss,
            Verdict::Pass,
            format!("every effect of the clean run is present{note}"),
            Vec::new(),
        )
    } else {
        CheckResult::new(
            CheckName::NoLoss,
            Verdict::Fail,
            format!(
                "{} effect(s) of acked events are missing from the final CRM state{note}",
                lost.len()
            ),
            lost,
        )
    }
}

fn idempotent(input: &CheckInput, index: &KeyIndex, diffs: &[Difference]) -> CheckResult {
    let extra: Vec<Evidence> = diffs
        .iter()
        .filter(|d| {
            matches!(
                d,
                Difference::Extra { .. } | Difference::ExtraAssociation { .. }
            )
        })
        .map(|d| evidence_for(input, index, d, false))
        .collect();
    let copies = input
        .faulted
        .log
        .deliveries
        .iter()
        .filter(|d| d.origin != "original" && d.signature == crate::history::SignatureMode::Valid)
        .count();
    if extra.is_empty() {
        CheckResult::new(
            CheckName::Idempotent,
            Verdict::Pass,
            format!(
                "no duplicate objects or associations ({copies} extra deliveries of valid events)"
            ),
            Vec::new(),
        )
    } else {
        CheckResult::new(
            CheckName::Idempotent,
            Verdict::Fail,
            format!(
                "{} object(s) or association(s) duplicated after {copies} extra deliveries",
                extra.len()
            ),
            extra,
        )
    }
}

fn converges(input: &CheckInput, index: &KeyIndex, diffs: &[Difference]) -> CheckResult {
    let differing: Vec<Evidence> = diffs
        .iter()
        .filter(|d| matches!(d, Difference::Mismatch { .. }))
        .map(|d| evidence_for(input, index, d, false))
        .collect();
    if differing.is_empty() {
        CheckResult::new(
            CheckName::Converges,
            Verdict::Pass,
            "every object the runs share has the same properties as in the clean run",
            Vec::new(),
        )
    } else {
        CheckResult::new(
            CheckName::Converges,
            Verdict::Fail,
            format!(
                "{} object(s) ended in another state than in the clean run",
                differing.len()
            ),
            differing,
        )
    }
}
