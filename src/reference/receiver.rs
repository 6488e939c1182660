//! The HTTP side of the reference receiver: verify, parse, commit to the
//! inbox, then ack. The handler does no CRM work, so acks take milliseconds
//! whatever the CRM does. Also owns startup and shutdown.

use std::collections::HashSet;
use std::future::{Future, IntoFuture};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use tokio::net::TcpListener;

use crate::reference::config::{ReferenceConfig, ReferenceError};
use crate::reference::event::{Event, parse_strict};
use crate::reference::flaw::Flaw;
use crate::reference::inbox::{Inbox, NewEvent, RowState};
use crate::reference::mapping::Mapper;
use crate::reference::worker::Worker;
use crate::signing;

/// The idle probe: `200` when every acked event is applied or dead-lettered,
/// `503` with the backlog otherwise (see `SutSpec::idle_path`).
pub const IDLE_PATH: &str = "/hookproof/idle";

/// How long in-flight requests may finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

struct App {
    config: ReferenceConfig,
    inbox: Inbox,
    worker: Arc<Worker>,
    /// Event ids seen by the `ack-before-commit` flaw (memory only).
    seen: Mutex<HashSet<String>>,
}

impl App {
    fn has(&self, flaw: Flaw) -> bool {
        self.config.flaw == Some(flaw)
    }
}

/// Run the reference receiver on `config.listen` until SIGTERM or SIGINT.
pub async fn serve(config: ReferenceConfig) -> Result<(), ReferenceError> {
    let addr = config.listen;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ReferenceError::Io { addr, source })?;
    serve_with(config, listener, shutdown_signal()).await
}

/// Run the reference receiver on an already bound `listener` until
/// `shutdown` completes (for embedding and tests). Dropping the returned
/// future stops the worker at once, like a crash: pending events stay in the
/// inbox and resume on the next start with the same state directory.
pub async fn serve_with(
    config: ReferenceConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ReferenceError> {
    let addr = listener.local_addr().unwrap_or(config.listen);
    std::fs::create_dir_all(&config.state_dir).map_err(|source| ReferenceError::StateDir {
        path: config.state_dir.clone(),
        source,
    })?;
    let inbox = Inbox::open(&config.state_dir).map_err(|source| ReferenceError::Inbox {
        path: config.state_dir.join(crate::reference::inbox::DB_FILE),
        source,
    })?;
    let mapper = Arc::new(Mapper::new(&config, inbox.clone())?);
    let worker = Arc::new(Worker::new(inbox.clone(), mapper, config.flaw));

    // The worker lives in a JoinSet owned by this future: it is aborted when
    // this future returns or is dropped.
    let mut background = tokio::task::JoinSet::new();
    background.spawn(worker.clone().run());

    let webhook_path = config.webhook_path.clone();
    println!(
        "hookproof-ref: listening on {addr}, webhook {webhook_path}, scheme {}, flaw {}",
        config.scheme,
        config
            .flaw
            .map_or_else(|| "none".to_owned(), |f| f.to_string())
    );
    let app = Arc::new(App {
        config,
        inbox,
        worker,
        seen: Mutex::new(HashSet::new()),
    });
    let router = Router::new()
        .route("/healthz", get(|| async { (StatusCode::OK, "ok") }))
        .route(IDLE_PATH, get(idle))
        .route(&webhook_path, post(webhook))
        .with_state(app);

    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let server = axum::serve(listener, router).with_graceful_shutdown(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let grace = async move {
        let _ = stop_rx.wait_for(|stopped| *stopped).await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    tokio::select! {
        r = server.into_future() => r.map_err(|source| ReferenceError::Io { addr, source })?,
        _ = grace => {}
    }
    background.abort_all();
    println!("hookproof-ref: stopped");
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn answer(status: StatusCode, body: serde_json::Value) -> Response {
    (status, axum::Json(body)).into_response()
}

fn error(status: StatusCode, message: &str) -> Response {
    answer(status, json!({"status": "error", "message": message}))
}

async fn idle(State(app): State<Arc<App>>) -> Response {
    match app.worker.backlog().await {
        Ok(0) => answer(StatusCode::OK, json!({"idle": true, "backlog": 0})),
        Ok(n) => answer(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"idle": false, "backlog": n}),
        ),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    }
}

async fn webhook(
    State(app): State<Arc<App>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !app.has(Flaw::NoSignatureCheck) {
        let host = headers
            .get("host")
            .and_then(|h| h.to_str().ok())
            .map_or_else(|| app.config.listen.to_string(), str::to_owned);
        let url = format!("http://{host}{uri}");
        if let Err(e) = signing::verify(
            app.config.scheme,
            &app.config.secret,
            &headers,
            "POST",
            &url,
            &body,
            chrono::Utc::now(),
            None,
        ) {
            println!("hookproof-ref: rejected delivery: {e}");
            return error(StatusCode::UNAUTHORIZED, "invalid signature");
        }
    }
    if app.has(Flaw::StrictParser)
        && let Err(e) = parse_strict(&body)
    {
        println!("hookproof-ref: rejected payload (strict parser): {e}");
        return error(StatusCode::BAD_REQUEST, "payload does not match the schema");
    }
    let event = match Event::parse(&body) {
        Ok(ev) => ev,
        Err(e) => {
            println!("hookproof-ref: rejected malformed JSON: {e}");
            return error(StatusCode::BAD_REQUEST, "malformed JSON");
        }
    };
    let traceparent = headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let accepted = || answer(StatusCode::OK, json!({"status": "accepted"}));

    if app.has(Flaw::AckBeforeCommit) {
        let new = app
            .seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(event.id.clone());
        if new {
            app.worker.clone().spawn_in_memory(event, traceparent);
        }
        return accepted();
    }

    let dedupe_key = if app.has(Flaw::NoDedupe) {
        uuid::Uuid::new_v4().to_string()
    } else {
        event.id.clone()
    };
    let new = NewEvent {
        dedupe_key,
        event_id: event.id.clone(),
        event_type: event.raw_type.clone(),
        ticket_id: event.ticket_id().map(str::to_owned),
        payload: body.to_vec(),
        traceparent,
    };
    let mut finished = app.worker.finished();
    match app.inbox.insert(new).await {
        Ok(Some(_)) => app.worker.wake(),
        Ok(None) => {}
        Err(e) => {
            println!("hookproof-ref: inbox insert failed for {}: {e}", event.id);
            return error(StatusCode::SERVICE_UNAVAILABLE, "inbox unavailable");
        }
    }
    if app.has(Flaw::SyncHandler) {
        // Ack only once the worker has applied (or given up on) the event.
        loop {
            match app.inbox.state(&event.id).await {
                Ok(Some(RowState::Pending)) => {}
                _ => break,
            }
            if finished.changed().await.is_err() {
                break;
            }
        }
    }
    accepted()
}
