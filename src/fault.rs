//! Fault definitions: the `[[fault]]` tables of a scenario.
//!
//! Each fault is a tagged table (`kind = "crm.status"`); unknown keys are
//! errors, so a typo never silently switches a fault off. Delivery and
//! signature faults shape the producer's plan; CRM and helpdesk faults are
//! handed to the mocks; SUT faults drive the controller (the nemesis).

use serde::{Deserialize, Serialize};
use std::time::Duration;

use crate::scenario::{duration, opt_duration};

fn default_fraction() -> f64 {
    0.2
}
fn one() -> u32 {
    1
}
fn default_count() -> usize {
    3
}
fn default_reorder_window() -> usize {
    8
}
fn default_restart() -> Duration {
    Duration::from_millis(200)
}
fn default_retry_after() -> Duration {
    Duration::from_secs(1)
}
fn default_preseed() -> f64 {
    0.5
}
fn default_status() -> u16 {
    503
}

/// One fault of a scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", deny_unknown_fields, rename_all_fields = "kebab-case")]
pub enum Fault {
    /// Deliver a fraction of events again after the first delivery finished.
    #[serde(rename = "delivery.duplicate")]
    Duplicate {
        /// Share of events duplicated.
        #[serde(default = "default_fraction")]
        fraction: f64,
        /// Extra copies per duplicated event.
        #[serde(default = "one")]
        copies: u32,
    },
    /// Deliver a fraction of events twice at the same moment.
    #[serde(rename = "delivery.concurrent-duplicate")]
    ConcurrentDuplicate {
        /// Share of events.
        #[serde(default = "default_fraction")]
        fraction: f64,
    },
    /// The SUT answers, the producer drops the answer and retries.
    #[serde(rename = "delivery.lost-ack")]
    LostAck {
        /// Share of events whose first ack is lost.
        #[serde(default = "default_fraction")]
        fraction: f64,
    },
    /// Shuffle deliveries within windows of `window` consecutive events.
    #[serde(rename = "delivery.reorder")]
    Reorder {
        /// Window size (events).
        #[serde(default = "default_reorder_window")]
        window: usize,
    },
    /// Hold back a fraction of events by `delay`.
    #[serde(rename = "delivery.delay")]
    Delay {
        /// Share of events.
        #[serde(default = "default_fraction")]
        fraction: f64,
        /// How long.
        #[serde(with = "duration")]
        delay: Duration,
    },
    /// Send events at `rate` per second (open loop) instead of as fast as possible.
    #[serde(rename = "delivery.rate")]
    Rate {
        /// Events per second.
        per_second: f64,
    },
    /// Secret rotation: a share of deliveries carry two signatures, one with
    /// the retiring secret and one with the SUT's (new) secret; they are valid.
    #[serde(rename = "signature.rotation")]
    Rotation {
        /// Share of deliveries signed with both secrets.
        #[serde(default = "default_fraction")]
        fraction: f64,
    },
    /// Bursty traffic: events arrive in bursts of `size`, all at once,
    /// separated by `pause`.
    #[serde(rename = "delivery.burst")]
    Burst {
        /// Events per burst.
        size: usize,
        /// Quiet time between bursts.
        #[serde(with = "duration")]
        pause: Duration,
    },
    /// Extra deliveries with made-up signatures.
    #[serde(rename = "signature.forged")]
    Forged {
        /// How many.
        #[serde(default = "default_count")]
        count: usize,
    },
    /// Extra deliveries whose body changed after signing.
    #[serde(rename = "signature.tampered")]
    Tampered {
        /// How many.
        #[serde(default = "default_count")]
        count: usize,
    },
    /// Extra deliveries without signature headers.
    #[serde(rename = "signature.missing")]
    Unsigned {
        /// How many.
        #[serde(default = "default_count")]
        count: usize,
    },
    /// Extra deliveries signed an hour ago.
    #[serde(rename = "signature.stale")]
    Stale {
        /// How many.
        #[serde(default = "default_count")]
        count: usize,
    },
    /// Extra deliveries signed with another secret.
    #[serde(rename = "signature.wrong-secret")]
    WrongSecret {
        /// How many.
        #[serde(default = "default_count")]
        count: usize,
    },
    /// The CRM answers `status` during a window or for a fraction of requests.
    #[serde(rename = "crm.status")]
    CrmStatus {
        /// HTTP status to answer.
        #[serde(default = "default_status")]
        status: u16,
        /// Window start after the run starts.
        #[serde(default, with = "opt_duration")]
        from: Option<Duration>,
        /// Window length.
        #[serde(default, rename = "for", with = "opt_duration")]
        duration: Option<Duration>,
        /// Share of matching requests.
        #[serde(default)]
        fraction: Option<f64>,
        /// Only requests to this object type or operation.
        #[serde(default)]
        route: Option<String>,
        /// `Retry-After` to send.
        #[serde(default, with = "opt_duration")]
        retry_after: Option<Duration>,
    },
    /// The CRM answers 429 with `Retry-After` and HubSpot's rate-limit body.
    #[serde(rename = "crm.rate-limit")]
    CrmRateLimit {
        /// `Retry-After`.
        #[serde(default = "default_retry_after", with = "duration")]
        retry_after: Duration,
        /// Window start.
        #[serde(default, with = "opt_duration")]
        from: Option<Duration>,
        /// Window length.
        #[serde(default, rename = "for", with = "opt_duration")]
        duration: Option<Duration>,
        /// Share of matching requests.
        #[serde(default)]
        fraction: Option<f64>,
        /// Only requests to this object type or operation.
        #[serde(default)]
        route: Option<String>,
    },
    /// The CRM answers after `delay`.
    #[serde(rename = "crm.latency")]
    CrmLatency {
        /// Added latency.
        #[serde(with = "duration")]
        delay: Duration,
        /// Window start.
        #[serde(default, with = "opt_duration")]
        from: Option<Duration>,
        /// Window length.
        #[serde(default, rename = "for", with = "opt_duration")]
        duration: Option<Duration>,
        /// Share of matching requests.
        #[serde(default)]
        fraction: Option<f64>,
        /// Only requests to this object type or operation.
        #[serde(default)]
        route: Option<String>,
    },
    /// The CRM never answers (past any client timeout).
    #[serde(rename = "crm.hang")]
    CrmHang {
        /// Window start.
        #[serde(default, with = "opt_duration")]
        from: Option<Duration>,
        /// Window length.
        #[serde(default, rename = "for", with = "opt_duration")]
        duration: Option<Duration>,
        /// Share of matching requests.
        #[serde(default)]
        fraction: Option<f64>,
        /// Only requests to this object type or operation.
        #[serde(default)]
        route: Option<String>,
    },
    /// The CRM resets the connection without answering.
    #[serde(rename = "crm.reset")]
    CrmReset {
        /// Window start.
        #[serde(default, with = "opt_duration")]
        from: Option<Duration>,
        /// Window length.
        #[serde(default, rename = "for", with = "opt_duration")]
        duration: Option<Duration>,
        /// Share of matching requests.
        #[serde(default)]
        fraction: Option<f64>,
        /// Only requests to this object type or operation.
        #[serde(default)]
        route: Option<String>,
    },
    /// The CRM applies the write, then answers an error.
    #[serde(rename = "crm.error-after-commit")]
    CrmErrorAfterCommit {
        /// Status answered after the write.
        #[serde(default = "default_status")]
        status: u16,
        /// Window start.
        #[serde(default, with = "opt_duration")]
        from: Option<Duration>,
        /// Window length.
        #[serde(default, rename = "for", with = "opt_duration")]
        duration: Option<Duration>,
        /// Share of matching requests.
        #[serde(default)]
        fraction: Option<f64>,
        /// Only requests to this object type or operation.
        #[serde(default)]
        route: Option<String>,
    },
    /// Batch endpoints fail a share of their items (207 multi-status).
    #[serde(rename = "crm.partial-batch")]
    CrmPartialBatch {
        /// Share of items failed.
        #[serde(default = "default_fraction")]
        item_fraction: f64,
        /// Window start.
        #[serde(default, with = "opt_duration")]
        from: Option<Duration>,
        /// Window length.
        #[serde(default, rename = "for", with = "opt_duration")]
        duration: Option<Duration>,
        /// Share of matching requests.
        #[serde(default)]
        fraction: Option<f64>,
    },
    /// API version drift: a property is renamed mid-run; writes using the old
    /// name are refused (400 PROPERTY_DOESNT_EXIST) during the window.
    #[serde(rename = "crm.rename-property")]
    CrmRenameProperty {
        /// Object type (`contacts`, `tickets`, `notes`).
        object_type: String,
        /// Old name (writes using it fail in the window).
        from_property: String,
        /// New name.
        to_property: String,
        /// Window start.
        #[serde(default, with = "opt_duration")]
        from: Option<Duration>,
        /// Window length (the rename is rolled back after it); none = to the end.
        #[serde(default, rename = "for", with = "opt_duration")]
        duration: Option<Duration>,
    },
    /// The helpdesk API answers `status` during a window (enrichment fails).
    #[serde(rename = "helpdesk.status")]
    HelpdeskStatus {
        /// HTTP status (429 sends Zendesk's rate-limit body).
        #[serde(default = "default_status")]
        status: u16,
        /// Window start.
        #[serde(default, with = "opt_duration")]
        from: Option<Duration>,
        /// Window length.
        #[serde(rename = "for", with = "duration")]
        duration: Duration,
        /// `Retry-After` to send.
        #[serde(default, with = "opt_duration")]
        retry_after: Option<Duration>,
    },
    /// The helpdesk API answers after `delay`.
    #[serde(rename = "helpdesk.latency")]
    HelpdeskLatency {
        /// Added latency.
        #[serde(with = "duration")]
        delay: Duration,
    },
    /// Newer payload version: extra fields and a new `zendesk_event_version`
    /// on a fraction of events, plus events of types the SUT has never seen.
    #[serde(rename = "payload.drift")]
    PayloadDrift {
        /// Share of events delivered in the newer version.
        #[serde(default = "default_fraction")]
        fraction: f64,
        /// Events of new types added (the SUT must ack and ignore them).
        #[serde(default = "default_count")]
        new_event_types: usize,
        /// Whether some status changes use a status value the old contract lacks.
        #[serde(default)]
        new_status: bool,
    },
    /// CRM state that exists before the run: a share of the requesters are
    /// already contacts, with an owner and a lifecycle stage the CRM owns.
    #[serde(rename = "crm.preseed")]
    CrmPreseed {
        /// Share of requesters that already exist as contacts.
        #[serde(default = "default_preseed")]
        contacts: f64,
    },
    /// After every delivery finished, replay the dead-letter queue (fresh
    /// signatures, same event ids, same retry policy), or the part of it
    /// first sent in a window or of some types: what `hookproof replay`
    /// selects with the same flags.
    #[serde(rename = "delivery.replay")]
    Replay {
        /// Wait this long after the last delivery finished.
        #[serde(default = "default_restart", with = "duration")]
        after: Duration,
        /// Only events first sent at or after this offset into the run.
        #[serde(
            default,
            with = "opt_duration",
            skip_serializing_if = "Option::is_none"
        )]
        since: Option<Duration>,
        /// Only events first sent before this offset into the run.
        #[serde(
            default,
            with = "opt_duration",
            skip_serializing_if = "Option::is_none"
        )]
        until: Option<Duration>,
        /// Only events of these short types, e.g. `ticket.created` (empty: any).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        types: Vec<String>,
    },
    /// SIGKILL the SUT at a time or right after the Nth ack, then restart it.
    #[serde(rename = "sut.kill")]
    SutKill {
        /// When (after the run starts).
        #[serde(default, with = "opt_duration")]
        at: Option<Duration>,
        /// Or: right after this many acks.
        #[serde(default)]
        after_acks: Option<usize>,
        /// Down time before the restart.
        #[serde(default = "default_restart", with = "duration")]
        restart_after: Duration,
    },
}

impl Fault {
    /// The `kind` string, as written in scenario files.
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Duplicate { .. } => "delivery.duplicate",
            Fault::ConcurrentDuplicate { .. } => "delivery.concurrent-duplicate",
            Fault::LostAck { .. } => "delivery.lost-ack",
            Fault::Reorder { .. } => "delivery.reorder",
            Fault::Delay { .. } => "delivery.delay",
            Fault::Rate { .. } => "delivery.rate",
            Fault::Rotation { .. } => "signature.rotation",
            Fault::Burst { .. } => "delivery.burst",
            Fault::Forged { .. } => "signature.forged",
            Fault::Tampered { .. } => "signature.tampered",
            Fault::Unsigned { .. } => "signature.missing",
            Fault::Stale { .. } => "signature.stale",
            Fault::WrongSecret { .. } => "signature.wrong-secret",
            Fault::CrmStatus { .. } => "crm.status",
            Fault::CrmRateLimit { .. } => "crm.rate-limit",
            Fault::CrmLatency { .. } => "crm.latency",
            Fault::CrmHang { .. } => "crm.hang",
            Fault::CrmReset { .. } => "crm.reset",
            Fault::CrmErrorAfterCommit { .. } => "crm.error-after-commit",
            Fault::CrmPartialBatch { .. } => "crm.partial-batch",
            Fault::CrmRenameProperty { .. } => "crm.rename-property",
            Fault::HelpdeskStatus { .. } => "helpdesk.status",
            Fault::HelpdeskLatency { .. } => "helpdesk.latency",
            Fault::PayloadDrift { .. } => "payload.drift",
            Fault::CrmPreseed { .. } => "crm.preseed",
            Fault::Replay { .. } => "delivery.replay",
            Fault::SutKill { .. } => "sut.kill",
        }
    }

    /// Checks values serde cannot: fractions in 0..=1, windows with both ends,
    /// statuses that are HTTP errors. Returns `(key, problem)`.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let fraction_ok = |key: &'static str, f: f64| {
            if (0.0..=1.0).contains(&f) {
                Ok(())
            } else {
                Err((key, format!("must be between 0 and 1, got {f}")))
            }
        };
        let window_ok = |from: &Option<Duration>, dur: &Option<Duration>| match (from, dur) {
            (Some(_), None) => Err(("for", "`from` needs `for` (the window length)".to_string())),
            _ => Ok(()),
        };
        match self {
            Fault::Duplicate { fraction, copies } => {
                fraction_ok("fraction", *fraction)?;
                if *copies == 0 {
                    return Err(("copies", "must be at least 1".into()));
                }
            }
            Fault::ConcurrentDuplicate { fraction }
            | Fault::LostAck { fraction }
            | Fault::PayloadDrift { fraction, .. }
            | Fault::Rotation { fraction }
            | Fault::Delay { fraction, .. } => fraction_ok("fraction", *fraction)?,
            Fault::CrmPreseed { contacts } => fraction_ok("contacts", *contacts)?,
            Fault::HelpdeskStatus { status, .. } if !(400..=599).contains(status) => {
                return Err((
                    "status",
                    format!("must be a 4xx or 5xx status, got {status}"),
                ));
            }
            Fault::Burst { size: 0, .. } => {
                return Err(("size", "must be at least 1".into()));
            }
            Fault::Reorder { window } if *window < 2 => {
                return Err(("window", "must be at least 2".into()));
            }
            Fault::Rate { per_second } if per_second.is_nan() || *per_second <= 0.0 => {
                return Err(("per_second", "must be positive".into()));
            }
            Fault::CrmStatus {
                status,
                from,
                duration,
                fraction,
                ..
            }
            | Fault::CrmErrorAfterCommit {
                status,
                from,
                duration,
                fraction,
                ..
            } => {
                if !(400..=599).contains(status) {
                    return Err((
                        "status",
                        format!("must be a 4xx or 5xx status, got {status}"),
                    ));
                }
                window_ok(from, duration)?;
                if let Some(f) = fraction {
                    fraction_ok("fraction", *f)?;
                }
            }
            Fault::CrmRateLimit {
                from,
                duration,
                fraction,
                ..
            }
            | Fault::CrmLatency {
                from,
                duration,
                fraction,
                ..
            }
            | Fault::CrmHang {
                from,
                duration,
                fraction,
                ..
            }
            | Fault::CrmReset {
                from,
                duration,
                fraction,
                ..
            } => {
                window_ok(from, duration)?;
                if let Some(f) = fraction {
                    fraction_ok("fraction", *f)?;
                }
            }
            Fault::CrmPartialBatch {
                item_fraction,
                from,
                duration,
                fraction,
            } => {
                fraction_ok("item_fraction", *item_fraction)?;
                window_ok(from, duration)?;
                if let Some(f) = fraction {
                    fraction_ok("fraction", *f)?;
                }
            }
            Fault::SutKill {
                at: None,
                after_acks: None,
                ..
            } => {
                return Err(("at", "give `at` (a time) or `after_acks` (a count)".into()));
            }
            Fault::Replay {
                since: Some(since),
                until: Some(until),
                ..
            } if until <= since => {
                return Err((
                    "until",
                    format!("must be later than `since` ({since:?}), got {until:?}"),
                ));
            }
            _ => {}
        }
        Ok(())
    }

    /// Whether this fault injects forged deliveries.
    pub fn is_forgery(&self) -> bool {
        self.kind().starts_with("signature.") && !matches!(self, Fault::Rotation { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Doc {
        fault: Vec<Fault>,
    }

    #[test]
    fn parses_tagged_tables_with_durations() {
        let doc: Doc = toml::from_str(
            r#"
            [[fault]]
            kind = "crm.status"
            status = 503
            from = "1s"
            for = "3s"
            [[fault]]
            kind = "delivery.duplicate"
            fraction = 0.5
            "#,
        )
        .unwrap();
        assert_eq!(
            doc.fault[0],
            Fault::CrmStatus {
                status: 503,
                from: Some(Duration::from_secs(1)),
                duration: Some(Duration::from_secs(3)),
                fraction: None,
                route: None,
                retry_after: None
            }
        );
        assert_eq!(doc.fault[1].kind(), "delivery.duplicate");
    }

    #[test]
    fn unknown_keys_and_kinds_are_errors() {
        let err = toml::from_str::<Doc>("[[fault]]\nkind = \"crm.status\"\nstatuss = 503\n")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("statuss"), "{err}");
        let err = toml::from_str::<Doc>("[[fault]]\nkind = \"crm.outage\"\n")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("crm.outage"), "{err}");
    }

    #[test]
    fn semantic_validation_names_the_key() {
        let f = Fault::Duplicate {
            fraction: 1.5,
            copies: 1,
        };
        assert_eq!(f.validate().unwrap_err().0, "fraction");
        let f = Fault::SutKill {
            at: None,
            after_acks: None,
            restart_after: Duration::ZERO,
        };
        assert_eq!(f.validate().unwrap_err().0, "at");
    }
}
