//! # rxrpc-xdr: XDR for Rx, and the runtime of rxgen-generated stubs
//!
//! XDR (RFC 4506) as OpenAFS's rxgen uses it, with every bound enforced on decode:
//!
//! * [`Encoder`] / [`Decoder`] for the primitive items: `int`, `unsigned`, `hyper`, `bool`,
//!   `float`, `double`, the *widened* `char` / `short` (4 bytes each, as OpenAFS sends them),
//!   fixed and variable opaque data, strings, fixed and variable arrays, optional data;
//!   enums, structs and discriminated unions are composed from those by generated code.
//! * The [`Xdr`] trait, implemented for primitives and by `rxgen` for every named type.
//! * Typed errors ([`DecodeErrorKind`]): a length over its declared bound, a count that cannot
//!   fit in the input (checked *before* allocating, the lesson of OPENAFS-SA-2018-003 and
//!   2024-003), truncation, non-zero padding, bad `bool`s, out-of-range widened values, unknown
//!   enum values and union discriminants, excessive nesting, trailing bytes. Each error
//!   carries the byte offset and the field path.
//! * [`StreamDecoder`]: decoding from data that arrives in pieces, for split calls.
//! * With the default `rx` feature, [`rx`]: the client and server runtime the generated stubs
//!   call ([`rx::RpcClient`], [`rx::serve`], [`rx::CallStream`]).
//!
//! ```
//! use rxrpc_xdr::{Decoder, DecodeErrorKind, Encoder};
//!
//! let mut e = Encoder::new();
//! e.u32(504); // an opcode
//! e.string(b"root.cell", 65).unwrap();
//! let wire = e.into_vec();
//! assert_eq!(wire.len(), 4 + 4 + 12);
//!
//! let mut d = Decoder::new(&wire);
//! assert_eq!(d.u32().unwrap(), 504);
//! // A bound smaller than the string on the wire is a typed error.
//! let err = d.string(4).unwrap_err();
//! assert_eq!(err.kind(), &DecodeErrorKind::LengthOverBound { len: 9, max: 4 });
//! ```
#![forbid(unsafe_code)]

mod codec;
mod error;
#[cfg(feature = "rx")]
pub mod rx;
mod stream;
mod types;

pub use codec::{Decoder, Encoder, Limits, UNBOUNDED, Xdr, min_of};
pub use error::{DecodeError, DecodeErrorKind, EncodeError, EncodeErrorKind};
pub use stream::{Decoded, StreamDecodeError, StreamDecoder};
pub use types::{AfsUuid, FixedChars, TooLong, XdrString, default_array};
