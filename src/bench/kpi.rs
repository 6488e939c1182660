//! The KPIs of one load step, computed from what the run recorded: the
//! producer's delivery log, the mock CRM's requests and its final state.
//!
//! Every function here reads recorded data only, so each is unit-tested on
//! hand-made histories.

use crate::check::{CheckName, Mapping, RunObservation, workload_violations};
use crate::crm::RecordedRequest;
use crate::history::{DeliveryLog, DeliveryStatus};
use crate::workload::Workload;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Duration;

/// The percentiles reported for every latency histogram.
pub const PERCENTILES: &[f64] = &[50.0, 75.0, 90.0, 95.0, 99.0, 99.9, 99.99];

/// Longest latency a histogram records (longer ones are clamped): 1 hour.
const HIGHEST_US: u64 = 3_600_000_000;

/// A latency histogram (HdrHistogram, microsecond resolution, 3
/// significant digits).
#[derive(Debug, Clone)]
pub struct Histogram(hdrhistogram::Histogram<u64>);

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new()
    }
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Histogram {
        Histogram(
            hdrhistogram::Histogram::new_with_bounds(1, HIGHEST_US, 3)
                .expect("constant bounds are valid"),
        )
    }

    /// Records one latency (clamped to 1 µs .. 1 h).
    pub fn record(&mut self, latency: Duration) {
        let us = (latency.as_micros() as u64).clamp(1, HIGHEST_US);
        self.0.saturating_record(us);
    }

    /// Number of latencies recorded.
    pub fn len(&self) -> u64 {
        self.0.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The summary, or `None` when empty.
    pub fn summary(&self) -> Option<Percentiles> {
        if self.is_empty() {
            return None;
        }
        let ms = |us: u64| round3(us as f64 / 1e3);
        let at = |p: f64| ms(self.0.value_at_quantile(p / 100.0));
        Some(Percentiles {
            count: self.0.len(),
            min_ms: ms(self.0.min()),
            mean_ms: round3(self.0.mean() / 1e3),
            p50_ms: at(50.0),
            p90_ms: at(90.0),
            p99_ms: at(99.0),
            max_ms: ms(self.0.max()),
            percentiles: PERCENTILES
                .iter()
                .map(|p| Quantile {
                    percentile: *p,
                    ms: at(*p),
                })
                .collect(),
        })
    }
}

fn round3(x: f64) -> f64 {
    (x * 1e3).round() / 1e3
}

/// One percentile of a histogram.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quantile {
    /// The percentile, e.g. 99.9.
    pub percentile: f64,
    /// Its value in milliseconds.
    pub ms: f64,
}

/// A latency histogram's summary, in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    /// Latencies recorded.
    pub count: u64,
    /// Smallest.
    pub min_ms: f64,
    /// Mean.
    pub mean_ms: f64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest.
    pub max_ms: f64,
    /// Every percentile of [`PERCENTILES`].
    pub percentiles: Vec<Quantile>,
}

/// Ack latency of every acked delivery: from its intended send time
/// (`intended[index]`, an offset from the run's origin) to the end of the
/// attempt the SUT answered 2xx to — retries included.
pub fn ack_latencies(log: &DeliveryLog, intended: &[Duration]) -> Histogram {
    let mut h = Histogram::new();
    for a in log.attempts.iter().filter(|a| a.outcome.sut_acked()) {
        if let Some(due) = intended.get(a.delivery) {
            h.record((a.started + a.latency).saturating_sub(*due));
        }
    }
    h
}

/// End-to-end sync latency of every original delivery whose effect reached
/// the CRM: from its intended send time to the answer of the *last*
/// successful CRM write (a 2xx that wrote objects) carrying its
/// `traceparent`. `crm_lead` converts CRM times (since the CRM started) to
/// run times (since the origin). Events without a write (noise, or a SUT
/// that does not forward `traceparent`) are not counted.
pub fn e2e_latencies(
    log: &DeliveryLog,
    requests: &[RecordedRequest],
    crm_lead: Duration,
    intended: &[Duration],
) -> Histogram {
    let mut last_write: HashMap<&str, Duration> = HashMap::new();
    for r in requests
        .iter()
        .filter(|r| (200..300).contains(&r.status) && !r.affected.is_empty())
    {
        if let Some(t) = &r.traceparent {
            let done = (r.at + r.duration).saturating_sub(crm_lead);
            let e = last_write.entry(t.as_str()).or_insert(done);
            *e = (*e).max(done);
        }
    }
    let mut h = Histogram::new();
    for d in log.deliveries.iter().filter(|d| d.origin == "original") {
        if let (Some(done), Some(due)) = (
            last_write.get(d.traceparent.as_str()),
            intended.get(d.index),
        ) {
            h.record(done.saturating_sub(*due));
        }
    }
    h
}

/// CRM requests that repeat an earlier one of the same delivery: the same
/// `traceparent`, method, path and query (the SUT's retries). `None` when no
/// request carries a `traceparent`, so requests cannot be told apart.
pub fn crm_retries(requests: &[RecordedRequest]) -> Option<usize> {
    if requests.iter().all(|r| r.traceparent.is_none()) {
        return None;
    }
    let mut seen = HashSet::new();
    let mut repeats = 0;
    let mut ordered: Vec<&RecordedRequest> = requests.iter().collect();
    ordered.sort_by_key(|r| r.seq);
    for r in ordered {
        let Some(t) = &r.traceparent else { continue };
        if !seen.insert((t.as_str(), r.method.as_str(), r.path.as_str(), &r.query)) {
            repeats += 1;
        }
    }
    Some(repeats)
}

/// Events whose effect is missing from the final CRM state, and events
/// whose object is there more than once, judged by the declared mapping's
/// expected-state oracle (the same one `no_loss` and `idempotent` use).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Effects {
    /// Ids of events the SUT acked whose effect is missing.
    pub lost: Vec<String>,
    /// Ids of events whose CRM object exists more than once.
    pub duplicated: Vec<String>,
}

/// [`Effects`] of one run of `workload`.
pub fn effects(mapping: &Mapping, workload: &Workload, obs: &RunObservation) -> Effects {
    let mut lost = BTreeSet::new();
    let mut duplicated = BTreeSet::new();
    for (check, evidence) in workload_violations(mapping, workload, "bench", obs) {
        let into = match check {
            CheckName::NoLoss => &mut lost,
            CheckName::Idempotent => &mut duplicated,
            _ => continue,
        };
        into.extend(evidence.event_ids);
    }
    Effects {
        lost: lost.into_iter().collect(),
        duplicated: duplicated.into_iter().collect(),
    }
}

/// Everything one step measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Kpis {
    /// Target rate, deliveries per second.
    pub rate: f64,
    /// Length of the send window in ms.
    pub duration_ms: u64,
    /// Distinct events sent.
    pub events: usize,
    /// Deliveries scheduled (events plus duplicate copies).
    pub deliveries: usize,
    /// HTTP attempts made.
    pub attempts: usize,
    /// Deliveries the SUT acked.
    pub acked: usize,
    /// Deliveries refused with a non-retryable 4xx.
    pub rejected: usize,
    /// Dead-letter depth: deliveries the producer gave up on after its retries.
    pub dead_lettered: usize,
    /// Acked deliveries per second, over the time from the origin to the last ack.
    pub throughput: f64,
    /// Share of attempts the SUT did not answer 2xx (errors, timeouts, refused connections).
    pub error_rate: f64,
    /// Attempts beyond the first (the producer's retries).
    pub producer_retries: usize,
    /// Requests the SUT made to the CRM.
    pub crm_requests: usize,
    /// CRM requests that repeat an earlier one of the same delivery; `None`
    /// when the SUT does not forward `traceparent`.
    pub crm_retries: Option<usize>,
    /// Ack latency from the intended send time.
    pub ack: Option<Percentiles>,
    /// End-to-end latency: intended send time to the event's last CRM write.
    pub e2e: Option<Percentiles>,
    /// Share of events with a missing effect; `None` when unknown (no
    /// declared mapping, or the SUT did not settle).
    pub loss_rate: Option<f64>,
    /// Share of events with a duplicated effect; `None` when unknown.
    pub duplicate_rate: Option<f64>,
    /// The first lost events.
    pub lost_events: Vec<String>,
    /// The first duplicated events.
    pub duplicated_events: Vec<String>,
    /// Whether the SUT finished its work before the settle deadline.
    pub settled: bool,
    /// Why a KPI is missing, or what to know about it.
    pub notes: Vec<String>,
}

/// Most event ids listed per KPI.
const LISTED: usize = 10;

/// What [`compute`] reads.
#[derive(Debug, Clone, Copy)]
pub struct StepData<'a> {
    /// Target rate.
    pub rate: f64,
    /// Send window.
    pub duration: Duration,
    /// The events sent.
    pub workload: &'a Workload,
    /// Intended send time of each delivery.
    pub intended: &'a [Duration],
    /// The run's history and final CRM state.
    pub observation: &'a RunObservation,
    /// CRM start → delivery origin.
    pub crm_lead: Duration,
    /// The SUT's declared mapping (needed for loss and duplicates).
    pub mapping: Option<&'a Mapping>,
}

/// Computes every KPI of a step.
pub fn compute(data: &StepData) -> Kpis {
    let obs = data.observation;
    let log = &obs.log;
    let count = |s: DeliveryStatus| log.deliveries.iter().filter(|d| d.status == s).count();
    let acked = count(DeliveryStatus::Acked);
    let attempts = log.attempts.len();
    let failed = log
        .attempts
        .iter()
        .filter(|a| !a.outcome.sut_acked())
        .count();
    let last_ack = log
        .attempts
        .iter()
        .filter(|a| a.outcome.sut_acked())
        .map(|a| a.started + a.latency)
        .max()
        .unwrap_or_default();
    let window = last_ack.max(data.duration).as_secs_f64();
    let mut notes = Vec::new();
    let settled = obs.unsettled().is_none();
    let effects = match (data.mapping, obs.unsettled()) {
        (Some(m), None) => Some(effects(m, data.workload, obs)),
        (None, _) => {
            notes.push(
                "loss and duplicate rates need the SUT's declared mapping ([mapping] in \
                 hookproof.toml)"
                    .to_string(),
            );
            None
        }
        (_, Some(reason)) => {
            notes.push(format!(
                "loss and duplicate rates unknown: the SUT did not settle ({reason})"
            ));
            None
        }
    };
    let crm_retries = crm_retries(&obs.crm_requests);
    let e2e = e2e_latencies(log, &obs.crm_requests, data.crm_lead, data.intended).summary();
    if crm_retries.is_none() && !obs.crm_requests.is_empty() {
        notes.push(
            "the SUT's CRM requests carry no traceparent: end-to-end latency and CRM retries \
             cannot be attributed to events"
                .to_string(),
        );
    }
    let events = data.workload.events.len();
    let rate_of = |n: usize| {
        if events == 0 {
            0.0
        } else {
            n as f64 / events as f64
        }
    };
    let listed = |v: &[String]| v.iter().take(LISTED).cloned().collect();
    Kpis {
        rate: data.rate,
        duration_ms: data.duration.as_millis() as u64,
        events,
        deliveries: log.deliveries.len(),
        attempts,
        acked,
        rejected: count(DeliveryStatus::Rejected),
        dead_lettered: count(DeliveryStatus::DeadLettered),
        throughput: if window > 0.0 {
            round3(acked as f64 / window)
        } else {
            0.0
        },
        error_rate: if attempts == 0 {
            0.0
        } else {
            failed as f64 / attempts as f64
        },
        producer_retries: log.attempts.iter().filter(|a| a.attempt > 1).count(),
        crm_requests: obs.crm_requests.len(),
        crm_retries,
        ack: ack_latencies(log, data.intended).summary(),
        e2e,
        loss_rate: effects.as_ref().map(|e| rate_of(e.lost.len())),
        duplicate_rate: effects.as_ref().map(|e| rate_of(e.duplicated.len())),
        lost_events: effects
            .as_ref()
            .map(|e| listed(&e.lost))
            .unwrap_or_default(),
        duplicated_events: effects
            .as_ref()
            .map(|e| listed(&e.duplicated))
            .unwrap_or_default(),
        settled,
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Settle;
    use crate::crm::{CrmObject, CrmSnapshot};
    use crate::history::{Attempt, AttemptOutcome, DeliveryRecord, SignatureMode};

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn delivery(index: usize, event: &str, origin: &str, status: DeliveryStatus) -> DeliveryRecord {
        DeliveryRecord {
            index,
            event_id: event.to_string(),
            event_seq: Some(index),
            event_type: "ticket.created".into(),
            signature: SignatureMode::Valid,
            origin: origin.into(),
            status,
            attempts: 1,
            traceparent: format!("tp-{index}"),
        }
    }

    fn attempt(delivery: usize, n: u32, started: u64, latency: u64, acked: bool) -> Attempt {
        Attempt {
            delivery,
            event_id: format!("e{delivery}"),
            event_type: "ticket.created".into(),
            ticket_id: None,
            attempt: n,
            started: ms(started),
            latency: ms(latency),
            outcome: if acked {
                AttemptOutcome::Acked { status: 200 }
            } else {
                AttemptOutcome::Retryable { status: 503 }
            },
        }
    }

    fn request(seq: u64, at: u64, dur: u64, trace: Option<&str>, status: u16) -> RecordedRequest {
        RecordedRequest {
            seq,
            at: ms(at),
            duration: ms(dur),
            method: "POST".into(),
            path: "/crm/v3/objects/tickets".into(),
            query: None,
            object_type: Some("tickets".into()),
            operation: Some("create".into()),
            status,
            authorized: true,
            traceparent: trace.map(str::to_string),
            fault: None,
            violations: Vec::new(),
            affected: vec![("tickets".into(), seq.to_string())],
        }
    }

    #[test]
    fn percentiles_of_hand_made_latencies() {
        let mut h = Histogram::new();
        assert!(h.summary().is_none());
        for i in 1..=100 {
            h.record(ms(i));
        }
        let p = h.summary().unwrap();
        assert_eq!(p.count, 100);
        // Three significant digits: within 0.1 %.
        let near = |a: f64, b: f64| (a - b).abs() <= b * 0.001 + 0.001;
        assert!(near(p.p50_ms, 50.0), "{p:?}");
        assert!(near(p.p90_ms, 90.0), "{p:?}");
        assert!(near(p.p99_ms, 99.0), "{p:?}");
        assert!(near(p.max_ms, 100.0), "{p:?}");
        assert!(near(p.min_ms, 1.0), "{p:?}");
        assert!(near(p.mean_ms, 50.5), "{p:?}");
        assert_eq!(p.percentiles.len(), PERCENTILES.len());
        assert_eq!(p.percentiles.last().unwrap().percentile, 99.99);
        let values: Vec<f64> = p.percentiles.iter().map(|q| q.ms).collect();
        assert!(values.windows(2).all(|w| w[0] <= w[1]), "{values:?}");
        assert!(near(values[PERCENTILES.len() - 1], 100.0));
    }

    #[test]
    fn ack_latency_counts_from_the_intended_time_including_retries() {
        let log = DeliveryLog {
            attempts: vec![
                // On time: intended 0, answered after 4 ms.
                attempt(0, 1, 0, 4, true),
                // Sent 30 ms late (the producer was held up): 30 + 5.
                attempt(1, 1, 40, 5, true),
                // Failed, retried, acked at 100 + 10.
                attempt(2, 1, 20, 2, false),
                attempt(2, 2, 100, 10, true),
            ],
            deliveries: vec![
                delivery(0, "e0", "original", DeliveryStatus::Acked),
                delivery(1, "e1", "original", DeliveryStatus::Acked),
                delivery(2, "e2", "original", DeliveryStatus::Acked),
            ],
            ..Default::default()
        };
        let intended = [ms(0), ms(10), ms(20)];
        let p = ack_latencies(&log, &intended).summary().unwrap();
        assert_eq!(p.count, 3);
        assert_eq!(p.min_ms, 4.0);
        assert!((p.p50_ms - 35.0).abs() < 0.05, "{p:?}");
        assert!((p.max_ms - 90.0).abs() < 0.1, "{p:?}");
    }

    #[test]
    fn e2e_uses_the_last_successful_write_of_the_delivery() {
        let log = DeliveryLog {
            attempts: vec![attempt(0, 1, 0, 2, true), attempt(1, 1, 10, 2, true)],
            deliveries: vec![
                delivery(0, "e0", "original", DeliveryStatus::Acked),
                delivery(1, "e0", "duplicate", DeliveryStatus::Acked),
            ],
            ..Default::default()
        };
        // CRM started 100 ms before the origin.
        let requests = vec![
            request(1, 105, 3, Some("tp-0"), 201),
            request(2, 110, 5, Some("tp-0"), 201), // done at 15 ms run time
            request(3, 130, 5, Some("tp-0"), 429), // failed: not an effect
            request(4, 140, 5, Some("tp-1"), 201), // the duplicate's: not counted
            request(5, 150, 5, None, 201),
        ];
        let h = e2e_latencies(&log, &requests, ms(100), &[ms(0), ms(10)]);
        let p = h.summary().unwrap();
        assert_eq!(p.count, 1);
        assert!((p.max_ms - 15.0).abs() < 0.05, "{p:?}");
    }

    #[test]
    fn crm_retries_are_repeats_of_a_delivery_request() {
        assert_eq!(crm_retries(&[request(1, 0, 1, None, 201)]), None);
        let requests = vec![
            request(1, 0, 1, Some("a"), 429),
            request(2, 5, 1, Some("a"), 201), // retry of 1
            request(3, 6, 1, Some("b"), 201),
            request(4, 7, 1, None, 201),
            request(5, 9, 1, Some("a"), 201), // again
        ];
        assert_eq!(crm_retries(&requests), Some(2));
    }

    fn ticket(id: &str, helpdesk_id: &str) -> CrmObject {
        CrmObject {
            object_type: "tickets".into(),
            id: id.to_string(),
            properties: [("helpdesk_ticket_id".to_string(), helpdesk_id.to_string())]
                .into_iter()
                .collect(),
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
            archived: false,
        }
    }

    #[test]
    fn loss_and_duplicates_come_from_the_expected_state() {
        // Three tickets created, each acked; the CRM has the first twice, the
        // second once and the third not at all. The mapping is tickets only.
        let workload = crate::workload::generate(
            &crate::workload::WorkloadSpec {
                tickets: 3,
                requesters: 3,
                status_changes: 0,
                priority_changes: 0,
                comments: 0,
                noise: 0.0,
            },
            4,
        );
        let created: Vec<&crate::workload::Event> = workload.events.iter().collect();
        assert_eq!(created.len(), 3);
        let mut log = DeliveryLog::default();
        for (i, e) in created.iter().enumerate() {
            let mut d = delivery(i, &e.id, "original", DeliveryStatus::Acked);
            d.event_id = e.id.clone();
            log.deliveries.push(d);
            let mut a = attempt(i, 1, i as u64, 1, true);
            a.event_id = e.id.clone();
            log.attempts.push(a);
        }
        let t = |e: &crate::workload::Event| e.ticket_id.clone().unwrap();
        let mut snapshot = CrmSnapshot::default();
        snapshot.objects.insert(
            "tickets".into(),
            vec![
                ticket("1", &t(created[0])),
                ticket("2", &t(created[0])),
                ticket("3", &t(created[1])),
            ],
        );
        let mut mapping = Mapping::canonical();
        mapping.objects.retain(|o| o.object == "tickets");
        mapping.associations.clear();
        let obs = RunObservation {
            log,
            snapshot,
            ..RunObservation::default()
        };
        let e = effects(&mapping, &workload, &obs);
        assert_eq!(e.lost, vec![created[2].id.clone()]);
        assert_eq!(e.duplicated, vec![created[0].id.clone()]);

        let intended = [ms(0), ms(10), ms(20)];
        let data = StepData {
            rate: 100.0,
            duration: ms(30),
            workload: &workload,
            intended: &intended,
            observation: &obs,
            crm_lead: Duration::ZERO,
            mapping: Some(&mapping),
        };
        let k = compute(&data);
        assert_eq!(k.events, 3);
        assert_eq!(k.acked, 3);
        assert_eq!(k.error_rate, 0.0);
        assert!((k.loss_rate.unwrap() - 1.0 / 3.0).abs() < 1e-9);
        assert!((k.duplicate_rate.unwrap() - 1.0 / 3.0).abs() < 1e-9);
        assert_eq!(k.crm_retries, None);
        // 3 acks in max(30 ms window, last ack at 3 ms).
        assert!((k.throughput - 100.0).abs() < 1e-6, "{}", k.throughput);
        let ack = k.ack.unwrap();
        assert!(ack.p50_ms <= ack.p99_ms && ack.p99_ms <= ack.max_ms);

        // Unsettled: the rates are unknown, with the reason.
        let unsettled = RunObservation {
            settle: Some(Settle::TimedOut {
                reason: "busy".into(),
            }),
            ..obs.clone()
        };
        let k = compute(&StepData {
            observation: &unsettled,
            ..data
        });
        assert_eq!(k.loss_rate, None);
        assert!(!k.settled);
        assert!(k.notes.iter().any(|n| n.contains("busy")), "{:?}", k.notes);
        // No mapping: unknown too.
        let k = compute(&StepData {
            mapping: None,
            ..data
        });
        assert_eq!(k.duplicate_rate, None);
        assert!(k.notes.iter().any(|n| n.contains("[mapping]")));
    }

    #[test]
    fn error_rate_and_retries_count_attempts() {
        let log = DeliveryLog {
            attempts: vec![
                attempt(0, 1, 0, 1, false),
                attempt(0, 2, 50, 1, true),
                attempt(1, 1, 10, 1, true),
                attempt(2, 1, 20, 1, false),
            ],
            deliveries: vec![
                delivery(0, "a", "original", DeliveryStatus::Acked),
                delivery(1, "b", "original", DeliveryStatus::Acked),
                delivery(2, "c", "original", DeliveryStatus::DeadLettered),
            ],
            ..Default::default()
        };
        let workload = crate::workload::generate(&Default::default(), 1);
        let obs = RunObservation {
            log,
            ..RunObservation::default()
        };
        let k = compute(&StepData {
            rate: 100.0,
            duration: ms(30),
            workload: &workload,
            intended: &[ms(0), ms(10), ms(20)],
            observation: &obs,
            crm_lead: Duration::ZERO,
            mapping: None,
        });
        assert_eq!(k.attempts, 4);
        assert_eq!(k.acked, 2);
        assert_eq!(k.dead_lettered, 1);
        assert_eq!(k.producer_retries, 1);
        assert!((k.error_rate - 0.5).abs() < 1e-9);
        assert_eq!(k.crm_requests, 0);
        assert!(k.e2e.is_none());
    }
}
