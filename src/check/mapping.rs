//! The expected-state oracle. With a declared mapping (which CRM object and
//! property carry which helpdesk key, which associations the SUT must make),
//! the final CRM state of *each* run is compared with what the workload
//! implies, so even a mistake that is the same in the clean and the faulted
//! run (a missing association, a 409 taken as success) is caught, and each
//! violation names the exact event.

use super::input::{CheckInput, RunObservation};
use super::verdict::{CheckName, Evidence};
use crate::crm::CrmSnapshot;
use crate::history::LogIndex;
use crate::workload::{EventKind, Workload};
use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use serde::{Deserialize, Serialize};

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

/// Key value → the id of the event that creates its object.
type Keys<'w> = HashMap<&'w str, &'w str>;

/// What the workload implies: per object type, key value → the event that
/// creates it, borrowed from the workload.
struct Expected<'w> {
    /// Object type → its keys (`None`: no acked event keys it).
    objects: HashMap<&'w str, Option<&'w Keys<'w>>>,
    /// (from type, from key, to type, to key, event id).
    associations: Vec<(&'w str, &'w str, &'w str, &'w str, &'w str)>,
}

/// What the acked events of `workload` key: keys by kind, ticket →
/// requester email, comment → ticket.
#[derive(Default)]
struct Acked<'w> {
    keys: HashMap<HelpdeskKey, Keys<'w>>,
    ticket_requester: HashMap<&'w str, &'w str>,
    comment_ticket: HashMap<&'w str, &'w str>,
}

fn acked<'w>(workload: &'w Workload, log: &LogIndex) -> Acked<'w> {
    let email_of: HashMap<&str, &str> = workload
        .users
        .iter()
        .map(|u| (u.id.as_str(), u.email.as_str()))
        .collect();
    let (mut tickets, mut comments) = (0, 0);
    for e in &workload.events {
        match e.kind {
            EventKind::TicketCreated => tickets += 1,
            EventKind::CommentAdded => comments += 1,
            _ => {}
        }
    }
    let mut acked = Acked {
        keys: [
            (HelpdeskKey::TicketId, Keys::with_capacity(tickets)),
            (
                HelpdeskKey::RequesterEmail,
                Keys::with_capacity(email_of.len()),
            ),
            (HelpdeskKey::CommentId, Keys::with_capacity(comments)),
        ]
        .into_iter()
        .collect(),
        ticket_requester: HashMap::with_capacity(tickets),
        comment_ticket: HashMap::with_capacity(comments),
    };
    // Only events the SUT acked (or wrongly refused) in this run must have their effect.
    for e in workload.events.iter().filter(|e| log.sut_owes_event(&e.id)) {
        match e.kind {
            EventKind::TicketCreated => {
                let ticket = e.ticket_id.as_deref().unwrap_or_default();
                acked
                    .keys
                    .entry(HelpdeskKey::TicketId)
                    .or_default()
                    .entry(ticket)
                    .or_insert(&e.id);
                if let Some(email) = e.body["detail"]["requester_id"]
                    .as_str()
                    .and_then(|r| email_of.get(r))
                {
                    acked
                        .keys
                        .entry(HelpdeskKey::RequesterEmail)
                        .or_default()
                        .entry(email)
                        .or_insert(&e.id);
                    acked.ticket_requester.insert(ticket, email);
                }
            }
            EventKind::CommentAdded => {
                if let (Some(c), Some(t)) = (&e.comment_id, &e.ticket_id) {
                    acked
                        .keys
                        .entry(HelpdeskKey::CommentId)
                        .or_default()
                        .insert(c, &e.id);
                    acked.comment_ticket.insert(c, t);
                }
            }
            _ => {}
        }
    }
    acked
}

fn expected<'w>(mapping: &'w Mapping, acked: &'w Acked<'w>) -> Expected<'w> {
    let mut objects: HashMap<&str, Option<&Keys>> = HashMap::new();
    for m in &mapping.objects {
        objects.insert(&m.object, acked.keys.get(&m.key).filter(|k| !k.is_empty()));
    }
    let keys = |object: &str| objects.get(object).copied().flatten();
    let key_of = |object: &str| {
        mapping
            .objects
            .iter()
            .find(|m| m.object == object)
            .map(|m| m.key)
    };
    let mut associations = Vec::new();
    for a in &mapping.associations {
        let (from_keys, to_keys) = (keys(&a.from), keys(&a.to));
        let pairs: Vec<(&str, &str)> = match (key_of(&a.from), key_of(&a.to)) {
            (Some(HelpdeskKey::TicketId), Some(HelpdeskKey::RequesterEmail)) => acked
                .ticket_requester
                .iter()
                .map(|(t, e)| (*t, *e))
                .collect(),
            (Some(HelpdeskKey::CommentId), Some(HelpdeskKey::TicketId)) => acked
                .comment_ticket
                .iter()
                .filter(|(_, t)| to_keys.is_some_and(|o| o.contains_key(*t)))
                .map(|(c, t)| (*c, *t))
                .collect(),
            _ => Vec::new(),
        };
        associations.reserve(pairs.len());
        for (from_key, to_key) in pairs {
            let event = from_keys
                .and_then(|o| o.get(from_key))
                .copied()
                .unwrap_or_default();
            associations.push((a.from.as_str(), from_key, a.to.as_str(), to_key, event));
        }
    }
    Expected {
        objects,
        associations,
    }
}

/// Violations of the declared mapping in one run: `(check, evidence)`;
/// `log` indexes `obs.log`.
pub(crate) fn mapping_violations(
    input: &CheckInput,
    mapping: &Mapping,
    run: &str,
    obs: &RunObservation,
    log: &LogIndex,
) -> Vec<(CheckName, Evidence)> {
    violations(mapping, input.workload, run, &obs.snapshot, log)
}

/// [`mapping_violations`] of one run of `workload`, without a scenario
/// (what `bench` counts lost and duplicated effects with): `no_loss`
/// evidence names events whose effect is missing, `idempotent` evidence
/// events whose object exists more than once.
pub(crate) fn workload_violations(
    mapping: &Mapping,
    workload: &Workload,
    run: &str,
    obs: &RunObservation,
) -> Vec<(CheckName, Evidence)> {
    violations(mapping, workload, run, &obs.snapshot, &obs.log.index())
}

/// The violations of one run whose final state is `snapshot` and whose
/// delivery log `log` indexes.
fn violations(
    mapping: &Mapping,
    workload: &Workload,
    run: &str,
    snapshot: &CrmSnapshot,
    log: &LogIndex,
) -> Vec<(CheckName, Evidence)> {
    let acked = acked(workload, log);
    let expected = expected(mapping, &acked);
    let mut out = Vec::new();
    // An object type's slot: the first mapping of that type (a later mapping
    // of the same type writes into the same slot, the last object wins).
    let slot = |object_type: &str| mapping.objects.iter().position(|m| m.object == object_type);
    // CRM id → key value, per slot.
    let mut key_by_id: Vec<HashMap<&str, &str>> = vec![HashMap::new(); mapping.objects.len()];
    for (i, m) in mapping.objects.iter().enumerate() {
        let objects = snapshot
            .objects
            .get(&m.object)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let ids = &mut key_by_id[slot(&m.object).unwrap_or(i)];
        ids.reserve(objects.len());
        let mut counts: HashMap<&str, usize> = HashMap::with_capacity(objects.len());
        for o in objects.iter().filter(|o| !o.archived) {
            if let Some(v) = o.properties.get(&m.property) {
                *counts.entry(v.as_str()).or_insert(0) += 1;
                ids.insert(&o.id, v);
            }
        }
        let want = expected.objects.get(m.object.as_str()).copied().flatten();
        // Reported in key order.
        let mut wrong: Vec<(&str, &str, usize)> = want
            .into_iter()
            .flat_map(|w| w.iter())
            .filter_map(|(key, event)| {
                let n = counts.get(key).copied().unwrap_or(0);
                (n != 1).then_some((*key, *event, n))
            })
            .collect();
        wrong.sort_unstable();
        for (key, event, n) in wrong {
            if n == 0 {
                out.push((
                    CheckName::NoLoss,
                    Evidence {
                        what: format!(
                            "{run} run: no {} with {}={key}, though event {event} was acked (declared mapping)",
                            m.object, m.property
                        ),
                        event_ids: vec![event.to_string()],
                        timeline: log.timeline(event),
                        objects: None,
                    },
                ));
            } else {
                out.push((
                    CheckName::Idempotent,
                    Evidence {
                        what: format!(
                            "{run} run: {n} {} with {}={key}; the declared mapping allows one",
                            m.object, m.property
                        ),
                        event_ids: vec![event.to_string()],
                        timeline: log.timeline(event),
                        objects: None,
                    },
                ));
            }
        }
    }
    // The associations present, by the keys of their ends.
    let key_of = |object_type: &str, id: &str| {
        let s = slot(object_type)?;
        key_by_id[s].get(id).map(|key| (s, *key))
    };
    let mut present: HashSet<(usize, &str, usize, &str)> =
        HashSet::with_capacity(snapshot.associations.len());
    for a in &snapshot.associations {
        if let (Some((from, fk)), Some((to, tk))) = (
            key_of(&a.from_type, &a.from_id),
            key_of(&a.to_type, &a.to_id),
        ) {
            present.insert((from, fk, to, tk));
        }
    }
    // Reported in (from type, from key, to type, to key) order.
    let mut missing: Vec<_> = expected
        .associations
        .into_iter()
        .filter(|&(ft, fk, tt, tk, _)| {
            let (Some(f), Some(t)) = (slot(ft), slot(tt)) else {
                return true;
            };
            !(present.contains(&(f, fk, t, tk)) || present.contains(&(t, tk, f, fk)))
        })
        .collect();
    missing.sort_unstable();
    for (ft, fk, tt, tk, event) in missing {
        out.push((
            CheckName::NoLoss,
            Evidence {
                what: format!(
                    "{run} run: {ft} {fk} is not associated with {tt} {tk} (declared mapping)"
                ),
                event_ids: vec![event.to_string()],
                timeline: log.timeline(event),
                objects: None,
            },
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::*;

    fn violations(run: Run) -> Vec<(CheckName, Evidence)> {
        let case = Case::new(run);
        mapping_violations(
            &case.input(),
            &Mapping::canonical(),
            "faulted",
            &case.faulted,
            &case.faulted.log.index(),
        )
    }

    #[test]
    fn the_correct_state_satisfies_the_canonical_mapping() {
        let v = violations(Run::all_acked());
        assert!(v.is_empty(), "{v:#?}");
    }

    #[test]
    fn a_missing_note_and_its_association_name_the_comment_event() {
        let v = violations(Run::all_acked().edit(|s| remove_object(s, "5")));
        assert_eq!(v.len(), 2, "{v:#?}");
        assert!(v.iter().all(|(c, e)| *c == CheckName::NoLoss
            && e.event_ids == vec![COMMENT_1.to_string()]));
        assert!(v.iter().any(|(_, e)| e.what
            == "faulted run: no notes with helpdesk_comment_id=9100000001, though event ev-comment-1 was acked (declared mapping)"));
        assert!(v.iter().any(|(_, e)| e.what
            == "faulted run: notes 9100000001 is not associated with tickets 70001 (declared mapping)"));
    }

    #[test]
    fn an_association_stored_in_the_other_direction_counts() {
        let v = violations(Run::all_acked().edit(|s| {
            let a = &mut s.associations[0];
            std::mem::swap(&mut a.from_type, &mut a.to_type);
            std::mem::swap(&mut a.from_id, &mut a.to_id);
        }));
        assert!(v.is_empty(), "{v:#?}");
    }

    #[test]
    fn an_association_to_the_wrong_contact_is_missing() {
        let v = violations(Run::all_acked().edit(|s| s.associations[0].to_id = "2".into()));
        assert_eq!(v.len(), 1, "{v:#?}");
        assert_eq!(v[0].0, CheckName::NoLoss);
        assert!(
            v[0].1
                .what
                .contains("tickets 70001 is not associated with contacts ada.lovelace0")
        );
    }

    #[test]
    fn events_never_acked_are_not_expected() {
        // Ticket 70002's creation dead-lettered: neither the ticket nor
        // Grace's contact nor their association is owed.
        let w = workload();
        let run = Run::new(&w)
            .ack(CREATE_1)
            .dead_letter(CREATE_2)
            .ack(STATUS_1)
            .ack(COMMENT_1)
            .snapshot(correct_state())
            .edit(|s| {
                remove_object(s, "4");
                remove_object(s, "2");
            });
        let v = violations(run);
        assert!(v.is_empty(), "{v:#?}");
    }

    #[test]
    fn a_valid_event_rejected_permanently_is_still_owed() {
        let w = workload();
        let run = Run::new(&w)
            .ack(CREATE_1)
            .deliver(
                CREATE_2,
                "original",
                crate::history::SignatureMode::Valid,
                &[(20, 2, rejected(400))],
            )
            .ack(STATUS_1)
            .ack(COMMENT_1)
            .snapshot(correct_state())
            .edit(|s| remove_object(s, "4"));
        let v = violations(run);
        assert!(
            v.iter().any(|(c, e)| *c == CheckName::NoLoss
                && e.what.contains("no tickets with helpdesk_ticket_id=70002")
                && e.event_ids == vec![CREATE_2.to_string()]),
            "{v:#?}"
        );
    }

    #[test]
    fn duplicates_are_idempotence_violations_and_archived_copies_do_not_count() {
        let v = violations(Run::all_acked().edit(|s| {
            let t = copy_of(s, "3", "13");
            add_object(s, t);
        }));
        assert_eq!(v.len(), 1, "{v:#?}");
        assert_eq!(v[0].0, CheckName::Idempotent);
        assert_eq!(
            v[0].1.what,
            "faulted run: 2 tickets with helpdesk_ticket_id=70001; the declared mapping allows one"
        );
        assert_eq!(v[0].1.event_ids, vec![CREATE_1.to_string()]);
        let v = violations(Run::all_acked().edit(|s| {
            let mut t = copy_of(s, "3", "13");
            t.archived = true;
            add_object(s, t);
        }));
        assert!(v.is_empty(), "{v:#?}");
    }

    #[test]
    fn the_canonical_mapping_round_trips_through_toml() {
        let text = toml::to_string(&Mapping::canonical()).unwrap();
        assert!(text.contains("[[object]]"), "{text}");
        assert!(text.contains("key = \"requester.email\""), "{text}");
        let back: Mapping = toml::from_str(&text).unwrap();
        assert_eq!(back, Mapping::canonical());
        let typo = text.replace("property =", "propery =");
        assert!(toml::from_str::<Mapping>(&typo).is_err());
    }
}
