//! rxgen-generated stubs against OpenAFS 1.8.
//!
//! * The generated VL and PR clients call the cell's vlserver (service 52) and ptserver
//!   (service 73), including the list-returning calls (`VL_ListAttributesN2`,
//!   `PR_NameToID`/`PR_IDToName` with lists, `PR_ListElements`, `PR_ListEntries`,
//!   `PR_ListMax`), and the results are compared with what `vos` and `pts` print for the same
//!   cell.
//! * The generated VOTE client asks the ptserver's ubik for `VOTE_XDebug` and compares with
//!   `udebug`; a generated VOTE *server* answers OpenAFS's `udebug`, whose output must show the
//!   values the server returned.
//!
//! Without a cell these tests print `SKIPPED:` and pass, except under CI (`CI=true`) or
//! `RXRPC_REQUIRE_PEERS=1`, where they fail.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rxrpc::{AbortCode, RxEndpoint};
use rxrpc_afs::{PR_SERVICE, VL_SERVICE, VOTE_SERVICE, pr, ubik, vl};
use rxrpc_testkit::{OpenAfsCell, OpenAfsTool, ToolOutput};
use rxrpc_xdr::FixedChars;
use rxrpc_xdr::rx::{CallContext, RpcClient, RpcError};

const TOOL_TIMEOUT: Duration = Duration::from_secs(60);
/// Error table "VL" (base 363520), 5th code.
const VL_NOENT: i32 = 363524;
/// Error table "PT" (base 267264), 5th code.
const PRNOENT: i32 = 267268;
/// ubik's UNOENT: ends udebug's per-server loop.
const UNOENT: i32 = 5382;
/// 127.1.0.1 in host byte order: the address the cell's fileserver registered.
const FAKE_FILESERVER: i32 = 0x7f01_0001;

/// VLDB-changing and -listing tests run one at a time.
static VLDB: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn within<F: Future>(secs: u64, what: &'static str, f: F) -> F::Output {
    match tokio::time::timeout(Duration::from_secs(secs), f).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: no result after {secs} s"),
    }
}

async fn endpoint() -> RxEndpoint {
    RxEndpoint::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

/// Run an OpenAFS tool (pts/vos get `-noauth -config DIR`); it must succeed.
async fn tool(cell: &'static OpenAfsCell, t: OpenAfsTool, args: &[&str]) -> ToolOutput {
    let mut argv: Vec<OsString> = args.iter().map(OsString::from).collect();
    if matches!(t, OpenAfsTool::Pts | OpenAfsTool::Vos) {
        argv.push("-noauth".into());
        argv.extend(cell.config_args().iter().map(OsString::from));
    }
    let out = tokio::task::spawn_blocking(move || t.run(argv, TOOL_TIMEOUT))
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("{}: {e}", t.name()));
    out.assert_success();
    out
}

fn aborted(r: Result<impl std::fmt::Debug, RpcError>) -> i32 {
    match r {
        Err(RpcError::Aborted(c)) => c.0,
        other => panic!("expected an abort, got {other:?}"),
    }
}

// --- VL ----------------------------------------------------------------------------------------

fn vl_client(ep: &RxEndpoint, cell: &OpenAfsCell) -> vl::vl::Client {
    vl::vl::Client::new(ep, cell.vlserver(), VL_SERVICE)
}

/// Every entry, through VL_ListAttributesN2 batches (mask 0, name "": everything).
async fn list_all(client: &vl::vl::Client) -> Vec<vl::Nvldbentry> {
    let mut all = Vec::new();
    let mut start = 0;
    for _ in 0..1000 {
        let r = client
            .list_attributes_n2(&vl::VldbListByAttributes::default(), "", start)
            .await
            .unwrap();
        assert_eq!(r.nentries as usize, r.blkentries.len());
        all.extend(r.blkentries);
        if r.nextstartindex == -1 || r.nextstartindex == 0 {
            return all;
        }
        assert!(r.nextstartindex > start);
        start = r.nextstartindex;
    }
    panic!("VL_ListAttributesN2 never ended");
}

/// Entry names `vos listvldb` prints (the unindented lines) and its total.
fn vos_names(out: &str) -> (BTreeSet<String>, Option<usize>) {
    let mut names = BTreeSet::new();
    let mut total = None;
    for line in out.lines() {
        let t = line.trim();
        if let Some(n) = t.strip_prefix("Total entries:") {
            total = n.trim().parse().ok();
        } else if !t.is_empty() && !line.starts_with(char::is_whitespace) && !t.starts_with("VLDB")
        {
            names.insert(t.to_string());
        }
    }
    (names, total)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_vl_client_matches_vos() {
    let Some(cell) = OpenAfsCell::get() else {
        return;
    };
    let _vldb = VLDB.lock().await;
    within(180, "VL with generated stubs", async {
        let ep = endpoint().await;
        let c = vl_client(&ep, cell);
        c.probe_server().await.unwrap();

        let name = format!("rxgen-itest-{}", std::process::id());
        let rw_id = c.get_new_volume_id(1).await.unwrap() as u32;
        let mut e = vl::Nvldbentry {
            name: FixedChars::new(&name).unwrap(),
            n_servers: 1,
            flags: vl::VLF_RWEXISTS,
            ..Default::default()
        };
        e.server_number[0] = FAKE_FILESERVER;
        e.server_partition[0] = 0;
        e.server_flags[0] = vl::VLSF_RWVOL;
        e.volume_id[0] = rw_id;
        c.create_entry_n(&e).await.unwrap();

        let got = c.get_entry_by_name_n(&name).await.unwrap();
        assert_eq!(got.name, name.as_str());
        assert_eq!(got.volume_id[0], rw_id);
        assert_eq!(got.n_servers, 1);
        assert_eq!(got.server_number[0], FAKE_FILESERVER);
        assert_eq!(got.server_flags[0], vl::VLSF_RWVOL);
        assert_ne!(got.flags & vl::VLF_RWEXISTS, 0);
        let by_id = c.get_entry_by_idn(rw_id as i32, vl::RWVOL).await.unwrap();
        assert_eq!(by_id.name, got.name);

        // The list-returning call against `vos listvldb`.
        let listed = list_all(&c).await;
        let ours: Vec<_> = listed.iter().filter(|x| x.name == name.as_str()).collect();
        assert_eq!(ours.len(), 1);
        let out = tool(cell, OpenAfsTool::Vos, &["listvldb", "-noresolve"]).await;
        let (names, total) = vos_names(&out.stdout);
        let listed_names: BTreeSet<String> =
            listed.iter().map(|x| x.name.to_string_lossy()).collect();
        assert_eq!(names, listed_names, "{out}");
        assert_eq!(total, Some(listed.len()), "{out}");
        let out = tool(
            cell,
            OpenAfsTool::Vos,
            &["listvldb", "-name", &name, "-noresolve"],
        )
        .await;
        assert!(out.stdout.contains(&format!("RWrite: {rw_id}")), "{out}");
        assert!(
            out.stdout
                .contains("server 127.1.0.1 partition /vicepa RW Site"),
            "{out}"
        );

        // ListAttributes (the old layout, also a list) agrees on our entry.
        let attrs = vl::VldbListByAttributes {
            mask: vl::VLLIST_VOLUMEID as u32,
            volumeid: rw_id as i32,
            ..Default::default()
        };
        let old = c.list_attributes(&attrs).await.unwrap();
        assert_eq!(old.nentries, 1);
        assert_eq!(old.blkentries[0].name, name.as_str());

        c.delete_entry(rw_id as i32, vl::RWVOL).await.unwrap();
        assert_eq!(aborted(c.get_entry_by_name_n(&name).await), VL_NOENT);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_vl_client_errors() {
    let Some(cell) = OpenAfsCell::get() else {
        return;
    };
    within(60, "VL errors", async {
        let ep = endpoint().await;
        let c = vl_client(&ep, cell);
        assert_eq!(
            aborted(c.get_entry_by_name_n("no.such.volume.here").await),
            VL_NOENT
        );
        // A name over the declared bound never reaches the wire.
        let long = "x".repeat(66);
        match c.get_entry_by_name_n(&long).await {
            Err(RpcError::Marshal(e)) => assert_eq!(e.path(), ["VL_GetEntryByNameN.volumename"]),
            other => panic!("{other:?}"),
        }
        // An opcode the vlserver does not have.
        let raw = RpcClient::new(&ep, cell.vlserver(), VL_SERVICE);
        let r = raw.call(999, |_| Ok(()), |_| Ok(())).await;
        assert_eq!(aborted(r), AbortCode::RXGEN_OPCODE.0);
    })
    .await;
}

// --- PR ----------------------------------------------------------------------------------------

fn pr_client(ep: &RxEndpoint, cell: &OpenAfsCell) -> pr::pr::Client {
    pr::pr::Client::new(ep, cell.ptserver(), PR_SERVICE)
}

fn names(list: &[&str]) -> Vec<pr::Prname> {
    list.iter().map(|n| FixedChars::new(n).unwrap()).collect()
}

/// `pts examine` fields.
fn pts_fields(out: &str) -> std::collections::BTreeMap<String, String> {
    out.split([',', '\n'])
        .filter_map(|kv| kv.split_once(':'))
        .map(|(k, v)| {
            (
                k.trim().to_string(),
                v.trim().trim_end_matches('.').to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_pr_client_matches_pts() {
    let Some(cell) = OpenAfsCell::get() else {
        return;
    };
    within(180, "PR with generated stubs", async {
        let ep = endpoint().await;
        let c = pr_client(&ep, cell);

        // PR_NameToID with a list.
        let ids = c
            .name_to_id(&names(&[
                "admin",
                "system:administrators",
                "system:anyuser",
                "no-such-user-xyz",
            ]))
            .await
            .unwrap();
        assert_eq!(ids.len(), 4);
        assert_eq!(ids[1], pr::SYSADMINID);
        assert_eq!(ids[2], pr::ANYUSERID);
        assert_eq!(ids[3], pr::ANONYMOUSID);
        let out = tool(cell, OpenAfsTool::Pts, &["examine", "admin"]).await;
        let f = pts_fields(&out.stdout);
        assert_eq!(f["id"], ids[0].to_string(), "{out}");

        // PR_IDToName with a list.
        let back = c.id_to_name(&ids).await.unwrap();
        let back: Vec<String> = back.iter().map(|n| n.to_string_lossy()).collect();
        assert_eq!(
            back,
            [
                "admin",
                "system:administrators",
                "system:anyuser",
                "anonymous"
            ]
        );

        // PR_ListEntry vs pts examine.
        let e = c.list_entry(ids[0]).await.unwrap();
        assert_eq!(e.name, "admin");
        assert_eq!(f["membership"], e.count.to_string(), "{out}");
        let owner_creator = c.id_to_name(&[e.owner, e.creator]).await.unwrap();
        assert_eq!(f["owner"], owner_creator[0].to_string_lossy(), "{out}");
        assert_eq!(f["creator"], owner_creator[1].to_string_lossy(), "{out}");
        assert_eq!(aborted(c.list_entry(7_777_777).await), PRNOENT);

        // PR_ListMax vs pts listmax.
        let m = c.list_max().await.unwrap();
        let out = tool(cell, OpenAfsTool::Pts, &["listmax"]).await;
        assert!(
            out.stdout.contains(&format!(
                "Max user id is {} and max group id is {}.",
                m.uid, m.gid
            )),
            "{m:?} {out}"
        );

        // PR_ListElements (a list) vs pts membership.
        let members = c.list_elements(pr::SYSADMINID).await.unwrap();
        assert_eq!(members.over, 0);
        let member_names: BTreeSet<String> = c
            .id_to_name(&members.elist)
            .await
            .unwrap()
            .iter()
            .map(|n| n.to_string_lossy())
            .collect();
        let out = tool(
            cell,
            OpenAfsTool::Pts,
            &["membership", "system:administrators"],
        )
        .await;
        let pts_members: BTreeSet<String> = out
            .stdout
            .lines()
            .skip(1)
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(member_names, pts_members, "{out}");
        assert!(member_names.contains("admin"));

        // PR_ListEntries (batches of a list) vs pts listentries.
        let mut entries = Vec::new();
        let mut start = 0;
        loop {
            let r = c
                .list_entries(pr::PRUSERS | pr::PRGROUPS, start)
                .await
                .unwrap();
            entries.extend(r.bulkentries);
            if r.nextstartindex <= 0 {
                break;
            }
            assert!(r.nextstartindex > start);
            start = r.nextstartindex;
        }
        let out = tool(
            cell,
            OpenAfsTool::Pts,
            &["listentries", "-users", "-groups"],
        )
        .await;
        let mut pts_rows: Vec<(String, i32, i32, i32)> = out
            .stdout
            .lines()
            .skip(1)
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.len() == 4).then(|| {
                    (
                        f[0].to_string(),
                        f[1].parse().unwrap(),
                        f[2].parse().unwrap(),
                        f[3].parse().unwrap(),
                    )
                })
            })
            .collect();
        let mut ours: Vec<(String, i32, i32, i32)> = entries
            .iter()
            .map(|e| (e.name.to_string_lossy(), e.id, e.owner, e.creator))
            .collect();
        pts_rows.sort();
        ours.sort();
        assert_eq!(ours, pts_rows, "{out}");

        // An opcode the ptserver does not have; the connection stays usable.
        let raw = RpcClient::new(&ep, cell.ptserver(), PR_SERVICE);
        assert_eq!(
            aborted(raw.call(12345, |_| Ok(()), |_| Ok(())).await),
            AbortCode::RXGEN_OPCODE.0
        );
        assert_eq!(
            c.name_to_id(&names(&["system:anyuser"])).await.unwrap(),
            [pr::ANYUSERID]
        );
    })
    .await;
}

// --- VOTE ----------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_vote_client_matches_udebug() {
    let Some(cell) = OpenAfsCell::get() else {
        return;
    };
    within(60, "VOTE_XDebug", async {
        let ep = endpoint().await;
        let c = ubik::vote::Client::new(&ep, cell.ptserver(), VOTE_SERVICE);
        let d = c.x_debug().await.unwrap();
        assert_eq!(d.is_clone, 0);
        let db = d.db;
        assert_eq!(db.am_sync_site, 1, "{db:?}");
        assert_eq!(db.interface_addr[0], 0x7f00_0001);
        let port = cell.ptserver().port().to_string();
        let out = tool(cell, OpenAfsTool::Udebug, &["127.0.0.1", &port]).await;
        let s = &out.stdout;
        let v = &db.local_version;
        assert!(
            s.contains(&format!("Local db version is {}.{}", v.epoch, v.counter)),
            "{db:?} {out}"
        );
        assert!(
            s.contains(&format!("Recovery state {:x}", db.recovery_state)),
            "{out}"
        );
        // XSDebug(0) of a single-server cell: no peer, so an error code.
        match c.xs_debug(0).await {
            Err(RpcError::Aborted(_)) | Ok(_) => {}
            Err(e) => panic!("{e}"),
        }
    })
    .await;
}

/// The (opcode, `which` argument) of every VOTE call served.
type CallLog = Arc<Mutex<Vec<(u32, Option<i32>)>>>;

/// Values our VOTE server reports, recognisable in udebug's output.
#[derive(Debug, Clone)]
struct Fake {
    now: i32,
    log: CallLog,
}

impl Fake {
    fn debug(&self) -> ubik::UbikDebug {
        let now = self.now;
        let mut d = ubik::UbikDebug {
            now,
            last_yes_time: now - 5,
            last_yes_host: 0x7f00_0001,
            last_yes_state: 1,
            last_yes_claim: now - 5,
            lowest_host: 0x7f00_0001,
            lowest_time: now - 60,
            sync_host: 0x7f00_0001,
            sync_time: now - 60,
            sync_version: ubik::NetVersion {
                epoch: 1_234_567_890,
                counter: 41,
            },
            am_sync_site: 1,
            sync_site_until: 0x7fff_ffff,
            n_servers: 3,
            locked_pages: 3,
            write_locked_pages: 1,
            local_version: ubik::NetVersion {
                epoch: 1_234_567_890,
                counter: 42,
            },
            tid_counter: 77,
            recovery_state: 0x1f,
            epoch_time: 1_700_000_000,
            ..Default::default()
        };
        d.interface_addr[0] = 0x7f00_0001;
        d.interface_addr[1] = 0x7f00_0002;
        d
    }

    fn sdebug(&self) -> ubik::UbikSdebug {
        ubik::UbikSdebug {
            addr: 0x7f00_0003,
            last_vote_time: self.now - 2,
            last_beacon_sent: self.now - 3,
            last_vote: 1,
            remote_version: ubik::NetVersion {
                epoch: 1_234_567_890,
                counter: 42,
            },
            current_db: 1,
            beacon_since_down: 1,
            up: 1,
            ..Default::default()
        }
    }
}

impl ubik::vote::Service for Fake {
    async fn debug(&self, _call: &CallContext) -> Result<ubik::UbikDebug, AbortCode> {
        self.log.lock().unwrap().push((10004, None));
        Ok(self.debug())
    }

    async fn x_debug(&self, _call: &CallContext) -> Result<ubik::vote::XDebugOut, AbortCode> {
        self.log.lock().unwrap().push((10006, None));
        Ok(ubik::vote::XDebugOut {
            db: self.debug(),
            is_clone: 0,
        })
    }

    async fn s_debug(
        &self,
        _call: &CallContext,
        which: i32,
    ) -> Result<ubik::UbikSdebug, AbortCode> {
        self.log.lock().unwrap().push((10005, Some(which)));
        if which == 0 {
            Ok(self.sdebug())
        } else {
            Err(AbortCode(UNOENT))
        }
    }

    async fn xs_debug(
        &self,
        _call: &CallContext,
        which: i32,
    ) -> Result<ubik::vote::XsDebugOut, AbortCode> {
        self.log.lock().unwrap().push((10007, Some(which)));
        if which == 0 {
            Ok(ubik::vote::XsDebugOut {
                db: self.sdebug(),
                is_clone: 0,
            })
        } else {
            Err(AbortCode(UNOENT))
        }
    }
}

/// udebug parses the port into a C `short`: bind below 32768.
async fn low_port_endpoint() -> RxEndpoint {
    for port in (22_000u16..22_500).map(|p| p + (std::process::id() % 89) as u16) {
        if let Ok(e) = RxEndpoint::bind(SocketAddr::from(([127, 0, 0, 1], port))).await {
            return e;
        }
    }
    panic!("no free UDP port in 22000..22589");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_vote_server_answers_udebug() {
    let Some(_cell) = OpenAfsCell::get() else {
        return;
    };
    within(90, "udebug against the generated VOTE server", async {
        let ep = low_port_endpoint().await;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i32;
        let fake = Fake {
            now,
            log: Arc::new(Mutex::new(Vec::new())),
        };
        let log = Arc::clone(&fake.log);
        let listener = ep.listen(&[VOTE_SERVICE], 4).await.unwrap();
        let server = tokio::spawn(ubik::vote::serve(listener, fake));
        let port = ep.local_addr().port().to_string();
        let out = tokio::task::spawn_blocking(move || {
            OpenAfsTool::Udebug.run(["127.0.0.1", &port], TOOL_TIMEOUT)
        })
        .await
        .unwrap()
        .unwrap();
        out.assert_success();
        let s = &out.stdout;
        for want in [
            "Host's addresses are: 127.0.0.1 127.0.0.2",
            "Local db version is 1234567890.42",
            "I am sync site forever (3 servers)",
            "Recovery state 1f",
            "The last trans I handled was 1700000000.77",
            "Sync site's db version is 1234567890.41",
            "3 locked pages, 1 of them for write",
            "Last yes vote for 127.0.0.1 was 5 secs ago (sync site)",
            "Server (127.0.0.3): (db 1234567890.42)",
            "dbcurrent=1, up=1 beaconSince=1",
        ] {
            assert!(s.contains(want), "udebug output lacks {want:?}: {out}");
        }
        assert!(!s.contains("return code"), "{out}");
        eprintln!("udebug said:\n{s}");
        assert_eq!(
            log.lock().unwrap().clone(),
            [(10006, None), (10007, Some(0)), (10007, Some(1))],
            "{out}"
        );
        server.abort();
    })
    .await;
}
