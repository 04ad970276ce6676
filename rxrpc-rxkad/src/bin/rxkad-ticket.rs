//! `rxkad-ticket`: mint and decode rxkad (Kerberos IV style) tickets with a server key, like
//! OpenAFS's `-localauth`.
//!
//! ```text
//! rxkad-ticket mint --key 0123456789abcdef --name admin --lifetime 36000
//! rxkad-ticket mint --keyfile /tmp/cell/etc/KeyFile --name afs --never-expire
//! rxkad-ticket decode 5e1f...  --key 0123456789abcdef
//! ```
//!
//! `mint` prints `KVNO=`, `SESSION_KEY=`, `TICKET=` and `EXPIRES=` shell assignments (and a
//! `#` comment describing the ticket), the format `RxkadToken::from_assignments` reads.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use rxrpc_rxkad::ticket::{LIFE_NEVER, NEVER};
use rxrpc_rxkad::{DesKey, KeyStore, KeyTable, Lifetime, Ticket, hex, mint_token, mint_token_at};

#[derive(Parser)]
#[command(
    name = "rxkad-ticket",
    version,
    about = "Mint and decode rxkad tickets"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Args)]
#[group(required = true, multiple = false)]
struct KeySource {
    /// Server key, 16 hex digits.
    #[arg(long)]
    key: Option<String>,
    /// OpenAFS KeyFile or KeyFileExt (the newest rxkad key, or the one --kvno names).
    #[arg(long)]
    keyfile: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Make a ticket and print KVNO=, SESSION_KEY=, TICKET= and EXPIRES= assignments.
    Mint {
        #[command(flatten)]
        key: KeySource,
        /// Key version number (default: 1 with --key, the newest key with --keyfile).
        #[arg(long)]
        kvno: Option<u32>,
        /// Principal name.
        #[arg(long)]
        name: String,
        /// Principal instance.
        #[arg(long, default_value = "")]
        instance: String,
        /// Realm (empty: the server's own cell).
        #[arg(long, default_value = "")]
        realm: String,
        /// Lifetime in seconds (1..=2592000).
        #[arg(long, conflicts_with = "never_expire", default_value_t = 36000)]
        lifetime: u32,
        /// A ticket that never expires (start 0 unless --start; OpenAFS servers only).
        #[arg(long)]
        never_expire: bool,
        /// Session key, 16 hex digits (default: random).
        #[arg(long)]
        session: Option<String>,
        /// Start time, Unix seconds (default: now - 60, or 0 with --never-expire).
        #[arg(long)]
        start: Option<u32>,
    },
    /// Decrypt a ticket and print its fields.
    Decode {
        /// The sealed ticket in hex.
        ticket: String,
        #[command(flatten)]
        key: KeySource,
        /// Key version number to take from --keyfile (default: the newest).
        #[arg(long)]
        kvno: Option<u32>,
    },
}

fn server_key(src: &KeySource, kvno: Option<u32>) -> Result<(u32, DesKey), String> {
    if let Some(k) = &src.key {
        let key = DesKey::from_hex(k).map_err(|e| format!("--key: {e}"))?;
        return Ok((kvno.unwrap_or(1), key));
    }
    let path = src
        .keyfile
        .as_ref()
        .ok_or("--key or --keyfile is required")?;
    let table = KeyTable::load_file(path).map_err(|e| e.to_string())?;
    match kvno {
        Some(v) => table
            .get_key(v)
            .map(|k| (v, k))
            .ok_or_else(|| format!("{}: no rxkad key with kvno {v}", path.display())),
        None => table
            .newest()
            .ok_or_else(|| format!("{}: no rxkad keys", path.display())),
    }
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.cmd {
        Cmd::Mint {
            key,
            kvno,
            name,
            instance,
            realm,
            lifetime,
            never_expire,
            session,
            start,
        } => {
            let (kvno, key) = server_key(&key, kvno)?;
            let session = session
                .map(|s| DesKey::from_hex(&s).map(DesKey::with_odd_parity))
                .transpose()
                .map_err(|e| format!("--session: {e}"))?;
            let life = if never_expire {
                Lifetime::Never
            } else {
                Lifetime::Seconds(lifetime)
            };
            let token = match start {
                Some(s) => mint_token_at(&key, kvno, &name, &instance, &realm, life, session, s),
                None => mint_token(&key, kvno, &name, &instance, &realm, life, session),
            }
            .map_err(|e| e.to_string())?;
            let t = Ticket::open(&token.ticket, &key).map_err(|e| e.to_string())?;
            println!("KVNO={}", token.kvno);
            println!("SESSION_KEY={}", token.session_key.to_hex());
            println!("TICKET={}", hex::encode(&token.ticket));
            match token.expires {
                Some(e) => println!("EXPIRES={e}"),
                None => println!("EXPIRES=never"),
            }
            println!(
                "# name={:?} instance={:?} realm={:?} start={} life={:#04x} len={}",
                t.name,
                t.instance,
                t.realm,
                t.start,
                t.life,
                token.ticket.len()
            );
            Ok(())
        }
        Cmd::Decode { ticket, key, kvno } => {
            let (_, key) = server_key(&key, kvno)?;
            let sealed = hex::decode(&ticket).map_err(|e| format!("ticket: {e}"))?;
            let t = Ticket::open(&sealed, &key).map_err(|e| format!("cannot decode: {e}"))?;
            println!("flags={}", t.flags);
            println!("name={:?}", t.name);
            println!("instance={:?}", t.instance);
            println!("realm={:?}", t.realm);
            println!("host={:#010x}", t.host);
            println!("session_key={}", t.session_key.to_hex());
            println!("life={:#04x}", t.life);
            println!("start={}", t.start);
            let end = t.end();
            if t.life == LIFE_NEVER || end == NEVER {
                println!("end=never");
            } else {
                println!("end={end}");
            }
            println!("service={:?}", t.service);
            println!("service_instance={:?}", t.service_instance);
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rxkad-ticket: {e}");
            ExitCode::FAILURE
        }
    }
}
