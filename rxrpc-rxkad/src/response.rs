//! The encrypted part of an rxkad RESPONSE and its checksum.
//!
//! A version-2 RESPONSE is `version (2) | spare | 40-byte block | kvno | ticketLen | ticket`;
//! the block is {epoch, cid (channel bits clear), checksum, securityIndex, callNumbers\[4\],
//! challenge nonce + 1, level}, PCBC-encrypted under the session key with the session key as
//! IV. The checksum covers the 56 plaintext bytes before the ticket with the checksum field
//! zero: start at 1000003 and, for each byte, multiply by 0x10204081 and add the byte (mod
//! 2³²).
//!
//! A version-1 ("old") RESPONSE is an 8-byte block {nonce + 1, level} encrypted with one
//! FCrypt ECB step, then kvno, ticketLen and the ticket.

use crate::fcrypt::Fcrypt;
use crate::fuzzing;

/// Length of the encrypted block of a version-2 response.
pub const BLOCK_LEN: usize = 40;

/// The plaintext of a version-2 response's encrypted block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ResponseBlock {
    /// Connection epoch.
    pub epoch: u32,
    /// Connection ID with the channel bits clear.
    pub cid: u32,
    /// Checksum of the response (see [`response_checksum`]).
    pub cksum: u32,
    /// Security index of the connection.
    pub security_index: u32,
    /// The client's call counter on each channel.
    pub call_numbers: [u32; 4],
    /// The challenge's nonce plus one.
    pub inc_nonce: u32,
    /// Security level the client uses.
    pub level: u32,
}

impl ResponseBlock {
    /// The 40 plaintext bytes.
    pub fn to_bytes(&self) -> [u8; BLOCK_LEN] {
        let words = [
            self.epoch,
            self.cid,
            self.cksum,
            self.security_index,
            self.call_numbers[0],
            self.call_numbers[1],
            self.call_numbers[2],
            self.call_numbers[3],
            self.inc_nonce,
            self.level,
        ];
        let mut b = [0u8; BLOCK_LEN];
        for (chunk, w) in b.chunks_exact_mut(4).zip(words) {
            chunk.copy_from_slice(&w.to_be_bytes());
        }
        b
    }

    /// Parse 40 plaintext bytes.
    pub fn from_bytes(b: &[u8; BLOCK_LEN]) -> ResponseBlock {
        let mut w = [0u32; 10];
        for (v, chunk) in w.iter_mut().zip(b.chunks_exact(4)) {
            *v = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        }
        ResponseBlock {
            epoch: w[0],
            cid: w[1],
            cksum: w[2],
            security_index: w[3],
            call_numbers: [w[4], w[5], w[6], w[7]],
            inc_nonce: w[8],
            level: w[9],
        }
    }

    /// Encrypt under the session key (PCBC, IV = session key).
    pub fn seal(&self, cipher: &Fcrypt, session_key: &[u8; 8]) -> [u8; BLOCK_LEN] {
        let mut b = self.to_bytes();
        if !fuzzing() {
            cipher.pcbc_encrypt(*session_key, &mut b);
        }
        b
    }

    /// Decrypt a sealed block.
    pub fn open(sealed: &[u8; BLOCK_LEN], cipher: &Fcrypt, session_key: &[u8; 8]) -> Self {
        let mut b = *sealed;
        if !fuzzing() {
            cipher.pcbc_decrypt(*session_key, &mut b);
        }
        ResponseBlock::from_bytes(&b)
    }
}

/// The checksum of a version-2 response: over `version`, `spare`, the block with its checksum
/// field taken as zero, `kvno` and `ticket_len`, all big-endian.
pub fn response_checksum(
    version: u32,
    spare: u32,
    block: &ResponseBlock,
    kvno: u32,
    ticket_len: u32,
) -> u32 {
    let b = ResponseBlock { cksum: 0, ..*block };
    let mut sum: u32 = 1_000_003;
    let mut feed = |bytes: &[u8]| {
        for x in bytes {
            sum = sum.wrapping_mul(0x1020_4081).wrapping_add(u32::from(*x));
        }
    };
    feed(&version.to_be_bytes());
    feed(&spare.to_be_bytes());
    feed(&b.to_bytes());
    feed(&kvno.to_be_bytes());
    feed(&ticket_len.to_be_bytes());
    sum
}

/// Seal the 8-byte block of a version-1 response.
pub fn seal_v1(cipher: &Fcrypt, inc_nonce: u32, level: u32) -> [u8; 8] {
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&inc_nonce.to_be_bytes());
    b[4..].copy_from_slice(&level.to_be_bytes());
    if fuzzing() {
        b
    } else {
        cipher.encrypt_block(b)
    }
}

/// Open the 8-byte block of a version-1 response: (nonce + 1, level).
pub fn open_v1(cipher: &Fcrypt, sealed: &[u8; 8]) -> (u32, u32) {
    let b = if fuzzing() {
        *sealed
    } else {
        cipher.decrypt_block(*sealed)
    };
    (
        u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
        u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_ignores_its_own_field() {
        let mut b = ResponseBlock {
            epoch: 1,
            cid: 4,
            security_index: 2,
            inc_nonce: 9,
            ..ResponseBlock::default()
        };
        let c = response_checksum(2, 0, &b, 1, 32);
        b.cksum = 0xdead_beef;
        assert_eq!(response_checksum(2, 0, &b, 1, 32), c);
        assert_ne!(response_checksum(2, 0, &b, 1, 33), c);
        // Start value and multiplier: an all-zero 56-byte input is 1000003 * m^56.
        let mut z = 1_000_003u32;
        for _ in 0..56 {
            z = z.wrapping_mul(0x1020_4081);
        }
        assert_eq!(response_checksum(0, 0, &ResponseBlock::default(), 0, 0), z);
    }

    #[test]
    fn block_roundtrip() {
        let b = ResponseBlock {
            epoch: 0x0102_0304,
            cid: 0x0506_0708,
            cksum: 9,
            security_index: 2,
            call_numbers: [1, 2, 3, 4],
            inc_nonce: 5,
            level: 2,
        };
        assert_eq!(ResponseBlock::from_bytes(&b.to_bytes()), b);
        let c = Fcrypt::new(&[7; 8]);
        let sealed = b.seal(&c, &[7; 8]);
        assert_eq!(ResponseBlock::open(&sealed, &c, &[7; 8]), b);
        assert_eq!(open_v1(&c, &seal_v1(&c, 10, 1)), (10, 1));
    }
}
