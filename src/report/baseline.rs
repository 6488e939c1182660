//! `--baseline OLD.json`: the resilience gate. A run regresses against an
//! earlier report when a check that passed there fails (or is unknown) now,
//! when a scenario's ack p99 grew by more than the allowed share, or when a
//! scenario that passed is gone from the run.

use super::json::RunReport;
use crate::check::Verdict;
use std::fmt::Write;

/// Ack p99 growth below this many milliseconds is noise, never a regression.
pub const P99_NOISE_MS: f64 = 5.0;

/// One regression.
#[derive(Debug, Clone, PartialEq)]
pub struct Regression {
    /// The scenario.
    pub scenario: String,
    /// What got worse.
    pub what: String,
}

/// The comparison of a run with its baseline.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// Regressions (any one fails the gate).
    pub regressions: Vec<Regression>,
    /// Table rows: scenario, baseline p99, p99 now, change, verdict now.
    pub rows: Vec<(String, Option<f64>, f64, String)>,
}

impl Comparison {
    /// Whether the gate passes.
    pub fn passed(&self) -> bool {
        self.regressions.is_empty()
    }

    /// The comparison as a table, then the regressions.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let width = self
            .rows
            .iter()
            .map(|r| r.0.len())
            .max()
            .unwrap_or(8)
            .max(8);
        let _ = writeln!(
            out,
            "{:<width$}  {:>12}  {:>12}  {:>8}  now",
            "scenario", "baseline p99", "p99 now", "change"
        );
        for (name, before, now, verdict) in &self.rows {
            let (before, change) = match before {
                Some(b) if *b > 0.0 => (
                    format!("{b:.1}ms"),
                    format!("{:+.0}%", (now / b - 1.0) * 100.0),
                ),
                Some(b) => (format!("{b:.1}ms"), "-".into()),
                None => ("(new)".into(), "-".into()),
            };
            let _ = writeln!(
                out,
                "{name:<width$}  {before:>12}  {:>12}  {change:>8}  {verdict}",
                format!("{now:.1}ms")
            );
        }
        if self.regressions.is_empty() {
            out.push_str("baseline gate: no regression\n");
        } else {
            let _ = writeln!(
                out,
                "baseline gate: {} regression(s)",
                self.regressions.len()
            );
            for r in &self.regressions {
                let _ = writeln!(out, "  {}: {}", r.scenario, r.what);
            }
        }
        out
    }
}

/// Compares `now` with `baseline`; `max_p99_growth_pct` is the allowed ack
/// p99 growth in percent (growth under [`P99_NOISE_MS`] is always allowed).
pub fn compare(baseline: &RunReport, now: &RunReport, max_p99_growth_pct: f64) -> Comparison {
    let mut regressions = Vec::new();
    let mut rows = Vec::new();
    for s in &now.scenarios {
        let before = baseline.scenarios.iter().find(|b| b.name == s.name);
        rows.push((
            s.name.clone(),
            before.map(|b| b.stats.ack_p99_ms),
            s.stats.ack_p99_ms,
            if s.passed {
                "pass".into()
            } else {
                "FAIL".into()
            },
        ));
        let Some(before) = before else { continue };
        for check in &s.checks {
            let was = before.checks.iter().find(|c| c.check == check.check);
            let passed_before = was.is_some_and(|c| c.verdict == Verdict::Pass);
            if passed_before && matches!(check.verdict, Verdict::Fail | Verdict::Unknown) {
                let what = match check.check.as_str() {
                    "no_loss" => "new loss: ",
                    "idempotent" => "new duplicates: ",
                    _ => "",
                };
                regressions.push(Regression {
                    scenario: s.name.clone(),
                    what: format!(
                        "{what}{} passed in the baseline, {} now: {}",
                        check.check,
                        if check.verdict == Verdict::Fail {
                            "fails"
                        } else {
                            "unknown"
                        },
                        check.summary
                    ),
                });
            }
        }
        let (b, n) = (before.stats.ack_p99_ms, s.stats.ack_p99_ms);
        if n - b > P99_NOISE_MS && b > 0.0 && (n / b - 1.0) * 100.0 > max_p99_growth_pct {
            regressions.push(Regression {
                scenario: s.name.clone(),
                what: format!(
                    "ack p99 {b:.1}ms → {n:.1}ms (+{:.0}%, more than the allowed {max_p99_growth_pct}%)",
                    (n / b - 1.0) * 100.0
                ),
            });
        }
    }
    for b in &baseline.scenarios {
        if b.passed && !now.scenarios.iter().any(|s| s.name == b.name) {
            regressions.push(Regression {
                scenario: b.name.clone(),
                what: "passed in the baseline, not run now (run the same scenarios, or the same partition)".into(),
            });
        }
    }
    Comparison { regressions, rows }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{CheckName, CheckResult};
    use crate::report::json::{ScenarioReport, Totals};
    use crate::runner::RunStats;

    fn scenario(name: &str, p99: f64, checks: &[(CheckName, Verdict)]) -> ScenarioReport {
        ScenarioReport {
            name: name.into(),
            description: String::new(),
            source: format!("builtin:{name}"),
            seed: 1,
            passed: checks.iter().all(|(_, v)| *v == Verdict::Pass),
            checks: checks
                .iter()
                .map(|(c, v)| CheckResult {
                    check: *c,
                    verdict: *v,
                    summary: "summary".into(),
                    evidence: Vec::new(),
                })
                .collect(),
            stats: RunStats {
                ack_p99_ms: p99,
                ..RunStats::default()
            },
            clean_stats: RunStats::default(),
            replay: String::new(),
        }
    }

    fn report(scenarios: Vec<ScenarioReport>) -> RunReport {
        RunReport {
            schema_version: 1,
            hookproof_version: "0".into(),
            started_at: "2026-11-23T00:00:00Z".into(),
            duration_ms: 1,
            sut: "sut".into(),
            scheme: "zendesk".into(),
            passed: scenarios.iter().all(|s| s.passed),
            totals: Totals::default(),
            scenarios,
        }
    }

    use CheckName::{Idempotent, NoLoss};
    use Verdict::{Fail, Pass};

    #[test]
    fn an_unchanged_run_passes_the_gate() {
        let old = report(vec![scenario("dup", 40.0, &[(Idempotent, Pass)])]);
        let new = report(vec![scenario("dup", 44.0, &[(Idempotent, Pass)])]);
        let c = compare(&old, &new, 20.0);
        assert!(c.passed(), "{}", c.table());
        assert!(c.table().contains("+10%"));
    }

    #[test]
    fn a_newly_failing_check_is_a_regression() {
        let old = report(vec![scenario("outage", 20.0, &[(NoLoss, Pass)])]);
        let new = report(vec![scenario("outage", 20.0, &[(NoLoss, Fail)])]);
        let c = compare(&old, &new, 20.0);
        assert_eq!(c.regressions.len(), 1);
        assert!(c.regressions[0].what.starts_with("new loss: no_loss"));
    }

    #[test]
    fn a_check_failing_in_both_is_not_new() {
        let old = report(vec![scenario("s", 20.0, &[(Idempotent, Fail)])]);
        let new = report(vec![scenario("s", 20.0, &[(Idempotent, Fail)])]);
        assert!(compare(&old, &new, 20.0).passed());
    }

    #[test]
    fn p99_growth_beyond_the_allowance_and_the_noise_floor() {
        let old = report(vec![scenario("s", 40.0, &[(Idempotent, Pass)])]);
        let slower = report(vec![scenario("s", 60.0, &[(Idempotent, Pass)])]);
        assert!(!compare(&old, &slower, 20.0).passed());
        assert!(compare(&old, &slower, 60.0).passed());
        // +100 % of 2 ms is 2 ms: noise.
        let tiny = report(vec![scenario("s", 2.0, &[(Idempotent, Pass)])]);
        let tiny_now = report(vec![scenario("s", 4.0, &[(Idempotent, Pass)])]);
        assert!(compare(&tiny, &tiny_now, 20.0).passed());
    }

    #[test]
    fn a_passing_scenario_missing_from_the_run_is_a_regression() {
        let old = report(vec![
            scenario("a", 1.0, &[(Idempotent, Pass)]),
            scenario("b", 1.0, &[(Idempotent, Pass)]),
        ]);
        let new = report(vec![scenario("a", 1.0, &[(Idempotent, Pass)])]);
        let c = compare(&old, &new, 20.0);
        assert_eq!(c.regressions.len(), 1);
        assert_eq!(c.regressions[0].scenario, "b");
    }
}
