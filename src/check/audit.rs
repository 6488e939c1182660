//! `audit_trail`: every CRM write must be traceable to the webhook that
//! caused it — the W3C `traceparent` sent with each delivery must reach the
//! SUT's CRM calls. Reported as a coverage percentage.

use super::input::CheckInput;
use super::verdict::{CheckName, CheckResult, Evidence, Verdict};
use crate::crm::RecordedRequest;
use foldhash::{HashSet, HashSetExt};

/// The trace id of a `traceparent` header (`00-TRACEID-SPANID-FLAGS`):
/// the text between the first `-` and the next (or the end), when it is 32
/// hex digits.
///
/// Read as bytes (`-` and hex digits are ASCII): the 32 bytes after the
/// first `-` must be hex digits and be followed by a `-` or the end, which
/// is the same as the text up to the next `-` being 32 hex digits.
pub(crate) fn trace_id(traceparent: &str) -> Option<&str> {
    let traceparent = traceparent.trim();
    let bytes = traceparent.as_bytes();
    let start = bytes.iter().position(|&b| b == b'-')? + 1;
    let end = start + 32;
    let id = bytes.get(start..end)?;
    let ends = bytes.get(end).is_none_or(|&b| b == b'-');
    // The bounds are ASCII bytes (or the end), so char boundaries.
    (ends && id.iter().all(|&b| HEX[usize::from(b)] < 16)).then(|| &traceparent[start..end])
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
    /// The trace ids of `traceparents` (those that have one).
    fn new<'a>(traceparents: impl ExactSizeIterator<Item = &'a str>) -> TraceIds {
        let mut mixed = HashSet::new();
        let mut lower = Vec::with_capacity(traceparents.len());
        for key in traceparents.filter_map(|t| trace_id(t).map(trace_key)) {
            match key {
                (value, 0) => lower.push(value),
                key => {
                    mixed.insert(key);
                }
            }
        }
        // Parsed first, inserted apart: a loop of hash insertions alone
        // overlaps their cache misses.
        TraceIds {
            lower: lower.into_iter().collect(),
            mixed,
        }
    }

    /// Whether some delivery carried the trace id of [`trace_key`] `key`.
    fn contains(&self, key: (u128, u32)) -> bool {
        match key {
            (value, 0) => self.lower.contains(&value),
            key => self.mixed.contains(&key),
        }
    }
}

/// The successful CRM writes of `requests` and which of them carry no trace
/// id that `known` holds.
struct Writes {
    /// How many writes.
    count: usize,
    /// Positions in `requests` of the untraced writes, ascending.
    untraced: Vec<usize>,
}

impl Writes {
    /// Sorts out `requests` against `known`.
    fn new(requests: &[RecordedRequest], known: &TraceIds) -> Writes {
        let mut count = 0;
        let mut untraced = Vec::new();
        // Trace ids of lower-case digits (nearly all) are looked up after
        // the pass, in a loop of lookups alone, as in `TraceIds::new`.
        let mut lower = Vec::with_capacity(requests.len());
        let mut lower_at = Vec::with_capacity(requests.len());
        for (i, r) in requests.iter().enumerate() {
            if !is_write(r) {
                continue;
            }
            count += 1;
            match r.traceparent.as_deref().and_then(trace_id).map(trace_key) {
                Some((value, 0)) => {
                    lower.push(value);
                    lower_at.push(i);
                }
                Some(key) if known.contains(key) => {}
                _ => untraced.push(i),
            }
        }
        let unknown = lower
            .iter()
            .zip(&lower_at)
            .filter(|&(&value, _)| !known.contains((value, 0)))
            .map(|(_, &i)| i);
        untraced.extend(unknown);
        untraced.sort_unstable();
        Writes { count, untraced }
    }
}

/// Whether `r` is a successful CRM write (not a read, search or batch read).
fn is_write(r: &RecordedRequest) -> bool {
    r.method != "GET"
        && !r.path.ends_with("/search")
        && !r.path.ends_with("/batch/read")
        && (200..300).contains(&r.status)
}

pub(crate) fn audit_trail(input: &CheckInput) -> CheckResult {
    let deliveries = &input.faulted.log.deliveries;
    let known = TraceIds::new(deliveries.iter().map(|d| d.traceparent.as_str()));
    let requests = &input.faulted.crm_requests;
    let writes = Writes::new(requests, &known);
    if writes.count == 0 {
        return CheckResult::new(
            CheckName::AuditTrail,
            Verdict::Skipped,
            "the SUT made no successful CRM writes",
            Vec::new(),
        );
    }
    let untraced: Vec<&RecordedRequest> = writes.untraced.iter().map(|&i| &requests[i]).collect();
    let coverage = 1.0 - untraced.len() as f64 / writes.count as f64;
    let threshold = input.scenario.checks.audit_coverage;
    let summary = format!(
        "{:.1}% of {} CRM writes carry the trace context of their webhook (threshold {:.0}%)",
        coverage * 100.0,
        writes.count,
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
        assert!(known.contains(trace_key(lower)));
        assert!(!known.contains(trace_key(upper)));
        let delivered = [tp(upper)];
        let known = TraceIds::new(delivered.iter().map(String::as_str));
        assert!(known.contains(trace_key(upper)));
        assert!(!known.contains(trace_key(lower)));
        assert!(!known.contains(trace_key("4bf92f3577b34da6a3ce929d0e0e4737")));
    }

    /// The parse `trace_id` replaced: split at the first `-` and the next.
    fn trace_id_by_splitting(traceparent: &str) -> Option<&str> {
        let after_version = traceparent.trim().split_once('-')?.1;
        let id = after_version
            .split_once('-')
            .map_or(after_version, |(id, _)| id);
        (id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())).then_some(id)
    }

    #[test]
    fn trace_ids_read_as_bytes_agree_with_splitting_at_dashes() {
        let id = "4bf92f3577b34da6a3ce929d0e0e4736";
        let upper = "4BF92F3577B34DA6A3CE929D0E0E4736";
        let mut cases = vec![
            String::new(),
            "-".to_string(),
            "--".to_string(),
            "00".to_string(),
            format!("00-{id}-00f067aa0ba902b7-01"),
            format!("00-{upper}-00f067aa0ba902b7-01"),
            format!("  00-{id}-00f067aa0ba902b7-01\n"),
            format!("\u{a0}00-{id}-00f067aa0ba902b7-01\u{2003}"),
            format!("00-{id}-00f067aa0ba902b7-01-extra-fields"),
            format!("00-{id}"),
            format!("-{id}"),
            format!("-{id}-"),
            format!("é-{id}-é"),
            format!("00{id}-00f067aa0ba902b7-01"),
            format!("00-{id}00f067aa0ba902b7-01"),
            format!("00-{}-00f067aa0ba902b7-01", &id[1..]),
            format!("00-{id}f-00f067aa0ba902b7-01"),
            format!("00--{id}-00f067aa0ba902b7-01"),
            format!("00-{}-{}", &id[..16], &id[16..]),
            format!("00-{}g-01", &id[1..]),
            format!("00-{}é-01", &id[2..]),
            format!("00-{} -01", &id[1..]),
            format!("00 -{id} -01"),
            format!("00- {id}-01"),
            format!("{id}-{id}-{id}"),
        ];
        // Every cut of a valid header, and every byte of it replaced by a
        // dash or a space.
        let full = format!("00-{id}-00f067aa0ba902b7-01");
        for i in 0..=full.len() {
            cases.push(full[..i].to_string());
            cases.push(full[i..].to_string());
            if i < full.len() {
                for b in ["-", " ", "G", "A"] {
                    cases.push(format!("{}{b}{}", &full[..i], &full[i + 1..]));
                }
            }
        }
        let mut found = 0;
        for case in &cases {
            let expected = trace_id_by_splitting(case);
            found += usize::from(expected.is_some());
            assert_eq!(trace_id(case), expected, "{case:?}");
        }
        assert!(
            found > 50,
            "{found} of {} cases have a trace id",
            cases.len()
        );
    }

    #[test]
    fn writes_list_untraced_positions_ascending_whatever_the_reason() {
        let id = |n: u32| format!("ab{n:030x}");
        let tp = |id: &str| Some(format!("00-{id}-00f067aa0ba902b7-01"));
        let delivered = [tp(&id(1)).unwrap(), tp(&id(2).to_uppercase()).unwrap()];
        let known = TraceIds::new(delivered.iter().map(String::as_str));
        let request = |method: &str, path: &str, status: u16, traceparent: Option<String>| {
            let r = Req::new(0, status).method_path(method, path);
            traceparent.map_or(r.clone(), |tp| r.traceparent(&tp))
        };
        let post = |traceparent| request("POST", "/crm/v3/objects/tickets", 201, traceparent);
        let requests = [
            post(tp(&id(3))),                                             // unknown
            post(tp(&id(1))),                                             // traced
            post(None),                                                   // none
            request("GET", "/crm/v3/objects/tickets/1", 200, None),       // a read
            post(tp(&id(2).to_uppercase())),                              // traced
            post(tp(&id(2))),                                             // other case
            request("POST", "/crm/v3/objects/tickets/search", 200, None), // a search
            request("POST", "/crm/v3/objects/tickets", 503, None),        // failed
            post(Some("garbage".into())),                                 // no trace id
            post(tp(&id(1).to_uppercase())),                              // other case
        ];
        let requests = requests
            .into_iter()
            .fold(Run::all_acked(), Run::request)
            .build()
            .crm_requests;
        let writes = Writes::new(&requests, &known);
        assert_eq!(writes.count, 7);
        assert_eq!(writes.untraced, vec![0, 2, 5, 8, 9]);
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
