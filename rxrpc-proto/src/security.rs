//! The security-class interface: what a class (rxnull, rxkad, yfs-rxgk, ...) provides to the
//! engine per connection and per packet.
//!
//! Layer: between the engine and the crates that implement classes (`rxrpc-rxkad`,
//! `rxrpc-rxgk`). The engine knows nothing of ciphers; it asks a class object
//!
//! * how much data fits in one DATA packet and how long the security header is
//!   ([`ConnSecurity::data_capacity`]),
//! * to secure each DATA packet it sends ([`ConnSecurity::secure_packet`], which may set the
//!   header's `cksum` field) and to verify each it receives ([`ConnSecurity::verify_packet`]),
//! * on a client connection, to answer the server's CHALLENGE
//!   ([`ConnSecurity::respond_to_challenge`]),
//! * on a service connection, for a CHALLENGE to send ([`ConnSecurity::issue_challenge`]) and to
//!   check the client's RESPONSE ([`ConnSecurity::verify_response`]).
//!
//! rxnull (index 0) is the absence of a class object: no header, no checksum, nothing to verify,
//! so the common case costs no virtual call.
//!
//! A client call names its class with [`ClientSecurity`] (built from the caller's token); a
//! service socket accepts the classes given by [`ServerSecurity`] objects (built from the
//! server's keys). Each makes one [`ConnSecurity`] per connection.
//!
//! Errors are abort codes: a packet that fails verification aborts its call with the code the
//! class returns (e.g. `RXKADSEALEDINCON`); a CHALLENGE or RESPONSE that fails aborts the whole
//! connection with it (e.g. `RXKADBADTICKET`, `RXKADEXPIRED`, `RXKADLEVELFAIL`).
//!
//! # Example: a toy class
//!
//! A class that "secures" a packet by appending one check byte (for illustration only):
//!
//! ```
//! use bytes::Bytes;
//! use rxrpc_proto::security::*;
//! use rxrpc_proto::wire::{AbortCode, Header, SecurityIndex};
//!
//! #[derive(Debug)]
//! struct Check;
//! impl ConnSecurity for Check {
//!     fn level(&self) -> SecurityLevel { SecurityLevel::Auth }
//!     fn is_secure(&self) -> bool { true }
//!     fn data_capacity(&self, max_payload: usize) -> usize { max_payload - 1 }
//!     fn secure_packet(&mut self, _h: &mut Header, data: &[u8], out: &mut Vec<u8>)
//!         -> Result<(), AbortCode> {
//!         out.extend_from_slice(data);
//!         out.push(data.iter().fold(0u8, |a, b| a ^ b));
//!         Ok(())
//!     }
//!     fn verify_packet(&mut self, _h: &Header, payload: Bytes) -> Result<Bytes, AbortCode> {
//!         let (data, check) = payload.split_at(payload.len().checked_sub(1)
//!             .ok_or(AbortCode::RX_PROTOCOL_ERROR)?);
//!         if data.iter().fold(0u8, |a, b| a ^ b) != check[0] {
//!             return Err(AbortCode::RX_PROTOCOL_ERROR);
//!         }
//!         Ok(payload.slice(..payload.len() - 1))
//!     }
//! }
//! let mut c = Check;
//! let mut h = Header::default();
//! let mut out = Vec::new();
//! c.secure_packet(&mut h, b"abc", &mut out).unwrap();
//! assert_eq!(&c.verify_packet(&h, Bytes::from(out)).unwrap()[..], b"abc");
//! ```

use std::fmt::Debug;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;

use crate::call::Side;
use crate::wire::{AbortCode, CallNumber, ConnId, Epoch, Header, SecurityIndex, ServiceId};

/// Protection level of a connection. The numbering is the wire's (rxkad and rxgk agree).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum SecurityLevel {
    /// Header checksum only (rxkad "clear", rxgk "plain").
    #[default]
    Plain = 0,
    /// Integrity: packets are authenticated but readable.
    Auth = 1,
    /// Confidentiality and integrity.
    Encrypt = 2,
}

impl SecurityLevel {
    /// The level with wire value `v`, if it is one.
    pub fn from_wire(v: u32) -> Option<SecurityLevel> {
        match v {
            0 => Some(SecurityLevel::Plain),
            1 => Some(SecurityLevel::Auth),
            2 => Some(SecurityLevel::Encrypt),
            _ => None,
        }
    }
    /// The wire value.
    pub fn to_wire(self) -> u32 {
        self as u32
    }
    /// Lower-case name as used on command lines ("plain", "auth", "encrypt").
    pub fn name(self) -> &'static str {
        match self {
            SecurityLevel::Plain => "plain",
            SecurityLevel::Auth => "auth",
            SecurityLevel::Encrypt => "encrypt",
        }
    }
}

/// What identifies a connection to its security class (all of it is covered by rxkad's and
/// rxgk's checksums and RESPONSE authenticators).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnIdent {
    /// Which end of the connection we are.
    pub side: Side,
    /// The peer's address.
    pub peer: SocketAddr,
    /// Connection epoch.
    pub epoch: Epoch,
    /// Connection ID (channel bits clear).
    pub cid: ConnId,
    /// Service ID.
    pub service_id: ServiceId,
    /// Security index of the connection.
    pub security_index: SecurityIndex,
}

/// The authenticated identity of a client, as established by a verified RESPONSE; handed to the
/// service with each call on that connection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PeerIdentity {
    /// Security index of the class that vouched for it.
    pub security_index: SecurityIndex,
    /// Level the client chose.
    pub level: SecurityLevel,
    /// Principal name (rxkad: ticket name; rxgk: whatever the token carries, may be empty).
    pub name: String,
    /// Principal instance (rxkad), empty otherwise.
    pub instance: String,
    /// Realm or cell of the principal (rxkad), empty otherwise.
    pub realm: String,
    /// Key version number of the server key that opened the ticket.
    pub kvno: u32,
    /// Unix time after which the credentials are no longer valid (`None`: never expires).
    pub expires: Option<u64>,
    /// Application data the client sent with its RESPONSE (rxgk), empty if none.
    pub app_data: Bytes,
}

impl PeerIdentity {
    /// An identity with the given principal name and everything else default.
    pub fn new(security_index: SecurityIndex, level: SecurityLevel, name: &str) -> Self {
        PeerIdentity {
            security_index,
            level,
            name: name.to_owned(),
            ..PeerIdentity::default()
        }
    }
}

/// The client's call counters on a connection, as a RESPONSE reports them (one per channel).
pub type CallCounters = [CallNumber; 4];

/// Per-connection security state of one class.
///
/// Implementations must not panic on any input: every method that sees network bytes returns
/// an abort code for bad input.
pub trait ConnSecurity: Send + Debug {
    /// The level packets are protected at (on a service connection: the level the client chose,
    /// known once [`ConnSecurity::is_secure`]).
    fn level(&self) -> SecurityLevel;

    /// Whether packets can be exchanged: always true on a client connection; on a service
    /// connection, true once a RESPONSE was verified. The engine holds back the DATA of a
    /// service connection that is not yet secure and challenges the client.
    fn is_secure(&self) -> bool;

    /// Application data bytes that fit in one DATA packet whose payload (security header, data
    /// and padding) may be at most `max_payload` bytes.
    fn data_capacity(&self, max_payload: usize) -> usize;

    /// Secure one DATA packet: append its payload (security header, `data`, padding) to `out`
    /// and set whatever header fields the class uses (rxkad: `cksum`; rxgk: the key number in
    /// `cksum`). `data.len()` is at most [`ConnSecurity::data_capacity`] of the packet size
    /// the engine uses.
    fn secure_packet(
        &mut self,
        header: &mut Header,
        data: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), AbortCode>;

    /// Verify one received DATA packet (or jumbo subpacket, with its own header) and return the
    /// application data it carries, or the abort code for the call.
    fn verify_packet(&mut self, header: &Header, payload: Bytes) -> Result<Bytes, AbortCode>;

    /// Client: answer a CHALLENGE with the body of a RESPONSE. `counters` are the connection's
    /// current call numbers. The default refuses (a class without challenges).
    fn respond_to_challenge(
        &mut self,
        header: &Header,
        challenge: Bytes,
        counters: CallCounters,
    ) -> Result<Vec<u8>, AbortCode> {
        let _ = (header, challenge, counters);
        Err(AbortCode::RX_PROTOCOL_ERROR)
    }

    /// Client: answer a CHALLENGE with application data carried in the RESPONSE (yfs-rxgk's
    /// `appdata`; see [`ManagedChallenges`]). The default accepts only empty data.
    fn respond_with_app_data(
        &mut self,
        header: &Header,
        challenge: Bytes,
        counters: CallCounters,
        app_data: &[u8],
    ) -> Result<Vec<u8>, AbortCode> {
        if app_data.is_empty() {
            self.respond_to_challenge(header, challenge, counters)
        } else {
            Err(AbortCode::RX_INVALID_OPERATION)
        }
    }

    /// Client: the header `cksum` of the RESPONSE just built (yfs-rxgk carries its key number
    /// there); 0 by default.
    fn response_cksum(&self) -> u16 {
        0
    }

    /// Service: the body of a CHALLENGE to send (called again for a retransmission; a class
    /// may keep its nonce). `None` if the class needs no challenge.
    fn issue_challenge(&mut self) -> Option<Vec<u8>> {
        None
    }

    /// Service: check a RESPONSE. On success the connection becomes secure at the level the
    /// client chose and the returned identity goes with every call on it.
    fn verify_response(
        &mut self,
        header: &Header,
        response: Bytes,
    ) -> Result<PeerIdentity, AbortCode> {
        let _ = (header, response);
        Err(AbortCode::RX_PROTOCOL_ERROR)
    }

    /// Service: whether the connection's credentials have run out (checked at each new call; an
    /// expired connection's calls are aborted with the class's code).
    fn expired(&self) -> Option<AbortCode> {
        None
    }
}

/// A client's credentials for one security class; makes the per-connection state.
///
/// Calls that use the same `Arc<dyn ClientSecurity>` (and peer and service) share connections;
/// calls with different objects never do.
pub trait ClientSecurity: Send + Sync + Debug {
    /// The class's security index.
    fn security_index(&self) -> SecurityIndex;
    /// The level calls made with these credentials ask for.
    fn level(&self) -> SecurityLevel;
    /// Application data bytes that fit in one DATA packet of at most `max_payload` payload
    /// bytes on a connection made with these credentials (as [`ConnSecurity::data_capacity`]
    /// will say; the engine sizes a call's packets before it has a connection).
    fn data_capacity(&self, max_payload: usize) -> usize;
    /// Make the security state of a new client connection.
    fn new_conn(&self, ident: &ConnIdent) -> Result<Box<dyn ConnSecurity>, AbortCode>;
}

/// A server's keys for one security class; makes the per-connection state of service
/// connections.
pub trait ServerSecurity: Send + Sync + Debug {
    /// The class's security index.
    fn security_index(&self) -> SecurityIndex;
    /// Make the (not yet secure) state of a new service connection.
    fn new_conn(&self, ident: &ConnIdent) -> Result<Box<dyn ConnSecurity>, AbortCode>;
}

/// Shared client credentials, as [`crate::CallParams`] carries them.
pub type ClientSecurityRef = Arc<dyn ClientSecurity>;
/// Shared server keys, as a service socket holds them.
pub type ServerSecurityRef = Arc<dyn ServerSecurity>;

/// What an application sees of a CHALLENGE it manages (see [`ManagedChallenges`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChallengeInfo {
    /// The server's address.
    pub peer: SocketAddr,
    /// The service of the connection.
    pub service_id: ServiceId,
    /// The connection's security index.
    pub security_index: SecurityIndex,
    /// The raw CHALLENGE body (e.g. rxgk's 20-byte nonce).
    pub challenge: Bytes,
}

/// The application's answer to a CHALLENGE: the application data for the RESPONSE, or an abort
/// code that rejects the challenge (and aborts the connection).
pub type ChallengeAnswer = Result<Bytes, AbortCode>;

/// Callback deciding how to answer a CHALLENGE.
pub type ChallengeHandler = Arc<dyn Fn(&ChallengeInfo) -> ChallengeAnswer + Send + Sync>;

/// Application-managed challenges (the userspace counterpart of the kernel's
/// `RXRPC_MANAGE_RESPONSE` out-of-band messages): wraps client credentials so that every
/// CHALLENGE on their connections is shown to `handler`, which supplies the application data
/// for the RESPONSE (yfs-rxgk `appdata`, e.g. a token for a callback channel) or rejects the
/// challenge with an abort code.
///
/// The handler runs on the endpoint's driver and must not block.
///
/// ```
/// # use std::sync::Arc;
/// # use bytes::Bytes;
/// # use rxrpc_proto::security::*;
/// # fn wrap(creds: ClientSecurityRef) -> ClientSecurityRef {
/// Arc::new(ManagedChallenges::new(creds, Arc::new(|c: &ChallengeInfo| {
///     println!("{} challenges us", c.peer);
///     Ok(Bytes::from_static(b"callback-token"))
/// })))
/// # }
/// ```
pub struct ManagedChallenges {
    inner: ClientSecurityRef,
    handler: ChallengeHandler,
}

impl ManagedChallenges {
    /// Wrap `inner` so that `handler` answers its connections' CHALLENGEs.
    pub fn new(inner: ClientSecurityRef, handler: ChallengeHandler) -> Self {
        ManagedChallenges { inner, handler }
    }
}

impl Debug for ManagedChallenges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagedChallenges")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl ClientSecurity for ManagedChallenges {
    fn security_index(&self) -> SecurityIndex {
        self.inner.security_index()
    }
    fn level(&self) -> SecurityLevel {
        self.inner.level()
    }
    fn data_capacity(&self, max_payload: usize) -> usize {
        self.inner.data_capacity(max_payload)
    }
    fn new_conn(&self, ident: &ConnIdent) -> Result<Box<dyn ConnSecurity>, AbortCode> {
        Ok(Box::new(ManagedConn {
            inner: self.inner.new_conn(ident)?,
            handler: Arc::clone(&self.handler),
            ident: *ident,
        }))
    }
}

struct ManagedConn {
    inner: Box<dyn ConnSecurity>,
    handler: ChallengeHandler,
    ident: ConnIdent,
}

impl Debug for ManagedConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagedConn")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl ConnSecurity for ManagedConn {
    fn level(&self) -> SecurityLevel {
        self.inner.level()
    }
    fn is_secure(&self) -> bool {
        self.inner.is_secure()
    }
    fn data_capacity(&self, max_payload: usize) -> usize {
        self.inner.data_capacity(max_payload)
    }
    fn secure_packet(
        &mut self,
        header: &mut Header,
        data: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), AbortCode> {
        self.inner.secure_packet(header, data, out)
    }
    fn verify_packet(&mut self, header: &Header, payload: Bytes) -> Result<Bytes, AbortCode> {
        self.inner.verify_packet(header, payload)
    }
    fn respond_to_challenge(
        &mut self,
        header: &Header,
        challenge: Bytes,
        counters: CallCounters,
    ) -> Result<Vec<u8>, AbortCode> {
        let info = ChallengeInfo {
            peer: self.ident.peer,
            service_id: self.ident.service_id,
            security_index: self.ident.security_index,
            challenge: challenge.clone(),
        };
        let app_data = (self.handler)(&info)?;
        self.inner
            .respond_with_app_data(header, challenge, counters, &app_data)
    }
    fn response_cksum(&self) -> u16 {
        self.inner.response_cksum()
    }
}
