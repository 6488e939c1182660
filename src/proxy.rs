//! `hookproof proxy`: stands between the SUT and a real CRM sandbox (or
//! between a real helpdesk sandbox and the SUT), validates what passes
//! against the contracts, optionally injects the CRM faults of a scenario,
//! and records the traffic as JSON Lines without credentials.
//!
//! - **CRM side** (`Side::Crm`): every request body is validated against
//!   `hubspot/{object}.{operation}.json` (the route is parsed the way the
//!   mock CRM parses it) and every response against HubSpot's response
//!   shapes (an object with an `id` and `properties`, a `results` list, or
//!   HubSpot's error body). The faults that act before a request is served
//!   (`crm.status`, `crm.rate-limit`, `crm.latency`, `crm.hang`,
//!   `crm.reset`) and `crm.error-after-commit` are injected with the mock
//!   CRM's own selection ([`crate::crm::firing`]) and answers; the faults
//!   that change what the CRM stores (`crm.partial-batch`,
//!   `crm.rename-property`) cannot be injected into a real CRM and are
//!   refused when the proxy starts.
//! - **Helpdesk side** (`Side::Helpdesk`): every webhook body is validated
//!   as an event; each recorded line is also an events-log record (event
//!   id, type, status, payload), so `hookproof replay --log` re-delivers
//!   recorded events.
//!
//! Credentials pass through untouched but never reach the recording:
//! `Authorization`, cookies, API-key and signature headers and credential
//! query parameters are written as `[redacted]`. Requests and responses are
//! forwarded whatever the validation says (the sandbox decides); violations
//! are recorded and reported.
//!
//! Only loopback addresses are used, for listening and for the upstream (a
//! remote sandbox is reached through a local tunnel).

use crate::contract::{Contracts, Violation};
use crate::crm::server::{FaultAction, Reply, Route, error_reply, fault_action};
use crate::crm::{CrmError, CrmFault, CrmFaultKind};
use crate::history::DeliveryStatus;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Which side of the SUT the proxy stands on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// Between the SUT and the CRM: requests are CRM API calls.
    Crm,
    /// Between the helpdesk and the SUT: requests are webhook deliveries.
    Helpdesk,
}

impl std::str::FromStr for Side {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "crm" => Ok(Side::Crm),
            "helpdesk" => Ok(Side::Helpdesk),
            _ => Err(format!("{s:?} is not `crm` or `helpdesk`")),
        }
    }
}

/// How to run a proxy.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// Base URL requests are forwarded to (loopback only).
    pub upstream: reqwest::Url,
    /// Address to listen on (loopback only; port 0 picks a free one).
    pub listen: SocketAddr,
    /// Which side of the SUT it stands on.
    pub side: Side,
    /// Contracts requests (and events) are validated against.
    pub contracts: Arc<Contracts>,
    /// CRM faults to inject (CRM side only).
    pub faults: Vec<CrmFault>,
    /// Seed of the faults' fractions.
    pub seed: u64,
    /// Where exchanges are recorded (a new file; never overwritten).
    pub record: Option<PathBuf>,
    /// How long the upstream may take to answer.
    pub upstream_timeout: Duration,
}

/// Why a proxy cannot start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// An address is not on this machine.
    #[error(
        "{flag} {value} is not a loopback address; hookproof only listens on and sends to \
         127.0.0.1 or ::1 (reach a remote sandbox through a local tunnel)"
    )]
    NotLoopback {
        /// The flag.
        flag: &'static str,
        /// What was given.
        value: String,
    },
    /// A fault that changes what the CRM stores.
    #[error(
        "fault `{kind}` changes what the CRM stores and cannot be injected into a real CRM; \
         the proxy injects crm.status, crm.rate-limit, crm.latency, crm.hang, crm.reset and \
         crm.error-after-commit (remove it from the scenario)"
    )]
    UnsupportedFault {
        /// The fault kind.
        kind: String,
    },
    /// The recording file exists.
    #[error(
        "{}: the file exists; hookproof never overwrites a recording (pass another --record path)",
        path.display()
    )]
    RecordingExists {
        /// The file.
        path: PathBuf,
    },
    /// Binding or creating a file failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// One recorded exchange: a line of the recording.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exchange {
    /// Always `proxy-exchange`: tells recordings apart from other JSON Lines.
    pub hookproof: String,
    /// 1-based arrival number.
    pub seq: u64,
    /// Which side it was recorded on.
    pub side: Side,
    /// Arrival, in ms since the proxy started.
    pub at_ms: u64,
    /// HTTP method.
    pub method: String,
    /// Path.
    pub path: String,
    /// Query string, credentials redacted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// Request headers, credentials redacted.
    pub request_headers: BTreeMap<String, String>,
    /// The object type and operation of a CRM call (`tickets create`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// The request body (JSON, or a string when it is not JSON). Absent on
    /// the helpdesk side, where `payload` holds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_body: Option<Value>,
    /// HTTP status answered to the client (0: the connection was closed).
    pub http_status: u16,
    /// The response body (JSON, or a string when it is not JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_body: Option<Value>,
    /// Time until the answer, in ms.
    pub latency_ms: f64,
    /// The injected fault, if one fired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
    /// Why the upstream gave no answer, if it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_error: Option<String>,
    /// Contract violations of the request and the response.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<Violation>,
    /// Helpdesk side: the event, as an events-log record.
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub event: Option<EventFields>,
}

/// The events-log fields of a webhook exchange (see
/// [`crate::replay::EventRecord`]): a recording of the helpdesk side is an
/// events log `hookproof replay --log` reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventFields {
    /// Event id.
    pub event_id: String,
    /// Short event type.
    pub event_type: String,
    /// `acked` on a 2xx, `rejected` on another 4xx, else `dead-lettered`
    /// (this attempt failed).
    pub status: DeliveryStatus,
    /// Same as `at_ms`.
    pub first_attempt_ms: u64,
    /// The event payload.
    pub payload: Value,
    /// The `traceparent` header, or empty.
    pub traceparent: String,
}

/// Counters of a running proxy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ProxyStats {
    /// Exchanges handled.
    pub exchanges: u64,
    /// Exchanges with at least one contract violation.
    pub violating: u64,
    /// Exchanges a fault fired on.
    pub injected: u64,
    /// Exchanges the upstream did not answer.
    pub upstream_errors: u64,
}

struct Shared {
    config: ProxyConfig,
    client: reqwest::Client,
    started: Instant,
    seq: AtomicU64,
    stats: Mutex<ProxyStats>,
    recording: Option<Mutex<std::io::BufWriter<std::fs::File>>>,
    stop: watch::Receiver<bool>,
    on_violation: Box<dyn Fn(&Exchange) + Send + Sync>,
}

/// A running proxy.
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    server: tokio::task::JoinHandle<()>,
}

/// Whether `url`'s host is this machine (`localhost`, 127.0.0.0/8, ::1).
pub fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host_str() {
        Some("localhost") => true,
        Some(host) => host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

impl Proxy {
    /// Checks the configuration, opens the recording and starts listening.
    /// `on_violation` is called with every exchange that breaks a contract.
    ///
    /// # Errors
    ///
    /// A non-loopback address, a fault the proxy cannot inject, an existing
    /// recording file, or a port that cannot be bound.
    pub async fn start(
        config: ProxyConfig,
        on_violation: impl Fn(&Exchange) + Send + Sync + 'static,
    ) -> Result<Proxy, ProxyError> {
        if !config.listen.ip().is_loopback() {
            return Err(ProxyError::NotLoopback {
                flag: "--listen",
                value: config.listen.to_string(),
            });
        }
        if !is_loopback(&config.upstream) {
            return Err(ProxyError::NotLoopback {
                flag: "--upstream",
                value: config.upstream.to_string(),
            });
        }
        for f in &config.faults {
            if matches!(
                f.kind,
                CrmFaultKind::PartialBatch { .. } | CrmFaultKind::RenameProperty { .. }
            ) {
                return Err(ProxyError::UnsupportedFault {
                    kind: match f.kind {
                        CrmFaultKind::PartialBatch { .. } => "crm.partial-batch",
                        _ => "crm.rename-property",
                    }
                    .into(),
                });
            }
        }
        let recording = match &config.record {
            None => None,
            Some(path) => {
                let file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(path)
                    .map_err(|source| match source.kind() {
                        std::io::ErrorKind::AlreadyExists => {
                            ProxyError::RecordingExists { path: path.clone() }
                        }
                        _ => ProxyError::Io {
                            what: format!("cannot create {}", path.display()),
                            source,
                        },
                    })?;
                Some(Mutex::new(std::io::BufWriter::new(file)))
            }
        };
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| ProxyError::Io {
                what: format!("cannot listen on {}", config.listen),
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| ProxyError::Io {
            what: "cannot read the bound address".into(),
            source,
        })?;
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(config.upstream_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ProxyError::Io {
                what: "cannot build the HTTP client".into(),
                source: std::io::Error::other(e),
            })?;
        let (stop_tx, stop_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            config,
            client,
            started: Instant::now(),
            seq: AtomicU64::new(0),
            stats: Mutex::new(ProxyStats::default()),
            recording,
            stop: stop_rx.clone(),
            on_violation: Box::new(on_violation),
        });
        let server = tokio::spawn(serve(listener, shared.clone(), stop_rx));
        Ok(Proxy {
            addr,
            shared,
            stop: stop_tx,
            server,
        })
    }

    /// The proxy's base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The counters so far.
    pub fn stats(&self) -> ProxyStats {
        *self.shared.stats.lock().unwrap()
    }

    /// Stops listening (hung requests are released) and flushes the
    /// recording; returns the final counters.
    pub async fn shutdown(self) -> ProxyStats {
        let _ = self.stop.send(true);
        let shared = self.shared.clone();
        let _ = self.server.await;
        if let Some(r) = &shared.recording {
            let _ = r.lock().unwrap().flush();
        }
        *shared.stats.lock().unwrap()
    }
}

async fn serve(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(_) => continue,
            },
            _ = stop.wait_for(|s| *s) => return,
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(shared.clone(), req));
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// The connection is closed without an answer (an injected reset or hang).
#[derive(Debug)]
struct Closed;

impl std::fmt::Display for Closed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection closed by an injected fault")
    }
}

impl std::error::Error for Closed {}

/// Headers whose values are credentials (or name them).
fn is_secret_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    matches!(
        name.as_str(),
        "authorization" | "proxy-authorization" | "cookie" | "set-cookie"
    ) || [
        "token",
        "secret",
        "signature",
        "api-key",
        "apikey",
        "password",
    ]
    .iter()
    .any(|s| name.contains(s))
}

/// Query parameters whose values are credentials.
fn is_secret_param(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    [
        "hapikey",
        "token",
        "secret",
        "key",
        "signature",
        "password",
        "auth",
    ]
    .iter()
    .any(|s| name.contains(s))
}

/// `query` with credential values replaced by `[redacted]`.
pub fn redact_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if is_secret_param(k) => format!("{k}=[redacted]"),
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Request headers for the recording, credentials redacted.
fn recorded_headers(headers: &hyper::HeaderMap) -> BTreeMap<String, String> {
    headers
        .iter()
        .map(|(name, value)| {
            let value = if is_secret_header(name.as_str()) {
                "[redacted]".to_string()
            } else {
                value.to_str().unwrap_or("[binary]").to_string()
            };
            (name.as_str().to_string(), value)
        })
        .collect()
}

/// Hop-by-hop headers, never forwarded.
fn hop_by_hop(name: &str) -> bool {
    matches!(
        name.to_ascii_lowercase().as_str(),
        "host"
            | "connection"
            | "keep-alive"
            | "proxy-connection"
            | "transfer-encoding"
            | "te"
            | "trailer"
            | "upgrade"
            | "content-length"
    )
}

fn as_value(bytes: &[u8]) -> Option<Value> {
    if bytes.is_empty() {
        return None;
    }
    Some(
        serde_json::from_slice(bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned())),
    )
}

/// Violations of HubSpot's response shapes: a 2xx of a single-object call
/// is an object with a string `id` and a `properties` object, of a search
/// or batch call an object with a `results` array; an error is HubSpot's
/// error body (`status`, `message`, `category`).
pub fn response_violations(
    route_operation: Option<&str>,
    status: u16,
    body: Option<&Value>,
) -> Vec<Violation> {
    let violation = |pointer: &str, message: String| Violation {
        contract: "hubspot/response".into(),
        pointer: pointer.into(),
        message,
    };
    let Some(op) = route_operation else {
        return Vec::new();
    };
    if status == 204 {
        return Vec::new();
    }
    let Some(body) = body else {
        return vec![violation(
            "",
            format!("a {status} answer to {op} has no body"),
        )];
    };
    let Some(object) = body.as_object() else {
        return vec![violation("", format!("expected a JSON object, got {body}"))];
    };
    let mut out = Vec::new();
    match status {
        200..=299 => match op {
            "create" | "read" | "update" => {
                if !object.get("id").is_some_and(Value::is_string) {
                    out.push(violation("/id", "a string object id is required".into()));
                }
                if !object.get("properties").is_some_and(Value::is_object) {
                    out.push(violation(
                        "/properties",
                        "a properties object is required".into(),
                    ));
                }
            }
            op if (op == "search" || op == "list" || op.starts_with("batch-"))
                && !object.get("results").is_some_and(Value::is_array) =>
            {
                out.push(violation("/results", "a results array is required".into()));
            }
            _ => {}
        },
        400..=599 => {
            for key in ["status", "message", "category"] {
                if !object.get(key).is_some_and(Value::is_string) {
                    out.push(violation(
                        &format!("/{key}"),
                        format!("HubSpot's error body has a string `{key}`"),
                    ));
                }
            }
        }
        _ => {}
    }
    out
}

/// Validates a recorded exchange again (with these contracts, which may be
/// another version than the proxy used): the request body against its
/// route's contract and the response against HubSpot's shapes (CRM side),
/// or the payload as an event (helpdesk side).
pub fn revalidate(contracts: &Contracts, exchange: &Exchange) -> Vec<Violation> {
    match exchange.side {
        Side::Helpdesk => exchange
            .event
            .as_ref()
            .map(|e| contracts.validate_event(&e.payload))
            .unwrap_or_default(),
        Side::Crm => {
            let Some((object_type, op)) = exchange.route.as_deref().and_then(|r| r.split_once(' '))
            else {
                return Vec::new();
            };
            let mut out = match (
                crate::contract::CrmOperation::from_name(op),
                &exchange.request_body,
            ) {
                (Some(operation), Some(body)) => {
                    contracts.validate_crm_request(object_type, operation, body)
                }
                _ => Vec::new(),
            };
            if exchange.http_status != 0 {
                out.extend(response_violations(
                    Some(op),
                    exchange.http_status,
                    exchange.response_body.as_ref(),
                ));
            }
            out
        }
    }
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Reply, Closed> {
    let started = Instant::now();
    let seq = shared.seq.fetch_add(1, Ordering::SeqCst) + 1;
    let elapsed = started.saturating_duration_since(shared.started);
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(str::to_string);
    let headers = req.headers().clone();
    let route = Route::parse(&method, &path);
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Err(Closed),
    };
    let side = shared.config.side;
    let json_body: Option<Value> = serde_json::from_slice(&body).ok();
    let mut exchange = Exchange {
        hookproof: "proxy-exchange".into(),
        seq,
        side,
        at_ms: elapsed.as_millis() as u64,
        method: method.to_string(),
        path: path.clone(),
        query: query.as_deref().map(redact_query),
        request_headers: recorded_headers(&headers),
        route: route
            .object_type()
            .zip(route.operation())
            .map(|(t, op)| format!("{t} {op}")),
        request_body: match side {
            // Parsed once: the JSON value when it is JSON, else the text.
            Side::Crm if body.is_empty() => None,
            Side::Crm => Some(
                json_body
                    .clone()
                    .unwrap_or_else(|| Value::String(String::from_utf8_lossy(&body).into_owned())),
            ),
            Side::Helpdesk => None,
        },
        http_status: 0,
        response_body: None,
        latency_ms: 0.0,
        fault: None,
        upstream_error: None,
        violations: Vec::new(),
        event: None,
    };
    // The request against its contract.
    match side {
        Side::Crm => {
            if let (Some(op), Some(t)) = (route.contract(), route.object_type()) {
                match &json_body {
                    Some(b) => exchange
                        .violations
                        .extend(shared.config.contracts.validate_crm_request(t, op, b)),
                    None => exchange.violations.push(Violation {
                        contract: format!("hubspot/{t}.{op}.json"),
                        pointer: String::new(),
                        message: "the request body is not JSON".into(),
                    }),
                }
            }
        }
        Side::Helpdesk => match &json_body {
            Some(b) => {
                exchange
                    .violations
                    .extend(shared.config.contracts.validate_event(b));
                let short = b["type"].as_str().unwrap_or_default();
                exchange.event = Some(EventFields {
                    event_id: b["id"].as_str().unwrap_or_default().to_string(),
                    event_type: short
                        .strip_prefix(crate::contract::EVENT_TYPE_PREFIX)
                        .unwrap_or(short)
                        .to_string(),
                    status: DeliveryStatus::Open,
                    first_attempt_ms: exchange.at_ms,
                    payload: b.clone(),
                    traceparent: headers
                        .get("traceparent")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string(),
                });
            }
            None => exchange.violations.push(Violation {
                contract: crate::contract::ENVELOPE.into(),
                pointer: String::new(),
                message: "the webhook body is not JSON".into(),
            }),
        },
    }

    let result = forward(
        &shared,
        &route,
        seq,
        elapsed,
        &method,
        &path,
        &query,
        &headers,
        body,
        &mut exchange,
    )
    .await;
    exchange.latency_ms = started.elapsed().as_secs_f64() * 1e3;
    if let Some(event) = &mut exchange.event {
        event.status = match exchange.http_status {
            200..=299 => DeliveryStatus::Acked,
            400..=499 if exchange.http_status != 408 && exchange.http_status != 429 => {
                DeliveryStatus::Rejected
            }
            _ => DeliveryStatus::DeadLettered,
        };
    }
    finish(&shared, exchange);
    result
}

/// Sends the request upstream (or answers with an injected fault) and fills
/// in the exchange's answer.
#[allow(clippy::too_many_arguments)]
async fn forward(
    shared: &Shared,
    route: &Route,
    seq: u64,
    elapsed: Duration,
    method: &hyper::Method,
    path: &str,
    query: &Option<String>,
    headers: &hyper::HeaderMap,
    body: Bytes,
    exchange: &mut Exchange,
) -> Result<Reply, Closed> {
    let fired = route.firing(
        &shared.config.faults,
        shared.config.seed,
        seq,
        elapsed,
        route.operation().as_deref(),
    );
    for fault in &fired.before {
        exchange.fault = Some(fault.label());
        match fault_action(&fault.kind) {
            FaultAction::Delay(delay) => tokio::time::sleep(delay).await,
            FaultAction::Hang => {
                let mut stop = shared.stop.clone();
                let _ = stop.wait_for(|s| *s).await;
                return Err(Closed);
            }
            FaultAction::Reset => return Err(Closed),
            FaultAction::Answer(reply) => return Ok(answered(exchange, reply).await),
            FaultAction::None => {}
        }
    }
    let mut url = shared.config.upstream.clone();
    let base = url.path().trim_end_matches('/').to_string();
    url.set_path(&format!("{base}{path}"));
    url.set_query(query.as_deref());
    let mut request = shared.client.request(method.clone(), url);
    for (name, value) in headers {
        if !hop_by_hop(name.as_str()) {
            request = request.header(name, value);
        }
    }
    let response = match request.body(body).send().await {
        Ok(r) => r,
        Err(e) => {
            let message = if e.is_timeout() {
                format!("no answer within {:?}", shared.config.upstream_timeout)
            } else {
                format!("cannot reach the upstream: {e}")
            };
            exchange.upstream_error = Some(message.clone());
            let reply = error_reply(&CrmError::new(502, "BAD_GATEWAY", message));
            return Ok(answered(exchange, reply).await);
        }
    };
    let status = response.status();
    let mut builder = Response::builder().status(status.as_u16());
    for (name, value) in response.headers() {
        if !hop_by_hop(name.as_str()) {
            builder = builder.header(name, value);
        }
    }
    let bytes = response.bytes().await.unwrap_or_default();
    if let (Some((code, label)), true) = (fired.after_commit, status.is_success()) {
        // The upstream committed the write; the client is told it failed.
        exchange.fault = Some(label);
        let reply = error_reply(&CrmError::new(code, "INTERNAL_ERROR", "internal error"));
        return Ok(answered(exchange, reply).await);
    }
    let reply = builder
        .body(Full::new(bytes))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())));
    Ok(answered(exchange, reply).await)
}

/// Records `reply` in the exchange (status, body, response violations) and
/// returns it.
async fn answered(exchange: &mut Exchange, reply: Reply) -> Reply {
    let (parts, body) = reply.into_parts();
    let bytes = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    exchange.http_status = parts.status.as_u16();
    exchange.response_body = as_value(&bytes);
    if exchange.side == Side::Crm {
        let op = exchange
            .route
            .as_deref()
            .and_then(|r| r.split_once(' '))
            .map(|(_, op)| op.to_string());
        exchange.violations.extend(response_violations(
            op.as_deref(),
            exchange.http_status,
            exchange.response_body.as_ref(),
        ));
    }
    Response::from_parts(parts, Full::new(bytes))
}

fn finish(shared: &Shared, exchange: Exchange) {
    {
        let mut stats = shared.stats.lock().unwrap();
        stats.exchanges += 1;
        stats.violating += u64::from(!exchange.violations.is_empty());
        stats.injected += u64::from(exchange.fault.is_some());
        stats.upstream_errors += u64::from(exchange.upstream_error.is_some());
    }
    if !exchange.violations.is_empty() {
        (shared.on_violation)(&exchange);
    }
    if let Some(recording) = &shared.recording
        && let Ok(line) = serde_json::to_string(&exchange)
    {
        let mut w = recording.lock().unwrap();
        let _ = writeln!(w, "{line}");
        let _ = w.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_redacted() {
        let mut h = hyper::HeaderMap::new();
        h.insert("authorization", "Bearer pat-na1-secret".parse().unwrap());
        h.insert("x-zendesk-webhook-signature", "abc".parse().unwrap());
        h.insert("x-api-key", "k".parse().unwrap());
        h.insert("content-type", "application/json".parse().unwrap());
        let r = recorded_headers(&h);
        assert_eq!(r["authorization"], "[redacted]");
        assert_eq!(r["x-zendesk-webhook-signature"], "[redacted]");
        assert_eq!(r["x-api-key"], "[redacted]");
        assert_eq!(r["content-type"], "application/json");
        assert_eq!(
            redact_query("hapikey=s3cret&limit=10&access_token=t"),
            "hapikey=[redacted]&limit=10&access_token=[redacted]"
        );
    }

    #[test]
    fn response_shapes() {
        let ok = serde_json::json!({"id": "1", "properties": {}});
        assert!(response_violations(Some("create"), 201, Some(&ok)).is_empty());
        let bad = serde_json::json!({"properties": {}});
        let v = response_violations(Some("create"), 201, Some(&bad));
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].pointer, "/id");
        let results = serde_json::json!({"results": []});
        assert!(response_violations(Some("batch-upsert"), 200, Some(&results)).is_empty());
        assert!(!response_violations(Some("search"), 200, Some(&ok)).is_empty());
        let error =
            serde_json::json!({"status": "error", "message": "m", "category": "RATE_LIMITS"});
        assert!(response_violations(Some("create"), 429, Some(&error)).is_empty());
        assert_eq!(
            response_violations(Some("create"), 503, Some(&serde_json::json!({}))).len(),
            3
        );
        assert!(response_violations(None, 200, None).is_empty());
        assert_eq!(response_violations(Some("read"), 200, None).len(), 1);
    }

    #[test]
    fn sides_parse() {
        assert_eq!("crm".parse::<Side>(), Ok(Side::Crm));
        assert_eq!("helpdesk".parse::<Side>(), Ok(Side::Helpdesk));
        assert!(
            "both"
                .parse::<Side>()
                .unwrap_err()
                .contains("`crm` or `helpdesk`")
        );
    }
}
