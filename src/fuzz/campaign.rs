//! A fuzz campaign: re-check the kept regressions, generate cases, run them
//! against the SUT (several at a time), and shrink the first failure to a
//! minimal case that is saved as a scenario file and replayed once more to
//! confirm it.
//!
//! Each case is an ordinary scenario run ([`run_scenario`]): fresh mocks, a
//! fresh SUT state directory and fresh SUT processes, so a case sees nothing
//! of the one before and `hookproof run` on the saved file is the same run.

use super::regressions::{self, RegressionError};
use super::strategy::{FuzzSpace, scenarios};
use crate::check::{CheckName, CheckResult, Verdict};
use crate::runner::{RunConfig, RunError, ScenarioOutcome, run_scenario};
use crate::scenario::{self, Scenario};
use crate::workload;
use futures::stream::{FuturesUnordered, StreamExt};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// What a campaign needs besides the SUT.
#[derive(Debug, Clone)]
pub struct FuzzConfig {
    /// How to start the SUT and the rest of a run's configuration.
    pub run: RunConfig,
    /// What cases look like.
    pub space: FuzzSpace,
    /// Stop after this many generated cases.
    pub cases: usize,
    /// Stop generating cases after this long (shrinking has its own budget).
    pub time: Option<Duration>,
    /// Seed of the case generator: the same seed generates the same cases.
    pub seed: u64,
    /// Cases run at the same time.
    pub jobs: usize,
    /// Most shrink steps (each re-runs the SUT).
    pub max_shrink_steps: usize,
    /// Longest time spent shrinking.
    pub shrink_time: Duration,
    /// Where failing cases are kept and re-checked first (None: nowhere).
    pub regressions: Option<PathBuf>,
    /// `--sut …` flags to print in replay commands.
    pub sut_flags: String,
    /// Only cases `i` with `i % of == index` (a CI matrix partition, 0-based).
    pub partition: Option<(usize, usize)>,
}

/// Progress notifications.
#[derive(Debug, Clone)]
pub enum FuzzEvent {
    /// A kept regression was re-checked.
    Regression {
        /// Its file.
        path: PathBuf,
        /// Whether it still fails.
        fails: bool,
    },
    /// A generated case finished.
    Case {
        /// Cases finished so far.
        cases: usize,
        /// Since the campaign started.
        elapsed: Duration,
    },
    /// A case failed; shrinking starts.
    Failed {
        /// The failing scenario.
        scenario: Box<Scenario>,
        /// The checks that failed.
        checks: Vec<String>,
    },
    /// One shrink step finished.
    Shrink {
        /// Step number (1-based).
        step: usize,
        /// Events in the smallest failing case so far.
        events: usize,
        /// Faults in the smallest failing case so far.
        faults: usize,
        /// Whether this step's candidate failed (and was kept).
        kept: bool,
    },
}

/// A failure, shrunk.
#[derive(Debug, Clone)]
pub struct FuzzFailure {
    /// The case as generated.
    pub original: Scenario,
    /// The smallest case that still fails the same way.
    pub minimal: Scenario,
    /// Events in the minimal case's workload.
    pub events: usize,
    /// The failing checks of the minimal case (or the run error).
    pub failed: Vec<CheckResult>,
    /// The run error, when the case failed by stopping the SUT rather than
    /// a check (the SUT died or hung).
    pub error: Option<String>,
    /// Shrink steps made.
    pub shrink_steps: usize,
    /// Where the minimal case was saved.
    pub saved: Option<PathBuf>,
    /// Fresh runs of the saved file that failed the same way, in a row (the
    /// first that passes stops them).
    pub confirmed: usize,
    /// Fresh runs asked for; `confirmed == confirm_runs` means the saved
    /// case reproduces reliably.
    pub confirm_runs: usize,
    /// Smaller kept cases given up because they failed only some of the time.
    pub walked_back: usize,
    /// The command that replays it.
    pub replay: String,
}

/// What a campaign found.
#[derive(Debug, Clone)]
pub struct FuzzReport {
    /// The generator seed.
    pub seed: u64,
    /// Generated cases run.
    pub cases: usize,
    /// Kept regressions re-checked.
    pub regressions: usize,
    /// Time spent.
    pub elapsed: Duration,
    /// Time spent running generated cases (not shrinking).
    pub case_time: Duration,
    /// Failures (a kept regression that still fails, or one new shrunk case).
    pub failures: Vec<FuzzFailure>,
}

impl FuzzReport {
    /// Generated cases per second.
    pub fn cases_per_second(&self) -> f64 {
        self.cases as f64 / self.case_time.as_secs_f64().max(1e-9)
    }
}

/// Errors that stop a campaign (as opposed to failing cases).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FuzzError {
    /// The regression directory could not be read or written.
    #[error(transparent)]
    Regressions(#[from] RegressionError),
    /// The harness itself could not run a case (ports, temp dirs, or a SUT
    /// that does not start at all).
    #[error("case `{scenario}`: {error}")]
    Run {
        /// The case.
        scenario: String,
        /// What went wrong.
        #[source]
        error: RunError,
    },
}

/// Fresh runs that must all fail the same way before a minimal case is
/// saved as reproducible.
const CONFIRM_RUNS: usize = 5;

/// Most kept cases given up (walking back from the smallest) when the
/// smaller ones fail only some of the time.
const MAX_WALK_BACK: usize = 6;

/// How a case failed: the failing properties, or a run error.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Signature {
    Checks(BTreeSet<CheckName>),
    Error(&'static str),
}

impl Signature {
    /// Whether a candidate failing as `other` still shows this failure (the
    /// same error happens, or this failure's most specific check fails
    /// again): the shrinker must not slip to a different bug, nor from a
    /// specific check (a forgery accepted) to a generic one that the same
    /// bug also trips (an extra object).
    fn matched_by(&self, other: &Signature) -> bool {
        match (self, other) {
            (Signature::Checks(a), Signature::Checks(b)) => a
                .iter()
                .min_by_key(|c| specificity(**c))
                .is_some_and(|c| b.contains(c)),
            (Signature::Error(a), Signature::Error(b)) => a == b,
            _ => false,
        }
    }
}

/// Rank of a check when several fail: the most specific first (the ones
/// that name a cause), the state checks that many causes trip last.
fn specificity(check: CheckName) -> usize {
    const ORDER: &[CheckName] = &[
        CheckName::RejectsForgeries,
        CheckName::ToleratesDrift,
        CheckName::AckAfterCommit,
        CheckName::Replays,
        CheckName::NoClobber,
        CheckName::AuditTrail,
        CheckName::BacksOff,
        CheckName::AckLatency,
        CheckName::Contract,
        CheckName::Idempotent,
        CheckName::NoLoss,
        CheckName::Converges,
    ];
    ORDER
        .iter()
        .position(|c| *c == check)
        .unwrap_or(ORDER.len())
}

/// The result of one case.
struct Judged {
    signature: Option<Signature>,
    failed: Vec<CheckResult>,
    error: Option<String>,
}

/// Runs one case and judges it; harness errors (the SUT cannot start) stop
/// the campaign, a SUT that dies or hangs is a failing case.
async fn judge(config: &RunConfig, scenario: &Scenario) -> Result<Judged, FuzzError> {
    let quiet = |_| {};
    match run_scenario(config, scenario, &quiet).await {
        Ok(outcome) => Ok(judge_outcome(&outcome)),
        Err(error @ (RunError::SutDied { .. } | RunError::SutHangs { .. })) => {
            let kind = match error {
                RunError::SutDied { .. } => "sut-died",
                _ => "sut-hangs",
            };
            Ok(Judged {
                signature: Some(Signature::Error(kind)),
                failed: Vec::new(),
                error: Some(error.to_string()),
            })
        }
        Err(error) => Err(FuzzError::Run {
            scenario: scenario.name.clone(),
            error,
        }),
    }
}

fn judge_outcome(outcome: &ScenarioOutcome) -> Judged {
    // As `run` judges: an unknown verdict (the run never settled) fails.
    let failed: Vec<CheckResult> = outcome
        .checks
        .iter()
        .filter(|c| matches!(c.verdict, Verdict::Fail | Verdict::Unknown))
        .cloned()
        .collect();
    Judged {
        signature: (!failed.is_empty())
            .then(|| Signature::Checks(failed.iter().map(|c| c.check).collect())),
        failed,
        error: None,
    }
}

/// Events in `scenario`'s workload.
pub fn event_count(scenario: &Scenario) -> usize {
    workload::generate(&scenario.workload, scenario.seed)
        .events
        .len()
}

fn runner_for(seed: u64) -> TestRunner {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &bytes),
    )
}

/// Runs a campaign. Returns when a failure has been shrunk (or a kept
/// regression still fails), or when the case or time budget is spent.
pub async fn fuzz(
    config: &FuzzConfig,
    on_event: &(dyn Fn(FuzzEvent) + Send + Sync),
) -> Result<FuzzReport, FuzzError> {
    let started = Instant::now();
    let mut report = FuzzReport {
        seed: config.seed,
        cases: 0,
        regressions: 0,
        elapsed: Duration::ZERO,
        case_time: Duration::ZERO,
        failures: Vec::new(),
    };

    // 1. Kept regressions first, as they are (they are minimal already).
    if let Some(dir) = &config.regressions {
        let kept = regressions::load(dir)?;
        report.regressions = kept.len();
        let mut runs: FuturesUnordered<_> = kept
            .iter()
            .map(|(path, s)| async move { (path, s, judge(&config.run, s).await) })
            .collect();
        while let Some((path, scenario, judged)) = runs.next().await {
            let judged = judged?;
            on_event(FuzzEvent::Regression {
                path: path.clone(),
                fails: judged.signature.is_some(),
            });
            if judged.signature.is_some() {
                report.failures.push(FuzzFailure {
                    original: scenario.clone(),
                    minimal: scenario.clone(),
                    events: event_count(scenario),
                    failed: judged.failed,
                    error: judged.error,
                    shrink_steps: 0,
                    saved: Some(path.clone()),
                    confirmed: 1,
                    confirm_runs: 1,
                    walked_back: 0,
                    replay: replay_command(&config.sut_flags, &path.display().to_string()),
                });
            }
        }
        if !report.failures.is_empty() {
            report.failures.sort_by(|a, b| a.saved.cmp(&b.saved));
            report.elapsed = started.elapsed();
            return Ok(report);
        }
    }

    // 2. Generated cases, `jobs` at a time, until one fails.
    let strategy = scenarios(config.space.clone()).boxed();
    let mut runner = runner_for(config.seed);
    let cases_started = Instant::now();
    let mut in_flight = FuturesUnordered::new();
    let mut trees = std::collections::HashMap::new();
    let mut next_case = 0usize;
    let mut generated = 0usize;
    let mut first_failure = None;
    loop {
        let out_of_time = config.time.is_some_and(|t| cases_started.elapsed() >= t);
        while first_failure.is_none()
            && !out_of_time
            && generated < config.cases
            && in_flight.len() < config.jobs.max(1)
        {
            let tree = strategy
                .new_tree(&mut runner)
                .expect("the fuzz strategies never reject a case");
            let index = next_case;
            next_case += 1;
            if let Some((k, n)) = config.partition
                && index % n != k
            {
                continue;
            }
            generated += 1;
            let scenario = tree.current();
            trees.insert(index, tree);
            let run = &config.run;
            in_flight.push(async move {
                let judged = judge(run, &scenario).await;
                (index, scenario, judged)
            });
        }
        let Some((index, scenario, judged)) = in_flight.next().await else {
            break;
        };
        let judged = judged?;
        report.cases += 1;
        on_event(FuzzEvent::Case {
            cases: report.cases,
            elapsed: started.elapsed(),
        });
        let tree = trees.remove(&index).expect("every case has its tree");
        if let Some(signature) = judged.signature.clone()
            && first_failure
                .as_ref()
                .is_none_or(|(i, ..): &(usize, _, _, _, _)| index < *i)
        {
            first_failure = Some((index, scenario, signature, judged, tree));
        }
    }
    report.case_time = cases_started.elapsed();

    // 3. Shrink the first failure, save it, replay the saved file.
    if let Some((_, original, signature, judged, tree)) = first_failure {
        on_event(FuzzEvent::Failed {
            scenario: Box::new(original.clone()),
            checks: match &signature {
                Signature::Checks(c) => c.iter().map(|c| c.to_string()).collect(),
                Signature::Error(e) => vec![e.to_string()],
            },
        });
        let failure = shrink(config, original, signature, judged, tree, on_event).await?;
        report.failures.push(failure);
    }
    report.elapsed = started.elapsed();
    Ok(report)
}

fn replay_command(sut_flags: &str, file: &str) -> String {
    format!("hookproof run{sut_flags} --scenario {file}")
}

/// proptest's shrink loop (simplify while the case fails, complicate when a
/// simplification passes), re-running the SUT at every step.
async fn shrink(
    config: &FuzzConfig,
    original: Scenario,
    signature: Signature,
    judged: Judged,
    mut tree: Box<dyn ValueTree<Value = Scenario>>,
    on_event: &(dyn Fn(FuzzEvent) + Send + Sync),
) -> Result<FuzzFailure, FuzzError> {
    let started = Instant::now();
    // Every case the shrinker kept, the original first: when the smallest
    // one turns out to fail only some of the time, the search walks back.
    let mut kept_cases = vec![(original.clone(), judged)];
    let mut steps = 0;
    if tree.simplify() {
        while steps < config.max_shrink_steps && started.elapsed() < config.shrink_time {
            steps += 1;
            let candidate = tree.current();
            let judged = judge(&config.run, &candidate).await?;
            let kept = judged
                .signature
                .as_ref()
                .is_some_and(|s| signature.matched_by(s));
            if kept {
                kept_cases.push((candidate, judged));
            }
            let minimal = &kept_cases.last().expect("the original is kept").0;
            on_event(FuzzEvent::Shrink {
                step: steps,
                events: event_count(minimal),
                faults: minimal.faults.len(),
                kept,
            });
            // Unlike proptest's own loop, a complicate() that cannot undo
            // more does not end the search: the tree is back at the smallest
            // failing value, and other parts of it may still simplify.
            let more = if kept {
                tree.simplify()
            } else {
                tree.complicate() || tree.simplify()
            };
            if !more {
                break;
            }
        }
    }
    let describe = |mut case: Scenario| {
        case.name = format!("{}-min", original.name);
        case.description = format!(
            "minimal failing case of `hookproof fuzz --seed {}` (shrunk in {steps} steps from {} \
             events and {} faults)",
            config.seed,
            event_count(&original),
            original.faults.len()
        );
        case
    };
    // Confirm the smallest kept case with fresh runs of its scenario-file
    // form, as `run` would load it; a case that passes any of them depends
    // on timing, and the next smaller-to-larger one is tried instead, so the
    // saved file fails every time it is replayed (as far as CONFIRM_RUNS
    // runs can tell).
    let mut walked_back = 0;
    let mut best: Option<(Scenario, Judged, usize)> = None;
    while let Some((case, judged)) = kept_cases.pop() {
        let case = describe(case);
        let reparsed = scenario::parse(&regressions::to_toml(&case)?, &case.name)
            .map_err(RegressionError::from)?;
        let mut confirmed = 0;
        while confirmed < CONFIRM_RUNS {
            let replayed = judge(&config.run, &reparsed).await?;
            if !replayed
                .signature
                .as_ref()
                .is_some_and(|s| signature.matched_by(s))
            {
                break;
            }
            confirmed += 1;
        }
        let better = best.as_ref().is_none_or(|(_, _, c)| confirmed > *c);
        if better {
            best = Some((case, judged, confirmed));
        }
        if confirmed == CONFIRM_RUNS || walked_back == MAX_WALK_BACK {
            break;
        }
        walked_back += 1;
    }
    let (minimal, minimal_judged, confirmed) = best.expect("the original is kept");
    let (saved, replay_file) = match &config.regressions {
        Some(dir) => {
            let command = format!("hookproof fuzz{} --seed {}", config.sut_flags, config.seed);
            let path = regressions::save(dir, &minimal, &command)?;
            let shown = path.display().to_string();
            (Some(path), shown)
        }
        None => (None, format!("{}.toml", minimal.name)),
    };
    Ok(FuzzFailure {
        original,
        events: event_count(&minimal),
        minimal,
        failed: minimal_judged.failed,
        error: minimal_judged.error,
        shrink_steps: steps,
        saved,
        confirmed,
        confirm_runs: CONFIRM_RUNS,
        walked_back,
        replay: replay_command(&config.sut_flags, &replay_file),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_on_a_shared_check_or_the_same_error() {
        let checks = |c: &[CheckName]| Signature::Checks(c.iter().copied().collect());
        let original = checks(&[CheckName::Idempotent, CheckName::Converges]);
        assert!(original.matched_by(&checks(&[CheckName::Idempotent])));
        assert!(!original.matched_by(&checks(&[CheckName::Converges])));
        assert!(!original.matched_by(&checks(&[CheckName::NoLoss])));
        let forged = checks(&[CheckName::Idempotent, CheckName::RejectsForgeries]);
        assert!(forged.matched_by(&checks(&[CheckName::RejectsForgeries])));
        assert!(!forged.matched_by(&checks(&[CheckName::Idempotent])));
        assert!(!original.matched_by(&Signature::Error("sut-died")));
        assert!(Signature::Error("sut-died").matched_by(&Signature::Error("sut-died")));
        assert!(!Signature::Error("sut-died").matched_by(&Signature::Error("sut-hangs")));
    }

    #[test]
    fn every_check_has_a_rank() {
        let mut ranks: Vec<usize> = CheckName::ALL.iter().map(|c| specificity(*c)).collect();
        ranks.sort();
        ranks.dedup();
        assert_eq!(ranks, (0..CheckName::ALL.len()).collect::<Vec<_>>());
    }

    #[test]
    fn the_same_seed_generates_the_same_cases() {
        let strategy = scenarios(FuzzSpace::default());
        let draw = |seed| {
            let mut runner = runner_for(seed);
            (0..20)
                .map(|_| strategy.new_tree(&mut runner).unwrap().current())
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
    }
}
