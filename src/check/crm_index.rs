//! A CRM snapshot indexed once per `run_checks` for the checks that read
//! it (the differential diff and the declared-mapping oracle): its live
//! objects in snapshot order with their identities, its objects by CRM id
//! without hashing the ids when they are the store's numbers, and every
//! association's ends resolved to live objects.

use crate::crm::{CrmObject, CrmSnapshot, is_crm_assigned, unique_properties};
use crate::short_str;
use foldhash::{HashMap, HashMapExt};

/// No object: an empty slot of the tables below.
pub(crate) const NONE: u32 = u32::MAX;

/// Where a live object's identity is: a unique property of the object, or
/// a byte range of [`CrmIndex::arena`], where its content is rendered.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Slot<'a> {
    /// `key=value`: the first unique property the object has, with a value.
    Unique(&'static str, &'a str),
    /// `content: k=v, …`: the whole normalised content, rendered.
    Content(usize, usize),
}

/// A live (not archived) object: its type (by position in
/// [`CrmIndex::types`]), the object, and where its identity is.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LiveObject<'a> {
    /// Position of its type in [`CrmIndex::types`].
    pub(crate) object_type: u32,
    /// The object.
    pub(crate) object: &'a CrmObject,
    /// Its identity.
    pub(crate) identity: Slot<'a>,
}

/// The properties of `object` the oracles compare: those the CRM does not
/// assign, with a value, in key order.
pub(crate) fn normalised(object: &CrmObject) -> impl Iterator<Item = (&String, &String)> + Clone {
    object
        .properties
        .iter()
        .filter(|(k, v)| !v.is_empty() && !is_crm_assigned(k))
}

/// Whether [`normalised`] `a` and `b` are equal. Walks both property maps
/// in step while their keys agree (then a key's entries are equal, or both
/// left out as CRM-assigned, or the sequences differ: a key's value that
/// differs and is not CRM-assigned is kept on at least one side, and the
/// other side has no other entry of that key); compares the normalised
/// sequences themselves only when the keys do not agree.
pub(crate) fn same_normalised(a: &CrmObject, b: &CrmObject) -> bool {
    if a.properties.len() == b.properties.len() {
        let mut aligned = true;
        for ((ka, va), (kb, vb)) in a.properties.iter().zip(&b.properties) {
            if !short_str::eq(ka, kb) {
                aligned = false;
                break;
            }
            if !short_str::eq(va, vb) && !is_crm_assigned(ka) {
                return false;
            }
        }
        if aligned {
            return true;
        }
    }
    normalised(a).eq(normalised(b))
}

/// A decimal number written as the store writes CRM ids (digits, no
/// leading zero, below 10¹⁹), as its number: two such strings are equal
/// exactly when their numbers are.
pub(crate) fn decimal(text: &str) -> Option<u64> {
    let bytes = text.as_bytes();
    let canonical = !bytes.is_empty()
        && bytes.len() <= 19
        && bytes.iter().all(u8::is_ascii_digit)
        && (bytes[0] != b'0' || bytes.len() == 1);
    canonical.then(|| {
        bytes
            .iter()
            .fold(0u64, |n, &b| n * 10 + u64::from(b - b'0'))
    })
}

/// The live objects of one type by CRM id (the last one of an id).
#[derive(Debug)]
enum Ids<'a> {
    /// Every id is a number of a small range: by `id - base`.
    Dense { base: u64, objects: Vec<u32> },
    /// Any other ids.
    Strings(HashMap<&'a str, u32>),
}

impl<'a> Ids<'a> {
    /// Indexes `live` (numbered from `first`), setting `previous` of an
    /// object whose id an earlier object of the type has.
    fn new(live: &[LiveObject<'a>], first: u32, previous: &mut [u32]) -> Ids<'a> {
        let numbers: Option<Vec<u64>> = live.iter().map(|o| decimal(&o.object.id)).collect();
        let range = numbers.as_ref().and_then(|numbers| {
            let min = *numbers.iter().min()?;
            let max = *numbers.iter().max()?;
            let span = usize::try_from(max - min).ok()?;
            (span < 4 * numbers.len() + 4096).then_some((min, span + 1))
        });
        let mut set = |n: u32, slot: &mut u32| {
            if *slot != NONE {
                previous[n as usize] = *slot;
            }
            *slot = n;
        };
        match (numbers, range) {
            (Some(numbers), Some((base, span))) => {
                let mut objects = vec![NONE; span];
                for (n, number) in (first..).zip(numbers) {
                    set(n, &mut objects[(number - base) as usize]);
                }
                Ids::Dense { base, objects }
            }
            _ => {
                let mut map = HashMap::with_capacity(live.len());
                for (n, o) in (first..).zip(live) {
                    set(n, map.entry(o.object.id.as_str()).or_insert(NONE));
                }
                Ids::Strings(map)
            }
        }
    }

    /// The last live object with CRM id `id`, or [`NONE`].
    fn get(&self, id: &str) -> u32 {
        match self {
            Ids::Dense { base, objects } => decimal(id)
                .and_then(|n| n.checked_sub(*base))
                .and_then(|i| objects.get(usize::try_from(i).ok()?))
                .copied()
                .unwrap_or(NONE),
            Ids::Strings(map) => map.get(id).copied().unwrap_or(NONE),
        }
    }
}

/// A [`CrmSnapshot`] indexed for the checks (see the module's comment).
#[derive(Debug)]
pub(crate) struct CrmIndex<'a> {
    /// The indexed snapshot.
    pub(crate) snapshot: &'a CrmSnapshot,
    /// Its object types, in its order.
    pub(crate) types: Vec<&'a str>,
    /// Its live objects, in its order (by type, then as listed); an
    /// object's position here is its number.
    pub(crate) live: Vec<LiveObject<'a>>,
    /// The live objects of type `t` are numbered `starts[t]..starts[t + 1]`.
    starts: Vec<u32>,
    /// The rendered content identities.
    pub(crate) arena: String,
    /// By live object: the previous live object of its type with its CRM
    /// id, or [`NONE`] (only when the snapshot has associations).
    previous: Vec<u32>,
    /// By association: its from and to ends' live objects (the last one of
    /// that type and id), or [`NONE`].
    ends: Vec<[u32; 2]>,
}

impl<'a> CrmIndex<'a> {
    /// Indexes `snapshot` (objects by CRM id and association ends only when
    /// it has associations: nothing else looks objects up by id).
    pub(crate) fn new(snapshot: &'a CrmSnapshot) -> CrmIndex<'a> {
        let mut index = CrmIndex {
            snapshot,
            types: Vec::with_capacity(snapshot.objects.len()),
            live: Vec::with_capacity(snapshot.objects.values().map(Vec::len).sum()),
            starts: vec![0],
            arena: String::new(),
            previous: Vec::new(),
            ends: Vec::new(),
        };
        for (t, (object_type, objects)) in (0..).zip(&snapshot.objects) {
            index.types.push(object_type);
            let uniques = unique_properties(object_type);
            for object in crate::crm::warmed(objects).filter(|o| !o.archived) {
                let unique = uniques.iter().find_map(|key| {
                    object
                        .properties
                        .get(*key)
                        .filter(|v| !v.is_empty() && !is_crm_assigned(key))
                        .map(|v| (*key, v.as_str()))
                });
                let identity = match unique {
                    Some((key, value)) => Slot::Unique(key, value),
                    None => {
                        let arena = &mut index.arena;
                        let start = arena.len();
                        arena.push_str("content: ");
                        for (i, (k, v)) in normalised(object).enumerate() {
                            if i > 0 {
                                arena.push_str(", ");
                            }
                            arena.push_str(k);
                            arena.push('=');
                            arena.push_str(v);
                        }
                        Slot::Content(start, arena.len())
                    }
                };
                index.live.push(LiveObject {
                    object_type: t,
                    object,
                    identity,
                });
            }
            index.starts.push(index.live.len() as u32);
        }
        if !snapshot.associations.is_empty() {
            index.previous = vec![NONE; index.live.len()];
            let ids: Vec<Ids> = index
                .starts
                .windows(2)
                .map(|w| {
                    let live = &index.live[w[0] as usize..w[1] as usize];
                    Ids::new(live, w[0], &mut index.previous)
                })
                .collect();
            let end = |object_type: &str, id: &str| {
                index
                    .type_position(object_type)
                    .map_or(NONE, |t| ids[t as usize].get(id))
            };
            let ends = snapshot
                .associations
                .iter()
                .map(|a| [end(&a.from_type, &a.from_id), end(&a.to_type, &a.to_id)])
                .collect();
            index.ends = ends;
        }
        index
    }

    /// The position of `object_type` in [`CrmIndex::types`].
    pub(crate) fn type_position(&self, object_type: &str) -> Option<u32> {
        self.types
            .iter()
            .position(|t| short_str::eq(t, object_type))
            .map(|t| t as u32)
    }

    /// The numbers of the live objects of the type at `position`.
    pub(crate) fn range(&self, position: u32) -> std::ops::Range<usize> {
        let t = position as usize;
        self.starts[t] as usize..self.starts[t + 1] as usize
    }

    /// The type (its position) of live object `n`.
    pub(crate) fn type_of(&self, n: u32) -> u32 {
        (self.starts.partition_point(|&s| s <= n) - 1) as u32
    }

    /// The ends (from, to) of association `i`: the last live object of each
    /// end's type and CRM id, or [`NONE`].
    pub(crate) fn ends(&self, i: usize) -> [u32; 2] {
        self.ends[i]
    }

    /// The live object before `n` with its type and CRM id, or [`NONE`].
    pub(crate) fn previous(&self, n: u32) -> u32 {
        self.previous[n as usize]
    }

    /// The rendered identity text of a [`Slot::Content`].
    pub(crate) fn content(&self, start: usize, end: usize) -> &str {
        &self.arena[start..end]
    }

    /// The value of `property` of live object `o` (read from its identity
    /// when that is the property, without a lookup in its map).
    pub(crate) fn property<'s>(&'s self, o: &LiveObject<'a>, property: &str) -> Option<&'a str> {
        match o.identity {
            Slot::Unique(key, value) if key == property => Some(value),
            _ => o.object.properties.get(property).map(String::as_str),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::diff::tests::{object, state};
    use super::*;

    #[test]
    fn only_canonical_decimals_are_numbers() {
        assert_eq!(decimal("1000001"), Some(1_000_001));
        assert_eq!(decimal("0"), Some(0));
        for id in ["", "01", "-1", "+1", "1 ", "x", "12345678901234567890"] {
            assert_eq!(decimal(id), None, "{id:?}");
        }
        assert_eq!(
            decimal("1234567890123456789"),
            Some(1_234_567_890_123_456_789)
        );
    }

    #[test]
    fn association_ends_resolve_to_the_last_live_object_of_their_type_and_id() {
        let mut archived = object("tickets", "3", &[("helpdesk_ticket_id", "9")]);
        archived.archived = true;
        for ids in [["1", "2", "3"], ["1", "x", "01"]] {
            let s = state(
                vec![
                    object("contacts", ids[0], &[("email", "a@x")]),
                    object("tickets", ids[1], &[("helpdesk_ticket_id", "7")]),
                    object("tickets", ids[1], &[("helpdesk_ticket_id", "8")]),
                    archived.clone(),
                    object("notes", ids[2], &[("hs_note_body", "n")]),
                ],
                &[
                    ("tickets", ids[1], "contacts", ids[0]),
                    ("tickets", "3", "contacts", "2"),
                    ("notes", ids[2], "tickets", ids[1]),
                    ("tickets", "1", "deals", ids[0]),
                    ("tickets", "01", "contacts", "1"),
                ],
            );
            let index = CrmIndex::new(&s);
            // Types in snapshot order: contacts, notes, tickets.
            assert_eq!(index.types, vec!["contacts", "notes", "tickets"]);
            assert_eq!(index.live.len(), 4);
            assert_eq!(index.range(2), 2..4);
            assert_eq!(index.type_of(0), 0);
            assert_eq!(index.type_of(1), 1);
            assert_eq!(index.type_of(3), 2);
            assert_eq!(index.ends(0), [3, 0]);
            assert_eq!(index.previous(3), 2);
            assert_eq!(index.previous(2), NONE);
            assert_eq!(index.ends(1), [NONE, NONE]);
            assert_eq!(index.ends(2), [1, 3]);
            assert_eq!(index.ends(3), [NONE, NONE]);
            assert_eq!(index.ends(4), [NONE, 0]);
            assert!(matches!(
                index.live[1].identity,
                Slot::Content(start, end) if index.content(start, end) == "content: hs_note_body=n"
            ));
            assert_eq!(
                index.property(&index.live[3], "helpdesk_ticket_id"),
                Some("8")
            );
            assert_eq!(index.property(&index.live[3], "subject"), None);
        }
    }

    proptest::proptest! {
        #[test]
        fn same_normalised_agrees_with_comparing_the_normalised_sequences(
            a in proptest::collection::vec((0..5usize, 0..3usize), 0..6),
            b in proptest::collection::vec((0..5usize, 0..3usize), 0..6),
        ) {
            // Two CRM-assigned keys among them, and empty values.
            const KEYS: &[&str] = &["createdate", "email", "hs_object_id", "subject", "zz"];
            const VALUES: &[&str] = &["", "x", "y"];
            let make = |props: &[(usize, usize)]| {
                let mut o = object("tickets", "1", &[]);
                o.properties = props
                    .iter()
                    .map(|&(k, v)| (KEYS[k].to_string(), VALUES[v].to_string()))
                    .collect();
                o
            };
            let (a, b) = (make(&a), make(&b));
            proptest::prop_assert_eq!(
                same_normalised(&a, &b),
                normalised(&a).eq(normalised(&b))
            );
        }
    }

    #[test]
    fn same_normalised_ignores_assigned_and_empty_properties_only() {
        let a = object("tickets", "1", &[("subject", "s"), ("content", "")]);
        let b = object("tickets", "2", &[("subject", "s")]);
        assert!(same_normalised(&a, &b));
        let c = object("tickets", "1", &[("subject", "t"), ("content", "")]);
        assert!(!same_normalised(&a, &c));
        let d = object("tickets", "1", &[("subject", "s"), ("content", "c")]);
        assert!(!same_normalised(&a, &d));
    }

    #[test]
    fn sparse_numeric_ids_are_looked_up_as_strings() {
        let s = state(
            vec![
                object("tickets", "1", &[("helpdesk_ticket_id", "7")]),
                object("tickets", "99999999999", &[("helpdesk_ticket_id", "8")]),
            ],
            &[("tickets", "99999999999", "tickets", "1")],
        );
        let index = CrmIndex::new(&s);
        assert_eq!(index.ends(0), [1, 0]);
    }
}
