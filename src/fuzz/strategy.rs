//! proptest strategies for workloads, fault schedules and whole scenarios.
//!
//! Every generated value is an ordinary [`Scenario`], so a failing case is a
//! scenario file that `hookproof run` replays, and shrinking works on the
//! parts a human reads: fewer tickets and changes (fewer events), fewer
//! faults, smaller fractions and shorter windows, earlier crash points.
//!
//! Times are kept short (windows of at most a second, restart delays of at
//! most 300 ms) so that a case takes a fraction of a second against a fast
//! receiver; durations are whole milliseconds, so they survive the trip
//! through a scenario file exactly.
//!
//! ```
//! use hookproof::fuzz::strategy::{FuzzSpace, scenarios};
//! use proptest::strategy::{Strategy, ValueTree};
//! use proptest::test_runner::TestRunner;
//!
//! let mut runner = TestRunner::deterministic();
//! let tree = scenarios(FuzzSpace::default()).new_tree(&mut runner).unwrap();
//! let scenario = tree.current();
//! assert!(scenario.workload.tickets >= 1);
//! assert!(scenario.faults.len() <= FuzzSpace::default().max_faults);
//! ```

use crate::check::CheckName;
use crate::contract::Versions;
use crate::fault::Fault;
use crate::scenario::{ChecksSpec, DeliverySpec, Scenario, SettleSpec};
use crate::workload::WorkloadSpec;
use proptest::prelude::*;
use std::time::Duration;

/// The bounds of what the fuzzer generates.
#[derive(Debug, Clone, PartialEq)]
pub struct FuzzSpace {
    /// Most tickets in a workload (each ticket brings its created event plus
    /// up to `max_changes` status and priority changes and comments).
    pub max_tickets: usize,
    /// Most status changes, priority changes and comments per ticket, each.
    pub max_changes: usize,
    /// Most faults in one schedule.
    pub max_faults: usize,
    /// Whether crash faults (`sut.kill`) are generated.
    pub crashes: bool,
    /// Whether CRM hangs (`crm.hang`) are generated: they find receivers
    /// without a client timeout, but cost a client timeout per hung call.
    pub hangs: bool,
    /// Properties judged (the scenario's `[checks] require`).
    pub properties: Vec<CheckName>,
    /// The contract versions of every case (`--helpdesk-version`,
    /// `--crm-version`): saved into each minimal case, so `run` replays it
    /// at the same versions.
    pub versions: Versions,
}

/// The checks that depend on wall-clock timing (rates and latencies, which a
/// loaded CI machine moves): judged only when asked for by name.
pub const TIMING_CHECKS: &[CheckName] = &[CheckName::AckLatency, CheckName::BacksOff];

/// The properties judged by default: every check but [`TIMING_CHECKS`].
pub fn default_properties() -> Vec<CheckName> {
    CheckName::ALL
        .iter()
        .copied()
        .filter(|c| !TIMING_CHECKS.contains(c))
        .collect()
}

impl Default for FuzzSpace {
    fn default() -> Self {
        FuzzSpace {
            max_tickets: 4,
            max_changes: 2,
            max_faults: 3,
            crashes: true,
            hangs: false,
            properties: default_properties(),
            versions: Versions::default(),
        }
    }
}

fn ms(range: std::ops::RangeInclusive<u64>) -> impl Strategy<Value = Duration> {
    range.prop_map(Duration::from_millis)
}

/// Fractions in steps of 5 %, shrinking towards `low`.
fn fraction(low: u32) -> impl Strategy<Value = f64> {
    (low..=20u32).prop_map(|n| f64::from(n) * 0.05)
}

/// A workload of at most `space.max_tickets` tickets; shrinks towards one
/// ticket with no changes (a single event).
pub fn workloads(space: &FuzzSpace) -> impl Strategy<Value = WorkloadSpec> + use<> {
    let max_changes = space.max_changes;
    (1..=space.max_tickets.max(1))
        .prop_flat_map(move |tickets| {
            (
                Just(tickets),
                1..=tickets,
                0..=max_changes,
                0..=max_changes,
                0..=max_changes,
                (0..=4u32).prop_map(|n| f64::from(n) * 0.1),
            )
        })
        .prop_map(
            |(tickets, requesters, status_changes, priority_changes, comments, noise)| {
                WorkloadSpec {
                    tickets,
                    requesters,
                    status_changes,
                    priority_changes,
                    comments,
                    noise,
                }
            },
        )
}

/// Where a CRM fault applies: a time window (starts within the first
/// 400 ms, lasts 50–600 ms; an outage), or up to 30 % of all requests for
/// the whole run (which requests is a hash of the seed and the request's
/// arrival number, so it depends less on timing than a window does; more
/// than 30 % of every request failing for good is an outage that never
/// ends, which a correct receiver answers by dead-lettering after many
/// slow retries: true, but not worth a fuzz case's time).
fn scope() -> impl Strategy<Value = (Option<Duration>, Option<Duration>, Option<f64>)> {
    prop_oneof![
        (ms(0..=400), ms(50..=600)).prop_map(|(from, len)| (Some(from), Some(len), None)),
        (1..=6u32).prop_map(|n| (None, None, Some(f64::from(n) * 0.05))),
    ]
}

/// One fault of any kind the properties can observe.
pub fn faults(space: &FuzzSpace) -> impl Strategy<Value = Fault> + use<> {
    let delivery = prop_oneof![
        (fraction(1), 1..=2u32)
            .prop_map(|(fraction, copies)| Fault::Duplicate { fraction, copies }),
        fraction(1).prop_map(|fraction| Fault::ConcurrentDuplicate { fraction }),
        fraction(1).prop_map(|fraction| Fault::LostAck { fraction }),
        (2..=8usize).prop_map(|window| Fault::Reorder { window }),
        (fraction(1), ms(10..=200)).prop_map(|(fraction, delay)| Fault::Delay { fraction, delay }),
    ];
    let signature = prop_oneof![
        (1..=3usize).prop_map(|count| Fault::Forged { count }),
        (1..=3usize).prop_map(|count| Fault::Tampered { count }),
        (1..=3usize).prop_map(|count| Fault::Stale { count }),
    ];
    let crm = prop_oneof![
        (prop_oneof![Just(503u16), Just(500), Just(502)], scope()).prop_map(
            |(status, (from, duration, fraction))| Fault::CrmStatus {
                status,
                from,
                duration,
                fraction,
                route: None,
                retry_after: None,
            }
        ),
        // Retry-After travels in whole seconds, so every 429 costs a correct
        // receiver a second: rate limits come in short windows only.
        (ms(20..=300), ms(0..=400), ms(50..=300)).prop_map(|(retry_after, from, len)| {
            Fault::CrmRateLimit {
                retry_after,
                from: Some(from),
                duration: Some(len),
                fraction: None,
                route: None,
            }
        }),
        (ms(20..=150), scope()).prop_map(|(delay, (from, duration, fraction))| {
            Fault::CrmLatency {
                delay,
                from,
                duration,
                fraction,
                route: None,
            }
        }),
        scope().prop_map(|(from, duration, fraction)| Fault::CrmErrorAfterCommit {
            status: 500,
            from,
            duration,
            fraction,
            route: None,
        }),
        scope().prop_map(|(from, duration, fraction)| Fault::CrmReset {
            from,
            duration,
            fraction,
            route: None,
        }),
        (fraction(2), scope()).prop_map(|(item_fraction, (from, duration, fraction))| {
            Fault::CrmPartialBatch {
                item_fraction,
                from,
                duration,
                fraction,
            }
        }),
        fraction(2).prop_map(|contacts| Fault::CrmPreseed { contacts }),
    ];
    // A hung CRM call costs the receiver its client timeout (seconds), so
    // hangs are generated only on request.
    let crm = if space.hangs {
        prop_oneof![
            8 => crm,
            1 => scope().prop_map(|(from, duration, fraction)| Fault::CrmHang {
                from,
                duration,
                fraction,
                route: None,
            }),
        ]
        .boxed()
    } else {
        crm.boxed()
    };
    let payload = (fraction(1), 0..=2usize, any::<bool>()).prop_map(
        |(fraction, new_event_types, new_status)| Fault::PayloadDrift {
            fraction,
            new_event_types,
            new_status,
        },
    );
    let replay = ms(50..=400).prop_map(|after| Fault::Replay {
        after,
        since: None,
        until: None,
        types: Vec::new(),
    });
    let crash = (1..=12usize, ms(20..=300)).prop_map(|(n, restart_after)| Fault::SutKill {
        at: None,
        after_acks: Some(n),
        restart_after,
    });
    if space.crashes {
        prop_oneof![4 => delivery, 1 => signature, 4 => crm, 1 => payload, 1 => replay, 2 => crash]
            .boxed()
    } else {
        prop_oneof![4 => delivery, 1 => signature, 4 => crm, 1 => payload, 1 => replay].boxed()
    }
}

/// A fault schedule: up to `space.max_faults` faults; shrinks towards none.
pub fn fault_schedules(space: &FuzzSpace) -> impl Strategy<Value = Vec<Fault>> + use<> {
    proptest::collection::vec(faults(space), 0..=space.max_faults).prop_map(|mut faults| {
        // One crash per case: a second one adds run time, not coverage.
        let mut crashed = false;
        faults.retain(|f| {
            let crash = matches!(f, Fault::SutKill { .. });
            let keep = !(crash && crashed);
            crashed |= crash;
            keep
        });
        faults
    })
}

/// The producer's policy: short timeouts and retry delays, some concurrency.
fn deliveries() -> impl Strategy<Value = DeliverySpec> {
    (1..=6usize).prop_map(|concurrency| DeliverySpec {
        concurrency,
        timeout: Duration::from_millis(1_000),
        retry: [30, 60, 120, 240, 480]
            .into_iter()
            .map(Duration::from_millis)
            .collect(),
        honor_retry_after: true,
        scheme: None,
    })
}

/// Whole scenarios: a workload, a fault schedule, a producer policy and a
/// seed, judged on `space.properties`. The seed does not shrink (shrinking
/// it would draw an unrelated workload); the parts it seeds do.
pub fn scenarios(space: FuzzSpace) -> impl Strategy<Value = Scenario> {
    let properties = space.properties.clone();
    let versions = space.versions;
    (
        any::<u64>().no_shrink(),
        workloads(&space),
        fault_schedules(&space),
        deliveries(),
    )
        .prop_map(move |(seed, workload, faults, delivery)| Scenario {
            name: format!("fuzz-{seed:016x}"),
            description: "a case generated by `hookproof fuzz`".to_string(),
            seed,
            workload,
            delivery,
            // The quiet period only matters for a SUT without an idle
            // probe; it must outlast the SUT's longest pause (a 1 s
            // Retry-After).
            settle: SettleSpec {
                quiet: SettleSpec::default().quiet,
                deadline: Duration::from_secs(15),
            },
            faults,
            checks: ChecksSpec {
                require: properties.clone(),
                ..ChecksSpec::default()
            },
            versions,
            source: String::new(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    #[test]
    fn generated_scenarios_round_trip_through_toml() {
        let mut runner = TestRunner::deterministic();
        let strategy = scenarios(FuzzSpace::default());
        for _ in 0..200 {
            let scenario = strategy.new_tree(&mut runner).unwrap().current();
            let text = crate::fuzz::regressions::to_toml(&scenario).unwrap();
            let mut parsed = crate::scenario::parse(&text, "generated.toml")
                .unwrap_or_else(|e| panic!("{e}\n{text}"));
            parsed.source = String::new();
            assert_eq!(parsed, scenario, "{text}");
        }
    }

    #[test]
    fn schedules_stay_in_bounds_and_crash_at_most_once() {
        let mut runner = TestRunner::deterministic();
        let space = FuzzSpace::default();
        let strategy = fault_schedules(&space);
        let mut kinds = std::collections::HashSet::new();
        for _ in 0..500 {
            let faults = strategy.new_tree(&mut runner).unwrap().current();
            assert!(faults.len() <= space.max_faults);
            let crashes = faults
                .iter()
                .filter(|f| matches!(f, Fault::SutKill { .. }))
                .count();
            assert!(crashes <= 1);
            kinds.extend(faults.iter().map(Fault::kind));
        }
        // Every kind the strategy knows shows up within 500 schedules.
        assert_eq!(kinds.len(), 18, "{kinds:?}");
        assert!(!kinds.contains("crm.hang"));
    }

    #[test]
    fn without_crashes_no_kill_is_generated() {
        let mut runner = TestRunner::deterministic();
        let space = FuzzSpace {
            crashes: false,
            ..FuzzSpace::default()
        };
        let strategy = fault_schedules(&space);
        for _ in 0..300 {
            let faults = strategy.new_tree(&mut runner).unwrap().current();
            assert!(!faults.iter().any(|f| matches!(f, Fault::SutKill { .. })));
        }
    }

    #[test]
    fn workloads_shrink_to_a_single_ticket_without_changes() {
        let mut runner = TestRunner::deterministic();
        let space = FuzzSpace {
            max_tickets: 6,
            ..FuzzSpace::default()
        };
        let mut tree = workloads(&space).new_tree(&mut runner).unwrap();
        while tree.simplify() {}
        let w = tree.current();
        assert_eq!(
            (w.tickets, w.status_changes, w.priority_changes, w.comments),
            (1, 0, 0, 0)
        );
        assert_eq!(w.noise, 0.0);
    }
}
