//! Operating-system randomness for nonces and session keys.

/// Fill `buf` from the operating system's generator.
///
/// The generator failing is not something rxkad can work around (a predictable nonce or
/// session key would be a vulnerability), so this panics; it does not depend on network input.
pub(crate) fn fill(buf: &mut [u8]) {
    #[allow(clippy::expect_used)]
    getrandom::fill(buf).expect("operating system random number generator failed");
}

/// A random `u32`.
pub(crate) fn u32() -> u32 {
    let mut b = [0u8; 4];
    fill(&mut b);
    u32::from_be_bytes(b)
}
