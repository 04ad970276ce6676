//! Per-connection packet protection: the header checksum every rxkad DATA packet carries and
//! the security header, padding and encryption of levels 1 (auth) and 2 (crypt).
//!
//! * The connection's checksum IV is the last 8 bytes of the PCBC encryption (IV = session
//!   key) of the 16 bytes {epoch, cid with channel bits clear, 0, security index}.
//! * The header checksum of a packet is the upper 16 bits of the second word of the FCrypt
//!   encryption of {callNumber, channel << 30 | seq & 0x3fffffff} XOR the checksum IV, with 0
//!   replaced by 1. It goes in the header's `cksum` field at every level.
//! * Level 1 prefixes the 4-byte word ((seq XOR callNumber) & 0xffff) << 16 | data length,
//!   pads with zeros to a multiple of 8 and encrypts the first 8 bytes only (zero IV).
//! * Level 2 prefixes that word and a zero word, pads to a multiple of 8 and PCBC-encrypts the
//!   whole payload with IV = session key.
//! * A packet carrying a full [`data_capacity`] of data is then extended with zeros to exactly
//!   the size that capacity was computed for, as Linux does: 1412-byte packets stay jumbo-able
//!   although 1412 is not a multiple of 8. A receiver therefore decrypts only the whole blocks
//!   of a level-2 payload and ignores a trailing partial block (what Linux 7.x does; OpenAFS
//!   never sends one).

use bytes::{Bytes, BytesMut};
use rxrpc_proto::security::SecurityLevel;
use rxrpc_proto::wire::{AbortCode, Header};

use crate::fcrypt::{BLOCK, Fcrypt, xor};
use crate::fuzzing;
use crate::keys::DesKey;

/// Security header length at a level.
pub(crate) fn header_len(level: SecurityLevel) -> usize {
    match level {
        SecurityLevel::Plain => 0,
        SecurityLevel::Auth => 4,
        SecurityLevel::Encrypt => 8,
    }
}

/// Application bytes that fit in a payload of at most `max_payload` bytes.
pub fn data_capacity(level: SecurityLevel, max_payload: usize) -> usize {
    match level {
        SecurityLevel::Plain => max_payload,
        _ => (max_payload & !(BLOCK - 1))
            .saturating_sub(header_len(level))
            .min(0xffff),
    }
}

/// The session key's cipher and the connection's checksum IV.
#[derive(Clone, Debug)]
pub(crate) struct ConnKeys {
    pub(crate) cipher: Fcrypt,
    pub(crate) session_key: DesKey,
    pub(crate) csum_iv: [u8; 8],
}

impl ConnKeys {
    /// Derive the connection state from the session key and the connection's identity.
    pub(crate) fn new(session_key: DesKey, epoch: u32, cid: u32, security_index: u8) -> ConnKeys {
        let cipher = Fcrypt::new(&session_key.0);
        let mut buf = [0u8; 16];
        buf[0..4].copy_from_slice(&epoch.to_be_bytes());
        buf[4..8].copy_from_slice(&(cid & !3).to_be_bytes());
        buf[12..16].copy_from_slice(&u32::from(security_index).to_be_bytes());
        cipher.pcbc_encrypt(session_key.0, &mut buf);
        let mut csum_iv = [0u8; 8];
        csum_iv.copy_from_slice(&buf[8..16]);
        ConnKeys {
            cipher,
            session_key,
            csum_iv,
        }
    }

    /// The header checksum of a packet.
    pub(crate) fn header_cksum(&self, h: &Header) -> u16 {
        let x = (u32::from(h.cid.channel().0) << 30) | (h.seq.0 & 0x3fff_ffff);
        let mut b = [0u8; 8];
        b[0..4].copy_from_slice(&h.call_number.0.to_be_bytes());
        b[4..8].copy_from_slice(&x.to_be_bytes());
        let e = self.cipher.encrypt_block(xor(b, self.csum_iv));
        match u16::from_be_bytes([e[4], e[5]]) {
            0 => 1,
            c => c,
        }
    }

    fn encrypt_block(&self, b: &mut [u8]) {
        if !fuzzing() {
            self.cipher.pcbc_encrypt([0; 8], b);
        }
    }

    fn decrypt_block(&self, b: &mut [u8]) {
        if !fuzzing() {
            self.cipher.pcbc_decrypt([0; 8], b);
        }
    }

    fn encrypt_pcbc(&self, b: &mut [u8]) {
        if !fuzzing() {
            self.cipher.pcbc_encrypt(self.session_key.0, b);
        }
    }

    fn decrypt_pcbc(&self, b: &mut [u8]) {
        if !fuzzing() {
            self.cipher.pcbc_decrypt(self.session_key.0, b);
        }
    }

    /// Secure one DATA packet: set `h.cksum` and append the payload to `out`. A packet whose
    /// data fills `data_capacity(level, frame)` is padded to `frame` bytes.
    pub(crate) fn secure(
        &self,
        level: SecurityLevel,
        h: &mut Header,
        data: &[u8],
        out: &mut Vec<u8>,
        frame: usize,
    ) -> Result<(), AbortCode> {
        h.cksum = self.header_cksum(h);
        let start = out.len();
        let hdr = header_len(level);
        if level == SecurityLevel::Plain {
            out.extend_from_slice(data);
            return Ok(());
        }
        let len = u16::try_from(data.len()).map_err(|_| AbortCode::RXKADDATALEN)?;
        let tag = (h.seq.0 ^ h.call_number.0) & 0xffff;
        out.extend_from_slice(&((tag << 16) | u32::from(len)).to_be_bytes());
        if level == SecurityLevel::Encrypt {
            out.extend_from_slice(&[0; 4]);
        }
        out.extend_from_slice(data);
        let sealed = (hdr + data.len()).next_multiple_of(BLOCK);
        out.resize(start + sealed, 0);
        let body = &mut out[start..];
        if level == SecurityLevel::Auth {
            self.encrypt_block(&mut body[..BLOCK]);
        } else {
            self.encrypt_pcbc(body);
        }
        if data.len() == data_capacity(level, frame) && frame > sealed {
            out.resize(start + frame, 0);
        }
        Ok(())
    }

    /// Verify one received DATA (sub)packet and return its application data.
    pub(crate) fn verify(
        &self,
        level: SecurityLevel,
        h: &Header,
        payload: Bytes,
    ) -> Result<Bytes, AbortCode> {
        if self.header_cksum(h) != h.cksum && !fuzzing() {
            return Err(AbortCode::RXKADSEALEDINCON);
        }
        if level == SecurityLevel::Plain {
            return Ok(payload);
        }
        if payload.len() < BLOCK {
            return Err(AbortCode::RXKADSEALEDINCON);
        }
        let mut buf = match payload.try_into_mut() {
            Ok(b) => b,
            Err(shared) => BytesMut::from(&shared[..]),
        };
        let hdr = header_len(level);
        let room = if level == SecurityLevel::Auth {
            self.decrypt_block(&mut buf[..BLOCK]);
            buf.len() - hdr
        } else {
            let whole = buf.len() & !(BLOCK - 1);
            self.decrypt_pcbc(&mut buf[..whole]);
            whole - hdr
        };
        let word = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
        if (word >> 16) != (h.seq.0 ^ h.call_number.0) & 0xffff && !fuzzing() {
            return Err(AbortCode::RXKADSEALEDINCON);
        }
        let n = usize::try_from(word & 0xffff).unwrap_or(usize::MAX);
        if n > room {
            return Err(AbortCode::RXKADDATALEN);
        }
        let mut data = buf.split_off(hdr);
        data.truncate(n);
        Ok(data.freeze())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rxrpc_proto::wire::{CallNumber, Cid, Seq};

    #[test]
    fn capacities() {
        assert_eq!(data_capacity(SecurityLevel::Plain, 1412), 1412);
        assert_eq!(data_capacity(SecurityLevel::Auth, 1412), 1404);
        assert_eq!(data_capacity(SecurityLevel::Encrypt, 1412), 1400);
        assert_eq!(data_capacity(SecurityLevel::Encrypt, 1416), 1408);
        assert_eq!(data_capacity(SecurityLevel::Encrypt, 7), 0);
        assert_eq!(data_capacity(SecurityLevel::Auth, 100_000), 0xffff);
    }

    fn keys() -> ConnKeys {
        ConnKeys::new(DesKey([0x5e; 8]), 0x1234_5678, 0x9abc_def4, 2)
    }

    fn header(seq: u32, call: u32) -> Header {
        Header {
            call_number: CallNumber(call),
            seq: Seq(seq),
            cid: Cid(0x9abc_def4 | 2),
            ..Header::default()
        }
    }

    #[test]
    fn full_packets_are_padded_to_the_frame() {
        let k = keys();
        for level in [SecurityLevel::Auth, SecurityLevel::Encrypt] {
            let cap = data_capacity(level, 1412);
            let data: Vec<u8> = (0..cap).map(|i| i as u8).collect();
            let mut h = header(3, 7);
            let mut out = Vec::new();
            k.secure(level, &mut h, &data, &mut out, 1412).unwrap();
            assert_eq!(out.len(), 1412, "{level:?}");
            assert_eq!(&out[1408..], &[0; 4]);
            assert_eq!(
                &k.verify(level, &h, Bytes::from(out)).unwrap()[..],
                &data[..]
            );
            // One byte less: only aligned.
            let mut out = Vec::new();
            k.secure(level, &mut h, &data[1..], &mut out, 1412).unwrap();
            assert_eq!(out.len(), 1408);
        }
    }
}

#[cfg(all(test, feature = "fuzzing"))]
mod fuzzing_tests {
    use super::*;
    use rxrpc_proto::wire::{CallNumber, Seq};

    #[test]
    fn comparisons_are_skipped() {
        let k = ConnKeys::new(DesKey([1; 8]), 1, 4, 2);
        let h = Header {
            call_number: CallNumber(1),
            seq: Seq(1),
            cksum: 0x1234,
            ..Header::default()
        };
        // Wrong checksum, wrong tag, no encryption: accepted as plaintext.
        let mut p = vec![0xff, 0xff, 0, 3, 0, 0, 0, 0];
        p.extend_from_slice(b"abc\0\0\0\0\0");
        let got = k
            .verify(SecurityLevel::Encrypt, &h, Bytes::from(p))
            .unwrap();
        assert_eq!(&got[..], b"abc");
        // Lengths are still checked.
        let p = vec![0, 0, 0, 9, 0, 0, 0, 0];
        assert_eq!(
            k.verify(SecurityLevel::Encrypt, &h, Bytes::from(p)),
            Err(AbortCode::RXKADDATALEN)
        );
    }
}
