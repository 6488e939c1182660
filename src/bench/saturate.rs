//! Saturation search: the rate goes up by a factor per step (each step a
//! fresh SUT, the same step duration) until a step breaks the service level
//! — ack p99 above the SLO, or an error rate above the threshold — and the
//! highest rate that held is the sustainable rate.

use super::BenchError;
use super::kpi::Kpis;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::time::Duration;

/// The service level a step must hold to count as sustainable.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Slo {
    /// Highest acceptable ack p99.
    #[serde(with = "crate::scenario::duration")]
    pub ack_p99: Duration,
    /// Highest acceptable share of failed attempts (0..=1).
    pub max_error_rate: f64,
    /// Highest acceptable end-to-end p99, when set (an asynchronous receiver
    /// can ack fast while its CRM sync falls further and further behind).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::scenario::opt_duration"
    )]
    pub e2e_p99: Option<Duration>,
}

impl Slo {
    /// Why `kpis` break this service level, or `None` when they hold it.
    pub fn violation(&self, kpis: &Kpis) -> Option<String> {
        let limit_ms = self.ack_p99.as_secs_f64() * 1e3;
        match &kpis.ack {
            None => return Some("the SUT acked nothing".to_string()),
            Some(ack) if ack.p99_ms > limit_ms => {
                return Some(format!(
                    "ack p99 {:.1} ms > SLO {:.1} ms",
                    ack.p99_ms, limit_ms
                ));
            }
            Some(_) => {}
        }
        if let Some(limit) = self.e2e_p99 {
            let limit_ms = limit.as_secs_f64() * 1e3;
            match &kpis.e2e {
                None => return Some("no event's effect reached the CRM".to_string()),
                Some(e2e) if e2e.p99_ms > limit_ms => {
                    return Some(format!(
                        "end-to-end p99 {:.1} ms > SLO {:.1} ms",
                        e2e.p99_ms, limit_ms
                    ));
                }
                Some(_) => {}
            }
        }
        if kpis.error_rate > self.max_error_rate {
            return Some(format!(
                "error rate {:.2}% > {:.2}%",
                kpis.error_rate * 100.0,
                self.max_error_rate * 100.0
            ));
        }
        None
    }
}

/// How the rate is stepped.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stepping {
    /// Rate of the first step.
    pub start: f64,
    /// Each step's rate is the previous one times this (> 1).
    pub factor: f64,
    /// Most steps run.
    pub max_steps: usize,
    /// Highest rate tried.
    pub max_rate: f64,
}

impl Stepping {
    /// The rate of step `k` (0-based), or `None` past the last step.
    pub fn rate(&self, k: usize) -> Option<f64> {
        if k >= self.max_steps {
            return None;
        }
        let rate = self.start * self.factor.powi(k as i32);
        // Keep rates readable: round to 3 significant digits.
        let rate = round_sig(rate, 3);
        (rate <= self.max_rate * (1.0 + 1e-9)).then_some(rate)
    }
}

fn round_sig(x: f64, digits: i32) -> f64 {
    if x <= 0.0 {
        return x;
    }
    let scale = 10f64.powi(digits - 1 - x.log10().floor() as i32);
    (x * scale).round() / scale
}

/// One step of the search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// Target rate.
    pub rate: f64,
    /// What it measured.
    pub kpis: Kpis,
    /// Whether it held the SLO.
    pub sustainable: bool,
    /// Why not, when it did not.
    pub reason: Option<String>,
}

/// The result of a search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Saturation {
    /// Every step, in order.
    pub steps: Vec<Step>,
    /// The highest rate that held the SLO (`None`: not even the first).
    pub sustainable_rate: Option<f64>,
    /// Why the search stopped.
    pub stopped: String,
}

/// Measures one step at a rate (the real one starts a SUT and runs a load
/// step; tests use a fake).
pub trait Measurer {
    /// Runs a step at `rate` deliveries per second.
    fn measure(&mut self, rate: f64) -> impl Future<Output = Result<Kpis, BenchError>>;
}

/// Steps the rate up until a step breaks `slo` or the steps run out.
pub async fn search<M: Measurer>(
    stepping: &Stepping,
    slo: &Slo,
    measurer: &mut M,
    on_step: &mut dyn FnMut(&Step),
) -> Result<Saturation, BenchError> {
    let mut steps = Vec::new();
    let mut sustainable_rate = None;
    let mut k = 0;
    let stopped = loop {
        let Some(rate) = stepping.rate(k) else {
            break format!(
                "every step up to {} held the SLO (raise --max-rate or --max-steps to go further)",
                steps
                    .last()
                    .map(|s: &Step| s.rate)
                    .unwrap_or(stepping.start)
            );
        };
        let kpis = measurer.measure(rate).await?;
        let reason = slo.violation(&kpis);
        let step = Step {
            rate,
            kpis,
            sustainable: reason.is_none(),
            reason: reason.clone(),
        };
        on_step(&step);
        steps.push(step);
        match reason {
            Some(reason) => break format!("{rate}/s broke the SLO: {reason}"),
            None => sustainable_rate = Some(rate),
        }
        k += 1;
    };
    Ok(Saturation {
        steps,
        sustainable_rate,
        stopped,
    })
}

#[cfg(test)]
mod tests {
    use super::super::kpi::{Histogram, Kpis};
    use super::*;

    /// A fake SUT: ack latency grows with the rate past a knee, and errors
    /// appear past a second knee.
    struct Fake {
        rates: Vec<f64>,
        latency_knee: f64,
        error_knee: f64,
    }

    fn kpis(rate: f64, p99_ms: u64, error_rate: f64) -> Kpis {
        let mut h = Histogram::new();
        for _ in 0..100 {
            h.record(Duration::from_millis(p99_ms));
        }
        Kpis {
            rate,
            duration_ms: 1_000,
            events: 100,
            deliveries: 100,
            attempts: 100,
            acked: 100,
            rejected: 0,
            dead_lettered: 0,
            throughput: rate,
            error_rate,
            producer_retries: 0,
            crm_requests: 0,
            crm_retries: Some(0),
            ack: h.summary(),
            e2e: None,
            loss_rate: Some(0.0),
            duplicate_rate: Some(0.0),
            lost_events: Vec::new(),
            duplicated_events: Vec::new(),
            settled: true,
            notes: Vec::new(),
        }
    }

    impl Measurer for Fake {
        async fn measure(&mut self, rate: f64) -> Result<Kpis, BenchError> {
            self.rates.push(rate);
            let p99 = if rate > self.latency_knee { 500 } else { 5 };
            let errors = if rate > self.error_knee { 0.2 } else { 0.0 };
            Ok(kpis(rate, p99, errors))
        }
    }

    fn slo() -> Slo {
        Slo {
            ack_p99: Duration::from_millis(100),
            max_error_rate: 0.01,
            e2e_p99: None,
        }
    }

    fn stepping(max_steps: usize) -> Stepping {
        Stepping {
            start: 100.0,
            factor: 1.5,
            max_steps,
            max_rate: 1e6,
        }
    }

    #[tokio::test]
    async fn stops_at_the_first_step_over_the_latency_slo() {
        let mut fake = Fake {
            rates: Vec::new(),
            latency_knee: 400.0,
            error_knee: 1e9,
        };
        let mut seen = 0;
        let s = search(&stepping(20), &slo(), &mut fake, &mut |_| seen += 1)
            .await
            .unwrap();
        assert_eq!(fake.rates, vec![100.0, 150.0, 225.0, 338.0, 506.0]);
        assert_eq!(seen, 5);
        assert_eq!(s.sustainable_rate, Some(338.0));
        assert!(s.steps[..4].iter().all(|s| s.sustainable));
        let last = s.steps.last().unwrap();
        assert!(!last.sustainable);
        assert!(
            last.reason.as_deref().unwrap().contains("ack p99"),
            "{last:?}"
        );
        assert!(s.stopped.contains("506"), "{}", s.stopped);
    }

    #[tokio::test]
    async fn stops_on_the_error_rate_too() {
        let mut fake = Fake {
            rates: Vec::new(),
            latency_knee: 1e9,
            error_knee: 200.0,
        };
        let s = search(&stepping(20), &slo(), &mut fake, &mut |_| {})
            .await
            .unwrap();
        assert_eq!(s.sustainable_rate, Some(150.0));
        assert!(
            s.steps[2].reason.as_deref().unwrap().contains("error rate"),
            "{:?}",
            s.steps[2]
        );
    }

    #[tokio::test]
    async fn no_sustainable_rate_when_the_first_step_fails_and_a_cap_on_steps() {
        let mut fake = Fake {
            rates: Vec::new(),
            latency_knee: 10.0,
            error_knee: 1e9,
        };
        let s = search(&stepping(20), &slo(), &mut fake, &mut |_| {})
            .await
            .unwrap();
        assert_eq!(s.sustainable_rate, None);
        assert_eq!(s.steps.len(), 1);

        let mut fake = Fake {
            rates: Vec::new(),
            latency_knee: 1e9,
            error_knee: 1e9,
        };
        let s = search(&stepping(3), &slo(), &mut fake, &mut |_| {})
            .await
            .unwrap();
        assert_eq!(fake.rates.len(), 3);
        assert_eq!(s.sustainable_rate, Some(225.0));
        assert!(s.stopped.contains("every step"), "{}", s.stopped);
    }

    #[test]
    fn rates_are_rounded_and_capped() {
        let st = Stepping {
            start: 200.0,
            factor: 1.5,
            max_steps: 10,
            max_rate: 1_000.0,
        };
        let rates: Vec<f64> = (0..10).map_while(|k| st.rate(k)).collect();
        assert_eq!(rates, vec![200.0, 300.0, 450.0, 675.0]);
        assert_eq!(round_sig(1012.5, 3), 1010.0);
    }

    #[test]
    fn an_empty_ack_histogram_breaks_the_slo() {
        let mut k = kpis(10.0, 1, 0.0);
        k.ack = None;
        assert!(slo().violation(&k).unwrap().contains("acked nothing"));
        assert_eq!(slo().violation(&kpis(10.0, 1, 0.0)), None);
    }

    #[test]
    fn an_optional_end_to_end_slo_catches_a_lagging_sync() {
        let strict = Slo {
            e2e_p99: Some(Duration::from_millis(50)),
            ..slo()
        };
        let mut k = kpis(10.0, 1, 0.0);
        assert!(strict.violation(&k).unwrap().contains("no event"));
        let mut h = Histogram::new();
        h.record(Duration::from_millis(900));
        k.e2e = h.summary();
        assert_eq!(slo().violation(&k), None);
        assert!(strict.violation(&k).unwrap().contains("end-to-end p99"));
    }
}
