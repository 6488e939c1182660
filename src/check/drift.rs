//! `tolerates_drift`, delivery side: a validly signed event in a newer
//! payload version (extra fields, a new enum value, a new event type) must be
//! acked, not rejected or left to dead-letter. Its *effect* is judged with
//! the other state differences in `state.rs`.

use super::input::CheckInput;
use super::verdict::Evidence;
use crate::history::{AttemptOutcome, DeliveryStatus, LogIndex, SignatureMode};

/// Evidence of drifted events the SUT refused.
pub(crate) fn refused_drift(input: &CheckInput, log: &LogIndex) -> Vec<Evidence> {
    let mut evidence = Vec::new();
    for id in input.faulted.drifted.iter().chain(&input.faulted.upgraded) {
        // A refusal is an answer: a dead-letter made only of connection
        // errors and timeouts (the SUT was down or killed) says nothing
        // about the payload.
        let answered_no = |index: usize| {
            log.attempts_of(index).any(|a| {
                matches!(
                    a.outcome,
                    AttemptOutcome::Retryable { .. } | AttemptOutcome::Rejected { .. }
                )
            })
        };
        let refused = log.deliveries_of(id).find(|d| {
            d.signature == SignatureMode::Valid
                && match d.status {
                    DeliveryStatus::Rejected => true,
                    DeliveryStatus::DeadLettered => answered_no(d.index),
                    _ => false,
                }
        });
        if let Some(d) = refused {
            let last = log
                .attempts_of(d.index)
                .last()
                .map(|a| a.outcome.clone())
                .unwrap_or(AttemptOutcome::Timeout);
            evidence.push(Evidence {
                what: format!(
                    "newer-version {} event was {} ({})",
                    d.event_type,
                    if d.status == DeliveryStatus::Rejected {
                        "rejected"
                    } else {
                        "dead-lettered"
                    },
                    last.label()
                ),
                event_ids: vec![id.clone()],
                timeline: log.timeline(id),
                objects: None,
            });
        }
    }
    evidence
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::*;

    fn refused(run: Run) -> Vec<Evidence> {
        let case = Case::new(run);
        refused_drift(&case.input(), &case.input().faulted.log.index())
    }

    #[test]
    fn acked_drifted_events_are_not_refused() {
        assert!(refused(Run::all_acked().drifted(&[STATUS_1, COMMENT_1])).is_empty());
    }

    #[test]
    fn a_drifted_event_rejected_with_400_is_refused() {
        let w = workload();
        let run = Run::new(&w)
            .ack(CREATE_1)
            .deliver(
                STATUS_1,
                "original",
                SignatureMode::Valid,
                &[(20, 2, rejected(400))],
            )
            .drifted(&[STATUS_1]);
        let e = refused(run);
        assert_eq!(e.len(), 1, "{e:#?}");
        assert_eq!(
            e[0].what,
            "newer-version ticket.status_changed event was rejected (rejected 400)"
        );
        assert_eq!(e[0].event_ids, vec![STATUS_1.to_string()]);
        assert_eq!(e[0].timeline.len(), 1);
    }

    #[test]
    fn a_drifted_event_that_dead_lettered_is_refused() {
        let w = workload();
        let run = Run::new(&w).dead_letter(COMMENT_1).drifted(&[COMMENT_1]);
        let e = refused(run);
        assert_eq!(e.len(), 1, "{e:#?}");
        assert_eq!(
            e[0].what,
            "newer-version ticket.comment_added event was dead-lettered (retryable 503)"
        );
        assert_eq!(e[0].timeline.len(), 3);
    }

    #[test]
    fn a_dead_letter_without_an_answer_is_not_a_refusal() {
        // The SUT was down (killed, or not listening): connection errors and
        // timeouts say nothing about the payload version.
        let w = workload();
        let down = AttemptOutcome::ConnectionError {
            error: "connect".into(),
        };
        let run = Run::new(&w)
            .deliver(
                COMMENT_1,
                "original",
                SignatureMode::Valid,
                &[(10, 0, down.clone()), (20, 0, AttemptOutcome::Timeout)],
            )
            .drifted(&[COMMENT_1]);
        assert!(refused(run).is_empty());
    }

    #[test]
    fn only_drifted_events_and_valid_signatures_count() {
        let w = workload();
        let run = Run::new(&w)
            // Not drifted: not this check's business.
            .deliver(
                CREATE_1,
                "original",
                SignatureMode::Valid,
                &[(10, 2, rejected(400))],
            )
            // A forged copy of a drifted event must be refused.
            .deliver(
                STATUS_1,
                "forgery",
                SignatureMode::Forged,
                &[(20, 2, rejected(401))],
            )
            .ack(STATUS_1)
            .drifted(&[STATUS_1]);
        assert!(refused(run).is_empty());
    }
}
