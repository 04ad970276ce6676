//! Interop with OpenAFS 1.8, both directions.
//!
//! * Our client (`rxrpc::RxEndpoint`, rxnull) makes real rxgen RPCs, encoded by hand in XDR,
//!   to the cell's vlserver (VL, service 52) and ptserver (PR, service 73), decodes the replies
//!   and checks them against what the stock OpenAFS tools (`vos`, `pts`) report for the same
//!   cell; calls the servers refuse must end with the right abort code.
//! * Real OpenAFS programs call our server: `rxdebug -version` gets our VERSION reply, and
//!   `udebug` makes VOTE_XDebug / VOTE_XSDebug calls (ubik service 50) to a small VOTE server
//!   of ours and prints the values it was sent.
//!
//! Opcodes and layouts come from the OpenAFS sources (`src/vlserver/vldbint.xg` and
//! `vl_opcodes.h`, `src/ptserver/ptint.xg`, `src/ubik/ubik_int.xg`, `src/ubik/udebug.c`); the
//! encoders are ours. Without a cell these tests print `SKIPPED:` and pass, except under CI
//! (`CI=true`) or `RXRPC_REQUIRE_PEERS=1`, where they fail.

mod common;

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use common::{Xdr, XdrReader, call_abort, call_ok, loopback, within};
use rxrpc::{AbortCode, RxEndpoint, ServiceId};
use rxrpc_testkit::{
    OpenAfsCell, OpenAfsTool, PTSERVER_SERVICE, ToolOutput, VLSERVER_SERVICE, run_tool,
};

const VL: ServiceId = ServiceId(VLSERVER_SERVICE);
const PR: ServiceId = ServiceId(PTSERVER_SERVICE);
const TOOL_TIMEOUT: Duration = Duration::from_secs(60);

// --- VL interface (src/vlserver/vldbint.xg, vl_opcodes.h) ------------------------------------

const VLCREATEENTRY: u32 = 501;
const VLDELETEENTRY: u32 = 502;
const VLGETNEWVOLUMEID: u32 = 505;
const VLPROBE: u32 = 514;
const VLCREATEENTRYN: u32 = 517;
const VLGETENTRYBYNAMEN: u32 = 519;
const VLLISTATTRIBUTESN2: u32 = 534;
const VL_MAXNAMELEN: usize = 65;
const NMAXNSERVERS: usize = 13;
const MAXTYPES: usize = 3;
/// `nvldbentry` on the wire: name (65 widened chars), nServers, 3 x 13 server fields, 3 volume
/// IDs, cloneId, flags, matchindex, spares2..9.
const NVLDBENTRY_LEN: usize = 4 * (VL_MAXNAMELEN + 1 + 3 * NMAXNSERVERS + MAXTYPES + 2 + 9);
const VLF_RWEXISTS: i32 = 0x1000;
const VLSF_RWVOL: i32 = 0x04;
/// Error table "VL" (base 363520): VL_NOENT is its 5th code.
const VL_NOENT: i32 = 363524;
/// 127.1.0.1, the address the cell's fileserver registers (host byte order, as in the VLDB).
const FAKE_FILESERVER: u32 = 0x7f01_0001;

// --- PR interface (src/ptserver/ptint.xg, ptopcodes.h) ----------------------------------------

const PRNAMETOID: u32 = 504;
const PRIDTONAME: u32 = 505;
const PRLISTMAX: u32 = 510;
const PRLISTENTRY: u32 = 512;
const PRLISTELEMENTS: u32 = 514;
const PRLISTENTRIES: u32 = 521;
const PR_MAXNAMELEN: usize = 64;
/// `prcheckentry` / `prlistentries`: 12 ints and a 64-char name.
const PRENTRY_LEN: usize = 4 * (12 + PR_MAXNAMELEN);
const PRUSERS: i32 = 0x1;
const PRGROUPS: i32 = 0x2;
/// `ANONYMOUSID`: what PR_NameToID answers for an unknown name.
const ANONYMOUSID: i32 = 32766;
const SYSADMINID: i32 = -204;
/// Error table "PT" (base 267264): PRNOENT is its 5th code.
const PRNOENT: i32 = 267268;

/// VLDB-changing and VLDB-listing tests of this binary run one at a time, so a listing never
/// sees another test's half-made entry.
static VLDB: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn unix_now() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as u32)
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

// --- VL ----------------------------------------------------------------------------------------

/// A decoded `nvldbentry`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct NvldbEntry {
    name: String,
    servers: Vec<(u32, i32, i32)>,
    volume_ids: [u32; MAXTYPES],
    clone_id: i32,
    flags: i32,
    match_index: i32,
}

fn decode_nvldbentry(r: &mut XdrReader<'_>) -> NvldbEntry {
    let name = r.chars(VL_MAXNAMELEN);
    let n = r.i32();
    assert!((0..=NMAXNSERVERS as i32).contains(&n), "nServers {n}");
    let number: Vec<u32> = (0..NMAXNSERVERS).map(|_| r.u32()).collect();
    let partition: Vec<i32> = (0..NMAXNSERVERS).map(|_| r.i32()).collect();
    let flags_: Vec<i32> = (0..NMAXNSERVERS).map(|_| r.i32()).collect();
    let volume_ids = [r.u32(), r.u32(), r.u32()];
    let clone_id = r.i32();
    let flags = r.i32();
    let match_index = r.i32();
    for _ in 0..8 {
        r.i32(); // spares2..9
    }
    let servers = (0..n as usize)
        .map(|i| (number[i], partition[i], flags_[i]))
        .collect();
    NvldbEntry {
        name,
        servers,
        volume_ids,
        clone_id,
        flags,
        match_index,
    }
}

/// VL_CreateEntryN request: one RW site at `server` partition 0 (/vicepa).
fn create_entry_n(name: &str, rw_id: u32, server: u32) -> Bytes {
    let mut x = Xdr::call(VLCREATEENTRYN).chars(name, VL_MAXNAMELEN).i32(1);
    for i in 0..NMAXNSERVERS {
        x = x.u32(if i == 0 { server } else { 0 });
    }
    for _ in 0..NMAXNSERVERS {
        x = x.i32(0); // partition a
    }
    for i in 0..NMAXNSERVERS {
        x = x.i32(if i == 0 { VLSF_RWVOL } else { 0 });
    }
    x = x.u32(rw_id).u32(0).u32(0).i32(0).i32(VLF_RWEXISTS);
    for _ in 0..9 {
        x = x.i32(0);
    }
    assert_eq!(x.len(), 4 + NVLDBENTRY_LEN);
    x.bytes()
}

async fn get_entry_by_name_n(ep: &RxEndpoint, vl: SocketAddr, name: &str) -> NvldbEntry {
    let req = Xdr::call(VLGETENTRYBYNAMEN).string(name.as_bytes()).bytes();
    let reply = call_ok(ep, vl, VL, req, "VL_GetEntryByNameN").await;
    assert_eq!(reply.len(), NVLDBENTRY_LEN, "VL_GetEntryByNameN reply size");
    let mut r = XdrReader::new(&reply, "VL_GetEntryByNameN");
    let e = decode_nvldbentry(&mut r);
    r.end();
    e
}

/// Every VLDB entry through VL_ListAttributesN2 (mask 0, name "": all), following
/// `nextstartindex` until -1.
async fn list_all_n2(ep: &RxEndpoint, vl: SocketAddr) -> Vec<NvldbEntry> {
    let mut all = Vec::new();
    let mut start = 0i32;
    for _ in 0..1000 {
        let req = Xdr::call(VLLISTATTRIBUTESN2)
            .u32(0) // Mask
            .i32(0) // server
            .i32(0) // partition
            .i32(0) // spares3
            .i32(0) // volumeid
            .i32(0) // flag
            .string(b"")
            .i32(start)
            .bytes();
        let reply = call_ok(ep, vl, VL, req, "VL_ListAttributesN2").await;
        let mut r = XdrReader::new(&reply, "VL_ListAttributesN2");
        let nentries = r.i32();
        let count = r.u32() as usize;
        assert_eq!(count as i32, nentries, "nentries vs array length");
        for _ in 0..count {
            all.push(decode_nvldbentry(&mut r));
        }
        let next = r.i32();
        r.end();
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
        let reply = call_ok(
            &ep,
            cell.vlserver(),
            VL,
            Xdr::call(VLPROBE).bytes(),
            "VL_ProbeServer",
        )
        .await;
        assert!(
            reply.is_empty(),
            "VL_ProbeServer has no OUT args: {reply:02x?}"
        );
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
        let vl = cell.vlserver();
        let name = format!("rxrs-itest-{}", std::process::id());

        // VL_GetNewVolumeId(bumpcount 1) -> a fresh RW id.
        let reply = call_ok(
            &ep,
            vl,
            VL,
            Xdr::call(VLGETNEWVOLUMEID).i32(1).bytes(),
            "VL_GetNewVolumeId",
        )
        .await;
        let mut r = XdrReader::new(&reply, "VL_GetNewVolumeId");
        let rw_id = r.u32();
        r.end();
        assert!(
            rw_id >= 536_870_912,
            "new volume id {rw_id} below the usual base"
        );

        call_ok(
            &ep,
            vl,
            VL,
            create_entry_n(&name, rw_id, FAKE_FILESERVER),
            "VL_CreateEntryN",
        )
        .await;

        let e = get_entry_by_name_n(&ep, vl, &name).await;
        assert_eq!(e.name, name);
        assert_eq!(e.volume_ids[0], rw_id);
        assert_eq!(e.servers, vec![(FAKE_FILESERVER, 0, VLSF_RWVOL)]);
        assert_ne!(e.flags & VLF_RWEXISTS, 0, "{e:?}");
        // By number too: the vlserver takes a decimal name as a volume id.
        let by_id = get_entry_by_name_n(&ep, vl, &rw_id.to_string()).await;
        assert_eq!(by_id.name, name);

        let listed = list_all_n2(&ep, vl).await;
        let ours: Vec<_> = listed.iter().filter(|x| x.name == name).collect();
        assert_eq!(ours.len(), 1, "{listed:#?}");
        assert_eq!(ours[0].volume_ids, e.volume_ids);
        assert_eq!(ours[0].servers, e.servers);

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
        let ours: BTreeSet<String> = listed.iter().map(|x| x.name.clone()).collect();
        assert_eq!(names, ours, "{out}");
        assert_eq!(total, Some(listed.len()), "{out}");

        // VL_DeleteEntry(id, RW) and it is gone.
        call_ok(
            &ep,
            vl,
            VL,
            Xdr::call(VLDELETEENTRY).u32(rw_id).i32(0).bytes(),
            "VL_DeleteEntry",
        )
        .await;
        let req = Xdr::call(VLGETENTRYBYNAMEN).string(name.as_bytes()).bytes();
        call_abort(
            &ep,
            vl,
            VL,
            req,
            VL_NOENT,
            "VL_GetEntryByNameN after delete",
        )
        .await;
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
        let req = Xdr::call(VLGETENTRYBYNAMEN)
            .string(b"no.such.volume.here")
            .bytes();
        call_abort(&ep, vl, VL, req, VL_NOENT, "VL_GetEntryByNameN(missing)").await;
        // An opcode the VL package does not have: rxgen's dispatcher says RXGEN_OPCODE.
        call_abort(
            &ep,
            vl,
            VL,
            Xdr::call(999).bytes(),
            AbortCode::RXGEN_OPCODE.0,
            "VL opcode 999",
        )
        .await;
        // Opcode 501 (VL_CreateEntry) with its argument cut short: unmarshal failure.
        call_abort(
            &ep,
            vl,
            VL,
            Xdr::call(VLCREATEENTRY).u32(7).bytes(),
            AbortCode::RXGEN_SS_UNMARSHAL.0,
            "truncated VL_CreateEntry",
        )
        .await;
        // A request of fewer than 4 bytes cannot even hold the opcode.
        call_abort(
            &ep,
            vl,
            VL,
            Bytes::from_static(&[0, 0]),
            AbortCode::RXGEN_DECODE.0,
            "2-byte request",
        )
        .await;
    })
    .await;
}

// --- PR ----------------------------------------------------------------------------------------

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

async fn name_to_id(ep: &RxEndpoint, pt: SocketAddr, names: &[&str]) -> Vec<i32> {
    let mut x = Xdr::call(PRNAMETOID).u32(names.len() as u32);
    for n in names {
        x = x.chars(n, PR_MAXNAMELEN);
    }
    let reply = call_ok(ep, pt, PR, x.bytes(), "PR_NameToID").await;
    let mut r = XdrReader::new(&reply, "PR_NameToID");
    let ids: Vec<i32> = r
        .u32_array(names.len())
        .into_iter()
        .map(|v| v as i32)
        .collect();
    r.end();
    ids
}

async fn id_to_name(ep: &RxEndpoint, pt: SocketAddr, ids: &[i32]) -> Vec<String> {
    let mut x = Xdr::call(PRIDTONAME).u32(ids.len() as u32);
    for id in ids {
        x = x.i32(*id);
    }
    let reply = call_ok(ep, pt, PR, x.bytes(), "PR_IDToName").await;
    assert_eq!(reply.len(), 4 + ids.len() * 4 * PR_MAXNAMELEN);
    let mut r = XdrReader::new(&reply, "PR_IDToName");
    let n = r.u32() as usize;
    assert_eq!(n, ids.len());
    let names = (0..n).map(|_| r.chars(PR_MAXNAMELEN)).collect();
    r.end();
    names
}

/// A decoded `prcheckentry` / `prlistentries`.
#[derive(Debug, Clone)]
struct PrEntry {
    id: i32,
    owner: i32,
    creator: i32,
    count: i32,
    name: String,
}

fn decode_prentry(r: &mut XdrReader<'_>) -> PrEntry {
    let _flags = r.i32();
    let id = r.i32();
    let owner = r.i32();
    let creator = r.i32();
    let _ngroups = r.i32();
    let _nusers = r.i32();
    let count = r.i32();
    for _ in 0..5 {
        r.i32();
    }
    let name = r.chars(PR_MAXNAMELEN);
    PrEntry {
        id,
        owner,
        creator,
        count,
        name,
    }
}

async fn list_entry(ep: &RxEndpoint, pt: SocketAddr, id: i32) -> PrEntry {
    let reply = call_ok(
        ep,
        pt,
        PR,
        Xdr::call(PRLISTENTRY).i32(id).bytes(),
        "PR_ListEntry",
    )
    .await;
    assert_eq!(reply.len(), PRENTRY_LEN);
    let mut r = XdrReader::new(&reply, "PR_ListEntry");
    let e = decode_prentry(&mut r);
    r.end();
    e
}

/// PR_NameToID, PR_IDToName and PR_ListEntry against `pts examine`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pr_names_ids_and_entry_match_pts_examine() {
    let Some(cell) = OpenAfsCell::get() else {
        return;
    };
    within(120, "PR name/id/entry", async {
        let ep = client().await;
        let pt = cell.ptserver();
        let ids = name_to_id(
            &ep,
            pt,
            &["admin", "system:administrators", "no-such-user-xyz"],
        )
        .await;
        assert_eq!(ids[1], SYSADMINID);
        assert_eq!(ids[2], ANONYMOUSID, "unknown names map to anonymous");

        let out = tool(cell, OpenAfsTool::Pts, &["examine", "admin"]).await;
        let f = pts_fields(&out.stdout);
        assert_eq!(f.get("Name").map(String::as_str), Some("admin"), "{out}");
        let pts_id: i32 = f["id"].parse().unwrap();
        assert_eq!(ids[0], pts_id, "PR_NameToID vs pts examine: {out}");

        let names = id_to_name(&ep, pt, &[pts_id, SYSADMINID, -101, ANONYMOUSID]).await;
        assert_eq!(
            names,
            [
                "admin",
                "system:administrators",
                "system:anyuser",
                "anonymous"
            ]
        );

        let e = list_entry(&ep, pt, pts_id).await;
        assert_eq!((e.id, e.name.as_str()), (pts_id, "admin"));
        // pts examine prints owner and creator by name, membership = count.
        let named = id_to_name(&ep, pt, &[e.owner, e.creator]).await;
        assert_eq!(f.get("owner"), Some(&named[0]), "owner: {out}");
        assert_eq!(f.get("creator"), Some(&named[1]), "creator: {out}");
        assert_eq!(
            f.get("membership").map(String::as_str),
            Some(e.count.to_string().as_str()),
            "membership: {out}"
        );
        // A group.
        let g = list_entry(&ep, pt, SYSADMINID).await;
        assert_eq!(
            (g.id, g.name.as_str()),
            (SYSADMINID, "system:administrators")
        );
        let out = tool(
            cell,
            OpenAfsTool::Pts,
            &["examine", "system:administrators"],
        )
        .await;
        let gf = pts_fields(&out.stdout);
        assert_eq!(gf["id"], SYSADMINID.to_string(), "{out}");
        assert_eq!(gf["membership"], g.count.to_string(), "{out}");

        // An id nobody has: PRNOENT.
        call_abort(
            &ep,
            pt,
            PR,
            Xdr::call(PRLISTENTRY).i32(7_777_777).bytes(),
            PRNOENT,
            "PR_ListEntry(missing)",
        )
        .await;
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
        let reply = call_ok(
            &ep,
            cell.ptserver(),
            PR,
            Xdr::call(PRLISTMAX).bytes(),
            "PR_ListMax",
        )
        .await;
        let mut r = XdrReader::new(&reply, "PR_ListMax");
        let (uid, gid) = (r.i32(), r.i32());
        r.end();
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
        let pt = cell.ptserver();

        let reply = call_ok(
            &ep,
            pt,
            PR,
            Xdr::call(PRLISTELEMENTS).i32(SYSADMINID).bytes(),
            "PR_ListElements",
        )
        .await;
        let mut r = XdrReader::new(&reply, "PR_ListElements");
        let members: Vec<i32> = r.u32_array(5000).into_iter().map(|v| v as i32).collect();
        let over = r.i32();
        r.end();
        assert_eq!(over, 0);
        let member_names: BTreeSet<String> =
            id_to_name(&ep, pt, &members).await.into_iter().collect();
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
            let req = Xdr::call(PRLISTENTRIES)
                .i32(PRUSERS | PRGROUPS)
                .i32(start)
                .bytes();
            let reply = call_ok(&ep, pt, PR, req, "PR_ListEntries").await;
            let mut r = XdrReader::new(&reply, "PR_ListEntries");
            let n = r.u32() as usize;
            assert_eq!(reply.len(), 4 + n * PRENTRY_LEN + 4);
            for _ in 0..n {
                entries.push(decode_prentry(&mut r));
            }
            let next = r.i32();
            r.end();
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
            .map(|e| (e.name.clone(), e.id, e.owner, e.creator))
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
        let pt = cell.ptserver();
        let mut names: Vec<String> = (0..1000).map(|i| format!("nobody-{i}")).collect();
        names[0] = "admin".into();
        names[999] = "system:anyuser".into();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let ids = name_to_id(&ep, pt, &refs).await;
        assert_eq!(ids.len(), 1000);
        assert_eq!(ids[999], -101);
        assert!(ids[1..999].iter().all(|&id| id == ANONYMOUSID), "{ids:?}");
        let admin = ids[0];

        let mut ids: Vec<i32> = (0..2000).map(|i| 100_000 + i).collect();
        ids[0] = admin;
        ids[1999] = SYSADMINID;
        let names = id_to_name(&ep, pt, &ids).await;
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
        call_abort(
            &ep,
            cell.ptserver(),
            PR,
            Xdr::call(12345).bytes(),
            AbortCode::RXGEN_OPCODE.0,
            "PR opcode 12345",
        )
        .await;
        // The connection is still good for the next call.
        let ids = name_to_id(&ep, cell.ptserver(), &["system:anyuser"]).await;
        assert_eq!(ids, [-101]);
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
        let pt = cell.ptserver();
        let mut tasks = Vec::new();
        for i in 0..24 {
            let ep = ep.clone();
            tasks.push(tokio::spawn(async move {
                if i % 2 == 0 {
                    name_to_id(&ep, pt, &["admin", "system:anyuser"]).await
                } else {
                    let n = id_to_name(&ep, pt, &[-101]).await;
                    assert_eq!(n, ["system:anyuser"]);
                    vec![]
                }
            }));
        }
        let mut admin = None;
        for t in tasks {
            let ids = t.await.unwrap();
            if let [a, b] = ids[..] {
                assert_eq!(b, -101);
                assert_eq!(*admin.get_or_insert(a), a);
            }
        }
    })
    .await;
}

// --- ubik VOTE (service 50) on the ptserver's port ----------------------------------------

/// The fields of a `ubik_debug` reply the tests compare.
#[derive(Debug, Clone, PartialEq, Eq)]
struct UbikDebug {
    local_version: (u32, u32),
    am_sync_site: u32,
    sync_site_until: u32,
    n_servers: u32,
    recovery_state: u32,
    addrs: Vec<u32>,
    is_clone: u32,
}

/// VOTE_XDebug (10006) to `addr`, decoded (`ubik_debug` then `isClone`).
async fn vote_xdebug(ep: &RxEndpoint, addr: SocketAddr) -> UbikDebug {
    let reply = call_ok(
        ep,
        addr,
        VOTE_SERVICE,
        Xdr::call(VOTE_XDEBUG).bytes(),
        "VOTE_XDebug",
    )
    .await;
    assert_eq!(reply.len(), 4 * (28 + UBIK_MAX_INTERFACE_ADDR + 1));
    let mut r = XdrReader::new(&reply, "VOTE_XDebug");
    let w: Vec<u32> = (0..28).map(|_| r.u32()).collect();
    let all: Vec<u32> = (0..UBIK_MAX_INTERFACE_ADDR).map(|_| r.u32()).collect();
    let addrs = all.into_iter().take_while(|&a| a != 0).collect();
    let is_clone = r.u32();
    r.end();
    UbikDebug {
        local_version: (w[18], w[19]),
        am_sync_site: w[13],
        sync_site_until: w[14],
        n_servers: w[15],
        recovery_state: w[24],
        addrs,
        is_clone,
    }
}

/// Our VOTE_XDebug to the real ptserver, decoded, against what `udebug` prints for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vote_xdebug_to_ptserver_matches_udebug() {
    let Some(cell) = OpenAfsCell::get() else {
        return;
    };
    within(60, "VOTE_XDebug to ptserver", async {
        let ep = client().await;
        let d = vote_xdebug(&ep, cell.ptserver()).await;
        assert_eq!(d.am_sync_site, 1, "{d:?}");
        assert_eq!(d.n_servers, 1, "{d:?}");
        assert_eq!(d.is_clone, 0, "{d:?}");
        assert_eq!(d.addrs.first(), Some(&0x7f00_0001), "{d:?}");
        let port = cell.ptserver().port().to_string();
        let out = tool(cell, OpenAfsTool::Udebug, &["127.0.0.1", &port]).await;
        let s = &out.stdout;
        let (e, c) = d.local_version;
        assert!(
            s.contains(&format!("Local db version is {e}.{c}")),
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
        let ids = name_to_id(&ep, cell.ptserver(), &["system:anyuser"]).await;
        assert_eq!(ids, [-101]);
        let d = vote_xdebug(&ep, cell.ptserver()).await;
        assert_eq!(d.am_sync_site, 1, "{d:?}");
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

const VOTE_SERVICE: ServiceId = ServiceId(50);
const VOTE_DEBUG: u32 = 10004;
const VOTE_SDEBUG: u32 = 10005;
const VOTE_XDEBUG: u32 = 10006;
const VOTE_XSDEBUG: u32 = 10007;
const UBIK_MAX_INTERFACE_ADDR: usize = 256;
/// ubik's "no such entry" (error table "U", 7th code): a positive code ends udebug's
/// per-server loop.
const UNOENT: i32 = 5382;

/// The values our VOTE server reports, chosen to be recognisable in udebug's output.
#[derive(Debug, Clone, Copy)]
struct UbikValues {
    now: u32,
    local_version: (u32, u32),
    sync_version: (u32, u32),
    epoch_time: u32,
    tid_counter: u32,
    locked: (u32, u32),
    recovery_state: u32,
    addrs: [u32; 2],
    server: u32,
}

/// `ubik_debug` (src/ubik/ubik_int.xg), 28 ints + 256 interface addresses.
fn ubik_debug(v: &UbikValues) -> Xdr {
    let mut x = Xdr::new()
        .u32(v.now) // now
        .u32(v.now - 5) // lastYesTime
        .u32(0x7f00_0001) // lastYesHost
        .u32(1) // lastYesState
        .u32(v.now - 5) // lastYesClaim
        .u32(0x7f00_0001) // lowestHost
        .u32(v.now - 60) // lowestTime
        .u32(0x7f00_0001) // syncHost
        .u32(v.now - 60) // syncTime
        .u32(v.sync_version.0)
        .u32(v.sync_version.1)
        .u32(0) // syncTid.epoch
        .u32(0) // syncTid.counter
        .u32(1) // amSyncSite
        .u32(0x7fff_ffff) // syncSiteUntil: forever
        .u32(3) // nServers
        .u32(v.locked.0)
        .u32(v.locked.1)
        .u32(v.local_version.0)
        .u32(v.local_version.1)
        .u32(0) // activeWrite
        .u32(v.tid_counter)
        .u32(0) // anyReadLocks
        .u32(0) // anyWriteLocks
        .u32(v.recovery_state)
        .u32(0) // currentTrans
        .u32(0) // writeTrans
        .u32(v.epoch_time);
    for i in 0..UBIK_MAX_INTERFACE_ADDR {
        x = x.u32(v.addrs.get(i).copied().unwrap_or(0));
    }
    assert_eq!(x.len(), 4 * (28 + UBIK_MAX_INTERFACE_ADDR));
    x
}

/// `ubik_sdebug`: 9 ints + 255 alternate addresses.
fn ubik_sdebug(v: &UbikValues) -> Xdr {
    let mut x = Xdr::new()
        .u32(v.server) // addr
        .u32(v.now - 2) // lastVoteTime
        .u32(v.now - 3) // lastBeaconSent
        .u32(1) // lastVote
        .u32(v.local_version.0)
        .u32(v.local_version.1)
        .u32(1) // currentDB
        .u32(1) // beaconSinceDown
        .u32(1); // up
    for _ in 0..UBIK_MAX_INTERFACE_ADDR - 1 {
        x = x.u32(0);
    }
    x
}

/// The (opcode, first argument) of every VOTE request served.
type VoteLog = Arc<Mutex<Vec<(u32, Option<i32>)>>>;

/// Serve VOTE calls on `ep` until the listener is dropped; every request's opcode (and
/// argument) is recorded in `log`.
async fn vote_server(ep: &RxEndpoint, v: UbikValues, log: VoteLog) {
    let listener = ep.listen(&[VOTE_SERVICE], 4).await.unwrap();
    tokio::spawn(async move {
        while let Ok(incoming) = listener.accept().await {
            let call = incoming.into_call();
            let log = Arc::clone(&log);
            tokio::spawn(async move {
                let Ok(req) = call.recv_to_end(1 << 16).await else {
                    return;
                };
                let mut r = XdrReader::new(&req, "VOTE request");
                let opcode = if req.len() >= 4 { r.u32() } else { u32::MAX };
                let arg = (r.remaining() >= 4).then(|| r.i32());
                log.lock().unwrap().push((opcode, arg));
                let reply = match (opcode, arg) {
                    (VOTE_XDEBUG, _) => Some(ubik_debug(&v).u32(0)), // isClone 0
                    (VOTE_DEBUG, _) => Some(ubik_debug(&v)),
                    (VOTE_XSDEBUG, Some(0)) => Some(ubik_sdebug(&v).u32(0)),
                    (VOTE_SDEBUG, Some(0)) => Some(ubik_sdebug(&v)),
                    (VOTE_XSDEBUG | VOTE_SDEBUG, _) => {
                        let _ = call.abort(AbortCode(UNOENT)).await;
                        None
                    }
                    _ => {
                        let _ = call.abort(AbortCode::RXGEN_OPCODE).await;
                        None
                    }
                };
                if let Some(reply) = reply {
                    if call.send_last(reply.bytes()).await.is_ok() {
                        let _ = call.completion().await;
                    }
                }
            });
        }
    });
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
        let now = unix_now();
        let v = UbikValues {
            now,
            local_version: (1_234_567_890, 42),
            sync_version: (1_234_567_890, 41),
            epoch_time: 1_700_000_000,
            tid_counter: 77,
            locked: (3, 1),
            recovery_state: 0x1f,
            addrs: [0x7f00_0001, 0x7f00_0002],
            server: 0x7f00_0003,
        };
        let log = Arc::new(Mutex::new(Vec::new()));
        vote_server(&ep, v, Arc::clone(&log)).await;
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
                (VOTE_XDEBUG, None),
                (VOTE_XSDEBUG, Some(0)),
                (VOTE_XSDEBUG, Some(1))
            ],
            "{out}"
        );
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
