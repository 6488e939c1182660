//! JSON Schema contracts for every payload in both directions.
//!
//! STUB: the public API below is fixed; the bodies are being written.

use serde_json::Value;
use std::path::Path;

/// An operation on the CRM objects API whose request body has a contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CrmOperation {
    /// `POST /crm/v3/objects/{type}`
    Create,
    /// `PATCH /crm/v3/objects/{type}/{id}`
    Patch,
    /// `POST /crm/v3/objects/{type}/search`
    Search,
    /// `POST /crm/v3/objects/{type}/batch/upsert`
    BatchUpsert,
    /// `POST /crm/v3/objects/{type}/batch/create`
    BatchCreate,
    /// `POST /crm/v3/objects/{type}/batch/update`
    BatchUpdate,
}

/// One contract violation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Violation {
    /// Contract file, relative to the contracts root, e.g. `zendesk/ticket.created.json`.
    pub contract: String,
    /// JSON pointer into the payload, e.g. `/detail/status`.
    pub pointer: String,
    /// What is wrong.
    pub message: String,
}

/// An error loading or compiling contracts.
#[derive(Debug, thiserror::Error)]
#[error("contract error")]
pub struct ContractError;

/// The compiled contract set.
#[derive(Debug)]
pub struct Contracts;

impl Contracts {
    /// The contracts shipped with hookproof (embedded in the binary).
    pub fn builtin() -> Result<Self, ContractError> {
        Ok(Contracts)
    }
    /// Loads and compiles every contract under `dir` (layout as in `contracts/`).
    pub fn load_dir(_dir: &Path) -> Result<Self, ContractError> {
        Ok(Contracts)
    }
    /// Validates a helpdesk webhook event (envelope + its type's schema).
    pub fn validate_event(&self, _event: &Value) -> Vec<Violation> {
        Vec::new()
    }
    /// Validates the body of a request the SUT sends to the CRM.
    pub fn validate_crm_request(
        &self,
        _object_type: &str,
        _op: CrmOperation,
        _body: &Value,
    ) -> Vec<Violation> {
        Vec::new()
    }
}
