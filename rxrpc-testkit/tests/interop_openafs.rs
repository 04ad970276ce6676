//! Interop with OpenAFS 1.8, both directions.
//!
//! * Our client (`rxrpc::RxEndpoint`, rxnull) makes real rxgen RPCs through the stubs
//!   `rxrpc-afs` generates from `idl/*.xg` to the cell's vlserver (VL, service 52) and
//!   ptserver (PR, service 73), and checks the results against what the stock OpenAFS tools
//!   (`vos`, `pts`) report for the same cell; calls the servers refuse must end with the right
//!   abort code.
//! * Real OpenAFS programs call our server: `rxdebug -version` gets our VERSION reply, and
//!   `udebug` makes VOTE_XDebug / VOTE_XSDebug calls (ubik service 50) to a small VOTE server
//!   of ours (the generated `ubik::vote` dispatcher) and prints the values it was sent.
//!
//! Only the abort tests (an unknown opcode, a truncated request, a request without an opcode)
//! and the fake bosserver still encode XDR by hand. Without a cell these tests print
//! `SKIPPED:` and pass, except under CI (`CI=true`) or `RXRPC_REQUIRE_PEERS=1`, where they
//! fail.

mod common;

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fmt::Debug;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use common::{Xdr, XdrReader, call_abort, call_ok, loopback, within};
use rxrpc::{AbortCode, RxEndpoint, ServiceId};
use rxrpc_afs::{PR_SERVICE, VL_SERVICE, VOTE_SERVICE, pr, ubik, vl};
use rxrpc_testkit::{
    OpenAfsCell, OpenAfsTool, PTSERVER_SERVICE, ToolOutput, VLSERVER_SERVICE, run_tool,
};
use rxrpc_xdr::FixedChars;
use rxrpc_xdr::rx::{CallContext, RpcError};

const TOOL_TIMEOUT: Duration = Duration::from_secs(60);

/// Error table "VL" (base 363520): VL_NOENT is its 5th code.
const VL_NOENT: i32 = 363524;
/// 127.1.0.1, the address the cell's fileserver registers (host byte order, as in the VLDB).
const FAKE_FILESERVER: i32 = 0x7f01_0001;
/// Error table "PT" (base 267264): PRNOENT is its 5th code.
const PRNOENT: i32 = 267268;

/// VLDB-changing and VLDB-listing tests of this binary run one at a time, so a listing never
/// sees another test's half-made entry.
static VLDB: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn unix_now() -> i32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i32)
}

/// Run an OpenAFS tool against the cell (`-noauth -config DIR` appended for pts/vos) on a
/// blocking thread; it must succeed.
async fn tool(cell: &'static OpenAfsCell, t: OpenAfsTool, args: &[&str]) -> ToolOutput {
    let mut argv: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
    if matches!(t, OpenAfsTool::Pts | OpenAfsTool::Vos) {
        argv.push(OsStr::new("-noauth"));
        argv.extend(cell.config_args());
    }
    let argv: Vec<std::ffi::OsString> = argv.into_iter().map(|a| a.to_os_string()).collect();
    let out = tokio::task::spawn_blocking(move || t.run(argv, TOOL_TIMEOUT))
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("{}: {e}", t.name()));
    out.assert_success();
    out
}

async fn client() -> RxEndpoint {
    RxEndpoint::bind(loopback()).await.unwrap()
}

/// The result of a generated-stub call that must succeed.
#[track_caller]
fn ok<T>(r: Result<T, RpcError>, what: &str) -> T {
    r.unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// The abort code of a generated-stub call that must have been aborted by the peer.
#[track_caller]
fn aborted<T: Debug>(r: Result<T, RpcError>, what: &str) -> i32 {
    match r {
        Err(RpcError::Aborted(code)) => code.0,
        other => panic!("{what}: expected a remote abort, got {other:?}"),
    }
}

// --- VL ----------------------------------------------------------------------------------------

fn vl_client(ep: &RxEndpoint, cell: &OpenAfsCell) -> vl::vl::Client {
    assert_eq!(VL_SERVICE.0, VLSERVER_SERVICE);
    vl::vl::Client::new(ep, cell.vlserver(), VL_SERVICE)
}

/// The sites of an entry, (server, partition, flags) for each of its `nServers`.
fn sites(e: &vl::Nvldbentry) -> Vec<(i32, i32, i32)> {
    assert!(
        (0..=vl::NMAXNSERVERS).contains(&e.n_servers),
        "nServers {}",
        e.n_servers
    );
    (0..e.n_servers as usize)
        .map(|i| (e.server_number[i], e.server_partition[i], e.server_flags[i]))
        .collect()
}

/// Every VLDB entry through VL_ListAttributesN2 (mask 0, name "": all), following
/// `nextstartindex` until -1.
async fn list_all_n2(c: &vl::vl::Client) -> Vec<vl::Nvldbentry> {
    let mut all = Vec::new();
    let mut start = 0i32;
    for _ in 0..1000 {
        let r = ok(
            c.list_attributes_n2(&vl::VldbListByAttributes::default(), "", start)
                .await,
            "VL_ListAttributesN2",
        );
        assert_eq!(
            r.blkentries.len() as i32,
            r.nentries,
            "nentries vs array length"
        );
        for e in &r.blkentries {
            sites(e);
        }
        all.extend(r.blkentries);
        let next = r.nextstartindex;
        if next == -1 {
            return all;
        }
        assert!(
            next > start,
            "nextstartindex {next} does not advance from {start}"
        );
        start = next;
    }
    panic!("VL_ListAttributesN2 never ended");
}

/// Names listed by `vos listvldb` (entry names are the unindented lines).
fn vos_listvldb_names(out: &str) -> (BTreeSet<String>, Option<usize>) {
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
async fn vl_probe_server() {
    let Some(cell) = OpenAfsCell::get() else {
        return;
    };
    within(60, "VL_ProbeServer", async {
        let ep = client().await;
        // VL_ProbeServer has no OUT args: the stub rejects a non-empty reply.
        ok(vl_client(&ep, cell).probe_server().await, "VL_ProbeServer");
    })
    .await;
}

/// Create a VLDB entry with our client, read it back three ways (VL_GetEntryByNameN,
/// VL_ListAttributesN2, `vos listvldb`), delete it, and see it gone (VL_NOENT abort).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vl_entry_lifecycle_matches_vos() {
    let Some(cell) = OpenAfsCell::get() else {
        return;
    };
    assert!(
        cell.noauth(),
        "the cell runs in NoAuth mode: rxnull may write"
    );
    let _vldb = VLDB.lock().await;
    within(180, "VL entry lifecycle", async {
        let ep = client().await;
        let c = vl_client(&ep, cell);
        let name = format!("rxrs-itest-{}", std::process::id());

        // VL_GetNewVolumeId(bumpcount 1) -> a fresh RW id.
        let rw_id = ok(c.get_new_volume_id(1).await, "VL_GetNewVolumeId") as u32;
        assert!(
            rw_id >= 536_870_912,
            "new volume id {rw_id} below the usual base"
        );

        // VL_CreateEntryN: one RW site at FAKE_FILESERVER partition 0 (/vicepa).
        let mut new = vl::Nvldbentry {
            name: FixedChars::new(&name).unwrap(),
            n_servers: 1,
            flags: vl::VLF_RWEXISTS,
            ..Default::default()
        };
        new.server_number[0] = FAKE_FILESERVER;
        new.server_partition[0] = 0;
        new.server_flags[0] = vl::VLSF_RWVOL;
        new.volume_id[0] = rw_id;
        ok(c.create_entry_n(&new).await, "VL_CreateEntryN");

        let e = ok(c.get_entry_by_name_n(&name).await, "VL_GetEntryByNameN");
        assert_eq!(e.name, name.as_str());
        assert_eq!(e.volume_id[0], rw_id);
        assert_eq!(sites(&e), vec![(FAKE_FILESERVER, 0, vl::VLSF_RWVOL)]);
        assert_ne!(e.flags & vl::VLF_RWEXISTS, 0, "{e:?}");
        // By number too: the vlserver takes a decimal name as a volume id.
        let by_id = ok(
            c.get_entry_by_name_n(rw_id.to_string()).await,
            "VL_GetEntryByNameN(id)",
        );
        assert_eq!(by_id.name, name.as_str());

        let listed = list_all_n2(&c).await;
        let ours: Vec<_> = listed.iter().filter(|x| x.name == name.as_str()).collect();
        assert_eq!(ours.len(), 1, "{listed:#?}");
        assert_eq!(ours[0].volume_id, e.volume_id);
        assert_eq!(sites(ours[0]), sites(&e));

        // The stock client sees the same entry.
        let out = tool(
            cell,
            OpenAfsTool::Vos,
            &["listvldb", "-name", &name, "-noresolve"],
        )
        .await;
        assert!(out.stdout.contains(&name), "{out}");
        assert!(
            out.stdout.contains(&format!("RWrite: {rw_id}")),
            "vos shows another RW id: {out}"
        );
        assert!(out.stdout.contains("number of sites -> 1"), "{out}");
        assert!(
            out.stdout
                .contains("server 127.1.0.1 partition /vicepa RW Site"),
            "{out}"
        );

        // And `vos listvldb` of everything names exactly what VL_ListAttributesN2 returned.
        let out = tool(cell, OpenAfsTool::Vos, &["listvldb", "-noresolve"]).await;
        let (names, total) = vos_listvldb_names(&out.stdout);
        let ours: BTreeSet<String> = listed.iter().map(|x| x.name.to_string_lossy()).collect();
        assert_eq!(names, ours, "{out}");
        assert_eq!(total, Some(listed.len()), "{out}");

        // VL_DeleteEntry(id, RW) and it is gone.
        ok(
            c.delete_entry(rw_id as i32, vl::RWVOL).await,
            "VL_DeleteEntry",
        );
        assert_eq!(
            aborted(
                c.get_entry_by_name_n(&name).await,
                "VL_GetEntryByNameN after delete"
            ),
            VL_NOENT
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vl_aborts() {
    let Some(cell) = OpenAfsCell::get() else {
        return;
    };
    within(60, "VL aborts", async {
        let ep = client().await;
        let vl = cell.vlserver();
        // No such volume.
        assert_eq!(
            aborted(
                vl_client(&ep, cell)
                    .get_entry_by_name_n("no.such.volume.here")
                    .await,
                "VL_GetEntryByNameN(missing)"
            ),
            VL_NOENT
        );
        // The requests below are malformed or of an unknown opcode on purpose, which the
        // generated client cannot send: they stay encoded by hand.
        // An opcode the VL package does not have: rxgen's dispatcher says RXGEN_OPCODE.
        call_abort(
            &ep,
            vl,
            VL_SERVICE,
            Xdr::call(999).bytes(),
            AbortCode::RXGEN_OPCODE.0,
            "VL opcode 999",
        )
        .await;
        // VL_CreateEntry with its argument cut short: unmarshal failure.
        call_abort(
            &ep,
            vl,
            VL_SERVICE,
            Xdr::call(vl::vl::opcodes::CREATE_ENTRY).u32(7).bytes(),
            AbortCode::RXGEN_SS_UNMARSHAL.0,
            "truncated VL_CreateEntry",
        )
        .await;
        // A request of fewer than 4 bytes cannot even hold the opcode.
        call_abort(
            &ep,
            vl,
            VL_SERVICE,
            Bytes::from_static(&[0, 0]),
            AbortCode::RXGEN_DECODE.0,
            "2-byte request",
        )
        .await;
    })
    .await;
}

// --- PR ----------------------------------------------------------------------------------------

fn pr_client(ep: &RxEndpoint, cell: &OpenAfsCell) -> pr::pr::Client {
    assert_eq!(PR_SERVICE.0, PTSERVER_SERVICE);
    pr::pr::Client::new(ep, cell.ptserver(), PR_SERVICE)
}

/// `pts examine` output fields: "Name: admin, id: 1, owner: ..., creator: ...,\n membership: 1,
/// flags: S----, group quota: 20."
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

async fn name_to_id(c: &pr::pr::Client, names: &[&str]) -> Vec<i32> {
    let nlist: Vec<pr::Prname> = names.iter().map(|n| FixedChars::new(n).unwrap()).collect();
    let ids = ok(c.name_to_id(&nlist).await, "PR_NameToID");
    assert_eq!(ids.len(), names.len(), "PR_NameToID: {ids:?}");
    ids
}

async fn id_to_name(c: &pr::pr::Client, ids: &[i32]) -> Vec<String> {
    let names = ok(c.id_to_name(ids).await, "PR_IDToName");
    assert_eq!(names.len(), ids.len());
    names.iter().map(|n| n.to_string_lossy()).collect()
}

/// PR_NameToID, PR_IDToName and PR_ListEntry against `pts examine`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pr_names_ids_and_entry_match_pts_examine() {
    let Some(cell) = OpenAfsCell::get() else {
        return;
    };
    within(120, "PR name/id/entry", async {
        let ep = client().await;
        let c = pr_client(&ep, cell);
        let ids = name_to_id(&c, &["admin", "system:administrators", "no-such-user-xyz"]).await;
        assert_eq!(ids[1], pr::SYSADMINID);
        assert_eq!(ids[2], pr::ANONYMOUSID, "unknown names map to anonymous");

        let out = tool(cell, OpenAfsTool::Pts, &["examine", "admin"]).await;
        let f = pts_fields(&out.stdout);
        assert_eq!(f.get("Name").map(String::as_str), Some("admin"), "{out}");
        let pts_id: i32 = f["id"].parse().unwrap();
        assert_eq!(ids[0], pts_id, "PR_NameToID vs pts examine: {out}");

        let names = id_to_name(
            &c,
            &[pts_id, pr::SYSADMINID, pr::ANYUSERID, pr::ANONYMOUSID],
        )
        .await;
        assert_eq!(
            names,
            [
                "admin",
                "system:administrators",
                "system:anyuser",
                "anonymous"
            ]
        );

        let e = ok(c.list_entry(pts_id).await, "PR_ListEntry");
        assert_eq!((e.id, e.name.to_string_lossy().as_str()), (pts_id, "admin"));
        // pts examine prints owner and creator by name, membership = count.
        let named = id_to_name(&c, &[e.owner, e.creator]).await;
        assert_eq!(f.get("owner"), Some(&named[0]), "owner: {out}");
        assert_eq!(f.get("creator"), Some(&named[1]), "creator: {out}");
        assert_eq!(
            f.get("membership").map(String::as_str),
            Some(e.count.to_string().as_str()),
            "membership: {out}"
        );
        // A group.
        let g = ok(c.list_entry(pr::SYSADMINID).await, "PR_ListEntry(group)");
        assert_eq!(
            (g.id, g.name.to_string_lossy().as_str()),
            (pr::SYSADMINID, "system:administrators")
        );
        let out = tool(
            cell,
            OpenAfsTool::Pts,
            &["examine", "system:administrators"],
        )
        .await;
        let gf = pts_fields(&out.stdout);
        assert_eq!(gf["id"], pr::SYSADMINID.to_string(), "{out}");
        assert_eq!(gf["membership"], g.count.to_string(), "{out}");

        // An id nobody has: PRNOENT.
        assert_eq!(
            aborted(c.list_entry(7_777_777).await, "PR_ListEntry(missing)"),
            PRNOENT
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pr_listmax_matches_pts_listmax() {
    let Some(cell) = OpenAfsCell::get() else {
        return;
    };
    within(60, "PR_ListMax", async {
        let ep = client().await;
        let m = ok(pr_client(&ep, cell).list_max().await, "PR_ListMax");
        let (uid, gid) = (m.uid, m.gid);
        let out = tool(cell, OpenAfsTool::Pts, &["listmax"]).await;
        assert!(
            out.stdout
                .contains(&format!("Max user id is {uid} and max group id is {gid}.")),
            "PR_ListMax said uid {uid} gid {gid}: {out}"
        );
    })
    .await;
}

/// PR_ListElements of system:administrators vs `pts membership`, PR_ListEntries vs
/// `pts listentries`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pr_lists_match_pts() {
    let Some(cell) = OpenAfsCell::get() else {
        return;
    };
    within(120, "PR lists", async {
        let ep = client().await;
        let c = pr_client(&ep, cell);

        let members = ok(c.list_elements(pr::SYSADMINID).await, "PR_ListElements");
        assert!(
            members.elist.len() <= 5000,
            "{} members",
            members.elist.len()
        );
        assert_eq!(members.over, 0);
        let member_names: BTreeSet<String> =
            id_to_name(&c, &members.elist).await.into_iter().collect();
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
        assert!(member_names.contains("admin"), "{out}");

        // PR_ListEntries(users | groups) from index 0 until nextstartindex is 0.
        let mut entries = Vec::new();
        let mut start = 0;
        loop {
            let r = ok(
                c.list_entries(pr::PRUSERS | pr::PRGROUPS, start).await,
                "PR_ListEntries",
            );
            entries.extend(r.bulkentries);
            let next = r.nextstartindex;
            if next <= 0 {
                break;
            }
            assert!(next > start);
            start = next;
        }
        let out = tool(
            cell,
            OpenAfsTool::Pts,
            &["listentries", "-users", "-groups"],
        )
        .await;
        // "Name  ID  Owner Creator" table.
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
        assert!(ours.iter().any(|r| r.0 == "admin"));
    })
    .await;
}

/// Multi-packet calls both ways with OpenAFS: PR_NameToID with 1000 names (a 256 KB
/// request) and PR_IDToName with 2000 ids (a 512 KB reply).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pr_large_requests_and_replies() {
    let Some(cell) = OpenAfsCell::get() else {
        return;
    };
    within(180, "large PR calls", async {
        let ep = client().await;
        let c = pr_client(&ep, cell);
        let mut names: Vec<String> = (0..1000).map(|i| format!("nobody-{i}")).collect();
        names[0] = "admin".into();
        names[999] = "system:anyuser".into();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let ids = name_to_id(&c, &refs).await;
        assert_eq!(ids.len(), 1000);
        assert_eq!(ids[999], pr::ANYUSERID);
        assert!(
            ids[1..999].iter().all(|&id| id == pr::ANONYMOUSID),
            "{ids:?}"
        );
        let admin = ids[0];

        let mut ids: Vec<i32> = (0..2000).map(|i| 100_000 + i).collect();
        ids[0] = admin;
        ids[1999] = pr::SYSADMINID;
        let names = id_to_name(&c, &ids).await;
        assert_eq!(names[0], "admin");
        assert_eq!(names[1999], "system:administrators");
        // Unknown ids come back as their number.
        for (id, name) in ids.iter().zip(&names).skip(1).take(1998) {
            assert_eq!(*name, id.to_string());
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pr_unknown_opcode_aborts() {
    let Some(cell) = OpenAfsCell::get() else {
        return;
    };
    within(60, "PR unknown opcode", async {
        let ep = client().await;
        // An opcode the PR package does not have, which the generated client cannot send: it
        // stays encoded by hand.
        call_abort(
            &ep,
            cell.ptserver(),
            PR_SERVICE,
            Xdr::call(12345).bytes(),
            AbortCode::RXGEN_OPCODE.0,
            "PR opcode 12345",
        )
        .await;
        // The connection is still good for the next call.
        let ids = name_to_id(&pr_client(&ep, cell), &["system:anyuser"]).await;
        assert_eq!(ids, [pr::ANYUSERID]);
    })
    .await;
}

/// Many calls at once on one endpoint: several connections to the same peer, all four
/// channels of each busy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pr_concurrent_calls() {
    let Some(cell) = OpenAfsCell::get() else {
        return;
    };
    within(120, "concurrent PR calls", async {
        let ep = client().await;
        let c = pr_client(&ep, cell);
        let mut tasks = Vec::new();
        for i in 0..24 {
            let c = c.clone();
            tasks.push(tokio::spawn(async move {
                if i % 2 == 0 {
                    name_to_id(&c, &["admin", "system:anyuser"]).await
                } else {
                    let n = id_to_name(&c, &[pr::ANYUSERID]).await;
                    assert_eq!(n, ["system:anyuser"]);
                    vec![]
                }
            }));
        }
        let mut admin = None;
        for t in tasks {
            let ids = t.await.unwrap();
            if let [a, b] = ids[..] {
                assert_eq!(b, pr::ANYUSERID);
                assert_eq!(*admin.get_or_insert(a), a);
            }
        }
    })
    .await;
}

// --- ubik VOTE (service 50) on the ptserver's port ----------------------------------------

/// VOTE_XDebug to `addr` with the generated VOTE client.
async fn vote_xdebug(ep: &RxEndpoint, addr: SocketAddr) -> ubik::vote::XDebugOut {
    let c = ubik::vote::Client::new(ep, addr, VOTE_SERVICE);
    ok(c.x_debug().await, "VOTE_XDebug")
}

/// Our VOTE_XDebug to the real ptserver, decoded, against what `udebug` prints for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vote_xdebug_to_ptserver_matches_udebug() {
    let Some(cell) = OpenAfsCell::get() else {
        return;
    };
    within(60, "VOTE_XDebug to ptserver", async {
        let ep = client().await;
        let x = vote_xdebug(&ep, cell.ptserver()).await;
        let d = &x.db;
        assert_eq!(d.am_sync_site, 1, "{d:?}");
        assert_eq!(d.n_servers, 1, "{d:?}");
        assert_eq!(x.is_clone, 0, "{x:?}");
        assert_eq!(d.interface_addr[0], 0x7f00_0001, "{d:?}");
        let port = cell.ptserver().port().to_string();
        let out = tool(cell, OpenAfsTool::Udebug, &["127.0.0.1", &port]).await;
        let s = &out.stdout;
        let v = &d.local_version;
        assert!(
            s.contains(&format!("Local db version is {}.{}", v.epoch, v.counter)),
            "{d:?} {out}"
        );
        assert!(s.contains("Host's addresses are: 127.0.0.1"), "{out}");
        if d.sync_site_until == 0x7fff_ffff {
            assert!(s.contains("I am sync site forever (1 server)"), "{out}");
        }
        assert!(
            s.contains(&format!("Recovery state {:x}", d.recovery_state)),
            "{d:?} {out}"
        );
    })
    .await;
}

/// One endpoint, two services of the same server: a PR call (service 73) and then a VOTE
/// call (service 50) to the ptserver's port. Each call must reach its own service, as udebug
/// and pts would (they use separate connections per service).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pr_then_vote_on_one_endpoint() {
    let Some(cell) = OpenAfsCell::get() else {
        return;
    };
    within(60, "PR then VOTE on one endpoint", async {
        let ep = client().await;
        let ids = name_to_id(&pr_client(&ep, cell), &["system:anyuser"]).await;
        assert_eq!(ids, [pr::ANYUSERID]);
        let x = vote_xdebug(&ep, cell.ptserver()).await;
        assert_eq!(x.db.am_sync_site, 1, "{x:?}");
    })
    .await;
}

// --- OpenAFS programs against our server ---------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rxdebug_version_against_our_endpoint() {
    let Some(_cell) = OpenAfsCell::get() else {
        return;
    };
    within(60, "rxdebug -version", async {
        let mut config = rxrpc::default_config();
        let version = format!("rxrpc-rs interop {}", std::process::id());
        config.version_string = version.clone();
        let ep = RxEndpoint::bind_with_config(loopback(), config)
            .await
            .unwrap();
        let port = ep.local_addr().port().to_string();
        let out = tokio::task::spawn_blocking(move || {
            OpenAfsTool::Rxdebug.run(["127.0.0.1", &port, "-version"], TOOL_TIMEOUT)
        })
        .await
        .unwrap()
        .unwrap();
        out.assert_success();
        assert!(
            out.stdout.contains(&format!("AFS version: {version}")),
            "{out}"
        );
        // The default string names the implementation.
        let ep2 = RxEndpoint::bind(loopback()).await.unwrap();
        let port = ep2.local_addr().port().to_string();
        let out = tokio::task::spawn_blocking(move || {
            OpenAfsTool::Rxdebug.run(["127.0.0.1", &port, "-version"], TOOL_TIMEOUT)
        })
        .await
        .unwrap()
        .unwrap();
        out.assert_success();
        assert!(out.stdout.contains("AFS version: rxrpc-rs"), "{out}");
    })
    .await;
}

/// `rxdebug` (DEBUG packets: GETSTATS, GETCONN, GETPEER, RXSTATS) against our server after
/// it served two calls from a client endpoint of ours: the counters, the connection and the
/// peer must be what we know they are (addresses and ports in the right byte order).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rxdebug_stats_conns_peers_of_our_server() {
    let Some(_cell) = OpenAfsCell::get() else {
        return;
    };
    within(120, "rxdebug against our server", async {
        const ECHO: ServiceId = ServiceId(4242);
        let server = RxEndpoint::bind(loopback()).await.unwrap();
        let listener = server.listen(&[ECHO], 4).await.unwrap();
        tokio::spawn(async move {
            while let Ok(c) = listener.accept().await {
                let c = c.into_call();
                tokio::spawn(async move {
                    let req = c.recv_to_end(1 << 20).await?;
                    c.send_last(req).await?;
                    c.completion().await;
                    Ok::<_, rxrpc::Error>(())
                });
            }
        });
        let client = client().await;
        for msg in [&b"first"[..], &[7u8; 5000][..]] {
            let got = call_ok(
                &client,
                server.local_addr(),
                ECHO,
                Bytes::copy_from_slice(msg),
                "echo",
            )
            .await;
            assert_eq!(&got[..], msg);
        }
        // Both calls are complete on the server once the client's final ACKs arrived.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let port = server.local_addr().port().to_string();
        let client_port = client.local_addr().port();
        let out = tokio::task::spawn_blocking(move || {
            let a = OpenAfsTool::Rxdebug.run(["127.0.0.1", &port], TOOL_TIMEOUT);
            let b = OpenAfsTool::Rxdebug.run(
                ["127.0.0.1", &port, "-noconns", "-peers", "-rxstats"],
                TOOL_TIMEOUT,
            );
            (a, b)
        })
        .await
        .unwrap();
        let conns = out.0.unwrap();
        conns.assert_success();
        let s = &conns.stdout;
        assert!(s.contains("calls: 2,"), "GETSTATS calls executed: {conns}");
        assert!(
            s.contains(&format!(
                "Connection from host 127.0.0.1, port {client_port}"
            )),
            "GETCONN: {conns}"
        );
        assert!(s.contains("Done."), "{conns}");
        let peers = out.1.unwrap();
        peers.assert_success();
        let s = &peers.stdout;
        assert!(
            s.contains(&format!("Peer at host 127.0.0.1, port {client_port}")),
            "GETPEER: {peers}"
        );
        assert!(!s.contains("Connection from"), "-noconns: {peers}");
        // RXSTATS: rxdebug complains if the reply's size differs from its struct.
        assert!(!s.to_lowercase().contains("mismatch"), "{peers}");
        assert!(s.contains("packets read:"), "RXSTATS: {peers}");
    })
    .await;
}

// --- a VOTE (ubik service 50) server for udebug -------------------------------------------------

/// ubik's "no such entry" (error table "U", 7th code): a positive code ends udebug's
/// per-server loop.
const UNOENT: i32 = 5382;

/// The (opcode, first argument) of every VOTE call served.
type VoteLog = Arc<Mutex<Vec<(u32, Option<i32>)>>>;

/// Our VOTE server (run by the generated `ubik::vote` dispatcher): it reports values chosen
/// to be recognisable in udebug's output, and records every VOTE procedure called.
#[derive(Debug, Clone)]
struct FakeUbik {
    now: i32,
    local_version: ubik::NetVersion,
    sync_version: ubik::NetVersion,
    epoch_time: i32,
    tid_counter: i32,
    locked: (i32, i32),
    recovery_state: i32,
    addrs: [i32; 2],
    server: i32,
    log: VoteLog,
}

impl FakeUbik {
    fn record(&self, opcode: u32, arg: Option<i32>) {
        self.log.lock().unwrap().push((opcode, arg));
    }

    /// `ubik_debug` (`idl/ubik.xg`).
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
            sync_version: self.sync_version.clone(),
            sync_tid: ubik::NetTid::default(),
            am_sync_site: 1,
            sync_site_until: 0x7fff_ffff, // forever
            n_servers: 3,
            locked_pages: self.locked.0,
            write_locked_pages: self.locked.1,
            local_version: self.local_version.clone(),
            active_write: 0,
            tid_counter: self.tid_counter,
            any_read_locks: 0,
            any_write_locks: 0,
            recovery_state: self.recovery_state,
            current_trans: 0,
            write_trans: 0,
            epoch_time: self.epoch_time,
            ..Default::default()
        };
        d.interface_addr[..self.addrs.len()].copy_from_slice(&self.addrs);
        d
    }

    /// `ubik_sdebug`: the one other server, no alternate addresses.
    fn sdebug(&self) -> ubik::UbikSdebug {
        ubik::UbikSdebug {
            addr: self.server,
            last_vote_time: self.now - 2,
            last_beacon_sent: self.now - 3,
            last_vote: 1,
            remote_version: self.local_version.clone(),
            current_db: 1,
            beacon_since_down: 1,
            up: 1,
            ..Default::default()
        }
    }
}

/// Every VOTE procedure is recorded; the ones udebug may use are answered, the others abort
/// with `RXGEN_OPCODE` (as the trait's defaults do).
impl ubik::vote::Service for FakeUbik {
    async fn beacon(
        &self,
        _call: &CallContext,
        state: i32,
        _vote_start: i32,
        _version: ubik::NetVersion,
        _tid: ubik::NetTid,
    ) -> Result<(), AbortCode> {
        self.record(ubik::vote::opcodes::BEACON, Some(state));
        Err(AbortCode::RXGEN_OPCODE)
    }

    async fn debug_old(&self, _call: &CallContext) -> Result<ubik::UbikDebugOld, AbortCode> {
        self.record(ubik::vote::opcodes::DEBUG_OLD, None);
        Err(AbortCode::RXGEN_OPCODE)
    }

    async fn s_debug_old(
        &self,
        _call: &CallContext,
        which: i32,
    ) -> Result<ubik::UbikSdebugOld, AbortCode> {
        self.record(ubik::vote::opcodes::S_DEBUG_OLD, Some(which));
        Err(AbortCode::RXGEN_OPCODE)
    }

    async fn get_sync_site(&self, _call: &CallContext, site: i32) -> Result<(), AbortCode> {
        self.record(ubik::vote::opcodes::GET_SYNC_SITE, Some(site));
        Err(AbortCode::RXGEN_OPCODE)
    }

    async fn debug(&self, _call: &CallContext) -> Result<ubik::UbikDebug, AbortCode> {
        self.record(ubik::vote::opcodes::DEBUG, None);
        Ok(self.debug())
    }

    async fn s_debug(
        &self,
        _call: &CallContext,
        which: i32,
    ) -> Result<ubik::UbikSdebug, AbortCode> {
        self.record(ubik::vote::opcodes::S_DEBUG, Some(which));
        if which == 0 {
            Ok(self.sdebug())
        } else {
            Err(AbortCode(UNOENT))
        }
    }

    async fn x_debug(&self, _call: &CallContext) -> Result<ubik::vote::XDebugOut, AbortCode> {
        self.record(ubik::vote::opcodes::X_DEBUG, None);
        Ok(ubik::vote::XDebugOut {
            db: self.debug(),
            is_clone: 0,
        })
    }

    async fn xs_debug(
        &self,
        _call: &CallContext,
        which: i32,
    ) -> Result<ubik::vote::XsDebugOut, AbortCode> {
        self.record(ubik::vote::opcodes::XS_DEBUG, Some(which));
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

/// `udebug 127.0.0.1 PORT` against our VOTE server: udebug (OpenAFS's rx, rxnull) makes
/// VOTE_XDebug, then VOTE_XSDebug(0), VOTE_XSDebug(1) on one connection, and prints what it
/// decoded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udebug_against_our_vote_server() {
    let Some(_cell) = OpenAfsCell::get() else {
        return;
    };
    within(90, "udebug", async {
        // udebug parses the port into a C `short`: it must be below 32768, so not an
        // ephemeral one. Take the first free port of a range.
        let mut ep = None;
        for port in (21_000u16..21_500).map(|p| p + (std::process::id() % 97) as u16) {
            if let Ok(e) = RxEndpoint::bind(SocketAddr::from(([127, 0, 0, 1], port))).await {
                ep = Some(e);
                break;
            }
        }
        let ep = ep.expect("no free UDP port in 21000..21597 on 127.0.0.1");
        let log: VoteLog = Arc::new(Mutex::new(Vec::new()));
        let fake = FakeUbik {
            now: unix_now(),
            local_version: ubik::NetVersion {
                epoch: 1_234_567_890,
                counter: 42,
            },
            sync_version: ubik::NetVersion {
                epoch: 1_234_567_890,
                counter: 41,
            },
            epoch_time: 1_700_000_000,
            tid_counter: 77,
            locked: (3, 1),
            recovery_state: 0x1f,
            addrs: [0x7f00_0001, 0x7f00_0002],
            server: 0x7f00_0003,
            log: Arc::clone(&log),
        };
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
        assert!(!s.contains("error code"), "{out}");
        let calls = log.lock().unwrap().clone();
        assert_eq!(
            calls,
            [
                (ubik::vote::opcodes::X_DEBUG, None),
                (ubik::vote::opcodes::XS_DEBUG, Some(0)),
                (ubik::vote::opcodes::XS_DEBUG, Some(1))
            ],
            "{out}"
        );
        server.abort();
    })
    .await;
}

// --- BOZO_GetLog (bosserver, service 1 on the fixed port 7007) for `bos getlog` -------------

/// `AFSCONF_NANNYPORT`: bos has no option for another port.
const BOS_PORT: u16 = 7007;
const BOZO_SERVICE: ServiceId = ServiceId(1);
const BOZO_GETLOG: u32 = 112;

/// The bos tests share the fixed port: one at a time.
static BOS_PORT_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Bind our fake bosserver on 127.0.0.1:7007 (retrying briefly while a previous test's
/// endpoint closes); `None` (skip) if the port stays taken, a panic under CI.
async fn bind_bos_port() -> Option<RxEndpoint> {
    let addr = SocketAddr::from(([127, 0, 0, 1], BOS_PORT));
    let mut last = None;
    for _ in 0..50 {
        match RxEndpoint::bind(addr).await {
            Ok(ep) => return Some(ep),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let e = last.unwrap();
    if rxrpc_testkit::peers_required() {
        panic!("cannot bind {addr} for the fake bosserver: {e}");
    }
    eprintln!("SKIPPED: cannot bind {addr} for the fake bosserver: {e}");
    None
}

/// The log our fake bosserver streams: ~1 MB of numbered lines.
fn fake_log() -> String {
    (0..16_000)
        .map(|i| {
            format!(
                "line {i:06}: the quick brown fox jumps over the lazy dog {:08x}\n",
                i * 2_654_435_761u64 as u32 as u64
            )
        })
        .collect()
}

/// `bos getlog -server 127.0.0.1 -file NAME -noauth` against our server on 127.0.0.1:7007:
/// OpenAFS's client reads the (split) BOZO_GetLog reply byte by byte until a NUL, so this is a
/// 1 MB transfer from our server to OpenAFS's rx, flow-controlled by it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bos_getlog_streams_1mb_from_our_server() {
    let Some(_cell) = OpenAfsCell::get() else {
        return;
    };
    within(180, "bos getlog", async {
        let _port = BOS_PORT_LOCK.lock().await;
        let Some(ep) = bind_bos_port().await else {
            return;
        };
        let listener = ep.listen(&[BOZO_SERVICE], 4).await.unwrap();
        let log = fake_log();
        let served = {
            let log = log.clone();
            tokio::spawn(async move {
                let call = listener.accept().await.unwrap().into_call();
                let req = call.recv_to_end(4096).await.unwrap();
                let mut r = XdrReader::new(&req, "BOZO_GetLog");
                assert_eq!(r.u32(), BOZO_GETLOG);
                let name = String::from_utf8(r.string(256)).unwrap();
                r.end();
                // Stream it in pieces, then the NUL that ends it.
                for chunk in log.as_bytes().chunks(50_000) {
                    call.send_all(chunk).await.unwrap();
                }
                call.send_last(Bytes::from_static(&[0])).await.unwrap();
                (name, call.completion().await)
            })
        };
        let out = tokio::task::spawn_blocking(|| {
            run_tool(
                "/usr/bin/bos",
                [
                    "getlog",
                    "-server",
                    "127.0.0.1",
                    "-file",
                    "RxrsLog",
                    "-noauth",
                ],
                TOOL_TIMEOUT,
            )
        })
        .await
        .unwrap()
        .expect("bos");
        let (name, completion) = served.await.unwrap();
        assert_eq!(name, "RxrsLog");
        out.assert_success();
        let want = format!("Fetching log file 'RxrsLog'...\n{log}");
        assert!(
            out.stdout == want,
            "bos printed {} bytes, expected {} (first difference at byte {:?})",
            out.stdout.len(),
            want.len(),
            out.stdout
                .bytes()
                .zip(want.bytes())
                .position(|(a, b)| a != b)
        );
        assert!(completion.is_success(), "server side: {completion}");
    })
    .await;
}

const BOZO_INSTALL: u32 = 105;

/// `bos install -server 127.0.0.1 -file F -dir /rxrs -noauth` to our server: OpenAFS's client
/// streams a 2 MB file (256-byte rx_Writes after the BOZO_Install arguments) into our
/// service call; the bytes must arrive intact and bos must report success.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bos_install_uploads_2mb_to_our_server() {
    let Some(_cell) = OpenAfsCell::get() else {
        return;
    };
    within(180, "bos install", async {
        let _port = BOS_PORT_LOCK.lock().await;
        let Some(ep) = bind_bos_port().await else {
            return;
        };
        let listener = ep.listen(&[BOZO_SERVICE], 4).await.unwrap();
        let content: Vec<u8> = (0..2 * 1024 * 1024u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
            .collect();
        let file = std::env::temp_dir().join(format!("rxrs-bos-install-{}", std::process::id()));
        std::fs::write(&file, &content).unwrap();
        let served = tokio::spawn(async move {
            let call = listener.accept().await.unwrap().into_call();
            let req = call.recv_to_end(8 << 20).await.unwrap();
            // Reply: BOZO_Install has no OUT arguments; the result is the call's success.
            call.finish().await.unwrap();
            (req, call.completion().await)
        });
        let path = file.clone();
        let out = tokio::task::spawn_blocking(move || {
            run_tool(
                "/usr/bin/bos",
                [
                    OsStr::new("install"),
                    OsStr::new("-server"),
                    OsStr::new("127.0.0.1"),
                    OsStr::new("-file"),
                    path.as_os_str(),
                    OsStr::new("-dir"),
                    OsStr::new("/rxrs"),
                    OsStr::new("-noauth"),
                ],
                TOOL_TIMEOUT,
            )
        })
        .await
        .unwrap()
        .expect("bos");
        let _ = std::fs::remove_file(&file);
        let (req, completion) = served.await.unwrap();
        let mut r = XdrReader::new(&req, "BOZO_Install");
        assert_eq!(r.u32(), BOZO_INSTALL);
        let dest = String::from_utf8(r.string(256)).unwrap();
        let size = r.u32() as usize;
        let _mode = r.u32();
        let _mtime = r.u32();
        let base = file.file_name().unwrap().to_str().unwrap();
        assert_eq!(dest, format!("/rxrs/{base}"));
        assert_eq!(size, content.len());
        assert_eq!(r.remaining(), size, "file bytes after the arguments");
        let body = &req[req.len() - size..];
        if let Some(i) = (0..size).find(|&i| body[i] != content[i]) {
            panic!("uploaded byte {i} differs");
        }
        out.assert_success();
        assert!(out.stdout.contains("bos: installed file"), "{out}");
        assert!(completion.is_success(), "server side: {completion}");
    })
    .await;
}
