//! Block ciphers (AES, Camellia) and CBC with ciphertext stealing as Kerberos uses it
//! (RFC 3962 section 5, RFC 6803 section 5).

use aes::{Aes128, Aes256};
use camellia::{Camellia128, Camellia256};
use cipher::generic_array::GenericArray;
use cipher::{BlockDecrypt, BlockEncrypt, KeyInit};

/// Cipher block length of every supported enctype.
pub(crate) const BLOCK: usize = 16;

/// A keyed 128-bit block cipher.
#[derive(Clone)]
pub(crate) enum BlockCipher {
    Aes128(Box<Aes128>),
    Aes256(Box<Aes256>),
    Camellia128(Box<Camellia128>),
    Camellia256(Box<Camellia256>),
}

/// Which block cipher family an enctype uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CipherFamily {
    Aes,
    Camellia,
}

impl BlockCipher {
    /// The cipher of `family` keyed with `key` (16 or 32 bytes), or `None` for another length.
    pub(crate) fn new(family: CipherFamily, key: &[u8]) -> Option<BlockCipher> {
        Some(match (family, key.len()) {
            (CipherFamily::Aes, 16) => {
                BlockCipher::Aes128(Box::new(Aes128::new_from_slice(key).ok()?))
            }
            (CipherFamily::Aes, 32) => {
                BlockCipher::Aes256(Box::new(Aes256::new_from_slice(key).ok()?))
            }
            (CipherFamily::Camellia, 16) => {
                BlockCipher::Camellia128(Box::new(Camellia128::new_from_slice(key).ok()?))
            }
            (CipherFamily::Camellia, 32) => {
                BlockCipher::Camellia256(Box::new(Camellia256::new_from_slice(key).ok()?))
            }
            _ => return None,
        })
    }

    /// Encrypt one block in place.
    #[inline]
    pub(crate) fn encrypt_block(&self, block: &mut [u8; BLOCK]) {
        let b = GenericArray::from_mut_slice(block);
        match self {
            BlockCipher::Aes128(c) => c.encrypt_block(b),
            BlockCipher::Aes256(c) => c.encrypt_block(b),
            BlockCipher::Camellia128(c) => c.encrypt_block(b),
            BlockCipher::Camellia256(c) => c.encrypt_block(b),
        }
    }

    /// Decrypt one block in place.
    #[inline]
    pub(crate) fn decrypt_block(&self, block: &mut [u8; BLOCK]) {
        let b = GenericArray::from_mut_slice(block);
        match self {
            BlockCipher::Aes128(c) => c.decrypt_block(b),
            BlockCipher::Aes256(c) => c.decrypt_block(b),
            BlockCipher::Camellia128(c) => c.decrypt_block(b),
            BlockCipher::Camellia256(c) => c.decrypt_block(b),
        }
    }

    /// CBC-CTS encryption in place with a zero IV. `buf` must be at least one block long
    /// (callers always encrypt a 16-byte confounder first); shorter input is left unchanged.
    ///
    /// CBC over the input zero-padded to whole blocks, then the last two ciphertext blocks are
    /// swapped and the (new) last one truncated to the length of the last plaintext block.
    /// Exactly one block is plain CBC.
    pub(crate) fn cts_encrypt(&self, buf: &mut [u8]) {
        let len = buf.len();
        if len < BLOCK {
            return;
        }
        let nblocks = len.div_ceil(BLOCK);
        let mut prev = [0u8; BLOCK];
        if nblocks == 1 {
            let mut b = block_of(buf, 0);
            self.encrypt_block(&mut b);
            buf.copy_from_slice(&b);
            return;
        }
        // All blocks but the last two: ordinary CBC.
        for i in 0..nblocks - 2 {
            let chunk = &mut buf[i * BLOCK..(i + 1) * BLOCK];
            let mut b = block_of(chunk, 0);
            xor_in(&mut b, &prev);
            self.encrypt_block(&mut b);
            chunk.copy_from_slice(&b);
            prev = b;
        }
        let pen = (nblocks - 2) * BLOCK;
        let last_len = len - pen - BLOCK; // 1..=16
        let mut c_pen = block_of(buf, pen);
        xor_in(&mut c_pen, &prev);
        self.encrypt_block(&mut c_pen);
        let mut c_last = [0u8; BLOCK];
        c_last[..last_len].copy_from_slice(&buf[pen + BLOCK..]);
        xor_in(&mut c_last, &c_pen);
        self.encrypt_block(&mut c_last);
        buf[pen..pen + BLOCK].copy_from_slice(&c_last);
        buf[pen + BLOCK..].copy_from_slice(&c_pen[..last_len]);
    }

    /// CBC-CTS decryption in place with a zero IV; the inverse of [`BlockCipher::cts_encrypt`].
    pub(crate) fn cts_decrypt(&self, buf: &mut [u8]) {
        let len = buf.len();
        if len < BLOCK {
            return;
        }
        let nblocks = len.div_ceil(BLOCK);
        if nblocks == 1 {
            let mut b = block_of(buf, 0);
            self.decrypt_block(&mut b);
            buf.copy_from_slice(&b);
            return;
        }
        let mut prev = [0u8; BLOCK];
        for i in 0..nblocks - 2 {
            let chunk = &mut buf[i * BLOCK..(i + 1) * BLOCK];
            let c = block_of(chunk, 0);
            let mut b = c;
            self.decrypt_block(&mut b);
            xor_in(&mut b, &prev);
            chunk.copy_from_slice(&b);
            prev = c;
        }
        let pen = (nblocks - 2) * BLOCK;
        let last_len = len - pen - BLOCK;
        // buf[pen..pen+16] holds C_n (the swapped last block), the tail holds the first
        // last_len bytes of C_{n-1}.
        let mut d = block_of(buf, pen);
        self.decrypt_block(&mut d); // = (P_n | 0) xor C_{n-1}
        let mut c_pen = d;
        c_pen[..last_len].copy_from_slice(&buf[pen + BLOCK..]);
        let mut p_last = [0u8; BLOCK];
        for j in 0..last_len {
            p_last[j] = d[j] ^ c_pen[j];
        }
        let mut p_pen = c_pen;
        self.decrypt_block(&mut p_pen);
        xor_in(&mut p_pen, &prev);
        buf[pen..pen + BLOCK].copy_from_slice(&p_pen);
        buf[pen + BLOCK..].copy_from_slice(&p_last[..last_len]);
    }
}

/// The 16 bytes of `buf` from `off` (callers guarantee they exist).
#[inline]
fn block_of(buf: &[u8], off: usize) -> [u8; BLOCK] {
    let mut b = [0u8; BLOCK];
    b.copy_from_slice(&buf[off..off + BLOCK]);
    b
}

#[inline]
fn xor_in(a: &mut [u8; BLOCK], b: &[u8; BLOCK]) {
    for (x, y) in a.iter_mut().zip(b) {
        *x ^= y;
    }
}
