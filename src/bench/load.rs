//! The open-loop schedule: delivery `i` is due at `i / rate` after the run's
//! origin, whatever happened to the deliveries before it, and every latency
//! is measured from that *intended* time, so a SUT that stalls is charged
//! for the time the later events waited too (no coordinated omission).
//!
//! The events are a realistic workload from [`crate::workload`], delivered
//! by the ordinary [`crate::producer::Producer`] (signing, retries,
//! dead-letter queue): the schedule is only its units' `not_before`.

use crate::producer::{PlannedDelivery, Unit};
use crate::workload::{self, Workload, WorkloadSpec};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::Duration;

/// Highest rate accepted, in deliveries per second.
pub const MAX_RATE: f64 = 100_000.0;

/// Most positions a duplicate copy lands after its original.
const DUPLICATE_SPREAD: usize = 8;

/// The intended send time of delivery `index` at `rate` deliveries per
/// second, as an offset from the run's origin.
pub fn intended_offset(index: usize, rate: f64) -> Duration {
    Duration::from_secs_f64(index as f64 / rate)
}

/// Deliveries in a step of `duration` at `rate` per second (at least one).
pub fn delivery_count(rate: f64, duration: Duration) -> usize {
    ((rate * duration.as_secs_f64()).round() as usize).max(1)
}

/// A workload of exactly `count` events, generated from `seed` with the
/// default [`WorkloadSpec`] proportions (tickets, their changes, comments,
/// noise) and as many tickets as it takes.
pub fn workload(count: usize, seed: u64) -> Workload {
    let mut tickets = count / 4 + 1;
    loop {
        let spec = WorkloadSpec {
            tickets,
            requesters: (tickets * 3 / 4).max(1),
            ..WorkloadSpec::default()
        };
        let mut w = workload::generate(&spec, seed);
        if w.events.len() >= count {
            // Per ticket, events are in emission order, so a prefix is a
            // consistent history (no change before its ticket's creation).
            w.events.truncate(count);
            return w;
        }
        tickets *= 2;
    }
}

/// The units to hand the producer and each delivery's intended time.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// One unit per delivery, in dispatch order; unit `i` is due at
    /// `intended[i]`.
    pub units: Vec<Unit>,
    /// Intended send time of delivery `i` (the producer numbers deliveries
    /// in dispatch order, so this is also indexed by
    /// [`crate::history::DeliveryRecord::index`]).
    pub intended: Vec<Duration>,
}

/// Schedules every event of `workload` once, in emission order, plus a
/// second copy of a `duplicates` share of them (an at-least-once producer)
/// a few positions after the original; deterministic in `seed`. Delivery
/// `i` of the result is due at [`intended_offset`]`(i, rate)`.
pub fn schedule(workload: &Workload, rate: f64, duplicates: f64, seed: u64) -> Schedule {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xBE7C);
    let mut deliveries: Vec<PlannedDelivery> = workload
        .events
        .iter()
        .map(|e| crate::runner::original(e, "original", 0))
        .collect();
    let mut copies: Vec<(usize, PlannedDelivery)> = Vec::new();
    if duplicates > 0.0 {
        for (i, e) in workload.events.iter().enumerate() {
            if rng.random_bool(duplicates.clamp(0.0, 1.0)) {
                let at = i + rng.random_range(1..=DUPLICATE_SPREAD);
                copies.push((at, crate::runner::original(e, "duplicate", 1)));
            }
        }
    }
    // From the back, so earlier positions stay valid.
    copies.sort_by_key(|(at, _)| std::cmp::Reverse(*at));
    for (at, d) in copies {
        let at = at.min(deliveries.len());
        deliveries.insert(at, d);
    }
    let intended: Vec<Duration> = (0..deliveries.len())
        .map(|i| intended_offset(i, rate))
        .collect();
    let units = deliveries
        .into_iter()
        .zip(&intended)
        .map(|(d, at)| Unit {
            not_before: *at,
            deliveries: vec![d],
        })
        .collect();
    Schedule { units, intended }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intended_times_follow_the_rate_not_the_answers() {
        assert_eq!(intended_offset(0, 200.0), Duration::ZERO);
        assert_eq!(intended_offset(1, 200.0), Duration::from_millis(5));
        assert_eq!(intended_offset(200, 200.0), Duration::from_secs(1));
        assert_eq!(intended_offset(3, 1.5), Duration::from_secs(2));
        // Fractional rates do not drift: the 10 000th slot is exact.
        assert_eq!(intended_offset(10_000, 1_000.0), Duration::from_secs(10));
    }

    #[test]
    fn counts_cover_the_duration() {
        assert_eq!(delivery_count(200.0, Duration::from_secs(10)), 2_000);
        assert_eq!(delivery_count(100.0, Duration::from_millis(2_500)), 250);
        assert_eq!(delivery_count(0.1, Duration::from_secs(1)), 1);
    }

    #[test]
    fn workloads_have_exactly_the_events_asked_for() {
        for n in [1, 7, 150, 901] {
            let w = workload(n, 3);
            assert_eq!(w.events.len(), n);
            let mut ids: Vec<&str> = w.events.iter().map(|e| e.id.as_str()).collect();
            ids.sort();
            ids.dedup();
            assert_eq!(ids.len(), n, "event ids are unique");
        }
        assert_eq!(workload(50, 9).events, workload(50, 9).events);
    }

    #[test]
    fn the_schedule_is_open_loop_and_indexed_by_delivery() {
        let w = workload(100, 1);
        let s = schedule(&w, 50.0, 0.0, 1);
        assert_eq!(s.units.len(), 100);
        assert_eq!(s.intended.len(), 100);
        for (i, u) in s.units.iter().enumerate() {
            assert_eq!(u.not_before, intended_offset(i, 50.0));
            assert_eq!(u.not_before, s.intended[i]);
            assert_eq!(u.deliveries.len(), 1);
            assert_eq!(u.deliveries[0].event_id, w.events[i].id);
        }
        assert_eq!(s.units[99].not_before, Duration::from_millis(1_980));
    }

    #[test]
    fn duplicates_are_extra_deliveries_in_their_own_slots() {
        let w = workload(200, 2);
        let s = schedule(&w, 100.0, 0.25, 2);
        let copies: Vec<&PlannedDelivery> = s
            .units
            .iter()
            .flat_map(|u| &u.deliveries)
            .filter(|d| d.origin == "duplicate")
            .collect();
        assert!(copies.len() > 20 && copies.len() < 90, "{}", copies.len());
        assert_eq!(s.units.len(), 200 + copies.len());
        // Each copy comes after its original, with another traceparent.
        for c in &copies {
            let pos = |origin: &str| {
                s.units
                    .iter()
                    .position(|u| {
                        u.deliveries[0].event_id == c.event_id && u.deliveries[0].origin == origin
                    })
                    .unwrap()
            };
            assert!(pos("original") < pos("duplicate"));
            let original = &s.units[pos("original")].deliveries[0];
            assert_ne!(original.traceparent, c.traceparent);
        }
        // Slots stay evenly spaced.
        for (i, u) in s.units.iter().enumerate() {
            assert_eq!(u.not_before, intended_offset(i, 100.0));
        }
        // Deterministic in the seed.
        let again = schedule(&w, 100.0, 0.25, 2);
        let ids = |s: &Schedule| -> Vec<String> {
            s.units
                .iter()
                .map(|u| u.deliveries[0].traceparent.clone())
                .collect()
        };
        assert_eq!(ids(&s), ids(&again));
    }
}
