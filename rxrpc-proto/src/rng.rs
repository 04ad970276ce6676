//! A small seedable pseudo-random generator for non-cryptographic choices.
//!
//! Layer: utilities of `rxrpc-proto`. Epochs, initial connection IDs and similar values need
//! to be unpredictable enough to avoid collisions, not secret; the seed comes from
//! [`EndpointConfig::rng_seed`](crate::EndpointConfig::rng_seed) so tests are reproducible.
//! Key material never comes from here (security classes bring their own secure source).

/// SplitMix64: tiny, fast, and good enough for identifiers.
#[derive(Clone, Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub(crate) fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_per_seed() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        assert_eq!(a.next_u64(), b.next_u64());
        assert_ne!(Rng::new(1).next_u64(), Rng::new(2).next_u64());
    }
}
