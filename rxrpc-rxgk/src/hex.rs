//! Hexadecimal encoding, as the command-line tool and the tests print keys and tickets.

/// Lower-case hex of `bytes`.
pub fn encode(bytes: &[u8]) -> String {
    ::hex::encode(bytes)
}

/// Bytes from hex (either case; ASCII whitespace ignored); `None` if not valid hex.
pub fn decode(s: &str) -> Option<Vec<u8>> {
    let digits: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    ::hex::decode(digits).ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trip() {
        assert_eq!(super::encode(&[0, 0xab, 0x7f]), "00ab7f");
        assert_eq!(super::decode("00AB7f").unwrap(), vec![0, 0xab, 0x7f]);
        assert!(super::decode("0").is_none());
        assert!(super::decode("zz").is_none());
    }
}
