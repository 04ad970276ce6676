//! The complete example of `docs/rxgen-guide.md`: a server and a client of the `DEMO_`
//! package defined in `idl/demo.xg`, both from the code rxgen generated for it.
//!
//! ```text
//! cargo run -p rxrpc-afs --example demo                          # both, in one process
//! cargo run -p rxrpc-afs --example demo -- server 127.0.0.1:7700 # just the server
//! cargo run -p rxrpc-afs --example demo -- client 127.0.0.1:7700 # just the client
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Mutex;

use rxrpc::{AbortCode, RxEndpoint, ServiceId};
use rxrpc_afs::demo::{self, DemoEntry, DemoValue, demo as pkg};
use rxrpc_xdr::XdrString;
use rxrpc_xdr::rx::{CallContext, RpcError, ServerCall};

/// The Rx service ID our example listens on (any 16-bit number the client also uses).
const DEMO_SERVICE: ServiceId = ServiceId(4000);

/// The server's state: entries by name.
#[derive(Debug, Default)]
struct Store {
    entries: Mutex<BTreeMap<Vec<u8>, DemoEntry>>,
}

/// One method per procedure of `idl/demo.xg`; each gets the IN arguments and returns the OUT
/// results, or an error code that the client receives as the call's abort code.
impl pkg::Service for Store {
    async fn put(
        &self,
        _call: &CallContext,
        name: XdrString,
        value: DemoValue,
    ) -> Result<u32, AbortCode> {
        if name.is_empty() {
            return Err(AbortCode(demo::DEMO_BADNAME));
        }
        let mut entries = self.entries.lock().unwrap();
        let e = entries.entry(name.to_vec()).or_insert_with(|| DemoEntry {
            name: name.clone(),
            ..Default::default()
        });
        e.value = value;
        e.serial += 1;
        Ok(e.serial)
    }

    async fn get(&self, _call: &CallContext, name: XdrString) -> Result<DemoEntry, AbortCode> {
        let entries = self.entries.lock().unwrap();
        entries
            .get(name.as_bytes())
            .cloned()
            .ok_or(AbortCode(demo::DEMO_NOENT))
    }

    async fn list(&self, _call: &CallContext, start: u32) -> Result<pkg::ListOut, AbortCode> {
        let entries = self.entries.lock().unwrap();
        let batch: Vec<DemoEntry> = entries
            .values()
            .skip(start as usize)
            .take(demo::DEMO_MAXLIST as usize)
            .cloned()
            .collect();
        let next = start + batch.len() as u32;
        let next = if (next as usize) < entries.len() {
            next
        } else {
            0
        };
        Ok(pkg::ListOut {
            entries: batch,
            next,
        })
    }

    async fn add(
        &self,
        _call: &CallContext,
        name: XdrString,
        delta: i64,
    ) -> Result<i64, AbortCode> {
        let mut entries = self.entries.lock().unwrap();
        let e = entries
            .get_mut(name.as_bytes())
            .ok_or(AbortCode(demo::DEMO_NOENT))?;
        match &mut e.value {
            DemoValue::Counter(c) => {
                *c += delta;
                e.serial += 1;
                Ok(*c)
            }
            _ => Err(AbortCode(demo::DEMO_BADNAME)),
        }
    }

    /// A split procedure: the raw bytes after the arguments are read from the call.
    async fn upload(
        &self,
        call: &mut ServerCall,
        name: XdrString,
        length: u32,
    ) -> Result<u32, AbortCode> {
        let data = call.read_exact(length as usize).await?;
        let sum = data.iter().map(|&b| u32::from(b)).sum();
        let text = String::from_utf8_lossy(&data).into_owned();
        self.entries.lock().unwrap().insert(
            name.to_vec(),
            DemoEntry {
                name,
                value: DemoValue::Text(text.into()),
                serial: 1,
            },
        );
        Ok(sum)
    }
}

/// Serve `DEMO_` on `ep` until the process ends.
async fn serve(ep: &RxEndpoint) -> rxrpc::Result<()> {
    let listener = ep.listen(&[DEMO_SERVICE], 8).await?;
    tokio::spawn(pkg::serve(listener, Store::default()));
    Ok(())
}

/// Use every procedure once; returns what it printed.
async fn client(ep: &RxEndpoint, server: SocketAddr) -> Result<Vec<String>, RpcError> {
    let c = pkg::Client::new(ep, server, DEMO_SERVICE);
    let mut said = Vec::new();
    let serial = c.put("visits", &DemoValue::Counter(41)).await?;
    said.push(format!("put visits -> serial {serial}"));
    let now = c.add("visits", 1).await?;
    said.push(format!("add visits 1 -> {now}"));
    c.put("motd", &DemoValue::Text("hello, rx".into())).await?;
    let e = c.get("motd").await?;
    said.push(format!("get motd -> {:?} (serial {})", e.value, e.serial));
    // An application error arrives as the abort code.
    match c.get("nothing").await {
        Err(RpcError::Aborted(code)) if code.0 == demo::DEMO_NOENT => {
            said.push("get nothing -> DEMO_NOENT".to_string())
        }
        other => said.push(format!("get nothing -> unexpected {other:?}")),
    }
    // A split call: start, stream raw bytes, end.
    let body = b"streamed between the arguments and the results";
    let mut stream = c.start_upload("blob", body.len() as u32).await?;
    stream.write_all(body).await?;
    let sum = c.end_upload(stream).await?;
    said.push(format!("upload blob ({} bytes) -> sum {sum}", body.len()));
    // A list-returning call, in batches.
    let mut names = Vec::new();
    let mut start = 0;
    loop {
        let batch = c.list(start).await?;
        names.extend(batch.entries.iter().map(|e| e.name.to_string()));
        if batch.next == 0 {
            break;
        }
        start = batch.next;
    }
    said.push(format!("list -> {names:?}"));
    Ok(said)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [mode, addr] if mode == "server" => {
            let ep = RxEndpoint::bind(addr.parse()?).await?;
            serve(&ep).await?;
            println!(
                "serving DEMO_ on {} (service {})",
                ep.local_addr(),
                DEMO_SERVICE.0
            );
            std::future::pending::<()>().await;
        }
        [mode, addr] if mode == "client" => {
            let ep = RxEndpoint::bind("127.0.0.1:0".parse()?).await?;
            for line in client(&ep, addr.parse()?).await? {
                println!("{line}");
            }
        }
        [] => {
            let server = RxEndpoint::bind("127.0.0.1:0".parse()?).await?;
            serve(&server).await?;
            let ep = RxEndpoint::bind("127.0.0.1:0".parse()?).await?;
            for line in client(&ep, server.local_addr()).await? {
                println!("{line}");
            }
        }
        _ => eprintln!("usage: demo [server ADDR | client ADDR]"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn demo_runs() {
        let server = rxrpc::RxEndpoint::bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        super::serve(&server).await.unwrap();
        let ep = rxrpc::RxEndpoint::bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let said = super::client(&ep, server.local_addr()).await.unwrap();
        assert_eq!(said[0], "put visits -> serial 1");
        assert_eq!(said[1], "add visits 1 -> 42");
        assert_eq!(said[2], "get motd -> Text(\"hello, rx\") (serial 1)");
        assert_eq!(said[3], "get nothing -> DEMO_NOENT");
        assert!(
            said[4].starts_with("upload blob (46 bytes) -> sum "),
            "{said:?}"
        );
        assert_eq!(said[5], "list -> [\"blob\", \"motd\", \"visits\"]");
    }
}
