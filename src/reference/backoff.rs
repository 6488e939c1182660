//! Retry timing for the worker: exponential backoff with full jitter that
//! never retries sooner than the server's `Retry-After`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;

/// First backoff ceiling.
pub const BASE: Duration = Duration::from_millis(50);
/// Largest backoff ceiling.
pub const CAP: Duration = Duration::from_secs(1);
/// Upper bound of a `no-backoff` retry delay.
pub const NO_BACKOFF_MAX: Duration = Duration::from_millis(5);

/// The ceiling for attempt number `attempt` (0-based): `min(CAP, BASE·2^attempt)`.
pub fn ceiling(attempt: u32) -> Duration {
    let factor = 1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX);
    BASE.saturating_mul(factor).min(CAP)
}

/// Delay before the next try after `attempt` failures so far (0-based):
/// uniform in `[0, ceiling(attempt)]`, but at least `retry_after`.
pub fn delay(attempt: u32, retry_after: Option<Duration>, rng: &mut impl Rng) -> Duration {
    let ceil = ceiling(attempt);
    let jittered = Duration::from_micros(rng.random_range(0..=ceil.as_micros() as u64));
    match retry_after {
        Some(ra) => jittered.max(ra),
        None => jittered,
    }
}

/// Delay used by the `no-backoff` flaw: a few milliseconds, whatever the server said.
pub fn no_backoff_delay(rng: &mut impl Rng) -> Duration {
    Duration::from_micros(rng.random_range(0..=NO_BACKOFF_MAX.as_micros() as u64))
}

/// Parse a `Retry-After` value: seconds (possibly fractional) or an HTTP date.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0)
            .then(|| Duration::from_secs_f64(secs.min(3600.0)));
    }
    let when = DateTime::parse_from_rfc2822(value)
        .ok()?
        .with_timezone(&Utc);
    Some((when - now).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn ceiling_grows_then_caps() {
        assert_eq!(ceiling(0), Duration::from_millis(50));
        assert_eq!(ceiling(1), Duration::from_millis(100));
        assert_eq!(ceiling(4), Duration::from_millis(800));
        assert_eq!(ceiling(5), CAP);
        assert_eq!(ceiling(100), CAP);
    }

    #[test]
    fn delay_is_within_bounds() {
        let mut rng = StdRng::seed_from_u64(1);
        for attempt in 0..20 {
            for _ in 0..200 {
                let d = delay(attempt, None, &mut rng);
                assert!(d <= ceiling(attempt), "{d:?} > {:?}", ceiling(attempt));
            }
        }
    }

    #[test]
    fn delay_honours_retry_after() {
        let mut rng = StdRng::seed_from_u64(2);
        for attempt in 0..10 {
            let d = delay(attempt, Some(Duration::from_millis(1500)), &mut rng);
            assert!(d >= Duration::from_millis(1500));
        }
        assert!(no_backoff_delay(&mut rng) <= NO_BACKOFF_MAX);
    }

    #[test]
    fn parses_retry_after() {
        let now = Utc::now();
        assert_eq!(parse_retry_after("1", now), Some(Duration::from_secs(1)));
        assert_eq!(
            parse_retry_after(" 0.25 ", now),
            Some(Duration::from_millis(250))
        );
        assert_eq!(parse_retry_after("-1", now), None);
        assert_eq!(parse_retry_after("soon", now), None);
        let date = (now + chrono::Duration::seconds(10)).to_rfc2822();
        let d = parse_retry_after(&date, now).unwrap();
        assert!(d > Duration::from_secs(8) && d <= Duration::from_secs(10));
    }
}
