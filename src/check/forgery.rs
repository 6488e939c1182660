//! The `rejects_forgeries` check: a forged, tampered, unsigned, stale or
//! wrongly-signed delivery must never be acked, nor leave any trace in the CRM.

use super::input::CheckInput;
use super::verdict::{CheckName, CheckResult, Evidence, Verdict};

pub(crate) fn rejects_forgeries(input: &CheckInput) -> CheckResult {
    let log = &input.faulted.log;
    let forged: Vec<_> = log
        .deliveries
        .iter()
        .filter(|d| d.signature.is_forgery())
        .collect();
    if forged.is_empty() {
        return CheckResult::new(
            CheckName::RejectsForgeries,
            Verdict::Skipped,
            "the scenario sends no forged deliveries",
            Vec::new(),
        );
    }
    let mut evidence = Vec::new();
    for d in &forged {
        if let Some(a) = log.attempts_of(d.index).find(|a| a.outcome.sut_acked()) {
            evidence.push(Evidence {
                what: format!(
                    "{:?} delivery #{} ({}) was acked: {}",
                    d.signature,
                    d.index,
                    d.event_type,
                    a.outcome.label()
                ),
                event_ids: vec![d.event_id.clone()],
                timeline: log.timeline(&d.event_id),
                objects: None,
            });
        }
    }
    let markers = &input.faulted.forged_markers;
    for objects in input.faulted.snapshot.objects.values() {
        for o in objects {
            if let Some((k, v)) = o.properties.iter().find(|(_, v)| {
                markers
                    .iter()
                    .any(|m| v.split_whitespace().any(|w| w == m) || *v == m)
            }) {
                evidence.push(Evidence {
                    what: format!(
                        "{} {} carries {k}={v}, a key only forged deliveries used",
                        o.object_type, o.id
                    ),
                    event_ids: Vec::new(),
                    timeline: Vec::new(),
                    objects: serde_json::to_value(&o.properties).ok(),
                });
            }
        }
    }
    let rejected = forged
        .iter()
        .filter(|d| log.attempts_of(d.index).all(|a| !a.outcome.sut_acked()))
        .count();
    if evidence.is_empty() {
        CheckResult::new(
            CheckName::RejectsForgeries,
            Verdict::Pass,
            format!(
                "all {} forged deliveries were refused and left no trace",
                forged.len()
            ),
            Vec::new(),
        )
    } else {
        CheckResult::new(
            CheckName::RejectsForgeries,
            Verdict::Fail,
            format!(
                "{} of {} forged deliveries were accepted or had an effect",
                forged.len() - rejected.min(forged.len()),
                forged.len()
            ),
            evidence,
        )
    }
}
