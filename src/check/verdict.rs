//! Verdicts, check names and evidence.

use serde::{Deserialize, Serialize};

/// The checks hookproof knows (DESIGN §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckName {
    /// Every payload in both directions matches its JSON Schema contract.
    Contract,
    /// Every event the SUT acked has its effect in the final CRM state.
    NoLoss,
    /// Duplicates, lost acks and concurrent duplicates do not change the final state.
    Idempotent,
    /// Faults and reordering leave the CRM in the same state as the clean run.
    Converges,
    /// Forged, tampered, unsigned, stale or wrongly-signed deliveries are rejected and have no effect.
    RejectsForgeries,
    /// Events acked before a crash (SIGKILL) still have their effect after the restart.
    AckAfterCommit,
    /// Valid newer-version payloads are accepted and applied like their older form.
    ToleratesDrift,
    /// Dead-lettered events replayed after an outage land exactly once.
    Replays,
    /// The SUT waits for `Retry-After` and bounds its call rate while the CRM fails.
    BacksOff,
    /// The SUT leaves CRM-owned properties alone.
    NoClobber,
    /// Ack p99 stays under the threshold.
    AckLatency,
    /// CRM writes carry the trace context of the event that caused them.
    AuditTrail,
}

impl CheckName {
    /// Every check, in report order.
    pub const ALL: &'static [CheckName] = &[
        CheckName::Contract,
        CheckName::NoLoss,
        CheckName::Idempotent,
        CheckName::Converges,
        CheckName::RejectsForgeries,
        CheckName::AckAfterCommit,
        CheckName::ToleratesDrift,
        CheckName::Replays,
        CheckName::BacksOff,
        CheckName::NoClobber,
        CheckName::AckLatency,
        CheckName::AuditTrail,
    ];

    /// The name as written in scenario files and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckName::Contract => "contract",
            CheckName::NoLoss => "no_loss",
            CheckName::Idempotent => "idempotent",
            CheckName::Converges => "converges",
            CheckName::RejectsForgeries => "rejects_forgeries",
            CheckName::AckAfterCommit => "ack_after_commit",
            CheckName::ToleratesDrift => "tolerates_drift",
            CheckName::Replays => "replays",
            CheckName::BacksOff => "backs_off",
            CheckName::NoClobber => "no_clobber",
            CheckName::AckLatency => "ack_latency",
            CheckName::AuditTrail => "audit_trail",
        }
    }

    /// One line: what failing this check means.
    pub fn describe(self) -> &'static str {
        match self {
            CheckName::Contract => "a payload in either direction breaks its JSON Schema contract",
            CheckName::NoLoss => "an event the SUT acked has no effect in the final CRM state",
            CheckName::Idempotent => {
                "duplicates, lost acks or concurrent duplicates change the final state"
            }
            CheckName::Converges => {
                "faults or reordering leave the CRM in another state than the clean run"
            }
            CheckName::RejectsForgeries => {
                "a forged, tampered, unsigned, stale or wrongly-signed delivery is acked or has an effect"
            }
            CheckName::AckAfterCommit => {
                "an event acked before a crash (SIGKILL + restart) has no effect afterwards"
            }
            CheckName::ToleratesDrift => {
                "a valid newer-version payload (extra fields, new enum value, new event type) is rejected or misapplied"
            }
            CheckName::Replays => {
                "replaying dead-lettered events after an outage does not complete the state exactly once"
            }
            CheckName::BacksOff => {
                "the SUT calls the CRM before Retry-After elapses, or faster than a bounded rate while it fails"
            }
            CheckName::NoClobber => "the SUT overwrites CRM-owned properties it does not own",
            CheckName::AckLatency => "ack p99 exceeds the threshold",
            CheckName::AuditTrail => {
                "a CRM write cannot be tied to its originating event (trace context not propagated)"
            }
        }
    }
}

impl std::fmt::Display for CheckName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A check's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The property holds.
    Pass,
    /// The property is violated; see the evidence.
    Fail,
    /// The check could not decide (the reason is in the summary).
    Unknown,
    /// The check does not apply to this scenario.
    Skipped,
}

/// One piece of evidence for a violation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// What is wrong, in one line.
    pub what: String,
    /// Event ids involved.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub event_ids: Vec<String>,
    /// Delivery timeline of those events (one line per attempt).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timeline: Vec<String>,
    /// The CRM objects involved (expected vs actual, as JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objects: Option<serde_json::Value>,
}

impl Evidence {
    /// Evidence with only a description.
    pub fn note(what: impl Into<String>) -> Evidence {
        Evidence {
            what: what.into(),
            event_ids: Vec::new(),
            timeline: Vec::new(),
            objects: None,
        }
    }
}

/// The verdict of one check on one scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    /// Which check.
    pub check: CheckName,
    /// Its verdict.
    pub verdict: Verdict,
    /// One-line summary.
    pub summary: String,
    /// Evidence (at most a bounded number of items; `summary` gives the totals).
    pub evidence: Vec<Evidence>,
}

impl CheckResult {
    /// Most evidence items kept per check.
    pub const MAX_EVIDENCE: usize = 20;

    /// Pass with `pass` when there is no evidence, else fail with `fail`.
    pub fn judge(
        check: CheckName,
        evidence: Vec<Evidence>,
        pass: impl Into<String>,
        fail: impl Into<String>,
    ) -> CheckResult {
        if evidence.is_empty() {
            CheckResult::new(check, Verdict::Pass, pass, evidence)
        } else {
            CheckResult::new(check, Verdict::Fail, fail, evidence)
        }
    }

    /// Builds a result, truncating evidence.
    pub fn new(
        check: CheckName,
        verdict: Verdict,
        summary: impl Into<String>,
        mut evidence: Vec<Evidence>,
    ) -> CheckResult {
        evidence.truncate(Self::MAX_EVIDENCE);
        CheckResult {
            check,
            verdict,
            summary: summary.into(),
            evidence,
        }
    }
}
