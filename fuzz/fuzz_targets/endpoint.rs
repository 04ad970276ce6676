//! Fuzz whole endpoints (rxnull): a client engine and a server engine exchange real calls over
//! a lossy, reordering "network" the fuzzer controls while fake peers inject crafted or
//! mutated datagrams at both and the clock jumps by any amount. See `endpoint_world.rs` for
//! the ops and the invariants; `endpoint_secure` runs the same world with rxkad and yfs-rxgk.
#![no_main]

#[allow(dead_code)] // each target runs one flavor
#[path = "endpoint_world.rs"]
mod world;

libfuzzer_sys::fuzz_target!(|data: &[u8]| world::run(data, world::Flavor::Plain));
