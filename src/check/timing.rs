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
            if let Some(next) = requests
                .iter()
                .find(|n| n.at > answered + IN_FLIGHT && n.at + slack < answered + after)
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
}
