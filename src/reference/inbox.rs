//! The durable inbox: a SQLite database in the state directory. The webhook
//! handler commits each event here before acking, and the worker drains it,
//! so an acked event survives a crash and a duplicate delivery is a no-op.
//!
//! Durability: WAL with `synchronous=FULL`. WAL with `NORMAL` already survives
//! a process crash (SIGKILL), but may lose the last commits on power loss or
//! an OS crash; an ack is a promise to the producer that it may forget the
//! event, so we pay one WAL fsync per commit (well under a millisecond to a
//! few ms) to keep that promise across power loss too.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, params};

/// File name of the inbox database inside the state directory.
pub const DB_FILE: &str = "inbox.sqlite3";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS inbox (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    dedupe_key      TEXT    NOT NULL UNIQUE,
    event_id        TEXT    NOT NULL,
    event_type      TEXT    NOT NULL,
    ticket_id       TEXT,
    payload         BLOB    NOT NULL,
    traceparent     TEXT,
    received_at     INTEGER NOT NULL,
    state           TEXT    NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT
);
CREATE INDEX IF NOT EXISTS inbox_pending ON inbox(state, next_attempt_at, seq);
CREATE TABLE IF NOT EXISTS dead_letter (
    event_id    TEXT    NOT NULL,
    event_type  TEXT    NOT NULL,
    seq         INTEGER NOT NULL,
    attempts    INTEGER NOT NULL,
    last_error  TEXT    NOT NULL,
    dead_at     INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS ticket_version (
    ticket_id   TEXT    PRIMARY KEY,
    updated_at  INTEGER NOT NULL
);
";

/// An event to store.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// Unique key: the event id (or a fresh id under the `no-dedupe` flaw).
    pub dedupe_key: String,
    /// The event id.
    pub event_id: String,
    /// The raw event type.
    pub event_type: String,
    /// The helpdesk ticket id, if any.
    pub ticket_id: Option<String>,
    /// The raw body as received.
    pub payload: Vec<u8>,
    /// The W3C `traceparent` header, if sent.
    pub traceparent: Option<String>,
}

/// A pending inbox row handed to the worker.
#[derive(Debug, Clone)]
pub struct Row {
    /// Row sequence number (arrival order).
    pub seq: i64,
    /// The event id.
    pub event_id: String,
    /// The raw event type.
    pub event_type: String,
    /// The helpdesk ticket id, if any.
    pub ticket_id: Option<String>,
    /// The raw body.
    pub payload: Vec<u8>,
    /// The stored `traceparent`.
    pub traceparent: Option<String>,
    /// Failed attempts so far.
    pub attempts: u32,
}

/// A dead-lettered event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The event id.
    pub event_id: String,
    /// The raw event type.
    pub event_type: String,
    /// Attempts made.
    pub attempts: u32,
    /// The last error.
    pub last_error: String,
}

/// Where an event stands in the inbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowState {
    /// Waiting for (another) attempt.
    Pending,
    /// Applied (or ignored) successfully.
    Done,
    /// Moved to the dead-letter table.
    Dead,
}

/// Handle to the inbox database (cheap to clone).
#[derive(Clone)]
pub struct Inbox {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
}

impl std::fmt::Debug for Inbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inbox").field("path", &self.path).finish()
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Inbox {
    /// Open (or create) the inbox in `state_dir`.
    pub fn open(state_dir: &Path) -> rusqlite::Result<Self> {
        let path = state_dir.join(DB_FILE);
        let conn = Connection::open(&path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(SCHEMA)?;
        Ok(Inbox {
            conn: Arc::new(Mutex::new(conn)),
            path,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> rusqlite::Result<T> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut guard)
        })
        .await
        .expect("inbox task panicked")
    }

    /// Store an event and commit. Returns the row's `seq` when the event is
    /// new (or revived from the dead-letter table by a redelivery), `None`
    /// when it is a duplicate of a pending or done event.
    pub async fn insert(&self, ev: NewEvent) -> rusqlite::Result<Option<i64>> {
        self.with(move |c| {
            let now = now_ms();
            let tx = c.transaction()?;
            let inserted = tx.execute(
                "INSERT OR IGNORE INTO inbox
                   (dedupe_key, event_id, event_type, ticket_id, payload, traceparent,
                    received_at, next_attempt_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
                params![
                    ev.dedupe_key,
                    ev.event_id,
                    ev.event_type,
                    ev.ticket_id,
                    ev.payload,
                    ev.traceparent,
                    now
                ],
            )?;
            let seq = if inserted == 1 {
                Some(tx.last_insert_rowid())
            } else {
                // A redelivery of a dead-lettered event is an explicit replay: revive it.
                let revived: Option<i64> = tx
                    .query_row(
                        "UPDATE inbox SET state = 'pending', attempts = 0, next_attempt_at = ?2
                         WHERE dedupe_key = ?1 AND state = 'dead' RETURNING seq",
                        params![ev.dedupe_key, now],
                        |r| r.get(0),
                    )
                    .optional()?;
                if let Some(seq) = revived {
                    tx.execute("DELETE FROM dead_letter WHERE seq = ?1", [seq])?;
                }
                revived
            };
            tx.commit()?;
            Ok(seq)
        })
        .await
    }

    /// Pending rows due at `now_ms`, in arrival order, skipping `exclude`.
    pub async fn due(
        &self,
        now_ms: i64,
        exclude: HashSet<i64>,
        limit: usize,
    ) -> rusqlite::Result<Vec<Row>> {
        self.with(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT seq, event_id, event_type, ticket_id, payload, traceparent, attempts
                 FROM inbox WHERE state = 'pending' AND next_attempt_at <= ?1
                 ORDER BY seq LIMIT ?2",
            )?;
            let rows = stmt
                .query_map(params![now_ms, (limit + exclude.len()) as i64], |r| {
                    Ok(Row {
                        seq: r.get(0)?,
                        event_id: r.get(1)?,
                        event_type: r.get(2)?,
                        ticket_id: r.get(3)?,
                        payload: r.get(4)?,
                        traceparent: r.get(5)?,
                        attempts: r.get(6)?,
                    })
                })?
                .filter(|r| r.as_ref().map_or(true, |r| !exclude.contains(&r.seq)))
                .take(limit)
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
    }

    /// Number of pending rows (received, neither applied nor dead-lettered).
    pub async fn pending_count(&self) -> rusqlite::Result<u64> {
        self.with(|c| {
            c.prepare_cached("SELECT COUNT(*) FROM inbox WHERE state = 'pending'")?
                .query_row([], |r| r.get::<_, i64>(0))
                .map(|n| n as u64)
        })
        .await
    }

    /// The earliest `next_attempt_at` among pending rows not in `exclude`.
    pub async fn next_due_at(&self, exclude: HashSet<i64>) -> rusqlite::Result<Option<i64>> {
        self.with(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT seq, next_attempt_at FROM inbox WHERE state = 'pending'
                 ORDER BY next_attempt_at LIMIT ?1",
            )?;
            let mut rows = stmt.query(params![(exclude.len() + 1) as i64])?;
            while let Some(r) = rows.next()? {
                let seq: i64 = r.get(0)?;
                if !exclude.contains(&seq) {
                    return Ok(Some(r.get(1)?));
                }
            }
            Ok(None)
        })
        .await
    }

    /// Mark a row applied.
    pub async fn mark_done(&self, seq: i64, attempts: u32) -> rusqlite::Result<()> {
        self.with(move |c| {
            c.execute(
                "UPDATE inbox SET state = 'done', attempts = ?2 WHERE seq = ?1",
                params![seq, attempts],
            )?;
            Ok(())
        })
        .await
    }

    /// Record a failed attempt and when to try again.
    pub async fn schedule_retry(
        &self,
        seq: i64,
        attempts: u32,
        next_attempt_at: i64,
        error: String,
    ) -> rusqlite::Result<()> {
        self.with(move |c| {
            c.execute(
                "UPDATE inbox SET attempts = ?2, next_attempt_at = ?3, last_error = ?4
                 WHERE seq = ?1",
                params![seq, attempts, next_attempt_at, error],
            )?;
            Ok(())
        })
        .await
    }

    /// Give up on a row: move it to the dead-letter table.
    pub async fn dead_letter(
        &self,
        seq: i64,
        attempts: u32,
        error: String,
    ) -> rusqlite::Result<()> {
        self.with(move |c| {
            let tx = c.transaction()?;
            tx.execute(
                "UPDATE inbox SET state = 'dead', attempts = ?2, last_error = ?3 WHERE seq = ?1",
                params![seq, attempts, error],
            )?;
            tx.execute(
                "INSERT INTO dead_letter (event_id, event_type, seq, attempts, last_error, dead_at)
                 SELECT event_id, event_type, seq, ?2, ?3, ?4 FROM inbox WHERE seq = ?1",
                params![seq, attempts, error, now_ms()],
            )?;
            tx.commit()
        })
        .await
    }

    /// The dead-lettered events.
    pub async fn dead_letters(&self) -> rusqlite::Result<Vec<DeadLetter>> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT event_id, event_type, attempts, last_error FROM dead_letter ORDER BY seq",
            )?;
            stmt.query_map([], |r| {
                Ok(DeadLetter {
                    event_id: r.get(0)?,
                    event_type: r.get(1)?,
                    attempts: r.get(2)?,
                    last_error: r.get(3)?,
                })
            })?
            .collect()
        })
        .await
    }

    /// The state of the (latest) row for an event id.
    pub async fn state(&self, event_id: &str) -> rusqlite::Result<Option<RowState>> {
        let event_id = event_id.to_owned();
        self.with(move |c| {
            let s: Option<String> = c
                .query_row(
                    "SELECT state FROM inbox WHERE event_id = ?1 ORDER BY seq DESC LIMIT 1",
                    [event_id],
                    |r| r.get(0),
                )
                .optional()?;
            Ok(s.map(|s| match s.as_str() {
                "done" => RowState::Done,
                "dead" => RowState::Dead,
                _ => RowState::Pending,
            }))
        })
        .await
    }

    /// The state of a row by sequence number.
    pub async fn state_of(&self, seq: i64) -> rusqlite::Result<Option<RowState>> {
        self.with(move |c| {
            let s: Option<String> = c
                .query_row("SELECT state FROM inbox WHERE seq = ?1", [seq], |r| {
                    r.get(0)
                })
                .optional()?;
            Ok(s.map(|s| match s.as_str() {
                "done" => RowState::Done,
                "dead" => RowState::Dead,
                _ => RowState::Pending,
            }))
        })
        .await
    }

    /// The `updated_at` (µs since epoch) of the last snapshot applied for a ticket.
    pub async fn ticket_version(&self, ticket_id: &str) -> rusqlite::Result<Option<i64>> {
        let ticket_id = ticket_id.to_owned();
        self.with(move |c| {
            c.query_row(
                "SELECT updated_at FROM ticket_version WHERE ticket_id = ?1",
                [ticket_id],
                |r| r.get(0),
            )
            .optional()
        })
        .await
    }

    /// Record that a snapshot with `updated_at` (µs) was applied; keeps the maximum.
    pub async fn set_ticket_version(
        &self,
        ticket_id: &str,
        updated_at: i64,
    ) -> rusqlite::Result<()> {
        let ticket_id = ticket_id.to_owned();
        self.with(move |c| {
            c.execute(
                "INSERT INTO ticket_version (ticket_id, updated_at) VALUES (?1, ?2)
                 ON CONFLICT(ticket_id) DO UPDATE SET updated_at = max(updated_at, excluded.updated_at)",
                params![ticket_id, updated_at],
            )?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(key: &str) -> NewEvent {
        NewEvent {
            dedupe_key: key.into(),
            event_id: key.into(),
            event_type: "zen:event-type:ticket.created".into(),
            ticket_id: Some("1".into()),
            payload: b"{}".to_vec(),
            traceparent: None,
        }
    }

    #[tokio::test]
    async fn dedupes_by_key() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = Inbox::open(dir.path()).unwrap();
        assert!(inbox.insert(ev("a")).await.unwrap().is_some());
        assert!(inbox.insert(ev("a")).await.unwrap().is_none());
        assert!(inbox.insert(ev("b")).await.unwrap().is_some());
        let due = inbox.due(now_ms(), HashSet::new(), 10).await.unwrap();
        assert_eq!(
            due.iter().map(|r| r.event_id.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
    }

    #[tokio::test]
    async fn concurrent_duplicates_insert_once() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = Inbox::open(dir.path()).unwrap();
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let inbox = inbox.clone();
                tokio::spawn(async move { inbox.insert(ev("same")).await.unwrap() })
            })
            .collect();
        let mut new = 0;
        for t in tasks {
            new += usize::from(t.await.unwrap().is_some());
        }
        assert_eq!(new, 1);
    }

    #[tokio::test]
    async fn resumes_after_reopen_and_schedules() {
        let dir = tempfile::tempdir().unwrap();
        let seq = {
            let inbox = Inbox::open(dir.path()).unwrap();
            let seq = inbox.insert(ev("a")).await.unwrap().unwrap();
            inbox.insert(ev("b")).await.unwrap().unwrap();
            inbox.mark_done(seq + 1, 0).await.unwrap();
            seq
        };
        let inbox = Inbox::open(dir.path()).unwrap();
        let due = inbox.due(now_ms(), HashSet::new(), 10).await.unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].seq, seq);
        assert_eq!(inbox.state("b").await.unwrap(), Some(RowState::Done));

        let later = now_ms() + 60_000;
        inbox
            .schedule_retry(seq, 1, later, "503".into())
            .await
            .unwrap();
        assert!(
            inbox
                .due(now_ms(), HashSet::new(), 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            inbox.next_due_at(HashSet::new()).await.unwrap(),
            Some(later)
        );
        assert_eq!(inbox.next_due_at(HashSet::from([seq])).await.unwrap(), None);
    }

    #[tokio::test]
    async fn dead_letter_and_revive() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = Inbox::open(dir.path()).unwrap();
        let seq = inbox.insert(ev("a")).await.unwrap().unwrap();
        inbox.dead_letter(seq, 15, "boom".into()).await.unwrap();
        assert_eq!(inbox.state("a").await.unwrap(), Some(RowState::Dead));
        let dl = inbox.dead_letters().await.unwrap();
        assert_eq!(dl.len(), 1);
        assert_eq!(dl[0].last_error, "boom");
        assert_eq!(inbox.insert(ev("a")).await.unwrap(), Some(seq));
        assert_eq!(inbox.state("a").await.unwrap(), Some(RowState::Pending));
        assert!(inbox.dead_letters().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn ticket_version_keeps_max() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = Inbox::open(dir.path()).unwrap();
        assert_eq!(inbox.ticket_version("1").await.unwrap(), None);
        inbox.set_ticket_version("1", 10).await.unwrap();
        inbox.set_ticket_version("1", 5).await.unwrap();
        assert_eq!(inbox.ticket_version("1").await.unwrap(), Some(10));
    }
}
