//! VERSION packet bodies (type 13): version requests, version replies and Linux's keepalives.
//!
//! Layer: `wire`. Owns [`Version`]. A request is client-initiated and normally carries one
//! zero byte (`rxdebug -version`); the reply clears `CLIENT_INITIATED` and carries a 65-byte
//! NUL-padded string such as `"OpenAFS 1.8.9 ..."` or `"linux-6.16 AF_RXRPC"`; Linux also sends
//! non-client-initiated VERSION packets with one zero byte as peer keepalives.

use bytes::Bytes;

use super::{Flags, Header, WireError};

/// Length of the NUL-padded version string in a VERSION reply.
pub const VERSION_STRING_LEN: usize = 65;

/// A VERSION body, classified by the header's `CLIENT_INITIATED` flag and the body length.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Version {
    /// Client-initiated: a request for the peer's version string (normally one 0 byte).
    Request {
        /// The raw body.
        payload: Bytes,
    },
    /// Not client-initiated, exactly 65 bytes: a version string reply.
    Reply {
        /// The NUL-padded version string.
        text: [u8; VERSION_STRING_LEN],
    },
    /// Not client-initiated, any other length: a keepalive (Linux sends one 0 byte).
    Keepalive {
        /// The raw body.
        payload: Bytes,
    },
}

impl Version {
    /// Classify and decode a VERSION body. Never fails: every body is one of the variants.
    pub fn parse(header: &Header, body: Bytes) -> Result<Version, WireError> {
        if header.flags.contains(Flags::CLIENT_INITIATED) {
            return Ok(Version::Request { payload: body });
        }
        Ok(match <[u8; VERSION_STRING_LEN]>::try_from(&body[..]) {
            Ok(text) => Version::Reply { text },
            Err(_) => Version::Keepalive { payload: body },
        })
    }

    /// Append the body to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) {
        match self {
            Version::Request { payload } | Version::Keepalive { payload } => {
                out.extend_from_slice(payload)
            }
            Version::Reply { text } => out.extend_from_slice(text),
        }
    }

    /// Length of the body on the wire.
    pub fn buffer_len(&self) -> usize {
        match self {
            Version::Request { payload } | Version::Keepalive { payload } => payload.len(),
            Version::Reply { .. } => VERSION_STRING_LEN,
        }
    }

    /// A reply carrying `s`, NUL-padded; truncated to 64 bytes so a NUL always ends it.
    pub fn reply(s: &str) -> Version {
        let mut text = [0u8; VERSION_STRING_LEN];
        for (d, b) in text.iter_mut().zip(s.bytes().take(VERSION_STRING_LEN - 1)) {
            *d = b;
        }
        Version::Reply { text }
    }

    /// A request as `rxdebug -version` sends it: one zero byte.
    pub fn request() -> Version {
        Version::Request {
            payload: Bytes::from_static(&[0]),
        }
    }

    /// The reply's text up to the first NUL (lossy UTF-8); `None` for requests and keepalives.
    pub fn text(&self) -> Option<String> {
        match self {
            Version::Reply { text } => {
                let end = text.iter().position(|&b| b == 0).unwrap_or(text.len());
                Some(String::from_utf8_lossy(text.get(..end).unwrap_or_default()).into_owned())
            }
            _ => None,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::wire::packet::tests::{arb_bytes, arb_header_of};
    use crate::wire::{Body, Packet, PacketType};
    use proptest::prelude::*;

    pub(crate) fn arb_version_packet() -> impl Strategy<Value = Packet> {
        prop_oneof![
            (
                arb_header_of(PacketType::VERSION, Flags::CLIENT_INITIATED, Flags(0)),
                arb_bytes(80)
            )
                .prop_map(|(header, payload)| Packet {
                    header,
                    body: Body::Version(Version::Request { payload })
                }),
            (
                arb_header_of(PacketType::VERSION, Flags(0), Flags::CLIENT_INITIATED),
                any::<[u8; 65]>()
            )
                .prop_map(|(header, text)| Packet {
                    header,
                    body: Body::Version(Version::Reply { text })
                }),
            (
                arb_header_of(PacketType::VERSION, Flags(0), Flags::CLIENT_INITIATED),
                arb_bytes(80).prop_filter("65 bytes is a reply", |b| b.len() != 65)
            )
                .prop_map(|(header, payload)| Packet {
                    header,
                    body: Body::Version(Version::Keepalive { payload })
                }),
        ]
    }

    fn hdr(flags: Flags) -> Header {
        Header {
            packet_type: PacketType::VERSION,
            flags,
            ..Header::default()
        }
    }

    #[test]
    fn classify() {
        let req = Version::parse(&hdr(Flags(5)), Bytes::from_static(&[0])).unwrap();
        assert_eq!(req, Version::request());
        assert_eq!(req.text(), None);
        let ka = Version::parse(&hdr(Flags::LAST_PACKET), Bytes::from_static(&[0])).unwrap();
        assert_eq!(
            ka,
            Version::Keepalive {
                payload: Bytes::from_static(&[0])
            }
        );
        let r = Version::reply("OpenAFS 1.8.9-1+deb12u1-debian 2024-12-25");
        let mut out = Vec::new();
        r.emit(&mut out);
        assert_eq!(out.len(), 65);
        assert_eq!(r.buffer_len(), 65);
        let back = Version::parse(&hdr(Flags::LAST_PACKET), Bytes::from(out)).unwrap();
        assert_eq!(
            back.text().as_deref(),
            Some("OpenAFS 1.8.9-1+deb12u1-debian 2024-12-25")
        );
        assert_eq!(back, r);
    }

    #[test]
    fn reply_truncates() {
        let long = "x".repeat(100);
        let r = Version::reply(&long);
        assert_eq!(r.text().unwrap().len(), 64);
        let Version::Reply { text } = r else {
            unreachable!()
        };
        assert_eq!(text[64], 0);
        // No NUL at all: the whole 65 bytes.
        let r = Version::Reply { text: [b'a'; 65] };
        assert_eq!(r.text().unwrap().len(), 65);
    }

    proptest! {
        #[test]
        fn roundtrip(p in arb_version_packet()) {
            let Body::Version(v) = &p.body else { unreachable!() };
            let mut out = Vec::new();
            v.emit(&mut out);
            prop_assert_eq!(out.len(), v.buffer_len());
            let back = Version::parse(&p.header, Bytes::from(out.clone())).unwrap();
            prop_assert_eq!(&back, v);
            let mut again = Vec::new();
            back.emit(&mut again);
            prop_assert_eq!(again, out);
        }

        #[test]
        fn reply_text(s in "[ -~]{0,70}") {
            let r = Version::reply(&s);
            let want: String = s.chars().take(64).collect();
            prop_assert_eq!(r.text(), Some(want));
        }
    }
}
