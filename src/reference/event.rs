//! Parsing of helpdesk (Zendesk-shaped) webhook events. The permissive
//! parser is what a receiver should do: read the few fields it needs, keep
//! unknown enum values as raw strings, never fail on shape. The strict parser
//! exists only for the `strict-parser` flaw.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// What kind of event this is, as far as the mapping cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// `ticket.created`.
    TicketCreated,
    /// `ticket.status_changed`.
    StatusChanged,
    /// `ticket.priority_changed`.
    PriorityChanged,
    /// `ticket.comment_added`.
    CommentAdded,
    /// Anything else: acked and ignored.
    Other,
}

impl EventKind {
    /// Classify a raw `type` value (`zen:event-type:ticket.created`, ...).
    pub fn from_type(raw: &str) -> Self {
        let short = raw.strip_prefix("zen:event-type:").unwrap_or(raw);
        match short {
            "ticket.created" => EventKind::TicketCreated,
            "ticket.status_changed" => EventKind::StatusChanged,
            "ticket.priority_changed" => EventKind::PriorityChanged,
            "ticket.comment_added" => EventKind::CommentAdded,
            _ => EventKind::Other,
        }
    }
}

/// The ticket snapshot fields the mapping reads (`detail`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TicketSnapshot {
    /// Helpdesk ticket id.
    pub id: String,
    /// Subject line.
    pub subject: Option<String>,
    /// Description (first comment).
    pub description: Option<String>,
    /// Raw status, e.g. `OPEN` or a value this receiver does not know.
    pub status: Option<String>,
    /// Raw priority, `None` when null.
    pub priority: Option<String>,
    /// Requester user id.
    pub requester_id: Option<String>,
    /// Last change time of the snapshot.
    pub updated_at: Option<DateTime<Utc>>,
}

/// A comment from a `ticket.comment_added` event.
#[derive(Debug, Clone, PartialEq)]
pub struct Comment {
    /// Helpdesk comment id.
    pub id: String,
    /// Comment body.
    pub body: String,
}

/// A helpdesk event, read permissively.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Event id (stable across retries); a body hash when the event has none.
    pub id: String,
    /// Raw `type`.
    pub raw_type: String,
    /// Classified kind.
    pub kind: EventKind,
    /// Envelope `time`, as sent.
    pub time: Option<String>,
    /// The ticket snapshot, for ticket events with a usable `detail.id`.
    pub ticket: Option<TicketSnapshot>,
    /// The comment, for comment events.
    pub comment: Option<Comment>,
}

/// Read an id that may be a JSON string or number.
pub fn id_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn string_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

impl Event {
    /// Parse a JSON body permissively. Fails only when the body is not JSON
    /// (or not a JSON object).
    pub fn parse(body: &[u8]) -> Result<Self, serde_json::Error> {
        let value: Value = serde_json::from_slice(body)?;
        if !value.is_object() {
            return Err(serde::de::Error::custom(
                "webhook body is not a JSON object",
            ));
        }
        Ok(Self::from_value(&value, body))
    }

    fn from_value(v: &Value, body: &[u8]) -> Self {
        let id = v
            .get("id")
            .and_then(id_of)
            .unwrap_or_else(|| format!("sha256:{}", hex::encode(Sha256::digest(body))));
        let raw_type = v
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let kind = EventKind::from_type(&raw_type);
        let detail = v.get("detail");
        let ticket = if raw_type.contains("ticket.") || kind != EventKind::Other {
            detail.and_then(|d| d.get("id")).and_then(id_of).map(|id| {
                let d = detail.expect("detail present");
                TicketSnapshot {
                    id,
                    subject: string_of(d.get("subject")),
                    description: string_of(d.get("description")),
                    status: string_of(d.get("status")),
                    priority: string_of(d.get("priority")),
                    requester_id: d.get("requester_id").and_then(id_of),
                    updated_at: d
                        .get("updated_at")
                        .and_then(Value::as_str)
                        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                        .map(|t| t.with_timezone(&Utc)),
                }
            })
        } else {
            None
        };
        let comment = v.get("event").and_then(|e| e.get("comment")).and_then(|c| {
            Some(Comment {
                id: c.get("id").and_then(id_of)?,
                body: string_of(c.get("body")).unwrap_or_default(),
            })
        });
        Event {
            id,
            raw_type,
            kind,
            time: string_of(v.get("time")),
            ticket,
            comment,
        }
    }

    /// The helpdesk ticket id this event concerns, if any.
    pub fn ticket_id(&self) -> Option<&str> {
        self.ticket.as_ref().map(|t| t.id.as_str())
    }
}

/// Parse with closed types, as the `strict-parser` flaw does: unknown
/// fields, event types or enum values are errors.
pub fn parse_strict(body: &[u8]) -> Result<(), serde_json::Error> {
    let env: strict::Envelope = serde_json::from_slice(body)?;
    if env.is_ticket_event() {
        serde_json::from_value::<strict::Ticket>(env.detail)?;
    }
    Ok(())
}

mod strict {
    //! Closed types for the `strict-parser` flaw (deliberately brittle).
    #![allow(dead_code)]

    use super::*;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Envelope {
        account_id: u64,
        id: String,
        #[serde(rename = "type")]
        kind: Type,
        subject: String,
        time: String,
        zendesk_event_version: Version,
        pub(super) detail: Value,
        event: Change,
    }

    impl Envelope {
        pub(super) fn is_ticket_event(&self) -> bool {
            !matches!(self.kind, Type::UserActiveChanged)
        }
    }

    #[derive(Deserialize)]
    pub(super) enum Version {
        #[serde(rename = "2022-11-06")]
        V20221106,
        #[serde(rename = "2022-06-20")]
        V20220620,
    }

    #[derive(Deserialize)]
    pub(super) enum Type {
        #[serde(rename = "zen:event-type:ticket.created")]
        Created,
        #[serde(rename = "zen:event-type:ticket.status_changed")]
        StatusChanged,
        #[serde(rename = "zen:event-type:ticket.priority_changed")]
        PriorityChanged,
        #[serde(rename = "zen:event-type:ticket.comment_added")]
        CommentAdded,
        #[serde(rename = "zen:event-type:ticket.tags_changed")]
        TagsChanged,
        #[serde(rename = "zen:event-type:ticket.agent_assignment_changed")]
        AgentAssignmentChanged,
        #[serde(rename = "zen:event-type:ticket.group_assignment_changed")]
        GroupAssignmentChanged,
        #[serde(rename = "zen:event-type:user.active_changed")]
        UserActiveChanged,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Ticket {
        id: String,
        subject: String,
        description: String,
        status: Status,
        priority: Option<Priority>,
        #[serde(rename = "type")]
        kind: Option<String>,
        tags: Option<Vec<String>>,
        requester_id: String,
        submitter_id: String,
        assignee_id: Option<String>,
        organization_id: Option<String>,
        group_id: Option<String>,
        brand_id: Option<String>,
        form_id: Option<String>,
        is_public: bool,
        external_id: Option<String>,
        custom_status: Option<String>,
        actor_id: Option<String>,
        created_at: String,
        updated_at: String,
        via: Option<Value>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "UPPERCASE")]
    pub(super) enum Status {
        New,
        Open,
        Pending,
        Hold,
        Solved,
        Closed,
        Deleted,
        Archived,
        Scrubbed,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "UPPERCASE")]
    pub(super) enum Priority {
        Low,
        Normal,
        High,
        Urgent,
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    pub(super) enum Change {
        Status {
            previous: Option<Value>,
            current: Option<Value>,
        },
        Comment {
            comment: Value,
        },
        Other(serde_json::Map<String, Value>),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn sample(kind: &str, status: &str) -> Value {
        json!({
            "account_id": 22129848,
            "id": "2b8b3c1a-0000-4000-8000-000000000001",
            "type": format!("zen:event-type:{kind}"),
            "subject": "zen:ticket:5158",
            "time": "2025-01-08T10:12:07.672Z",
            "zendesk_event_version": "2022-11-06",
            "detail": {
                "id": "5158", "subject": "Printer on fire", "description": "Help",
                "status": status, "priority": "HIGH", "type": null, "tags": null,
                "requester_id": "8447388090494", "submitter_id": "8447388090494",
                "assignee_id": null, "organization_id": null, "group_id": "1",
                "brand_id": "2", "form_id": "3", "is_public": true, "external_id": null,
                "custom_status": "4", "actor_id": "5",
                "created_at": "2025-01-08T10:12:07Z", "updated_at": "2025-01-08T10:12:07Z",
                "via": {"channel": "web_service"}
            },
            "event": {}
        })
    }

    fn bytes(v: &Value) -> Vec<u8> {
        serde_json::to_vec(v).unwrap()
    }

    #[test]
    fn parses_created() {
        let ev = Event::parse(&bytes(&sample("ticket.created", "NEW"))).unwrap();
        assert_eq!(ev.kind, EventKind::TicketCreated);
        let t = ev.ticket.unwrap();
        assert_eq!(t.id, "5158");
        assert_eq!(t.status.as_deref(), Some("NEW"));
        assert_eq!(t.requester_id.as_deref(), Some("8447388090494"));
        assert!(t.updated_at.is_some());
        assert!(parse_strict(&bytes(&sample("ticket.created", "NEW"))).is_ok());
    }

    #[test]
    fn tolerates_extra_fields_and_new_values() {
        let mut v = sample("ticket.status_changed", "ESCALATED");
        v["detail"]["sla_policy"] = json!({"id": 1});
        v["brand_new_top_level"] = json!(true);
        v["detail"]["priority"] = Value::Null;
        v["event"] = json!({"previous": "OPEN", "current": "ESCALATED"});
        let ev = Event::parse(&bytes(&v)).unwrap();
        assert_eq!(ev.kind, EventKind::StatusChanged);
        let t = ev.ticket.unwrap();
        assert_eq!(t.status.as_deref(), Some("ESCALATED"));
        assert_eq!(t.priority, None);
        assert!(parse_strict(&bytes(&v)).is_err());
    }

    #[test]
    fn unknown_type_is_other() {
        let v = sample("ticket.sla_breached", "OPEN");
        let ev = Event::parse(&bytes(&v)).unwrap();
        assert_eq!(ev.kind, EventKind::Other);
        assert!(parse_strict(&bytes(&v)).is_err());
    }

    #[test]
    fn comment_and_numeric_ids() {
        let mut v = sample("ticket.comment_added", "OPEN");
        v["detail"]["id"] = json!(5158);
        v["event"] = json!({"comment": {"id": 9001, "body": "hi", "is_public": true,
            "author": {"id": "1", "name": "A", "is_staff": false}}});
        let ev = Event::parse(&bytes(&v)).unwrap();
        assert_eq!(ev.ticket_id(), Some("5158"));
        assert_eq!(
            ev.comment,
            Some(Comment {
                id: "9001".into(),
                body: "hi".into()
            })
        );
    }

    #[test]
    fn missing_id_and_odd_shapes_still_parse() {
        let ev = Event::parse(br#"{"type": 5, "detail": "x"}"#).unwrap();
        assert!(ev.id.starts_with("sha256:"));
        assert_eq!(ev.kind, EventKind::Other);
        assert!(Event::parse(b"not json").is_err());
        assert!(Event::parse(b"[1,2]").is_err());
    }
}
