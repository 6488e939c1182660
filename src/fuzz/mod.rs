//! Property-based fuzzing: proptest generates workloads and fault schedules
//! as scenarios, runs them against the SUT, and shrinks the first failure to
//! a minimal scenario file that `hookproof run` replays.
//!
//! - [`strategy`]: the proptest strategies (also for `cargo test` users).
//! - [`campaign`]: generate, run, shrink, save, confirm.
//! - [`regressions`]: failing cases kept as scenario files, re-checked first.
//! - [`summary`]: the terminal summary.

pub mod campaign;
pub mod regressions;
pub mod strategy;
pub mod summary;

pub use campaign::{FuzzConfig, FuzzError, FuzzEvent, FuzzFailure, FuzzReport, event_count, fuzz};
pub use strategy::{FuzzSpace, TIMING_CHECKS, default_properties};
