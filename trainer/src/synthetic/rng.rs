//! A small, portable random number generator with one independent stream per customer.
//!
//! The output of `generate` must depend only on the seed, never on how many threads ran or on the version of
//! `rand`, whose `StdRng` and `SmallRng` are documented as not portable across releases. So the generator
//! here is spelled out: xoshiro256++ (Blackman and Vigna), its state filled by SplitMix64 from the seed and the
//! customer's index. Distributions from `rand_distr` draw from it through `rand::RngCore`.

use rand::RngCore;

/// One step of SplitMix64: advances `state` and returns a well-mixed 64-bit value.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// xoshiro256++: fast, 256 bits of state, statistically strong for simulation (not for cryptography).
#[derive(Debug, Clone)]
pub struct Xoshiro256PlusPlus {
    state: [u64; 4],
}

impl Xoshiro256PlusPlus {
    /// The generator for one customer: a stream determined by the run's seed and the customer's index alone.
    pub fn for_customer(seed: u64, customer_index: u64) -> Self {
        // Mix the two inputs through SplitMix64 separately so that neighbouring (seed, index) pairs, such as
        // (1, 0) and (0, 1), do not start from related states.
        let mut mixer = seed;
        let seed_hash = splitmix64(&mut mixer);
        let mut mixer = customer_index ^ 0xD1B5_4A32_D192_ED03;
        let index_hash = splitmix64(&mut mixer);
        let mut sm = seed_hash ^ index_hash.rotate_left(17);
        let mut state = [0u64; 4];
        for word in &mut state {
            *word = splitmix64(&mut sm);
        }
        // An all-zero state would be a fixed point; SplitMix64 never yields four zeros, but be explicit.
        if state == [0; 4] {
            state[0] = 1;
        }
        Self { state }
    }
}

/// Salt of the basket streams' seed, so that they are apart from the main streams.
const BASKET_SEED_SALT: u64 = 0xba5c_e700_0000_0002;

/// The two random streams of one customer: `main` for their profile and activity, `basket` for what their
/// order lines hold (main category, narrowness, products, categories, units). Keeping the basket draws on
/// their own stream leaves every other draw as it would be without them.
#[derive(Debug, Clone)]
pub struct CustomerStreams {
    /// Profile, orders, amounts, returns, events.
    pub main: Xoshiro256PlusPlus,
    /// Basket traits and the product, category and units of each line.
    pub basket: Xoshiro256PlusPlus,
}

impl CustomerStreams {
    /// The streams of customer `customer_index` in a run seeded with `seed`.
    pub fn new(seed: u64, customer_index: u64) -> Self {
        Self {
            main: Xoshiro256PlusPlus::for_customer(seed, customer_index),
            basket: Xoshiro256PlusPlus::for_customer(seed ^ BASKET_SEED_SALT, customer_index),
        }
    }
}

impl RngCore for Xoshiro256PlusPlus {
    fn next_u32(&mut self) -> u32 {
        // The high bits are the strongest ones of xoshiro's output.
        (self.next_u64() >> 32) as u32
    }

    fn next_u64(&mut self) -> u64 {
        let s = &mut self.state;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    fn fill_bytes(&mut self, dst: &mut [u8]) {
        let mut chunks = dst.chunks_exact_mut(8);
        for chunk in &mut chunks {
            chunk.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        let rest = chunks.into_remainder();
        if !rest.is_empty() {
            let bytes = self.next_u64().to_le_bytes();
            rest.copy_from_slice(&bytes[..rest.len()]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xoshiro_matches_reference_output() {
        // Reference: the C implementation at prng.di.unimi.it with state {1, 2, 3, 4}; the first outputs are
        // 41943041, 58720359, 3588806011781223 (as listed in the rand_xoshiro crate's tests).
        let mut rng = Xoshiro256PlusPlus { state: [1, 2, 3, 4] };
        assert_eq!(rng.next_u64(), 41_943_041);
        assert_eq!(rng.next_u64(), 58_720_359);
        assert_eq!(rng.next_u64(), 3_588_806_011_781_223);
    }

    #[test]
    fn streams_depend_on_seed_and_index_only() {
        let a: Vec<u64> = {
            let mut rng = Xoshiro256PlusPlus::for_customer(42, 7);
            (0..4).map(|_| rng.next_u64()).collect()
        };
        let b: Vec<u64> = {
            let mut rng = Xoshiro256PlusPlus::for_customer(42, 7);
            (0..4).map(|_| rng.next_u64()).collect()
        };
        assert_eq!(a, b);
        let mut other_index = Xoshiro256PlusPlus::for_customer(42, 8);
        let mut other_seed = Xoshiro256PlusPlus::for_customer(43, 7);
        assert_ne!(a[0], other_index.next_u64());
        assert_ne!(a[0], other_seed.next_u64());
    }

    #[test]
    fn fill_bytes_handles_partial_words() {
        let mut rng = Xoshiro256PlusPlus::for_customer(1, 1);
        let mut buffer = [0u8; 13];
        rng.fill_bytes(&mut buffer);
        assert!(buffer.iter().any(|&b| b != 0));
    }
}
