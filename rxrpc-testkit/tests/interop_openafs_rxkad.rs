//! rxkad with OpenAFS, both directions, with the cell's real key (`KeyFile`, kvno 1).
//!
//! * Our client → `ptserver`: with the cell out of NoAuth mode, `PR_ListEntries` (admin only)
//!   fails with `PRPERM` over rxnull and succeeds over rxkad clear and crypt with a ticket for
//!   `admin` minted from the cell key (as `-localauth` tools do); a ticket sealed with another
//!   key gets `RXKADBADTICKET`, an expired one `RXKADEXPIRED`.
//! * Our client → `vlserver`: `VL_ListAttributes` over rxkad crypt.
//! * OpenAFS's `bos` with `-localauth` (it reads the cell's `KeyFile` and mints its own ticket)
//!   → our server on 127.0.0.1:7007 holding the same `KeyFile`: the CHALLENGE/RESPONSE
//!   completes, the 1 MB `BOZO_GetLog` reply arrives intact, and our service sees the caller
//!   as `afs`; with another key on our side, bos fails and our service never sees a call.
//!
//! The NoAuth switch is the file `local/NoAuth` of the cell directory, read by ptserver on
//! every call: these tests remove it for their duration (one at a time, restored on drop) —
//! nothing else runs then, as cargo runs test binaries one after another.

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::{XdrReader, loopback, within};
use rxrpc::security::{ClientSecurityRef, SecurityLevel};
use rxrpc::{AbortCode, RxEndpoint, ServiceId};
use rxrpc_afs::{PR_SERVICE, VL_SERVICE, pr, vl};
use rxrpc_rxkad::{
    DesKey, KeyTable, Lifetime, ManualClock, RxkadClient, RxkadServer, mint_token, mint_token_at,
};
use rxrpc_testkit::{OpenAfsCell, run_tool};
use rxrpc_xdr::rx::{RpcClient, RpcError};

const PRPERM: i32 = 267269;
const BOS_PORT: u16 = 7007;
const BOZO_SERVICE: ServiceId = ServiceId(1);
const BOZO_GETLOG: u32 = 112;
const TOOL_TIMEOUT: Duration = Duration::from_secs(60);

/// One test at a time: they switch the cell's NoAuth mode and share port 7007.
static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The cell out of NoAuth mode until dropped.
struct AuthMode {
    path: PathBuf,
    restore: bool,
}

impl AuthMode {
    fn enter(cell: &OpenAfsCell) -> AuthMode {
        let path = cell.cell_dir().join("local").join("NoAuth");
        let restore = path.exists();
        if restore {
            std::fs::remove_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        }
        AuthMode { path, restore }
    }
}

impl Drop for AuthMode {
    fn drop(&mut self) {
        if self.restore {
            let _ = std::fs::write(&self.path, b"");
        }
    }
}

fn cell_key(cell: &OpenAfsCell) -> DesKey {
    DesKey(
        cell.key()
            .expect("the cell's rxkad key is known (RXRPC_OPENAFS_KEY)"),
    )
}

fn admin(cell: &OpenAfsCell, key: DesKey, level: SecurityLevel) -> ClientSecurityRef {
    let token = mint_token(
        &key,
        cell.kvno(),
        "admin",
        "",
        "",
        Lifetime::Seconds(3600),
        None,
    )
    .unwrap()
    .with_level(level);
    Arc::new(RxkadClient::new(token))
}

fn pr(ep: &RxEndpoint, cell: &OpenAfsCell, sec: Option<ClientSecurityRef>) -> pr::pr::Client {
    let mut rpc = RpcClient::new(ep, cell.ptserver(), PR_SERVICE);
    if let Some(s) = sec {
        rpc = rpc.with_security(s);
    }
    pr::pr::Client::from_rpc(rpc)
}

async fn list_entries(c: &pr::pr::Client) -> Result<Vec<String>, RpcError> {
    let r = c.list_entries(pr::PRUSERS | pr::PRGROUPS, 0).await?;
    Ok(r.bulkentries
        .iter()
        .map(|e| e.name.to_string_lossy())
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ptserver_admin_rpc_needs_rxkad() {
    let Some(cell) = OpenAfsCell::get() else {
        return;
    };
    within(120, "PR over rxkad", async {
        let _one = LOCK.lock().await;
        let _auth = AuthMode::enter(cell);
        let ep = RxEndpoint::bind(loopback()).await.unwrap();
        // rxnull: not an administrator.
        let r = list_entries(&pr(&ep, cell, None)).await;
        assert_eq!(
            r.err().and_then(|e| e.abort_code()),
            Some(AbortCode(PRPERM)),
            "rxnull"
        );
        // rxkad clear and crypt, as admin.
        for level in [
            SecurityLevel::Plain,
            SecurityLevel::Auth,
            SecurityLevel::Encrypt,
        ] {
            let names = list_entries(&pr(&ep, cell, Some(admin(cell, cell_key(cell), level))))
                .await
                .unwrap_or_else(|e| panic!("PR_ListEntries over rxkad {level:?}: {e}"));
            assert!(names.iter().any(|n| n == "admin"), "{level:?}: {names:?}");
            assert!(
                names.iter().any(|n| n == "system:administrators"),
                "{names:?}"
            );
        }
        // A ticket sealed with another key.
        let wrong = DesKey([0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10]);
        let r = list_entries(&pr(
            &ep,
            cell,
            Some(admin(cell, wrong, SecurityLevel::Encrypt)),
        ))
        .await;
        assert_eq!(
            r.err().and_then(|e| e.abort_code()),
            Some(AbortCode::RXKADBADTICKET)
        );
        // An expired ticket (our client's clock set back so that it presents it anyway).
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let start = (now - 7200) as u32;
        let token = mint_token_at(
            &cell_key(cell),
            cell.kvno(),
            "admin",
            "",
            "",
            Lifetime::Seconds(600),
            None,
            start,
        )
        .unwrap();
        let clock = Arc::new(ManualClock::new(u64::from(start) + 60));
        let sec: ClientSecurityRef = Arc::new(RxkadClient::new(token).with_clock(clock));
        let r = list_entries(&pr(&ep, cell, Some(sec))).await;
        assert_eq!(
            r.err().and_then(|e| e.abort_code()),
            Some(AbortCode::RXKADEXPIRED)
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vlserver_over_rxkad_crypt() {
    let Some(cell) = OpenAfsCell::get() else {
        return;
    };
    within(60, "VL over rxkad", async {
        let _one = LOCK.lock().await;
        let ep = RxEndpoint::bind(loopback()).await.unwrap();
        let rpc = RpcClient::new(&ep, cell.vlserver(), VL_SERVICE).with_security(admin(
            cell,
            cell_key(cell),
            SecurityLevel::Encrypt,
        ));
        let c = vl::vl::Client::from_rpc(rpc);
        c.probe_server()
            .await
            .expect("VL_ProbeServer over rxkad crypt");
        let attrs = vl::VldbListByAttributes::default();
        c.list_attributes(&attrs)
            .await
            .expect("VL_ListAttributes over rxkad crypt");
    })
    .await;
}

async fn bind_bos_port() -> RxEndpoint {
    let addr = SocketAddr::from(([127, 0, 0, 1], BOS_PORT));
    for _ in 0..50 {
        if let Ok(ep) = RxEndpoint::bind(addr).await {
            return ep;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("cannot bind {addr} for the fake bosserver");
}

/// `bos getlog -localauth` via the shared `afs-run.sh` (the cell's config over /etc/openafs).
fn bos_getlog_localauth(cell: &OpenAfsCell) -> rxrpc_testkit::ToolOutput {
    let afs_run = rxrpc_testkit::peer_var("RXRPC_PEERS_DIR")
        .map(|d| PathBuf::from(d).join("openafs/afs-run.sh"))
        .expect("RXRPC_PEERS_DIR");
    run_tool(
        afs_run,
        [
            cell.cell_dir().as_os_str(),
            "bos".as_ref(),
            "getlog".as_ref(),
            "-server".as_ref(),
            "127.0.0.1".as_ref(),
            "-file".as_ref(),
            "RxkadLog".as_ref(),
            "-localauth".as_ref(),
        ],
        TOOL_TIMEOUT,
    )
    .expect("bos")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openafs_bos_localauth_to_our_rxkad_server() {
    let Some(cell) = OpenAfsCell::get() else {
        return;
    };
    within(120, "bos -localauth to our server", async {
        let _one = LOCK.lock().await;
        // Our server holds the cell's KeyFile, read as an OpenAFS server reads it.
        let keys = KeyTable::load_dir(cell.config_dir()).expect("the cell's KeyFile");
        let ep = bind_bos_port().await;
        let listener = ep
            .listen_secure(
                &[BOZO_SERVICE],
                4,
                vec![Arc::new(RxkadServer::new(
                    Arc::new(keys),
                    SecurityLevel::Plain,
                ))],
                true,
            )
            .await
            .unwrap();
        let log: String = (0..16_000)
            .map(|i| format!("rxkad line {i:06}\n"))
            .collect();
        let served = {
            let log = log.clone();
            tokio::spawn(async move {
                let call = listener.accept().await.unwrap().into_call();
                let sec = call.security().clone();
                let req = call.recv_to_end(4096).await.unwrap();
                let mut r = XdrReader::new(&req, "BOZO_GetLog");
                assert_eq!(r.u32(), BOZO_GETLOG);
                let name = String::from_utf8(r.string(256)).unwrap();
                for chunk in log.as_bytes().chunks(50_000) {
                    call.send_all(chunk).await.unwrap();
                }
                call.send_last(Bytes::from_static(&[0])).await.unwrap();
                (name, sec, call.completion().await)
            })
        };
        let out = tokio::task::spawn_blocking(move || bos_getlog_localauth(cell))
            .await
            .unwrap();
        let (name, sec, completion) = served.await.unwrap();
        out.assert_success();
        assert_eq!(name, "RxkadLog");
        assert!(out.stdout.ends_with(&log), "bos printed the whole log");
        assert!(completion.is_success(), "{completion}");
        assert_eq!(sec.index.0, 2, "an rxkad call");
        let who = sec.identity.expect("identity");
        eprintln!(
            "bos -localauth reached our server at level {:?} as {:?}",
            sec.level, who.name
        );
        assert_eq!(who.name, "afs", "-localauth calls as afs");
        assert_eq!(who.kvno, cell.kvno());
        drop(ep);

        // Our server with another key: bos's ticket does not open, no call reaches the service.
        let other = KeyTable::from_keys([(
            cell.kvno(),
            DesKey([0x13, 0x57, 0x9b, 0xdf, 0x02, 0x46, 0x8a, 0xce]),
        )]);
        let ep = bind_bos_port().await;
        let listener = ep
            .listen_secure(
                &[BOZO_SERVICE],
                4,
                vec![Arc::new(RxkadServer::new(
                    Arc::new(other),
                    SecurityLevel::Plain,
                ))],
                true,
            )
            .await
            .unwrap();
        let out = tokio::task::spawn_blocking(move || bos_getlog_localauth(cell))
            .await
            .unwrap();
        assert!(
            !out.status.is_some_and(|s| s.success()),
            "bos must fail against the wrong key: {out}"
        );
        assert!(
            tokio::time::timeout(Duration::from_millis(200), listener.accept())
                .await
                .is_err(),
            "no call may reach the service"
        );
        let snap = ep.snapshot().await.unwrap();
        eprintln!(
            "wrong key: bos said {:?}; our endpoint aborted {} connection(s)",
            out.stderr.trim(),
            snap.stats.conn_aborts_sent
        );
    })
    .await;
}
