//! The Kerberos 5 cryptosystem (RFC 3961) for the enctypes yfs-rxgk uses.
//!
//! | enctype | name | spec | MAC |
//! |---|---|---|---|
//! | 17 | aes128-cts-hmac-sha1-96 | RFC 3962 (RFC 3961 simplified profile) | HMAC-SHA1, 96 bits, over the plaintext |
//! | 18 | aes256-cts-hmac-sha1-96 | RFC 3962 | HMAC-SHA1, 96 bits, over the plaintext |
//! | 19 | aes128-cts-hmac-sha256-128 | RFC 8009 | HMAC-SHA-256, 128 bits, over IV and ciphertext |
//! | 20 | aes256-cts-hmac-sha384-192 | RFC 8009 | HMAC-SHA-384, 192 bits, over IV and ciphertext |
//! | 25 | camellia128-cts-cmac | RFC 6803 | CMAC-Camellia, 128 bits, over the plaintext |
//! | 26 | camellia256-cts-cmac | RFC 6803 | CMAC-Camellia, 128 bits, over the plaintext |
//!
//! A [`Key`] is a protocol key of one enctype. From it and a key usage number come the
//! derived keys: an [`EncryptionKey`] (Ke and Ki) for `encrypt`/`decrypt` and a
//! [`ChecksumKey`] (Kc) for `get_mic`/`verify_mic`. Derived keys hold their key schedules, so
//! per-message work is only the cipher and the MAC. [`Key::prf`] and [`Key::prf_plus`] are the
//! enctype's pseudo-random function and the RFC 6113 PRF+ built on it.
//!
//! All encryption uses a 16-byte random confounder, CBC with ciphertext stealing (the last two
//! blocks always swapped) and a zero IV; there is no cipher state carried between messages.
//!
//! ```
//! use rxrpc_rxgk::krb5::{Enctype, Key};
//! let key = Key::new(Enctype::Aes256CtsHmacSha196, &[7u8; 32]).unwrap();
//! let ct = key.encrypt(1026, b"hello").unwrap();
//! assert_eq!(ct.len(), 16 + 5 + 12);
//! assert_eq!(key.decrypt(1026, &ct).unwrap(), b"hello");
//! ```

mod cipher;
mod mac;
mod nfold;

use core::fmt;

use sha1::{Digest, Sha1};

use self::cipher::{BLOCK, BlockCipher, CipherFamily};
use self::mac::{MacFamily, MacKey};
pub use self::nfold::nfold;

/// Length of the random confounder prefixed to every plaintext.
pub const CONFOUNDER_LEN: usize = 16;

/// Errors of the Kerberos crypto layer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Krb5Error {
    /// The enctype number is not one this crate implements.
    #[error("unsupported enctype {0}")]
    UnsupportedEnctype(u32),
    /// A key of the wrong length for its enctype.
    #[error("{enctype} needs a {want}-byte key, got {got} bytes")]
    BadKeyLength {
        /// The enctype.
        enctype: Enctype,
        /// Its key length.
        want: usize,
        /// The length given.
        got: usize,
    },
    /// Ciphertext shorter than a confounder and a checksum.
    #[error("ciphertext of {0} bytes is too short")]
    TooShort(usize),
    /// The integrity check (HMAC/CMAC) failed: wrong key, usage, enctype or tampering.
    #[error("integrity check failed")]
    Integrity,
    /// The system's random number generator failed.
    #[error("random number generator failed")]
    Random,
}

/// The enctypes this crate implements (Kerberos numbering).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum Enctype {
    /// aes128-cts-hmac-sha1-96 (17), RFC 3962.
    Aes128CtsHmacSha196 = 17,
    /// aes256-cts-hmac-sha1-96 (18), RFC 3962.
    Aes256CtsHmacSha196 = 18,
    /// aes128-cts-hmac-sha256-128 (19), RFC 8009.
    Aes128CtsHmacSha256128 = 19,
    /// aes256-cts-hmac-sha384-192 (20), RFC 8009.
    Aes256CtsHmacSha384192 = 20,
    /// camellia128-cts-cmac (25), RFC 6803.
    Camellia128CtsCmac = 25,
    /// camellia256-cts-cmac (26), RFC 6803.
    Camellia256CtsCmac = 26,
}

/// How keys are derived from a protocol key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Profile {
    /// RFC 3961 simplified profile: DK with n-fold and the block cipher (RFC 3962).
    Simplified,
    /// RFC 8009: KDF-HMAC-SHA2 (SP 800-108 counter mode).
    HmacSha2,
    /// RFC 6803: KDF-FEEDBACK-CMAC (SP 800-108 feedback mode).
    FeedbackCmac,
}

/// The three keys derived per usage (RFC 3961 section 5.3): the low byte of the constant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyRole {
    /// Ke, encryption (0xAA).
    Encryption,
    /// Ki, integrity of encrypted messages (0x55).
    Integrity,
    /// Kc, checksums / MICs (0x99).
    Checksum,
}

impl KeyRole {
    fn seed(self) -> u8 {
        match self {
            KeyRole::Encryption => 0xAA,
            KeyRole::Integrity => 0x55,
            KeyRole::Checksum => 0x99,
        }
    }
}

impl Enctype {
    /// All supported enctypes, in number order.
    pub const ALL: [Enctype; 6] = [
        Enctype::Aes128CtsHmacSha196,
        Enctype::Aes256CtsHmacSha196,
        Enctype::Aes128CtsHmacSha256128,
        Enctype::Aes256CtsHmacSha384192,
        Enctype::Camellia128CtsCmac,
        Enctype::Camellia256CtsCmac,
    ];

    /// The enctype with Kerberos number `n`, if supported.
    pub fn from_number(n: u32) -> Option<Enctype> {
        Enctype::ALL.into_iter().find(|e| e.number() == n)
    }

    /// The Kerberos enctype number.
    pub fn number(self) -> u32 {
        self as u32
    }

    /// The Kerberos name, e.g. `"aes256-cts-hmac-sha1-96"`.
    pub fn name(self) -> &'static str {
        match self {
            Enctype::Aes128CtsHmacSha196 => "aes128-cts-hmac-sha1-96",
            Enctype::Aes256CtsHmacSha196 => "aes256-cts-hmac-sha1-96",
            Enctype::Aes128CtsHmacSha256128 => "aes128-cts-hmac-sha256-128",
            Enctype::Aes256CtsHmacSha384192 => "aes256-cts-hmac-sha384-192",
            Enctype::Camellia128CtsCmac => "camellia128-cts-cmac",
            Enctype::Camellia256CtsCmac => "camellia256-cts-cmac",
        }
    }

    /// Length of a protocol key (and of Ke) in bytes.
    pub fn key_len(self) -> usize {
        match self {
            Enctype::Aes128CtsHmacSha196
            | Enctype::Aes128CtsHmacSha256128
            | Enctype::Camellia128CtsCmac => 16,
            Enctype::Aes256CtsHmacSha196
            | Enctype::Aes256CtsHmacSha384192
            | Enctype::Camellia256CtsCmac => 32,
        }
    }

    /// Length of the (truncated) checksum appended to ciphertexts and returned by MICs.
    pub fn checksum_len(self) -> usize {
        match self {
            Enctype::Aes128CtsHmacSha196 | Enctype::Aes256CtsHmacSha196 => 12,
            Enctype::Aes128CtsHmacSha256128 => 16,
            Enctype::Aes256CtsHmacSha384192 => 24,
            Enctype::Camellia128CtsCmac | Enctype::Camellia256CtsCmac => 16,
        }
    }

    /// Bytes an encryption adds to its plaintext: confounder and checksum.
    pub fn encrypt_overhead(self) -> usize {
        CONFOUNDER_LEN + self.checksum_len()
    }

    /// Output length of [`Key::prf`].
    pub fn prf_len(self) -> usize {
        match self {
            Enctype::Aes128CtsHmacSha256128 => 32,
            Enctype::Aes256CtsHmacSha384192 => 48,
            _ => 16,
        }
    }

    /// Length of a derived key of `role`.
    pub fn derived_len(self, role: KeyRole) -> usize {
        match (self, role) {
            (_, KeyRole::Encryption) => self.key_len(),
            (Enctype::Aes256CtsHmacSha384192, _) => 24,
            (Enctype::Aes128CtsHmacSha256128, _) => 16,
            _ => self.key_len(),
        }
    }

    fn profile(self) -> Profile {
        match self {
            Enctype::Aes128CtsHmacSha196 | Enctype::Aes256CtsHmacSha196 => Profile::Simplified,
            Enctype::Aes128CtsHmacSha256128 | Enctype::Aes256CtsHmacSha384192 => Profile::HmacSha2,
            Enctype::Camellia128CtsCmac | Enctype::Camellia256CtsCmac => Profile::FeedbackCmac,
        }
    }

    fn cipher_family(self) -> CipherFamily {
        match self.profile() {
            Profile::FeedbackCmac => CipherFamily::Camellia,
            _ => CipherFamily::Aes,
        }
    }

    fn mac_family(self) -> MacFamily {
        match self {
            Enctype::Aes128CtsHmacSha196 | Enctype::Aes256CtsHmacSha196 => MacFamily::HmacSha1,
            Enctype::Aes128CtsHmacSha256128 => MacFamily::HmacSha256,
            Enctype::Aes256CtsHmacSha384192 => MacFamily::HmacSha384,
            Enctype::Camellia128CtsCmac | Enctype::Camellia256CtsCmac => MacFamily::CmacCamellia,
        }
    }

    /// Whether the integrity checksum covers the ciphertext (RFC 8009) rather than the
    /// plaintext (RFC 3962, RFC 6803).
    fn mac_over_ciphertext(self) -> bool {
        self.profile() == Profile::HmacSha2
    }
}

impl fmt::Display for Enctype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.number())
    }
}

/// Fill a buffer from the system's random number generator.
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], Krb5Error> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|_| Krb5Error::Random)?;
    Ok(b)
}

/// A protocol key of one enctype (a server key, a session key K0, a transport key).
#[derive(Clone, PartialEq, Eq)]
pub struct Key {
    enctype: Enctype,
    bytes: Vec<u8>,
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Key({}, {} bytes)",
            self.enctype.name(),
            self.bytes.len()
        )
    }
}

impl Key {
    /// A key of `enctype` with the given bytes (random-to-key is the identity for every
    /// supported enctype).
    pub fn new(enctype: Enctype, bytes: &[u8]) -> Result<Key, Krb5Error> {
        if bytes.len() != enctype.key_len() {
            return Err(Krb5Error::BadKeyLength {
                enctype,
                want: enctype.key_len(),
                got: bytes.len(),
            });
        }
        Ok(Key {
            enctype,
            bytes: bytes.to_vec(),
        })
    }

    /// A fresh random key of `enctype`.
    pub fn random(enctype: Enctype) -> Result<Key, Krb5Error> {
        let b: [u8; 32] = random_bytes()?;
        Key::new(enctype, &b[..enctype.key_len()])
    }

    /// The key's enctype.
    pub fn enctype(&self) -> Enctype {
        self.enctype
    }

    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The enctype's key-derivation function applied to an arbitrary `constant`, giving `len`
    /// bytes: DK (RFC 3961 section 5.1) for 17/18, KDF-HMAC-SHA2 with an empty context (RFC
    /// 8009 section 3) for 19/20, KDF-FEEDBACK-CMAC (RFC 6803 section 3) for 25/26.
    pub fn derive_bytes(&self, constant: &[u8], len: usize) -> Vec<u8> {
        derive(self.enctype, &self.bytes, constant, len)
    }

    /// The derived key of `role` for key usage `usage` (constant = be32 usage | seed byte).
    pub fn derive_usage_key(&self, usage: u32, role: KeyRole) -> Vec<u8> {
        let c = usage_constant(usage, role);
        self.derive_bytes(&c, self.enctype.derived_len(role))
    }

    /// Ke and Ki for `usage`, keyed and ready.
    pub fn encryption(&self, usage: u32) -> EncryptionKey {
        let ke = self.derive_usage_key(usage, KeyRole::Encryption);
        let ki = self.derive_usage_key(usage, KeyRole::Integrity);
        EncryptionKey::from_parts(self.enctype, &ke, &ki)
    }

    /// Kc for `usage`, keyed and ready.
    pub fn checksum(&self, usage: u32) -> ChecksumKey {
        let kc = self.derive_usage_key(usage, KeyRole::Checksum);
        ChecksumKey::from_raw(self.enctype, &kc)
    }

    /// RFC 3961 `encrypt` with key usage `usage` and a random confounder.
    pub fn encrypt(&self, usage: u32, plain: &[u8]) -> Result<Vec<u8>, Krb5Error> {
        self.encryption(usage).encrypt(plain)
    }

    /// RFC 3961 `decrypt` with key usage `usage`: the plaintext without its confounder.
    pub fn decrypt(&self, usage: u32, ciphertext: &[u8]) -> Result<Vec<u8>, Krb5Error> {
        self.encryption(usage).decrypt(ciphertext)
    }

    /// The checksum (MIC) of `data` with key usage `usage`.
    pub fn get_mic(&self, usage: u32, data: &[u8]) -> Vec<u8> {
        self.checksum(usage).get_mic(&[data])
    }

    /// Check a MIC made by [`Key::get_mic`].
    pub fn verify_mic(&self, usage: u32, data: &[u8], mic: &[u8]) -> Result<(), Krb5Error> {
        self.checksum(usage).verify_mic(&[data], mic)
    }

    /// The enctype's pseudo-random function (RFC 3961 section 3 `pseudo-random`):
    ///
    /// * 17/18 (RFC 3962 section 6): AES-ECB(DK(key, "prf"), SHA-1(octets) truncated to 16);
    /// * 19/20 (RFC 8009 section 5): KDF-HMAC-SHA2(key, "prf", octets, 256 / 384 bits);
    /// * 25/26: CMAC(KDF-FEEDBACK-CMAC(key, "prf"), octets), with the intermediate key of
    ///   [`Enctype::prf_len`] (16) bytes for both key sizes, as the Linux kernel computes it.
    pub fn prf(&self, octets: &[u8]) -> Vec<u8> {
        match self.enctype.profile() {
            Profile::Simplified => {
                let digest = Sha1::digest(octets);
                let mut block = [0u8; BLOCK];
                block.copy_from_slice(&digest[..BLOCK]);
                let kp = self.derive_bytes(b"prf", self.enctype.key_len());
                if let Some(c) = BlockCipher::new(CipherFamily::Aes, &kp) {
                    c.encrypt_block(&mut block);
                }
                block.to_vec()
            }
            Profile::HmacSha2 => kdf_hmac_sha2(
                self.enctype.mac_family(),
                &self.bytes,
                b"prf",
                octets,
                self.enctype.prf_len(),
            ),
            Profile::FeedbackCmac => {
                let kp = self.derive_bytes(b"prf", self.enctype.prf_len());
                MacKey::new(MacFamily::CmacCamellia, &kp)
                    .map(|m| m.compute(&[octets]))
                    .unwrap_or_default()
            }
        }
    }

    /// PRF+ (RFC 6113 section 5.1): the first `len` bytes of
    /// `PRF(be32 1 | seed) | PRF(be32 2 | seed) | ...`.
    pub fn prf_plus(&self, len: usize, seed: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + self.enctype.prf_len());
        let mut input = Vec::with_capacity(4 + seed.len());
        let mut counter: u32 = 1;
        while out.len() < len {
            input.clear();
            input.extend_from_slice(&counter.to_be_bytes());
            input.extend_from_slice(seed);
            out.extend_from_slice(&self.prf(&input));
            counter = counter.wrapping_add(1);
        }
        out.truncate(len);
        out
    }
}

/// be32 usage | seed byte.
fn usage_constant(usage: u32, role: KeyRole) -> [u8; 5] {
    let u = usage.to_be_bytes();
    [u[0], u[1], u[2], u[3], role.seed()]
}

fn derive(enctype: Enctype, key: &[u8], constant: &[u8], len: usize) -> Vec<u8> {
    match enctype.profile() {
        Profile::Simplified => dk(CipherFamily::Aes, key, constant, len),
        Profile::HmacSha2 => kdf_hmac_sha2(enctype.mac_family(), key, constant, &[], len),
        Profile::FeedbackCmac => kdf_feedback_cmac(key, constant, len),
    }
}

/// DR/DK of RFC 3961 section 5.1: K1 = E(key, n-fold(constant)), K(i+1) = E(key, K(i)),
/// concatenated and truncated (random-to-key is the identity for AES).
fn dk(family: CipherFamily, key: &[u8], constant: &[u8], len: usize) -> Vec<u8> {
    let Some(cipher) = BlockCipher::new(family, key) else {
        return Vec::new();
    };
    let mut block = [0u8; BLOCK];
    if constant.len() == BLOCK {
        block.copy_from_slice(constant);
    } else {
        block.copy_from_slice(&nfold(constant, BLOCK));
    }
    let mut out = Vec::with_capacity(len + BLOCK);
    while out.len() < len {
        cipher.encrypt_block(&mut block);
        out.extend_from_slice(&block);
    }
    out.truncate(len);
    out
}

/// KDF-HMAC-SHA2 of RFC 8009 section 3: the first `len` bytes of
/// HMAC(key, be32 1 | label | 0x00 | context | be32 bits).
fn kdf_hmac_sha2(
    family: MacFamily,
    key: &[u8],
    label: &[u8],
    context: &[u8],
    len: usize,
) -> Vec<u8> {
    let Some(mac) = MacKey::new(family, key) else {
        return Vec::new();
    };
    let bits = ((len * 8) as u32).to_be_bytes();
    let mut out = mac.compute(&[&1u32.to_be_bytes(), label, &[0], context, &bits]);
    out.truncate(len);
    out
}

/// KDF-FEEDBACK-CMAC of RFC 6803 section 3: K(0) = zeros,
/// K(i) = CMAC(key, K(i-1) | be32 i | constant | 0x00 | be32 bits), concatenated and truncated.
fn kdf_feedback_cmac(key: &[u8], constant: &[u8], len: usize) -> Vec<u8> {
    let Some(mac) = MacKey::new(MacFamily::CmacCamellia, key) else {
        return Vec::new();
    };
    let bits = ((len * 8) as u32).to_be_bytes();
    let mut k = vec![0u8; BLOCK];
    let mut out = Vec::with_capacity(len + BLOCK);
    let mut i: u32 = 0;
    while out.len() < len {
        i = i.wrapping_add(1);
        k = mac.compute(&[&k, &i.to_be_bytes(), constant, &[0], &bits]);
        out.extend_from_slice(&k);
    }
    out.truncate(len);
    out
}

/// Ke and Ki of one key usage: RFC 3961 `encrypt` / `decrypt`.
#[derive(Clone)]
pub struct EncryptionKey {
    enctype: Enctype,
    ke: BlockCipher,
    ki: MacKey,
}

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EncryptionKey({})", self.enctype.name())
    }
}

impl EncryptionKey {
    /// An encryption key from raw Ke and Ki (as the RFC test vectors give them); `Err` if
    /// their lengths do not suit the enctype.
    pub fn from_raw(enctype: Enctype, ke: &[u8], ki: &[u8]) -> Result<EncryptionKey, Krb5Error> {
        if ke.len() != enctype.key_len() || ki.len() != enctype.derived_len(KeyRole::Integrity) {
            return Err(Krb5Error::BadKeyLength {
                enctype,
                want: enctype.key_len(),
                got: ke.len(),
            });
        }
        Ok(EncryptionKey::from_parts(enctype, ke, ki))
    }

    fn from_parts(enctype: Enctype, ke: &[u8], ki: &[u8]) -> EncryptionKey {
        // Lengths come from the enctype's own table, so both constructors succeed.
        let ke = BlockCipher::new(enctype.cipher_family(), ke)
            .unwrap_or_else(|| unreachable!("derived Ke has the enctype's key length"));
        let ki = MacKey::new(enctype.mac_family(), ki)
            .unwrap_or_else(|| unreachable!("derived Ki has the enctype's length"));
        EncryptionKey { enctype, ke, ki }
    }

    /// The enctype.
    pub fn enctype(&self) -> Enctype {
        self.enctype
    }

    /// Encrypt the concatenation of `parts` with the given confounder, appending
    /// `confounder-and-plaintext ciphertext | checksum` to `out`.
    pub fn encrypt_parts_into(
        &self,
        confounder: &[u8; CONFOUNDER_LEN],
        parts: &[&[u8]],
        out: &mut Vec<u8>,
    ) {
        let start = out.len();
        let plain_len: usize = parts.iter().map(|p| p.len()).sum();
        out.reserve(CONFOUNDER_LEN + plain_len + self.enctype.checksum_len());
        out.extend_from_slice(confounder);
        for p in parts {
            out.extend_from_slice(p);
        }
        let h = if self.enctype.mac_over_ciphertext() {
            self.ke.cts_encrypt(&mut out[start..]);
            self.ki.compute(&[&[0u8; BLOCK], &out[start..]])
        } else {
            let h = self.ki.compute(&[&out[start..]]);
            self.ke.cts_encrypt(&mut out[start..]);
            h
        };
        out.extend_from_slice(&h[..self.enctype.checksum_len()]);
    }

    /// Encrypt `plain` with a random confounder.
    pub fn encrypt(&self, plain: &[u8]) -> Result<Vec<u8>, Krb5Error> {
        let conf = random_bytes()?;
        Ok(self.encrypt_with_confounder(&conf, plain))
    }

    /// Encrypt `plain` with the given confounder (deterministic; for tests and vectors).
    pub fn encrypt_with_confounder(
        &self,
        confounder: &[u8; CONFOUNDER_LEN],
        plain: &[u8],
    ) -> Vec<u8> {
        let mut out = Vec::new();
        self.encrypt_parts_into(confounder, &[plain], &mut out);
        out
    }

    /// Decrypt and check `ciphertext`; returns the plaintext without its confounder.
    pub fn decrypt(&self, ciphertext: &[u8]) -> Result<Vec<u8>, Krb5Error> {
        let mut buf = ciphertext.to_vec();
        let range = self.decrypt_in_place(&mut buf)?;
        buf.truncate(range.end);
        buf.drain(..range.start);
        Ok(buf)
    }

    /// Decrypt and check `buf` in place; returns where the plaintext (after the confounder)
    /// lies in `buf`.
    pub fn decrypt_in_place(&self, buf: &mut [u8]) -> Result<core::ops::Range<usize>, Krb5Error> {
        let h = self.enctype.checksum_len();
        let len = buf.len();
        if len < CONFOUNDER_LEN + h {
            return Err(Krb5Error::TooShort(len));
        }
        let ct_len = len - h;
        let (ct, tag) = buf.split_at_mut(ct_len);
        if self.enctype.mac_over_ciphertext() {
            if !self.ki.verify(&[&[0u8; BLOCK], ct], tag) {
                return Err(Krb5Error::Integrity);
            }
            self.ke.cts_decrypt(ct);
        } else {
            self.ke.cts_decrypt(ct);
            if !self.ki.verify(&[ct], tag) {
                return Err(Krb5Error::Integrity);
            }
        }
        Ok(CONFOUNDER_LEN..ct_len)
    }
}

/// Kc of one key usage: RFC 3961 `get_mic` / `verify_mic`.
#[derive(Clone)]
pub struct ChecksumKey {
    enctype: Enctype,
    kc: MacKey,
}

impl fmt::Debug for ChecksumKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChecksumKey({})", self.enctype.name())
    }
}

impl ChecksumKey {
    /// A checksum key from raw Kc bytes; `Err` if the length does not suit the enctype.
    pub fn new_raw(enctype: Enctype, kc: &[u8]) -> Result<ChecksumKey, Krb5Error> {
        if kc.len() != enctype.derived_len(KeyRole::Checksum) {
            return Err(Krb5Error::BadKeyLength {
                enctype,
                want: enctype.derived_len(KeyRole::Checksum),
                got: kc.len(),
            });
        }
        Ok(ChecksumKey::from_raw(enctype, kc))
    }

    fn from_raw(enctype: Enctype, kc: &[u8]) -> ChecksumKey {
        let kc = MacKey::new(enctype.mac_family(), kc)
            .unwrap_or_else(|| unreachable!("derived Kc has the enctype's length"));
        ChecksumKey { enctype, kc }
    }

    /// The enctype.
    pub fn enctype(&self) -> Enctype {
        self.enctype
    }

    /// The MIC over the concatenation of `parts`, truncated to [`Enctype::checksum_len`].
    pub fn get_mic(&self, parts: &[&[u8]]) -> Vec<u8> {
        let mut m = self.kc.compute(parts);
        m.truncate(self.enctype.checksum_len());
        m
    }

    /// Check a MIC over the concatenation of `parts` (constant-time comparison).
    pub fn verify_mic(&self, parts: &[&[u8]], mic: &[u8]) -> Result<(), Krb5Error> {
        if mic.len() != self.enctype.checksum_len() || !self.kc.verify(parts, mic) {
            return Err(Krb5Error::Integrity);
        }
        Ok(())
    }
}
