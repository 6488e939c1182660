//! Deliberate flaws for the reference receiver. Each variant breaks exactly
//! one rule of a correct receiver, so `selftest` can measure whether the
//! check suite catches that mistake.

use std::fmt;
use std::str::FromStr;

/// One deliberate mistake the reference receiver can be started with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flaw {
    /// Acks before the event is durably stored.
    AckBeforeCommit,
    /// Processes every delivery, including duplicates.
    NoDedupe,
    /// Accepts unsigned and forged deliveries.
    NoSignatureCheck,
    /// Rejects payloads that do not fit closed types.
    StrictParser,
    /// Retries immediately, ignoring `Retry-After`.
    NoBackoff,
    /// Applies ticket updates in processing order, not `updated_at` order.
    ArrivalOrderWins,
    /// Marks events done when the CRM answers with an error.
    SwallowErrors,
    /// Applies the mapping inside the webhook handler.
    SyncHandler,
    /// Overwrites CRM-owned contact properties.
    ClobberFields,
    /// Treats a 207 partial batch result as full success.
    IgnorePartialBatch,
    /// Never associates the ticket with its contact.
    DropAssociation,
    /// Does not forward `traceparent` to the CRM.
    NoTracePropagation,
    /// Calls the CRM without a client timeout.
    NoClientTimeout,
}

const ALL: &[Flaw] = &[
    Flaw::AckBeforeCommit,
    Flaw::NoDedupe,
    Flaw::NoSignatureCheck,
    Flaw::StrictParser,
    Flaw::NoBackoff,
    Flaw::ArrivalOrderWins,
    Flaw::SwallowErrors,
    Flaw::SyncHandler,
    Flaw::ClobberFields,
    Flaw::IgnorePartialBatch,
    Flaw::DropAssociation,
    Flaw::NoTracePropagation,
    Flaw::NoClientTimeout,
];

impl Flaw {
    /// The built-in scenario written for the field failure this flaw
    /// reproduces (`selftest` tries it first).
    pub fn field_scenario(&self) -> &'static str {
        match self {
            Flaw::AckBeforeCommit => "crm-outage",
            Flaw::NoDedupe => "duplicates",
            Flaw::NoSignatureCheck => "forgery",
            Flaw::StrictParser => "payload-version-drift",
            Flaw::NoBackoff => "no-consumer-backoff",
            Flaw::ArrivalOrderWins => "reordering",
            Flaw::SwallowErrors => "ack-without-processing",
            Flaw::SyncHandler => "timeout-misconfiguration",
            Flaw::ClobberFields => "status-clobbering",
            Flaw::IgnorePartialBatch => "partial-batch-failure",
            Flaw::DropAssociation => "baseline",
            Flaw::NoTracePropagation => "baseline",
            Flaw::NoClientTimeout => "crm-hang",
        }
    }

    /// Every flaw, in a stable order.
    pub fn all() -> &'static [Flaw] {
        ALL
    }

    /// The kebab-case name used on the command line.
    pub fn name(&self) -> &'static str {
        match self {
            Flaw::AckBeforeCommit => "ack-before-commit",
            Flaw::NoDedupe => "no-dedupe",
            Flaw::NoSignatureCheck => "no-signature-check",
            Flaw::StrictParser => "strict-parser",
            Flaw::NoBackoff => "no-backoff",
            Flaw::ArrivalOrderWins => "arrival-order-wins",
            Flaw::SwallowErrors => "swallow-errors",
            Flaw::SyncHandler => "sync-handler",
            Flaw::ClobberFields => "clobber-fields",
            Flaw::IgnorePartialBatch => "ignore-partial-batch",
            Flaw::DropAssociation => "drop-association",
            Flaw::NoTracePropagation => "no-trace-propagation",
            Flaw::NoClientTimeout => "no-client-timeout",
        }
    }

    /// The one rule this flaw breaks, and how.
    pub fn description(&self) -> &'static str {
        match self {
            Flaw::AckBeforeCommit => {
                "ack only after a durable commit: acks at once and processes in memory \
                 (3 quick attempts, then drops), so a CRM outage or a crash loses acked events"
            }
            Flaw::NoDedupe => {
                "deduplicate by event id: keys the inbox by a fresh row id and creates notes \
                 without searching first, so every duplicate delivery is applied again"
            }
            Flaw::NoSignatureCheck => {
                "verify the signature: accepts forged, tampered, unsigned and stale deliveries"
            }
            Flaw::StrictParser => {
                "parse permissively: closed types and enums, unknown fields or event types \
                 answered with 400, so payload version drift is rejected"
            }
            Flaw::NoBackoff => {
                "back off and honour Retry-After: retries failed CRM calls within a few \
                 milliseconds, ignoring Retry-After"
            }
            Flaw::ArrivalOrderWins => {
                "newest updated_at wins: ignores updated_at, so the last processed event wins \
                 even when it is older"
            }
            Flaw::SwallowErrors => {
                "never drop a failed event silently: a CRM error response is logged and the \
                 event marked done, without retry or dead letter"
            }
            Flaw::SyncHandler => {
                "ack fast: applies the mapping inside the webhook handler and acks only after \
                 the CRM writes, so CRM latency becomes producer timeouts"
            }
            Flaw::ClobberFields => {
                "write only the properties you own: every contact upsert also sets the \
                 CRM-owned lifecyclestage and hubspot_owner_id"
            }
            Flaw::IgnorePartialBatch => {
                "check per-item batch results: a 207 multi-status batch answer is taken as \
                 full success, so failed items are lost"
            }
            Flaw::DropAssociation => {
                "apply the whole mapping: never associates the CRM ticket with its contact"
            }
            Flaw::NoTracePropagation => {
                "propagate trace context: CRM calls do not carry the event's traceparent"
            }
            Flaw::NoClientTimeout => {
                "bound every outbound call: CRM calls have no client timeout, so a hung CRM \
                 blocks the worker"
            }
        }
    }
}

impl fmt::Display for Flaw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A flaw name that is not one of [`Flaw::all`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown flaw `{0}` (expected one of: {names})", names = names())]
pub struct UnknownFlaw(pub String);

fn names() -> String {
    ALL.iter().map(Flaw::name).collect::<Vec<_>>().join(", ")
}

impl FromStr for Flaw {
    type Err = UnknownFlaw;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ALL.iter()
            .copied()
            .find(|f| f.name() == s)
            .ok_or_else(|| UnknownFlaw(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for flaw in Flaw::all() {
            assert_eq!(flaw.to_string().parse::<Flaw>().unwrap(), *flaw);
            assert!(!flaw.description().is_empty());
        }
        assert_eq!(Flaw::all().len(), 13);
    }

    #[test]
    fn parses_kebab_case() {
        assert_eq!(
            "ack-before-commit".parse::<Flaw>().unwrap(),
            Flaw::AckBeforeCommit
        );
        assert_eq!(
            "no-client-timeout".parse::<Flaw>().unwrap(),
            Flaw::NoClientTimeout
        );
    }

    #[test]
    fn unknown_flaw_lists_names() {
        let err = "AckBeforeCommit".parse::<Flaw>().unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("AckBeforeCommit"));
        assert!(msg.contains("no-dedupe"));
    }
}
