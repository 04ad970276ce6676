//! Keyed checksums: HMAC-SHA1/SHA-256/SHA-384 and CMAC-Camellia.

use camellia::{Camellia128, Camellia256};
use cmac::Cmac;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Sha256, Sha384};

/// Which keyed checksum an enctype uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MacFamily {
    HmacSha1,
    HmacSha256,
    HmacSha384,
    CmacCamellia,
}

/// A keyed MAC, ready to be cloned for each message (the key schedule is computed once).
#[derive(Clone)]
pub(crate) enum MacKey {
    HmacSha1(Box<Hmac<Sha1>>),
    HmacSha256(Box<Hmac<Sha256>>),
    HmacSha384(Box<Hmac<Sha384>>),
    CmacCamellia128(Box<Cmac<Camellia128>>),
    CmacCamellia256(Box<Cmac<Camellia256>>),
}

impl MacKey {
    /// The MAC of `family` keyed with `key`; `None` if the key length does not suit it
    /// (CMAC-Camellia takes 16- or 32-byte keys, HMAC any length).
    pub(crate) fn new(family: MacFamily, key: &[u8]) -> Option<MacKey> {
        Some(match family {
            MacFamily::HmacSha1 => {
                MacKey::HmacSha1(Box::new(<Hmac<Sha1> as Mac>::new_from_slice(key).ok()?))
            }
            MacFamily::HmacSha256 => {
                MacKey::HmacSha256(Box::new(<Hmac<Sha256> as Mac>::new_from_slice(key).ok()?))
            }
            MacFamily::HmacSha384 => {
                MacKey::HmacSha384(Box::new(<Hmac<Sha384> as Mac>::new_from_slice(key).ok()?))
            }
            MacFamily::CmacCamellia => match key.len() {
                16 => MacKey::CmacCamellia128(Box::new(
                    <Cmac<Camellia128> as Mac>::new_from_slice(key).ok()?,
                )),
                32 => MacKey::CmacCamellia256(Box::new(
                    <Cmac<Camellia256> as Mac>::new_from_slice(key).ok()?,
                )),
                _ => return None,
            },
        })
    }

    /// The full MAC over the concatenation of `parts`.
    pub(crate) fn compute(&self, parts: &[&[u8]]) -> Vec<u8> {
        fn run<M: Mac + Clone>(m: &M, parts: &[&[u8]]) -> Vec<u8> {
            let mut m = m.clone();
            for p in parts {
                m.update(p);
            }
            m.finalize().into_bytes().to_vec()
        }
        match self {
            MacKey::HmacSha1(m) => run(m.as_ref(), parts),
            MacKey::HmacSha256(m) => run(m.as_ref(), parts),
            MacKey::HmacSha384(m) => run(m.as_ref(), parts),
            MacKey::CmacCamellia128(m) => run(m.as_ref(), parts),
            MacKey::CmacCamellia256(m) => run(m.as_ref(), parts),
        }
    }

    /// Compare the leftmost `tag.len()` bytes of the MAC over `parts` with `tag`, in constant
    /// time. An empty or over-long tag never matches. With the `fuzzing` feature any tag of a
    /// plausible length matches.
    pub(crate) fn verify(&self, parts: &[&[u8]], tag: &[u8]) -> bool {
        fn run<M: Mac + Clone>(m: &M, parts: &[&[u8]], tag: &[u8]) -> bool {
            let mut m = m.clone();
            for p in parts {
                m.update(p);
            }
            let ok = m.verify_truncated_left(tag).is_ok();
            if cfg!(feature = "fuzzing") {
                return !tag.is_empty();
            }
            ok
        }
        match self {
            MacKey::HmacSha1(m) => run(m.as_ref(), parts, tag),
            MacKey::HmacSha256(m) => run(m.as_ref(), parts, tag),
            MacKey::HmacSha384(m) => run(m.as_ref(), parts, tag),
            MacKey::CmacCamellia128(m) => run(m.as_ref(), parts, tag),
            MacKey::CmacCamellia256(m) => run(m.as_ref(), parts, tag),
        }
    }
}
