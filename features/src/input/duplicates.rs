//! Exact duplicate rows: rows of one input whose every configured column is equal to an earlier row's,
//! the full timestamp included (not just its day). Copied-in twice, such rows double every count and sum
//! without a trace, so they are always counted, and dropped on request (the first of equal rows stays).
//!
//! Each row's key is hashed to a u64, and the values that occur more than once are found bucket by bucket
//! (buckets by the hash's leading bits, each small enough to sort in cache); only rows with such a hash
//! are compared on their keys, so a hash collision never makes distinct rows equal, and data without
//! duplicates costs a hash and a partition of 8 bytes per row (rows are hashed again to find the
//! candidates only when some hash repeats).

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
    let repeated = repeated_hashes(rows, hash_of);
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

/// Rows whose hashes are partitioned together: each chunk's hashes are put in bucket order on their own,
/// in cache, and a bucket then gathers its part of every chunk.
const CHUNK_ROWS: usize = 1 << 18;

/// Hashes per bucket aimed at: a bucket's values (32 KiB) are sorted in cache.
const BUCKET_HASHES: usize = 4096;

/// The values that occur more than once among `hash(row)` for the `rows` rows, sorted.
///
/// One global sort of every hash would touch all of them about log₂(rows) times, out of cache. Instead
/// each chunk of rows puts its hashes in order of their leading bits (a counting sort into
/// 2^bits buckets), and each bucket, a few thousand hashes gathered from every chunk, is sorted alone.
/// Buckets follow the leading bits, so their repeated values, concatenated, are sorted.
fn repeated_hashes(rows: usize, hash: impl Fn(usize) -> u64 + Sync) -> Vec<u64> {
    let bits = (rows / BUCKET_HASHES).max(1).ilog2().min(16);
    let buckets = 1usize << bits;
    let bucket_of = |hash: u64| {
        if bits == 0 {
            0
        } else {
            (hash >> (64 - bits)) as usize
        }
    };
    // Each chunk's hashes in bucket order, in its part of one buffer (one allocation, given back whole
    // when it is dropped), with where each bucket starts (and the end).
    let mut ordered = vec![0u64; rows];
    let starts: Vec<Vec<u32>> = ordered
        .par_chunks_mut(CHUNK_ROWS)
        .enumerate()
        .map(|(chunk, ordered)| {
            let first = chunk * CHUNK_ROWS;
            let hashes: Vec<u64> = (first..first + ordered.len()).map(&hash).collect();
            let mut starts = vec![0u32; buckets + 1];
            for &h in &hashes {
                starts[bucket_of(h) + 1] += 1;
            }
            for b in 0..buckets {
                starts[b + 1] += starts[b];
            }
            let mut next = starts.clone();
            for h in hashes {
                let slot = &mut next[bucket_of(h)];
                ordered[*slot as usize] = h;
                *slot += 1;
            }
            starts
        })
        .collect();
    let chunks: Vec<(&[u64], &[u32])> = ordered
        .chunks(CHUNK_ROWS)
        .zip(&starts)
        .map(|(ordered, starts)| (ordered, starts.as_slice()))
        .collect();
    (0..buckets)
        .into_par_iter()
        .flat_map_iter(|bucket| {
            let mut values: Vec<u64> = chunks
                .iter()
                .flat_map(|&(ordered, starts)| &ordered[starts[bucket] as usize..starts[bucket + 1] as usize])
                .copied()
                .collect();
            values.sort_unstable();
            let mut repeated: Vec<u64> = values
                .windows(2)
                .filter(|pair| pair[0] == pair[1])
                .map(|pair| pair[0])
                .collect();
            repeated.dedup();
            repeated
        })
        .collect()
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

    /// Duplicates spread over many chunks and buckets are all found, each once, in order.
    #[test]
    fn repeated_hashes_are_found_across_chunks_and_buckets() {
        let rows = 3 * CHUNK_ROWS + 17;
        // A well-spread hash of each row (a bijection, so only planted repeats collide), where the
        // multiples of 1,000 within one block of 5,000 rows share one: repeats in every bucket, some of
        // them in two chunks (a block straddles each chunk boundary).
        let spread = |i: u64| i.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29) ^ 0xD6E8_FEB8_6659_FD93;
        let hash = |row: usize| {
            let row = row as u64;
            if row.is_multiple_of(1_000) {
                spread(row / 5_000)
            } else {
                spread(row + (1 << 40))
            }
        };
        let mut counts = std::collections::BTreeMap::new();
        for row in 0..rows {
            *counts.entry(hash(row)).or_insert(0) += 1;
        }
        let expected: Vec<u64> = counts
            .into_iter()
            .filter(|&(_, n)| n > 1)
            .map(|(h, _)| h)
            .collect();
        assert!(expected.len() > 100);
        assert_eq!(repeated_hashes(rows, hash), expected);
        assert_eq!(repeated_hashes(3, |_| 7), vec![7]);
        assert!(repeated_hashes(0, |_| 7).is_empty());
    }

    #[test]
    fn colliding_hashes_do_not_make_rows_equal() {
        let keys = [1, 2, 1, 3, 2];
        assert_eq!(later_copies(keys.len(), |i| Colliding(keys[i])), vec![2, 4]);
    }
}
