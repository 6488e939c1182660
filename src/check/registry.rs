//! The check registry: which checks exist and how to run them.

use super::input::CheckInput;
use super::parallel::{PARALLEL_FROM, both};
use super::verdict::{CheckName, CheckResult};
use super::{audit, clobber, contract, forgery, state, timing};

/// The checks that apply to `input`'s scenario: those it requires, or every
/// check when it names none.
pub fn applicable(input: &CheckInput) -> Vec<CheckName> {
    if input.scenario.checks.require.is_empty() {
        CheckName::ALL.to_vec()
    } else {
        let mut names = input.scenario.checks.require.clone();
        names.sort();
        names.dedup();
        names
    }
}

/// Runs every applicable check; results in [`CheckName::ALL`] order.
///
/// On a large run (4,096 events or more) the state checks (the diff and
/// the declared-mapping oracle, most of the work) run on a thread of their
/// own beside the others.
pub fn run_checks(input: &CheckInput) -> Vec<CheckResult> {
    run_checks_on(input, input.workload.events.len() >= PARALLEL_FROM)
}

/// [`run_checks`], on two threads when `parallel`.
fn run_checks_on(input: &CheckInput, parallel: bool) -> Vec<CheckResult> {
    let names = applicable(input);
    let state = names.iter().any(|n| state::STATE_CHECKS.contains(n));
    // The faulted run's log, indexed once for the checks that read it (by
    // the thread that asks first; the other waits for it).
    let log = std::sync::OnceLock::new();
    let log = || log.get_or_init(|| input.faulted.log.index());
    let others = || {
        let mut results = Vec::new();
        for name in &names {
            match name {
                CheckName::Contract => results.push(contract::contract(input)),
                CheckName::AckLatency => results.push(timing::ack_latency(input)),
                CheckName::BacksOff => results.push(timing::backs_off(input)),
                CheckName::AuditTrail => results.push(audit::audit_trail(input)),
                CheckName::NoClobber => results.push(clobber::no_clobber(input)),
                // Last, below: on a large run the state thread has indexed
                // the log by then.
                CheckName::RejectsForgeries => {}
                // The state checks share one diff; see `state_checks`.
                _ => {}
            }
        }
        if names.contains(&CheckName::RejectsForgeries) {
            results.push(forgery::rejects_forgeries_in(input, log()));
        }
        results
    };
    let state_checks = || {
        if state {
            state::state_checks_in(input, &names, log(), parallel)
        } else {
            Vec::new()
        }
    };
    let (mut results, state_results) = both(parallel, others, state_checks);
    results.extend(state_results);
    results.sort_by_key(|r| r.check);
    results
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::super::verdict::Verdict;
    use super::*;
    use crate::history::SignatureMode;

    fn verdicts(results: &[CheckResult]) -> Vec<(CheckName, Verdict)> {
        results.iter().map(|r| (r.check, r.verdict)).collect()
    }

    fn traced_writes(run: Run) -> Run {
        EVENTS.iter().enumerate().fold(run, |run, (i, id)| {
            run.request(Req::new(i as u64 * 10, 201).traced(id))
        })
    }

    #[test]
    fn every_check_when_the_scenario_requires_none() {
        let case = Case::new(Run::all_acked());
        assert_eq!(applicable(&case.input()), CheckName::ALL.to_vec());
    }

    #[test]
    fn required_checks_sorted_and_deduplicated() {
        let case = Case::new(Run::all_acked())
            .scenario("[checks]\nrequire = [\"no_loss\", \"contract\", \"no_loss\"]\n");
        assert_eq!(
            applicable(&case.input()),
            vec![CheckName::Contract, CheckName::NoLoss]
        );
        let r = run_checks(&case.input());
        assert_eq!(
            verdicts(&r),
            vec![
                (CheckName::Contract, Verdict::Pass),
                (CheckName::NoLoss, Verdict::Pass)
            ]
        );
    }

    #[test]
    fn a_clean_history_passes_or_skips_every_check_in_report_order() {
        let case = Case::with(
            traced_writes(Run::all_acked()),
            traced_writes(Run::all_acked()),
        );
        let r = run_checks(&case.input());
        use CheckName::*;
        use Verdict::*;
        assert_eq!(
            verdicts(&r),
            vec![
                (Contract, Pass),
                (NoLoss, Pass),
                (Idempotent, Pass),
                (Converges, Pass),
                (RejectsForgeries, Skipped),
                (AckAfterCommit, Skipped),
                (ToleratesDrift, Skipped),
                (Replays, Skipped),
                (BacksOff, Skipped),
                (NoClobber, Skipped),
                (AckLatency, Pass),
                (AuditTrail, Pass),
            ]
        );
    }

    #[test]
    fn a_broken_history_fails_exactly_the_checks_it_breaks() {
        let faulted = traced_writes(Run::all_acked())
            // An accepted forgery.
            .deliver(
                "forged-1",
                "forgery",
                SignatureMode::Forged,
                &[(500, 3, acked())],
            )
            .forged_marker("990001")
            // A retry storm.
            .request(Req::new(1_000, 503));
        let faulted = (1..60)
            .fold(faulted, |run, i| run.request(Req::new(1_000 + i, 503)))
            // Ticket 70002 lost.
            .edit(|s| remove_object(s, "4"));
        let case = Case::new(faulted);
        let r = run_checks(&case.input());
        let failed: Vec<CheckName> = r
            .iter()
            .filter(|r| r.verdict == Verdict::Fail)
            .map(|r| r.check)
            .collect();
        assert_eq!(
            failed,
            vec![
                CheckName::NoLoss,
                CheckName::RejectsForgeries,
                CheckName::BacksOff
            ],
            "{r:#?}"
        );
        assert_eq!(r.len(), CheckName::ALL.len());
        // A large run takes the threaded path: same results.
        assert_eq!(run_checks_on(&case.input(), true), r);
    }

    #[test]
    fn the_threaded_path_gives_the_same_results_with_a_declared_mapping() {
        let faulted = traced_writes(Run::all_acked()).edit(|s| remove_object(s, "4"));
        let case = Case::new(faulted).mapping(super::super::mapping::Mapping::canonical());
        let one_thread = run_checks_on(&case.input(), false);
        let no_loss = one_thread.iter().find(|r| r.check == CheckName::NoLoss);
        assert_eq!(
            no_loss.map(|r| r.verdict),
            Some(Verdict::Fail),
            "{one_thread:#?}"
        );
        assert_eq!(run_checks_on(&case.input(), true), one_thread);
    }

    #[test]
    fn an_unsettled_run_makes_state_checks_unknown_but_not_the_others() {
        let faulted = traced_writes(Run::all_acked())
            .edit(|s| remove_object(s, "4"))
            .timed_out("2 deliveries open");
        let case = Case::new(faulted);
        let r = run_checks(&case.input());
        for result in &r {
            let expected = match result.check {
                CheckName::NoLoss | CheckName::Idempotent | CheckName::Converges => {
                    Verdict::Unknown
                }
                CheckName::Contract | CheckName::AckLatency | CheckName::AuditTrail => {
                    Verdict::Pass
                }
                _ => Verdict::Skipped,
            };
            assert_eq!(result.verdict, expected, "{result:#?}");
        }
    }
}
