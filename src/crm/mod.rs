//! TEMPORARY stub of the mock CRM's public types (the real module lands from the `crm` branch).
#![allow(missing_docs)]
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct CrmSnapshot {
    pub objects: BTreeMap<String, Vec<CrmObject>>,
    pub associations: Vec<Association>,
}
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CrmObject {
    pub object_type: String,
    pub id: String,
    pub properties: BTreeMap<String, String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    pub archived: bool,
}
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Association {
    pub from_type: String,
    pub from_id: String,
    pub to_type: String,
    pub to_id: String,
    pub category: String,
    pub type_id: u32,
}
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RecordedRequest {
    pub seq: u64,
    pub at: Duration,
    pub duration: Duration,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub object_type: Option<String>,
    pub operation: Option<String>,
    pub status: u16,
    pub authorized: bool,
    pub traceparent: Option<String>,
    pub fault: Option<String>,
    pub violations: Vec<crate::contract::Violation>,
    pub affected: Vec<(String, String)>,
}
pub fn unique_properties(object_type: &str) -> Vec<&'static str> {
    match object_type {
        "contacts" => vec!["email"],
        "tickets" => vec!["helpdesk_ticket_id"],
        _ => vec![],
    }
}
pub fn crm_assigned_properties() -> &'static [&'static str] {
    &[
        "hs_object_id",
        "createdate",
        "lastmodifieddate",
        "hs_lastmodifieddate",
        "hs_createdate",
    ]
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Window {
    pub from: Duration,
    pub r#for: Duration,
}
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum CrmFault {
    Status {
        status: u16,
        retry_after: Option<Duration>,
        window: Option<Window>,
        fraction: Option<f64>,
        route: Option<String>,
    },
}
pub struct CrmConfig {
    pub token: String,
    pub contracts: std::sync::Arc<crate::contract::Contracts>,
    pub seed: u64,
    pub faults: Vec<CrmFault>,
    pub seeded: Vec<SeedObject>,
}
#[derive(Debug, Clone)]
pub struct SeedObject {
    pub object_type: String,
    pub properties: BTreeMap<String, String>,
}
impl CrmConfig {
    pub fn new(token: String, contracts: std::sync::Arc<crate::contract::Contracts>) -> Self {
        CrmConfig {
            token,
            contracts,
            seed: 0,
            faults: vec![],
            seeded: vec![],
        }
    }
}
pub struct MockCrm;
impl MockCrm {
    pub async fn start(_c: CrmConfig) -> std::io::Result<MockCrm> {
        Ok(MockCrm)
    }
    pub fn url(&self) -> String {
        String::new()
    }
    pub fn arm(&self) {}
    pub fn snapshot(&self) -> CrmSnapshot {
        CrmSnapshot::default()
    }
    pub fn requests(&self) -> Vec<RecordedRequest> {
        vec![]
    }
    pub fn last_activity(&self) -> Option<std::time::Instant> {
        None
    }
    pub fn in_flight(&self) -> usize {
        0
    }
    pub async fn shutdown(self) {}
}
