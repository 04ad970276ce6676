//! An Rx echo server: every request comes back as the reply.
//!
//! ```text
//! cargo run -p rxrpc --example echo_server -- [ADDR] [SERVICE]
//! ```
//!
//! `ADDR` defaults to `127.0.0.1:7001`, `SERVICE` to 1234. Prints one line per call.

use std::net::SocketAddr;
use std::time::Instant;

use rxrpc::{RxEndpoint, ServiceId};

/// Largest request accepted (larger ones are aborted).
const MAX_REQUEST: usize = 256 << 20;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let addr: SocketAddr = args.next().as_deref().unwrap_or("127.0.0.1:7001").parse()?;
    let service = ServiceId(args.next().as_deref().unwrap_or("1234").parse()?);

    let endpoint = RxEndpoint::bind(addr).await?;
    let listener = endpoint.listen(&[service], 16).await?;
    println!(
        "echo server on {} service {}",
        endpoint.local_addr(),
        service.0
    );
    let mut n = 0u64;
    loop {
        let call = listener.accept().await?.into_call();
        n += 1;
        tokio::spawn(async move {
            let start = Instant::now();
            let peer = call.peer();
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
                        "call {n}: {peer} echoed {len} bytes in {:?}: {completion}",
                        start.elapsed()
                    );
                }
                Err(e) => {
                    if e.completion().is_none() {
                        let _ = call.abort(rxrpc::AbortCode::RX_USER_ABORT).await;
                    }
                    println!("call {n}: {peer} failed: {e}");
                }
            }
        });
    }
}
