//! `--partition K/N`: deterministic shares of a list for a CI matrix.
//!
//! Item `i` (0-based position in the list) belongs to partition `i mod N + 1`.
//! The lists split this way are deterministic (the built-in suite in its
//! fixed order, a directory's scenario files sorted by name, fuzz cases by
//! their number), so N jobs with `--partition 1/N` … `N/N` run every item
//! exactly once, and `hookproof merge` puts their reports back together.

use std::fmt;
use std::str::FromStr;

/// One share of a list: the `index`-th of `count` (both 1-based in text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    /// Which share, 1..=count.
    pub index: usize,
    /// How many shares.
    pub count: usize,
}

/// A `--partition` value that is not `K/N` with 1 ≤ K ≤ N.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a partition; write K/N with 1 <= K <= N, e.g. 2/4")]
pub struct BadPartition(pub String);

impl FromStr for Partition {
    type Err = BadPartition;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadPartition(s.to_string());
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let index: usize = k.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Partition { index, count })
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Partition {
    /// Whether the item at 0-based `position` belongs to this share.
    pub fn includes(&self, position: usize) -> bool {
        position % self.count == self.index - 1
    }

    /// The items of `list` in this share, in order.
    pub fn select<T: Clone>(&self, list: &[T]) -> Vec<T> {
        list.iter()
            .enumerate()
            .filter(|(i, _)| self.includes(*i))
            .map(|(_, t)| t.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        assert_eq!(
            "2/4".parse::<Partition>().unwrap(),
            Partition { index: 2, count: 4 }
        );
        for bad in ["0/3", "4/3", "3", "a/b", "1/0", ""] {
            assert!(bad.parse::<Partition>().is_err(), "{bad}");
        }
    }

    #[test]
    fn shares_cover_the_list_exactly_once() {
        let list: Vec<usize> = (0..17).collect();
        for n in 1..=5 {
            let mut all: Vec<usize> = (1..=n)
                .flat_map(|k| Partition { index: k, count: n }.select(&list))
                .collect();
            all.sort();
            assert_eq!(all, list, "N = {n}");
        }
    }
}
