//! Checks (oracles): each reads the recorded history of a clean run and a
//! faulted run and answers pass, fail or unknown, with evidence.
//!
//! A new check is one file here plus a line in `registry.rs`.

mod audit;
mod clobber;
mod contract;
mod crm_index;
mod diff;
mod drift;
mod forgery;
mod input;
mod mapping;
mod number_map;
mod parallel;
mod registry;
mod state;
#[cfg(test)]
mod testkit;
mod timing;
mod verdict;

pub use diff::{Difference, StateDiff, diff_states};
pub use input::{CheckInput, RunObservation, Seeded, Settle};
pub(crate) use mapping::workload_violations;
pub use mapping::{AssociationMapping, HelpdeskKey, Mapping, ObjectMapping};
pub use registry::{applicable, run_checks};
pub(crate) use timing::quantile;
pub use verdict::{CheckName, CheckResult, Evidence, Verdict};
