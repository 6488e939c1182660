//! The bundled reference receiver (`hookproof sut reference`): a webhook
//! receiver written the way users should write theirs, plus deliberately
//! flawed variants that each break one rule, so `selftest` can measure the
//! suite's power.
//!
//! Rules it follows: verify the signature (constant time, timestamp
//! tolerance), parse permissively, commit the event to a durable SQLite inbox
//! keyed by event id before acking, and let a worker apply the canonical
//! mapping with exponential backoff and full jitter that honours
//! `Retry-After`, newest-`updated_at`-wins ordering, idempotent writes and a
//! dead-letter table.

pub mod backoff;
pub mod config;
pub mod event;
pub mod flaw;
pub mod inbox;
pub mod mapping;
pub mod receiver;
pub mod worker;

pub use config::{ReferenceConfig, ReferenceError};
pub use flaw::{Flaw, UnknownFlaw};
pub use receiver::{IDLE_PATH, serve, serve_with};
