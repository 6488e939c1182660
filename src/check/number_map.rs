//! A map from `u64` keys to `u32` values for keys that mostly come in dense
//! runs (helpdesk ticket and comment ids, CRM ids): values sit in pages of
//! [`PAGE`] consecutive keys, found through a small map of page numbers, so
//! a lookup reads a few cache lines that neighbouring keys share instead of
//! a random slot of a large hash table. Keys too sparse for pages fall back
//! to a hash map.

use foldhash::{HashMap, HashMapExt};

/// Keys per page.
const PAGE: u64 = 1024;

/// An empty slot of a page (not a value: [`NumberMap::insert`] refuses it).
const EMPTY: u32 = u32::MAX;

/// See the module's comment.
#[derive(Debug)]
pub(crate) enum NumberMap {
    /// Values in pages: page number → its first slot in `slots`.
    Paged {
        pages: HashMap<u64, u32>,
        slots: Vec<u32>,
        len: usize,
    },
    /// Keys too sparse for pages.
    Hashed(HashMap<u64, u32>),
}

impl NumberMap {
    /// An empty map, paged until the keys prove sparse.
    pub(crate) fn new() -> NumberMap {
        NumberMap::Paged {
            pages: HashMap::new(),
            slots: Vec::new(),
            len: 0,
        }
    }

    /// The value of `key`, inserting `value` first when it has none.
    ///
    /// # Panics
    ///
    /// When `value` is `u32::MAX` (an empty slot).
    pub(crate) fn get_or_insert(&mut self, key: u64, value: u32) -> u32 {
        assert_ne!(value, EMPTY, "u32::MAX marks an empty slot");
        match self {
            NumberMap::Paged { pages, slots, len } => {
                let next = slots.len() as u32;
                let first = *pages.entry(key / PAGE).or_insert(next);
                if first == next {
                    // Pages beyond 64 slots a key (and a first megabyte):
                    // the keys are sparse.
                    if slots.len() as u64 + PAGE > 64 * (*len as u64 + 1) + (1 << 18) {
                        pages.remove(&(key / PAGE));
                        self.rehash();
                        return self.get_or_insert(key, value);
                    }
                    slots.resize(slots.len() + PAGE as usize, EMPTY);
                }
                let slot = &mut slots[(first as u64 + key % PAGE) as usize];
                if *slot == EMPTY {
                    *slot = value;
                    *len += 1;
                }
                *slot
            }
            NumberMap::Hashed(map) => *map.entry(key).or_insert(value),
        }
    }

    /// Turns a paged map into a hashed one.
    fn rehash(&mut self) {
        if let NumberMap::Paged { pages, slots, len } = self {
            let mut map = HashMap::with_capacity(*len);
            for (&page, &first) in pages.iter() {
                let values = &slots[first as usize..(first as u64 + PAGE) as usize];
                for (offset, &value) in (0..).zip(values) {
                    if value != EMPTY {
                        map.insert(page * PAGE + offset, value);
                    }
                }
            }
            *self = NumberMap::Hashed(map);
        }
    }

    /// The value of `key`, if any.
    pub(crate) fn get(&self, key: u64) -> Option<u32> {
        match self {
            NumberMap::Paged { pages, slots, .. } => pages
                .get(&(key / PAGE))
                .map(|&first| slots[(first as u64 + key % PAGE) as usize])
                .filter(|&v| v != EMPTY),
            NumberMap::Hashed(map) => map.get(&key).copied(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paged(map: &NumberMap) -> bool {
        matches!(map, NumberMap::Paged { .. })
    }

    #[test]
    fn dense_runs_stay_paged_and_keep_the_first_value() {
        let mut map = NumberMap::new();
        for (i, key) in (70_000..80_000)
            .chain(9_100_000_000..9_100_020_000)
            .enumerate()
        {
            assert_eq!(map.get_or_insert(key, i as u32), i as u32);
        }
        assert!(paged(&map));
        assert_eq!(map.get_or_insert(70_005, 99), 5);
        assert_eq!(map.get(70_005), Some(5));
        assert_eq!(map.get(9_100_000_001), Some(10_001));
        assert_eq!(map.get(69_999), None);
        assert_eq!(map.get(80_000), None);
        assert_eq!(map.get(u64::MAX), None);
    }

    #[test]
    fn sparse_keys_turn_the_map_into_a_hash_map_without_losing_any() {
        let mut map = NumberMap::new();
        let keys: Vec<u64> = (0..20_000u64).map(|i| i * 1_000_003 + 7).collect();
        for (i, &key) in keys.iter().enumerate() {
            assert_eq!(map.get_or_insert(key, i as u32), i as u32);
        }
        assert!(!paged(&map));
        for (i, &key) in keys.iter().enumerate() {
            assert_eq!(map.get(key), Some(i as u32));
            assert_eq!(map.get_or_insert(key, 0), i as u32);
        }
        assert_eq!(map.get(8), None);
        assert_eq!(map.get(u64::MAX), None);
    }
}
