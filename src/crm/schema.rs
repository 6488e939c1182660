//! Property definitions per CRM object type: the standard HubSpot properties
//! a real integration sends, the custom ones hookproof declares, which are
//! unique, and which belong to the CRM (the SUT must not write them).

use serde::Serialize;

/// One property definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PropertyDef {
    /// Internal name.
    pub name: &'static str,
    /// Label shown in the CRM.
    pub label: &'static str,
    /// HubSpot type (`string`, `number`, `datetime`, `enumeration`).
    pub kind: &'static str,
    /// Values must be unique across objects of the type.
    pub unique: bool,
    /// Owned by the CRM (sales, automation): integrations should not write it.
    pub crm_owned: bool,
    /// Set by the CRM only; writes are refused.
    pub read_only: bool,
}

const fn p(name: &'static str, label: &'static str, kind: &'static str) -> PropertyDef {
    PropertyDef {
        name,
        label,
        kind,
        unique: false,
        crm_owned: false,
        read_only: false,
    }
}

const fn unique(mut d: PropertyDef) -> PropertyDef {
    d.unique = true;
    d
}

const fn owned(mut d: PropertyDef) -> PropertyDef {
    d.crm_owned = true;
    d
}

const fn read_only(mut d: PropertyDef) -> PropertyDef {
    d.read_only = true;
    d
}

const COMMON: [PropertyDef; 4] = [
    read_only(p("hs_object_id", "Record ID", "number")),
    read_only(p("createdate", "Create Date", "datetime")),
    read_only(p("lastmodifieddate", "Last Modified Date", "datetime")),
    read_only(p("hs_lastmodifieddate", "Last Modified Date", "datetime")),
];

static CONTACTS: &[PropertyDef] = &[
    COMMON[0],
    COMMON[1],
    COMMON[2],
    COMMON[3],
    unique(p("email", "Email", "string")),
    p("firstname", "First Name", "string"),
    p("lastname", "Last Name", "string"),
    p("phone", "Phone Number", "string"),
    p("company", "Company Name", "string"),
    owned(p("lifecyclestage", "Lifecycle Stage", "enumeration")),
    owned(p("hubspot_owner_id", "Contact owner", "enumeration")),
    owned(p("hs_lead_status", "Lead Status", "enumeration")),
];

static TICKETS: &[PropertyDef] = &[
    COMMON[0],
    COMMON[1],
    COMMON[2],
    COMMON[3],
    p("subject", "Ticket name", "string"),
    p("content", "Ticket description", "string"),
    p("hs_pipeline", "Pipeline", "enumeration"),
    p("hs_pipeline_stage", "Ticket status", "enumeration"),
    p("hs_ticket_priority", "Priority", "enumeration"),
    owned(p("hubspot_owner_id", "Ticket owner", "enumeration")),
    unique(p("helpdesk_ticket_id", "Helpdesk ticket ID", "string")),
    p("helpdesk_status", "Helpdesk status", "string"),
    p("source_type", "Source", "enumeration"),
];

static NOTES: &[PropertyDef] = &[
    COMMON[0],
    COMMON[1],
    COMMON[2],
    COMMON[3],
    p("hs_note_body", "Note body", "string"),
    p("hs_timestamp", "Activity date", "datetime"),
    owned(p("hubspot_owner_id", "Activity assigned to", "enumeration")),
    p("helpdesk_comment_id", "Helpdesk comment ID", "string"),
];

/// The object types the mock CRM serves.
pub const OBJECT_TYPES: &[&str] = &["contacts", "tickets", "notes"];

/// Property definitions of `object_type` (empty for unknown types).
pub fn property_definitions(object_type: &str) -> &'static [PropertyDef] {
    match object_type {
        "contacts" => CONTACTS,
        "tickets" => TICKETS,
        "notes" => NOTES,
        _ => &[],
    }
}

/// The unique properties of `object_type`.
pub fn unique_properties(object_type: &str) -> Vec<&'static str> {
    unique_names(object_type).collect()
}

/// [`unique_properties`] without collecting them (the store asks on every write).
pub(crate) fn unique_names(object_type: &str) -> impl Iterator<Item = &'static str> {
    property_definitions(object_type)
        .iter()
        .filter(|d| d.unique)
        .map(|d| d.name)
}

/// Properties the CRM assigns (ids, timestamps); the differential oracle
/// ignores them.
pub fn crm_assigned_properties() -> &'static [&'static str] {
    &[
        "hs_object_id",
        "createdate",
        "lastmodifieddate",
        "hs_lastmodifieddate",
    ]
}

/// Whether `name` is one of [`crm_assigned_properties`]: a match the
/// compiler turns into a length switch and inline comparisons, for the
/// checks that ask of every property of every object.
pub fn is_crm_assigned(name: &str) -> bool {
    matches!(
        name,
        "hs_object_id" | "createdate" | "lastmodifieddate" | "hs_lastmodifieddate"
    )
}

/// HubSpot-defined association type id for `from` → `to`, if the pair exists.
pub fn association_type_id(from: &str, to: &str) -> Option<u32> {
    Some(match (from, to) {
        ("contacts", "tickets") => 15,
        ("tickets", "contacts") => 16,
        ("contacts", "notes") => 201,
        ("notes", "contacts") => 202,
        ("tickets", "notes") => 227,
        ("notes", "tickets") => 228,
        _ => return None,
    })
}

/// The object type an association type id points to, from `from`.
pub fn association_target(from: &str, type_id: u32) -> Option<&'static str> {
    OBJECT_TYPES
        .iter()
        .copied()
        .find(|to| association_type_id(from, to) == Some(type_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_crm_assigned_agrees_with_the_list() {
        for name in crm_assigned_properties() {
            assert!(is_crm_assigned(name), "{name}");
        }
        for name in [
            "",
            "email",
            "hs_object",
            "hs_object_id ",
            "createdat",
            "hs_note_body",
        ] {
            assert!(!is_crm_assigned(name), "{name}");
        }
        let listed = OBJECT_TYPES
            .iter()
            .flat_map(|t| property_definitions(t))
            .filter(|d| is_crm_assigned(d.name))
            .all(|d| crm_assigned_properties().contains(&d.name));
        assert!(listed);
    }

    #[test]
    fn unique_and_owned_properties() {
        assert_eq!(unique_properties("contacts"), vec!["email"]);
        assert_eq!(unique_properties("tickets"), vec!["helpdesk_ticket_id"]);
        assert!(unique_properties("notes").is_empty());
        assert!(
            property_definitions("contacts")
                .iter()
                .any(|d| d.name == "lifecyclestage" && d.crm_owned)
        );
        assert_eq!(association_type_id("notes", "tickets"), Some(228));
        assert_eq!(association_target("tickets", 16), Some("contacts"));
    }
}
