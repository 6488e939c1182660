//! Keys numbered in order of first sight, found through a hash table of the
//! numbers alone.
//!
//! A map that holds each key beside its number puts both in every slot:
//! over the million event ids of a large log or the identities of a large
//! CRM state the table runs to tens of megabytes, and each lookup misses
//! the cache. The keys usually sit in a vector (or a vector of records) in
//! number order anyway; [`RowTable`] holds only the 4-byte numbers and
//! reads a key back through the caller's `key_of` when it compares or
//! rehashes (BENCHMARKS.md, round 7).

use hashbrown::HashTable;
use std::hash::{BuildHasher, Hash};

/// See the module's comment.
#[derive(Debug)]
pub(crate) struct RowTable {
    table: HashTable<u32>,
    hasher: foldhash::fast::RandomState,
}

impl RowTable {
    /// Room for `capacity` numbers.
    pub(crate) fn with_capacity(capacity: usize) -> RowTable {
        RowTable {
            table: HashTable::with_capacity(capacity),
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    /// The number of `key`, where number `n`'s key is `key_of(n)`; `next`
    /// when no number has it yet (the caller then records `next`'s key).
    pub(crate) fn number_or<K: Hash + Eq>(
        &mut self,
        key: K,
        next: u32,
        key_of: impl Fn(u32) -> K,
    ) -> u32 {
        let RowTable { table, hasher } = self;
        *table
            .entry(
                hasher.hash_one(&key),
                |&n| key_of(n) == key,
                |&n| hasher.hash_one(key_of(n)),
            )
            .or_insert(next)
            .get()
    }

    /// The number of `key`, if one has it.
    pub(crate) fn number<K: Hash + Eq>(&self, key: K, key_of: impl Fn(u32) -> K) -> Option<u32> {
        self.table
            .find(self.hasher.hash_one(&key), |&n| key_of(n) == key)
            .copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keys_in_order_of_first_sight_across_growth() {
        let keys: Vec<String> = (0..5000).map(|i| format!("ev-{}", i % 1500)).collect();
        let mut table = RowTable::with_capacity(4);
        let mut by_number: Vec<&str> = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            let next = by_number.len() as u32;
            let n = table.number_or(key.as_str(), next, |n| by_number[n as usize]);
            assert_eq!(n as usize, i % 1500, "{key}");
            if n == next {
                by_number.push(key);
            }
        }
        assert_eq!(by_number.len(), 1500);
        assert_eq!(
            table.number("ev-1499", |n| by_number[n as usize]),
            Some(1499)
        );
        assert_eq!(table.number("ev-1500", |n| by_number[n as usize]), None);
    }
}
