//! CRM faults: what the mock CRM does wrong, when, and to which requests.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A time window relative to [`super::MockCrm::arm`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// Start.
    pub from: Duration,
    /// Length.
    pub r#for: Duration,
}

impl Window {
    /// Whether `elapsed` (since arming) is inside the window.
    pub fn contains(&self, elapsed: Duration) -> bool {
        elapsed >= self.from && elapsed < self.from + self.r#for
    }
}

/// What a fault does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum CrmFaultKind {
    /// Answer this status (HubSpot error body), optionally with `Retry-After`.
    Status {
        /// HTTP status.
        status: u16,
        /// `Retry-After`.
        retry_after: Option<Duration>,
    },
    /// 429 with `Retry-After` and HubSpot's rate-limit body.
    RateLimit {
        /// `Retry-After`.
        retry_after: Duration,
    },
    /// Answer after a delay.
    Latency {
        /// The delay.
        delay: Duration,
    },
    /// Never answer (until shutdown, or until the client gives up).
    Hang,
    /// Close the connection without an answer.
    Reset,
    /// Apply the write, then answer an error.
    ErrorAfterCommit {
        /// Status answered.
        status: u16,
    },
    /// Batch endpoints fail this share of their items (207).
    PartialBatch {
        /// Share of items failed.
        fraction_of_items: f64,
    },
    /// Writes using `from` are refused (API version drift); `to` is its new name.
    RenameProperty {
        /// Object type.
        object_type: String,
        /// Old property name.
        from: String,
        /// New property name.
        to: String,
    },
}

/// A fault with its scope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrmFault {
    /// What it does.
    pub kind: CrmFaultKind,
    /// When (none = always).
    pub window: Option<Window>,
    /// Share of matching requests (none = all).
    pub fraction: Option<f64>,
    /// Only requests to this object type or operation (e.g. `tickets`, `search`).
    pub route: Option<String>,
}

impl CrmFault {
    /// A fault that always applies to every request.
    pub fn always(kind: CrmFaultKind) -> CrmFault {
        CrmFault {
            kind,
            window: None,
            fraction: None,
            route: None,
        }
    }

    /// Short label recorded with each request it fired on.
    pub fn label(&self) -> String {
        match &self.kind {
            CrmFaultKind::Status { status, .. } => format!("status {status}"),
            CrmFaultKind::RateLimit { .. } => "rate-limit 429".into(),
            CrmFaultKind::Latency { delay } => format!("latency {}ms", delay.as_millis()),
            CrmFaultKind::Hang => "hang".into(),
            CrmFaultKind::Reset => "reset".into(),
            CrmFaultKind::ErrorAfterCommit { status } => format!("error-after-commit {status}"),
            CrmFaultKind::PartialBatch { .. } => "partial-batch 207".into(),
            CrmFaultKind::RenameProperty { from, to, .. } => format!("renamed {from} -> {to}"),
        }
    }

    /// Whether it applies to request number `seq` on `object_type`/`operation`
    /// at `elapsed`; fractions are decided by a hash of `seed`, the fault's
    /// index and `seq`, so they are reproducible for a given arrival order.
    pub fn applies(
        &self,
        index: usize,
        seed: u64,
        seq: u64,
        elapsed: Duration,
        object_type: Option<&str>,
        operation: Option<&str>,
    ) -> bool {
        if let Some(w) = &self.window
            && !w.contains(elapsed)
        {
            return false;
        }
        if let Some(route) = &self.route
            && object_type != Some(route.as_str())
            && operation != Some(route.as_str())
        {
            return false;
        }
        match self.fraction {
            Some(f) => unit_hash(seed, index as u64, seq) < f,
            None => true,
        }
    }
}

/// What the faults do to one request, sorted by when they act.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Firing {
    /// Faults that act before the request is served (latency, hang, reset,
    /// status, rate limit), in scenario order; the first that answers or
    /// closes the connection ends the request.
    pub before: Vec<CrmFault>,
    /// Property renames in force: `(object type, old name) -> new name`.
    pub renames: Vec<((String, String), String)>,
    /// A write that commits, then answers this status (with the label).
    pub after_commit: Option<(u16, String)>,
    /// A batch whose items fail at this share (with the label).
    pub partial: Option<(f64, String)>,
}

/// The faults among `faults` that fire on request number `seq` (see
/// [`CrmFault::applies`]); `writes` and `batch` say whether the request
/// writes and whether it is a batch call (after-commit errors only hit
/// writes, partial failures only batches). The mock CRM and `hookproof
/// proxy` decide with this same function.
#[allow(clippy::too_many_arguments)]
pub fn firing(
    faults: &[CrmFault],
    seed: u64,
    seq: u64,
    elapsed: Duration,
    object_type: Option<&str>,
    operation: Option<&str>,
    writes: bool,
    batch: bool,
) -> Firing {
    let mut firing = Firing::default();
    for (i, fault) in faults.iter().enumerate() {
        if !fault.applies(i, seed, seq, elapsed, object_type, operation) {
            continue;
        }
        match &fault.kind {
            CrmFaultKind::RenameProperty {
                object_type,
                from,
                to,
            } => firing
                .renames
                .push(((object_type.clone(), from.clone()), to.clone())),
            CrmFaultKind::ErrorAfterCommit { status } => {
                if writes {
                    firing.after_commit = Some((*status, fault.label()));
                }
            }
            CrmFaultKind::PartialBatch { fraction_of_items } => {
                if batch {
                    firing.partial = Some((*fraction_of_items, fault.label()));
                }
            }
            _ => firing.before.push(fault.clone()),
        }
    }
    firing
}

/// A deterministic number in `[0, 1)` from three integers (SplitMix64).
pub fn unit_hash(a: u64, b: u64, c: u64) -> f64 {
    let mut z = a
        .wrapping_add(b.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(c.wrapping_mul(0xBF58_476D_1CE4_E5B9));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_routes_and_fractions() {
        let f = CrmFault {
            kind: CrmFaultKind::Hang,
            window: Some(Window {
                from: Duration::from_secs(1),
                r#for: Duration::from_secs(2),
            }),
            fraction: None,
            route: Some("tickets".into()),
        };
        let s = Duration::from_millis;
        assert!(!f.applies(0, 1, 1, s(500), Some("tickets"), None));
        assert!(f.applies(0, 1, 1, s(1500), Some("tickets"), None));
        assert!(!f.applies(0, 1, 1, s(1500), Some("contacts"), None));
        assert!(!f.applies(0, 1, 1, s(3000), Some("tickets"), None));
        let half = CrmFault {
            fraction: Some(0.5),
            ..CrmFault::always(CrmFaultKind::Reset)
        };
        let hits = (0..10_000)
            .filter(|i| half.applies(0, 7, *i, s(0), None, None))
            .count();
        assert!((4_500..5_500).contains(&hits), "{hits}");
    }
}
