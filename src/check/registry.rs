//! The check registry: which checks exist and how to run them.

use super::input::CheckInput;
use super::verdict::{CheckName, CheckResult};
use super::{contract, forgery, state};

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
            CheckName::NoLoss | CheckName::Idempotent | CheckName::Converges => {}
        }
    }
    results.extend(state::state_checks(input, &names));
    results.sort_by_key(|r| r.check);
    results
}
