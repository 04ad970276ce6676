//! An Rx echo client: sends a message (or N bytes) to an echo server and prints the reply
//! and how long the call took.
//!
//! ```text
//! cargo run -p rxrpc --example echo_client -- ADDR SERVICE [MESSAGE | --bytes N] [--count N]
//! ```

use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;
use rxrpc::{RxEndpoint, ServiceId};

fn usage() -> ! {
    eprintln!("usage: echo_client ADDR SERVICE [MESSAGE | --bytes N] [--count N]");
    std::process::exit(2);
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let server: SocketAddr = args.next().unwrap_or_else(|| usage()).parse()?;
    let service = ServiceId(args.next().unwrap_or_else(|| usage()).parse()?);
    let mut payload = Bytes::from_static(b"hello, rx");
    let mut text = true;
    let mut count = 1u32;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--bytes" => {
                let n: usize = args.next().unwrap_or_else(|| usage()).parse()?;
                payload = (0..n).map(|i| (i % 251) as u8).collect::<Vec<u8>>().into();
                text = false;
            }
            "--count" => count = args.next().unwrap_or_else(|| usage()).parse()?,
            s if s.starts_with("--") => usage(),
            s => payload = Bytes::from(s.to_owned()),
        }
    }

    let local: SocketAddr = if server.is_ipv4() {
        "0.0.0.0:0".parse()?
    } else {
        "[::]:0".parse()?
    };
    let endpoint = RxEndpoint::bind(local).await?;
    let total = Instant::now();
    for i in 1..=count {
        let start = Instant::now();
        let call = endpoint.call(server, service).open().await?;
        call.send_last(payload.clone()).await?;
        let reply = call.recv_to_end(payload.len().max(1) * 2).await?;
        let completion = call.completion().await;
        let elapsed = start.elapsed();
        if text {
            println!(
                "call {i}: {:?} in {elapsed:?} ({completion})",
                String::from_utf8_lossy(&reply)
            );
        } else {
            let mbps = reply.len() as f64 * 2.0 / elapsed.as_secs_f64() / 1e6;
            println!(
                "call {i}: {} bytes back in {elapsed:?} ({mbps:.1} MB/s both ways, {completion})",
                reply.len()
            );
        }
        if reply != payload {
            return Err("reply differs from the request".into());
        }
    }
    if count > 1 {
        println!("{count} calls in {:?}", total.elapsed());
    }
    Ok(())
}
