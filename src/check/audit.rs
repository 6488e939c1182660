//! `audit_trail`: every CRM write must be traceable to the webhook that
//! caused it — the W3C `traceparent` sent with each delivery must reach the
//! SUT's CRM calls. Reported as a coverage percentage.

use super::input::CheckInput;
use super::verdict::{CheckName, CheckResult, Evidence, Verdict};
use foldhash::{HashSet, HashSetExt};

/// The trace id of a `traceparent` header (`00-TRACEID-SPANID-FLAGS`).
pub(crate) fn trace_id(traceparent: &str) -> Option<&str> {
    // The text between the first `-` and the next (or the end).
    let after_version = traceparent.trim().split_once('-')?.1;
    let id = after_version
        .split_once('-')
        .map_or(after_version, |(id, _)| id);
    (id.len() == 32 && id.bytes().all(|b| HEX[usize::from(b)] < 16)).then_some(id)
}

/// The value of an ASCII hex digit, or 16 for any other byte.
const HEX: [u8; 256] = {
    let mut table = [16u8; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = match b as u8 {
            d @ b'0'..=b'9' => d - b'0',
            d @ b'a'..=b'f' => d - b'a' + 10,
            d @ b'A'..=b'F' => d - b'A' + 10,
            _ => 16,
        };
        b += 1;
    }
    table
};

/// A trace id as a number and the mask of its upper-case digits: equal
/// exactly when the trace ids (of 32 digits, as [`trace_id`] gives them)
/// are, and cheaper to hash and compare. The two halves are read as two
/// independent `u64`s.
fn trace_key(id: &str) -> (u128, u32) {
    let bytes = id.as_bytes();
    let (high, low) = bytes.split_at(bytes.len().saturating_sub(16));
    let half = |digits: &[u8]| {
        digits.iter().fold(0u64, |value, &b| {
            value << 4 | u64::from(HEX[usize::from(b)] & 15)
        })
    };
    let upper = (0..).zip(bytes).fold(0u32, |upper, (i, b)| {
        upper | u32::from(b.is_ascii_uppercase()) << i
    });
    (u128::from(half(high)) << 64 | u128::from(half(low)), upper)
}

/// The trace ids the faulted run's deliveries carried, as [`trace_key`]s:
/// those without an upper-case digit (all that a producer writes, as W3C
/// asks) by their number alone, in a set of half the size.
struct TraceIds {
    lower: HashSet<u128>,
    mixed: HashSet<(u128, u32)>,
}

impl TraceIds {
    fn new<'a>(traceparents: impl ExactSizeIterator<Item = &'a str>) -> TraceIds {
        let mut ids = TraceIds {
            lower: HashSet::with_capacity(traceparents.len()),
            mixed: HashSet::new(),
        };
        for key in traceparents.filter_map(|t| trace_id(t).map(trace_key)) {
            match key {
                (value, 0) => ids.lower.insert(value),
                key => ids.mixed.insert(key),
            };
        }
        ids
    }

    fn contains(&self, id: &str) -> bool {
        match trace_key(id) {
            (value, 0) => self.lower.contains(&value),
            key => self.mixed.contains(&key),
        }
    }
}

pub(crate) fn audit_trail(input: &CheckInput) -> CheckResult {
    let deliveries = &input.faulted.log.deliveries;
    let known = TraceIds::new(deliveries.iter().map(|d| d.traceparent.as_str()));
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
    fn trace_keys_are_equal_exactly_when_the_ids_are() {
        let ids = [
            "4bf92f3577b34da6a3ce929d0e0e4736",
            "4BF92F3577B34DA6A3CE929D0E0E4736",
            "4Bf92f3577b34da6a3ce929d0e0e4736",
            "4bF92f3577b34da6a3ce929d0e0e4736",
            "4bf92f3577b34da6a3ce929d0e0e4737",
        ];
        for a in ids {
            for b in ids {
                assert_eq!(trace_key(a) == trace_key(b), a == b, "{a} {b}");
            }
        }
    }

    #[test]
    fn trace_ids_hold_lower_and_mixed_case_ids_apart() {
        let tp = |id: &str| format!("00-{id}-00f067aa0ba902b7-01");
        let lower = "4bf92f3577b34da6a3ce929d0e0e4736";
        let upper = "4BF92F3577B34DA6A3CE929D0E0E4736";
        let delivered = [tp(lower), "garbage".to_string()];
        let known = TraceIds::new(delivered.iter().map(String::as_str));
        assert!(known.contains(lower));
        assert!(!known.contains(upper));
        let delivered = [tp(upper)];
        let known = TraceIds::new(delivered.iter().map(String::as_str));
        assert!(known.contains(upper));
        assert!(!known.contains(lower));
        assert!(!known.contains("4bf92f3577b34da6a3ce929d0e0e4737"));
    }

    #[test]
    fn parses_w3c_trace_ids() {
        assert_eq!(
            trace_id("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        assert_eq!(trace_id("garbage"), None);
        assert_eq!(trace_id("00-short-00f067aa0ba902b7-01"), None);
        let id = "4bf92f3577b34da6a3ce929d0e0e4736";
        for traceparent in [format!("00-{id}"), format!(" -{id}-x "), format!("x-{id}-")] {
            assert_eq!(trace_id(&traceparent), Some(id), "{traceparent:?}");
        }
        assert_eq!(trace_id(id), None);
        assert_eq!(trace_id(&format!("00-{}g-01", &id[1..])), None);
    }

    use super::super::testkit::*;

    /// Four successful writes, the first three traced to their events.
    fn writes(last: Req) -> Run {
        Run::all_acked()
            .request(Req::new(10, 201).traced(CREATE_1))
            .request(Req::new(20, 201).traced(CREATE_2))
            .request(Req::new(30, 200).traced(STATUS_1))
            .request(last)
    }

    #[test]
    fn skipped_without_successful_writes() {
        let faulted = Run::all_acked()
            .request(Req::new(10, 200).method_path("GET", "/crm/v3/objects/contacts/1"))
            .request(Req::new(20, 200).method_path("POST", "/crm/v3/objects/contacts/search"))
            .request(Req::new(30, 200).method_path("POST", "/crm/v3/objects/contacts/batch/read"))
            .request(Req::new(40, 503))
            .request(Req::new(50, 409));
        let r = audit_trail(&Case::new(faulted).input());
        assert_verdict(&r, Verdict::Skipped);
        assert_summary(&r, "no successful CRM writes");
    }

    #[test]
    fn passes_when_every_write_carries_its_trace_context() {
        // Reads, searches and failed writes need no trace context.
        let faulted = writes(Req::new(40, 201).traced(COMMENT_1))
            .request(Req::new(50, 200).method_path("GET", "/crm/v3/objects/tickets/3"))
            .request(Req::new(60, 200).method_path("POST", "/crm/v3/objects/tickets/search"))
            .request(Req::new(70, 429));
        let r = audit_trail(&Case::new(faulted).input());
        assert_verdict(&r, Verdict::Pass);
        assert_eq!(
            r.summary,
            "100.0% of 4 CRM writes carry the trace context of their webhook (threshold 100%)"
        );
    }

    #[test]
    fn a_new_span_of_the_same_trace_counts() {
        let tp = format!("00-{}-1111222233334444-01", trace_id_of(COMMENT_1));
        let r = audit_trail(&Case::new(writes(Req::new(40, 201).traceparent(&tp))).input());
        assert_verdict(&r, Verdict::Pass);
    }

    #[test]
    fn fails_below_the_threshold_naming_the_untraced_write() {
        let r = audit_trail(&Case::new(writes(Req::new(40, 201))).input());
        assert_verdict(&r, Verdict::Fail);
        assert_summary(&r, "75.0% of 4 CRM writes");
        assert_eq!(r.evidence.len(), 1);
        assert!(
            evidence_mentions(
                &r,
                "request #4 POST /crm/v3/objects/tickets carries no traceparent"
            ),
            "{r:#?}"
        );
    }

    #[test]
    fn fails_on_a_trace_id_no_delivery_carried() {
        let tp = format!("00-{}-00f067aa0ba902b7-01", trace_id_of("some-other-event"));
        let r = audit_trail(&Case::new(writes(Req::new(40, 201).traceparent(&tp))).input());
        assert_verdict(&r, Verdict::Fail);
        assert!(
            evidence_mentions(&r, &format!("carries an unknown traceparent {tp}")),
            "{r:#?}"
        );
    }

    #[test]
    fn a_garbled_traceparent_is_untraced() {
        let r = audit_trail(&Case::new(writes(Req::new(40, 201).traceparent("00-xyz-01"))).input());
        assert_verdict(&r, Verdict::Fail);
    }

    #[test]
    fn coverage_at_or_above_a_lower_threshold_passes() {
        let case =
            Case::new(writes(Req::new(40, 201))).scenario("[checks]\naudit-coverage = 0.75\n");
        let r = audit_trail(&case.input());
        assert_verdict(&r, Verdict::Pass);
        assert_summary(
            &r,
            "75.0% of 4 CRM writes carry the trace context of their webhook (threshold 75%)",
        );
        let case =
            Case::new(writes(Req::new(40, 201))).scenario("[checks]\naudit-coverage = 0.8\n");
        assert_verdict(&audit_trail(&case.input()), Verdict::Fail);
    }
}
