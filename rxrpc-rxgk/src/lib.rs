//! yfs-rxgk, the GSS-API/Kerberos 5 security class of AuriStor and Linux (security index 6),
//! for the rxrpc engine.
//!
//! * [`krb5`]: the RFC 3961 cryptosystem for enctypes 17, 18 (RFC 3962), 19, 20 (RFC 8009) and
//!   25, 26 (RFC 6803): key derivation, encrypt/decrypt, MICs, PRF and PRF+.
//! * [`token`]: the client's token, the ticket format Linux's default YFS decoder reads, and
//!   minting tickets from a server key.
//! * [`RxgkClient`] ([`rxrpc_proto::security::ClientSecurity`]) and [`RxgkServer`]
//!   ([`rxrpc_proto::security::ServerSecurity`]) make [`RxgkConn`]s
//!   ([`rxrpc_proto::security::ConnSecurity`]), which protect DATA packets and run the
//!   CHALLENGE/RESPONSE exchange.
//!
//! # The protocol, as Linux 7.3 speaks it
//!
//! * **Transport key** per connection and key number:
//!   `TK = PRF+(K0, key length, be32 epoch | be32 cid | be64 start_time | be32 key_number)`,
//!   where `start_time` is the client's (sent in the RESPONSE) and `cid` has no channel bits.
//!   From TK, per direction, come the packet keys: client→server usage 1026 (encrypt) / 1027
//!   (MIC), server→client 1028 / 1029; the RESPONSE authenticator uses 1030.
//! * **Levels**: plain (0) sends data as is; auth (1) prefixes a MIC over the 24-byte
//!   pseudo-header `epoch | cid | call | seq | security index | data length` and the data;
//!   encrypt (2) sends `encrypt(pseudo-header | data)`. Only the low 16 bits of the key number
//!   travel, in the header's `cksum` field.
//! * **Rekeying**: a key number is used until its lifetime (seconds) or byte budget
//!   (2^bytelife bytes sent) runs out, then the sender moves to the next; a receiver follows
//!   when the peer's packets carry a later key number and verify (Linux accepts current+1; we
//!   accept up to [`conn::KEYS_AHEAD`] ahead, for when packets were lost). The previous keys
//!   stay usable for packets in flight ([`conn::KEYS_BEHIND`]).
//! * **CHALLENGE**: 20 random bytes. **RESPONSE**: `be64 start_time | opaque ticket |
//!   opaque encrypt(TK usage 1030, nonce | opaque appdata | level | epoch | cid | 4 | calls[4])`,
//!   its header `cksum` carrying the key number.
//!
//! # Where this differs from Linux (deliberately)
//!
//! * A RESPONSE whose ticket has expired is refused with `RXGK_EXPIRED`; Linux ignores it (a
//!   "temporary" key error) and challenges again.
//! * Received key numbers are accepted from [`conn::KEYS_BEHIND`] before to
//!   [`conn::KEYS_AHEAD`] after the current one (Linux: one either way), because this engine
//!   does not verify duplicate DATA and so may not see every key change of a peer.
//! * A connection moves to a later key only after a packet under it verifies (Linux marks the
//!   current key for rekeying on seeing current+1).
//! * [`RxgkServer::with_min_level`] refuses tickets below a level with `RXGK_BADLEVEL`.
//! * Unknown (kvno, enctype) in a ticket gives `RXGK_NOTAUTH`, as observed from Linux 7.3.
//!
//! # What the engine must do
//!
//! * Put the client's current key number (low 16 bits, [`RxgkConn::key_number`]) in the
//!   `cksum` field of the RESPONSE header: the server derives the authenticator's key from it.
//!   (At the first CHALLENGE it is 0 unless the client already rekeyed.)
//! * Pass each DATA (sub)packet's own header to `verify_packet` (its `cksum` is the key
//!   number) and write the header after `secure_packet` (which sets `cksum`).
//!
//! # Example: a handshake and a packet, through the trait objects
//!
//! ```
//! use bytes::Bytes;
//! use rxrpc_proto::call::Side;
//! use rxrpc_proto::security::*;
//! use rxrpc_proto::wire::*;
//! use rxrpc_rxgk::krb5::{Enctype, Key};
//! use rxrpc_rxgk::token::MintParams;
//! use rxrpc_rxgk::{RxgkClient, RxgkServer};
//!
//! // The server's key, and a token minted from it (normally obtained from a token service).
//! let server_key = Key::new(Enctype::Aes128CtsHmacSha256128, &[9u8; 16]).unwrap();
//! let now = rxrpc_rxgk::clock::Clock::system().now();
//! let k0 = Key::random(Enctype::Aes128CtsHmacSha256128).unwrap();
//! let token = MintParams::new(1, SecurityLevel::Encrypt, k0, now, 3600).mint(&server_key).unwrap();
//!
//! let client: ClientSecurityRef = std::sync::Arc::new(RxgkClient::new(token).with_app_data(&b"hi"[..]));
//! let server: ServerSecurityRef = std::sync::Arc::new(RxgkServer::new().with_key(1, server_key));
//!
//! let ident = |side| ConnIdent {
//!     side,
//!     peer: "127.0.0.1:7000".parse().unwrap(),
//!     epoch: Epoch(0x8000_1234),
//!     cid: ConnId(0x40),
//!     service_id: ServiceId(147),
//!     security_index: SecurityIndex::YFS_RXGK,
//! };
//! let mut c = client.new_conn(&ident(Side::Client)).unwrap();
//! let mut s = server.new_conn(&ident(Side::Service)).unwrap();
//! assert!(!s.is_secure());
//!
//! let challenge = s.issue_challenge().unwrap();
//! let hdr = Header { security_index: SecurityIndex::YFS_RXGK, ..Header::default() };
//! let response = c.respond_to_challenge(&hdr, Bytes::from(challenge), [CallNumber(1), CallNumber(0), CallNumber(0), CallNumber(0)]).unwrap();
//! let who = s.verify_response(&hdr, Bytes::from(response)).unwrap();
//! assert_eq!(who.level, SecurityLevel::Encrypt);
//! assert_eq!(&who.app_data[..], b"hi");
//!
//! // A DATA packet from the client.
//! let mut h = Header {
//!     epoch: Epoch(0x8000_1234), cid: Cid(0x41), call_number: CallNumber(1), seq: Seq(1),
//!     packet_type: PacketType::DATA, security_index: SecurityIndex::YFS_RXGK,
//!     ..Header::default()
//! };
//! let mut wire = Vec::new();
//! c.secure_packet(&mut h, b"request", &mut wire).unwrap();
//! assert_eq!(wire.len(), 16 + 24 + 7 + 16);
//! assert_eq!(&s.verify_packet(&h, Bytes::from(wire)).unwrap()[..], b"request");
//! ```

mod client;
pub mod clock;
pub mod conn;
pub mod hex;
pub mod krb5;
mod server;
pub mod token;
mod xdr;

use rxrpc_proto::wire::AbortCode;

pub use client::RxgkClient;
pub use conn::RxgkConn;
pub use server::{RxgkServer, ServerKeys};

/// Key usage: client→server DATA encryption.
pub const RXGK_CLIENT_ENC_PACKET: u32 = 1026;
/// Key usage: client→server DATA MIC.
pub const RXGK_CLIENT_MIC_PACKET: u32 = 1027;
/// Key usage: server→client DATA encryption.
pub const RXGK_SERVER_ENC_PACKET: u32 = 1028;
/// Key usage: server→client DATA MIC.
pub const RXGK_SERVER_MIC_PACKET: u32 = 1029;
/// Key usage: the RESPONSE authenticator.
pub const RXGK_CLIENT_ENC_RESPONSE: u32 = 1030;
/// Key usage: the token sealed in a ticket with the server key.
pub const RXGK_SERVER_ENC_TOKEN: u32 = 1036;

/// Length of a CHALLENGE nonce.
pub const NONCE_LEN: usize = 20;
/// Length of the pseudo-header AUTH and ENCRYPT packets protect.
pub const PSEUDO_HEADER_LEN: usize = 24;

/// Kerberos `KRB5_PROG_KEYTYPE_NOSUPP` (-1765328233): the abort code Linux uses when a
/// ticket's session key has an enctype it does not support. Not in `rxrpc_proto::wire::codes`.
pub const KRB5_PROG_KEYTYPE_NOSUPP: AbortCode = AbortCode(-1_765_328_233);
