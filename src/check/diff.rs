//! The differential oracle's core: compares two CRM states after
//! normalising what the CRM assigns (ids, timestamps).
//!
//! Objects are matched by identity: the value of their first unique property
//! (e.g. a contact's `email`, a ticket's `helpdesk_ticket_id`) when they have
//! one, otherwise their whole normalised content (objects as multisets of
//! property sets). Associations are compared with their endpoints resolved
//! to those identities.

use crate::crm::{CrmObject, CrmSnapshot, crm_assigned_properties, unique_properties};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A property set without CRM-assigned properties.
pub type Props = BTreeMap<String, String>;

/// One difference between the expected (clean) and actual (faulted) state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "difference", rename_all = "kebab-case")]
pub enum Difference {
    /// Fewer copies of an object than expected (usually none).
    Missing {
        /// Object type.
        object_type: String,
        /// Identity (`property=value` or `content`).
        identity: String,
        /// Expected copies.
        expected: usize,
        /// Actual copies.
        actual: usize,
        /// The expected properties.
        properties: Props,
    },
    /// More copies of an object than expected.
    Extra {
        /// Object type.
        object_type: String,
        /// Identity.
        identity: String,
        /// Expected copies.
        expected: usize,
        /// Actual copies.
        actual: usize,
        /// The properties of the extra copies.
        properties: Props,
    },
    /// Same identity, different properties.
    Mismatch {
        /// Object type.
        object_type: String,
        /// Identity.
        identity: String,
        /// Expected properties.
        expected: Props,
        /// Actual properties.
        actual: Props,
        /// Keys whose values differ.
        keys: Vec<String>,
    },
    /// An association present in the expected state, absent in the actual one.
    MissingAssociation {
        /// `from_type:identity -> to_type:identity (type id)`.
        association: String,
        /// Expected count.
        expected: usize,
        /// Actual count.
        actual: usize,
    },
    /// An association more often than expected.
    ExtraAssociation {
        /// `from_type:identity -> to_type:identity (type id)`.
        association: String,
        /// Expected count.
        expected: usize,
        /// Actual count.
        actual: usize,
    },
}

impl Difference {
    /// Every property value of the objects involved (for attribution).
    pub fn values(&self) -> Vec<&str> {
        match self {
            Difference::Missing { properties, .. } | Difference::Extra { properties, .. } => {
                properties.values().map(String::as_str).collect()
            }
            Difference::Mismatch {
                expected, actual, ..
            } => expected
                .values()
                .chain(actual.values())
                .map(String::as_str)
                .collect(),
            Difference::MissingAssociation { association, .. }
            | Difference::ExtraAssociation { association, .. } => association
                .split(['=', ' ', ':', ','])
                .filter(|s| !s.is_empty())
                .collect(),
        }
    }

    /// One-line description.
    pub fn describe(&self) -> String {
        match self {
            Difference::Missing {
                object_type,
                identity,
                expected,
                actual,
                ..
            } => format!("{object_type} [{identity}]: expected {expected}, found {actual}"),
            Difference::Extra {
                object_type,
                identity,
                expected,
                actual,
                ..
            } => format!(
                "{object_type} [{identity}]: expected {expected}, found {actual} (duplicates)"
            ),
            Difference::Mismatch {
                object_type,
                identity,
                expected,
                actual,
                keys,
            } => {
                let parts: Vec<String> = keys
                    .iter()
                    .map(|k| {
                        format!(
                            "{k}: expected {:?}, found {:?}",
                            expected.get(k).map(String::as_str).unwrap_or("(unset)"),
                            actual.get(k).map(String::as_str).unwrap_or("(unset)")
                        )
                    })
                    .collect();
                format!("{object_type} [{identity}] differs: {}", parts.join("; "))
            }
            Difference::MissingAssociation {
                association,
                expected,
                actual,
            } => format!("association {association}: expected {expected}, found {actual}"),
            Difference::ExtraAssociation {
                association,
                expected,
                actual,
            } => format!(
                "association {association}: expected {expected}, found {actual} (duplicates)"
            ),
        }
    }
}

/// The differences between two states.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StateDiff {
    /// Every difference, in a stable order.
    pub differences: Vec<Difference>,
}

fn normalise(object: &CrmObject) -> Props {
    let assigned = crm_assigned_properties();
    object
        .properties
        .iter()
        .filter(|(k, v)| !assigned.contains(&k.as_str()) && !v.is_empty())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn identity(object_type: &str, props: &Props) -> String {
    for key in unique_properties(object_type) {
        if let Some(v) = props.get(key) {
            return format!("{key}={v}");
        }
    }
    let content: Vec<String> = props.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("content: {}", content.join(", "))
}

type Index = BTreeMap<(String, String), Vec<Props>>;

fn index(state: &CrmSnapshot) -> (Index, BTreeMap<(String, String), String>) {
    let mut by_identity: Index = BTreeMap::new();
    let mut id_to_identity = BTreeMap::new();
    for (object_type, objects) in &state.objects {
        for object in objects.iter().filter(|o| !o.archived) {
            let props = normalise(object);
            let ident = identity(object_type, &props);
            id_to_identity.insert((object_type.clone(), object.id.clone()), ident.clone());
            by_identity
                .entry((object_type.clone(), ident))
                .or_default()
                .push(props);
        }
    }
    (by_identity, id_to_identity)
}

fn associations(
    state: &CrmSnapshot,
    ids: &BTreeMap<(String, String), String>,
) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for a in &state.associations {
        let from = ids
            .get(&(a.from_type.clone(), a.from_id.clone()))
            .cloned()
            .unwrap_or_else(|| format!("id {}", a.from_id));
        let to = ids
            .get(&(a.to_type.clone(), a.to_id.clone()))
            .cloned()
            .unwrap_or_else(|| format!("id {}", a.to_id));
        let key = format!(
            "{}:{from} -> {}:{to} (type {})",
            a.from_type, a.to_type, a.type_id
        );
        *counts.entry(key).or_insert(0) += 1;
    }
    counts
}

/// Compares `expected` with `actual`.
pub fn diff_states(expected: &CrmSnapshot, actual: &CrmSnapshot) -> StateDiff {
    let (exp, exp_ids) = index(expected);
    let (act, act_ids) = index(actual);
    let mut differences = Vec::new();
    let keys: std::collections::BTreeSet<_> = exp.keys().chain(act.keys()).cloned().collect();
    for key in keys {
        let (object_type, ident) = key.clone();
        let e = exp.get(&key).map(Vec::as_slice).unwrap_or(&[]);
        let a = act.get(&key).map(Vec::as_slice).unwrap_or(&[]);
        if e.len() > a.len() {
            differences.push(Difference::Missing {
                object_type: object_type.clone(),
                identity: ident.clone(),
                expected: e.len(),
                actual: a.len(),
                properties: e[0].clone(),
            });
        } else if a.len() > e.len() {
            differences.push(Difference::Extra {
                object_type: object_type.clone(),
                identity: ident.clone(),
                expected: e.len(),
                actual: a.len(),
                properties: a[0].clone(),
            });
        }
        if let (Some(ep), Some(ap)) = (e.first(), a.first())
            && ep != ap
        {
            let keys: Vec<String> = ep
                .keys()
                .chain(ap.keys())
                .filter(|k| ep.get(*k) != ap.get(*k))
                .cloned()
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            differences.push(Difference::Mismatch {
                object_type,
                identity: ident,
                expected: ep.clone(),
                actual: ap.clone(),
                keys,
            });
        }
    }
    let ea = associations(expected, &exp_ids);
    let aa = associations(actual, &act_ids);
    let keys: std::collections::BTreeSet<_> = ea.keys().chain(aa.keys()).cloned().collect();
    for key in keys {
        let e = ea.get(&key).copied().unwrap_or(0);
        let a = aa.get(&key).copied().unwrap_or(0);
        if e > a {
            differences.push(Difference::MissingAssociation {
                association: key,
                expected: e,
                actual: a,
            });
        } else if a > e {
            differences.push(Difference::ExtraAssociation {
                association: key,
                expected: e,
                actual: a,
            });
        }
    }
    StateDiff { differences }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::crm::Association;

    pub(crate) fn object(object_type: &str, id: &str, props: &[(&str, &str)]) -> CrmObject {
        let mut properties: BTreeMap<String, String> = props
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        properties.insert("hs_object_id".into(), id.into());
        properties.insert("createdate".into(), format!("2026-01-01T00:00:0{id}Z"));
        CrmObject {
            object_type: object_type.into(),
            id: id.into(),
            properties,
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
            archived: false,
        }
    }

    pub(crate) fn state(
        objects: Vec<CrmObject>,
        assoc: &[(&str, &str, &str, &str)],
    ) -> CrmSnapshot {
        let mut snapshot = CrmSnapshot::default();
        for o in objects {
            snapshot
                .objects
                .entry(o.object_type.clone())
                .or_default()
                .push(o);
        }
        snapshot.associations = assoc
            .iter()
            .map(|(ft, fi, tt, ti)| Association {
                from_type: ft.to_string(),
                from_id: fi.to_string(),
                to_type: tt.to_string(),
                to_id: ti.to_string(),
                category: "HUBSPOT_DEFINED".into(),
                type_id: 16,
            })
            .collect();
        snapshot
    }

    #[test]
    fn crm_assigned_ids_and_timestamps_do_not_matter() {
        let a = state(
            vec![
                object(
                    "tickets",
                    "1",
                    &[("helpdesk_ticket_id", "70001"), ("subject", "s")],
                ),
                object("contacts", "2", &[("email", "a@x")]),
            ],
            &[("tickets", "1", "contacts", "2")],
        );
        let b = state(
            vec![
                object("contacts", "7", &[("email", "a@x")]),
                object(
                    "tickets",
                    "9",
                    &[("helpdesk_ticket_id", "70001"), ("subject", "s")],
                ),
            ],
            &[("tickets", "9", "contacts", "7")],
        );
        assert_eq!(diff_states(&a, &b).differences, vec![]);
    }

    #[test]
    fn finds_missing_extra_mismatch_and_associations() {
        let expected = state(
            vec![
                object(
                    "tickets",
                    "1",
                    &[("helpdesk_ticket_id", "70001"), ("hs_pipeline_stage", "4")],
                ),
                object("contacts", "2", &[("email", "a@x")]),
                object("notes", "3", &[("hs_note_body", "hi")]),
            ],
            &[("tickets", "1", "contacts", "2")],
        );
        let actual = state(
            vec![
                object(
                    "tickets",
                    "1",
                    &[("helpdesk_ticket_id", "70001"), ("hs_pipeline_stage", "2")],
                ),
                object("notes", "3", &[("hs_note_body", "hi")]),
                object("notes", "4", &[("hs_note_body", "hi")]),
            ],
            &[],
        );
        let d = diff_states(&expected, &actual).differences;
        assert!(d.iter().any(|x| matches!(x, Difference::Missing { object_type, .. } if object_type == "contacts")), "{d:#?}");
        assert!(d.iter().any(|x| matches!(x, Difference::Extra { object_type, actual: 2, .. } if object_type == "notes")), "{d:#?}");
        assert!(d.iter().any(|x| matches!(x, Difference::Mismatch { keys, .. } if keys == &vec!["hs_pipeline_stage".to_string()])), "{d:#?}");
        assert!(
            d.iter()
                .any(|x| matches!(x, Difference::MissingAssociation { .. })),
            "{d:#?}"
        );
        assert_eq!(d.len(), 4, "{d:#?}");
    }
}
