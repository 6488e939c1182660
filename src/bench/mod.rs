//! `hookproof bench`: load-tests a receiver with an open-loop schedule of
//! realistic signed webhooks and measures what a user feels — ack latency
//! from the *intended* send time (no coordinated omission), end-to-end sync
//! latency to the CRM, throughput, lost and duplicated effects, retries on
//! both sides and the dead-letter depth — optionally under a CRM fault
//! profile, and optionally as a saturation search for the highest rate that
//! holds a service level.
//!
//! Each step is an ordinary run ([`crate::runner`]'s executor): a fresh SUT
//! with its own mock CRM and helpdesk, the producer delivering the
//! [`load::schedule`], a settle phase, then the recorded history is turned
//! into [`kpi::Kpis`].

pub mod kpi;
pub mod load;
pub mod report;
pub mod saturate;

use crate::check::RunObservation;
use crate::fault::Fault;
use crate::producer::Progress;
use crate::runner::{RunConfig, RunError};
use crate::scenario::{ChecksSpec, DeliverySpec, Scenario, SettleSpec};
use kpi::{Kpis, StepData};
use saturate::{Measurer, Saturation, Slo, Stepping};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// A CRM fault profile to measure under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultProfile {
    /// No faults.
    #[default]
    None,
    /// HubSpot's burst limit: every CRM request answered 429 with
    /// `Retry-After: 1` for one second, a quarter of the way into the step.
    #[serde(rename = "crm-429")]
    Crm429,
    /// A CRM blip: 503 (no `Retry-After`) to every request for one second,
    /// a quarter of the way into the step.
    #[serde(rename = "crm-503")]
    Crm503,
    /// A slow CRM: a quarter of the CRM requests answered 100 ms late.
    CrmLatency,
}

impl FaultProfile {
    /// Every profile, in the order `--help` lists them.
    pub const ALL: &[FaultProfile] = &[
        FaultProfile::None,
        FaultProfile::Crm429,
        FaultProfile::Crm503,
        FaultProfile::CrmLatency,
    ];

    /// The scenario faults of the profile for a step of `duration` (turned
    /// into [`crate::crm::CrmFault`]s by the runner).
    pub fn faults(self, duration: Duration) -> Vec<Fault> {
        let from = Some(duration / 4);
        let window = Some(Duration::from_secs(1).min(duration.max(Duration::from_millis(100))));
        match self {
            FaultProfile::None => Vec::new(),
            FaultProfile::Crm429 => vec![Fault::CrmRateLimit {
                retry_after: Duration::from_secs(1),
                from,
                duration: window,
                fraction: None,
                route: None,
            }],
            FaultProfile::Crm503 => vec![Fault::CrmStatus {
                status: 503,
                from,
                duration: window,
                fraction: None,
                route: None,
                retry_after: None,
            }],
            FaultProfile::CrmLatency => vec![Fault::CrmLatency {
                delay: Duration::from_millis(100),
                from: None,
                duration: None,
                fraction: Some(0.25),
                route: None,
            }],
        }
    }
}

impl std::fmt::Display for FaultProfile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FaultProfile::None => "none",
            FaultProfile::Crm429 => "crm-429",
            FaultProfile::Crm503 => "crm-503",
            FaultProfile::CrmLatency => "crm-latency",
        })
    }
}

impl std::str::FromStr for FaultProfile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FaultProfile::ALL
            .iter()
            .copied()
            .find(|p| p.to_string() == s)
            .ok_or_else(|| {
                format!("{s:?} is not a fault profile; use none, crm-429, crm-503 or crm-latency")
            })
    }
}

/// What to measure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchConfig {
    /// Deliveries per second (the first step's, with `saturate`).
    pub rate: f64,
    /// Send window of a run (of each step, with `saturate`).
    #[serde(with = "crate::scenario::duration")]
    pub duration: Duration,
    /// Run a saturation search instead of one run.
    pub saturate: Option<Stepping>,
    /// The service level a saturation step must hold.
    pub slo: Slo,
    /// CRM faults during every run.
    pub fault_profile: FaultProfile,
    /// Seed of the workload, the duplicates and the fault fractions.
    pub seed: u64,
    /// Share of events delivered a second time (an at-least-once producer).
    pub duplicates: f64,
    /// Most deliveries in flight at once; when reached, later deliveries
    /// start late, and their latency still counts from the intended time.
    pub max_in_flight: usize,
    /// Longest wait, after the last delivery, for the SUT to finish its work.
    #[serde(with = "crate::scenario::duration")]
    pub settle_deadline: Duration,
}

impl Default for BenchConfig {
    fn default() -> Self {
        BenchConfig {
            rate: 200.0,
            duration: Duration::from_secs(10),
            saturate: None,
            slo: Slo {
                ack_p99: Duration::from_millis(100),
                max_error_rate: 0.01,
                e2e_p99: None,
            },
            fault_profile: FaultProfile::None,
            seed: 1,
            duplicates: 0.0,
            max_in_flight: 256,
            settle_deadline: Duration::from_secs(20),
        }
    }
}

impl BenchConfig {
    /// Checks the values; the error names the field's flag.
    pub fn validate(&self) -> Result<(), BenchError> {
        let bad = |flag: &'static str, message: String| Err(BenchError::Invalid { flag, message });
        if !(self.rate.is_finite() && self.rate > 0.0 && self.rate <= load::MAX_RATE) {
            return bad(
                "--rate",
                format!(
                    "{} is not a rate between 0 and {} per second",
                    self.rate,
                    load::MAX_RATE
                ),
            );
        }
        if self.duration < Duration::from_millis(100) || self.duration > Duration::from_secs(3_600)
        {
            return bad(
                "--duration",
                format!(
                    "{} must be between 100ms and 1h",
                    humantime::format_duration(self.duration)
                ),
            );
        }
        if !(0.0..=1.0).contains(&self.slo.max_error_rate) {
            return bad(
                "--max-error-rate",
                "must be a percentage between 0% and 100%".to_string(),
            );
        }
        if self.slo.ack_p99.is_zero() {
            return bad("--slo-p99", "must be more than 0".to_string());
        }
        if self.slo.e2e_p99.is_some_and(|d| d.is_zero()) {
            return bad("--slo-e2e-p99", "must be more than 0".to_string());
        }
        if !(0.0..=1.0).contains(&self.duplicates) {
            return bad(
                "--duplicates",
                "must be a percentage between 0% and 100%".to_string(),
            );
        }
        if self.max_in_flight == 0 {
            return bad("--max-in-flight", "must be at least 1".to_string());
        }
        if let Some(s) = &self.saturate {
            if !(s.factor.is_finite() && s.factor > 1.0) {
                return bad("--step-factor", format!("{} must be more than 1", s.factor));
            }
            if s.max_steps == 0 {
                return bad("--max-steps", "must be at least 1".to_string());
            }
            if !(s.max_rate.is_finite() && s.max_rate >= self.rate && s.max_rate <= load::MAX_RATE)
            {
                return bad(
                    "--max-rate",
                    format!(
                        "{} must be between --rate ({}) and {}",
                        s.max_rate,
                        self.rate,
                        load::MAX_RATE
                    ),
                );
            }
        }
        Ok(())
    }
}

/// Why a benchmark could not be run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    /// A setting is out of range.
    #[error("invalid value for {flag}: {message}")]
    Invalid {
        /// The flag that sets it.
        flag: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The SUT could not be started, hung, or died, or the harness failed.
    #[error(transparent)]
    Run(#[from] RunError),
}

/// The outcome of `bench`: one run, or a saturation search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "kebab-case")]
pub enum Outcome {
    /// One run at the configured rate.
    Single {
        /// Its KPIs.
        kpis: Box<Kpis>,
        /// How it broke the SLO, when it did.
        slo_violation: Option<String>,
    },
    /// A saturation search.
    Saturation(Saturation),
}

/// Runs one load step at `rate` against a fresh SUT.
pub async fn measure_step(
    run: &RunConfig,
    bench: &BenchConfig,
    rate: f64,
    progress: Arc<Progress>,
) -> Result<Kpis, BenchError> {
    let count = load::delivery_count(rate, bench.duration);
    // Duplicates occupy delivery slots too: fewer distinct events.
    let events = ((count as f64 / (1.0 + bench.duplicates)).round() as usize).max(1);
    let workload = load::workload(events, bench.seed);
    let schedule = load::schedule(&workload, rate, bench.duplicates, bench.seed);
    let mut config = run.clone();
    let mut delivery = DeliverySpec {
        concurrency: bench.max_in_flight,
        ..DeliverySpec::default()
    };
    // A preset's timeout and retries, with the open-loop window.
    if let Some(preset) = config.preset.take() {
        let p = preset.policy();
        delivery.timeout = p.timeout;
        delivery.retry = p.retry;
        delivery.honor_retry_after = p.honor_retry_after;
    }
    let scenario = Scenario {
        name: "bench".to_string(),
        description: format!("open-loop load at {rate}/s"),
        seed: bench.seed,
        workload: Default::default(),
        delivery,
        settle: SettleSpec {
            deadline: bench.settle_deadline,
            ..SettleSpec::default()
        },
        faults: bench.fault_profile.faults(bench.duration),
        checks: ChecksSpec::default(),
        versions: Default::default(),
        source: "bench".to_string(),
    };
    let versions = config.versions.apply(scenario.versions);
    let contracts = config.contracts_for(versions)?;
    let executed = crate::runner::execute(
        &config,
        &contracts,
        &scenario,
        &workload,
        schedule.units,
        false,
        bench.seed,
        progress,
    )
    .await?;
    let observation: RunObservation = executed.observation;
    Ok(kpi::compute(&StepData {
        rate,
        duration: bench.duration,
        workload: &workload,
        intended: &schedule.intended,
        observation: &observation,
        crm_lead: executed.crm_lead,
        mapping: config.mapping.as_ref(),
    }))
}

/// The real [`Measurer`]: each step is [`measure_step`].
struct Stepper<'a> {
    run: &'a RunConfig,
    bench: &'a BenchConfig,
}

impl Measurer for Stepper<'_> {
    async fn measure(&mut self, rate: f64) -> Result<Kpis, BenchError> {
        measure_step(self.run, self.bench, rate, Arc::default()).await
    }
}

/// Runs the benchmark `bench` describes against the SUT of `run`;
/// `on_step` is told about each finished step of a saturation search.
pub async fn run_bench(
    run: &RunConfig,
    bench: &BenchConfig,
    on_step: &mut dyn FnMut(&saturate::Step),
) -> Result<Outcome, BenchError> {
    bench.validate()?;
    match &bench.saturate {
        None => {
            let kpis = measure_step(run, bench, bench.rate, Arc::default()).await?;
            Ok(Outcome::Single {
                slo_violation: bench.slo.violation(&kpis),
                kpis: Box::new(kpis),
            })
        }
        Some(stepping) => {
            let mut stepper = Stepper { run, bench };
            Ok(Outcome::Saturation(
                saturate::search(stepping, &bench.slo, &mut stepper, on_step).await?,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_profiles_parse_and_print() {
        for p in FaultProfile::ALL {
            assert_eq!(p.to_string().parse::<FaultProfile>().unwrap(), *p);
            assert_eq!(
                serde_json::to_value(p).unwrap(),
                serde_json::json!(p.to_string())
            );
        }
        assert!(
            "crm-500"
                .parse::<FaultProfile>()
                .unwrap_err()
                .contains("crm-429")
        );
        assert!(FaultProfile::None.faults(Duration::from_secs(2)).is_empty());
        match &FaultProfile::Crm429.faults(Duration::from_secs(8))[..] {
            [Fault::CrmRateLimit { from, duration, .. }] => {
                assert_eq!(*from, Some(Duration::from_secs(2)));
                assert_eq!(*duration, Some(Duration::from_secs(1)));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn validation_names_the_flag() {
        let flag = |c: BenchConfig| match c.validate() {
            Err(BenchError::Invalid { flag, .. }) => flag,
            other => panic!("{other:?}"),
        };
        let ok = BenchConfig::default();
        assert!(ok.validate().is_ok());
        assert_eq!(
            flag(BenchConfig {
                rate: 0.0,
                ..ok.clone()
            }),
            "--rate"
        );
        assert_eq!(
            flag(BenchConfig {
                duration: Duration::from_millis(5),
                ..ok.clone()
            }),
            "--duration"
        );
        let mut c = ok.clone();
        c.slo.max_error_rate = 2.0;
        assert_eq!(flag(c), "--max-error-rate");
        let mut c = ok.clone();
        c.saturate = Some(Stepping {
            start: 200.0,
            factor: 1.0,
            max_steps: 5,
            max_rate: 1e4,
        });
        assert_eq!(flag(c), "--step-factor");
    }
}
