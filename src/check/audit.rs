//! `audit_trail`: every CRM write must be traceable to the webhook that
//! caused it — the W3C `traceparent` sent with each delivery must reach the
//! SUT's CRM calls. Reported as a coverage percentage.

use super::input::CheckInput;
use super::verdict::{CheckName, CheckResult, Evidence, Verdict};
use std::collections::HashSet;

/// The trace id of a `traceparent` header (`00-TRACEID-SPANID-FLAGS`).
pub(crate) fn trace_id(traceparent: &str) -> Option<&str> {
    let mut parts = traceparent.trim().split('-');
    let _version = parts.next()?;
    let id = parts.next()?;
    (id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())).then_some(id)
}

pub(crate) fn audit_trail(input: &CheckInput) -> CheckResult {
    let known: HashSet<&str> = input
        .faulted
        .log
        .deliveries
        .iter()
        .filter_map(|d| trace_id(&d.traceparent))
        .collect();
    let writes: Vec<_> = input
        .faulted
        .crm_requests
        .iter()
        .filter(|r| {
            r.method != "GET"
                && !r.path.ends_with("/search")
                && !r.path.ends_with("/batch/read")
                && (200..300).contains(&r.status)
        })
        .collect();
    if writes.is_empty() {
        return CheckResult::new(
            CheckName::AuditTrail,
            Verdict::Skipped,
            "the SUT made no successful CRM writes",
            Vec::new(),
        );
    }
    let untraced: Vec<_> = writes
        .iter()
        .filter(|r| {
            !r.traceparent
                .as_deref()
                .and_then(trace_id)
                .is_some_and(|id| known.contains(id))
        })
        .collect();
    let coverage = 1.0 - untraced.len() as f64 / writes.len() as f64;
    let threshold = input.scenario.checks.audit_coverage;
    let summary = format!(
        "{:.1}% of {} CRM writes carry the trace context of their webhook (threshold {:.0}%)",
        coverage * 100.0,
        writes.len(),
        threshold * 100.0
    );
    if coverage + 1e-9 >= threshold {
        CheckResult::new(CheckName::AuditTrail, Verdict::Pass, summary, Vec::new())
    } else {
        let evidence = untraced
            .iter()
            .map(|r| {
                Evidence::note(format!(
                    "request #{} {} {} carries {}",
                    r.seq,
                    r.method,
                    r.path,
                    r.traceparent
                        .as_deref()
                        .map(|t| format!("an unknown traceparent {t}"))
                        .unwrap_or_else(|| "no traceparent".to_string())
                ))
            })
            .collect();
        CheckResult::new(CheckName::AuditTrail, Verdict::Fail, summary, evidence)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_w3c_trace_ids() {
        assert_eq!(
            trace_id("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        assert_eq!(trace_id("garbage"), None);
        assert_eq!(trace_id("00-short-00f067aa0ba902b7-01"), None);
    }
}
