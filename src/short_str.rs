//! Equality of short strings without a call into the C library.
//!
//! `a == b` on two strings compares their lengths and then calls `memcmp`,
//! a call through the dynamic linker that costs more than the comparison
//! itself when the strings are a few bytes long, as property names, ids and
//! most CRM values are. The checks compare millions of them over a large
//! run (see BENCHMARKS.md); [`eq`] compares up to 32 bytes as a few
//! overlapping machine words, inline, and calls `memcmp` only beyond.

/// Whether `a` and `b` are equal (as `a == b`).
#[inline]
pub(crate) fn eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let n = a.len();
    if n != b.len() {
        return false;
    }
    // Two reads of `W` bytes, at the start and at the end (overlapping
    // when `n < 2 W`), cover every byte of an `n`-byte string with
    // `W <= n <= 2 W`.
    macro_rules! ends {
        ($w:literal, $t:ty) => {{
            let word = |s: &[u8], at: usize| {
                <$t>::from_ne_bytes(s[at..at + $w].try_into().expect("in bounds"))
            };
            word(a, 0) == word(b, 0) && word(a, n - $w) == word(b, n - $w)
        }};
    }
    match n {
        0 => true,
        1..=3 => a.iter().zip(b).all(|(x, y)| x == y),
        4..=7 => ends!(4, u32),
        8..=15 => ends!(8, u64),
        16..=32 => ends!(16, u128),
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn agrees_with_eq_at_every_length_and_every_differing_byte() {
        for n in 0..=40usize {
            let a: String = (0..n).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
            assert!(eq(&a, &a.clone()), "{a}");
            for i in 0..n {
                let mut b = a.clone().into_bytes();
                b[i] = b'Z';
                let b = String::from_utf8(b).unwrap();
                assert!(!eq(&a, &b), "{a} {b}");
            }
            assert!(!eq(&a, &format!("{a}x")));
        }
    }

    proptest! {
        #[test]
        fn agrees_with_eq(a in "[ab]{0,40}", b in "[ab]{0,40}") {
            prop_assert_eq!(eq(&a, &b), a == b);
        }
    }
}
