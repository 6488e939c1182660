//! The expected-state oracle. With a declared mapping (which CRM object and
//! property carry which helpdesk key, which associations the SUT must make),
//! the final CRM state of *each* run is compared with what the workload
//! implies, so even a mistake that is the same in the clean and the faulted
//! run (a missing association, a 409 taken as success) is caught, and each
//! violation names the exact event.

use super::crm_index::{CrmIndex, NONE as NO_OBJECT, decimal};
use super::input::RunObservation;
use super::number_map::NumberMap;
use super::verdict::{CheckName, Evidence};
use crate::history::LogIndex;
use crate::workload::{Event, EventKind, Workload};
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

/// No key, no event: an empty slot of the tables below.
const NONE: u32 = u32::MAX;

/// An object without the property of a mapping (no key at all, where
/// [`NONE`] is a value that no event keys).
const ABSENT: u32 = u32::MAX - 1;

/// What one event of the workload keys, as numbers of [`WorkloadKeys`].
#[derive(Debug, Clone, Copy)]
enum EventKeys {
    /// Nothing the mapping reads.
    None,
    /// A ticket creation: the ticket id and, when the workload knows the
    /// requester, their email.
    Ticket { ticket: u32, email: u32 },
    /// A comment: its id and its ticket's.
    Comment { comment: u32, ticket: u32 },
}

/// The helpdesk keys of a workload, read once for both runs: every key
/// value (ticket id, comment id, email) gets a dense number (equal numbers
/// exactly for equal strings, whatever the kind of key), so that the tables
/// of each run are vectors indexed by number, not maps keyed by strings.
pub(crate) struct WorkloadKeys<'w> {
    workload: &'w Workload,
    /// Key value → number: a decimal value (a ticket or comment id) by its
    /// number ([`decimal`]: equal exactly when the strings are), so that
    /// finding one compares no strings; any other by its text.
    decimals: NumberMap,
    texts: HashMap<&'w str, u32>,
    /// Number → key value.
    values: Vec<&'w str>,
    /// By event position: what it keys.
    events: Vec<EventKeys>,
}

impl<'w> WorkloadKeys<'w> {
    /// Reads the keys of `workload`'s events.
    pub(crate) fn new(workload: &'w Workload) -> WorkloadKeys<'w> {
        let email_of: HashMap<&str, &str> = workload
            .users
            .iter()
            .map(|u| (u.id.as_str(), u.email.as_str()))
            .collect();
        let mut keys = WorkloadKeys {
            workload,
            decimals: NumberMap::new(),
            texts: HashMap::new(),
            values: Vec::with_capacity(workload.events.len()),
            events: Vec::with_capacity(workload.events.len()),
        };
        for e in &workload.events {
            let event = match e.kind {
                EventKind::TicketCreated => EventKeys::Ticket {
                    ticket: keys.intern(e.ticket_id.as_deref().unwrap_or_default()),
                    email: match requester_id(e).and_then(|r| email_of.get(r)) {
                        Some(email) => keys.intern(email),
                        None => NONE,
                    },
                },
                EventKind::CommentAdded => match (&e.comment_id, &e.ticket_id) {
                    (Some(c), Some(t)) => EventKeys::Comment {
                        comment: keys.intern(c),
                        ticket: keys.intern(t),
                    },
                    _ => EventKeys::None,
                },
                _ => EventKeys::None,
            };
            keys.events.push(event);
        }
        keys
    }

    fn intern(&mut self, value: &'w str) -> u32 {
        let next = self.values.len() as u32;
        let number = match decimal(value) {
            Some(n) => self.decimals.get_or_insert(n, next),
            None => *self.texts.entry(value).or_insert(next),
        };
        if number == next {
            self.values.push(value);
        }
        number
    }

    /// The number of `value` ([`NONE`] when no event keys it: it then
    /// equals no expected key).
    fn number(&self, value: &str) -> u32 {
        match decimal(value) {
            Some(n) => self.decimals.get(n),
            None => self.texts.get(value).copied(),
        }
        .unwrap_or(NONE)
    }

    /// The id of the event at `position`.
    fn event_id(&self, position: u32) -> &'w str {
        &self.workload.events[position as usize].id
    }
}

/// `detail.requester_id` of `event`'s payload, when it is a string: the
/// fields found by comparing names (a payload object has few fields: less
/// work than hashing the names, as indexing a `serde_json::Value` does).
pub(crate) fn requester_id(event: &Event) -> Option<&str> {
    fn field<'v>(value: &'v serde_json::Value, name: &str) -> Option<&'v serde_json::Value> {
        value
            .as_object()?
            .iter()
            .find_map(|(k, v)| (k == name).then_some(v))
    }
    field(field(&event.body, "detail")?, "requester_id")?.as_str()
}

/// Key number → position of the event that creates its object ([`NONE`]:
/// no acked event keys it), and how many keys have one.
struct Keys {
    events: Vec<u32>,
    len: usize,
}

impl Keys {
    fn new(keys: usize) -> Keys {
        Keys {
            events: vec![NONE; keys],
            len: 0,
        }
    }

    /// Sets `key`'s event, unless it has one and `first` says the first wins.
    fn set(&mut self, key: u32, event: u32, first: bool) {
        let slot = &mut self.events[key as usize];
        if *slot == NONE {
            self.len += 1;
        } else if first {
            return;
        }
        *slot = event;
    }

    /// The event of `key`, if any.
    fn get(&self, key: u32) -> Option<u32> {
        self.events
            .get(key as usize)
            .copied()
            .filter(|&e| e != NONE)
    }

    /// `(key, event)` of every key that has an event.
    fn iter(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        (0..)
            .zip(&self.events)
            .filter(|&(_, &e)| e != NONE)
            .map(|(k, &e)| (k, e))
    }
}

/// What the acked events of one run key: keys by kind, ticket → requester
/// email, comment → ticket (by key number, [`NONE`] for none).
struct Acked {
    tickets: Keys,
    emails: Keys,
    comments: Keys,
    ticket_requester: Vec<u32>,
    comment_ticket: Vec<u32>,
}

impl Acked {
    fn keys(&self, key: HelpdeskKey) -> &Keys {
        match key {
            HelpdeskKey::TicketId => &self.tickets,
            HelpdeskKey::RequesterEmail => &self.emails,
            HelpdeskKey::CommentId => &self.comments,
        }
    }
}

fn acked(keys: &WorkloadKeys, log: &LogIndex) -> Acked {
    let n = keys.values.len();
    let mut acked = Acked {
        tickets: Keys::new(n),
        emails: Keys::new(n),
        comments: Keys::new(n),
        ticket_requester: vec![NONE; n],
        comment_ticket: vec![NONE; n],
    };
    // Only events the SUT acked (or wrongly refused) in this run must have their effect.
    let owed = log.owed_events(&keys.workload.events);
    for ((position, event), _) in (0..).zip(&keys.events).zip(owed).filter(|&(_, owed)| owed) {
        match *event {
            EventKeys::Ticket { ticket, email } => {
                acked.tickets.set(ticket, position, true);
                if email != NONE {
                    acked.emails.set(email, position, true);
                    acked.ticket_requester[ticket as usize] = email;
                }
            }
            EventKeys::Comment { comment, ticket } => {
                acked.comments.set(comment, position, false);
                acked.comment_ticket[comment as usize] = ticket;
            }
            EventKeys::None => {}
        }
    }
    acked
}

/// What the workload implies for one run.
struct Expected<'a> {
    /// Object type → its keys (`None`: no acked event keys it).
    objects: HashMap<&'a str, Option<&'a Keys>>,
    /// (from type, from key, to type, to key, event position or [`NONE`]).
    associations: Vec<(&'a str, u32, &'a str, u32, u32)>,
}

fn expected<'a>(mapping: &'a Mapping, acked: &'a Acked) -> Expected<'a> {
    let mut objects: HashMap<&str, Option<&Keys>> = HashMap::new();
    for m in &mapping.objects {
        objects.insert(&m.object, Some(acked.keys(m.key)).filter(|k| k.len > 0));
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
        let pairs: Vec<(u32, u32)> = match (key_of(&a.from), key_of(&a.to)) {
            (Some(HelpdeskKey::TicketId), Some(HelpdeskKey::RequesterEmail)) => (0..)
                .zip(&acked.ticket_requester)
                .filter(|&(_, &e)| e != NONE)
                .map(|(t, &e)| (t, e))
                .collect(),
            (Some(HelpdeskKey::CommentId), Some(HelpdeskKey::TicketId)) => (0..)
                .zip(&acked.comment_ticket)
                .filter(|&(_, &t)| t != NONE && to_keys.is_some_and(|o| o.get(t).is_some()))
                .map(|(c, &t)| (c, t))
                .collect(),
            _ => Vec::new(),
        };
        associations.reserve(pairs.len());
        for (from_key, to_key) in pairs {
            let event = from_keys.and_then(|o| o.get(from_key)).unwrap_or(NONE);
            associations.push((a.from.as_str(), from_key, a.to.as_str(), to_key, event));
        }
    }
    Expected {
        objects,
        associations,
    }
}

/// Violations of the declared mapping in one run: `(check, evidence)`;
/// `keys` reads `input.workload`, `snapshot` indexes the run's final CRM
/// state and `log` its delivery log.
pub(crate) fn mapping_violations(
    keys: &WorkloadKeys,
    mapping: &Mapping,
    run: &str,
    snapshot: &CrmIndex,
    log: &LogIndex,
) -> Vec<(CheckName, Evidence)> {
    violations(mapping, keys, run, snapshot, log)
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
    let keys = WorkloadKeys::new(workload);
    let snapshot = CrmIndex::new(&obs.snapshot);
    violations(mapping, &keys, run, &snapshot, &obs.log.index())
}

/// The violations of one run whose final state `snapshot` indexes and
/// whose delivery log `log` indexes.
fn violations(
    mapping: &Mapping,
    keys: &WorkloadKeys,
    run: &str,
    snapshot: &CrmIndex,
    log: &LogIndex,
) -> Vec<(CheckName, Evidence)> {
    let acked = acked(keys, log);
    let expected = expected(mapping, &acked);
    let event_id = |position: u32| {
        if position == NONE {
            ""
        } else {
            keys.event_id(position)
        }
    };
    let mut out = Vec::new();
    // An object type's slot: the first mapping of that type (a later mapping
    // of the same type counts in the same slot).
    let slot = |object_type: &str| mapping.objects.iter().position(|m| m.object == object_type);
    // By mapping: the key number of each live object of its type (by its
    // number in the type's range), [`ABSENT`] without the property.
    let mut key_of: Vec<Vec<u32>> = Vec::with_capacity(mapping.objects.len());
    let mut counts: Vec<u32> = Vec::new();
    for m in &mapping.objects {
        let objects = match snapshot.type_position(&m.object) {
            Some(t) => &snapshot.live[snapshot.range(t)],
            None => &[],
        };
        counts.clear();
        counts.resize(keys.values.len(), 0);
        let of: Vec<u32> = objects
            .iter()
            .map(|o| match snapshot.property(o, &m.property) {
                Some(v) => {
                    let key = keys.number(v);
                    if key != NONE {
                        counts[key as usize] += 1;
                    }
                    key
                }
                None => ABSENT,
            })
            .collect();
        key_of.push(of);
        let want = expected.objects.get(m.object.as_str()).copied().flatten();
        // Reported in key order.
        let mut wrong: Vec<(&str, &str, u32)> = want
            .into_iter()
            .flat_map(Keys::iter)
            .filter_map(|(key, event)| {
                let n = counts[key as usize];
                (n != 1).then(|| (keys.values[key as usize], event_id(event), n))
            })
            .collect();
        wrong.sort_unstable();
        for (key, event, n) in wrong {
            out.push(if n == 0 {
                (
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
                )
            } else {
                (
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
                )
            });
        }
    }
    // The associations present, by the slots and key numbers of their ends
    // (an end whose key no event has cannot be expected: left out). An
    // end's key is that of the last live object of its type and CRM id that
    // has the property of the last mapping of the type that any has (as a
    // map of CRM ids filled mapping by mapping, object by object, keeps).
    let types: Vec<(Option<usize>, Vec<usize>)> = snapshot
        .types
        .iter()
        .map(|t| {
            let mappings = (0..mapping.objects.len())
                .rev()
                .filter(|&i| mapping.objects[i].object == *t)
                .collect();
            (slot(t), mappings)
        })
        .collect();
    let end = |n: u32| {
        if n == NO_OBJECT {
            return None;
        }
        let t = snapshot.type_of(n);
        let (slot, mappings) = &types[t as usize];
        let first = snapshot.range(t).start as u32;
        let key = mappings.iter().find_map(|&i| {
            std::iter::successors(Some(n), |&o| {
                Some(snapshot.previous(o)).filter(|&p| p != NO_OBJECT)
            })
            .map(|o| key_of[i][(o - first) as usize])
            .find(|&key| key != ABSENT)
        })?;
        (key != NONE).then_some(((*slot)? as u64) << 32 | u64::from(key))
    };
    let associations = &snapshot.snapshot.associations;
    let mut present: HashSet<(u64, u64)> = HashSet::with_capacity(associations.len());
    for i in 0..associations.len() {
        let [from, to] = snapshot.ends(i);
        if let (Some(from), Some(to)) = (end(from), end(to)) {
            present.insert((from, to));
        }
    }
    // Reported in (from type, from key, to type, to key) order.
    let mut missing: Vec<(&str, &str, &str, &str, &str)> = expected
        .associations
        .into_iter()
        .filter(|&(ft, fk, tt, tk, _)| {
            let (Some(f), Some(t)) = (slot(ft), slot(tt)) else {
                return true;
            };
            let from = (f as u64) << 32 | u64::from(fk);
            let to = (t as u64) << 32 | u64::from(tk);
            !(present.contains(&(from, to)) || present.contains(&(to, from)))
        })
        .map(|(ft, fk, tt, tk, event)| {
            (
                ft,
                keys.values[fk as usize],
                tt,
                keys.values[tk as usize],
                event_id(event),
            )
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
            &WorkloadKeys::new(&case.workload),
            &Mapping::canonical(),
            "faulted",
            &CrmIndex::new(&case.faulted.snapshot),
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
