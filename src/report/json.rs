//! The JSON report: a stable, documented schema (see `docs/report-format.md`).

use crate::check::{CheckResult, Verdict};
use crate::runner::{RunStats, ScenarioOutcome};
use serde::{Deserialize, Serialize};

/// Version of the JSON report schema.
pub const SCHEMA_VERSION: u32 = 1;

/// One scenario in the report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScenarioReport {
    /// Scenario name.
    pub name: String,
    /// The incident it simulates.
    pub description: String,
    /// `builtin:NAME` or the file path.
    pub source: String,
    /// Seed used.
    pub seed: u64,
    /// `pass` when every check passed or was skipped.
    pub passed: bool,
    /// Verdicts.
    pub checks: Vec<CheckResult>,
    /// Faulted-run counters.
    pub stats: RunStats,
    /// Clean-run counters.
    pub clean_stats: RunStats,
    /// Command that replays this scenario with the same seed.
    pub replay: String,
}

/// Verdict counts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    /// Scenarios run.
    pub scenarios: usize,
    /// Checks that passed.
    pub pass: usize,
    /// Checks that failed.
    pub fail: usize,
    /// Checks that could not decide.
    pub unknown: usize,
    /// Checks that did not apply.
    pub skipped: usize,
}

/// The whole run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunReport {
    /// Schema version ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// hookproof's version.
    pub hookproof_version: String,
    /// Start time (RFC 3339).
    pub started_at: String,
    /// Wall time in ms.
    pub duration_ms: u64,
    /// The SUT command (secrets are never part of it; they travel in the environment).
    pub sut: String,
    /// Signature scheme.
    pub scheme: String,
    /// Overall verdict: every scenario passed.
    pub passed: bool,
    /// Counts.
    pub totals: Totals,
    /// Scenarios in run order.
    pub scenarios: Vec<ScenarioReport>,
}

impl RunReport {
    /// Builds the report from scenario outcomes.
    pub fn new(
        outcomes: &[ScenarioOutcome],
        sut: &str,
        scheme: &str,
        started_at: chrono::DateTime<chrono::Utc>,
        duration: std::time::Duration,
        allow_unknown: &dyn Fn(&str) -> bool,
        replay: &dyn Fn(&ScenarioOutcome) -> String,
    ) -> RunReport {
        let mut totals = Totals {
            scenarios: outcomes.len(),
            ..Totals::default()
        };
        let scenarios: Vec<ScenarioReport> = outcomes
            .iter()
            .map(|o| {
                for c in &o.checks {
                    match c.verdict {
                        Verdict::Pass => totals.pass += 1,
                        Verdict::Fail => totals.fail += 1,
                        Verdict::Unknown => totals.unknown += 1,
                        Verdict::Skipped => totals.skipped += 1,
                    }
                }
                ScenarioReport {
                    name: o.name.clone(),
                    description: o.description.clone(),
                    source: o.source.clone(),
                    seed: o.seed,
                    passed: o.passed(allow_unknown(&o.name)),
                    checks: o.checks.clone(),
                    stats: o.stats.clone(),
                    clean_stats: o.clean_stats.clone(),
                    replay: replay(o),
                }
            })
            .collect();
        RunReport {
            schema_version: SCHEMA_VERSION,
            hookproof_version: env!("CARGO_PKG_VERSION").to_string(),
            started_at: started_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            duration_ms: duration.as_millis() as u64,
            sut: sut.to_string(),
            scheme: scheme.to_string(),
            passed: scenarios.iter().all(|s| s.passed),
            totals,
            scenarios,
        }
    }
}
