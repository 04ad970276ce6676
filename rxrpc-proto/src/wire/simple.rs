//! Small fixed bodies: ABORT.
//!
//! Layer: `wire`. Owns [`Abort`] (a 4-byte signed abort code) and [`AbortView`]. BUSY, ACKALL
//! and PARAMS have no defined body; [`Body`](super::Body) keeps whatever bytes they carry as
//! raw [`Bytes`](bytes::Bytes), so they need no type of their own.

use super::packet::PutBe;
use super::{AbortCode, WireError};

/// Length of an ABORT body.
pub const ABORT_BODY_LEN: usize = 4;

/// An ABORT body: the abort code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Abort {
    /// Why the call or connection was aborted.
    pub code: AbortCode,
}

impl Abort {
    /// Decode an ABORT body: at least 4 bytes; bytes after the code are ignored.
    pub fn parse(body: &[u8]) -> Result<Abort, WireError> {
        Ok(AbortView::new_checked(body)?.to_owned())
    }

    /// Append the 4-byte code to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.put_i32(self.code.0);
    }

    /// Length on the wire (4).
    pub fn buffer_len(&self) -> usize {
        ABORT_BODY_LEN
    }
}

/// A checked zero-copy view of an ABORT body.
#[derive(Debug, Clone, Copy)]
pub struct AbortView<'a> {
    code: &'a [u8; ABORT_BODY_LEN],
    rest: &'a [u8],
}

impl<'a> AbortView<'a> {
    /// Check that `body` holds at least the 4-byte code.
    pub fn new_checked(body: &'a [u8]) -> Result<Self, WireError> {
        match body.split_first_chunk::<ABORT_BODY_LEN>() {
            Some((code, rest)) => Ok(AbortView { code, rest }),
            None => Err(WireError::Truncated {
                what: "ABORT",
                need: ABORT_BODY_LEN,
                have: body.len(),
            }),
        }
    }

    /// The abort code.
    pub fn code(&self) -> AbortCode {
        AbortCode(i32::from_be_bytes(*self.code))
    }

    /// Bytes after the code (normally none; ignored by [`Abort::parse`]).
    pub fn extra(&self) -> &'a [u8] {
        self.rest
    }

    /// The owned ABORT.
    pub fn to_owned(&self) -> Abort {
        Abort { code: self.code() }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn arb_abort() -> impl Strategy<Value = Abort> {
        prop_oneof![
            any::<i32>().prop_map(|c| Abort { code: AbortCode(c) }),
            proptest::sample::select(AbortCode::ALL_NAMED).prop_map(|code| Abort { code }),
        ]
    }

    #[test]
    fn parse_and_errors() {
        let a = Abort::parse(&[0xff, 0xff, 0xfe, 0x39]).unwrap();
        assert_eq!(a.code, AbortCode::RXGEN_OPCODE);
        let mut out = Vec::new();
        a.emit(&mut out);
        assert_eq!(out, [0xff, 0xff, 0xfe, 0x39]);
        assert_eq!(a.buffer_len(), 4);
        for n in 0..4 {
            assert_eq!(
                Abort::parse(&out[..n]),
                Err(WireError::Truncated {
                    what: "ABORT",
                    need: ABORT_BODY_LEN,
                    have: n
                })
            );
        }
        let v = AbortView::new_checked(&[0, 0, 0, 1, 9, 9]).unwrap();
        assert_eq!(v.code(), AbortCode(1));
        assert_eq!(v.extra(), &[9, 9]);
        assert_eq!(
            Abort::parse(&[0, 0, 0, 1, 9, 9]).unwrap().code,
            AbortCode(1)
        );
    }

    proptest! {
        #[test]
        fn roundtrip(a in arb_abort()) {
            let mut out = Vec::new();
            a.emit(&mut out);
            prop_assert_eq!(out.len(), a.buffer_len());
            prop_assert_eq!(Abort::parse(&out).unwrap(), a);
        }

        #[test]
        fn canonical(b: [u8; 4]) {
            let mut out = Vec::new();
            Abort::parse(&b).unwrap().emit(&mut out);
            prop_assert_eq!(&out[..], &b[..]);
        }
    }
}
