//! Fuzz whole endpoints with connection security: the world of the `endpoint` target with
//! the server accepting rxkad and yfs-rxgk (built with their `fuzzing` features), secured
//! client calls, and forged CHALLENGEs, RESPONSEs and secured DATA. See `endpoint_world.rs`.
#![no_main]

#[allow(dead_code)] // each target runs one flavor
#[path = "endpoint_world.rs"]
mod world;

libfuzzer_sys::fuzz_target!(|data: &[u8]| world::run(data, world::Flavor::Secure));
