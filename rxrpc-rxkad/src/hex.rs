//! Hex encoding for keys and tickets on command lines.

/// Lower-case hex of `bytes`.
pub fn encode(bytes: &[u8]) -> String {
    ::hex::encode(bytes)
}

/// The bytes of an even-length hex string (either case; surrounding whitespace ignored).
pub fn decode(s: &str) -> Result<Vec<u8>, HexError> {
    ::hex::decode(s.trim()).map_err(|_| HexError)
}

/// Not an even number of hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not an even number of hex digits")]
pub struct HexError;

#[cfg(test)]
mod tests {
    #[test]
    fn roundtrip() {
        assert_eq!(super::encode(&[0, 0xab, 0x7f]), "00ab7f");
        assert_eq!(super::decode(" 00aB7F\n").unwrap(), vec![0, 0xab, 0x7f]);
        assert!(super::decode("abc").is_err());
        assert!(super::decode("zz").is_err());
    }
}
