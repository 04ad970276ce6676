//! The rxkad security class (security index 2) for rxrpc.
//!
//! rxkad authenticates a connection with a Kerberos IV style ticket and protects its DATA
//! packets with the FCrypt cipher under the ticket's session key, at one of three levels:
//! `clear` ([`SecurityLevel::Plain`]: a 16-bit header checksum only), `auth`
//! ([`SecurityLevel::Auth`]: also a sealed length/sequence word) and `crypt`
//! ([`SecurityLevel::Encrypt`]: the whole payload encrypted). It is wire-compatible with
//! OpenAFS and the Linux kernel's AF_RXRPC.
//!
//! * Client: an [`RxkadToken`] (kvno, session key, sealed ticket, expiry, level) becomes an
//!   [`RxkadClient`], which implements [`ClientSecurity`]. Each connection's
//!   [`RxkadClientConn`] checksums and protects every DATA packet and answers the server's
//!   CHALLENGE (version 2, or the old version 1) with a RESPONSE carrying the ticket.
//! * Server: an [`RxkadServer`] (a [`KeyStore`] of DES server keys by kvno, a minimum level,
//!   a [`Clock`]) implements [`ServerSecurity`]. Each service connection's
//!   [`RxkadServerConn`] issues a version-2 CHALLENGE with a random nonce, verifies the
//!   RESPONSE (ticket, times, checksum, connection identity, nonce, level) and then protects
//!   packets at the level the client chose; [`ConnSecurity::verify_response`] returns the
//!   client's [`PeerIdentity`].
//! * Tickets: [`Ticket`] encodes, seals (DES-PCBC), opens and decodes them; [`mint_token`]
//!   makes a ticket and token from a server key, as OpenAFS's `-localauth` does. The
//!   `rxkad-ticket` binary does the same from the command line.
//! * Keys: [`KeyTable`] reads OpenAFS `KeyFile` and `KeyFileExt` files.
//!
//! Errors are rxkad abort codes (`RXKAD*` in [`AbortCode`]).
//!
//! With the `fuzzing` feature every checksum and nonce comparison is skipped and the ciphers
//! become the identity, so that fuzzers reach the code behind them. Never enable it otherwise.
//!
//! # Example
//!
//! A service holding the cell's `KeyFile`, a client with a token minted from the same key,
//! and the handshake and one packet exchanged through the [`ConnSecurity`] interface the
//! engine uses:
//!
//! ```
//! use std::sync::Arc;
//! use bytes::Bytes;
//! use rxrpc_proto::Side;
//! use rxrpc_proto::security::*;
//! use rxrpc_proto::wire::*;
//! use rxrpc_rxkad::*;
//!
//! // The server's keys: an OpenAFS KeyFile with key 0123456789abcdef as kvno 1.
//! let keyfile = [0, 0, 0, 1, 0, 0, 0, 1, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef];
//! let keys = KeyTable::parse_keyfile(&keyfile).unwrap(); // or KeyTable::load_dir(path)
//! let server = RxkadServer::new(Arc::new(keys.clone()), SecurityLevel::Auth);
//!
//! // A client token for "admin", valid for an hour, asking for encryption.
//! let (kvno, key) = keys.newest().unwrap();
//! let token = mint_token(&key, kvno, "admin", "", "", Lifetime::Seconds(3600), None)
//!     .unwrap()
//!     .with_level(SecurityLevel::Encrypt);
//! let client = RxkadClient::new(token);
//!
//! // Both ends of one connection.
//! let ident = |side| ConnIdent {
//!     side,
//!     peer: "127.0.0.1:7000".parse().unwrap(),
//!     epoch: Epoch(0x8000_1234),
//!     cid: ConnId(0x40),
//!     service_id: ServiceId(1),
//!     security_index: SecurityIndex::RXKAD,
//! };
//! let mut c = client.new_conn(&ident(Side::Client)).unwrap();
//! let mut s = server.new_conn(&ident(Side::Service)).unwrap();
//! assert!(!s.is_secure());
//!
//! // CHALLENGE -> RESPONSE -> identity.
//! let hdr = Header::default();
//! let challenge = s.issue_challenge().unwrap();
//! let response = c
//!     .respond_to_challenge(&hdr, Bytes::from(challenge), [CallNumber(1); 4])
//!     .unwrap();
//! let who = s.verify_response(&hdr, Bytes::from(response)).unwrap();
//! assert_eq!((who.name.as_str(), who.level), ("admin", SecurityLevel::Encrypt));
//! assert!(s.is_secure());
//!
//! // One DATA packet from client to server.
//! let mut h = Header {
//!     epoch: Epoch(0x8000_1234),
//!     cid: Cid(0x41),
//!     call_number: CallNumber(1),
//!     seq: Seq(1),
//!     security_index: SecurityIndex::RXKAD,
//!     ..Header::default()
//! };
//! assert_eq!(c.data_capacity(1412), 1400);
//! let mut wire = Vec::new();
//! c.secure_packet(&mut h, b"hello", &mut wire).unwrap();
//! assert_ne!(h.cksum, 0);
//! assert_eq!(wire.len(), 16); // 8-byte security header + 5 bytes, padded
//! assert_eq!(&s.verify_packet(&h, Bytes::from(wire)).unwrap()[..], b"hello");
//! ```

mod client;
mod clock;
mod des_pcbc;
pub mod fcrypt;
pub mod hex;
mod keys;
mod packet;
mod random;
pub mod response;
mod server;
pub mod ticket;

use rxrpc_proto::wire::{AbortCode, WireError};

pub use client::{RxkadClient, RxkadClientConn, RxkadToken, TokenError};
pub use clock::{Clock, ManualClock, SystemClock};
pub use keys::{DesKey, KEY_TYPE_RXKAD, KVNO_BCRYPT, KeyError, KeyStore, KeyTable};
pub use packet::data_capacity;
pub use server::{KVNO_KERBEROS_V5, KVNO_KERBEROS_V5_ENCPART_ONLY, RxkadServer, RxkadServerConn};
pub use ticket::{Lifetime, Ticket, TicketError, Validity};

// For the links in the crate documentation.
#[allow(unused_imports)]
use rxrpc_proto::security::{
    ClientSecurity, ConnSecurity, PeerIdentity, SecurityLevel, ServerSecurity,
};

/// Whether the crate was built for fuzzing (comparisons skipped, ciphers the identity).
#[inline(always)]
pub(crate) const fn fuzzing() -> bool {
    cfg!(feature = "fuzzing")
}

/// The abort code for a CHALLENGE or RESPONSE body that does not decode.
pub(crate) fn wire_error_code(e: WireError) -> AbortCode {
    match e {
        WireError::Truncated { .. } | WireError::TrailingBytes { .. } => {
            AbortCode::RXKADPACKETSHORT
        }
        WireError::TooLong { .. } => AbortCode::RXKADTICKETLEN,
        _ => AbortCode::RXKADINCONSISTENCY,
    }
}

/// Mint a ticket for `name.instance@realm` sealed with `server_key` (version `kvno`) and the
/// token that carries it, as OpenAFS's `-localauth` does: service `afs`, host 0, a random
/// session key unless one is given. [`Lifetime::Never`] makes a never-expiring ticket starting
/// at 0; a finite lifetime starts 60 seconds ago (some tolerance for clock skew). The token
/// asks for [`SecurityLevel::Encrypt`].
pub fn mint_token(
    server_key: &DesKey,
    kvno: u32,
    name: &str,
    instance: &str,
    realm: &str,
    lifetime: Lifetime,
    session_key: Option<DesKey>,
) -> Result<RxkadToken, TicketError> {
    let start = match lifetime {
        Lifetime::Never => 0,
        Lifetime::Seconds(_) => {
            let now = SystemClock.now().saturating_sub(60);
            u32::try_from(now).map_err(|_| TicketError::Lifetime)?
        }
    };
    mint_token_at(
        server_key,
        kvno,
        name,
        instance,
        realm,
        lifetime,
        session_key,
        start,
    )
}

/// [`mint_token`] with an explicit start time (Unix seconds).
#[allow(clippy::too_many_arguments)]
pub fn mint_token_at(
    server_key: &DesKey,
    kvno: u32,
    name: &str,
    instance: &str,
    realm: &str,
    lifetime: Lifetime,
    session_key: Option<DesKey>,
    start: u32,
) -> Result<RxkadToken, TicketError> {
    let session_key = session_key.unwrap_or_else(DesKey::random);
    let t = ticket::make_ticket(name, instance, realm, session_key, start, lifetime)?;
    let sealed = t.seal(server_key)?;
    Ok(RxkadToken::new(
        kvno,
        session_key,
        sealed,
        t.expires(),
        SecurityLevel::Encrypt,
    ))
}
