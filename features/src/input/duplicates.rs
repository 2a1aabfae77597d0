//! Exact duplicate rows: rows of one input whose every configured column is equal to an earlier row's,
//! the full timestamp included (not just its day). Copied-in twice, such rows double every count and sum
//! without a trace, so they are always counted, and dropped on request (the first of equal rows stays).
//!
//! Each row's key, a few 64-bit words, is hashed, and the hashes that occur more than once are found
//! bucket by bucket (buckets by the hash's leading bits, each small enough for the cache); only rows with
//! such a hash are compared on their keys, so a collision of these hashes never makes distinct rows
//! equal, and data without duplicates costs a hash and a partition of 8 bytes per row (rows are hashed
//! again to find the candidates only when some hash repeats). Order, product and category ids are held as
//! 64-bit hashes of the ids and compared as such.

use super::ids::CustomerIndex;
use crate::time::Day;
use rayon::prelude::*;

/// The rows (ascending) whose key equals the key of an earlier row; `key(i)` is row `i`'s key, words
/// that are equal exactly when the rows are.
pub(crate) fn later_copies<const N: usize>(
    rows: usize,
    key: impl Fn(usize) -> [u64; N] + Sync,
) -> Vec<usize> {
    later_copies_hashed(rows, |row| hash_words(key(row)), &key)
}

/// [`later_copies`] with `hash_of(i)` for the hash of row `i`'s key.
fn later_copies_hashed<K: PartialEq>(
    rows: usize,
    hash_of: impl Fn(usize) -> u64 + Sync,
    key: impl Fn(usize) -> K,
) -> Vec<usize> {
    let repeated = repeated_hashes(rows, &hash_of);
    if repeated.is_empty() {
        return Vec::new();
    }
    let repeated = HashFilter::new(&repeated);
    let mut candidates: Vec<(u64, usize)> = (0..rows)
        .into_par_iter()
        .filter_map(|row| {
            let hash = hash_of(row);
            repeated.contains(hash).then_some((hash, row))
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

/// A row's day and customer in one key word.
pub(crate) fn day_and_customer(day: Day, customer: CustomerIndex) -> u64 {
    (u64::from(day as u32) << 32) | u64::from(customer)
}

/// A hash of `words`: each word, offset by a constant, is multiplied by another as 128-bit numbers and
/// the product's halves xor-ed (the "folded multiply" of wyhash), rotated by its place, and the words'
/// results are combined and folded once more. The words do not wait on each other, so a row's few words
/// cost about one multiplication's latency.
fn hash_words<const N: usize>(words: [u64; N]) -> u64 {
    // Odd constants with well-spread bits: the fractional digits of π in hexadecimal.
    const CONSTANTS: [u64; 8] = [
        0x243F_6A88_85A3_08D3,
        0x1319_8A2E_0370_7345,
        0xA409_3822_299F_31D1,
        0x082E_FA98_EC4E_6C89,
        0x4528_21E6_38D0_1377,
        0xBE54_66CF_34E9_0C6D,
        0xC0AC_29B7_C97C_50DD,
        0x3F84_D5B5_B547_0917,
    ];
    let folded = |a: u64, b: u64| {
        let product = u128::from(a) * u128::from(b);
        product as u64 ^ (product >> 64) as u64
    };
    let mut hash = N as u64;
    for (place, word) in words.into_iter().enumerate() {
        let mixed = folded(word ^ CONSTANTS[place % 8], CONSTANTS[(place + 3) % 8]);
        hash ^= mixed.rotate_left(place as u32 * 7);
    }
    folded(hash ^ CONSTANTS[0], CONSTANTS[1])
}

/// Rows whose hashes are partitioned together: each chunk's hashes are put in bucket order on their own,
/// in cache, and a bucket then gathers its part of every chunk.
const CHUNK_ROWS: usize = 1 << 18;

/// Hashes per bucket aimed at: a bucket's set (64 KiB) stays in cache.
const BUCKET_HASHES: usize = 4096;

/// The values that occur more than once among `hash(row)` for the `rows` rows, sorted.
///
/// One global sort of every hash would touch all of them about log₂(rows) times, out of cache. Instead
/// each chunk of rows puts its hashes in order of their leading bits (a counting sort into
/// 2^bits buckets), and each bucket, a few thousand hashes gathered from every chunk, goes through a set
/// that fits in cache. Buckets follow the leading bits, so their repeated values (each bucket's sorted),
/// concatenated, are sorted.
fn repeated_hashes(rows: usize, hash: impl Fn(usize) -> u64 + Sync) -> Vec<u64> {
    // Rounded up, so a bucket holds at most BUCKET_HASHES hashes on average.
    let bits = rows.div_ceil(BUCKET_HASHES).next_power_of_two().ilog2().min(16);
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
    // A bucket's repeated values are found with an open-addressing set of its values (0: an empty slot,
    // so the value 0 is counted aside), placed by the bits after the bucket's own.
    let repeated: Vec<Vec<u64>> = (0..buckets)
        .into_par_iter()
        .map_init(Vec::new, |table: &mut Vec<u64>, bucket| {
            let values = chunks.iter().flat_map(|&(ordered, starts)| {
                &ordered[starts[bucket] as usize..starts[bucket + 1] as usize]
            });
            let len: usize = chunks
                .iter()
                .map(|&(_, starts)| (starts[bucket + 1] - starts[bucket]) as usize)
                .sum();
            // At most two thirds full: 64 KiB for a bucket of the usual size.
            let slot_bits = (len + len / 2 + 1).next_power_of_two().ilog2().max(4);
            table.clear();
            table.resize(1 << slot_bits, 0);
            let mask = table.len() - 1;
            let (mut zeros, mut repeated) = (0, Vec::new());
            for &value in values {
                if value == 0 {
                    zeros += 1;
                    if zeros == 2 {
                        repeated.push(0);
                    }
                    continue;
                }
                let mut slot = ((value << bits) >> (64 - slot_bits)) as usize;
                loop {
                    match table[slot] {
                        0 => {
                            table[slot] = value;
                            break;
                        }
                        seen if seen == value => {
                            repeated.push(value);
                            break;
                        }
                        _ => slot = (slot + 1) & mask,
                    }
                }
            }
            repeated.sort_unstable();
            repeated.dedup();
            repeated
        })
        .collect();
    repeated.concat()
}

/// A quick test of whether a hash may be one of a few: a bit per hash's low bits, set for each of
/// them, so most other hashes are turned away without searching the list.
struct HashFilter<'a> {
    bits: Vec<u64>,
    hashes: &'a [u64],
}

impl<'a> HashFilter<'a> {
    /// The filter of `hashes` (sorted).
    fn new(hashes: &'a [u64]) -> Self {
        let len = (64 * hashes.len()).next_power_of_two().max(1 << 12);
        let mut bits = vec![0u64; len / 64];
        for &hash in hashes {
            let at = hash as usize & (len - 1);
            bits[at / 64] |= 1 << (at % 64);
        }
        Self { bits, hashes }
    }

    fn contains(&self, hash: u64) -> bool {
        let at = hash as usize & (64 * self.bits.len() - 1);
        self.bits[at / 64] & (1 << (at % 64)) != 0 && self.hashes.binary_search(&hash).is_ok()
    }
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
        let keys = [[1, 10], [2, 20], [1, 10], [1, 11], [1, 10], [2, 20]];
        assert_eq!(later_copies(keys.len(), |i| keys[i]), vec![2, 4, 5]);
        assert!(later_copies(3, |i| [i as u64]).is_empty());
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
        assert_eq!(repeated_hashes(3, |row| [0, 5, 0][row]), vec![0]);
        assert!(repeated_hashes(0, |_| 7).is_empty());
    }

    #[test]
    fn colliding_hashes_do_not_make_rows_equal() {
        let keys = [1, 2, 1, 3, 2];
        assert_eq!(later_copies_hashed(keys.len(), |_| 0, |i| keys[i]), vec![2, 4]);
    }

    #[test]
    fn every_word_moves_the_hash() {
        let base = [7u64, 0, u64::MAX, 1 << 40, 3];
        let mut seen = std::collections::HashSet::from([hash_words(base)]);
        for word in 0..base.len() {
            for bit in [0, 31, 63] {
                let mut changed = base;
                changed[word] ^= 1 << bit;
                assert!(seen.insert(hash_words(changed)), "word {word}, bit {bit}");
            }
        }
    }
}
