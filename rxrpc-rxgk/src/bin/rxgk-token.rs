//! `rxgk-token`: make yfs-rxgk tokens and keys.
//!
//! ```text
//! rxgk-token mint --server-key HEX [--enctype 18] [--kvno 1] [--level encrypt] [--k0 HEX]
//!                 [--k0-enctype E] [--lifetime S] [--bytelife N] [--start UNIX]
//!                 [--expire-in S] [--confounder HEX]
//!     prints ENCTYPE= KVNO= LEVEL= K0= TICKET= (shell assignments, like
//!     make-rxgk-token.py token): the client's session key K0 and the ticket for a server
//!     holding HEX as key (kvno, enctype).
//! rxgk-token rxperf-key [--enctype 18]      the Linux rxperf.ko server key (00 01 02 ...)
//! rxgk-token key [--enctype 18]             a random server key
//! rxgk-token tk --k0 HEX [--enctype 18] --epoch N --cid N --start-time N [--key-number 0]
//!     the transport key and the packet keys derived from it
//! rxgk-token open --server-key ENCTYPE:KVNO:HEX TICKET
//!     decrypt a ticket and print what it holds
//! ```

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use rxrpc_proto::security::SecurityLevel;
use rxrpc_rxgk::clock::{Clock, TICKS_PER_SEC};
use rxrpc_rxgk::conn::transport_key;
use rxrpc_rxgk::hex;
use rxrpc_rxgk::krb5::{Enctype, Key, KeyRole};
use rxrpc_rxgk::token::{MintParams, open_ticket};

#[derive(Parser)]
#[command(name = "rxgk-token", about = "Make yfs-rxgk tokens and keys")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Mint a client token (K0 and ticket) sealed with a server key.
    Mint {
        /// The server key, hex.
        #[arg(long)]
        server_key: String,
        /// Enctype of the server key.
        #[arg(long, default_value_t = 18)]
        enctype: u32,
        /// Key version number of the server key.
        #[arg(long, default_value_t = 1)]
        kvno: u32,
        /// Security level: plain, auth or encrypt.
        #[arg(long, default_value = "encrypt")]
        level: String,
        /// Session key K0, hex (default: random).
        #[arg(long)]
        k0: Option<String>,
        /// Enctype of K0 (default: the server key's).
        #[arg(long)]
        k0_enctype: Option<u32>,
        /// Seconds before rekeying (0 = never).
        #[arg(long, default_value_t = 0)]
        lifetime: u32,
        /// log2 bytes before rekeying (0 = never).
        #[arg(long, default_value_t = 0)]
        bytelife: u32,
        /// Unix time of the token's start, seconds (may have a fraction; default now).
        #[arg(long)]
        start: Option<String>,
        /// Seconds of validity after the start (0 = never expires).
        #[arg(long, default_value_t = 3600)]
        expire_in: u64,
        /// Confounder for sealing the ticket, 16 bytes hex (default random).
        #[arg(long)]
        confounder: Option<String>,
    },
    /// Print the server key of Linux's rxperf.ko for an enctype.
    RxperfKey {
        /// Enctype.
        #[arg(long, default_value_t = 18)]
        enctype: u32,
    },
    /// Print a random server key.
    Key {
        /// Enctype.
        #[arg(long, default_value_t = 18)]
        enctype: u32,
    },
    /// Derive a connection's transport key and packet keys.
    Tk {
        /// Session key K0, hex.
        #[arg(long)]
        k0: String,
        /// Enctype of K0.
        #[arg(long, default_value_t = 18)]
        enctype: u32,
        /// Connection epoch (decimal or 0x hex).
        #[arg(long, value_parser = parse_u32)]
        epoch: u32,
        /// Connection ID without channel bits (decimal or 0x hex).
        #[arg(long, value_parser = parse_u32)]
        cid: u32,
        /// The RESPONSE's start time (100 ns units).
        #[arg(long)]
        start_time: u64,
        /// Key number.
        #[arg(long, default_value_t = 0)]
        key_number: u32,
    },
    /// Decrypt a ticket with a server key and print its contents.
    Open {
        /// ENCTYPE:KVNO:HEX.
        #[arg(long)]
        server_key: String,
        /// The ticket, hex.
        ticket: String,
    },
}

fn parse_u32(s: &str) -> Result<u32, String> {
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u32::from_str_radix(h, 16),
        None => s.parse(),
    };
    r.map_err(|e| e.to_string())
}

fn enctype(n: u32) -> Result<Enctype, String> {
    Enctype::from_number(n)
        .ok_or_else(|| format!("enctype {n} is not supported (17, 18, 19, 20, 25, 26)"))
}

fn key(et: Enctype, hexkey: &str, what: &str) -> Result<Key, String> {
    let b = hex::decode(hexkey).ok_or_else(|| format!("{what}: not hex"))?;
    Key::new(et, &b).map_err(|e| format!("{what}: {e}"))
}

fn level(s: &str) -> Result<SecurityLevel, String> {
    match s {
        "plain" | "clear" => Ok(SecurityLevel::Plain),
        "auth" => Ok(SecurityLevel::Auth),
        "encrypt" | "crypt" => Ok(SecurityLevel::Encrypt),
        _ => Err(format!("level {s:?}: plain, auth or encrypt")),
    }
}

/// "1795852375" or "1795852375.25" seconds -> rxgk time, exactly.
fn rxgk_time_of(s: &str) -> Result<u64, String> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: u64 = int
        .parse()
        .map_err(|_| format!("start {s:?}: not a number"))?;
    let mut ticks = 0u64;
    let mut scale = TICKS_PER_SEC / 10;
    for c in frac.chars().take(7) {
        let d = c
            .to_digit(10)
            .ok_or_else(|| format!("start {s:?}: not a number"))?;
        ticks += u64::from(d) * scale;
        scale /= 10;
    }
    Ok(secs.saturating_mul(TICKS_PER_SEC).saturating_add(ticks))
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.cmd {
        Cmd::Mint {
            server_key,
            enctype: et,
            kvno,
            level: lv,
            k0,
            k0_enctype,
            lifetime,
            bytelife,
            start,
            expire_in,
            confounder,
        } => {
            let et = enctype(et)?;
            let sk = key(et, &server_key, "--server-key")?;
            let k0et = match k0_enctype {
                Some(n) => enctype(n)?,
                None => et,
            };
            let k0 = match k0 {
                Some(h) => key(k0et, &h, "--k0")?,
                None => Key::random(k0et).map_err(|e| e.to_string())?,
            };
            let lv_name = lv.clone();
            let lv = level(&lv)?;
            let start = match start {
                Some(s) => rxgk_time_of(&s)?,
                None => Clock::system().now(),
            };
            let mut p = MintParams::new(kvno, lv, k0.clone(), start, expire_in);
            p.lifetime = lifetime;
            p.bytelife = bytelife;
            if let Some(c) = confounder {
                let c = hex::decode(&c).ok_or("--confounder: not hex")?;
                p.confounder = Some(c.try_into().map_err(|_| "--confounder: need 16 bytes")?);
            }
            let token = p.mint(&sk).map_err(|e| e.to_string())?;
            println!("ENCTYPE={}", k0et.number());
            println!("KVNO={kvno}");
            println!("LEVEL={lv_name}");
            println!("K0={}", hex::encode(k0.as_bytes()));
            println!("TICKET={}", hex::encode(&token.ticket));
            println!(
                "# token sealed with {} server key kvno {kvno} (usage 1036); K0 {}; level {}; start {}; expires {}; ticket {} bytes",
                et.name(),
                k0et.name(),
                lv.to_wire(),
                p.start,
                p.expiration,
                token.ticket.len()
            );
        }
        Cmd::RxperfKey { enctype: et } => {
            let et = enctype(et)?;
            println!(
                "{}",
                hex::encode(&(0..et.key_len() as u8).collect::<Vec<_>>())
            );
        }
        Cmd::Key { enctype: et } => {
            let k = Key::random(enctype(et)?).map_err(|e| e.to_string())?;
            println!("{}", hex::encode(k.as_bytes()));
        }
        Cmd::Tk {
            k0,
            enctype: et,
            epoch,
            cid,
            start_time,
            key_number,
        } => {
            let k0 = key(enctype(et)?, &k0, "--k0")?;
            let tk = transport_key(&k0, epoch, cid, start_time, key_number);
            println!("TK={}", hex::encode(tk.as_bytes()));
            for (name, usage) in [
                ("client_enc_packet", rxrpc_rxgk::RXGK_CLIENT_ENC_PACKET),
                ("client_mic_packet", rxrpc_rxgk::RXGK_CLIENT_MIC_PACKET),
                ("server_enc_packet", rxrpc_rxgk::RXGK_SERVER_ENC_PACKET),
                ("server_mic_packet", rxrpc_rxgk::RXGK_SERVER_MIC_PACKET),
                ("client_enc_response", rxrpc_rxgk::RXGK_CLIENT_ENC_RESPONSE),
            ] {
                println!(
                    "# usage {usage} {name}: Ke={} Ki={} Kc={}",
                    hex::encode(&tk.derive_usage_key(usage, KeyRole::Encryption)),
                    hex::encode(&tk.derive_usage_key(usage, KeyRole::Integrity)),
                    hex::encode(&tk.derive_usage_key(usage, KeyRole::Checksum)),
                );
            }
        }
        Cmd::Open { server_key, ticket } => {
            let mut parts = server_key.splitn(3, ':');
            let (Some(e), Some(v), Some(h)) = (parts.next(), parts.next(), parts.next()) else {
                return Err("--server-key: ENCTYPE:KVNO:HEX".into());
            };
            let e: u32 = e.parse().map_err(|_| "--server-key: bad enctype")?;
            let v: u32 = v.parse().map_err(|_| "--server-key: bad kvno")?;
            let sk = key(enctype(e)?, h, "--server-key")?;
            let t = hex::decode(&ticket).ok_or("ticket: not hex")?;
            let (c, tok) = open_ticket(&t, |kvno, et| (kvno == v && et == e).then(|| sk.clone()))
                .map_err(|e| e.to_string())?;
            println!("container: kvno {} enctype {}", c.kvno, c.enctype);
            println!(
                "token: K0 enctype {} K0={} level={} start={} lifetime={} bytelife={} expires={} identities={}",
                tok.k0.enctype().number(),
                hex::encode(tok.k0.as_bytes()),
                tok.level.to_wire(),
                tok.start,
                tok.lifetime,
                tok.bytelife,
                tok.expiration,
                tok.identities.len()
            );
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rxgk-token: {e}");
            ExitCode::FAILURE
        }
    }
}
