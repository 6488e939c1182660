//! The differential oracle's core: compares two CRM states after
//! normalising what the CRM assigns (ids, timestamps).
//!
//! Objects are matched by identity: the value of their first unique property
//! (e.g. a contact's `email`, a ticket's `helpdesk_ticket_id`) when they have
//! one, otherwise their whole normalised content (objects as multisets of
//! property sets). Associations are compared with their endpoints resolved
//! to those identities.

use super::crm_index::{CrmIndex, NONE, Slot, decimal, normalised, same_normalised};
use super::number_map::NumberMap;
use super::parallel::{PARALLEL_FROM, both};
use crate::crm::{Association, CrmObject, CrmSnapshot};
use crate::row_table::RowTable;
use foldhash::{HashMap, HashMapExt};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::hash::Hash;

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
    normalised(object)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// An object's identity, borrowed from its snapshot (a unique property) or
/// from the arena its content identity was rendered into.
///
/// Two identities are equal exactly when their rendered strings are: unique
/// property names hold no `=` and none starts with `content: ` (a unit test
/// checks the schema).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Identity<'a> {
    /// `key=value`: the first unique property the object has.
    Unique(&'static str, &'a str),
    /// A [`Identity::Unique`] whose value is a decimal number (a helpdesk
    /// id): compared without reading the string again ([`decimal`] is
    /// equal exactly when the strings are, and renders them back).
    Decimal(&'static str, u64),
    /// `content: k=v, …`: the whole normalised content, rendered.
    Content(&'a str),
}

impl std::fmt::Display for Identity<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Identity::Unique(key, value) => write!(f, "{key}={value}"),
            Identity::Decimal(key, value) => write!(f, "{key}={value}"),
            Identity::Content(content) => f.write_str(content),
        }
    }
}

/// The objects of one identity in both states: how many, and the first of
/// each (the one whose properties are compared and reported).
struct Group<'a> {
    object_type: &'a str,
    identity: Identity<'a>,
    /// Whether the rendered identity holds `->` (an association string
    /// naming it could read as another association).
    arrow: bool,
    count: [usize; 2],
    first: [Option<&'a CrmObject>; 2],
}

const EXPECTED: usize = 0;
const ACTUAL: usize = 1;

/// Groups identities across both states, indexed by `(type, identity)`.
struct Groups<'a> {
    groups: Vec<Group<'a>>,
    /// The groups of [`Identity::Decimal`] identities, by type and unique
    /// property: helpdesk ids come in dense runs, which a [`NumberMap`]
    /// finds without a random probe into a table of every group.
    numbers: Vec<(&'a str, &'static str, NumberMap)>,
    /// The groups of every other identity, by `(type, identity)`.
    index: RowTable,
}

impl<'a> Groups<'a> {
    /// Adds the live objects of one side; returns the group of each (by
    /// its number in `index`).
    fn add(&mut self, side: usize, index: &'a CrmIndex<'a>) -> Vec<u32> {
        let mut of = Vec::with_capacity(index.live.len());
        // The last entry of `numbers` used, by the object's type position
        // and the property (the same `&'static str`): objects come in runs
        // of one type.
        let mut last: Option<(u32, &'static str, usize)> = None;
        for live in &index.live {
            let object_type = index.types[live.object_type as usize];
            let identity = match live.identity {
                Slot::Unique(key, value) => match decimal(value) {
                    Some(number) => Identity::Decimal(key, number),
                    None => Identity::Unique(key, value),
                },
                Slot::Content(start, end) => Identity::Content(index.content(start, end)),
            };
            let next = self.groups.len() as u32;
            let g = match identity {
                Identity::Decimal(key, number) => {
                    let at = match last {
                        Some((t, k, at)) if t == live.object_type && std::ptr::eq(k, key) => at,
                        _ => {
                            let found = self
                                .numbers
                                .iter()
                                .position(|&(t, k, _)| t == object_type && k == key);
                            let at = found.unwrap_or_else(|| {
                                self.numbers.push((object_type, key, NumberMap::new()));
                                self.numbers.len() - 1
                            });
                            last = Some((live.object_type, key, at));
                            at
                        }
                    };
                    self.numbers[at].2.get_or_insert(number, next)
                }
                _ => {
                    let groups = &self.groups;
                    self.index.number_or((object_type, identity), next, |g| {
                        let g = &groups[g as usize];
                        (g.object_type, g.identity)
                    })
                }
            };
            if g == next {
                let arrow = match identity {
                    Identity::Unique(_, value) => value.contains("->"),
                    Identity::Decimal(..) => false,
                    Identity::Content(content) => content.contains("->"),
                };
                self.groups.push(Group {
                    object_type,
                    identity,
                    arrow,
                    count: [0; 2],
                    first: [None; 2],
                });
            }
            let group = &mut self.groups[g as usize];
            group.count[side] += 1;
            group.first[side].get_or_insert(live.object);
            of.push(g);
        }
        of
    }

    /// The differences between the objects of both sides, in
    /// `(type, identity)` order; compared in two halves on two threads when
    /// `parallel`.
    fn differences(&self, parallel: bool, out: &mut Vec<Difference>) {
        fn differing<'g, 'a>(groups: &'g [Group<'a>]) -> Vec<(&'g Group<'a>, String)> {
            groups
                .iter()
                .filter(|g| {
                    g.count[EXPECTED] != g.count[ACTUAL]
                        || match g.first {
                            [Some(e), Some(a)] => !same_normalised(e, a),
                            _ => false,
                        }
                })
                .map(|g| (g, g.identity.to_string()))
                .collect()
        }
        let (first, second) = self.groups.split_at(self.groups.len() / 2);
        let (mut differing, rest) = both(parallel, || differing(first), || differing(second));
        differing.extend(rest);
        differing.sort_unstable_by(|(g, i), (h, j)| (g.object_type, i).cmp(&(h.object_type, j)));
        for (g, identity) in differing {
            let object_type = g.object_type;
            let [e, a] = g.count;
            if e > a {
                out.push(Difference::Missing {
                    object_type: object_type.to_string(),
                    identity: identity.clone(),
                    expected: e,
                    actual: a,
                    properties: g.first[EXPECTED].map(normalise).unwrap_or_default(),
                });
            } else if a > e {
                out.push(Difference::Extra {
                    object_type: object_type.to_string(),
                    identity: identity.clone(),
                    expected: e,
                    actual: a,
                    properties: g.first[ACTUAL].map(normalise).unwrap_or_default(),
                });
            }
            if let [Some(eo), Some(ao)] = g.first
                && !same_normalised(eo, ao)
            {
                let (ep, ap) = (normalise(eo), normalise(ao));
                let keys: Vec<String> = ep
                    .keys()
                    .chain(ap.keys())
                    .filter(|k| ep.get(*k) != ap.get(*k))
                    .cloned()
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                out.push(Difference::Mismatch {
                    object_type: object_type.to_string(),
                    identity,
                    expected: ep,
                    actual: ap,
                    keys,
                });
            }
        }
    }
}

/// One end of an association: an object's identity group, or the CRM id of
/// an object the state does not hold (rendered `id …`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum End<'a> {
    Object(u32),
    Id(&'a str),
}

/// An association with its endpoints resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct AssociationKey<'a> {
    from_type: &'a str,
    from: End<'a>,
    to_type: &'a str,
    to: End<'a>,
    type_id: u32,
}

impl<'a> Groups<'a> {
    /// Resolves `a`'s ends, `ends` (their live objects in the state's
    /// index), with `groups`, the group of each live object. Its types are
    /// replaced by the equal strings of `types` (the snapshots' object
    /// types) when there are some: a key is then compared with strings
    /// that stay in cache, not with the type strings of another
    /// association somewhere on the heap.
    fn resolve(
        groups: &[u32],
        types: &[&'a str],
        a: &'a Association,
        ends: [u32; 2],
    ) -> AssociationKey<'a> {
        let canonical = |t: &'a str| types.iter().copied().find(|c| *c == t).unwrap_or(t);
        let end = |n: u32, id: &'a str| match n {
            NONE => End::Id(id),
            n => End::Object(groups[n as usize]),
        };
        AssociationKey {
            from_type: canonical(&a.from_type),
            from: end(ends[0], &a.from_id),
            to_type: canonical(&a.to_type),
            to: end(ends[1], &a.to_id),
            type_id: a.type_id,
        }
    }

    /// `from_type:identity -> to_type:identity (type id)`.
    fn render(&self, key: &AssociationKey) -> String {
        let end = |e: End| match e {
            End::Object(g) => self.groups[g as usize].identity.to_string(),
            End::Id(id) => format!("id {id}"),
        };
        format!(
            "{}:{} -> {}:{} (type {})",
            key.from_type,
            end(key.from),
            key.to_type,
            end(key.to),
            key.type_id
        )
    }

    /// Whether two different keys could render to this key's string: only
    /// when a type holds `:` or the from end holds `->` (the string is read
    /// back as the type up to the first `:`, the from end up to the first
    /// ` -> `, the to type up to the next `:`, and the type id after the
    /// last ` (type `).
    fn ambiguous(&self, key: &AssociationKey) -> bool {
        key.from_type.contains(':')
            || key.to_type.contains(':')
            || match key.from {
                End::Object(g) => self.groups[g as usize].arrow,
                End::Id(id) => id.contains("->"),
            }
    }
}

/// Counts keys of both sides; returns those counted differently, as
/// `(rendered key, expected count, actual count)`.
fn count_associations<K: Hash + Eq>(
    sides: [Vec<K>; 2],
    render: impl Fn(&K) -> String,
) -> Vec<(String, usize, usize)> {
    let mut counts: HashMap<K, [usize; 2]> = HashMap::with_capacity(sides[EXPECTED].len());
    for (side, keys) in sides.into_iter().enumerate() {
        for key in keys {
            counts.entry(key).or_default()[side] += 1;
        }
    }
    counts
        .iter()
        .filter(|(_, [e, a])| e != a)
        .map(|(k, [e, a])| (render(k), *e, *a))
        .collect()
}

/// [`count_associations`] of keys sorted on each side: counts runs of
/// equal keys, merging both sides in one pass.
fn count_sorted<K: Ord>(
    sides: [&[K]; 2],
    render: impl Fn(&K) -> String,
) -> Vec<(String, usize, usize)> {
    let [mut e, mut a] = sides;
    let mut differing = Vec::new();
    loop {
        let key = match (e.first(), a.first()) {
            (Some(x), Some(y)) => x.min(y),
            (Some(x), None) | (None, Some(x)) => x,
            (None, None) => return differing,
        };
        let run = |keys: &[K]| keys.iter().take_while(|k| *k == key).count();
        let (expected, actual) = (run(e), run(a));
        if expected != actual {
            differing.push((render(key), expected, actual));
        }
        e = &e[expected..];
        a = &a[actual..];
    }
}

/// Reports associations counted differently, in the order of their strings.
fn report_associations(mut differing: Vec<(String, usize, usize)>, out: &mut Vec<Difference>) {
    differing.sort_unstable();
    for (association, expected, actual) in differing {
        out.push(if expected > actual {
            Difference::MissingAssociation {
                association,
                expected,
                actual,
            }
        } else {
            Difference::ExtraAssociation {
                association,
                expected,
                actual,
            }
        });
    }
}

/// An [`AssociationKey`] whose ends are both objects, packed into one
/// number (sorted and compared without reading any string): its types by
/// position in the list of both states' types (below 2¹⁶), its ends'
/// groups and its type id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Packed(u128);

impl Packed {
    /// Packs `[from type, from group, to type, to group, type id]`.
    fn new([from_type, from, to_type, to, type_id]: [u32; 5]) -> Packed {
        debug_assert!(from_type <= u32::from(u16::MAX) && to_type <= u32::from(u16::MAX));
        Packed(
            u128::from(from_type) << 112
                | u128::from(from) << 80
                | u128::from(to_type) << 64
                | u128::from(to) << 32
                | u128::from(type_id),
        )
    }

    /// `[from type, from group, to type, to group, type id]`.
    fn fields(self) -> [u32; 5] {
        let field = |shift: u32, bits: u32| ((self.0 >> shift) & ((1u128 << bits) - 1)) as u32;
        [
            field(112, 16),
            field(80, 32),
            field(64, 16),
            field(32, 32),
            field(0, 32),
        ]
    }

    /// The key, its types read from `types`.
    fn key<'a>(self, types: &[&'a str]) -> AssociationKey<'a> {
        let [from_type, from, to_type, to, type_id] = self.fields();
        AssociationKey {
            from_type: types[from_type as usize],
            from: End::Object(from),
            to_type: types[to_type as usize],
            to: End::Object(to),
            type_id,
        }
    }
}

/// Compares `expected` with `actual`.
///
/// Objects are reported in `(type, identity)` order (for each, a count
/// difference before a property mismatch), then associations in the order
/// of their strings.
///
/// Large states are listed and compared on two threads.
pub fn diff_states(expected: &CrmSnapshot, actual: &CrmSnapshot) -> StateDiff {
    let objects = [expected, actual]
        .iter()
        .map(|s| s.objects.values().map(Vec::len).sum::<usize>())
        .sum::<usize>();
    diff_on(expected, actual, objects >= PARALLEL_FROM)
}

/// [`diff_states`], on two threads when `parallel`.
fn diff_on(expected: &CrmSnapshot, actual: &CrmSnapshot, parallel: bool) -> StateDiff {
    let (expected, actual) = both(
        parallel,
        || CrmIndex::new(expected),
        || CrmIndex::new(actual),
    );
    diff_indexed(&expected, &actual, parallel)
}

/// [`diff_states`] of two indexed states, on two threads when `parallel`.
pub(crate) fn diff_indexed(expected: &CrmIndex, actual: &CrmIndex, parallel: bool) -> StateDiff {
    let mut groups = Groups {
        groups: Vec::with_capacity(expected.live.len()),
        numbers: Vec::new(),
        index: RowTable::with_capacity(expected.live.len()),
    };
    let of = [groups.add(EXPECTED, expected), groups.add(ACTUAL, actual)];
    let mut differences = Vec::new();
    groups.differences(parallel, &mut differences);
    let indexes = [expected, actual];
    let mut types: Vec<&str> = expected.types.clone();
    types.extend(
        actual
            .types
            .iter()
            .filter(|t| !expected.types.contains(t))
            .copied(),
    );
    // Each side's type positions in `types`; keys are packed only when
    // every position fits in 16 bits.
    let positions: [Vec<u32>; 2] = indexes.map(|index| {
        let position = |t: &&str| types.iter().position(|c| c == t).unwrap_or_default() as u32;
        index.types.iter().map(position).collect()
    });
    let packable = types.len() <= usize::from(u16::MAX) + 1;
    // Each side's associations: packed and sorted when both ends are
    // objects, as keys otherwise.
    let resolved = |side: usize| -> (Vec<Packed>, Vec<AssociationKey>) {
        let index = indexes[side];
        let (of, positions) = (&of[side], &positions[side]);
        let mut packed = Vec::with_capacity(index.snapshot.associations.len());
        let mut keys = Vec::new();
        for (i, a) in (0..).zip(&index.snapshot.associations) {
            match index.ends(i) {
                [from, to] if packable && from != NONE && to != NONE => {
                    let position = |n: u32| positions[index.type_of(n) as usize];
                    packed.push(Packed::new([
                        position(from),
                        of[from as usize],
                        position(to),
                        of[to as usize],
                        a.type_id,
                    ]));
                }
                ends => keys.push(Groups::resolve(of, &types, a, ends)),
            }
        }
        packed.sort_unstable();
        (packed, keys)
    };
    let ((packed_e, keys_e), (packed_a, keys_a)) =
        both(parallel, || resolved(EXPECTED), || resolved(ACTUAL));
    // As `Groups::ambiguous`, reading each type's string once.
    let colon: Vec<bool> = types.iter().map(|t| t.contains(':')).collect();
    let any_ambiguous = [&keys_e, &keys_a]
        .into_iter()
        .flatten()
        .any(|k| groups.ambiguous(k))
        || [&packed_e, &packed_a].into_iter().flatten().any(|p| {
            let [from_type, from, to_type, ..] = p.fields();
            colon[from_type as usize]
                || colon[to_type as usize]
                || groups.groups[from as usize].arrow
        });
    let differing = if any_ambiguous {
        // Distinct keys may render alike: count the strings themselves.
        let strings = [(packed_e, keys_e), (packed_a, keys_a)].map(|(packed, keys)| {
            packed
                .iter()
                .map(|p| p.key(&types))
                .chain(keys)
                .map(|k| groups.render(&k))
                .collect::<Vec<String>>()
        });
        count_associations(strings, String::clone)
    } else {
        let mut differing = count_sorted([&packed_e, &packed_a], |p| groups.render(&p.key(&types)));
        differing.extend(count_associations([keys_e, keys_a], |k| groups.render(k)));
        differing
    };
    report_associations(differing, &mut differences);
    StateDiff { differences }
}

/// What the reference model below reads from its parent module.
#[cfg(test)]
use crate::crm::{crm_assigned_properties, unique_properties};

#[cfg(test)]
#[path = "../../benches/support/baseline_diff.rs"]
mod reference;

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

    #[test]
    fn unique_property_names_render_identities_unambiguously() {
        // `Identity` compares unique identities as (name, value): equal to
        // comparing `name=value` strings only if names hold no `=` or space.
        for object_type in crate::crm::OBJECT_TYPES {
            for key in unique_properties(object_type) {
                assert!(
                    key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                    "{key}"
                );
            }
        }
    }

    #[test]
    fn differences_are_reported_by_type_then_identity_then_association() {
        let expected = state(
            vec![
                object(
                    "tickets",
                    "1",
                    &[("helpdesk_ticket_id", "2"), ("subject", "a")],
                ),
                object(
                    "tickets",
                    "2",
                    &[("helpdesk_ticket_id", "10"), ("subject", "b")],
                ),
                object("contacts", "3", &[("email", "z@x")]),
                object("notes", "4", &[("hs_note_body", "b")]),
                object("notes", "5", &[("hs_note_body", "a")]),
            ],
            &[
                ("tickets", "1", "contacts", "3"),
                ("notes", "4", "tickets", "2"),
                ("notes", "5", "tickets", "1"),
            ],
        );
        let actual = state(
            vec![
                object(
                    "tickets",
                    "1",
                    &[("helpdesk_ticket_id", "2"), ("subject", "c")],
                ),
                object(
                    "tickets",
                    "2",
                    &[("helpdesk_ticket_id", "10"), ("subject", "d")],
                ),
                object(
                    "tickets",
                    "6",
                    &[("helpdesk_ticket_id", "10"), ("subject", "e")],
                ),
                object("contacts", "3", &[("email", "a@x")]),
            ],
            &[
                ("tickets", "2", "contacts", "3"),
                ("tickets", "2", "contacts", "3"),
            ],
        );
        let d = diff_states(&expected, &actual);
        assert_eq!(d, super::reference::diff_states(&expected, &actual));
        let described: Vec<String> = d.differences.iter().map(Difference::describe).collect();
        assert_eq!(
            described,
            vec![
                "contacts [email=a@x]: expected 0, found 1 (duplicates)",
                "contacts [email=z@x]: expected 1, found 0",
                "notes [content: hs_note_body=a]: expected 1, found 0",
                "notes [content: hs_note_body=b]: expected 1, found 0",
                "tickets [helpdesk_ticket_id=10]: expected 1, found 2 (duplicates)",
                "tickets [helpdesk_ticket_id=10] differs: subject: expected \"b\", found \"d\"",
                "tickets [helpdesk_ticket_id=2] differs: subject: expected \"a\", found \"c\"",
                "association notes:content: hs_note_body=a -> tickets:helpdesk_ticket_id=2 \
                 (type 16): expected 1, found 0",
                "association notes:content: hs_note_body=b -> tickets:helpdesk_ticket_id=10 \
                 (type 16): expected 1, found 0",
                "association tickets:helpdesk_ticket_id=10 -> contacts:email=a@x (type 16): \
                 expected 0, found 2 (duplicates)",
                "association tickets:helpdesk_ticket_id=2 -> contacts:email=z@x (type 16): \
                 expected 1, found 0",
            ]
        );
    }

    #[test]
    fn associations_that_read_alike_are_counted_as_one() {
        // Unresolved ends: `tickets:id 1 -> contacts:id 2 -> notes:id 3`
        // reads the same whether the arrow is in the from id or the to id.
        let expected = state(vec![], &[("tickets", "1 -> contacts:id 2", "notes", "3")]);
        let actual = state(vec![], &[("tickets", "1", "contacts", "2 -> notes:id 3")]);
        assert_eq!(diff_states(&expected, &actual).differences, vec![]);
        let twice = state(
            vec![],
            &[
                ("tickets", "1", "contacts", "2 -> notes:id 3"),
                ("tickets", "1 -> contacts:id 2", "notes", "3"),
            ],
        );
        let d = diff_states(&expected, &twice).differences;
        assert_eq!(
            d,
            super::reference::diff_states(&expected, &twice).differences
        );
        assert!(matches!(
            d[..],
            [Difference::ExtraAssociation {
                expected: 1,
                actual: 2,
                ..
            }]
        ));
    }

    #[test]
    fn packed_association_keys_round_trip_and_sort_by_their_fields() {
        let types = ["contacts", "notes", "a:b"];
        let fields = [2, u32::MAX - 1, 1, 7, u32::MAX];
        let packed = Packed::new(fields);
        assert_eq!(packed.fields(), fields);
        assert_eq!(
            packed.key(&types),
            AssociationKey {
                from_type: "a:b",
                from: End::Object(u32::MAX - 1),
                to_type: "notes",
                to: End::Object(7),
                type_id: u32::MAX,
            }
        );
        assert!(Packed::new([1, 9, 0, 0, 0]) < Packed::new([2, 0, 0, 0, 0]));
        assert!(Packed::new([0, 0, 0, 0, 9]) < Packed::new([0, 0, 0, 1, 0]));
    }

    #[test]
    fn counting_sorted_keys_finds_what_counting_in_a_map_finds() {
        let sides = [vec![1, 1, 2, 4, 4, 4, 7], vec![0, 1, 2, 2, 4, 4, 4, 9, 9]];
        let render = |k: &i32| format!("k{k}");
        let mut sorted = count_sorted([&sides[0], &sides[1]], render);
        let mut mapped = count_associations(sides.clone(), render);
        sorted.sort_unstable();
        mapped.sort_unstable();
        assert_eq!(
            sorted,
            vec![
                ("k0".to_string(), 0, 1),
                ("k1".to_string(), 2, 1),
                ("k2".to_string(), 1, 2),
                ("k7".to_string(), 1, 0),
                ("k9".to_string(), 0, 2),
            ]
        );
        assert_eq!(sorted, mapped);
        assert!(count_sorted::<i32>([&[], &[]], render).is_empty());
    }

    mod same_as_reference {
        use super::*;
        use proptest::prelude::*;

        const TYPES: &[&str] = &["contacts", "tickets", "notes", "a:b"];
        const KEYS: &[&str] = &[
            "email",
            "helpdesk_ticket_id",
            "subject",
            "hs_note_body",
            "hs_object_id",
            "createdate",
        ];
        const VALUES: &[&str] = &["", "x", "y", "a -> b", "->", "a, b=c", "x:y", "id 1"];
        const IDS: &[&str] = &["1", "2", "3", "4", "1 -> x", "5"];

        fn snapshot() -> impl Strategy<Value = CrmSnapshot> {
            let objects = (
                0..TYPES.len(),
                0..IDS.len(),
                proptest::collection::vec((0..KEYS.len(), 0..VALUES.len()), 0..4),
                proptest::bool::weighted(0.1),
            );
            let association = (
                0..TYPES.len(),
                0..IDS.len(),
                0..TYPES.len(),
                0..IDS.len(),
                15u32..17,
            );
            (
                proptest::collection::vec(objects, 0..12),
                proptest::collection::vec(association, 0..12),
            )
                .prop_map(|(objects, associations)| {
                    let mut s = CrmSnapshot::default();
                    for (t, id, props, archived) in objects {
                        let props: Vec<(&str, &str)> =
                            props.iter().map(|&(k, v)| (KEYS[k], VALUES[v])).collect();
                        let mut o = object(TYPES[t], IDS[id], &props);
                        o.archived = archived;
                        s.objects.entry(TYPES[t].to_string()).or_default().push(o);
                    }
                    s.associations = associations
                        .into_iter()
                        .map(|(ft, fi, tt, ti, type_id)| Association {
                            from_type: TYPES[ft].into(),
                            from_id: IDS[fi].into(),
                            to_type: TYPES[tt].into(),
                            to_id: IDS[ti].into(),
                            category: "HUBSPOT_DEFINED".into(),
                            type_id,
                        })
                        .collect();
                    s
                })
        }

        proptest! {
            #[test]
            fn diff_states_matches_the_owned_implementation(a in snapshot(), b in snapshot()) {
                let reference = super::super::reference::diff_states(&a, &b);
                prop_assert_eq!(&diff_states(&a, &b), &reference);
                // On two threads, as for large states.
                prop_assert_eq!(&diff_on(&a, &b, true), &reference);
            }
        }
    }
}
