//! Exact duplicate rows: rows of one input whose every configured column is equal to an earlier row's,
//! the full timestamp included (not just its day). Copied-in twice, such rows double every count and sum
//! without a trace, so they are always counted, and dropped on request (the first of equal rows stays).
//!
//! Each row's key is hashed to a u64 and the hashes sorted to find the values that occur more than once;
//! only rows with such a hash are compared on their keys, so a hash collision never makes distinct rows
//! equal, and data without duplicates costs one hash and one sort of 8 bytes per row.

use rayon::prelude::*;
use rustc_hash::FxHasher;
use std::hash::{Hash, Hasher};

/// The rows (ascending) whose key equals the key of an earlier row; `key(i)` is row `i`'s key.
pub(crate) fn later_copies<K, F>(rows: usize, key: F) -> Vec<usize>
where
    K: Hash + PartialEq,
    F: Fn(usize) -> K + Sync,
{
    let hash_of = |row: usize| {
        let mut hasher = FxHasher::default();
        key(row).hash(&mut hasher);
        hasher.finish()
    };
    let repeated = repeated_hashes((0..rows).into_par_iter().map(hash_of).collect());
    if repeated.is_empty() {
        return Vec::new();
    }
    let mut candidates: Vec<(u64, usize)> = (0..rows)
        .into_par_iter()
        .filter_map(|row| {
            let hash = hash_of(row);
            repeated.binary_search(&hash).is_ok().then_some((hash, row))
        })
        .collect();
    candidates.par_sort_unstable();
    let mut copies = Vec::new();
    for same_hash in candidates.chunk_by(|a, b| a.0 == b.0) {
        let mut distinct: Vec<K> = Vec::with_capacity(1);
        for &(_, row) in same_hash {
            let row_key = key(row);
            if distinct.contains(&row_key) {
                copies.push(row);
            } else {
                distinct.push(row_key);
            }
        }
    }
    copies.sort_unstable();
    copies
}

/// The values that occur more than once in `hashes`, sorted.
fn repeated_hashes(mut hashes: Vec<u64>) -> Vec<u64> {
    hashes.par_sort_unstable();
    let mut repeated: Vec<u64> = hashes
        .windows(2)
        .filter(|pair| pair[0] == pair[1])
        .map(|pair| pair[0])
        .collect();
    repeated.dedup();
    repeated
}

/// A mask that is false at `rows` (ascending) and true elsewhere, over `len` rows.
pub(crate) fn keep_all_but(len: usize, rows: &[usize]) -> Vec<bool> {
    let mut keep = vec![true; len];
    for &row in rows {
        keep[row] = false;
    }
    keep
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_later_copies_are_reported() {
        let keys = [(1, 10), (2, 20), (1, 10), (1, 11), (1, 10), (2, 20)];
        assert_eq!(later_copies(keys.len(), |i| keys[i]), vec![2, 4, 5]);
        assert!(later_copies(3, |i| i).is_empty());
    }

    /// A key whose hash is the same for every row: equality, not the hash, decides.
    #[derive(PartialEq)]
    struct Colliding(u32);

    impl Hash for Colliding {
        fn hash<H: Hasher>(&self, state: &mut H) {
            0u8.hash(state);
        }
    }

    #[test]
    fn colliding_hashes_do_not_make_rows_equal() {
        let keys = [1, 2, 1, 3, 2];
        assert_eq!(later_copies(keys.len(), |i| Colliding(keys[i])), vec![2, 4]);
    }
}
