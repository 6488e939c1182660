//! End-to-end tests of the reference receiver: `serve_with` runs in-process
//! against wiremock servers standing in for the CRM and the helpdesk.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use hookproof::reference::{Flaw, ReferenceConfig, serve_with};
use hookproof::signing::{self, Message, Scheme};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const SECRET: &str = "test-webhook-secret";
const CRM_TOKEN: &str = "crm-token";
const HD_TOKEN: &str = "helpdesk-token";
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const WEBHOOK: &str = "/webhooks/helpdesk";

struct Sut {
    addr: SocketAddr,
    handle: JoinHandle<()>,
}

impl Drop for Sut {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

async fn start(state: &Path, crm: &MockServer, hd: &MockServer, flaw: Option<Flaw>) -> Sut {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = ReferenceConfig {
        listen: addr,
        secret: SECRET.into(),
        scheme: Scheme::Zendesk,
        crm_url: crm.uri(),
        crm_token: CRM_TOKEN.into(),
        helpdesk_url: hd.uri(),
        helpdesk_token: HD_TOKEN.into(),
        state_dir: state.to_path_buf(),
        webhook_path: WEBHOOK.into(),
        flaw,
    };
    let handle = tokio::spawn(async move {
        serve_with(config, listener, std::future::pending())
            .await
            .unwrap();
    });
    let client = client();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Ok(r) = client.get(format!("http://{addr}/healthz")).send().await
            && r.status() == 200
        {
            break;
        }
        assert!(Instant::now() < deadline, "receiver never became ready");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Sut { addr, handle }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

fn event(id: &str, kind: &str, status: &str, updated_at: &str, change: Value) -> Value {
    json!({
        "account_id": 22129848,
        "id": id,
        "type": format!("zen:event-type:{kind}"),
        "subject": "zen:ticket:5158",
        "time": "2025-01-08T10:12:07.672Z",
        "zendesk_event_version": "2022-11-06",
        "detail": {
            "id": "5158", "subject": "Printer on fire", "description": "It is burning",
            "status": status, "priority": "NORMAL", "type": null, "tags": ["fire"],
            "requester_id": "8447388090494", "submitter_id": "8447388090494",
            "assignee_id": null, "organization_id": null, "group_id": "1",
            "brand_id": "2", "form_id": "3", "is_public": true, "external_id": null,
            "custom_status": "4", "actor_id": "8447388090494",
            "created_at": "2025-01-08T10:12:07Z", "updated_at": updated_at,
            "via": {"channel": "web_service"}
        },
        "event": change
    })
}

fn created(id: &str) -> Value {
    event(
        id,
        "ticket.created",
        "NEW",
        "2025-01-08T10:12:07Z",
        json!({}),
    )
}

fn status_changed(id: &str) -> Value {
    event(
        id,
        "ticket.status_changed",
        "SOLVED",
        "2025-01-08T10:20:00Z",
        json!({"previous": "OPEN", "current": "SOLVED"}),
    )
}

async fn post_signed(
    addr: SocketAddr,
    body: &[u8],
    secret: &str,
    at: chrono::DateTime<Utc>,
) -> reqwest::Response {
    let url = format!("http://{addr}{WEBHOOK}");
    let headers = signing::sign(
        Scheme::Zendesk,
        secret,
        &Message {
            id: "d",
            timestamp: at,
            method: "POST",
            url: &url,
            body,
        },
    )
    .unwrap();
    let mut req = client()
        .post(&url)
        .header("content-type", "application/json")
        .header("traceparent", TRACEPARENT)
        .body(body.to_vec());
    for (k, v) in headers {
        req = req.header(k, v);
    }
    req.send().await.unwrap()
}

async fn deliver(addr: SocketAddr, ev: &Value) -> reqwest::Response {
    post_signed(addr, &serde_json::to_vec(ev).unwrap(), SECRET, Utc::now()).await
}

async fn mount_helpdesk(hd: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/api/v2/users/8447388090494.json"))
        .and(header("authorization", format!("Bearer {HD_TOKEN}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"user": {
            "id": 8447388090494u64, "name": "Ada Lovelace", "email": "ada@example.com",
            "role": "end-user"
        }})))
        .mount(hd)
        .await;
}

async fn mount_crm(crm: &MockServer) {
    let auth = || header("authorization", format!("Bearer {CRM_TOKEN}"));
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/contacts/batch/upsert"))
        .and(auth())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "status": "COMPLETE", "results": [{"id": "501", "properties": {}}]
        })))
        .mount(crm)
        .await;
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/tickets/batch/upsert"))
        .and(auth())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "status": "COMPLETE", "results": [{"id": "901", "properties": {}}]
        })))
        .mount(crm)
        .await;
    Mock::given(method("PUT"))
        .and(path(
            "/crm/v4/objects/tickets/901/associations/default/contacts/501",
        ))
        .and(auth())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"status": "COMPLETE"})))
        .mount(crm)
        .await;
    Mock::given(method("GET"))
        .and(path("/crm/v3/objects/tickets/5158"))
        .and(query_param("idProperty", "helpdesk_ticket_id"))
        .and(auth())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "901"})))
        .mount(crm)
        .await;
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/notes/search"))
        .and(auth())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"total": 0, "results": []})))
        .mount(crm)
        .await;
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/notes"))
        .and(auth())
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": "77"})))
        .mount(crm)
        .await;
}

async fn setup() -> (tempfile::TempDir, MockServer, MockServer) {
    let crm = MockServer::builder()
        .listener(std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .start()
        .await;
    let hd = MockServer::builder()
        .listener(std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .start()
        .await;
    (tempfile::tempdir().unwrap(), crm, hd)
}

fn matching(reqs: &[Request], m: &str, p: &str) -> Vec<Request> {
    reqs.iter()
        .filter(|r| r.method.as_str() == m && r.url.path() == p)
        .cloned()
        .collect()
}

/// Wait until `n` requests `m p` reached `server`.
async fn wait_for(server: &MockServer, m: &str, p: &str, n: usize) -> Vec<Request> {
    let deadline = Instant::now() + Duration::from_secs(8);
    loop {
        let reqs = server.received_requests().await.unwrap_or_default();
        let hits = matching(&reqs, m, p);
        if hits.len() >= n {
            return hits;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {n}× {m} {p}; got {:?}",
            reqs.iter()
                .map(|r| format!("{} {}", r.method, r.url))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn body(r: &Request) -> Value {
    serde_json::from_slice(&r.body).unwrap()
}

const TICKETS_UPSERT: &str = "/crm/v3/objects/tickets/batch/upsert";
const ASSOC: &str = "/crm/v4/objects/tickets/901/associations/default/contacts/501";

#[tokio::test]
async fn valid_events_become_the_expected_crm_calls() {
    let (state, crm, hd) = setup().await;
    mount_helpdesk(&hd).await;
    mount_crm(&crm).await;
    let sut = start(state.path(), &crm, &hd, None).await;

    let resp = deliver(sut.addr, &created("e-created")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({"status": "accepted"})
    );
    wait_for(&crm, "PUT", ASSOC, 1).await;

    let reqs = crm.received_requests().await.unwrap();
    let contact = matching(&reqs, "POST", "/crm/v3/objects/contacts/batch/upsert");
    assert_eq!(
        body(&contact[0]),
        json!({"inputs": [{"idProperty": "email", "id": "ada@example.com", "properties": {
            "email": "ada@example.com", "firstname": "Ada", "lastname": "Lovelace"}}]})
    );
    let ticket = matching(&reqs, "POST", TICKETS_UPSERT);
    assert_eq!(
        body(&ticket[0]),
        json!({"inputs": [{"idProperty": "helpdesk_ticket_id", "id": "5158", "properties": {
            "helpdesk_ticket_id": "5158", "subject": "Printer on fire",
            "content": "It is burning", "hs_pipeline": "0", "hs_pipeline_stage": "1",
            "hs_ticket_priority": "MEDIUM", "helpdesk_status": "NEW"}}]})
    );
    // Order: contact, then ticket, then association.
    let order: Vec<_> = reqs.iter().map(|r| r.url.path().to_owned()).collect();
    assert_eq!(
        order,
        [
            "/crm/v3/objects/contacts/batch/upsert",
            TICKETS_UPSERT,
            ASSOC
        ]
    );

    let comment = event(
        "e-comment",
        "ticket.comment_added",
        "OPEN",
        "2025-01-08T10:15:00Z",
        json!({"comment": {"id": "9001", "body": "Still burning", "is_public": true,
            "author": {"id": "1", "name": "Ada", "is_staff": false}}}),
    );
    assert_eq!(deliver(sut.addr, &comment).await.status(), 200);
    let notes = wait_for(&crm, "POST", "/crm/v3/objects/notes", 1).await;
    assert_eq!(
        body(&notes[0]),
        json!({
            "properties": {"hs_note_body": "Still burning", "hs_timestamp": "2025-01-08T10:12:07.672Z",
                "helpdesk_comment_id": "9001"},
            "associations": [{"to": {"id": "901"}, "types": [
                {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 228}]}]
        })
    );
    let search = matching(
        &crm.received_requests().await.unwrap(),
        "POST",
        "/crm/v3/objects/notes/search",
    );
    assert_eq!(
        body(&search[0]),
        json!({"filterGroups": [{"filters": [{"propertyName": "helpdesk_comment_id",
            "operator": "EQ", "value": "9001"}]}], "limit": 1})
    );

    // Unknown event types and drifted payloads are acked; noise has no effect.
    let mut noise = created("e-noise");
    noise["type"] = json!("zen:event-type:ticket.sla_breached");
    noise["new_field"] = json!({"x": 1});
    assert_eq!(deliver(sut.addr, &noise).await.status(), 200);

    // Every CRM call carries the trace context and the bearer token.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let reqs = crm.received_requests().await.unwrap();
    assert_eq!(reqs.len(), 6, "noise must not reach the CRM");
    for r in &reqs {
        assert_eq!(
            r.headers.get("traceparent").unwrap(),
            TRACEPARENT,
            "{}",
            r.url
        );
    }
}

#[tokio::test]
async fn duplicate_deliveries_are_processed_once() {
    let (state, crm, hd) = setup().await;
    mount_helpdesk(&hd).await;
    mount_crm(&crm).await;
    let sut = start(state.path(), &crm, &hd, None).await;

    let ev = status_changed("e-dup");
    let (a, b, c) = tokio::join!(
        deliver(sut.addr, &ev),
        deliver(sut.addr, &ev),
        deliver(sut.addr, &ev)
    );
    assert!(
        [a.status(), b.status(), c.status()]
            .iter()
            .all(|s| *s == 200)
    );
    wait_for(&crm, "POST", TICKETS_UPSERT, 1).await;
    assert_eq!(deliver(sut.addr, &ev).await.status(), 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let reqs = crm.received_requests().await.unwrap();
    assert_eq!(matching(&reqs, "POST", TICKETS_UPSERT).len(), 1);
}

#[tokio::test]
async fn forged_stale_and_unsigned_deliveries_are_rejected() {
    let (state, crm, hd) = setup().await;
    mount_helpdesk(&hd).await;
    mount_crm(&crm).await;
    let sut = start(state.path(), &crm, &hd, None).await;
    let body = serde_json::to_vec(&status_changed("e-forged")).unwrap();

    let wrong = post_signed(sut.addr, &body, "not-the-secret", Utc::now()).await;
    assert_eq!(wrong.status(), 401);
    let stale = post_signed(
        sut.addr,
        &body,
        SECRET,
        Utc::now() - chrono::Duration::minutes(10),
    )
    .await;
    assert_eq!(stale.status(), 401);
    let unsigned = client()
        .post(format!("http://{}{WEBHOOK}", sut.addr))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
    // Tampered: valid signature headers for another body.
    let url = format!("http://{}{WEBHOOK}", sut.addr);
    let headers = signing::sign(
        Scheme::Zendesk,
        SECRET,
        &Message {
            id: "d",
            timestamp: Utc::now(),
            method: "POST",
            url: &url,
            body: b"{}",
        },
    )
    .unwrap();
    let mut req = client().post(&url).body(body.clone());
    for (k, v) in headers {
        req = req.header(k, v);
    }
    assert_eq!(req.send().await.unwrap().status(), 401);
    // Malformed JSON with a valid signature is a 400.
    let bad = post_signed(sut.addr, b"{not json", SECRET, Utc::now()).await;
    assert_eq!(bad.status(), 400);

    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(crm.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn crm_outage_is_retried_until_applied() {
    let (state, crm, hd) = setup().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503).set_body_json(json!({
            "status": "error", "message": "unavailable", "correlationId": "c", "category": "X"
        })))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&crm)
        .await;
    mount_crm(&crm).await;
    let sut = start(state.path(), &crm, &hd, None).await;

    assert_eq!(
        deliver(sut.addr, &status_changed("e-outage"))
            .await
            .status(),
        200
    );
    let hits = wait_for(&crm, "POST", TICKETS_UPSERT, 3).await;
    assert_eq!(hits.len(), 3);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let reqs = crm.received_requests().await.unwrap();
    assert_eq!(matching(&reqs, "POST", TICKETS_UPSERT).len(), 3);
}

/// Records when each request arrived, answering 429 + `Retry-After: 1` first.
struct RateLimited(Arc<Mutex<Vec<Instant>>>);

impl Respond for RateLimited {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let mut seen = self.0.lock().unwrap();
        seen.push(Instant::now());
        if seen.len() == 1 {
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "1")
                .set_body_json(json!({"status": "error", "message": "rate limited",
                    "errorType": "RATE_LIMIT", "correlationId": "c", "category": "RATE_LIMITS"}))
        } else {
            ResponseTemplate::new(200).set_body_json(json!({"results": [{"id": "901"}]}))
        }
    }
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let (state, crm, hd) = setup().await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    Mock::given(method("POST"))
        .and(path(TICKETS_UPSERT))
        .respond_with(RateLimited(seen.clone()))
        .mount(&crm)
        .await;
    let sut = start(state.path(), &crm, &hd, None).await;

    assert_eq!(
        deliver(sut.addr, &status_changed("e-429")).await.status(),
        200
    );
    wait_for(&crm, "POST", TICKETS_UPSERT, 2).await;
    let seen = seen.lock().unwrap();
    let gap = seen[1] - seen[0];
    assert!(gap >= Duration::from_secs(1), "retried after {gap:?}");
    assert!(gap < Duration::from_secs(3), "retried after {gap:?}");
}

#[tokio::test]
async fn restart_resumes_pending_events() {
    let (state, crm, hd) = setup().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&crm)
        .await;
    let sut = start(state.path(), &crm, &hd, None).await;
    assert_eq!(
        deliver(sut.addr, &status_changed("e-restart"))
            .await
            .status(),
        200
    );
    wait_for(&crm, "POST", TICKETS_UPSERT, 1).await;
    drop(sut); // "crash": the receiver stops mid-retry.
    tokio::time::sleep(Duration::from_millis(100)).await;

    crm.reset().await;
    mount_crm(&crm).await;
    let _sut = start(state.path(), &crm, &hd, None).await;
    let hits = wait_for(&crm, "POST", TICKETS_UPSERT, 1).await;
    assert_eq!(body(&hits[0])["inputs"][0]["id"], "5158");
}

#[tokio::test]
async fn newer_snapshot_wins_over_late_older_one() {
    let (state, crm, hd) = setup().await;
    mount_crm(&crm).await;
    let sut = start(state.path(), &crm, &hd, None).await;
    assert_eq!(
        deliver(sut.addr, &status_changed("e-new")).await.status(),
        200
    );
    wait_for(&crm, "POST", TICKETS_UPSERT, 1).await;
    let older = event(
        "e-old",
        "ticket.status_changed",
        "OPEN",
        "2025-01-08T10:13:00Z",
        json!({"previous": "NEW", "current": "OPEN"}),
    );
    assert_eq!(deliver(sut.addr, &older).await.status(), 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let reqs = crm.received_requests().await.unwrap();
    assert_eq!(matching(&reqs, "POST", TICKETS_UPSERT).len(), 1);
}

#[tokio::test]
async fn flaws_change_behaviour() {
    // no-signature-check accepts an unsigned delivery.
    let (state, crm, hd) = setup().await;
    mount_helpdesk(&hd).await;
    mount_crm(&crm).await;
    let sut = start(state.path(), &crm, &hd, Some(Flaw::NoSignatureCheck)).await;
    let unsigned = client()
        .post(format!("http://{}{WEBHOOK}", sut.addr))
        .body(serde_json::to_vec(&status_changed("e-unsigned")).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 200);
    wait_for(&crm, "POST", TICKETS_UPSERT, 1).await;
    drop(sut);

    // clobber-fields + drop-association are visible in the CRM calls.
    let (state, crm, hd) = setup().await;
    mount_helpdesk(&hd).await;
    mount_crm(&crm).await;
    let sut = start(state.path(), &crm, &hd, Some(Flaw::ClobberFields)).await;
    deliver(sut.addr, &created("e-clobber")).await;
    let contact = wait_for(&crm, "POST", "/crm/v3/objects/contacts/batch/upsert", 1).await;
    let props = &body(&contact[0])["inputs"][0]["properties"];
    assert_eq!(props["lifecyclestage"], "lead");
    assert_eq!(props["hubspot_owner_id"], "0");
    drop(sut);

    // strict-parser rejects a drifted payload with 400.
    let (state, crm, hd) = setup().await;
    let sut = start(state.path(), &crm, &hd, Some(Flaw::StrictParser)).await;
    let mut drifted = status_changed("e-drift");
    drifted["detail"]["status"] = json!("ESCALATED");
    assert_eq!(deliver(sut.addr, &drifted).await.status(), 400);
    let fine = status_changed("e-fine");
    assert_eq!(deliver(sut.addr, &fine).await.status(), 200);
}

#[tokio::test]
async fn permanent_errors_are_dead_lettered_not_dropped() {
    let (state, crm, hd) = setup().await;
    Mock::given(method("POST"))
        .and(path(TICKETS_UPSERT))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "status": "error", "message": "Property values were not valid",
            "correlationId": "c", "category": "VALIDATION_ERROR"
        })))
        .mount(&crm)
        .await;
    let sut = start(state.path(), &crm, &hd, None).await;
    assert_eq!(
        deliver(sut.addr, &status_changed("e-invalid"))
            .await
            .status(),
        200
    );
    wait_for(&crm, "POST", TICKETS_UPSERT, 3).await;
    let inbox = hookproof::reference::inbox::Inbox::open(state.path()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let dead = inbox.dead_letters().await.unwrap();
        if let Some(d) = dead.first() {
            assert_eq!(d.event_id, "e-invalid");
            assert!(d.last_error.contains("400"), "{}", d.last_error);
            break;
        }
        assert!(Instant::now() < deadline, "never dead-lettered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let reqs = crm.received_requests().await.unwrap();
    assert_eq!(matching(&reqs, "POST", TICKETS_UPSERT).len(), 3);
}

#[tokio::test]
async fn retry_flaws_give_up_or_hammer() {
    // ack-before-commit: a few quick attempts during an outage, then the event is gone.
    let (state, crm, hd) = setup().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&crm)
        .await;
    let sut = start(state.path(), &crm, &hd, Some(Flaw::AckBeforeCommit)).await;
    assert_eq!(
        deliver(sut.addr, &status_changed("e-abc")).await.status(),
        200
    );
    wait_for(&crm, "POST", TICKETS_UPSERT, 3).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(crm.received_requests().await.unwrap().len(), 3);
    drop(sut);

    // no-backoff: ignores Retry-After and retries within milliseconds.
    let (state, crm, hd) = setup().await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    Mock::given(method("POST"))
        .and(path(TICKETS_UPSERT))
        .respond_with(RateLimited(seen.clone()))
        .mount(&crm)
        .await;
    let sut = start(state.path(), &crm, &hd, Some(Flaw::NoBackoff)).await;
    deliver(sut.addr, &status_changed("e-nobackoff")).await;
    wait_for(&crm, "POST", TICKETS_UPSERT, 2).await;
    let gap = {
        let seen = seen.lock().unwrap();
        seen[1] - seen[0]
    };
    assert!(gap < Duration::from_millis(500), "retried after {gap:?}");
    drop(sut);

    // swallow-errors: a CRM error marks the event done; no retry.
    let (state, crm, hd) = setup().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&crm)
        .await;
    let sut = start(state.path(), &crm, &hd, Some(Flaw::SwallowErrors)).await;
    deliver(sut.addr, &status_changed("e-swallow")).await;
    wait_for(&crm, "POST", TICKETS_UPSERT, 1).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(crm.received_requests().await.unwrap().len(), 1);
}
