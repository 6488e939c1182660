//! `selftest`: measures the suite's power. The reference receiver must pass
//! every scenario; each flawed variant (one broken rule each) must fail at
//! least one. The result is a matrix of SUT × scenario.

use crate::check::{CheckName, Verdict};
use crate::reference::Flaw;
use crate::runner::{RunConfig, RunEvent, SuiteError, run_named, run_suite};
use crate::scenario::Scenario;
use serde::{Deserialize, Serialize};

/// One cell: what one SUT did in one scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    /// Scenario name.
    pub scenario: String,
    /// Checks that failed (or were unknown where not allowed).
    pub failed: Vec<CheckName>,
}

/// One row: a SUT and the scenarios it ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// `reference` or the flaw's name.
    pub sut: String,
    /// The rule the flaw breaks (empty for the reference).
    pub rule: String,
    /// Cells, in the order they ran (a flaw's row stops at its first
    /// failing scenario unless the matrix is full).
    pub cells: Vec<Cell>,
}

impl Row {
    /// Whether any scenario failed this SUT.
    pub fn caught(&self) -> bool {
        self.cells.iter().any(|c| !c.failed.is_empty())
    }
}

/// The matrix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Matrix {
    /// The reference receiver first, then one row per flaw.
    pub rows: Vec<Row>,
}

impl Matrix {
    /// The reference passed everything and every flaw was caught.
    pub fn passed(&self) -> bool {
        self.rows.iter().all(|r| {
            if r.sut == "reference" {
                !r.caught()
            } else {
                r.caught()
            }
        })
    }
}

fn failed_checks(scenario: &Scenario, outcome: &crate::runner::ScenarioOutcome) -> Vec<CheckName> {
    outcome
        .checks
        .iter()
        .filter(|c| match c.verdict {
            Verdict::Fail => true,
            Verdict::Unknown => !scenario.checks.allow_unknown,
            _ => false,
        })
        .map(|c| c.check)
        .collect()
}

/// Runs the matrix. `exe` is the hookproof binary (the flaws are started as
/// `EXE sut reference --flaw NAME`). With `full`, every flaw runs every
/// scenario; otherwise a flaw's row stops at its first failing scenario,
/// starting with the scenario written for its failure mode. Complete rows
/// run `jobs` scenarios at a time.
pub async fn selftest(
    base: &RunConfig,
    exe: &str,
    scenarios: &[Scenario],
    flaws: &[Flaw],
    full: bool,
    jobs: usize,
    on_event: &(dyn Fn(RunEvent) + Send + Sync),
) -> Result<Matrix, SuiteError> {
    let mut rows = Vec::new();
    let suts: Vec<Option<Flaw>> = std::iter::once(None)
        .chain(flaws.iter().copied().map(Some))
        .collect();
    for flaw in suts {
        let mut config = base.clone();
        config.sut.command = match flaw {
            None => format!("{exe} sut reference"),
            Some(f) => format!("{exe} sut reference --flaw {f}"),
        };
        let mut order: Vec<&Scenario> = scenarios.iter().collect();
        if let Some(f) = flaw
            && let Some(i) = order.iter().position(|s| s.name == f.field_scenario())
        {
            let first = order.remove(i);
            order.insert(0, first);
        }
        let mut row = Row {
            sut: flaw
                .map(|f| f.to_string())
                .unwrap_or_else(|| "reference".into()),
            rule: flaw
                .map(|f| f.description().to_string())
                .unwrap_or_default(),
            cells: Vec::new(),
        };
        if flaw.is_none() || full {
            let outcomes = run_suite(&config, scenarios, jobs, on_event, &|_, _| {}).await?;
            row.cells = scenarios
                .iter()
                .zip(&outcomes)
                .map(|(s, o)| Cell {
                    scenario: s.name.clone(),
                    failed: failed_checks(s, o),
                })
                .collect();
            rows.push(row);
            continue;
        }
        for (index, scenario) in order.iter().enumerate() {
            on_event(RunEvent::ScenarioStarted {
                name: format!("{} × {}", row.sut, scenario.name),
                index,
                total: order.len(),
            });
            let outcome = run_named(&config, scenario, on_event).await?;
            let failed = failed_checks(scenario, &outcome);
            let stop = !failed.is_empty();
            row.cells.push(Cell {
                scenario: scenario.name.clone(),
                failed,
            });
            if stop {
                break;
            }
        }
        rows.push(row);
    }
    Ok(Matrix { rows })
}
