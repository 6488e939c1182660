//! The wiremock-rs baseline for the HTTP benchmarks: a `MockServer` with
//! request recording on and one mock, `POST /crm/v3/objects/contacts`
//! answering `201` with a HubSpot-like contact. Prints
//! `URL=http://127.0.0.1:PORT`, serves until killed (SIGTERM or Ctrl-C),
//! then prints how many requests it recorded to stderr.
//!
//! Run: `cargo run --release --example wiremock_server`

use std::io::Write;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::main]
async fn main() {
    // Request recording is on by default (`MockServer::builder()` only has
    // `disable_request_recording`).
    let server = MockServer::builder().start().await;
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/contacts"))
        .and(header("authorization", "Bearer T"))
        .respond_with(ResponseTemplate::new(201).set_body_json(serde_json::json!({
            "id": "1",
            "properties": {"email": "ada@example.com", "firstname": "Ada"},
            "createdAt": "2026-01-01T00:00:00Z",
            "updatedAt": "2026-01-01T00:00:00Z",
            "archived": false
        })))
        .mount(&server)
        .await;
    println!("URL={}", server.uri());
    let _ = std::io::stdout().flush();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    let recorded = server.received_requests().await.map_or(0, |r| r.len());
    eprintln!("wiremock recorded {recorded} requests");
}
