//! The state checks of the differential oracle: `no_loss`, `idempotent` and
//! `converges`, each a view on the same [`StateDiff`] between the clean run's
//! final CRM state and the faulted run's, with differences attributed to the
//! helpdesk events whose keys (ticket id, comment id, requester email) the
//! differing objects carry.

use super::crm_index::CrmIndex;
use super::diff::{Difference, diff_indexed};
use super::input::CheckInput;
use super::mapping::{WorkloadKeys, mapping_violations, requester_id};
use super::parallel::both;
use super::verdict::{CheckName, CheckResult, Evidence, Verdict};
use crate::history::LogIndex;
use crate::workload::{EventKind, Workload};
use foldhash::{HashMap, HashMapExt, HashSet};
use std::collections::BTreeSet;

/// What differences are attributed with: the workload's keys that the
/// differences name (indexed on first use: a run without differences needs
/// none) and the faulted run's delivery log.
struct Attribution<'w, 'l> {
    workload: &'w Workload,
    diffs: &'l [Difference],
    keys: std::cell::OnceCell<KeyIndex<'w>>,
    log: &'l LogIndex<'w>,
}

impl<'w> Attribution<'w, '_> {
    fn keys(&self) -> &KeyIndex<'w> {
        self.keys.get_or_init(|| {
            KeyIndex::new(
                self.workload,
                self.diffs.iter().flat_map(Difference::values),
            )
        })
    }
}

/// Maps helpdesk key values (ticket ids, comment ids, emails) to event ids,
/// borrowed from the workload; only the values that some given texts name
/// (whole or as words) are indexed.
pub(crate) struct KeyIndex<'w> {
    /// Key value → (specificity, event ids); lower specificity is more precise.
    by_value: HashMap<&'w str, (u8, Vec<&'w str>)>,
}

/// `value` and its words: the texts a key value is looked up as.
fn words(value: &str) -> impl Iterator<Item = &str> {
    std::iter::once(value).chain(
        value
            .split(|c: char| c.is_whitespace() || c == ',' || c == ':' || c == '=')
            .filter(|w| !w.is_empty()),
    )
}

/// Specificity of a key: a comment id names one event, a ticket id all the
/// events of a ticket, an email the creations of its requester's tickets.
const COMMENT: u8 = 0;
const TICKET: u8 = 1;
const EMAIL: u8 = 2;

impl<'w> KeyIndex<'w> {
    /// Indexes the keys of `workload` that `texts` name, whole or as words
    /// (see [`KeyIndex::related`]): on a large run, the few that differences
    /// name, not every key of the workload.
    pub(crate) fn new<'t>(
        workload: &'w Workload,
        texts: impl IntoIterator<Item = &'t str>,
    ) -> KeyIndex<'w> {
        let named: HashSet<&str> = texts.into_iter().flat_map(words).collect();
        let mut by_value: HashMap<&str, (u8, Vec<&str>)> = HashMap::new();
        let mut add = |key: &'w str, rank: u8, id: &'w str| {
            by_value
                .entry(key)
                .or_insert_with(|| (rank, Vec::new()))
                .1
                .push(id)
        };
        // The requesters whose emails are named: user id → emails.
        let mut emails: HashMap<&str, Vec<&str>> = HashMap::new();
        for u in workload
            .users
            .iter()
            .filter(|u| named.contains(u.email.as_str()))
        {
            emails.entry(&u.id).or_default().push(&u.email);
        }
        for e in &workload.events {
            if let Some(t) = &e.ticket_id {
                if named.contains(t.as_str()) {
                    add(t, TICKET, &e.id);
                }
                if !emails.is_empty()
                    && e.kind == EventKind::TicketCreated
                    && let Some(named_emails) = requester_id(e).and_then(|r| emails.get(r))
                {
                    for email in named_emails {
                        add(email, EMAIL, &e.id);
                    }
                }
            }
            if let Some(c) = &e.comment_id
                && named.contains(c.as_str())
            {
                add(c, COMMENT, &e.id);
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
            for w in words(value) {
                if let Some((rank, ids)) = self.by_value.get(w) {
                    if *rank < best {
                        best = *rank;
                        out.clear();
                    }
                    if *rank == best {
                        out.extend(ids.iter().copied());
                    }
                }
            }
        }
        out.into_iter().map(str::to_string).collect()
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

fn evidence_for(index: &Attribution, d: &Difference, only_acked: bool) -> Evidence {
    let mut event_ids = index.keys().related(d.values());
    if only_acked {
        event_ids.retain(|id| index.log.sut_owes_event(id));
    }
    let timeline = event_ids
        .iter()
        .take(6)
        .flat_map(|id| {
            std::iter::once(format!("event {id}:"))
                .chain(index.log.timeline(id).into_iter().map(|l| format!("  {l}")))
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

/// [`state_checks_in`] with an index of its own.
#[cfg(test)]
pub(crate) fn state_checks(input: &CheckInput, wanted: &[CheckName]) -> Vec<CheckResult> {
    state_checks_in(input, wanted, &input.faulted.log.index(), false)
}

/// Runs the state checks in `wanted` over one diff; `log` indexes the
/// faulted run's delivery log. When `parallel`, the diff and each run's
/// declared-mapping oracle run on threads of their own.
pub(crate) fn state_checks_in<'a>(
    input: &CheckInput<'a>,
    wanted: &[CheckName],
    log: &LogIndex<'a>,
    parallel: bool,
) -> Vec<CheckResult> {
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
        CheckName::ToleratesDrift
            if input.faulted.drifted.is_empty() && input.faulted.upgraded.is_empty() =>
        {
            Some("the scenario sends no newer-version payloads")
        }
        _ => None,
    };
    let unknown = unknown_reason(input);
    // Every check not skipped and not unknown reads the diff.
    let needs_diff = unknown.is_none() && wanted.iter().any(|&c| skipped(c).is_none());
    // The declared-mapping oracle of each run and the diff are independent;
    // so are the workload's keys and the clean run's log index.
    let mapping = input.mapping.filter(|_| unknown.is_none());
    // Both read each run's final CRM state, indexed once for them, beside
    // the workload's keys and the clean run's log index (which only the
    // declared-mapping oracle reads).
    let indexes = || {
        (needs_diff || mapping.is_some()).then(|| {
            both(
                parallel,
                || CrmIndex::new(&input.clean.snapshot),
                || CrmIndex::new(&input.faulted.snapshot),
            )
        })
    };
    let oracle_inputs = || {
        mapping.map(|_| {
            both(
                parallel,
                || WorkloadKeys::new(input.workload),
                || input.clean.log.index(),
            )
        })
    };
    let (indexes, oracle_inputs) = both(parallel, indexes, oracle_inputs);
    let oracles = || -> Vec<(CheckName, Evidence)> {
        let (Some(m), Some((keys, clean_log)), Some((clean, faulted))) =
            (mapping, &oracle_inputs, &indexes)
        else {
            return Vec::new();
        };
        let (clean, faulted) = both(
            parallel,
            || mapping_violations(keys, m, "clean", clean, clean_log),
            || mapping_violations(keys, m, "faulted", faulted, log),
        );
        clean.into_iter().chain(faulted).collect()
    };
    let diff = || {
        let (clean, faulted) = indexes.as_ref()?;
        needs_diff.then(|| diff_indexed(clean, faulted, parallel).differences)
    };
    let (diff, declared) = both(parallel, diff, oracles);
    let diffs = diff.as_deref().unwrap_or_default();
    let index = Attribution {
        workload: input.workload,
        diffs,
        keys: std::cell::OnceCell::new(),
        log,
    };
    let declared_for = |c: CheckName| -> Vec<Evidence> {
        declared
            .iter()
            .filter(|(name, _)| *name == c)
            .map(|(_, e)| e.clone())
            .collect()
    };
    wanted
        .into_iter()
        .map(|check| {
            if let Some(reason) = skipped(check) {
                return CheckResult::new(check, Verdict::Skipped, reason, Vec::new());
            }
            if let Some(reason) = &unknown {
                return CheckResult::new(check, Verdict::Unknown, reason.clone(), Vec::new());
            }
            match check {
                CheckName::NoLoss => with_declared(no_loss(&index, diffs), declared_for(check)),
                CheckName::Idempotent => {
                    with_declared(idempotent(input, &index, diffs), declared_for(check))
                }
                CheckName::AckAfterCommit => ack_after_commit(input, &index, diffs),
                CheckName::Replays => replays(input, &index, diffs),
                CheckName::ToleratesDrift => tolerates_drift(input, &index, diffs),
                _ => converges(&index, diffs),
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
    index: &Attribution,
    diffs: &'a [Difference],
    ids: &[String],
) -> Vec<(&'a Difference, Vec<String>)> {
    let ids: HashSet<&str> = ids.iter().map(String::as_str).collect();
    diffs
        .iter()
        .filter_map(|d| {
            let related: Vec<String> = index
                .keys()
                .related(d.values())
                .into_iter()
                .filter(|id| ids.contains(id.as_str()))
                .collect();
            (!related.is_empty()).then_some((d, related))
        })
        .collect()
}

fn ack_after_commit(input: &CheckInput, index: &Attribution, diffs: &[Difference]) -> CheckResult {
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
    // Only effects that are missing altogether: a property that differs is
    // `converges`' business, and may come from an event acked after the restart.
    let missing: Vec<Difference> = diffs
        .iter()
        .filter(|d| {
            matches!(
                d,
                Difference::Missing { .. } | Difference::MissingAssociation { .. }
            )
        })
        .cloned()
        .collect();
    let lost: Vec<Evidence> = related_to(index, &missing, &acked_before)
        .into_iter()
        .map(|(d, acked_ids)| Evidence {
            // Name only the events acked before the crash.
            event_ids: acked_ids,
            ..evidence_for(index, d, true)
        })
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

fn replays(input: &CheckInput, index: &Attribution, diffs: &[Difference]) -> CheckResult {
    let log = index.log;
    let replayed = &input.faulted.replayed;
    let mut evidence: Vec<Evidence> = log
        .log()
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
    // A difference also touched by an event that was never acked and not
    // replayed (a dead letter outside the replayed window) is explained by
    // that event's absence, not by the replay.
    let mut excused = 0;
    let replayed_ids: HashSet<&str> = replayed.iter().map(String::as_str).collect();
    for (d, _) in related_to(index, diffs, replayed) {
        let unreplayed = index
            .keys()
            .related(d.values())
            .into_iter()
            .any(|id| !replayed_ids.contains(id.as_str()) && !log.sut_owes_event(&id));
        if unreplayed {
            excused += 1;
        } else {
            evidence.push(evidence_for(index, d, false));
        }
    }
    let summary = if excused > 0 {
        format!(
            "{} dead-lettered event(s) replayed ({excused} difference(s) also touched by dead \
             letters left out of the replay are not counted)",
            replayed.len()
        )
    } else {
        format!("{} dead-lettered event(s) replayed", replayed.len())
    };
    let fail = format!("{summary}; {} did not land exactly once", evidence.len());
    CheckResult::judge(
        CheckName::Replays,
        evidence,
        format!("{summary}; each landed exactly once"),
        fail,
    )
}

fn tolerates_drift(input: &CheckInput, index: &Attribution, diffs: &[Difference]) -> CheckResult {
    let drifted = &input.faulted.drifted;
    let mut evidence = super::drift::refused_drift(input, index.log);
    evidence.extend(
        related_to(index, diffs, drifted)
            .into_iter()
            .map(|(d, _)| evidence_for(index, d, false)),
    );
    let summary = format!(
        "{} event(s) sent in a newer payload version",
        drifted.len() + input.faulted.upgraded.len()
    );
    let fail = format!("{summary}; {} refused or misapplied", evidence.len());
    CheckResult::judge(
        CheckName::ToleratesDrift,
        evidence,
        format!("{summary}; all acked and applied like their older form"),
        fail,
    )
}

fn no_loss(index: &Attribution, diffs: &[Difference]) -> CheckResult {
    let mut lost = Vec::new();
    let mut excused = 0;
    for d in diffs.iter().filter(|d| {
        matches!(
            d,
            Difference::Missing { .. } | Difference::MissingAssociation { .. }
        )
    }) {
        let related = index.keys().related(d.values());
        let acked = related.is_empty() || related.iter().any(|id| index.log.sut_owes_event(id));
        if acked {
            lost.push(evidence_for(index, d, !related.is_empty()));
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

fn idempotent(input: &CheckInput, index: &Attribution, diffs: &[Difference]) -> CheckResult {
    let extra: Vec<Evidence> = diffs
        .iter()
        .filter(|d| {
            matches!(
                d,
                Difference::Extra { .. } | Difference::ExtraAssociation { .. }
            )
        })
        .map(|d| evidence_for(index, d, false))
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

fn converges(index: &Attribution, diffs: &[Difference]) -> CheckResult {
    let differing: Vec<Evidence> = diffs
        .iter()
        .filter(|d| matches!(d, Difference::Mismatch { .. }))
        .map(|d| evidence_for(index, d, false))
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

#[cfg(test)]
mod tests {
    use super::super::mapping::Mapping;
    use super::super::testkit::*;
    use super::*;
    use crate::history::SignatureMode;

    // ---- unknown / skipped ----

    #[test]
    fn every_state_check_is_unknown_when_the_faulted_run_did_not_settle() {
        let case = Case::new(
            Run::all_acked()
                .drifted(&[STATUS_1])
                .replayed(&[CREATE_2])
                .kill_at(50)
                .timed_out("3 deliveries still open"),
        );
        for check in STATE_CHECKS {
            let r = case.state_check(*check);
            assert_verdict(&r, Verdict::Unknown);
            assert_summary(
                &r,
                "the faulted run did not settle: 3 deliveries still open",
            );
            assert!(r.evidence.is_empty());
        }
    }

    #[test]
    fn unknown_when_only_the_clean_run_did_not_settle() {
        let case = Case::with(
            Run::all_acked().timed_out("CRM still busy"),
            Run::all_acked(),
        );
        let r = case.state_check(CheckName::NoLoss);
        assert_verdict(&r, Verdict::Unknown);
        assert_summary(&r, "the clean run did not settle: CRM still busy");
    }

    #[test]
    fn unknown_even_when_the_states_differ() {
        // An unsettled run must not turn into a fail on a partial state.
        let case = Case::new(
            Run::all_acked()
                .edit(|s| remove_object(s, "4"))
                .timed_out("deadline"),
        );
        assert_verdict(&case.state_check(CheckName::NoLoss), Verdict::Unknown);
        assert_verdict(&case.state_check(CheckName::Converges), Verdict::Unknown);
    }

    #[test]
    fn crash_replay_and_drift_checks_skip_when_not_exercised_even_if_unsettled() {
        let case = Case::new(Run::all_acked().timed_out("deadline"));
        let cases = [
            (CheckName::AckAfterCommit, "does not crash the SUT"),
            (CheckName::Replays, "no dead-lettered event was replayed"),
            (CheckName::ToleratesDrift, "no newer-version payloads"),
        ];
        for (check, why) in cases {
            let r = case.state_check(check);
            assert_verdict(&r, Verdict::Skipped);
            assert_summary(&r, why);
        }
        // A restart without a kill is not a crash.
        let case = Case::new(Run::all_acked().sut_event(10, "restarted"));
        assert_verdict(
            &case.state_check(CheckName::AckAfterCommit),
            Verdict::Skipped,
        );
    }

    #[test]
    fn only_wanted_checks_run() {
        let case = Case::new(Run::all_acked());
        let input = case.input();
        assert!(state_checks(&input, &[CheckName::Contract]).is_empty());
        let r = state_checks(&input, &[CheckName::Converges, CheckName::NoLoss]);
        let names: Vec<CheckName> = r.iter().map(|r| r.check).collect();
        assert_eq!(names, vec![CheckName::NoLoss, CheckName::Converges]);
    }

    // ---- no_loss ----

    #[test]
    fn no_loss_passes_when_every_effect_is_there() {
        let r = Case::new(Run::all_acked()).state_check(CheckName::NoLoss);
        assert_verdict(&r, Verdict::Pass);
        assert_summary(&r, "every effect of the clean run is present");
        assert!(!r.summary.contains("dead-lettered"), "{}", r.summary);
    }

    #[test]
    fn no_loss_fails_on_a_missing_ticket_of_an_acked_event() {
        let case = Case::new(Run::all_acked().edit(|s| remove_object(s, "4")));
        let r = case.state_check(CheckName::NoLoss);
        assert_verdict(&r, Verdict::Fail);
        // The ticket and its association to Grace.
        assert_summary(&r, "2 effect(s) of acked events are missing");
        assert_eq!(evidence_ids(&r), ids(&[CREATE_2]));
        assert!(evidence_mentions(&r, "helpdesk_ticket_id=70002"), "{r:#?}");
        assert!(
            r.evidence[0]
                .timeline
                .iter()
                .any(|l| l.contains("acked 200")),
            "{r:#?}"
        );
    }

    #[test]
    fn no_loss_fails_on_a_missing_association_alone() {
        let case = Case::new(Run::all_acked().edit(|s| remove_association(s, "5", "3")));
        let r = case.state_check(CheckName::NoLoss);
        assert_verdict(&r, Verdict::Fail);
        assert_summary(&r, "1 effect(s)");
        assert!(evidence_mentions(&r, "association notes:"), "{r:#?}");
        // The note's comment id is the most specific key: only the comment event.
        assert_eq!(evidence_ids(&r), ids(&[COMMENT_1]));
    }

    #[test]
    fn no_loss_excuses_effects_of_events_that_dead_lettered_without_an_ack() {
        let w = workload();
        let faulted = Run::new(&w)
            .ack(CREATE_1)
            .dead_letter(CREATE_2)
            .ack(STATUS_1)
            .ack(COMMENT_1)
            .snapshot(correct_state())
            .edit(|s| remove_object(s, "4"));
        let r = Case::new(faulted).state_check(CheckName::NoLoss);
        assert_verdict(&r, Verdict::Pass);
        assert_summary(
            &r,
            "2 missing effect(s) belong to events that dead-lettered",
        );
    }

    #[test]
    fn no_loss_does_not_excuse_a_valid_event_rejected_with_a_4xx() {
        let w = workload();
        let faulted = Run::new(&w)
            .ack(CREATE_1)
            .deliver(
                CREATE_2,
                "original",
                SignatureMode::Valid,
                &[(20, 5, rejected(422))],
            )
            .ack(STATUS_1)
            .ack(COMMENT_1)
            .snapshot(correct_state())
            .edit(|s| remove_object(s, "4"));
        let r = Case::new(faulted).state_check(CheckName::NoLoss);
        assert_verdict(&r, Verdict::Fail);
        assert_eq!(evidence_ids(&r), ids(&[CREATE_2]));
    }

    #[test]
    fn no_loss_counts_a_lost_ack_as_an_ack() {
        let w = workload();
        let faulted = Run::new(&w)
            .ack(CREATE_1)
            .deliver(
                CREATE_2,
                "original",
                SignatureMode::Valid,
                &[(20, 5, ack_lost()), (200, 5, retryable(503))],
            )
            .ack(STATUS_1)
            .ack(COMMENT_1)
            .snapshot(correct_state())
            .edit(|s| remove_object(s, "4"));
        let r = Case::new(faulted).state_check(CheckName::NoLoss);
        assert_verdict(&r, Verdict::Fail);
        assert_eq!(evidence_ids(&r), ids(&[CREATE_2]));
    }

    #[test]
    fn no_loss_blames_an_unattributable_missing_object() {
        let clean = Run::all_acked().edit(|s| {
            add_object(
                s,
                super::super::diff::tests::object("contacts", "9", &[("email", "x@nowhere")]),
            )
        });
        let r = Case::with(clean, Run::all_acked()).state_check(CheckName::NoLoss);
        assert_verdict(&r, Verdict::Fail);
        assert!(evidence_mentions(&r, "email=x@nowhere"), "{r:#?}");
        assert!(evidence_ids(&r).is_empty());
    }

    // ---- idempotent ----

    #[test]
    fn idempotent_passes_when_a_duplicate_changes_nothing() {
        let faulted = Run::all_acked().deliver(
            COMMENT_1,
            "duplicate",
            SignatureMode::Valid,
            &[(500, 5, acked())],
        );
        let r = Case::new(faulted).state_check(CheckName::Idempotent);
        assert_verdict(&r, Verdict::Pass);
        assert_summary(&r, "(1 extra deliveries of valid events)");
    }

    #[test]
    fn idempotent_fails_on_an_extra_note() {
        let faulted = Run::all_acked()
            .deliver(
                COMMENT_1,
                "duplicate",
                SignatureMode::Valid,
                &[(500, 5, acked())],
            )
            .edit(|s| {
                let dup = copy_of(s, "5", "6");
                add_object(s, dup);
            });
        let r = Case::new(faulted).state_check(CheckName::Idempotent);
        assert_verdict(&r, Verdict::Fail);
        assert_summary(
            &r,
            "1 object(s) or association(s) duplicated after 1 extra deliveries",
        );
        assert_eq!(evidence_ids(&r), ids(&[COMMENT_1]));
        assert!(
            evidence_mentions(&r, "expected 1, found 2 (duplicates)"),
            "{r:#?}"
        );
    }

    #[test]
    fn idempotent_fails_on_a_duplicate_association() {
        let faulted = Run::all_acked().edit(|s| {
            let again = s.associations[0].clone();
            s.associations.push(again);
        });
        let r = Case::new(faulted).state_check(CheckName::Idempotent);
        assert_verdict(&r, Verdict::Fail);
        assert!(
            evidence_mentions(&r, "association tickets:helpdesk_ticket_id=70001"),
            "{r:#?}"
        );
        assert_eq!(evidence_ids(&r), ids(&[CREATE_1, COMMENT_1, STATUS_1]));
    }

    #[test]
    fn forged_copies_are_not_counted_as_extra_deliveries() {
        let faulted = Run::all_acked().deliver(
            "forged-1",
            "forgery",
            SignatureMode::Forged,
            &[(500, 5, rejected(401))],
        );
        let r = Case::new(faulted).state_check(CheckName::Idempotent);
        assert_verdict(&r, Verdict::Pass);
        assert_summary(&r, "(0 extra deliveries");
    }

    // ---- converges ----

    #[test]
    fn converges_passes_on_identical_states_with_other_crm_ids() {
        let faulted = Run::all_acked().edit(|s| {
            // Same content, created in another order: other CRM ids.
            let t = copy_of(s, "3", "13");
            remove_object(s, "3");
            add_object(s, t);
            s.associations.push(crate::crm::Association {
                from_type: "tickets".into(),
                from_id: "13".into(),
                to_type: "contacts".into(),
                to_id: "1".into(),
                category: "HUBSPOT_DEFINED".into(),
                type_id: 16,
            });
            s.associations.push(crate::crm::Association {
                from_type: "notes".into(),
                from_id: "5".into(),
                to_type: "tickets".into(),
                to_id: "13".into(),
                category: "HUBSPOT_DEFINED".into(),
                type_id: 16,
            });
        });
        let case = Case::new(faulted);
        assert_verdict(&case.state_check(CheckName::Converges), Verdict::Pass);
        assert_verdict(&case.state_check(CheckName::NoLoss), Verdict::Pass);
        assert_verdict(&case.state_check(CheckName::Idempotent), Verdict::Pass);
    }

    #[test]
    fn converges_fails_on_a_property_mismatch() {
        let faulted = Run::all_acked().edit(|s| set_property(s, "3", "hs_pipeline_stage", "1"));
        let case = Case::new(faulted);
        let r = case.state_check(CheckName::Converges);
        assert_verdict(&r, Verdict::Fail);
        assert_summary(
            &r,
            "1 object(s) ended in another state than in the clean run",
        );
        assert!(
            evidence_mentions(&r, "hs_pipeline_stage: expected \"4\", found \"1\""),
            "{r:#?}"
        );
        // Attributed to the events of ticket 70001.
        assert_eq!(evidence_ids(&r), ids(&[CREATE_1, STATUS_1, COMMENT_1]));
        // A mismatch is not a loss nor a duplicate.
        assert_verdict(&case.state_check(CheckName::NoLoss), Verdict::Pass);
        assert_verdict(&case.state_check(CheckName::Idempotent), Verdict::Pass);
    }

    // ---- ack_after_commit ----

    #[test]
    fn ack_after_commit_passes_when_acked_effects_survive_the_crash() {
        let r = Case::new(Run::all_acked().kill_at(1_000)).state_check(CheckName::AckAfterCommit);
        assert_verdict(&r, Verdict::Pass);
        assert_summary(&r, "1 crash(es); 4 event(s) were acked before the last one");
    }

    #[test]
    fn ack_after_commit_fails_on_the_missing_effect_of_an_event_acked_before_a_kill() {
        let w = workload();
        let faulted = Run::new(&w)
            .ack_at(CREATE_1, 10, 5)
            .ack_at(CREATE_2, 20, 5)
            .kill_at(100)
            .ack_at(STATUS_1, 300, 5)
            .ack_at(COMMENT_1, 310, 5)
            .snapshot(correct_state())
            .edit(|s| remove_object(s, "4"));
        let r = Case::new(faulted).state_check(CheckName::AckAfterCommit);
        assert_verdict(&r, Verdict::Fail);
        assert_summary(&r, "1 crash(es); 2 event(s) were acked before the last one");
        assert_summary(&r, "2 of their effects are missing after the restart");
        assert_eq!(evidence_ids(&r), ids(&[CREATE_2]));
    }

    #[test]
    fn ack_after_commit_ignores_effects_of_events_acked_after_the_restart() {
        let w = workload();
        let faulted = Run::new(&w)
            .ack_at(CREATE_1, 10, 5)
            .kill_at(100)
            .ack_at(CREATE_2, 300, 5)
            .ack_at(STATUS_1, 310, 5)
            .ack_at(COMMENT_1, 320, 5)
            .snapshot(correct_state())
            .edit(|s| remove_object(s, "4"));
        let case = Case::new(faulted);
        let r = case.state_check(CheckName::AckAfterCommit);
        assert_verdict(&r, Verdict::Pass);
        assert_summary(&r, "1 event(s) were acked before the last one");
        // That loss is still a loss.
        assert_verdict(&case.state_check(CheckName::NoLoss), Verdict::Fail);
    }

    // ---- replays ----

    #[test]
    fn replays_pass_when_the_replayed_event_lands_once() {
        let w = workload();
        let faulted = Run::new(&w)
            .ack(CREATE_1)
            .dead_letter(CREATE_2)
            .ack(STATUS_1)
            .ack(COMMENT_1)
            .deliver(
                CREATE_2,
                "replay",
                SignatureMode::Valid,
                &[(2_000, 5, acked())],
            )
            .replayed(&[CREATE_2])
            .snapshot(correct_state());
        let r = Case::new(faulted).state_check(CheckName::Replays);
        assert_verdict(&r, Verdict::Pass);
        assert_summary(
            &r,
            "1 dead-lettered event(s) replayed; each landed exactly once",
        );
    }

    #[test]
    fn replays_do_not_count_differences_explained_by_dead_letters_left_out() {
        // Ticket 1's creation dead-lettered and was replayed; its status
        // change dead-lettered too but fell outside the replayed window, so
        // the ticket keeps its first stage: not the replay's fault.
        let w = workload();
        let faulted = Run::new(&w)
            .dead_letter(CREATE_1)
            .ack(CREATE_2)
            .dead_letter(STATUS_1)
            .ack(COMMENT_1)
            .deliver(
                CREATE_1,
                "replay",
                SignatureMode::Valid,
                &[(2_000, 5, acked())],
            )
            .replayed(&[CREATE_1])
            .snapshot(correct_state())
            .edit(|s| set_property(s, "3", "hs_pipeline_stage", "1"));
        let r = Case::new(faulted).state_check(CheckName::Replays);
        assert_verdict(&r, Verdict::Pass);
        assert!(r.summary.contains("1 difference(s) also touched"), "{r:#?}");
        // Had the status change been acked, the same difference would be
        // the replay's.
        let owed = Run::new(&w)
            .dead_letter(CREATE_1)
            .ack(CREATE_2)
            .ack(STATUS_1)
            .ack(COMMENT_1)
            .deliver(
                CREATE_1,
                "replay",
                SignatureMode::Valid,
                &[(2_000, 5, acked())],
            )
            .replayed(&[CREATE_1])
            .snapshot(correct_state())
            .edit(|s| set_property(s, "3", "hs_pipeline_stage", "1"));
        let r = Case::new(owed).state_check(CheckName::Replays);
        assert_verdict(&r, Verdict::Fail);
    }

    #[test]
    fn replays_fail_when_a_replayed_delivery_is_not_acked() {
        let w = workload();
        let faulted = Run::new(&w)
            .ack(CREATE_1)
            .dead_letter(CREATE_2)
            .ack(STATUS_1)
            .ack(COMMENT_1)
            .deliver(
                CREATE_2,
                "replay",
                SignatureMode::Valid,
                &[(2_000, 5, rejected(409))],
            )
            .replayed(&[CREATE_2])
            .snapshot(correct_state())
            .edit(|s| remove_object(s, "4"));
        let r = Case::new(faulted).state_check(CheckName::Replays);
        assert_verdict(&r, Verdict::Fail);
        assert!(
            evidence_mentions(&r, "replayed ticket.created was not acked (Rejected)"),
            "{r:#?}"
        );
        assert_eq!(evidence_ids(&r), ids(&[CREATE_2]));
        // The rejection plus the missing ticket and its association.
        assert_summary(&r, "3 did not land exactly once");
    }

    #[test]
    fn replays_fail_when_a_replay_lands_twice() {
        let w = workload();
        let faulted = Run::new(&w)
            .ack(CREATE_1)
            .dead_letter(CREATE_2)
            .ack(STATUS_1)
            .ack(COMMENT_1)
            .deliver(
                CREATE_2,
                "replay",
                SignatureMode::Valid,
                &[(2_000, 5, acked())],
            )
            .replayed(&[CREATE_2])
            .snapshot(correct_state())
            .edit(|s| {
                let mut dup = copy_of(s, "4", "14");
                dup.properties
                    .insert("helpdesk_ticket_id".into(), TICKET_2.into());
                add_object(s, dup);
            });
        let r = Case::new(faulted).state_check(CheckName::Replays);
        assert_verdict(&r, Verdict::Fail);
        assert!(evidence_mentions(&r, "(duplicates)"), "{r:#?}");
        assert_eq!(evidence_ids(&r), ids(&[CREATE_2]));
    }

    // ---- tolerates_drift ----

    #[test]
    fn tolerates_drift_passes_when_drifted_events_are_acked_and_applied() {
        let r = Case::new(Run::all_acked().drifted(&[STATUS_1, COMMENT_1]))
            .state_check(CheckName::ToleratesDrift);
        assert_verdict(&r, Verdict::Pass);
        assert_summary(
            &r,
            "2 event(s) sent in a newer payload version; all acked and applied",
        );
    }

    #[test]
    fn tolerates_drift_fails_when_a_drifted_event_is_rejected_with_400() {
        let w = workload();
        let faulted = Run::new(&w)
            .ack(CREATE_1)
            .ack(CREATE_2)
            .deliver(
                STATUS_1,
                "original",
                SignatureMode::Valid,
                &[(50, 3, rejected(400))],
            )
            .ack(COMMENT_1)
            .drifted(&[STATUS_1])
            .snapshot(correct_state())
            .edit(|s| set_property(s, "3", "hs_pipeline_stage", "1"));
        let r = Case::new(faulted).state_check(CheckName::ToleratesDrift);
        assert_verdict(&r, Verdict::Fail);
        assert!(
            evidence_mentions(
                &r,
                "newer-version ticket.status_changed event was rejected (rejected 400)"
            ),
            "{r:#?}"
        );
        assert_eq!(r.evidence[0].event_ids, vec![STATUS_1.to_string()]);
        assert!(!r.evidence[0].timeline.is_empty());
        // The refusal and the ticket left in its old stage.
        assert_summary(
            &r,
            "1 event(s) sent in a newer payload version; 2 refused or misapplied",
        );
    }

    #[test]
    fn tolerates_drift_fails_when_a_drifted_event_is_acked_but_misapplied() {
        let faulted = Run::all_acked()
            .drifted(&[STATUS_1])
            .edit(|s| set_property(s, "3", "hs_pipeline_stage", "1"));
        let r = Case::new(faulted).state_check(CheckName::ToleratesDrift);
        assert_verdict(&r, Verdict::Fail);
        assert!(evidence_mentions(&r, "hs_pipeline_stage"), "{r:#?}");
        assert_summary(&r, "1 refused or misapplied");
    }

    #[test]
    fn tolerates_drift_ignores_differences_unrelated_to_drifted_events() {
        // Ticket 70002 is missing, but only events of ticket 70001 drifted.
        let faulted = Run::all_acked()
            .drifted(&[STATUS_1])
            .edit(|s| remove_object(s, "4"));
        let r = Case::new(faulted).state_check(CheckName::ToleratesDrift);
        assert_verdict(&r, Verdict::Pass);
    }

    // ---- declared mapping (expected-state oracle) ----

    #[test]
    fn declared_mapping_passes_on_the_correct_state() {
        let case = Case::new(Run::all_acked()).mapping(Mapping::canonical());
        for check in [CheckName::NoLoss, CheckName::Idempotent] {
            let r = case.state_check(check);
            assert_verdict(&r, Verdict::Pass);
            assert!(!r.summary.contains("declared mapping"), "{}", r.summary);
        }
    }

    #[test]
    fn a_dropped_association_fails_no_loss_even_when_both_runs_agree() {
        let drop = |s: &mut crate::crm::CrmSnapshot| remove_association(s, "3", "1");
        let case = Case::with(Run::all_acked().edit(drop), Run::all_acked().edit(drop));
        // Without the mapping the differential oracle sees nothing.
        assert_verdict(&case.state_check(CheckName::NoLoss), Verdict::Pass);
        let case = case.mapping(Mapping::canonical());
        let r = case.state_check(CheckName::NoLoss);
        assert_verdict(&r, Verdict::Fail);
        assert_eq!(r.summary, "2 violation(s) of the declared mapping");
        assert_eq!(evidence_ids(&r), ids(&[CREATE_1]));
        assert!(
            evidence_mentions(
                &r,
                "clean run: tickets 70001 is not associated with contacts ada.lovelace0@customer.example"
            ),
            "{r:#?}"
        );
        assert!(
            evidence_mentions(&r, "faulted run: tickets 70001"),
            "{r:#?}"
        );
        // The mapping adds nothing to the other checks.
        assert_verdict(&case.state_check(CheckName::Idempotent), Verdict::Pass);
        assert_verdict(&case.state_check(CheckName::Converges), Verdict::Pass);
    }

    #[test]
    fn a_duplicate_contact_in_both_runs_fails_idempotent_with_the_mapping() {
        let dup = |s: &mut crate::crm::CrmSnapshot| {
            let c = copy_of(s, "1", "7");
            add_object(s, c);
        };
        let case = Case::with(Run::all_acked().edit(dup), Run::all_acked().edit(dup));
        assert_verdict(&case.state_check(CheckName::Idempotent), Verdict::Pass);
        let case = case.mapping(Mapping::canonical());
        let r = case.state_check(CheckName::Idempotent);
        assert_verdict(&r, Verdict::Fail);
        assert_eq!(evidence_ids(&r), ids(&[CREATE_1]));
        assert!(
            evidence_mentions(&r, "2 contacts with email=ada.lovelace0@customer.example"),
            "{r:#?}"
        );
        assert_summary(&r, "2 violation(s) of the declared mapping");
    }

    #[test]
    fn declared_violations_are_appended_to_a_differential_failure() {
        // Faulted run alone lacks ticket 70002: a differential loss, and
        // the declared mapping says so too (the ticket and its association).
        let case = Case::new(Run::all_acked().edit(|s| remove_object(s, "4")))
            .mapping(Mapping::canonical());
        let r = case.state_check(CheckName::NoLoss);
        assert_verdict(&r, Verdict::Fail);
        assert_summary(&r, "2 effect(s) of acked events are missing");
        assert_summary(&r, "; 2 violation(s) of the declared mapping");
        assert!(evidence_mentions(
            &r,
            "faulted run: no tickets with helpdesk_ticket_id=70002"
        ));
    }

    #[test]
    fn the_mapping_is_not_consulted_when_a_run_did_not_settle() {
        let drop = |s: &mut crate::crm::CrmSnapshot| remove_association(s, "3", "1");
        let case = Case::with(
            Run::all_acked().edit(drop),
            Run::all_acked().edit(drop).timed_out("deadline"),
        )
        .mapping(Mapping::canonical());
        let r = case.state_check(CheckName::NoLoss);
        assert_verdict(&r, Verdict::Unknown);
        assert!(r.evidence.is_empty());
    }

    // ---- key index ----

    #[test]
    fn key_index_prefers_the_most_specific_key() {
        let workload = workload();
        let index = KeyIndex::new(
            &workload,
            [
                NOTE_BODY,
                TICKET_2,
                ADA,
                "unrelated words",
                "requester2@x.example",
            ],
        );
        // A note body naming the comment and its ticket: the comment wins.
        assert_eq!(index.related([NOTE_BODY]), vec![COMMENT_1.to_string()]);
        assert_eq!(index.related([TICKET_2]), vec![CREATE_2.to_string()]);
        // An email names the creations of its requester's tickets.
        assert_eq!(index.related([ADA]), vec![CREATE_1.to_string()]);
        assert!(index.related(["unrelated words"]).is_empty());
    }

    #[test]
    fn key_index_holds_only_the_keys_its_texts_name() {
        let workload = workload();
        let index = KeyIndex::new(&workload, [format!("note on {TICKET_2}").as_str()]);
        assert_eq!(index.related([TICKET_2]), vec![CREATE_2.to_string()]);
        // Ada's email and the comment were not named: not indexed.
        assert!(index.related([ADA]).is_empty());
        assert!(index.related([NOTE_BODY]).is_empty());
    }
}
