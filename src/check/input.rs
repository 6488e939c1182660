//! What checks read: the observations of a clean run and a faulted run.

use crate::contract::Violation;
use crate::crm::{CrmSnapshot, RecordedRequest};
use crate::history::DeliveryLog;
use crate::scenario::Scenario;
use crate::workload::Workload;
use serde::{Deserialize, Serialize};

/// How the settle phase ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "settle", rename_all = "kebab-case")]
pub enum Settle {
    /// Every delivery finished and the CRM was quiet for the quiet period.
    Settled,
    /// The deadline passed first.
    TimedOut {
        /// Why it did not settle (open deliveries, CRM still busy).
        reason: String,
    },
}

/// Everything recorded in one run (clean or faulted).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunObservation {
    /// The producer's delivery log.
    pub log: DeliveryLog,
    /// Every request the SUT made to the mock CRM.
    pub crm_requests: Vec<RecordedRequest>,
    /// The CRM state after the settle phase.
    pub snapshot: CrmSnapshot,
    /// Payloads the producer sent that broke their contract: `(event id, violation)`.
    pub event_violations: Vec<(String, Violation)>,
    /// How the settle phase ended (`None` = settled).
    pub settle: Option<Settle>,
    /// Key values (ticket ids, comment ids) that only forged deliveries
    /// carry: any CRM object holding one is an effect of a forgery.
    pub forged_markers: Vec<String>,
    /// Crashes and restarts of the SUT.
    pub sut_events: Vec<crate::history::SutEvent>,
    /// Objects pre-seeded into the CRM with the CRM-owned properties they
    /// started with: `(object type, unique property, value, owned properties)`.
    pub seeded: Vec<Seeded>,
    /// Ids of events whose meaning is new in a newer payload version (a new
    /// event type, a new status value) or that a `payload.drift` fault sent
    /// in that version: a state difference related to them is drift
    /// intolerance.
    pub drifted: Vec<String>,
    /// Ids of the other events sent in a newer payload version because the
    /// helpdesk is at it for the whole run (`[versions] helpdesk = "next"`):
    /// the clean run got the same payloads, so only refusing them is drift
    /// intolerance.
    pub upgraded: Vec<String>,
    /// Ids of events replayed from the dead-letter queue.
    pub replayed: Vec<String>,
    /// `Retry-After` the CRM sent with its 429s and 503s, if any.
    pub retry_after: Option<std::time::Duration>,
}

/// A pre-seeded CRM object and the CRM-owned properties it started with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Seeded {
    /// Object type.
    pub object_type: String,
    /// The unique property that identifies it (e.g. `email`).
    pub key: String,
    /// Its value.
    pub value: String,
    /// CRM-owned properties and their seeded values.
    pub owned: std::collections::BTreeMap<String, String>,
}

impl RunObservation {
    /// `Some(reason)` when the run did not settle.
    pub fn unsettled(&self) -> Option<&str> {
        match &self.settle {
            Some(Settle::TimedOut { reason }) => Some(reason),
            _ => None,
        }
    }
}

/// The input of every check.
#[derive(Debug, Clone, Copy)]
pub struct CheckInput<'a> {
    /// The scenario.
    pub scenario: &'a Scenario,
    /// Its workload.
    pub workload: &'a Workload,
    /// The clean, ordered, fault-free run of the same workload.
    pub clean: &'a RunObservation,
    /// The run under faults.
    pub faulted: &'a RunObservation,
    /// The SUT's declared mapping, when known (enables the expected-state oracle).
    pub mapping: Option<&'a super::mapping::Mapping>,
}
