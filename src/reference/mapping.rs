//! The canonical mapping from helpdesk events to CRM writes, and the CRM and
//! helpdesk client calls it makes. Every write is idempotent (upserts by a
//! unique property, search before creating a note) and ticket properties
//! follow newest-`updated_at`-wins, so the worker may retry freely.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Map, Value, json};

use crate::reference::backoff::parse_retry_after;
use crate::reference::config::{ReferenceConfig, ReferenceError};
use crate::reference::event::{Event, EventKind, TicketSnapshot, id_of};
use crate::reference::flaw::Flaw;
use crate::reference::inbox::Inbox;

/// Per-call timeout for CRM and helpdesk calls.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(2);

/// HubSpot-defined association type id for note → ticket.
pub const NOTE_TO_TICKET: u32 = 228;

/// Pipeline stage for a helpdesk status. A status this mapping does not
/// know (a newer payload version) counts as open ("3"), so the stage is
/// always a function of the newest snapshot alone and converges whatever
/// the arrival order; the raw value is kept in `helpdesk_status`.
pub fn pipeline_stage(status: &str) -> Option<&'static str> {
    match status {
        "NEW" => Some("1"),
        "PENDING" => Some("2"),
        "SOLVED" | "CLOSED" => Some("4"),
        _ => Some("3"),
    }
}

/// CRM ticket priority for a helpdesk priority, `None` to leave it unset.
pub fn ticket_priority(priority: &str) -> Option<&'static str> {
    match priority {
        "LOW" => Some("LOW"),
        "NORMAL" => Some("MEDIUM"),
        "HIGH" => Some("HIGH"),
        "URGENT" => Some("URGENT"),
        _ => None,
    }
}

/// The CRM ticket properties for a snapshot.
pub fn ticket_properties(t: &TicketSnapshot) -> Map<String, Value> {
    let mut p = Map::new();
    p.insert("helpdesk_ticket_id".into(), json!(t.id));
    if let Some(s) = &t.subject {
        p.insert("subject".into(), json!(s));
    }
    if let Some(d) = &t.description {
        p.insert("content".into(), json!(d));
    }
    p.insert("hs_pipeline".into(), json!("0"));
    if let Some(stage) = t.status.as_deref().and_then(pipeline_stage) {
        p.insert("hs_pipeline_stage".into(), json!(stage));
    }
    if let Some(prio) = t.priority.as_deref().and_then(ticket_priority) {
        p.insert("hs_ticket_priority".into(), json!(prio));
    }
    if let Some(s) = &t.status {
        p.insert("helpdesk_status".into(), json!(s));
    }
    p
}

/// Split a display name on its first space into first and last name.
pub fn split_name(name: &str) -> (String, String) {
    match name.trim().split_once(' ') {
        Some((first, last)) => (first.to_owned(), last.trim().to_owned()),
        None => (name.trim().to_owned(), String::new()),
    }
}

/// Which service a failed call went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// The CRM.
    Crm,
    /// The helpdesk REST API.
    Helpdesk,
}

/// Why an attempt to apply an event failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureKind {
    /// The service answered with an error status.
    Status(Service, u16),
    /// The call timed out.
    Timeout(Service),
    /// The call failed below HTTP (connect, reset, ...).
    Transport(Service),
    /// A batch answered 207 with our item among the errors.
    PartialBatch,
    /// A prerequisite is not in the CRM yet (e.g. the ticket of a comment).
    NotYet,
    /// The response could not be understood.
    BadResponse(Service),
}

/// A failed attempt, with what the worker needs to schedule the next one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApplyError {
    /// What failed.
    pub kind: FailureKind,
    /// Human-readable description (never contains secrets).
    pub message: String,
    /// The server's `Retry-After`, if any.
    pub retry_after: Option<Duration>,
}

impl ApplyError {
    fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        ApplyError {
            kind,
            message: message.into(),
            retry_after: None,
        }
    }

    /// Permanent failures (4xx other than 408/429, unreadable responses) are
    /// retried only a few times before dead-lettering.
    pub fn is_permanent(&self) -> bool {
        match self.kind {
            FailureKind::Status(_, s) => (400..500).contains(&s) && s != 408 && s != 429,
            FailureKind::BadResponse(_) => true,
            _ => false,
        }
    }

    /// Whether the CRM as a whole is failing (429, 5xx, timeout, reset):
    /// the worker then pauses every event, not just this one, so an outage
    /// or a rate limit never turns into a retry storm.
    pub fn is_crm_overload(&self) -> bool {
        match self.kind {
            FailureKind::Status(Service::Crm, s) => s == 429 || s >= 500,
            FailureKind::Transport(Service::Crm) => true,
            _ => false,
        }
    }

    /// Whether the CRM answered with an error status (what `swallow-errors` ignores).
    pub fn is_crm_error_response(&self) -> bool {
        matches!(
            self.kind,
            FailureKind::Status(Service::Crm, _) | FailureKind::PartialBatch
        )
    }
}

/// What applying an event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// CRM writes were made; a short summary.
    Applied(String),
    /// Nothing to do; why.
    Ignored(String),
}

struct Response {
    status: StatusCode,
    body: Value,
    retry_after: Option<Duration>,
}

/// Applies events to the CRM. Cheap to share behind an `Arc`.
pub struct Mapper {
    crm: reqwest::Client,
    helpdesk: reqwest::Client,
    crm_url: String,
    crm_token: String,
    helpdesk_url: String,
    helpdesk_token: String,
    flaw: Option<Flaw>,
    inbox: Inbox,
    ticket_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// No CRM call before this instant: the last `Retry-After` the CRM sent
    /// applies to every call, also those of events already in progress.
    crm_pause_until: Mutex<Option<tokio::time::Instant>>,
}

impl std::fmt::Debug for Mapper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mapper")
            .field("crm_url", &self.crm_url)
            .field("helpdesk_url", &self.helpdesk_url)
            .field("flaw", &self.flaw)
            .finish_non_exhaustive()
    }
}

impl Mapper {
    /// Build the clients. `inbox` holds the per-ticket versions.
    pub fn new(config: &ReferenceConfig, inbox: Inbox) -> Result<Self, ReferenceError> {
        let mut crm = reqwest::Client::builder().no_proxy();
        if config.flaw != Some(Flaw::NoClientTimeout) {
            crm = crm.timeout(CLIENT_TIMEOUT);
        }
        let helpdesk = reqwest::Client::builder()
            .no_proxy()
            .timeout(CLIENT_TIMEOUT)
            .build()
            .map_err(ReferenceError::Client)?;
        Ok(Mapper {
            crm: crm.build().map_err(ReferenceError::Client)?,
            helpdesk,
            crm_url: config.crm_url.clone(),
            crm_token: config.crm_token.clone(),
            helpdesk_url: config.helpdesk_url.clone(),
            helpdesk_token: config.helpdesk_token.clone(),
            flaw: config.flaw,
            inbox,
            ticket_locks: Mutex::new(HashMap::new()),
            crm_pause_until: Mutex::new(None),
        })
    }

    fn has(&self, flaw: Flaw) -> bool {
        self.flaw == Some(flaw)
    }

    /// Apply one event. Events of the same ticket are applied one at a time.
    pub async fn apply(
        &self,
        event: &Event,
        traceparent: Option<&str>,
    ) -> Result<Outcome, ApplyError> {
        let trace = traceparent.filter(|_| !self.has(Flaw::NoTracePropagation));
        let Some(ticket_id) = event.ticket_id().map(str::to_owned) else {
            return Ok(Outcome::Ignored(match event.kind {
                EventKind::Other => format!("event type `{}` not mapped", event.raw_type),
                _ => "no ticket id in detail".to_owned(),
            }));
        };
        if event.kind == EventKind::Other {
            return Ok(Outcome::Ignored(format!(
                "event type `{}` not mapped",
                event.raw_type
            )));
        }
        let lock = {
            let mut locks = self.ticket_locks.lock().unwrap_or_else(|p| p.into_inner());
            locks.entry(ticket_id.clone()).or_default().clone()
        };
        let result = {
            let _guard = lock.lock().await;
            self.apply_locked(event, trace).await
        };
        {
            let mut locks = self.ticket_locks.lock().unwrap_or_else(|p| p.into_inner());
            if Arc::strong_count(&lock) == 2 {
                locks.remove(&ticket_id);
            }
        }
        result
    }

    async fn apply_locked(
        &self,
        event: &Event,
        trace: Option<&str>,
    ) -> Result<Outcome, ApplyError> {
        let ticket = event.ticket.as_ref().expect("checked by apply");
        match event.kind {
            EventKind::TicketCreated => self.created(ticket, trace).await,
            EventKind::StatusChanged | EventKind::PriorityChanged => {
                if !self.is_newer(ticket).await? {
                    return Ok(Outcome::Ignored(format!(
                        "ticket {} snapshot older than the last applied",
                        ticket.id
                    )));
                }
                let id = self.upsert_ticket(ticket, trace).await?;
                Ok(Outcome::Applied(format!(
                    "ticket {} -> crm ticket {}",
                    ticket.id,
                    id.as_deref().unwrap_or("?")
                )))
            }
            EventKind::CommentAdded => self.comment(event, ticket, trace).await,
            EventKind::Other => unreachable!("checked by apply"),
        }
    }

    async fn created(
        &self,
        ticket: &TicketSnapshot,
        trace: Option<&str>,
    ) -> Result<Outcome, ApplyError> {
        let contact_id = match &ticket.requester_id {
            Some(rid) => self.ensure_contact(rid, trace).await?,
            None => None,
        };
        let ticket_crm_id = if self.is_newer(ticket).await? {
            self.upsert_ticket(ticket, trace).await?
        } else {
            Some(self.find_ticket(&ticket.id, trace).await?)
        };
        let mut summary = format!(
            "ticket {} -> crm ticket {}",
            ticket.id,
            ticket_crm_id.as_deref().unwrap_or("?")
        );
        if let Some(c) = &contact_id {
            summary.push_str(&format!(", contact {c}"));
        }
        if let (Some(t), Some(c)) = (&ticket_crm_id, &contact_id)
            && !self.has(Flaw::DropAssociation)
        {
            let path = format!("/crm/v4/objects/tickets/{t}/associations/default/contacts/{c}");
            let resp = self.crm_call(Method::PUT, &path, None, trace).await?;
            check(resp, Service::Crm, "associate ticket with contact")?;
            summary.push_str(", associated");
        }
        Ok(Outcome::Applied(summary))
    }

    async fn comment(
        &self,
        event: &Event,
        ticket: &TicketSnapshot,
        trace: Option<&str>,
    ) -> Result<Outcome, ApplyError> {
        let Some(comment) = &event.comment else {
            return Ok(Outcome::Ignored("comment event without comment id".into()));
        };
        let crm_ticket = self.find_ticket(&ticket.id, trace).await?;
        if !self.has(Flaw::NoDedupe) {
            let search = json!({
                "filterGroups": [{"filters": [{
                    "propertyName": "helpdesk_comment_id", "operator": "EQ", "value": comment.id
                }]}],
                "limit": 1
            });
            let resp = self
                .crm_call(
                    Method::POST,
                    "/crm/v3/objects/notes/search",
                    Some(&search),
                    trace,
                )
                .await?;
            let body = check(resp, Service::Crm, "search notes")?;
            let found = body.get("total").and_then(Value::as_u64).unwrap_or(0) > 0
                || body
                    .get("results")
                    .and_then(Value::as_array)
                    .is_some_and(|r| !r.is_empty());
            if found {
                return Ok(Outcome::Ignored(format!(
                    "note for comment {} already exists",
                    comment.id
                )));
            }
        }
        let timestamp = event
            .time
            .clone()
            .unwrap_or_else(|| chrono::Utc::now().to_rfc3339());
        let note = json!({
            "properties": {
                "hs_note_body": comment.body,
                "hs_timestamp": timestamp,
                "helpdesk_comment_id": comment.id,
            },
            "associations": [{
                "to": {"id": crm_ticket},
                "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": NOTE_TO_TICKET}]
            }]
        });
        let resp = self
            .crm_call(Method::POST, "/crm/v3/objects/notes", Some(&note), trace)
            .await?;
        let body = check(resp, Service::Crm, "create note")?;
        Ok(Outcome::Applied(format!(
            "comment {} -> crm note {} on crm ticket {crm_ticket}",
            comment.id,
            body.get("id").and_then(id_of).unwrap_or_else(|| "?".into())
        )))
    }

    /// Whether this snapshot is newer than the last applied one for its ticket.
    async fn is_newer(&self, ticket: &TicketSnapshot) -> Result<bool, ApplyError> {
        if self.has(Flaw::ArrivalOrderWins) {
            return Ok(true);
        }
        let Some(at) = ticket.updated_at else {
            return Ok(true);
        };
        let stored = self
            .inbox
            .ticket_version(&ticket.id)
            .await
            .map_err(db_error)?;
        Ok(stored.is_none_or(|s| at.timestamp_micros() > s))
    }

    async fn ensure_contact(
        &self,
        requester_id: &str,
        trace: Option<&str>,
    ) -> Result<Option<String>, ApplyError> {
        let url = format!("{}/api/v2/users/{requester_id}.json", self.helpdesk_url);
        let mut req = self
            .helpdesk
            .get(&url)
            .bearer_auth(&self.helpdesk_token)
            .header("accept", "application/json");
        if let Some(t) = trace {
            req = req.header("traceparent", t);
        }
        let resp = send(req, Service::Helpdesk, "get requester").await?;
        if resp.status == StatusCode::NOT_FOUND {
            // The requester is gone: the ticket is still synced, without a contact.
            return Ok(None);
        }
        let body = check(resp, Service::Helpdesk, "get requester")?;
        let user = body.get("user").unwrap_or(&body);
        let Some(email) = user
            .get("email")
            .and_then(Value::as_str)
            .filter(|e| !e.is_empty())
        else {
            return Ok(None);
        };
        let name = user.get("name").and_then(Value::as_str).unwrap_or_default();
        let (first, last) = split_name(name);
        let mut props = json!({"email": email, "firstname": first, "lastname": last});
        if self.has(Flaw::ClobberFields) {
            props["lifecyclestage"] = json!("lead");
            props["hubspot_owner_id"] = json!("0");
        }
        let body = json!({"inputs": [{"idProperty": "email", "id": email, "properties": props}]});
        let resp = self
            .crm_call(
                Method::POST,
                "/crm/v3/objects/contacts/batch/upsert",
                Some(&body),
                trace,
            )
            .await?;
        self.batch_result(resp, "upsert contact")
    }

    async fn upsert_ticket(
        &self,
        ticket: &TicketSnapshot,
        trace: Option<&str>,
    ) -> Result<Option<String>, ApplyError> {
        let body = json!({"inputs": [{
            "idProperty": "helpdesk_ticket_id",
            "id": ticket.id,
            "properties": ticket_properties(ticket),
        }]});
        let resp = self
            .crm_call(
                Method::POST,
                "/crm/v3/objects/tickets/batch/upsert",
                Some(&body),
                trace,
            )
            .await?;
        let id = self.batch_result(resp, "upsert ticket")?;
        if let Some(at) = ticket.updated_at {
            self.inbox
                .set_ticket_version(&ticket.id, at.timestamp_micros())
                .await
                .map_err(db_error)?;
        }
        Ok(id)
    }

    async fn find_ticket(
        &self,
        ticket_id: &str,
        trace: Option<&str>,
    ) -> Result<String, ApplyError> {
        let path = format!("/crm/v3/objects/tickets/{ticket_id}?idProperty=helpdesk_ticket_id");
        let resp = self.crm_call(Method::GET, &path, None, trace).await?;
        if resp.status == StatusCode::NOT_FOUND && !self.has(Flaw::SwallowErrors) {
            return Err(ApplyError::new(
                FailureKind::NotYet,
                format!("crm ticket for helpdesk ticket {ticket_id} not there yet (404)"),
            ));
        }
        let body = check(resp, Service::Crm, "get ticket")?;
        body.get("id").and_then(id_of).ok_or_else(|| {
            ApplyError::new(
                FailureKind::BadResponse(Service::Crm),
                "get ticket: response without id",
            )
        })
    }

    /// Read `results[0].id` from a batch answer; a 207 with errors is a failure.
    fn batch_result(&self, resp: Response, what: &str) -> Result<Option<String>, ApplyError> {
        let status = resp.status;
        let body = check(resp, Service::Crm, what)?;
        let errors = body
            .get("errors")
            .and_then(Value::as_array)
            .filter(|e| !e.is_empty());
        if let Some(errors) = errors
            && !self.has(Flaw::IgnorePartialBatch)
        {
            let msg = errors[0]
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("item failed");
            return Err(ApplyError::new(
                FailureKind::PartialBatch,
                format!("{what}: {} partial failure: {msg}", status.as_u16()),
            ));
        }
        let id = body
            .get("results")
            .and_then(|r| r.get(0))
            .and_then(|r| r.get("id"))
            .and_then(id_of);
        if id.is_none() && !self.has(Flaw::IgnorePartialBatch) {
            return Err(ApplyError::new(
                FailureKind::BadResponse(Service::Crm),
                format!("{what}: response without results[0].id"),
            ));
        }
        Ok(id)
    }

    async fn crm_call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        trace: Option<&str>,
    ) -> Result<Response, ApplyError> {
        let mut req = self
            .crm
            .request(method, format!("{}{path}", self.crm_url))
            .bearer_auth(&self.crm_token)
            .header("accept", "application/json");
        if let Some(b) = body {
            req = req.json(b);
        }
        if let Some(t) = trace {
            req = req.header("traceparent", t);
        }
        if !self.has(Flaw::NoBackoff) {
            let until = *self
                .crm_pause_until
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if let Some(until) = until {
                tokio::time::sleep_until(until).await;
            }
        }
        let resp = send(req, Service::Crm, path).await?;
        if let Some(after) = resp.retry_after
            && (resp.status.as_u16() == 429 || resp.status.as_u16() == 503)
        {
            let until = tokio::time::Instant::now() + after;
            let mut pause = self
                .crm_pause_until
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            *pause = Some(pause.map_or(until, |p| p.max(until)));
        }
        Ok(resp)
    }
}

fn db_error(e: rusqlite::Error) -> ApplyError {
    ApplyError::new(FailureKind::Transport(Service::Crm), format!("inbox: {e}"))
}

fn service_name(s: Service) -> &'static str {
    match s {
        Service::Crm => "crm",
        Service::Helpdesk => "helpdesk",
    }
}

async fn send(
    req: reqwest::RequestBuilder,
    service: Service,
    what: &str,
) -> Result<Response, ApplyError> {
    let transport = |e: reqwest::Error| {
        let kind = if e.is_timeout() {
            FailureKind::Timeout(service)
        } else {
            FailureKind::Transport(service)
        };
        let msg = format!(
            "{} {what}: {}",
            service_name(service),
            if e.is_timeout() {
                "timed out"
            } else {
                "connection failed"
            }
        );
        ApplyError::new(kind, msg)
    };
    let resp = req.send().await.map_err(transport)?;
    let status = resp.status();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, chrono::Utc::now()));
    let bytes = resp.bytes().await.map_err(transport)?;
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Ok(Response {
        status,
        body,
        retry_after,
    })
}

fn check(resp: Response, service: Service, what: &str) -> Result<Value, ApplyError> {
    if resp.status.is_success() {
        return Ok(resp.body);
    }
    let detail = resp
        .body
        .get("message")
        .and_then(Value::as_str)
        .map(|m| format!(": {m}"))
        .unwrap_or_default();
    Err(ApplyError {
        kind: FailureKind::Status(service, resp.status.as_u16()),
        message: format!(
            "{} {what}: {}{detail}",
            service_name(service),
            resp.status.as_u16()
        ),
        retry_after: resp.retry_after,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_mapping() {
        assert_eq!(pipeline_stage("NEW"), Some("1"));
        assert_eq!(pipeline_stage("PENDING"), Some("2"));
        assert_eq!(pipeline_stage("OPEN"), Some("3"));
        assert_eq!(pipeline_stage("HOLD"), Some("3"));
        assert_eq!(pipeline_stage("SOLVED"), Some("4"));
        assert_eq!(pipeline_stage("CLOSED"), Some("4"));
        for s in ["DELETED", "ARCHIVED", "SCRUBBED", "ESCALATED", "open"] {
            assert_eq!(pipeline_stage(s), Some("3"), "{s}");
        }
    }

    #[test]
    fn priority_mapping() {
        assert_eq!(ticket_priority("LOW"), Some("LOW"));
        assert_eq!(ticket_priority("NORMAL"), Some("MEDIUM"));
        assert_eq!(ticket_priority("HIGH"), Some("HIGH"));
        assert_eq!(ticket_priority("URGENT"), Some("URGENT"));
        assert_eq!(ticket_priority("CRITICAL"), None);
    }

    #[test]
    fn properties_map_unknown_status_to_open_and_omit_null_priority() {
        let t = TicketSnapshot {
            id: "7".into(),
            subject: Some("s".into()),
            description: Some("d".into()),
            status: Some("DELETED".into()),
            priority: None,
            ..Default::default()
        };
        let p = ticket_properties(&t);
        assert_eq!(p["helpdesk_status"], "DELETED");
        assert_eq!(p["content"], "d");
        assert_eq!(p["hs_pipeline"], "0");
        assert_eq!(p["hs_pipeline_stage"], "3");
        assert!(!p.contains_key("hs_ticket_priority"));
    }

    #[test]
    fn splits_names() {
        assert_eq!(
            split_name("Ada Lovelace"),
            ("Ada".into(), "Lovelace".into())
        );
        assert_eq!(
            split_name("Jean Luc Picard"),
            ("Jean".into(), "Luc Picard".into())
        );
        assert_eq!(split_name("Cher"), ("Cher".into(), String::new()));
    }

    #[test]
    fn classifies_errors() {
        let e = |s| ApplyError::new(FailureKind::Status(Service::Crm, s), "x");
        assert!(e(400).is_permanent());
        assert!(e(401).is_permanent());
        assert!(!e(408).is_permanent());
        assert!(!e(429).is_permanent());
        assert!(!e(503).is_permanent());
        assert!(e(503).is_crm_error_response());
        assert!(!ApplyError::new(FailureKind::NotYet, "x").is_permanent());
    }
}
