//! The `rejects_forgeries` check: a forged, tampered, unsigned, stale or
//! wrongly-signed delivery must never be acked, nor leave any trace in the CRM.

use super::input::CheckInput;
use super::verdict::{CheckName, CheckResult, Evidence, Verdict};
use crate::history::LogIndex;
use foldhash::HashSet;

/// [`rejects_forgeries_in`] with an index of its own.
#[cfg(test)]
pub(crate) fn rejects_forgeries(input: &CheckInput) -> CheckResult {
    rejects_forgeries_in(input, &input.faulted.log.index())
}

/// The check; `log` indexes the faulted run's delivery log.
pub(crate) fn rejects_forgeries_in(input: &CheckInput, log: &LogIndex) -> CheckResult {
    let forged: Vec<_> = input
        .faulted
        .log
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
    let markers = Markers::new(&input.faulted.forged_markers);
    for objects in input.faulted.snapshot.objects.values() {
        for o in crate::crm::warmed(objects) {
            if let Some((k, v)) = o.properties.iter().find(|(_, v)| markers.found_in(v)) {
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
    let acked = forged
        .iter()
        .filter(|d| log.attempts_of(d.index).any(|a| a.outcome.sut_acked()))
        .count();
    let traces = evidence.len() - acked;
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
                "{acked} of {} forged deliveries were acked; {traces} CRM object(s) carry keys only forgeries used",
                forged.len()
            ),
            evidence,
        )
    }
}

/// The keys only forged deliveries carried, looked for in CRM values.
struct Markers<'a> {
    markers: HashSet<&'a str>,
    /// Bit `n` (below 64) set when some marker is `n` bytes long; bit 63
    /// also stands for every longer one.
    lengths: u64,
    /// Bit `b` set when some marker starts with the ASCII byte `b`; a
    /// word (ASCII letters and digits) starting with any other byte is no
    /// marker.
    first: u128,
    /// Bit `b` set when some marker ends with the ASCII byte `b`.
    last: u128,
    /// Whether some marker is empty (found in any value with an empty word).
    empty: bool,
}

/// The bit of an ASCII byte in a 128-bit set; none for any other byte.
fn ascii_bit(b: Option<&u8>) -> u128 {
    b.filter(|b| b.is_ascii()).map_or(0, |&b| 1 << b)
}

impl<'a> Markers<'a> {
    fn new(markers: &'a [String]) -> Markers<'a> {
        Markers {
            markers: markers.iter().map(String::as_str).collect(),
            lengths: markers
                .iter()
                .fold(0, |bits, m| bits | 1 << m.len().min(63)),
            first: markers
                .iter()
                .fold(0, |bits, m| bits | ascii_bit(m.as_bytes().first())),
            last: markers
                .iter()
                .fold(0, |bits, m| bits | ascii_bit(m.as_bytes().last())),
            empty: markers.iter().any(String::is_empty),
        }
    }

    /// Whether a marker is `value` or a word of it (`zen:ticket:990001`,
    /// `ticket 990001:` …), never inside a longer number: words are split
    /// at every character that is not an ASCII letter or digit.
    fn found_in(&self, value: &str) -> bool {
        if self.empty
            && value
                .split(|c: char| !c.is_ascii_alphanumeric())
                .any(str::is_empty)
        {
            return true;
        }
        // Split as bytes: a character outside ASCII is all bytes outside
        // ASCII, so it separates the same words (only empty ones differ,
        // and those are looked for above).
        let bytes = value.as_bytes();
        let mut start = 0;
        for (i, b) in bytes.iter().enumerate() {
            if !b.is_ascii_alphanumeric() {
                if self.is_marker(&bytes[start..i]) {
                    return true;
                }
                start = i + 1;
            }
        }
        self.is_marker(&bytes[start..])
    }

    /// Whether `word` (ASCII letters and digits, possibly none) is a
    /// marker. A word whose length, first or last byte no marker has is
    /// not hashed.
    fn is_marker(&self, word: &[u8]) -> bool {
        !word.is_empty()
            && self.lengths & 1 << word.len().min(63) != 0
            && self.first & ascii_bit(word.first()) != 0
            && self.last & ascii_bit(word.last()) != 0
            // The word is ASCII, cut at ASCII bytes of a `str`.
            && std::str::from_utf8(word).is_ok_and(|w| self.markers.contains(w))
    }
}

#[cfg(test)]
mod tests {
    use super::super::diff::tests::object;
    use super::super::testkit::*;
    use super::*;
    use crate::history::SignatureMode;

    fn forged(run: Run, mode: SignatureMode, outcome: crate::history::AttemptOutcome) -> Run {
        run.deliver("forged-1", "forgery", mode, &[(500, 3, outcome)])
            .forged_marker("990001")
    }

    #[test]
    fn skipped_without_forged_deliveries() {
        let r = rejects_forgeries(&Case::new(Run::all_acked()).input());
        assert_verdict(&r, Verdict::Skipped);
        assert_summary(&r, "no forged deliveries");
    }

    #[test]
    fn passes_when_every_forgery_is_refused_without_a_trace() {
        let mut faulted = Run::all_acked();
        for (i, mode) in [
            SignatureMode::Forged,
            SignatureMode::Tampered,
            SignatureMode::Missing,
            SignatureMode::Stale,
            SignatureMode::WrongSecret,
        ]
        .into_iter()
        .enumerate()
        {
            faulted = faulted.deliver(
                &format!("forged-{i}"),
                "forgery",
                mode,
                &[(500 + i as u64, 2, rejected(401))],
            );
        }
        let r = rejects_forgeries(&Case::new(faulted.forged_marker("990001")).input());
        assert_verdict(&r, Verdict::Pass);
        assert_eq!(
            r.summary,
            "all 5 forged deliveries were refused and left no trace"
        );
    }

    #[test]
    fn fails_on_an_acked_forged_delivery() {
        let faulted = forged(Run::all_acked(), SignatureMode::Tampered, acked());
        let r = rejects_forgeries(&Case::new(faulted).input());
        assert_verdict(&r, Verdict::Fail);
        assert_eq!(
            r.summary,
            "1 of 1 forged deliveries were acked; 0 CRM object(s) carry keys only forgeries used"
        );
        assert_eq!(evidence_ids(&r), ids(&["forged-1"]));
        assert!(
            evidence_mentions(
                &r,
                "Tampered delivery #4 (ticket.status_changed) was acked: acked 200"
            ),
            "{r:#?}"
        );
        assert!(!r.evidence[0].timeline.is_empty());
    }

    #[test]
    fn a_lost_ack_of_a_forgery_is_still_an_ack() {
        let faulted = forged(Run::all_acked(), SignatureMode::Stale, ack_lost());
        let r = rejects_forgeries(&Case::new(faulted).input());
        assert_verdict(&r, Verdict::Fail);
        assert!(evidence_mentions(&r, "Stale delivery"), "{r:#?}");
    }

    #[test]
    fn fails_on_a_crm_object_carrying_a_forged_marker() {
        let faulted = forged(Run::all_acked(), SignatureMode::Forged, rejected(401)).edit(|s| {
            add_object(
                s,
                object(
                    "tickets",
                    "8",
                    &[
                        ("helpdesk_ticket_id", "990001"),
                        ("subject", "Forged ticket 990001"),
                    ],
                ),
            )
        });
        let r = rejects_forgeries(&Case::new(faulted).input());
        assert_verdict(&r, Verdict::Fail);
        assert!(
            evidence_mentions(
                &r,
                "tickets 8 carries helpdesk_ticket_id=990001, a key only forged deliveries used"
            ),
            "{r:#?}"
        );
        assert_summary(
            &r,
            "0 of 1 forged deliveries were acked; 1 CRM object(s) carry keys only forgeries used",
        );
        assert!(r.evidence[0].objects.is_some());
    }

    #[test]
    fn a_marker_inside_another_word_is_not_a_trace() {
        // "9900012" and "ticket-990001x" are not the marker 990001.
        let faulted = forged(Run::all_acked(), SignatureMode::Missing, rejected(401)).edit(|s| {
            set_property(s, "3", "content", "see 9900012 and ticket-990001x");
        });
        let r = rejects_forgeries(&Case::new(faulted).input());
        assert_verdict(&r, Verdict::Pass);
    }

    proptest::proptest! {
        /// The byte scan and its prefilters find exactly the words that
        /// splitting at every character that is not an ASCII letter or
        /// digit gives.
        #[test]
        fn found_in_agrees_with_splitting_into_words(
            markers in proptest::collection::vec("[a9é]{0,3}", 0..4),
            value in "[a9é :-]{0,12}",
        ) {
            let m = Markers::new(&markers);
            let words = value
                .split(|c: char| !c.is_ascii_alphanumeric())
                .any(|w| markers.iter().any(|marker| marker == w));
            proptest::prop_assert_eq!(m.found_in(&value), words);
        }
    }

    #[test]
    fn markers_are_found_as_whole_words_only() {
        let markers = ["990001".to_string(), "ab".to_string()];
        let m = Markers::new(&markers);
        for (value, found) in [
            ("990001", true),
            ("zen:ticket:990001", true),
            ("ticket 990001: x", true),
            ("é990001é", true),
            ("9900012", false),
            ("x990001", false),
            ("abc ab", true),
            ("abc", false),
            ("", false),
            ("a é b", false),
        ] {
            assert_eq!(m.found_in(value), found, "{value}");
        }
        // An empty marker is any empty word, as a split by characters sees it.
        let markers = [String::new()];
        let m = Markers::new(&markers);
        for (value, found) in [
            ("", true),
            ("aéb", false),
            ("a  b", true),
            (" ab", true),
            ("ab", false),
        ] {
            assert_eq!(m.found_in(value), found, "{value:?}");
        }
    }

    #[test]
    fn a_marker_as_a_word_of_a_note_is_a_trace() {
        let faulted =
            forged(Run::all_acked(), SignatureMode::WrongSecret, rejected(401)).edit(|s| {
                set_property(
                    s,
                    "5",
                    "hs_note_body",
                    "Status of ticket 990001 is now CLOSED",
                )
            });
        let r = rejects_forgeries(&Case::new(faulted).input());
        assert_verdict(&r, Verdict::Fail);
        assert!(
            evidence_mentions(&r, "notes 5 carries hs_note_body="),
            "{r:#?}"
        );
    }
}
