//! An Rx echo server: every request comes back as the reply.
//!
//! ```text
//! cargo run -p rxrpc --example echo_server -- [ADDR] [SERVICE] [OPTIONS]
//!
//!   --rxkad-key HEX[:KVNO]        also accept rxkad with this DES service key (kvno default 1)
//!   --rxgk-key ENCTYPE:KVNO:HEX   also accept yfs-rxgk with this key (repeatable)
//!   --min-level plain|auth|encrypt  lowest level accepted on SERVICE (default plain)
//!   --strict-service N[:LEVEL]    a second service that requires security at LEVEL
//!                                 (default encrypt) and refuses rxnull
//! ```
//!
//! `ADDR` defaults to `127.0.0.1:7001`, `SERVICE` to 1234. Prints one line per call, with the
//! client's identity for secured calls.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use rxrpc::security::{SecurityLevel, ServerSecurityRef};
use rxrpc::{Listener, RxEndpoint, ServiceId};
use rxrpc_rxkad::{DesKey, KeyTable, RxkadServer};

/// Largest request accepted (larger ones are aborted).
const MAX_REQUEST: usize = 256 << 20;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn level(s: &str) -> Result<SecurityLevel, BoxError> {
    match s {
        "plain" | "clear" => Ok(SecurityLevel::Plain),
        "auth" => Ok(SecurityLevel::Auth),
        "encrypt" | "crypt" => Ok(SecurityLevel::Encrypt),
        _ => Err(format!("unknown level {s:?}").into()),
    }
}

/// Security classes for one service at minimum level `min`.
fn classes(
    rxkad: &Option<(DesKey, u32)>,
    rxgk: &[(u32, rxrpc_rxgk::krb5::Key)],
    min: SecurityLevel,
) -> Vec<ServerSecurityRef> {
    let mut v: Vec<ServerSecurityRef> = Vec::new();
    if let Some((key, kvno)) = rxkad {
        let keys = KeyTable::from_keys([(*kvno, *key)]);
        v.push(Arc::new(RxkadServer::new(Arc::new(keys), min)));
    }
    if !rxgk.is_empty() {
        let mut s = rxrpc_rxgk::RxgkServer::new().with_min_level(min);
        for (kvno, key) in rxgk {
            s.add_key(*kvno, key.clone());
        }
        v.push(Arc::new(s));
    }
    v
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let mut positional = Vec::new();
    let mut rxkad = None;
    let mut rxgk = Vec::new();
    let mut min = SecurityLevel::Plain;
    let mut strict: Option<(ServiceId, SecurityLevel)> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--rxkad-key" => {
                let v = value()?;
                let (hex, kvno) = v.split_once(':').unwrap_or((&v, "1"));
                rxkad = Some((DesKey::from_hex(hex)?, kvno.parse()?));
            }
            "--rxgk-key" => {
                let v = value()?;
                let mut it = v.splitn(3, ':');
                let (Some(e), Some(kvno), Some(hex)) = (it.next(), it.next(), it.next()) else {
                    return Err("--rxgk-key wants ENCTYPE:KVNO:HEX".into());
                };
                let enctype = rxrpc_rxgk::krb5::Enctype::from_number(e.parse()?)
                    .ok_or_else(|| format!("unsupported enctype {e}"))?;
                let bytes = rxrpc_rxgk::hex::decode(hex).ok_or("bad hex in --rxgk-key")?;
                rxgk.push((
                    kvno.parse()?,
                    rxrpc_rxgk::krb5::Key::new(enctype, &bytes).map_err(|e| format!("{e:?}"))?,
                ));
            }
            "--min-level" => min = level(&value()?)?,
            "--strict-service" => {
                let v = value()?;
                let (svc, lvl) = v.split_once(':').unwrap_or((&v, "encrypt"));
                strict = Some((ServiceId(svc.parse()?), level(lvl)?));
            }
            _ if a.starts_with("--") => return Err(format!("unknown option {a}").into()),
            _ => positional.push(a),
        }
    }
    let addr: SocketAddr = positional
        .first()
        .map_or("127.0.0.1:7001", String::as_str)
        .parse()?;
    let service = ServiceId(positional.get(1).map_or("1234", String::as_str).parse()?);

    let endpoint = RxEndpoint::bind(addr).await?;
    let main_classes = classes(&rxkad, &rxgk, min);
    let secured = !main_classes.is_empty();
    let listener = endpoint
        .listen_secure(&[service], 16, main_classes, false)
        .await?;
    println!(
        "echo server on {} service {}{}",
        endpoint.local_addr(),
        service.0,
        if secured {
            format!(" (rxnull and secured calls, min level {})", min.name())
        } else {
            String::new()
        }
    );
    if let Some((svc, lvl)) = strict {
        let strict_listener = endpoint
            .listen_secure(&[svc], 16, classes(&rxkad, &rxgk, lvl), true)
            .await?;
        println!(
            "echo server on {} service {} (secured calls only, min level {})",
            endpoint.local_addr(),
            svc.0,
            lvl.name()
        );
        tokio::spawn(serve(strict_listener));
    }
    serve(listener).await
}

async fn serve(listener: Listener) -> Result<(), BoxError> {
    let mut n = 0u64;
    loop {
        let call = listener.accept().await?.into_call();
        n += 1;
        tokio::spawn(async move {
            let start = Instant::now();
            let peer = call.peer();
            let sec = call.security().clone();
            let who = match &sec.identity {
                Some(id) => format!(
                    " [security {} level {} as {:?}{}]",
                    sec.index.0,
                    sec.level.name(),
                    id.name,
                    if id.app_data.is_empty() {
                        String::new()
                    } else {
                        let hex: String = id.app_data.iter().map(|b| format!("{b:02x}")).collect();
                        format!(" appdata {hex}")
                    }
                ),
                None => String::new(),
            };
            let outcome = async {
                let request = call.recv_to_end(MAX_REQUEST).await?;
                let len = request.len();
                call.send_last(request).await?;
                Ok::<_, rxrpc::Error>(len)
            }
            .await;
            match outcome {
                Ok(len) => {
                    let completion = call.completion().await;
                    println!(
                        "call {n}: {peer}{who} echoed {len} bytes in {:?}: {completion}",
                        start.elapsed()
                    );
                }
                Err(e) => {
                    if e.completion().is_none() {
                        let _ = call.abort(rxrpc::AbortCode::RX_USER_ABORT).await;
                    }
                    println!("call {n}: {peer}{who} failed: {e}");
                }
            }
        });
    }
}
