//! The mock CRM over real HTTP on 127.0.0.1: HubSpot semantics, auth,
//! contracts, recording, and every fault kind inside and outside its window.

use hookproof::contract::Contracts;
use hookproof::crm::{CrmConfig, CrmFault, CrmFaultKind, MockCrm, SeedObject, Window};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TOKEN: &str = "pat-na1-test";

async fn crm(faults: Vec<CrmFault>) -> MockCrm {
    let mut config = CrmConfig::new(TOKEN, Arc::new(Contracts::builtin().unwrap()));
    config.faults = faults;
    MockCrm::start(config).await.unwrap()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

async fn call(
    crm: &MockCrm,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = client()
        .request(method, format!("{}{path}", crm.url()))
        .bearer_auth(TOKEN);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let body = resp.json().await.unwrap_or(Value::Null);
    (status, body)
}

fn window(from_ms: u64, for_ms: u64) -> Option<Window> {
    Some(Window {
        from: Duration::from_millis(from_ms),
        r#for: Duration::from_millis(for_ms),
    })
}

#[tokio::test]
async fn objects_search_batch_and_associations() {
    let crm = crm(Vec::new()).await;
    let post = reqwest::Method::POST;
    let (s, contact) = call(
        &crm,
        post.clone(),
        "/crm/v3/objects/contacts",
        Some(json!({"properties": {"email": "a@x.example", "firstname": "Ada"}})),
    )
    .await;
    assert_eq!(s, 201, "{contact}");
    let id = contact["id"].as_str().unwrap().to_string();
    assert_eq!(contact["properties"]["hs_object_id"], id);
    let (s, body) = call(
        &crm,
        post.clone(),
        "/crm/v3/objects/contacts",
        Some(json!({"properties": {"email": "A@x.example"}})),
    )
    .await;
    assert_eq!(s, 409, "{body}");
    assert_eq!(body["category"], "CONFLICT");
    let (s, got) = call(
        &crm,
        reqwest::Method::GET,
        "/crm/v3/objects/contacts/a%40x.example?idProperty=email",
        None,
    )
    .await;
    assert_eq!((s, got["id"].as_str()), (200, Some(id.as_str())));
    let (s, body) = call(
        &crm,
        post.clone(),
        "/crm/v3/objects/contacts",
        Some(json!({"properties": {"favourite_color": "red"}})),
    )
    .await;
    assert_eq!(s, 400);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("PROPERTY_DOESNT_EXIST"),
        "{body}"
    );
    let upsert = json!({"inputs": [{"idProperty": "helpdesk_ticket_id", "id": "70001", "properties": {"subject": "s", "hs_pipeline_stage": "1"}}]});
    let (s, body) = call(
        &crm,
        post.clone(),
        "/crm/v3/objects/tickets/batch/upsert",
        Some(upsert.clone()),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["results"][0]["new"], true);
    let (_, again) = call(
        &crm,
        post.clone(),
        "/crm/v3/objects/tickets/batch/upsert",
        Some(upsert),
    )
    .await;
    assert_eq!(again["results"][0]["new"], false);
    let ticket = body["results"][0]["id"].as_str().unwrap().to_string();
    let (s, _) = call(
        &crm,
        reqwest::Method::PUT,
        &format!("/crm/v4/objects/tickets/{ticket}/associations/default/contacts/{id}"),
        None,
    )
    .await;
    assert_eq!(s, 200);
    let (s, search) = call(&crm, post, "/crm/v3/objects/tickets/search", Some(json!({"filterGroups": [{"filters": [{"propertyName": "helpdesk_ticket_id", "operator": "EQ", "value": "70001"}]}], "limit": 1}))).await;
    assert_eq!((s, search["total"].as_u64()), (200, Some(1)), "{search}");
    let snapshot = crm.snapshot();
    assert_eq!(snapshot.objects["tickets"].len(), 1);
    assert_eq!(snapshot.associations.len(), 1);
    assert_eq!(snapshot.associations[0].type_id, 16);
}

#[tokio::test]
async fn auth_and_contract_violations_are_recorded() {
    let crm = crm(Vec::new()).await;
    let resp = client()
        .post(format!("{}/crm/v3/objects/contacts", crm.url()))
        .json(&json!({"properties": {"email": "x@y.example"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let (s, body) = call(
        &crm,
        reqwest::Method::POST,
        "/crm/v3/objects/contacts",
        Some(json!({"properties": ["not", "a", "map"]})),
    )
    .await;
    assert_eq!(s, 400, "{body}");
    let requests = crm.requests();
    assert!(!requests[0].authorized);
    assert_eq!(requests[1].status, 400);
    assert!(!requests[1].violations.is_empty(), "{:?}", requests[1]);
    assert_eq!(requests[1].violations[0].pointer, "/properties");
}

#[tokio::test]
async fn status_and_rate_limit_faults_fire_only_in_their_window() {
    let crm = crm(vec![
        CrmFault {
            kind: CrmFaultKind::Status {
                status: 503,
                retry_after: None,
            },
            window: window(0, 300),
            fraction: None,
            route: None,
        },
        CrmFault {
            kind: CrmFaultKind::RateLimit {
                retry_after: Duration::from_secs(2),
            },
            window: window(300, 300),
            fraction: None,
            route: Some("search".into()),
        },
    ])
    .await;
    crm.arm();
    let list = "/crm/v3/objects/contacts";
    assert_eq!(call(&crm, reqwest::Method::GET, list, None).await.0, 503);
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(call(&crm, reqwest::Method::GET, list, None).await.0, 200);
    let resp = client()
        .post(format!("{}/crm/v3/objects/contacts/search", crm.url()))
        .bearer_auth(TOKEN)
        .json(&json!({"filterGroups": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 429);
    assert_eq!(resp.headers()["retry-after"], "2");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["errorType"], "RATE_LIMIT");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        call(
            &crm,
            reqwest::Method::POST,
            "/crm/v3/objects/contacts/search",
            Some(json!({}))
        )
        .await
        .0,
        200
    );
    let faults: Vec<Option<String>> = crm.requests().into_iter().map(|r| r.fault).collect();
    assert_eq!(faults[0].as_deref(), Some("status 503"));
    assert_eq!(faults[1], None);
}

#[tokio::test]
async fn reset_is_a_connection_error_not_a_status() {
    let crm = crm(vec![CrmFault::always(CrmFaultKind::Reset)]).await;
    let err = client()
        .get(format!("{}/crm/v3/objects/contacts", crm.url()))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap_err();
    assert!(!err.is_status(), "{err}");
    assert_eq!(crm.requests()[0].status, 0);
}

#[tokio::test]
async fn hang_blocks_until_shutdown_releases_it() {
    let crm = crm(vec![CrmFault::always(CrmFaultKind::Hang)]).await;
    let url = format!("{}/crm/v3/objects/contacts", crm.url());
    let pending = tokio::spawn(async move { client().get(url).bearer_auth(TOKEN).send().await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(crm.in_flight(), 1);
    let started = Instant::now();
    crm.shutdown().await;
    let result = pending.await.unwrap();
    assert!(result.is_err(), "a released hang is a connection error");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn error_after_commit_applies_the_write() {
    let crm = crm(vec![CrmFault::always(CrmFaultKind::ErrorAfterCommit {
        status: 502,
    })])
    .await;
    let (s, _) = call(
        &crm,
        reqwest::Method::POST,
        "/crm/v3/objects/contacts",
        Some(json!({"properties": {"email": "c@x.example"}})),
    )
    .await;
    assert_eq!(s, 502);
    assert_eq!(crm.snapshot().objects["contacts"].len(), 1);
}

#[tokio::test]
async fn partial_batch_fails_some_items_with_207() {
    let crm = crm(vec![CrmFault::always(CrmFaultKind::PartialBatch {
        fraction_of_items: 0.5,
    })])
    .await;
    let inputs: Vec<Value> = (0..20)
        .map(|i| json!({"idProperty": "email", "id": format!("u{i}@x.example"), "properties": {"firstname": "U"}}))
        .collect();
    let (s, body) = call(
        &crm,
        reqwest::Method::POST,
        "/crm/v3/objects/contacts/batch/upsert",
        Some(json!({"inputs": inputs})),
    )
    .await;
    assert_eq!(s, 207, "{body}");
    let errors = body["numErrors"].as_u64().unwrap();
    assert!((1..20).contains(&errors), "{body}");
    assert_eq!(
        body["results"].as_array().unwrap().len() as u64,
        20 - errors
    );
    assert_eq!(crm.snapshot().objects["contacts"].len() as u64, 20 - errors);
}

#[tokio::test]
async fn latency_and_renamed_property() {
    let crm = crm(vec![
        CrmFault::always(CrmFaultKind::Latency {
            delay: Duration::from_millis(150),
        }),
        CrmFault::always(CrmFaultKind::RenameProperty {
            object_type: "tickets".into(),
            from: "hs_ticket_priority".into(),
            to: "hs_priority".into(),
        }),
    ])
    .await;
    let started = Instant::now();
    let (s, body) = call(&crm, reqwest::Method::POST, "/crm/v3/objects/tickets", Some(json!({"properties": {"subject": "s", "hs_pipeline_stage": "1", "hs_ticket_priority": "HIGH"}}))).await;
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert_eq!(s, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("hs_ticket_priority")
    );
    let (s, _) = call(&crm, reqwest::Method::POST, "/crm/v3/objects/tickets", Some(json!({"properties": {"subject": "s", "hs_pipeline_stage": "1", "hs_priority": "HIGH"}}))).await;
    assert_eq!(s, 201);
}

#[tokio::test]
async fn seeded_objects_exist_before_the_run() {
    let mut config = CrmConfig::new(TOKEN, Arc::new(Contracts::builtin().unwrap()));
    config.seeded = vec![SeedObject {
        object_type: "contacts".into(),
        properties: [("email", "old@x.example"), ("lifecyclestage", "customer")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }];
    let crm = MockCrm::start(config).await.unwrap();
    let (s, body) = call(
        &crm,
        reqwest::Method::POST,
        "/crm/v3/objects/contacts",
        Some(json!({"properties": {"email": "old@x.example"}})),
    )
    .await;
    assert_eq!(s, 409, "{body}");
}
