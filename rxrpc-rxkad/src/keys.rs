//! Server keys: the DES keys of the `afs` service principal by key version number (kvno), and
//! readers for OpenAFS's `KeyFile` and `KeyFileExt`.
//!
//! * `KeyFile`: big-endian `u32` count, then `count` records of {`u32` kvno, 8-byte DES key}.
//! * `KeyFileExt`: big-endian `u32` count, then `count` records of {`u32` meta length (at
//!   least 16, counting itself), `u32` type, `u32` kvno, `u32` subtype, then `meta length −
//!   16` bytes to skip, `u32` key length, key bytes}. Type 0 is an rxkad DES key (8 bytes),
//!   type 1 an rxgk key and type 2 an rxkad-krb5 key; only type 0 is used here.
//!
//! OpenAFS reads `KeyFile` first and `KeyFileExt` second, a later key of the same kvno
//! replacing an earlier one; [`KeyTable::load_dir`] does the same.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// Key type 0 in `KeyFileExt`: an rxkad (single-DES) key.
pub const KEY_TYPE_RXKAD: u32 = 0;
/// The kvno OpenAFS reserves for its bcrypt key; never the "newest" key.
pub const KVNO_BCRYPT: u32 = 999;

/// An 8-byte DES key (server key or session key). `Debug` does not show it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct DesKey(pub [u8; 8]);

impl fmt::Debug for DesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DesKey(..)")
    }
}

impl DesKey {
    /// Parse 16 hex digits.
    pub fn from_hex(s: &str) -> Result<DesKey, KeyError> {
        let v = crate::hex::decode(s).map_err(|_| KeyError::Hex)?;
        let k: [u8; 8] = v.try_into().map_err(|_| KeyError::Hex)?;
        Ok(DesKey(k))
    }

    /// The key as 16 lower-case hex digits.
    pub fn to_hex(&self) -> String {
        crate::hex::encode(&self.0)
    }

    /// A random key with odd parity in every byte (as DES keys are conventionally written).
    pub fn random() -> DesKey {
        let mut k = [0u8; 8];
        crate::random::fill(&mut k);
        DesKey(k).with_odd_parity()
    }

    /// The key with each byte's low bit set so that the byte has odd parity.
    pub fn with_odd_parity(self) -> DesKey {
        DesKey(self.0.map(|b| {
            let b = b & 0xfe;
            if b.count_ones() % 2 == 0 { b | 1 } else { b }
        }))
    }
}

/// Errors reading key files.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
    /// The file ended inside a record.
    #[error("key file truncated at byte {at} (record {record})")]
    Truncated {
        /// Offset where more bytes were needed.
        at: usize,
        /// 0-based record index.
        record: u32,
    },
    /// A `KeyFileExt` record's meta length is below 16.
    #[error("KeyFileExt record {record}: meta length {len} below 16")]
    BadRecordLength {
        /// 0-based record index.
        record: u32,
        /// The length found.
        len: u32,
    },
    /// An rxkad key that is not 8 bytes long.
    #[error("KeyFileExt record {record}: rxkad key of {len} bytes (8 expected)")]
    BadKeyLength {
        /// 0-based record index.
        record: u32,
        /// The length found.
        len: u32,
    },
    /// A key given in hex was not 16 hex digits.
    #[error("a DES key is 16 hex digits")]
    Hex,
}

/// Where a server finds the key that sealed a ticket.
pub trait KeyStore: Send + Sync + fmt::Debug {
    /// The rxkad (DES) key of version `kvno`, if there is one.
    fn get_key(&self, kvno: u32) -> Option<DesKey>;
}

/// A set of rxkad server keys by kvno.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct KeyTable {
    keys: BTreeMap<u32, DesKey>,
}

impl fmt::Debug for KeyTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyTable")
            .field("kvnos", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl KeyStore for KeyTable {
    fn get_key(&self, kvno: u32) -> Option<DesKey> {
        self.keys.get(&kvno).copied()
    }
}

/// A little reader of big-endian words that reports where it ran out.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    record: u32,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], KeyError> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.buf.len());
        match end.and_then(|e| self.buf.get(self.pos..e)) {
            Some(s) => {
                self.pos += n;
                Ok(s)
            }
            None => Err(KeyError::Truncated {
                at: self.pos,
                record: self.record,
            }),
        }
    }
    fn u32(&mut self) -> Result<u32, KeyError> {
        let s = self.take(4)?;
        Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn key(&mut self) -> Result<DesKey, KeyError> {
        let s = self.take(8)?;
        let mut k = [0u8; 8];
        k.copy_from_slice(s);
        Ok(DesKey(k))
    }
}

impl KeyTable {
    /// An empty table.
    pub fn new() -> KeyTable {
        KeyTable::default()
    }

    /// A table of the given (kvno, key) pairs (a later pair replaces an earlier one of the same
    /// kvno).
    pub fn from_keys<I: IntoIterator<Item = (u32, DesKey)>>(keys: I) -> KeyTable {
        KeyTable {
            keys: keys.into_iter().collect(),
        }
    }

    /// Add or replace a key.
    pub fn insert(&mut self, kvno: u32, key: DesKey) {
        self.keys.insert(kvno, key);
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The kvnos present, ascending.
    pub fn kvnos(&self) -> impl Iterator<Item = u32> + '_ {
        self.keys.keys().copied()
    }

    /// The newest key: highest kvno, skipping OpenAFS's bcrypt kvno 999 (what `-localauth`
    /// uses).
    pub fn newest(&self) -> Option<(u32, DesKey)> {
        self.keys
            .iter()
            .rev()
            .find(|(k, _)| **k != KVNO_BCRYPT)
            .map(|(k, v)| (*k, *v))
    }

    /// Add the keys of an OpenAFS `KeyFile` image.
    pub fn add_keyfile(&mut self, bytes: &[u8]) -> Result<(), KeyError> {
        let mut c = Cursor {
            buf: bytes,
            pos: 0,
            record: 0,
        };
        let n = c.u32()?;
        for i in 0..n {
            c.record = i;
            let kvno = c.u32()?;
            let key = c.key()?;
            self.keys.insert(kvno, key);
        }
        Ok(())
    }

    /// Add the rxkad (type 0) keys of an OpenAFS `KeyFileExt` image; other key types are
    /// skipped.
    pub fn add_keyfile_ext(&mut self, bytes: &[u8]) -> Result<(), KeyError> {
        let mut c = Cursor {
            buf: bytes,
            pos: 0,
            record: 0,
        };
        let n = c.u32()?;
        for i in 0..n {
            c.record = i;
            let meta = c.u32()?;
            if meta < 16 {
                return Err(KeyError::BadRecordLength {
                    record: i,
                    len: meta,
                });
            }
            let ty = c.u32()?;
            let kvno = c.u32()?;
            let _subtype = c.u32()?;
            c.take(usize::try_from(meta - 16).unwrap_or(usize::MAX))?;
            let len = c.u32()?;
            let key = c.take(usize::try_from(len).unwrap_or(usize::MAX))?;
            if ty == KEY_TYPE_RXKAD {
                let k: [u8; 8] = key
                    .try_into()
                    .map_err(|_| KeyError::BadKeyLength { record: i, len })?;
                self.keys.insert(kvno, DesKey(k));
            }
        }
        Ok(())
    }

    /// Parse an OpenAFS `KeyFile` image.
    pub fn parse_keyfile(bytes: &[u8]) -> Result<KeyTable, KeyError> {
        let mut t = KeyTable::new();
        t.add_keyfile(bytes)?;
        Ok(t)
    }

    /// Parse an OpenAFS `KeyFileExt` image (rxkad keys only).
    pub fn parse_keyfile_ext(bytes: &[u8]) -> Result<KeyTable, KeyError> {
        let mut t = KeyTable::new();
        t.add_keyfile_ext(bytes)?;
        Ok(t)
    }

    /// Read a file that is either a `KeyFile` or (if its name ends in `Ext`) a `KeyFileExt`.
    pub fn load_file(path: &Path) -> Result<KeyTable, KeyError> {
        let bytes = read(path)?;
        let ext = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with("Ext"));
        if ext {
            KeyTable::parse_keyfile_ext(&bytes)
        } else {
            KeyTable::parse_keyfile(&bytes)
        }
    }

    /// Read `KeyFile` and then `KeyFileExt` from an OpenAFS server configuration directory
    /// (either may be missing; both missing gives an empty table).
    pub fn load_dir(dir: &Path) -> Result<KeyTable, KeyError> {
        let mut t = KeyTable::new();
        let kf = dir.join("KeyFile");
        if kf.exists() {
            t.add_keyfile(&read(&kf)?)?;
        }
        let ext = dir.join("KeyFileExt");
        if ext.exists() {
            t.add_keyfile_ext(&read(&ext)?)?;
        }
        Ok(t)
    }

    /// The table as a `KeyFile` image.
    pub fn to_keyfile(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(4 + 12 * self.keys.len());
        v.extend_from_slice(
            &u32::try_from(self.keys.len())
                .unwrap_or(u32::MAX)
                .to_be_bytes(),
        );
        for (kvno, key) in &self.keys {
            v.extend_from_slice(&kvno.to_be_bytes());
            v.extend_from_slice(&key.0);
        }
        v
    }
}

fn read(path: &Path) -> Result<Vec<u8>, KeyError> {
    std::fs::read(path).map_err(|source| KeyError::Io {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test cell's KeyFile (shared/peers/openafs/start-cell.sh writes
    /// `printf '%08x%08x%s' 1 "$KVNO" "$KEY"` with KVNO=1, KEY=0123456789abcdef).
    const CELL_KEYFILE: [u8; 16] = [
        0, 0, 0, 1, 0, 0, 0, 1, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
    ];

    #[test]
    fn keyfile() {
        let t = KeyTable::parse_keyfile(&CELL_KEYFILE).unwrap();
        assert_eq!(
            t.get_key(1),
            Some(DesKey([0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef]))
        );
        assert_eq!(t.get_key(2), None);
        assert_eq!(t.to_keyfile(), CELL_KEYFILE);
        for n in 0..CELL_KEYFILE.len() {
            assert!(KeyTable::parse_keyfile(&CELL_KEYFILE[..n]).is_err(), "{n}");
        }
        // The empty KeyFileExt of the test cell.
        assert!(
            KeyTable::parse_keyfile_ext(&[0, 0, 0, 0])
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn keyfile_ext() {
        let mut b = vec![0, 0, 0, 3];
        // rxkad key kvno 5, meta 16.
        for w in [16u32, 0, 5, 0, 8] {
            b.extend_from_slice(&w.to_be_bytes());
        }
        b.extend_from_slice(&[0x10; 8]);
        // rxkad_krb5 key (type 2, enctype 18, 32 bytes): skipped.
        for w in [16u32, 2, 6, 18, 32] {
            b.extend_from_slice(&w.to_be_bytes());
        }
        b.extend_from_slice(&[0x22; 32]);
        // rxkad key kvno 7 with 4 extra meta bytes.
        for w in [20u32, 0, 7, 0, 0xdead, 8] {
            b.extend_from_slice(&w.to_be_bytes());
        }
        b.extend_from_slice(&[0x70; 8]);
        let t = KeyTable::parse_keyfile_ext(&b).unwrap();
        assert_eq!(t.kvnos().collect::<Vec<_>>(), vec![5, 7]);
        assert_eq!(t.get_key(7), Some(DesKey([0x70; 8])));
        assert_eq!(t.newest().map(|(k, _)| k), Some(7));
        for n in 0..b.len() {
            assert!(KeyTable::parse_keyfile_ext(&b[..n]).is_err(), "{n}");
        }
        let mut bad = vec![0, 0, 0, 1];
        for w in [12u32, 0, 1] {
            bad.extend_from_slice(&w.to_be_bytes());
        }
        assert!(matches!(
            KeyTable::parse_keyfile_ext(&bad),
            Err(KeyError::BadRecordLength { len: 12, .. })
        ));
        let mut short_key = vec![0, 0, 0, 1];
        for w in [16u32, 0, 1, 0, 4, 0] {
            short_key.extend_from_slice(&w.to_be_bytes());
        }
        assert!(matches!(
            KeyTable::parse_keyfile_ext(&short_key),
            Err(KeyError::BadKeyLength { len: 4, .. })
        ));
    }

    #[test]
    fn newest_skips_bcrypt_and_dir_loading() {
        let t = KeyTable::from_keys([(3, DesKey([3; 8])), (999, DesKey([9; 8]))]);
        assert_eq!(t.newest().map(|(k, _)| k), Some(3));
        let dir = std::env::temp_dir().join(format!("rxkad-keys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("KeyFile"), CELL_KEYFILE).unwrap();
        let mut ext = vec![0, 0, 0, 1];
        for w in [16u32, 0, 1, 0, 8] {
            ext.extend_from_slice(&w.to_be_bytes());
        }
        ext.extend_from_slice(&[0xab; 8]);
        std::fs::write(dir.join("KeyFileExt"), &ext).unwrap();
        let t = KeyTable::load_dir(&dir).unwrap();
        // KeyFileExt is read second and replaces kvno 1.
        assert_eq!(t.get_key(1), Some(DesKey([0xab; 8])));
        let only = KeyTable::load_file(&dir.join("KeyFile")).unwrap();
        assert_eq!(only.get_key(1).map(|k| k.0[0]), Some(0x01));
        assert!(matches!(
            KeyTable::load_file(&dir.join("nope")),
            Err(KeyError::Io { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn hex_and_parity() {
        let k = DesKey::from_hex("0123456789ABCDEF").unwrap();
        assert_eq!(k.to_hex(), "0123456789abcdef");
        assert!(DesKey::from_hex("0123").is_err());
        assert!(DesKey::from_hex("0123456789abcdeg").is_err());
        // 0x01 0x23 .. are already odd parity.
        assert_eq!(k.with_odd_parity(), k);
        assert_eq!(DesKey([0; 8]).with_odd_parity(), DesKey([1; 8]));
        assert!(DesKey::random().0.iter().all(|b| b.count_ones() % 2 == 1));
        assert_eq!(format!("{k:?}"), "DesKey(..)");
    }
}
