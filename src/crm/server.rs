//! The mock CRM's HTTP server: HubSpot CRM v3/v4 routes on hyper, bearer
//! auth, contract validation of every request body, fault injection, and a
//! lean recording of every request (no bodies are kept).
//!
//! Built on hyper directly (not axum) because the `reset` fault needs to
//! close a connection without answering: a service error makes hyper drop
//! the connection, which the client sees as a reset.

use super::fault::{CrmFault, CrmFaultKind, Firing, firing, unit_hash};
use super::recording::{Arrival, Name, Record, Recording};
use super::schema::{OBJECT_TYPES, association_type_id, property_definitions};
use super::store::{CrmError, CrmSnapshot, Renames, Store, ts};
use crate::contract::{Contracts, CrmOperation, Violation};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// An object that exists before the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedObject {
    /// Object type.
    pub object_type: String,
    /// Its properties.
    pub properties: BTreeMap<String, String>,
}

/// How to start a mock CRM.
#[derive(Debug, Clone)]
pub struct CrmConfig {
    /// The bearer token the SUT must send.
    pub token: String,
    /// Contracts every request body is validated against.
    pub contracts: Arc<Contracts>,
    /// Seed of fractional faults.
    pub seed: u64,
    /// Faults.
    pub faults: Vec<CrmFault>,
    /// Pre-existing objects.
    pub seeded: Vec<SeedObject>,
}

impl CrmConfig {
    /// A fault-free, empty CRM.
    pub fn new(token: impl Into<String>, contracts: Arc<Contracts>) -> CrmConfig {
        CrmConfig {
            token: token.into(),
            contracts,
            seed: 0,
            faults: Vec::new(),
            seeded: Vec::new(),
        }
    }
}

/// One request as the CRM saw it (kept small: no bodies).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedRequest {
    /// Arrival number.
    pub seq: u64,
    /// Arrival time since the server started.
    pub at: Duration,
    /// Time to the answer (or to the abort).
    pub duration: Duration,
    /// HTTP method.
    pub method: String,
    /// Path.
    pub path: String,
    /// Query string.
    pub query: Option<String>,
    /// Object type, when the route has one.
    pub object_type: Option<String>,
    /// Operation (`create`, `read`, `update`, `search`, `batch-upsert`, `associate`, …).
    pub operation: Option<String>,
    /// Status answered; 0 = no answer (hang released, reset).
    pub status: u16,
    /// Whether the bearer token was right.
    pub authorized: bool,
    /// The W3C `traceparent` header.
    pub traceparent: Option<String>,
    /// The fault that fired, if any.
    pub fault: Option<String>,
    /// Contract violations of the body.
    pub violations: Vec<Violation>,
    /// Objects written: `(type, id)`.
    pub affected: Vec<(String, String)>,
}

/// The state every request of one mock CRM shares. Per request it takes
/// the store's lock (when the request gets that far) and the lock of its
/// thread's recording shard once; times are atomics counted from `start`.
struct Shared {
    token: String,
    contracts: Arc<Contracts>,
    seed: u64,
    store: Mutex<Store>,
    faults: RwLock<Vec<CrmFault>>,
    start: Instant,
    /// The origin of fault windows ([`MockCrm::arm`]), in nanoseconds after `start`.
    origin: AtomicU64,
    seq: AtomicU64,
    /// Requests recorded (answered or aborted): with `seq`, the arrivals,
    /// the requests in flight.
    finished: AtomicU64,
    requests: Recording,
    /// The last arrival or answer, in nanoseconds after `start` plus one
    /// (0: no request yet).
    last_activity: AtomicU64,
    stop: watch::Receiver<bool>,
}

impl Shared {
    /// The state of a new mock CRM: the seed objects stored, nothing recorded.
    fn new(config: CrmConfig, stop: watch::Receiver<bool>) -> Shared {
        let mut store = Store::new();
        for o in &config.seeded {
            store.insert(&o.object_type, o.properties.clone());
        }
        Shared {
            token: config.token,
            contracts: config.contracts,
            seed: config.seed,
            store: Mutex::new(store),
            faults: RwLock::new(config.faults),
            start: Instant::now(),
            origin: AtomicU64::new(0),
            seq: AtomicU64::new(0),
            finished: AtomicU64::new(0),
            requests: Recording::default(),
            last_activity: AtomicU64::new(0),
            stop,
        }
    }

    /// `at` in nanoseconds after `start`.
    fn nanos(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.start).as_nanos()).unwrap_or(u64::MAX)
    }

    /// Notes activity at `at` (never moves the last activity back).
    fn touch(&self, at: Instant) {
        let n = self.nanos(at).saturating_add(1);
        self.last_activity.fetch_max(n, Ordering::Relaxed);
    }

    fn last_activity(&self) -> Option<Instant> {
        match self.last_activity.load(Ordering::Relaxed) {
            0 => None,
            n => Some(self.start + Duration::from_nanos(n - 1)),
        }
    }

    /// Every request so far, in arrival order.
    fn requests(&self) -> Vec<RecordedRequest> {
        self.requests.requests()
    }
}

/// The mock CRM's request handling without a socket: what [`MockCrm`]'s
/// HTTP server runs for each request (bearer auth, faults, contract
/// validation, the store, recording), callable in-process, e.g. to
/// benchmark it apart from HTTP.
///
/// ```
/// # use hookproof::contract::Contracts;
/// # use hookproof::crm::{CrmConfig, CrmHandler};
/// # use std::sync::Arc;
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let contracts = Arc::new(Contracts::builtin().unwrap());
/// let crm = CrmHandler::new(CrmConfig::new("T", contracts));
/// let request = http::Request::post("/crm/v3/objects/contacts")
///     .header("authorization", "Bearer T")
///     .body(http_body_util::Full::new(bytes::Bytes::from_static(
///         br#"{"properties":{"email":"ada@example.com"}}"#,
///     )))
///     .unwrap();
/// let response = crm.handle(request).await.unwrap();
/// assert_eq!(response.status(), 201);
/// assert_eq!(crm.requests()[0].operation.as_deref(), Some("create"));
/// # });
/// ```
pub struct CrmHandler {
    shared: Arc<Shared>,
    /// Kept so that hangs wait until the handler is dropped.
    _stop: watch::Sender<bool>,
}

impl std::fmt::Debug for CrmHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CrmHandler").finish_non_exhaustive()
    }
}

impl CrmHandler {
    /// A mock CRM that is not listening anywhere.
    pub fn new(config: CrmConfig) -> CrmHandler {
        let (stop, stop_rx) = watch::channel(false);
        CrmHandler {
            shared: Arc::new(Shared::new(config, stop_rx)),
            _stop: stop,
        }
    }

    /// Handles one request as the HTTP server does: the response, or
    /// [`Aborted`] when a fault closes the connection instead of answering
    /// (`reset`; a `hang` waits until the handler is dropped). The request
    /// is recorded either way.
    ///
    /// # Errors
    ///
    /// [`Aborted`] as above, or when reading the body fails.
    pub async fn handle<B>(&self, request: Request<B>) -> Result<Reply, Aborted>
    where
        B: hyper::body::Body<Data = Bytes>,
    {
        handle(self.shared.clone(), request).await
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests()
    }

    /// The current state.
    pub fn snapshot(&self) -> CrmSnapshot {
        self.shared.store.lock().unwrap().snapshot()
    }
}

/// A running mock CRM on 127.0.0.1.
pub struct MockCrm {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    server: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for MockCrm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockCrm").field("addr", &self.addr).finish()
    }
}

impl MockCrm {
    /// Starts the server on `127.0.0.1:0`.
    pub async fn start(config: CrmConfig) -> std::io::Result<MockCrm> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, stop_rx) = watch::channel(false);
        let shared = Arc::new(Shared::new(config, stop_rx.clone()));
        let server_shared = shared.clone();
        let server = tokio::spawn(async move {
            let mut stop = stop_rx;
            // Connections are tasks of this set, ended by dropping it when
            // the server stops: a connection does not also wait on `stop`
            // (a `watch` wait locks the channel's waiter list each time
            // the connection's task is polled, i.e. several times per
            // request, from every connection).
            let mut connections = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        let _ = stream.set_nodelay(true);
                        let shared = server_shared.clone();
                        connections.spawn(async move {
                            let service = service_fn(move |req| handle(shared.clone(), req));
                            // Answers are small JSON bodies: copied after
                            // the head and sent in one write, instead of
                            // queued apart and sent with writev (faster
                            // under oha; see BENCHMARKS.md).
                            let _ = http1::Builder::new()
                                .keep_alive(true)
                                .writev(false)
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        });
                    }
                    // Reaps finished connections so the set stays small.
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                    _ = stop.changed() => break,
                }
            }
            connections.shutdown().await;
        });
        Ok(MockCrm {
            addr,
            shared,
            stop,
            server,
        })
    }

    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// When the server started: the zero of [`RecordedRequest::at`].
    pub fn started(&self) -> Instant {
        self.shared.start
    }

    /// Sets the time origin of fault windows to now.
    pub fn arm(&self) {
        let now = self.shared.nanos(Instant::now());
        self.shared.origin.store(now, Ordering::Relaxed);
    }

    /// Replaces the faults.
    pub fn set_faults(&self, faults: Vec<CrmFault>) {
        *self.shared.faults.write().unwrap() = faults;
    }

    /// The current state.
    pub fn snapshot(&self) -> CrmSnapshot {
        self.shared.store.lock().unwrap().snapshot()
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests()
    }

    /// When the last request arrived or was answered.
    pub fn last_activity(&self) -> Option<Instant> {
        self.shared.last_activity()
    }

    /// Requests being handled now.
    pub fn in_flight(&self) -> usize {
        // `finished` first: it never passes `seq`, so this cannot underflow.
        let finished = self.shared.finished.load(Ordering::SeqCst);
        let arrived = self.shared.seq.load(Ordering::SeqCst);
        usize::try_from(arrived.saturating_sub(finished)).unwrap_or(usize::MAX)
    }

    /// Stops serving; hung requests are released (their connections closed).
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        let _ = (&mut self.server).await;
    }
}

impl Drop for MockCrm {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// The connection is closed without an answer (reset, released hang, or
/// the request's body could not be read).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("connection aborted by a fault")]
pub struct Aborted;

/// Records the request when dropped, whether it was answered or not.
struct Recorder<'a> {
    shared: &'a Shared,
    record: Record,
    started: Instant,
}

impl Drop for Recorder<'_> {
    fn drop(&mut self) {
        let now = Instant::now();
        self.record.duration_nanos =
            u64::try_from(now.saturating_duration_since(self.started).as_nanos())
                .unwrap_or(u64::MAX);
        self.shared.touch(now);
        self.shared.finished.fetch_add(1, Ordering::SeqCst);
        self.shared.requests.push(std::mem::take(&mut self.record));
    }
}

/// A response of the mock CRM (or of `hookproof proxy` when it injects one).
pub(crate) type Reply = Response<Full<Bytes>>;

/// What a fault that acts before serving does to a request.
pub(crate) enum FaultAction {
    /// Wait, then go on.
    Delay(Duration),
    /// Never answer.
    Hang,
    /// Close the connection without an answer.
    Reset,
    /// Answer this instead (HubSpot's error body, `Retry-After`).
    Answer(Reply),
    /// Nothing before serving (the fault acts later, or not on this route).
    None,
}

/// The action of a fault that acts before serving; the mock CRM and
/// `hookproof proxy` answer with the same HubSpot error bodies.
pub(crate) fn fault_action(kind: &CrmFaultKind) -> FaultAction {
    match kind {
        CrmFaultKind::Latency { delay } => FaultAction::Delay(*delay),
        CrmFaultKind::Hang => FaultAction::Hang,
        CrmFaultKind::Reset => FaultAction::Reset,
        CrmFaultKind::Status {
            status,
            retry_after,
        } => {
            let e = CrmError::new(
                *status,
                "INTERNAL_ERROR",
                "The service is temporarily unavailable",
            );
            let mut r = error_reply(&e);
            if let Some(after) = retry_after {
                set_retry_after(&mut r, *after);
            }
            FaultAction::Answer(r)
        }
        CrmFaultKind::RateLimit { retry_after } => {
            let mut e = CrmError::new(
                429,
                "RATE_LIMITS",
                "You have reached your ten_secondly_rolling limit.",
            );
            e.extra = Some(Box::new(json!({
                "errorType": "RATE_LIMIT",
                "policyName": "TEN_SECONDLY_ROLLING",
                "groupName": "publicapi:private_app-api-calls-ten-secondly:hookproof",
            })));
            let mut r = error_reply(&e);
            set_retry_after(&mut r, *retry_after);
            FaultAction::Answer(r)
        }
        _ => FaultAction::None,
    }
}

/// A JSON response with HubSpot's content type.
fn json_reply(status: u16, body: Vec<u8>) -> Reply {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json;charset=utf-8"),
    );
    r
}

fn reply(status: u16, body: &Value) -> Reply {
    json_reply(status, serde_json::to_vec(body).unwrap_or_default())
}

/// A fresh correlation id in HubSpot's format (a random UUID v4, lowercase
/// and hyphenated) without a system call per id: a process-wide counter
/// mixed by SplitMix64 with a seed drawn once from the OS, so ids are
/// distinct within the process and unpredictable across runs.
fn correlation_id() -> uuid::Uuid {
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let seed = *SEED.get_or_init(rand::random);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let mix = |i: u64| {
        let mut z = seed.wrapping_add(i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let bits = (u128::from(mix(2 * n)) << 64) | u128::from(mix(2 * n + 1));
    uuid::Builder::from_random_bytes(bits.to_be_bytes()).into_uuid()
}

pub(crate) fn error_reply(e: &CrmError) -> Reply {
    let mut id = uuid::Uuid::encode_buffer();
    let id = correlation_id().hyphenated().encode_lower(&mut id);
    let mut r = json_reply(e.status, e.body_bytes(id));
    if e.status == 429 {
        r.headers_mut()
            .insert("x-hubspot-ratelimit-remaining", 0.into());
        r.headers_mut()
            .insert("x-hubspot-ratelimit-max", 190.into());
    }
    r
}

/// The parsed route.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Route {
    Create(String),
    List(String),
    Read(String, String),
    Update(String, String),
    Archive(String, String),
    Search(String),
    Batch(String, String),
    Associate(String, String, String, String),
    Associations(String, String, String),
    Properties(String),
    Unknown,
}

impl Route {
    /// The route of `method` `path` (percent-decoded).
    pub(crate) fn parse(method: &Method, path: &str) -> Route {
        // At most 9 segments match a route; decoded only when escaped.
        const MAX: usize = 9;
        let mut segments = path.trim_matches('/').split('/');
        let mut decoded: [Cow<'_, str>; MAX] = Default::default();
        let mut len = 0;
        for segment in segments.by_ref().take(MAX) {
            decoded[len] = if segment.contains('%') {
                // A `+` in a path is itself, not a space.
                Cow::Owned(percent_decode(&segment.replace('+', "%2B")))
            } else {
                Cow::Borrowed(segment)
            };
            len += 1;
        }
        if segments.next().is_some() {
            return Route::Unknown;
        }
        let parts: [&str; MAX] = std::array::from_fn(|i| decoded[i].as_ref());
        let parts = &parts[..len];
        let m = method.as_str();
        match parts {
            ["crm", "v3", "objects", t] => match m {
                "POST" => Route::Create(t.to_string()),
                "GET" => Route::List(t.to_string()),
                _ => Route::Unknown,
            },
            ["crm", "v3", "objects", t, "search"] if m == "POST" => Route::Search(t.to_string()),
            ["crm", "v3", "objects", t, "batch", op] if m == "POST" => {
                Route::Batch(t.to_string(), op.to_string())
            }
            ["crm", "v3", "objects", t, id] => match m {
                "GET" => Route::Read(t.to_string(), id.to_string()),
                "PATCH" => Route::Update(t.to_string(), id.to_string()),
                "DELETE" => Route::Archive(t.to_string(), id.to_string()),
                _ => Route::Unknown,
            },
            [
                "crm",
                "v4",
                "objects",
                ft,
                fid,
                "associations",
                "default",
                tt,
                tid,
            ] if m == "PUT" => Route::Associate(
                ft.to_string(),
                fid.to_string(),
                tt.to_string(),
                tid.to_string(),
            ),
            ["crm", "v4", "objects", ft, fid, "associations", tt] if m == "GET" => {
                Route::Associations(ft.to_string(), fid.to_string(), tt.to_string())
            }
            ["crm", "v3", "properties", t] if m == "GET" => Route::Properties(t.to_string()),
            _ => Route::Unknown,
        }
    }

    /// The object type the route addresses.
    pub(crate) fn object_type(&self) -> Option<&str> {
        match self {
            Route::Create(t)
            | Route::List(t)
            | Route::Read(t, _)
            | Route::Update(t, _)
            | Route::Archive(t, _)
            | Route::Search(t)
            | Route::Batch(t, _)
            | Route::Associate(t, _, _, _)
            | Route::Associations(t, _, _)
            | Route::Properties(t) => Some(t),
            Route::Unknown => None,
        }
    }

    /// The operation name faults are scoped by (`create`, `search`, `batch-upsert`, …).
    pub(crate) fn operation(&self) -> Option<Name> {
        Some(Name::Borrowed(match self {
            Route::Create(_) => "create",
            Route::List(_) => "list",
            Route::Read(..) => "read",
            Route::Update(..) => "update",
            Route::Archive(..) => "archive",
            Route::Search(_) => "search",
            Route::Batch(_, op) => match op.as_str() {
                "create" => "batch-create",
                "read" => "batch-read",
                "update" => "batch-update",
                "upsert" => "batch-upsert",
                "archive" => "batch-archive",
                _ => return Some(Name::Owned(format!("batch-{op}"))),
            },
            Route::Associate(..) => "associate",
            Route::Associations(..) => "associations",
            Route::Properties(_) => "properties",
            Route::Unknown => return None,
        }))
    }

    /// The operation whose request contract applies to the body.
    pub(crate) fn contract(&self) -> Option<CrmOperation> {
        Some(match self {
            Route::Create(_) => CrmOperation::Create,
            Route::Update(..) => CrmOperation::Patch,
            Route::Search(_) => CrmOperation::Search,
            Route::Batch(_, op) => match op.as_str() {
                "upsert" => CrmOperation::BatchUpsert,
                "create" => CrmOperation::BatchCreate,
                "update" => CrmOperation::BatchUpdate,
                _ => return None,
            },
            _ => return None,
        })
    }

    /// Whether the route changes CRM state.
    pub(crate) fn writes(&self) -> bool {
        matches!(
            self,
            Route::Create(_) | Route::Update(..) | Route::Archive(..) | Route::Associate(..)
        ) || matches!(self, Route::Batch(_, op) if op != "read")
    }

    /// The faults of `faults` that fire for request `seq` of this route,
    /// `elapsed` into the fault window ([`firing`], scoped by the route's
    /// object type, whether it writes and whether it is a batch);
    /// `operation` is the route's [`Route::operation`], which the caller
    /// has at hand.
    pub(crate) fn firing(
        &self,
        faults: &[CrmFault],
        seed: u64,
        seq: u64,
        elapsed: Duration,
        operation: Option<&str>,
    ) -> Firing {
        firing(
            faults,
            seed,
            seq,
            elapsed,
            self.object_type(),
            operation,
            self.writes(),
            matches!(self, Route::Batch(..)),
        )
    }
}

fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| percent_decode(v))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match u8::from_str_radix(&s[i + 1..i + 3], 16) {
                Ok(b) => {
                    out.push(b);
                    i += 3;
                }
                Err(_) => {
                    out.push(b'%');
                    i += 1;
                }
            },
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn handle<B>(shared: Arc<Shared>, req: Request<B>) -> Result<Reply, Aborted>
where
    B: hyper::body::Body<Data = Bytes>,
{
    let shared = &*shared;
    let started = Instant::now();
    let seq = shared.seq.fetch_add(1, Ordering::SeqCst) + 1;
    shared.touch(started);
    let route = Route::parse(req.method(), req.uri().path());
    let header =
        |name: hyper::header::HeaderName| req.headers().get(name).and_then(|v| v.to_str().ok());
    let authorized = header(hyper::header::AUTHORIZATION)
        .and_then(|v| v.strip_prefix("Bearer ").map(|t| t.trim() == shared.token))
        .unwrap_or(false);
    let operation = route.operation();
    let mut recorder = Recorder {
        shared,
        record: Record::new(Arrival {
            seq,
            at_nanos: shared.nanos(started),
            method: req.method().as_str(),
            path: req.uri().path(),
            query: req.uri().query(),
            object_type: route.object_type(),
            operation: operation.as_deref(),
            authorized,
            traceparent: header(hyper::header::HeaderName::from_static("traceparent")),
        }),
        started,
    };
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Err(Aborted),
    };
    if !authorized {
        let e = CrmError::new(
            401,
            "INVALID_AUTHENTICATION",
            "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
        );
        recorder.record.status = 401;
        return Ok(error_reply(&e));
    }

    // Faults (the clock is read only when there are some).
    let firing = {
        let faults = shared.faults.read().unwrap();
        let elapsed = if faults.is_empty() {
            Duration::ZERO
        } else {
            Duration::from_nanos(
                shared
                    .nanos(Instant::now())
                    .saturating_sub(shared.origin.load(Ordering::Relaxed)),
            )
        };
        route.firing(&faults, shared.seed, seq, elapsed, operation.as_deref())
    };
    let renames: Renames = firing.renames.iter().cloned().collect();
    let after_commit = firing.after_commit;
    let partial = firing.partial;
    for fault in &firing.before {
        recorder.record.set_fault(fault.label());
        match fault_action(&fault.kind) {
            FaultAction::Delay(delay) => tokio::time::sleep(delay).await,
            FaultAction::Hang => {
                let mut stop = shared.stop.clone();
                let _ = stop.wait_for(|s| *s).await;
                return Err(Aborted);
            }
            FaultAction::Reset => return Err(Aborted),
            FaultAction::Answer(reply) => {
                recorder.record.status = reply.status().as_u16();
                return Ok(reply);
            }
            FaultAction::None => {}
        }
    }
    if !renames.is_empty() && recorder.record.fault().is_none() {
        let labels: Vec<String> = renames
            .iter()
            .map(|((_, f), t)| format!("renamed {f} -> {t}"))
            .collect();
        recorder.record.set_fault(labels.join(", "));
    }

    // Body and contract.
    let json_body: Option<Value> = if body.is_empty() {
        None
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => Some(v),
            Err(e) => {
                let err = CrmError::new(
                    400,
                    "VALIDATION_ERROR",
                    format!(
                        "Invalid input JSON on line {}, column {}: {e}",
                        e.line(),
                        e.column()
                    ),
                );
                recorder.record.status = 400;
                return Ok(error_reply(&err));
            }
        }
    };
    if let (Some(op), Some(t), Some(body)) = (route.contract(), route.object_type(), &json_body) {
        let violations = shared.contracts.validate_crm_request(t, op, body);
        if !violations.is_empty() {
            let message = violations
                .iter()
                .map(|v| format!("{} {}", v.pointer, v.message))
                .collect::<Vec<_>>()
                .join("; ");
            recorder.record.set_violations(violations);
            recorder.record.status = 400;
            return Ok(error_reply(&CrmError::new(
                400,
                "VALIDATION_ERROR",
                format!("Invalid input JSON: {message}"),
            )));
        }
    }

    let served = dispatch(
        shared,
        &route,
        recorder.record.query(),
        json_body.as_ref(),
        &renames,
        partial.as_ref().map(|p| p.0),
        seq,
    );
    let (status, served) = match served {
        Ok((status, body, affected)) => {
            recorder.record.affected = affected.into();
            (status, Ok(body))
        }
        Err(e) => (e.status, Err(e)),
    };
    if let Some((_, label)) = partial.filter(|_| status == 207) {
        recorder.record.set_fault(label);
    }
    match (after_commit, status) {
        (Some((status, label)), 200..=299) => {
            recorder.record.set_fault(label);
            recorder.record.status = status;
            Ok(error_reply(&CrmError::new(
                status,
                "INTERNAL_ERROR",
                "internal error",
            )))
        }
        _ => {
            recorder.record.status = status;
            Ok(match served {
                Ok(body) => reply(status, &body),
                Err(e) => error_reply(&e),
            })
        }
    }
}

fn set_retry_after(r: &mut Reply, after: Duration) {
    let secs = after.as_secs_f64().ceil().max(1.0) as u64;
    r.headers_mut().insert("retry-after", secs.into());
}

/// What a route answers: status, JSON body and the objects written, or a
/// HubSpot error.
type Served = Result<(u16, Value, Vec<(String, String)>), CrmError>;

fn known_type(t: &str) -> Result<(), CrmError> {
    if OBJECT_TYPES.contains(&t) {
        Ok(())
    } else {
        Err(CrmError::new(
            400,
            "VALIDATION_ERROR",
            format!("Unable to infer object type from: {t}"),
        ))
    }
}

fn props_of(v: Option<&Value>) -> Cow<'_, Map<String, Value>> {
    v.and_then(|v| v.get("properties"))
        .and_then(Value::as_object)
        .map_or_else(|| Cow::Owned(Map::new()), Cow::Borrowed)
}

fn associations_of(v: Option<&Value>) -> Vec<(String, u32, String)> {
    let mut out = Vec::new();
    for a in v
        .and_then(|v| v.get("associations"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let to = a["to"]["id"]
            .as_str()
            .map(str::to_string)
            .or_else(|| a["to"]["id"].as_u64().map(|n| n.to_string()));
        for t in a["types"].as_array().into_iter().flatten() {
            if let (Some(to), Some(id)) = (&to, t["associationTypeId"].as_u64()) {
                let category = t["associationCategory"]
                    .as_str()
                    .unwrap_or("HUBSPOT_DEFINED");
                out.push((to.clone(), id as u32, category.to_string()));
            }
        }
    }
    out
}

fn selected(query: Option<&str>, body: Option<&Value>) -> Option<Vec<String>> {
    // `properties=a,b` or `properties=a&properties=b` (what the SDKs send).
    let from_query: Vec<String> = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .filter_map(|kv| kv.split_once('='))
        .filter(|(k, _)| *k == "properties")
        .flat_map(|(_, v)| {
            percent_decode(v)
                .split(',')
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .filter(|p| !p.is_empty())
        .collect();
    if !from_query.is_empty() {
        return Some(from_query);
    }
    body.and_then(|b| b.get("properties"))
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
}

fn dispatch(
    shared: &Shared,
    route: &Route,
    query: Option<&str>,
    body: Option<&Value>,
    renames: &Renames,
    partial: Option<f64>,
    seq: u64,
) -> Served {
    if let Some(t) = route.object_type()
        && let Err(e) = known_type(t)
    {
        return Err(e);
    }
    let mut store = shared.store.lock().unwrap();
    let id_property = query_param(query, "idProperty");
    match route {
        Route::Create(t) => match store.create(t, &props_of(body), &associations_of(body), renames)
        {
            Ok(o) => Ok((201, o.to_json(None), vec![(t.clone(), o.id.clone())])),
            Err(e) => Err(e),
        },
        Route::Read(t, id) => match store.get(t, id, id_property.as_deref()) {
            Some(o) => Ok((200, o.to_json(selected(query, None).as_deref()), Vec::new())),
            None => Err(CrmError::not_found(t, id)),
        },
        Route::Update(t, id) => {
            match store.update(t, id, id_property.as_deref(), &props_of(body), renames) {
                Ok(o) => Ok((200, o.to_json(None), vec![(t.clone(), o.id.clone())])),
                Err(e) => Err(e),
            }
        }
        Route::Archive(t, id) => match store.archive(t, id) {
            Ok(()) => Ok((204, Value::Null, vec![(t.clone(), id.clone())])),
            Err(e) => Err(e),
        },
        Route::List(t) => {
            let limit = query_param(query, "limit")
                .and_then(|l| l.parse().ok())
                .unwrap_or(10usize)
                .clamp(1, 100);
            let after: usize = query_param(query, "after")
                .and_then(|a| a.parse().ok())
                .unwrap_or(0);
            let all = store.list(t);
            let sel = selected(query, None);
            let page: Vec<Value> = all
                .iter()
                .skip(after)
                .take(limit)
                .map(|o| o.to_json(sel.as_deref()))
                .collect();
            let mut out = json!({"results": page});
            if after + limit < all.len() {
                out["paging"] = json!({"next": {"after": (after + limit).to_string(), "link": ""}});
            }
            Ok((200, out, Vec::new()))
        }
        Route::Search(t) => search(&store, t, body.unwrap_or(&Value::Null)),
        Route::Batch(t, op) => batch(
            &mut store,
            t,
            op,
            body.unwrap_or(&Value::Null),
            renames,
            partial,
            shared.seed,
            seq,
        ),
        Route::Associate(ft, fid, tt, tid) => {
            let Some(type_id) = association_type_id(ft, tt) else {
                return Err(CrmError::new(
                    400,
                    "VALIDATION_ERROR",
                    format!("no default association from {ft} to {tt}"),
                ));
            };
            match store.associate(ft, fid, tt, tid, type_id) {
                Ok(()) => Ok((
                    200,
                    json!({
                        "status": "COMPLETE",
                        "results": [{
                            "from": {"id": fid}, "to": {"id": tid},
                            "associationSpec": {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id},
                        }],
                        "startedAt": ts(chrono::Utc::now()), "completedAt": ts(chrono::Utc::now()),
                    }),
                    vec![(ft.clone(), fid.clone()), (tt.clone(), tid.clone())],
                )),
                Err(e) => Err(e),
            }
        }
        Route::Associations(ft, fid, tt) => {
            let results: Vec<Value> = store
                .associated(ft, fid, tt)
                .into_iter()
                .map(|(id, type_id)| {
                    json!({
                        "toObjectId": id.parse::<u64>().unwrap_or_default(),
                        "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": null}],
                    })
                })
                .collect();
            Ok((200, json!({"results": results}), Vec::new()))
        }
        Route::Properties(t) => {
            let results: Vec<Value> = property_definitions(t)
                .iter()
                .map(|d| {
                    json!({
                        "name": d.name, "label": d.label, "type": d.kind,
                        "fieldType": if d.kind == "enumeration" { "select" } else { "text" },
                        "hasUniqueValue": d.unique,
                        "modificationMetadata": {"readOnlyValue": d.read_only, "archivable": true, "readOnlyDefinition": true},
                        "hubspotDefined": !d.name.starts_with("helpdesk_"),
                    })
                })
                .collect();
            Ok((200, json!({"results": results}), Vec::new()))
        }
        Route::Unknown => Err(CrmError::new(404, "OBJECT_NOT_FOUND", "Resource not found")),
    }
}

fn matches_filter(o: &super::store::CrmObject, f: &Value) -> bool {
    let name = f["propertyName"].as_str().unwrap_or_default();
    let op = f["operator"].as_str().unwrap_or("EQ");
    let actual = o.properties.get(name).filter(|v| !v.is_empty());
    let value = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let cmp = |want: &Value| -> Option<std::cmp::Ordering> {
        let a = actual?;
        let w = value(want);
        match (a.parse::<f64>(), w.parse::<f64>()) {
            (Ok(x), Ok(y)) => x.partial_cmp(&y),
            _ => Some(a.to_lowercase().cmp(&w.to_lowercase())),
        }
    };
    use std::cmp::Ordering::*;
    match op {
        "EQ" => cmp(&f["value"]) == Some(Equal),
        "NEQ" => cmp(&f["value"]) != Some(Equal),
        "LT" => cmp(&f["value"]) == Some(Less),
        "LTE" => matches!(cmp(&f["value"]), Some(Less | Equal)),
        "GT" => cmp(&f["value"]) == Some(Greater),
        "GTE" => matches!(cmp(&f["value"]), Some(Greater | Equal)),
        "HAS_PROPERTY" => actual.is_some(),
        "NOT_HAS_PROPERTY" => actual.is_none(),
        "IN" => f["values"]
            .as_array()
            .is_some_and(|vs| vs.iter().any(|v| cmp(v) == Some(Equal))),
        "NOT_IN" => !f["values"]
            .as_array()
            .is_some_and(|vs| vs.iter().any(|v| cmp(v) == Some(Equal))),
        "CONTAINS_TOKEN" => actual.is_some_and(|a| {
            let token = value(&f["value"]).to_lowercase().replace('*', "");
            a.to_lowercase()
                .split(|c: char| !c.is_alphanumeric() && c != '@' && c != '.')
                .any(|w| w == token)
                || a.to_lowercase().contains(&token)
        }),
        "NOT_CONTAINS_TOKEN" => !actual.is_some_and(|a| {
            a.to_lowercase()
                .contains(&value(&f["value"]).to_lowercase())
        }),
        "BETWEEN" => {
            matches!(cmp(&f["value"]), Some(Greater | Equal))
                && matches!(cmp(&f["highValue"]), Some(Less | Equal))
        }
        _ => false,
    }
}

fn search(store: &Store, t: &str, body: &Value) -> Served {
    let groups = body["filterGroups"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    let mut hits: Vec<&super::store::CrmObject> = store
        .list(t)
        .into_iter()
        .filter(|o| {
            groups.is_empty()
                || groups.iter().any(|g| {
                    g["filters"]
                        .as_array()
                        .is_none_or(|fs| fs.iter().all(|f| matches_filter(o, f)))
                })
        })
        .collect();
    if let Some(sort) = body["sorts"].as_array().and_then(|s| s.first()) {
        let (name, desc) = match sort {
            Value::String(s) => (s.trim_start_matches('-').to_string(), s.starts_with('-')),
            other => (
                other["propertyName"]
                    .as_str()
                    .unwrap_or("hs_object_id")
                    .to_string(),
                other["direction"].as_str() == Some("DESCENDING"),
            ),
        };
        hits.sort_by(|a, b| {
            let x = a.properties.get(&name);
            let y = b.properties.get(&name);
            if desc { y.cmp(&x) } else { x.cmp(&y) }
        });
    }
    let limit = body["limit"].as_u64().unwrap_or(10).clamp(1, 200) as usize;
    let after: usize = match &body["after"] {
        Value::String(s) => s.parse().unwrap_or(0),
        Value::Number(n) => n.as_u64().unwrap_or(0) as usize,
        _ => 0,
    };
    let sel: Option<Vec<String>> =
        body["properties"]
            .as_array()
            .filter(|a| !a.is_empty())
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            });
    let total = hits.len();
    let results: Vec<Value> = hits
        .iter()
        .skip(after)
        .take(limit)
        .map(|o| o.to_json(sel.as_deref()))
        .collect();
    let mut out = json!({"total": total, "results": results});
    if after + limit < total {
        out["paging"] = json!({"next": {"after": (after + limit).to_string()}});
    }
    Ok((200, out, Vec::new()))
}

#[allow(clippy::too_many_arguments)]
fn batch(
    store: &mut Store,
    t: &str,
    op: &str,
    body: &Value,
    renames: &Renames,
    partial: Option<f64>,
    seed: u64,
    seq: u64,
) -> Served {
    let inputs = body["inputs"].as_array().map_or(&[][..], Vec::as_slice);
    let started = ts(chrono::Utc::now());
    let mut results = Vec::new();
    let mut errors = Vec::new();
    let mut affected = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        if partial.is_some_and(|f| unit_hash(seed, i as u64 + 1_000, seq) < f) {
            errors.push(json!({
                "status": "error", "category": "INTERNAL_ERROR",
                "message": "This item could not be processed; retry it",
                "context": {"index": [i.to_string()]},
            }));
            continue;
        }
        let id = input["id"]
            .as_str()
            .map(str::to_string)
            .or_else(|| input["id"].as_u64().map(|n| n.to_string()))
            .unwrap_or_default();
        let outcome = match op {
            "create" => store
                .create(
                    t,
                    &props_of(Some(input)),
                    &associations_of(Some(input)),
                    renames,
                )
                .map(|o| (o.to_json(None), true)),
            "update" => store
                .update(
                    t,
                    &id,
                    input["idProperty"].as_str().or(body["idProperty"].as_str()),
                    &props_of(Some(input)),
                    renames,
                )
                .map(|o| (o.to_json(None), false)),
            "upsert" => {
                let id_property = input["idProperty"].as_str().unwrap_or("hs_object_id");
                store
                    .upsert(t, id_property, &id, &props_of(Some(input)), renames)
                    .map(|(o, new)| {
                        let mut j = o.to_json(None);
                        j["new"] = json!(new);
                        (j, new)
                    })
            }
            "read" => store
                .get(t, &id, body["idProperty"].as_str())
                .map(|o| (o.to_json(selected(None, Some(body)).as_deref()), false))
                .ok_or_else(|| CrmError::not_found(t, &id)),
            "archive" => store.archive(t, &id).map(|()| (Value::Null, false)),
            _ => {
                return Err(CrmError::new(
                    404,
                    "OBJECT_NOT_FOUND",
                    format!("no batch operation {op}"),
                ));
            }
        };
        match outcome {
            Ok((j, _)) => {
                if op != "read"
                    && let Some(id) = j["id"].as_str()
                {
                    affected.push((t.to_string(), id.to_string()));
                }
                if !j.is_null() {
                    results.push(j);
                }
            }
            Err(e) => errors.push(json!({
                "status": "error", "category": e.category, "message": e.message,
                "context": {"index": [i.to_string()]},
            })),
        }
    }
    let completed = ts(chrono::Utc::now());
    if op == "archive" && errors.is_empty() {
        return Ok((204, Value::Null, affected));
    }
    let mut out = json!({"status": "COMPLETE", "results": results, "startedAt": started, "completedAt": completed});
    if errors.is_empty() {
        Ok((if op == "create" { 201 } else { 200 }, out, affected))
    } else {
        out["numErrors"] = json!(errors.len());
        out["errors"] = Value::Array(errors);
        Ok((207, out, affected))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_a_route_names_is_recorded_in_a_byte() {
        let routes = [
            (Method::POST, "/crm/v3/objects/contacts"),
            (Method::GET, "/crm/v3/objects/contacts"),
            (Method::GET, "/crm/v3/objects/contacts/1"),
            (Method::PATCH, "/crm/v3/objects/contacts/1"),
            (Method::DELETE, "/crm/v3/objects/contacts/1"),
            (Method::POST, "/crm/v3/objects/contacts/search"),
            (Method::POST, "/crm/v3/objects/contacts/batch/create"),
            (Method::POST, "/crm/v3/objects/contacts/batch/read"),
            (Method::POST, "/crm/v3/objects/contacts/batch/update"),
            (Method::POST, "/crm/v3/objects/contacts/batch/upsert"),
            (Method::POST, "/crm/v3/objects/contacts/batch/archive"),
            (
                Method::PUT,
                "/crm/v4/objects/notes/1/associations/default/tickets/2",
            ),
            (Method::GET, "/crm/v4/objects/notes/1/associations/tickets"),
            (Method::GET, "/crm/v3/properties/contacts"),
        ];
        for (method, path) in routes {
            let operation = Route::parse(&method, path).operation();
            let operation = operation.as_deref().unwrap_or_else(|| panic!("{path}"));
            assert!(
                super::super::recording::OPERATIONS.contains(&operation),
                "{method} {path}: {operation}"
            );
        }
    }

    #[test]
    fn routes() {
        assert_eq!(
            Route::parse(&Method::POST, "/crm/v3/objects/contacts"),
            Route::Create("contacts".into())
        );
        assert_eq!(
            Route::parse(&Method::POST, "/crm/v3/objects/tickets/batch/upsert"),
            Route::Batch("tickets".into(), "upsert".into())
        );
        assert_eq!(
            Route::parse(
                &Method::PUT,
                "/crm/v4/objects/tickets/1/associations/default/contacts/2"
            ),
            Route::Associate("tickets".into(), "1".into(), "contacts".into(), "2".into())
        );
        assert_eq!(Route::parse(&Method::GET, "/nope"), Route::Unknown);
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%40b.example"), "a@b.example");
        assert_eq!(percent_decode("x+y"), "x y");
        assert_eq!(percent_decode("100%"), "100%");
    }
}
