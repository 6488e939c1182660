//! Timing checks: `ack_latency` (ack p99 under a threshold) and `backs_off`
//! (no CRM call before `Retry-After` elapses; a bounded call rate while the
//! CRM fails).

use super::input::CheckInput;
use super::verdict::{CheckName, CheckResult, Evidence, Verdict};
use std::time::Duration;

/// The `p`-quantile (0..=1) of `values` (nearest rank), or `None` if empty.
pub(crate) fn quantile(values: &mut [Duration], p: f64) -> Option<Duration> {
    if values.is_empty() {
        return None;
    }
    values.sort();
    let rank = ((values.len() as f64 * p).ceil() as usize).clamp(1, values.len());
    Some(values[rank - 1])
}

pub(crate) fn ack_latency(input: &CheckInput) -> CheckResult {
    let threshold = input.scenario.checks.ack_latency_p99;
    let log = &input.faulted.log;
    let mut latencies = log.ack_latencies();
    let Some(p99) = quantile(&mut latencies, 0.99) else {
        return CheckResult::new(
            CheckName::AckLatency,
            Verdict::Skipped,
            "the SUT acked nothing, so there is no ack latency to measure",
            Vec::new(),
        );
    };
    let summary = format!(
        "ack p99 {:.1} ms over {} acks (threshold {:.0} ms)",
        p99.as_secs_f64() * 1e3,
        latencies.len(),
        threshold.as_secs_f64() * 1e3
    );
    if p99 <= threshold {
        return CheckResult::new(CheckName::AckLatency, Verdict::Pass, summary, Vec::new());
    }
    let mut slow: Vec<_> = log
        .attempts
        .iter()
        .filter(|a| a.outcome.sut_acked() && a.latency > threshold)
        .collect();
    slow.sort_by_key(|a| std::cmp::Reverse(a.latency));
    let evidence = slow
        .iter()
        .map(|a| Evidence {
            what: format!(
                "{} ({}) acked after {:.1} ms",
                a.event_id,
                a.event_type,
                a.latency.as_secs_f64() * 1e3
            ),
            event_ids: vec![a.event_id.clone()],
            timeline: Vec::new(),
            objects: None,
        })
        .collect();
    CheckResult::new(CheckName::AckLatency, Verdict::Fail, summary, evidence)
}

pub(crate) fn backs_off(input: &CheckInput) -> CheckResult {
    let mut requests: Vec<_> = input.faulted.crm_requests.iter().collect();
    requests.sort_by_key(|r| r.at);
    let failing: Vec<_> = requests
        .iter()
        .filter(|r| r.status == 429 || r.status >= 500)
        .collect();
    if failing.is_empty() {
        return CheckResult::new(
            CheckName::BacksOff,
            Verdict::Skipped,
            "the CRM failed no request, so there was nothing to back off from",
            Vec::new(),
        );
    }
    let mut evidence = Vec::new();
    // 1. Retry-After: no request may start after the SUT has had the 429/503
    //    answer carrying Retry-After until it has elapsed. A request that
    //    arrives within `IN_FLIGHT` of the answer may have been sent before
    //    the SUT read it, so it is not counted (10 ms slack for clocks).
    if let Some(after) = input.faulted.retry_after {
        const IN_FLIGHT: Duration = Duration::from_millis(50);
        let slack = Duration::from_millis(10);
        for r in failing
            .iter()
            .filter(|r| r.status == 429 || r.status == 503)
        {
            let answered = r.at + r.duration;
            // `requests` is sorted by arrival: the first one after the
            // in-flight margin is the only candidate.
            let first = requests.partition_point(|n| n.at <= answered + IN_FLIGHT);
            if let Some(next) = requests
                .get(first)
                .filter(|n| n.at + slack < answered + after)
            {
                evidence.push(Evidence::note(format!(
                    "request #{} {} {} started {:.0} ms after #{} was answered {} with Retry-After {:.0} ms",
                    next.seq,
                    next.method,
                    next.path,
                    (next.at - answered).as_secs_f64() * 1e3,
                    r.seq,
                    r.status,
                    after.as_secs_f64() * 1e3
                )));
            }
        }
    }
    // 2. Rate: failing requests in any one-second window.
    let limit = input.scenario.checks.max_failing_rate;
    let mut start = 0;
    let mut worst = (0usize, Duration::ZERO);
    for end in 0..failing.len() {
        while failing[end].at - failing[start].at > Duration::from_secs(1) {
            start += 1;
        }
        let n = end - start + 1;
        if n > worst.0 {
            worst = (n, failing[start].at);
        }
    }
    if worst.0 as f64 > limit {
        evidence.push(Evidence::note(format!(
            "{} failing CRM requests within one second from +{} ms (limit {limit}/s): a retry storm",
            worst.0,
            worst.1.as_millis()
        )));
    }
    let summary = format!(
        "{} failed CRM requests; at most {} in one second (limit {limit}/s)",
        failing.len(),
        worst.0
    );
    if evidence.is_empty() {
        CheckResult::new(CheckName::BacksOff, Verdict::Pass, summary, evidence)
    } else {
        let early = evidence.len() - usize::from(worst.0 as f64 > limit);
        CheckResult::new(
            CheckName::BacksOff,
            Verdict::Fail,
            format!("{summary}; {early} request(s) ignored Retry-After"),
            evidence,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantile() {
        let mut v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(quantile(&mut v, 0.99), Some(Duration::from_millis(99)));
        assert_eq!(quantile(&mut v, 0.5), Some(Duration::from_millis(50)));
        assert_eq!(quantile(&mut [], 0.5), None);
    }

    use super::super::testkit::*;
    use crate::history::SignatureMode;

    /// A run with one acked delivery per latency (ms).
    fn acks(latencies: &[u64]) -> Run {
        let mut run = Run::new(&workload());
        for (i, l) in latencies.iter().enumerate() {
            run = run.ack_at(EVENTS[i % EVENTS.len()], i as u64 * 10, *l);
        }
        run
    }

    // ---- ack_latency ----

    #[test]
    fn ack_latency_skips_when_nothing_was_acked() {
        let w = workload();
        let faulted = Run::new(&w).dead_letter(CREATE_1).deliver(
            CREATE_2,
            "original",
            SignatureMode::Valid,
            &[(0, 900, rejected(400))],
        );
        let r = ack_latency(&Case::new(faulted).input());
        assert_verdict(&r, Verdict::Skipped);
        assert_summary(&r, "acked nothing");
    }

    #[test]
    fn ack_latency_passes_under_the_threshold() {
        let r = ack_latency(&Case::new(acks(&[10, 20, 30, 199])).input());
        assert_verdict(&r, Verdict::Pass);
        assert_eq!(r.summary, "ack p99 199.0 ms over 4 acks (threshold 200 ms)");
    }

    #[test]
    fn ack_latency_fails_over_the_threshold_naming_the_slow_event() {
        let r = ack_latency(&Case::new(acks(&[10, 20, 350, 30])).input());
        assert_verdict(&r, Verdict::Fail);
        assert_eq!(r.summary, "ack p99 350.0 ms over 4 acks (threshold 200 ms)");
        assert_eq!(r.evidence.len(), 1, "{r:#?}");
        assert_eq!(evidence_ids(&r), ids(&[STATUS_1]));
        assert!(
            evidence_mentions(&r, "(ticket.status_changed) acked after 350.0 ms"),
            "{r:#?}"
        );
    }

    #[test]
    fn ack_latency_uses_the_scenario_threshold() {
        let case = Case::new(acks(&[10, 350])).scenario("[checks]\nack-latency-p99 = \"500ms\"\n");
        let r = ack_latency(&case.input());
        assert_verdict(&r, Verdict::Pass);
        assert_summary(&r, "(threshold 500 ms)");
        let case = Case::new(acks(&[10, 350])).scenario("[checks]\nack-latency-p99 = \"300ms\"\n");
        assert_verdict(&ack_latency(&case.input()), Verdict::Fail);
    }

    #[test]
    fn ack_latency_is_a_p99_not_a_maximum() {
        // One slow ack in 200 is above the 99th percentile.
        let mut latencies = vec![10; 199];
        latencies.push(5_000);
        let r = ack_latency(&Case::new(acks(&latencies)).input());
        assert_verdict(&r, Verdict::Pass);
        assert_summary(&r, "ack p99 10.0 ms over 200 acks");
        // Three in 200 are not.
        latencies[0] = 5_000;
        latencies[1] = 5_000;
        let r = ack_latency(&Case::new(acks(&latencies)).input());
        assert_verdict(&r, Verdict::Fail);
        assert_eq!(r.evidence.len(), 3);
    }

    #[test]
    fn ack_latency_counts_lost_acks_and_ignores_slow_rejections() {
        let w = workload();
        let faulted = Run::new(&w)
            .ack_at(CREATE_1, 0, 10)
            .deliver(
                CREATE_2,
                "original",
                SignatureMode::Valid,
                &[(10, 400, ack_lost()), (600, 10, acked())],
            )
            .deliver(
                "forged-1",
                "forgery",
                SignatureMode::Forged,
                &[(20, 900, rejected(401))],
            );
        let r = ack_latency(&Case::new(faulted).input());
        assert_verdict(&r, Verdict::Fail);
        assert_summary(&r, "ack p99 400.0 ms over 3 acks");
        assert_eq!(evidence_ids(&r), ids(&[CREATE_2]));
    }

    // ---- backs_off ----

    #[test]
    fn backs_off_skips_when_the_crm_failed_nothing() {
        let faulted = Run::all_acked()
            .retry_after_ms(1_000)
            .request(Req::new(0, 201))
            .request(Req::new(1, 409))
            .request(Req::new(2, 404));
        let r = backs_off(&Case::new(faulted).input());
        assert_verdict(&r, Verdict::Skipped);
        assert_summary(&r, "failed no request");
    }

    #[test]
    fn backs_off_fails_on_a_request_inside_retry_after() {
        // 429 at 100 ms answered at 110 ms with Retry-After 1 s; the next
        // request comes 290 ms later.
        let faulted = Run::all_acked()
            .retry_after_ms(1_000)
            .request(Req::new(100, 429).duration_ms(10))
            .request(Req::new(400, 201).method_path("PATCH", "/crm/v3/objects/tickets/3"));
        let r = backs_off(&Case::new(faulted).input());
        assert_verdict(&r, Verdict::Fail);
        assert_eq!(
            r.summary,
            "1 failed CRM requests; at most 1 in one second (limit 40/s); 1 request(s) ignored Retry-After"
        );
        assert!(
            evidence_mentions(
                &r,
                "request #2 PATCH /crm/v3/objects/tickets/3 started 290 ms after #1 was answered 429 with Retry-After 1000 ms"
            ),
            "{r:#?}"
        );
    }

    #[test]
    fn backs_off_fails_on_a_request_just_past_the_in_flight_allowance() {
        let faulted = Run::all_acked()
            .retry_after_ms(1_000)
            .request(Req::new(100, 503).duration_ms(10))
            .request(Req::new(161, 201));
        let r = backs_off(&Case::new(faulted).input());
        assert_verdict(&r, Verdict::Fail);
        assert!(
            evidence_mentions(&r, "started 51 ms after #1 was answered 503"),
            "{r:#?}"
        );
    }

    #[test]
    fn backs_off_passes_on_a_request_within_50ms_of_the_answer_in_flight() {
        let faulted = Run::all_acked()
            .retry_after_ms(1_000)
            .request(Req::new(100, 429).duration_ms(10))
            // Sent before the SUT read the 429.
            .request(Req::new(150, 201))
            // After Retry-After elapsed.
            .request(Req::new(1_110, 201));
        let r = backs_off(&Case::new(faulted).input());
        assert_verdict(&r, Verdict::Pass);
        assert_eq!(
            r.summary,
            "1 failed CRM requests; at most 1 in one second (limit 40/s)"
        );
        assert!(r.evidence.is_empty());
    }

    #[test]
    fn backs_off_allows_the_last_10ms_of_retry_after_for_clock_slack() {
        let faulted = Run::all_acked()
            .retry_after_ms(1_000)
            .request(Req::new(100, 429).duration_ms(10))
            .request(Req::new(1_101, 201));
        assert_verdict(&backs_off(&Case::new(faulted).input()), Verdict::Pass);
    }

    #[test]
    fn backs_off_fails_on_a_retry_storm_over_max_failing_rate() {
        // 50 failing requests in 490 ms, no Retry-After sent.
        let mut faulted = Run::all_acked();
        for i in 0..50 {
            faulted = faulted.request(Req::new(1_000 + i * 10, 503));
        }
        let case = Case::new(faulted);
        let r = backs_off(&case.input());
        assert_verdict(&r, Verdict::Fail);
        assert!(
            evidence_mentions(
                &r,
                "50 failing CRM requests within one second from +1000 ms (limit 40/s): a retry storm"
            ),
            "{r:#?}"
        );
        assert_summary(&r, "50 failed CRM requests; at most 50 in one second");
        assert_summary(&r, "0 request(s) ignored Retry-After");
    }

    #[test]
    fn backs_off_uses_the_scenario_max_failing_rate() {
        let mut faulted = Run::all_acked();
        for i in 0..50 {
            faulted = faulted.request(Req::new(1_000 + i * 10, 503));
        }
        let case = Case::new(faulted).scenario("[checks]\nmax-failing-rate = 60.0\n");
        let r = backs_off(&case.input());
        assert_verdict(&r, Verdict::Pass);
        assert_summary(&r, "(limit 60/s)");
    }

    #[test]
    fn backs_off_passes_when_failures_are_spread_out() {
        // 60 failing requests, one every 100 ms: at most 11 in any second.
        let mut faulted = Run::all_acked();
        for i in 0..60 {
            faulted = faulted.request(Req::new(i * 100, 500));
        }
        let r = backs_off(&Case::new(faulted).input());
        assert_verdict(&r, Verdict::Pass);
        assert_summary(&r, "60 failed CRM requests; at most 11 in one second");
    }
}
