//! The check registry: which checks exist and how to run them.

use super::input::CheckInput;
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
pub fn run_checks(input: &CheckInput) -> Vec<CheckResult> {
    let names = applicable(input);
    let mut results = Vec::new();
    for name in &names {
        match name {
            CheckName::Contract => results.push(contract::contract(input)),
            CheckName::RejectsForgeries => results.push(forgery::rejects_forgeries(input)),
            CheckName::AckLatency => results.push(timing::ack_latency(input)),
            CheckName::BacksOff => results.push(timing::backs_off(input)),
            CheckName::AuditTrail => results.push(audit::audit_trail(input)),
            CheckName::NoClobber => results.push(clobber::no_clobber(input)),
            // The state checks share one diff; see below.
            _ => {}
        }
    }
    results.extend(state::state_checks(input, &names));
    results.sort_by_key(|r| r.check);
    results
}
