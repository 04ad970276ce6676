//! `rxperf`: the rxperf-protocol benchmark client and server on the `rxrpc` runtime, a drop-in
//! for OpenAFS's `rxperf` (`src/tools/rxperf/rxperf.c`) that also talks to Linux's rxperf
//! server (`net/rxrpc/rxperf.c`, and `krxperf` of the test guest).
//!
//! ```text
//!   bin/rxperf ── cli (getopt-style options, OpenAFS's defaults) ──┬── client::run ── report
//!                                                                  └── server::Server::run
//!   proto     ── the wire format: 16-byte prefix, per-op sizes, the 0x4711 cookie, abort codes
//!   stream    ── sending runs of zeros and counting what comes back, over rxrpc::Call
//!   histogram ── log-linear latency histogram (percentiles of rpc calls)
//!   progress  ── the one-line progress display on a terminal
//!   shutdown  ── Ctrl-C / SIGTERM: abort in-flight calls on the wire, then exit
//! ```
//!
//! # The protocol (service 147, UDP port 7009, all integers big-endian u32)
//!
//! | op | request after `version=3, op, rsize, wsize` | reply |
//! |---|---|---|
//! | SEND 0 | `nbytes`, `nbytes` of zeros | cookie `00 00 47 11` |
//! | RECV 1 | `nbytes` | `nbytes` of zeros, cookie |
//! | RPC 3 | `sendbytes`, `readbytes`, `sendbytes` of zeros | `readbytes` of zeros, cookie |
//! | FILE 4 | `n`, `n` entries (size in 4-byte words; 0 toggles the direction, starting client → server), then the client's data | the server's data, no cookie |
//!
//! # The two request conventions, and which one is sent
//!
//! Since February 2025 (upstream `c34d999ca314`, also in the 6.6.y and 6.12.y stable trees)
//! Linux's `rxperf.ko` reads the cookie `00 00 47 11` after the request data of SEND, RECV and
//! RPC and aborts a request without it (`RXGEN_SS_UNMARSHAL`). OpenAFS's client has never sent
//! it, and OpenAFS's server reads exactly the bytes it needs and ignores anything after them.
//! So **our client sends the cookie by default** (`--cookie`): that works with current Linux
//! kernels, with OpenAFS's server and with ours. `--no-cookie` sends OpenAFS's form, for Linux
//! kernels 6.2-6.13 without the fix (they abort a request that carries the cookie). Our server
//! accepts both: the request data may be followed by nothing or by exactly the cookie; anything
//! else is a short or long request.
//!
//! # Aborts of our server (those of Linux's rxperf server and of `krxperf`)
//!
//! * version other than 3: `RX_USER_ABORT` (-6);
//! * unknown operation: `RXGEN_OPCODE` (-455);
//! * request shorter or longer than its sizes say: `RXGEN_SS_UNMARSHAL` (-453).
//!
//! OpenAFS's server aborts all of these with -1 (the service procedure's return value).
//!
//! # Differences from OpenAFS's `rxperf`
//!
//! * `-c file` reports the bytes the file list actually moves (OpenAFS prints the unrelated
//!   `-b` value), and the list file is read line by line (OpenAFS's reader splits lines longer
//!   than 7 characters in two, see [`proto::parse_file_list`]).
//! * `-j`, `-m`, `-u`, `-N`, `-H`, `-V`, `-4` and the server's `-s`/`-S`/`-r`/`-w` are
//!   accepted for compatibility and have no effect (the runtime has no jumbo sending, no MTU
//!   or socket-buffer knobs, no thread pool). `-W` sets the receive and transmit windows,
//!   `-P` the smallest retransmission timeout, `-D` prints the endpoint's counters.
//! * `-d` (debug log) is refused, as in an OpenAFS build without `RXDEBUG`.
//! * Extra: `--json`, a second report line with latency percentiles for `rpc`, a progress line
//!   on a terminal (`--no-progress`), `--cookie`/`--no-cookie`, `--service`, `--bind`,
//!   `--workers` (tokio worker threads; 0, the default, is a current-thread runtime), the
//!   server's `-v`, and Ctrl-C (or SIGTERM) that aborts the calls in flight on the wire with
//!   `RX_CALL_DEAD` before exiting (status 130).
//! * Usage errors exit with status 1, as OpenAFS's `usage()` does.

pub mod cli;
pub mod client;
pub mod histogram;
pub mod progress;
pub mod proto;
pub mod report;
pub mod security;
pub mod server;
pub mod shutdown;
pub mod stream;

/// The Rx service ID of rxperf.
pub const SERVICE: u16 = 147;
/// The default UDP port ("to match tcpdump", which decodes 7000-7009 as Rx).
pub const DEFAULT_PORT: u16 = 7009;
/// The protocol version in the request prefix.
pub const VERSION: u32 = 3;
/// The magic cookie that ends replies (and, by the 2025 convention, requests).
pub const COOKIE: u32 = 0x4711;
/// The cookie as it travels.
pub const COOKIE_BYTES: [u8; 4] = COOKIE.to_be_bytes();
/// The largest read/write chunk (`RXPERF_BUFSIZE`), also the default of `-r` and `-w`.
pub const CHUNK_MAX: u32 = 512 * 1024;
/// The most client threads (`MAX_THREADS`).
pub const MAX_THREADS: u32 = 128;
/// Exit status after Ctrl-C or SIGTERM.
pub const EXIT_INTERRUPTED: i32 = 130;
