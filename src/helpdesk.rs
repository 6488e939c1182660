//! The mock helpdesk's REST API, which receivers call to enrich events:
//! `GET /api/v2/users/{id}.json` and `GET /api/v2/tickets/{id}.json`, with
//! Zendesk-style bodies (integer ids, as the real REST API has) and token
//! auth (`Authorization: Bearer TOKEN` or Basic `email/token:TOKEN`).

use crate::workload::Workload;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// A fault of the helpdesk API.
#[derive(Debug, Clone, PartialEq)]
pub enum HelpdeskFault {
    /// Answer `status` (with `Retry-After` when given) inside the window
    /// (relative to [`MockHelpdesk::arm`]).
    Status {
        /// HTTP status.
        status: u16,
        /// `Retry-After`.
        retry_after: Option<Duration>,
        /// Window start (after `start`).
        from: Duration,
        /// Window length.
        duration: Duration,
    },
    /// Answer after `delay`.
    Latency {
        /// Added latency.
        delay: Duration,
    },
}

struct Shared {
    token: String,
    users: HashMap<String, Value>,
    tickets: HashMap<String, Value>,
    faults: Vec<HelpdeskFault>,
    origin: std::sync::Mutex<Instant>,
    requests: AtomicU64,
    last_activity: std::sync::Mutex<Option<Instant>>,
}

/// A running mock helpdesk API.
#[derive(Debug)]
pub struct MockHelpdesk {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("users", &self.users.len())
            .field("tickets", &self.tickets.len())
            .finish()
    }
}

impl MockHelpdesk {
    /// Starts the API on `127.0.0.1:0`, serving `workload`'s users and tickets.
    pub async fn start(
        workload: &Workload,
        token: &str,
        faults: Vec<HelpdeskFault>,
    ) -> std::io::Result<MockHelpdesk> {
        let base = "https://hookproof.zendesk.com/api/v2";
        let users = workload
            .users
            .iter()
            .map(|u| {
                let id: u64 = u.id.parse().unwrap_or_default();
                (
                    u.id.clone(),
                    json!({"user": {
                        "id": id, "url": format!("{base}/users/{id}.json"), "name": u.name,
                        "email": u.email, "role": "end-user", "active": true, "verified": true,
                        "time_zone": "UTC", "locale": "en-US", "created_at": "2024-06-01T08:00:00Z",
                        "updated_at": "2025-01-08T09:00:00Z", "organization_id": null, "tags": [],
                    }}),
                )
            })
            .collect();
        let tickets = workload
            .tickets
            .iter()
            .filter_map(|t| {
                let id = t["id"].as_str()?.to_string();
                let num: u64 = id.parse().ok()?;
                let mut ticket = t.clone();
                ticket["id"] = json!(num);
                ticket["url"] = json!(format!("{base}/tickets/{num}.json"));
                for key in ["status", "priority", "type"] {
                    if let Some(v) = t[key].as_str() {
                        ticket[key] = json!(v.to_lowercase());
                    }
                }
                Some((id, json!({ "ticket": ticket })))
            })
            .collect();
        let shared = Arc::new(Shared {
            token: token.to_string(),
            users,
            tickets,
            faults,
            origin: std::sync::Mutex::new(Instant::now()),
            requests: AtomicU64::new(0),
            last_activity: std::sync::Mutex::new(None),
        });
        let app = Router::new()
            .route("/api/v2/users/{file}", get(user))
            .route("/api/v2/tickets/{file}", get(ticket))
            .fallback(not_found)
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(MockHelpdesk {
            addr,
            shared,
            stop: Some(stop),
        })
    }

    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Sets the time origin of fault windows to now.
    pub fn arm(&self) {
        *self.shared.origin.lock().unwrap() = Instant::now();
    }

    /// When the last request arrived.
    pub fn last_activity(&self) -> Option<Instant> {
        *self.shared.last_activity.lock().unwrap()
    }

    /// Requests served so far.
    pub fn request_count(&self) -> u64 {
        self.shared.requests.load(Ordering::Relaxed)
    }
}

impl Drop for MockHelpdesk {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

type AppState = State<Arc<Shared>>;

async fn user(State(s): AppState, Path(file): Path<String>, headers: HeaderMap) -> Response {
    serve(&s, &headers, &file, |id| s.users.get(id), "user").await
}

async fn ticket(State(s): AppState, Path(file): Path<String>, headers: HeaderMap) -> Response {
    serve(&s, &headers, &file, |id| s.tickets.get(id), "ticket").await
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({"error": "InvalidEndpoint", "description": "Not found"})),
    )
        .into_response()
}

async fn serve<'a>(
    s: &'a Shared,
    headers: &HeaderMap,
    file: &str,
    lookup: impl Fn(&str) -> Option<&'a Value>,
    what: &str,
) -> Response {
    s.requests.fetch_add(1, Ordering::Relaxed);
    *s.last_activity.lock().unwrap() = Some(Instant::now());
    let elapsed = s.origin.lock().unwrap().elapsed();
    for fault in &s.faults {
        match fault {
            HelpdeskFault::Latency { delay } => tokio::time::sleep(*delay).await,
            HelpdeskFault::Status {
                status,
                retry_after,
                from,
                duration,
            } if elapsed >= *from && elapsed < *from + *duration => {
                let status =
                    StatusCode::from_u16(*status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
                let mut response = if status == StatusCode::TOO_MANY_REQUESTS {
                    (status, "Number of allowed API requests per minute exceeded").into_response()
                } else {
                    (status, axum::Json(json!({"error": "ServiceUnavailable"}))).into_response()
                };
                if let Some(after) = retry_after {
                    let secs = after.as_secs_f64().ceil().max(1.0) as u64;
                    response
                        .headers_mut()
                        .insert(header::RETRY_AFTER, secs.into());
                }
                return response;
            }
            HelpdeskFault::Status { .. } => {}
        }
    }
    if !authorized(headers, &s.token) {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "Couldn't authenticate you"})),
        )
            .into_response();
    }
    let id = file.strip_suffix(".json").unwrap_or(file);
    match lookup(id) {
        Some(body) => axum::Json(body.clone()).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": "RecordNotFound", "description": format!("Not found ({what} {id})")})),
        )
            .into_response(),
    }
}

/// Whether `headers` carry the API token (Bearer, or Basic `email/token:TOKEN`).
fn authorized(headers: &HeaderMap, token: &str) -> bool {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    if let Some(bearer) = value.strip_prefix("Bearer ") {
        return bearer.trim() == token;
    }
    if let Some(basic) = value.strip_prefix("Basic ")
        && let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(basic.trim())
        && let Ok(text) = String::from_utf8(decoded)
    {
        return text.split_once("/token:").is_some_and(|(_, t)| t == token);
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn faults_fire_inside_their_window_only() {
        let w = crate::workload::generate(&crate::workload::WorkloadSpec::default(), 1);
        let user = w.users[0].id.clone();
        let hd = MockHelpdesk::start(
            &w,
            "tok",
            // Faults apply in order: the latency, then the 429 window.
            vec![
                HelpdeskFault::Latency {
                    delay: Duration::from_millis(50),
                },
                HelpdeskFault::Status {
                    status: 429,
                    retry_after: Some(Duration::from_secs(1)),
                    from: Duration::ZERO,
                    duration: Duration::from_millis(300),
                },
            ],
        )
        .await
        .unwrap();
        hd.arm();
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let url = format!("{}/api/v2/users/{user}.json", hd.url());
        let started = Instant::now();
        let r = client.get(&url).bearer_auth("tok").send().await.unwrap();
        assert!(started.elapsed() >= Duration::from_millis(50));
        assert_eq!(r.status().as_u16(), 429);
        assert_eq!(r.headers()["retry-after"], "1");
        tokio::time::sleep(Duration::from_millis(300)).await;
        let r = client.get(&url).bearer_auth("tok").send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["user"]["email"], w.users[0].email);
        assert!(body["user"]["id"].is_u64(), "Zendesk REST ids are integers");
        let r = client.get(&url).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 401);
        assert_eq!(hd.request_count(), 3);
    }

    #[test]
    fn token_auth_accepts_bearer_and_zendesk_basic() {
        let mut h = HeaderMap::new();
        assert!(!authorized(&h, "tok"));
        h.insert(header::AUTHORIZATION, "Bearer tok".parse().unwrap());
        assert!(authorized(&h, "tok"));
        let basic = base64::engine::general_purpose::STANDARD.encode("agent@x.example/token:tok");
        h.insert(
            header::AUTHORIZATION,
            format!("Basic {basic}").parse().unwrap(),
        );
        assert!(authorized(&h, "tok"));
        h.insert(header::AUTHORIZATION, "Bearer nope".parse().unwrap());
        assert!(!authorized(&h, "tok"));
    }
}
