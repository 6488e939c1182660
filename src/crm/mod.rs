//! The mock CRM: a HubSpot CRM v3 objects subset (contacts, tickets, notes;
//! search, batch, associations, property definitions, HubSpot error bodies)
//! that records every request and injects faults.

mod fault;
mod recording;
mod schema;
pub(crate) mod server;
mod store;
mod warm;

pub use fault::{CrmFault, CrmFaultKind, Firing, Window, firing, unit_hash};
pub use schema::{
    OBJECT_TYPES, PropertyDef, association_target, association_type_id, crm_assigned_properties,
    is_crm_assigned, property_definitions, unique_properties,
};
pub use server::{Aborted, CrmConfig, CrmHandler, MockCrm, RecordedRequest, SeedObject};
pub use store::{Association, CrmError, CrmObject, CrmSnapshot, Store};
pub(crate) use warm::warmed;
