//! `tolerates_drift`, delivery side: a validly signed event in a newer
//! payload version (extra fields, a new enum value, a new event type) must be
//! acked, not rejected or left to dead-letter. Its *effect* is judged with
//! the other state differences in `state.rs`.

use super::input::CheckInput;
use super::verdict::Evidence;
use crate::history::{AttemptOutcome, DeliveryStatus, SignatureMode};

/// Evidence of drifted events the SUT refused.
pub(crate) fn refused_drift(input: &CheckInput) -> Vec<Evidence> {
    let log = &input.faulted.log;
    let mut evidence = Vec::new();
    for id in &input.faulted.drifted {
        let refused = log.deliveries.iter().find(|d| {
            &d.event_id == id
                && d.signature == SignatureMode::Valid
                && matches!(
                    d.status,
                    DeliveryStatus::Rejected | DeliveryStatus::DeadLettered
                )
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
