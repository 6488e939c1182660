//! Selective replay: pick events from a run's delivery log (by time window,
//! type and final status) and deliver them again, with fresh signatures and
//! the same event ids, under the producer's retry policy.
//!
//! The scenario fault `delivery.replay` and `hookproof replay` share this
//! module: [`EventRecord`]s are what a run writes to
//! `delivery-log/NAME.events.jsonl`, [`Selection`] picks some, [`units`]
//! turns them into producer work.

use crate::history::{DeliveryLog, DeliveryStatus, SignatureMode};
use crate::producer::{PlannedDelivery, Unit};
use crate::workload::{Event, EventKind, User, Workload};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// One valid event of a run, as the events log keeps it: what finally
/// became of its deliveries, when it was first sent, and its payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    /// Event id (kept on replay).
    pub event_id: String,
    /// Short event type, e.g. `ticket.created`.
    pub event_type: String,
    /// Dead-lettered when any of its deliveries was, else the final status
    /// of its last delivery.
    pub status: DeliveryStatus,
    /// First attempt, in ms since the run started.
    pub first_attempt_ms: u64,
    /// The unsigned payload, as sent.
    pub payload: serde_json::Value,
    /// The W3C trace context it was sent with.
    pub traceparent: String,
    /// Its index in the run's workload (how the checks know it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_seq: Option<usize>,
}

/// The valid events of `log` that carry a payload, one record each, in
/// first-attempt order. Status: dead-lettered when any delivery of the event
/// dead-lettered, else that of its last delivery.
pub fn event_records(log: &DeliveryLog) -> Vec<EventRecord> {
    let mut records: Vec<EventRecord> = Vec::new();
    for d in log
        .deliveries
        .iter()
        .filter(|d| d.signature == SignatureMode::Valid)
    {
        let Some(body) = log.bodies.get(&d.event_id) else {
            continue;
        };
        let first = log
            .attempts_of(d.index)
            .map(|a| a.started.as_millis() as u64)
            .min()
            .unwrap_or(0);
        match records.iter_mut().find(|r| r.event_id == d.event_id) {
            Some(r) => {
                // A dead-lettered copy makes the event dead-lettered (an
                // outage left it behind), whatever became of other copies.
                if r.status != DeliveryStatus::DeadLettered {
                    r.status = d.status;
                }
                r.first_attempt_ms = r.first_attempt_ms.min(first);
            }
            None => records.push(EventRecord {
                event_id: d.event_id.clone(),
                event_type: d.event_type.clone(),
                status: d.status,
                first_attempt_ms: first,
                payload: serde_json::from_slice(body).unwrap_or(serde_json::Value::Null),
                traceparent: d.traceparent.clone(),
                event_seq: d.event_seq,
            }),
        }
    }
    records.sort_by_key(|r| r.first_attempt_ms);
    records
}

/// Which final statuses a replay picks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    /// Only dead-lettered events (the default: what an outage left behind).
    DeadLettered,
    /// Dead-lettered and rejected events.
    Failed,
    /// Every event.
    All,
}

impl std::str::FromStr for StatusFilter {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "dead-lettered" => Ok(StatusFilter::DeadLettered),
            "failed" => Ok(StatusFilter::Failed),
            "all" => Ok(StatusFilter::All),
            _ => Err(format!("{s:?} is not one of dead-lettered, failed, all")),
        }
    }
}

/// What to replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// First attempt at or after this offset into the run.
    pub since: Option<Duration>,
    /// First attempt before this offset into the run.
    pub until: Option<Duration>,
    /// Only these short event types (empty: any).
    pub types: Vec<String>,
    /// Final statuses.
    pub status: StatusFilter,
}

impl Default for Selection {
    fn default() -> Self {
        Selection {
            since: None,
            until: None,
            types: Vec::new(),
            status: StatusFilter::DeadLettered,
        }
    }
}

impl Selection {
    /// Whether `r` is selected.
    pub fn picks(&self, r: &EventRecord) -> bool {
        let at = Duration::from_millis(r.first_attempt_ms);
        let status = match self.status {
            StatusFilter::DeadLettered => r.status == DeliveryStatus::DeadLettered,
            StatusFilter::Failed => r.status != DeliveryStatus::Acked,
            StatusFilter::All => true,
        };
        status
            && self.since.is_none_or(|s| at >= s)
            && self.until.is_none_or(|u| at < u)
            && (self.types.is_empty() || self.types.contains(&r.event_type))
    }
}

/// Producer work for `records`: one valid, freshly signed delivery each,
/// same event id, marked `replay`.
pub fn units<'a>(records: impl IntoIterator<Item = &'a EventRecord>) -> Vec<Unit> {
    records
        .into_iter()
        .map(|r| {
            Unit::now(PlannedDelivery {
                event_seq: r.event_seq,
                event_id: r.event_id.clone(),
                event_type: r.event_type.clone(),
                ticket_id: None,
                body: Arc::new(r.payload.to_string().into_bytes()),
                signed_body: None,
                signature: SignatureMode::Valid,
                origin: "replay".to_string(),
                lost_acks: 0,
                rotated: false,
                traceparent: r.traceparent.clone(),
            })
        })
        .collect()
}

/// The helpdesk a replay into a fresh SUT serves for enrichment: the
/// records' events (as a workload, in log order), their requesters as
/// users, and each ticket's latest snapshot. The events log keeps no user
/// names or emails, so they are derived from the ids (`Requester ID`,
/// `requester-ID@replay.hookproof.invalid`).
pub fn helpdesk_data<'a>(records: impl IntoIterator<Item = &'a EventRecord>) -> Workload {
    let mut workload = Workload {
        seed: 0,
        events: Vec::new(),
        users: Vec::new(),
        tickets: Vec::new(),
    };
    for (seq, r) in records.into_iter().enumerate() {
        let body = &r.payload;
        let detail = &body["detail"];
        let ticket_id = detail["id"].as_str().map(str::to_string);
        if let Some(requester) = detail["requester_id"].as_str()
            && !workload.users.iter().any(|u| u.id == requester)
        {
            workload.users.push(User {
                id: requester.to_string(),
                name: format!("Requester {requester}"),
                email: format!("requester-{requester}@replay.hookproof.invalid"),
            });
        }
        if let Some(id) = &ticket_id {
            workload.tickets.retain(|t| t["id"].as_str() != Some(id));
            workload.tickets.push(detail.clone());
        }
        let kind = match r.event_type.as_str() {
            "ticket.created" => EventKind::TicketCreated,
            "ticket.status_changed" => EventKind::StatusChanged,
            "ticket.priority_changed" => EventKind::PriorityChanged,
            "ticket.comment_added" => EventKind::CommentAdded,
            _ => EventKind::Noise,
        };
        workload.events.push(Event {
            seq,
            id: r.event_id.clone(),
            event_type: body["type"].as_str().unwrap_or_default().to_string(),
            kind,
            ticket_id,
            comment_id: body["event"]["comment"]["id"].as_str().map(str::to_string),
            time: body["time"]
                .as_str()
                .and_then(|t| t.parse().ok())
                .unwrap_or_default(),
            body: body.clone(),
        });
    }
    workload
}

/// An events log that cannot be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// The file cannot be read.
    #[error("{path}: {source}; pass a delivery-log/NAME.events.jsonl file of a report directory")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A line is not an event record.
    #[error(
        "{path}:{line}: not an event record ({message}); is this a delivery-log/NAME.events.jsonl file?"
    )]
    Line {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What the parser said.
        message: String,
    },
}

/// Reads an events log (JSON Lines of [`EventRecord`]).
pub fn read_events(path: &Path) -> Result<Vec<EventRecord>, LogError> {
    let text = std::fs::read_to_string(path).map_err(|source| LogError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| LogError::Line {
                path: path.to_path_buf(),
                line: i + 1,
                message: e.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, kind: &str, status: DeliveryStatus, at: u64) -> EventRecord {
        EventRecord {
            event_id: id.into(),
            event_type: kind.into(),
            status,
            first_attempt_ms: at,
            payload: serde_json::json!({"id": id}),
            traceparent: String::new(),
            event_seq: None,
        }
    }

    #[test]
    fn selects_by_window_type_and_status() {
        use DeliveryStatus::*;
        let records = [
            record("a", "ticket.created", DeadLettered, 100),
            record("b", "ticket.created", Acked, 200),
            record("c", "ticket.comment_added", DeadLettered, 300),
            record("d", "ticket.created", Rejected, 400),
        ];
        let ids = |s: &Selection| {
            records
                .iter()
                .filter(|r| s.picks(r))
                .map(|r| r.event_id.as_str())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&Selection::default()), ["a", "c"]);
        let failed = Selection {
            status: StatusFilter::Failed,
            ..Selection::default()
        };
        assert_eq!(ids(&failed), ["a", "c", "d"]);
        let window = Selection {
            since: Some(Duration::from_millis(150)),
            until: Some(Duration::from_millis(400)),
            status: StatusFilter::All,
            ..Selection::default()
        };
        assert_eq!(ids(&window), ["b", "c"]);
        let typed = Selection {
            types: vec!["ticket.created".into()],
            status: StatusFilter::All,
            ..Selection::default()
        };
        assert_eq!(ids(&typed), ["a", "b", "d"]);
        assert!("sometimes".parse::<StatusFilter>().is_err());
    }

    #[test]
    fn units_keep_the_event_id_and_sign_afresh() {
        let r = record("e-1", "ticket.created", DeliveryStatus::DeadLettered, 0);
        let u = units([&r]);
        assert_eq!(u.len(), 1);
        let d = &u[0].deliveries[0];
        assert_eq!(d.event_id, "e-1");
        assert_eq!(d.origin, "replay");
        assert!(d.signed_body.is_none());
        assert_eq!(d.signature, SignatureMode::Valid);
    }

    #[test]
    fn a_garbled_line_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.events.jsonl");
        let good = serde_json::to_string(&record("a", "t", DeliveryStatus::Acked, 0)).unwrap();
        std::fs::write(&path, format!("{good}\n{{\"event_id\": 3}}\n")).unwrap();
        let err = read_events(&path).unwrap_err().to_string();
        assert!(err.contains("x.events.jsonl:2:"), "{err}");
    }
}
