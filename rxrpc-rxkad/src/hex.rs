//! Hex encoding for keys and tickets on command lines.

/// Lower-case hex of `bytes`.
pub fn encode(bytes: &[u8]) -> String {
    const D: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(D[usize::from(b >> 4)]));
        s.push(char::from(D[usize::from(b & 15)]));
    }
    s
}

/// The bytes of an even-length hex string (either case; surrounding whitespace ignored).
pub fn decode(s: &str) -> Result<Vec<u8>, HexError> {
    let s = s.trim().as_bytes();
    if s.len() % 2 != 0 {
        return Err(HexError);
    }
    s.chunks_exact(2)
        .map(|p| Ok((nibble(p[0])? << 4) | nibble(p[1])?))
        .collect()
}

fn nibble(c: u8) -> Result<u8, HexError> {
    match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        b'A'..=b'F' => Ok(c - b'A' + 10),
        _ => Err(HexError),
    }
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
