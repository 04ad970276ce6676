//! # rxdebug: query an Rx server's debugging interface
//!
//! The library behind the `rxdebug` binary, a reimplementation of OpenAFS's `rxdebug` with
//! the same switches and the same output, plus `--json`. It speaks the rxdebug protocol of
//! `reference-openafs-rx.md` §1.12: DEBUG packets (type 8) carrying an 8-byte request and
//! answered with raw C structures, and VERSION packets (type 13).
//!
//! ```text
//!   args   ── OpenAFS-style command line (-servers, -port, abbreviations, positional values)
//!   client ── blocking UDP exchange: epoch 999, call numbers from 101, 1 s doubling, 5 tries
//!   reply  ── tolerant decoding: short/long replies, BADTYPE, the old 172-byte conn record
//!   text   ── OpenAFS's output, printf for printf
//!   json   ── the --json report
//!   run    ── the driver: the order of requests, filters, errors and exit status
//! ```
//!
//! Servers this works against: OpenAFS (all debug formats 'L' to 'S'), the rxrpc crate's own
//! endpoints, and the Linux kernel for `-version` (Linux answers DEBUG with an ABORT, reported
//! as such).

pub mod args;
pub mod client;
pub mod json;
pub mod reply;
pub mod run;
pub mod text;

pub use run::main_with;
