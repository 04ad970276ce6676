//! The service side: server keys that make per-connection state.

use std::collections::BTreeMap;
use std::sync::Arc;

use rxrpc_proto::security::{ConnIdent, ConnSecurity, SecurityLevel, ServerSecurity};
use rxrpc_proto::wire::{AbortCode, SecurityIndex};

use crate::clock::Clock;
use crate::conn::RxgkConn;
use crate::krb5::Key;

/// The server keys by (kvno, enctype) and the minimum level, shared by all connections.
#[derive(Debug, Default, Clone)]
pub struct ServerKeys {
    keys: BTreeMap<(u32, u32), Key>,
    min_level: SecurityLevel,
}

impl ServerKeys {
    /// The key for a ticket sealed with (kvno, enctype).
    pub fn get(&self, kvno: u32, enctype: u32) -> Option<Key> {
        self.keys.get(&(kvno, enctype)).cloned()
    }

    /// The lowest level accepted.
    pub fn min_level(&self) -> SecurityLevel {
        self.min_level
    }
}

/// A server's yfs-rxgk keys ([`ServerSecurity`]), looked up by the (kvno, enctype) of each
/// RESPONSE's ticket like a Linux server's `"<service>:6:<kvno>:<enctype>"` keys, with the
/// kernel's default YFS ticket format.
///
/// ```
/// use rxrpc_rxgk::RxgkServer;
/// use rxrpc_rxgk::krb5::{Enctype, Key};
/// use rxrpc_proto::security::SecurityLevel;
///
/// let key = Key::new(Enctype::Aes256CtsHmacSha196, &(0..32).collect::<Vec<u8>>()).unwrap();
/// let server = RxgkServer::new().with_key(1, key).with_min_level(SecurityLevel::Auth);
/// assert_eq!(server.key_count(), 1);
/// ```
#[derive(Debug, Clone)]
pub struct RxgkServer {
    keys: Arc<ServerKeys>,
    clock: Clock,
}

impl Default for RxgkServer {
    fn default() -> Self {
        RxgkServer::new()
    }
}

impl RxgkServer {
    /// No keys yet, minimum level plain, system clock.
    pub fn new() -> RxgkServer {
        RxgkServer {
            keys: Arc::new(ServerKeys::default()),
            clock: Clock::system(),
        }
    }

    fn keys_mut(&mut self) -> &mut ServerKeys {
        Arc::make_mut(&mut self.keys)
    }

    /// Add (or replace) the key with version `kvno` (its enctype is the key's).
    pub fn with_key(mut self, kvno: u32, key: Key) -> RxgkServer {
        self.add_key(kvno, key);
        self
    }

    /// Add (or replace) the key with version `kvno`.
    pub fn add_key(&mut self, kvno: u32, key: Key) {
        let et = key.enctype().number();
        self.keys_mut().keys.insert((kvno, et), key);
    }

    /// Refuse clients whose tickets carry a lower level (abort `RXGK_BADLEVEL`).
    pub fn with_min_level(mut self, level: SecurityLevel) -> RxgkServer {
        self.keys_mut().min_level = level;
        self
    }

    /// Use `clock` instead of the system clock.
    pub fn with_clock(mut self, clock: Clock) -> RxgkServer {
        self.clock = clock;
        self
    }

    /// Number of keys held.
    pub fn key_count(&self) -> usize {
        self.keys.keys.len()
    }

    /// Make the (not yet secure) state of a new service connection, as the concrete type.
    pub fn new_rxgk_conn(&self, ident: &ConnIdent) -> RxgkConn {
        RxgkConn::new_server(*ident, self.clock.clone(), Arc::clone(&self.keys))
    }
}

impl ServerSecurity for RxgkServer {
    fn security_index(&self) -> SecurityIndex {
        SecurityIndex::YFS_RXGK
    }

    fn new_conn(&self, ident: &ConnIdent) -> Result<Box<dyn ConnSecurity>, AbortCode> {
        Ok(Box::new(self.new_rxgk_conn(ident)))
    }
}
