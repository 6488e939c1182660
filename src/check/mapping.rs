//! The expected-state oracle. With a declared mapping (which CRM object and
//! property carry which helpdesk key, which associations the SUT must make),
//! the final CRM state of *each* run is compared with what the workload
//! implies, so even a mistake that is the same in the clean and the faulted
//! run (a missing association, a 409 taken as success) is caught, and each
//! violation names the exact event.

use super::input::{CheckInput, RunObservation};
use super::verdict::{CheckName, Evidence};
use crate::workload::{EventKind, Workload};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// Which helpdesk key an object type carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum HelpdeskKey {
    /// The requester's email (from the helpdesk users API).
    #[serde(rename = "requester.email")]
    RequesterEmail,
    /// The ticket id.
    #[serde(rename = "ticket.id")]
    TicketId,
    /// The comment id.
    #[serde(rename = "comment.id")]
    CommentId,
}

/// How one CRM object type maps to the helpdesk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ObjectMapping {
    /// CRM object type (`contacts`, `tickets`, `notes`).
    pub object: String,
    /// The CRM property that holds the helpdesk key.
    pub property: String,
    /// The helpdesk key.
    pub key: HelpdeskKey,
    /// CRM properties the SUT owns (writes); the others it must leave alone.
    #[serde(default)]
    pub owns: Vec<String>,
}

/// An association the SUT must create.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AssociationMapping {
    /// From object type.
    pub from: String,
    /// To object type.
    pub to: String,
}

/// A declared mapping (`[mapping]` in `hookproof.toml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Mapping {
    /// Object mappings.
    #[serde(default, rename = "object")]
    pub objects: Vec<ObjectMapping>,
    /// Associations.
    #[serde(default, rename = "association")]
    pub associations: Vec<AssociationMapping>,
}

impl Mapping {
    /// The canonical mapping the bundled reference receiver implements.
    pub fn canonical() -> Mapping {
        let own = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        Mapping {
            objects: vec![
                ObjectMapping {
                    object: "contacts".into(),
                    property: "email".into(),
                    key: HelpdeskKey::RequesterEmail,
                    owns: own(&["email", "firstname", "lastname"]),
                },
                ObjectMapping {
                    object: "tickets".into(),
                    property: "helpdesk_ticket_id".into(),
                    key: HelpdeskKey::TicketId,
                    owns: own(&[
                        "helpdesk_ticket_id",
                        "subject",
                        "content",
                        "hs_pipeline",
                        "hs_pipeline_stage",
                        "hs_ticket_priority",
                        "helpdesk_status",
                    ]),
                },
                ObjectMapping {
                    object: "notes".into(),
                    property: "helpdesk_comment_id".into(),
                    key: HelpdeskKey::CommentId,
                    owns: own(&["hs_note_body", "hs_timestamp", "helpdesk_comment_id"]),
                },
            ],
            associations: vec![
                AssociationMapping {
                    from: "tickets".into(),
                    to: "contacts".into(),
                },
                AssociationMapping {
                    from: "notes".into(),
                    to: "tickets".into(),
                },
            ],
        }
    }
}

/// What the workload implies: per object type, key value → the event that creates it.
struct Expected {
    objects: BTreeMap<String, BTreeMap<String, String>>,
    /// (from type, from key, to type, to key) → event id.
    associations: Vec<(String, String, String, String, String)>,
}

fn expected(mapping: &Mapping, workload: &Workload, obs: &RunObservation) -> Expected {
    let email_of: HashMap<&str, &str> = workload
        .users
        .iter()
        .map(|u| (u.id.as_str(), u.email.as_str()))
        .collect();
    // Only events the SUT acked (or wrongly refused) in this run must have their effect.
    let acked = |id: &str| obs.log.sut_owes_event(id);
    let mut keys: BTreeMap<HelpdeskKey, BTreeMap<String, String>> = BTreeMap::new();
    let mut ticket_requester: HashMap<String, String> = HashMap::new();
    let mut comment_ticket: HashMap<String, String> = HashMap::new();
    for e in workload.events.iter().filter(|e| acked(&e.id)) {
        match e.kind {
            EventKind::TicketCreated => {
                let ticket = e.ticket_id.clone().unwrap_or_default();
                keys.entry(HelpdeskKey::TicketId)
                    .or_default()
                    .entry(ticket.clone())
                    .or_insert_with(|| e.id.clone());
                if let Some(email) = e.body["detail"]["requester_id"]
                    .as_str()
                    .and_then(|r| email_of.get(r))
                {
                    keys.entry(HelpdeskKey::RequesterEmail)
                        .or_default()
                        .entry(email.to_string())
                        .or_insert_with(|| e.id.clone());
                    ticket_requester.insert(ticket, email.to_string());
                }
            }
            EventKind::CommentAdded => {
                if let (Some(c), Some(t)) = (&e.comment_id, &e.ticket_id) {
                    keys.entry(HelpdeskKey::CommentId)
                        .or_default()
                        .insert(c.clone(), e.id.clone());
                    comment_ticket.insert(c.clone(), t.clone());
                }
            }
            _ => {}
        }
    }
    let mut objects = BTreeMap::new();
    for m in &mapping.objects {
        objects.insert(
            m.object.clone(),
            keys.get(&m.key).cloned().unwrap_or_default(),
        );
    }
    let key_of = |object: &str| {
        mapping
            .objects
            .iter()
            .find(|m| m.object == object)
            .map(|m| m.key)
    };
    let mut associations = Vec::new();
    for a in &mapping.associations {
        let pairs: Vec<(String, String)> = match (key_of(&a.from), key_of(&a.to)) {
            (Some(HelpdeskKey::TicketId), Some(HelpdeskKey::RequesterEmail)) => ticket_requester
                .iter()
                .map(|(t, e)| (t.clone(), e.clone()))
                .collect(),
            (Some(HelpdeskKey::CommentId), Some(HelpdeskKey::TicketId)) => comment_ticket
                .iter()
                .filter(|(_, t)| objects.get(&a.to).is_some_and(|o| o.contains_key(*t)))
                .map(|(c, t)| (c.clone(), t.clone()))
                .collect(),
            _ => Vec::new(),
        };
        for (from_key, to_key) in pairs {
            let event = objects
                .get(&a.from)
                .and_then(|o| o.get(&from_key))
                .cloned()
                .unwrap_or_default();
            associations.push((a.from.clone(), from_key, a.to.clone(), to_key, event));
        }
    }
    Expected {
        objects,
        associations,
    }
}

/// Violations of the declared mapping in one run: `(check, evidence)`.
pub(crate) fn mapping_violations(
    input: &CheckInput,
    mapping: &Mapping,
    run: &str,
    obs: &RunObservation,
) -> Vec<(CheckName, Evidence)> {
    let expected = expected(mapping, input.workload, obs);
    let mut out = Vec::new();
    // CRM id → key value, per object type.
    let mut key_by_id: HashMap<(String, String), String> = HashMap::new();
    for m in &mapping.objects {
        let objects = obs
            .snapshot
            .objects
            .get(&m.object)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for o in objects.iter().filter(|o| !o.archived) {
            if let Some(v) = o.properties.get(&m.property) {
                *counts.entry(v.as_str()).or_insert(0) += 1;
                key_by_id.insert((m.object.clone(), o.id.clone()), v.clone());
            }
        }
        let want = expected.objects.get(&m.object).cloned().unwrap_or_default();
        for (key, event) in &want {
            let n = counts.get(key.as_str()).copied().unwrap_or(0);
            if n == 0 {
                out.push((
                    CheckName::NoLoss,
                    Evidence {
                        what: format!(
                            "{run} run: no {} with {}={key}, though event {event} was acked (declared mapping)",
                            m.object, m.property
                        ),
                        event_ids: vec![event.clone()],
                        timeline: obs.log.timeline(event),
                        objects: None,
                    },
                ));
            } else if n > 1 {
                out.push((
                    CheckName::Idempotent,
                    Evidence {
                        what: format!(
                            "{run} run: {n} {} with {}={key}; the declared mapping allows one",
                            m.object, m.property
                        ),
                        event_ids: vec![event.clone()],
                        timeline: obs.log.timeline(event),
                        objects: None,
                    },
                ));
            }
        }
    }
    let present: std::collections::HashSet<(String, String, String, String)> = obs
        .snapshot
        .associations
        .iter()
        .filter_map(|a| {
            let from = key_by_id.get(&(a.from_type.clone(), a.from_id.clone()))?;
            let to = key_by_id.get(&(a.to_type.clone(), a.to_id.clone()))?;
            Some((
                a.from_type.clone(),
                from.clone(),
                a.to_type.clone(),
                to.clone(),
            ))
        })
        .collect();
    for (ft, fk, tt, tk, event) in expected.associations {
        let there = present.contains(&(ft.clone(), fk.clone(), tt.clone(), tk.clone()))
            || present.contains(&(tt.clone(), tk.clone(), ft.clone(), fk.clone()));
        if !there {
            out.push((
                CheckName::NoLoss,
                Evidence {
                    what: format!(
                        "{run} run: {ft} {fk} is not associated with {tt} {tk} (declared mapping)"
                    ),
                    event_ids: vec![event.clone()],
                    timeline: obs.log.timeline(&event),
                    objects: None,
                },
            ));
        }
    }
    out
}
