//! The `--json` format: one JSON object per line (JSON Lines) per Rx packet.
//!
//! Layer: output. The wire types do not depend on serde, so this module mirrors them in small
//! `Serialize` structs. Every header field is given numerically (plus a few readable
//! companions such as `type` and `flags_text`); the body is an object tagged by `kind`. An
//! undecodable datagram gives `{"error": "...", "len": N, ...}` with the header when readable.
//!
//! ```text
//! {"frame":1,"ts":"2025-11-28T07:38:46.224324Z","src":"127.0.0.1:44988",
//!  "dst":"127.0.0.1:7002","len":29,"header":{...},"body":{"kind":"version",...}}
//! ```

use serde::Serialize;
use serde_json::Value;

use rxrpc_proto::wire::{
    Ack, AckView, Body, Challenge, Data, Debug, DebugReply, Header, Response, Version,
};

use crate::debugfmt;
use crate::record::{Outcome, Record};
use crate::text::{hex, soft_ack_map, type_name};
use crate::timefmt;

/// The header, field by field.
#[derive(Debug, Serialize)]
pub struct JsonHeader {
    /// `epoch`.
    pub epoch: u32,
    /// `epoch` in hex, `0x...`.
    pub epoch_hex: String,
    /// The raw `cid` field.
    pub cid: u32,
    /// `cid` as `conn:channel`, the connection part in hex.
    pub cid_text: String,
    /// Connection ID (channel bits clear).
    pub conn_id: u32,
    /// Channel, 0..=3.
    pub channel: u8,
    /// `callNumber`.
    pub call: u32,
    /// `seq`.
    pub seq: u32,
    /// `serial`.
    pub serial: u32,
    /// Packet type name (`DATA`, ..., `typeN` for unknown types).
    #[serde(rename = "type")]
    pub packet_type: String,
    /// Packet type number.
    pub type_code: u8,
    /// Flag bits.
    pub flags: u8,
    /// Flags as rendered by `Flags::describe`.
    pub flags_text: String,
    /// `userStatus`.
    pub user_status: u8,
    /// `securityIndex`.
    pub security_index: u8,
    /// Security class name, when known.
    pub security_class: Option<&'static str>,
    /// `cksum` (spare) field.
    pub cksum: u16,
    /// `serviceId`.
    pub service: u16,
}

impl From<&Header> for JsonHeader {
    fn from(h: &Header) -> Self {
        JsonHeader {
            epoch: h.epoch.0,
            epoch_hex: format!("{:#010x}", h.epoch.0),
            cid: h.cid.0,
            cid_text: h.cid.to_string(),
            conn_id: h.cid.conn_id().0,
            channel: h.cid.channel().0,
            call: h.call_number.0,
            seq: h.seq.0,
            serial: h.serial.0,
            packet_type: type_name(h.packet_type),
            type_code: h.packet_type.0,
            flags: h.flags.0,
            flags_text: h.flags.describe(h.packet_type),
            user_status: h.user_status,
            security_index: h.security_index.0,
            security_class: h.security_index.name(),
            cksum: h.cksum,
            service: h.service_id.0,
        }
    }
}

/// One DATA subpacket.
#[derive(Debug, Serialize)]
pub struct JsonSubpacket {
    /// Sequence number.
    pub seq: u32,
    /// Serial number.
    pub serial: u32,
    /// Flag bits.
    pub flags: u8,
    /// Flags rendered.
    pub flags_text: String,
    /// Checksum field (from the jumbo header for subpackets after the first).
    pub cksum: u16,
    /// Payload length.
    pub len: usize,
}

/// The ACK trailer.
#[derive(Debug, Serialize)]
pub struct JsonAckTrailer {
    /// Largest packet the sender will accept.
    pub max_mtu: u32,
    /// The sender's interface MTU.
    pub if_mtu: u32,
    /// Receive window.
    pub rwind: u32,
    /// Maximum subpackets per jumbogram.
    pub jumbo_max: u32,
}

/// A decoded body, tagged by `kind`.
#[derive(Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JsonBody {
    /// DATA.
    Data {
        /// Total payload bytes over all subpackets.
        len: usize,
        /// Whether this is a jumbogram (more than one subpacket).
        jumbo: bool,
        /// Number of subpackets (1 for a plain DATA).
        subpacket_count: usize,
        /// Each subpacket with its derived header fields.
        subpackets: Vec<JsonSubpacket>,
    },
    /// ACK.
    Ack {
        /// `bufferSpace`.
        buffer_space: u16,
        /// `maxSkew`.
        max_skew: u16,
        /// `firstPacket`.
        first_packet: u32,
        /// `previousPacket`.
        previous_packet: u32,
        /// `serial` being acknowledged.
        serial: u32,
        /// Reason code.
        reason: u8,
        /// Reason name, when known.
        reason_name: Option<&'static str>,
        /// `nAcks`.
        n_acks: usize,
        /// Soft-ACK map (`A`/`N`, other values `[xx]`).
        acks: String,
        /// Soft-ACK bytes as numbers.
        acks_raw: Vec<u8>,
        /// The 3 pad bytes, when present.
        pad: Option<[u8; 3]>,
        /// The trailer, when present.
        trailer: Option<JsonAckTrailer>,
        /// Bytes after the trailer (or after the soft-ACKs when there is no trailer).
        ignored_len: usize,
    },
    /// ABORT.
    Abort {
        /// The abort code.
        code: i32,
        /// Its symbolic name, when known.
        name: Option<&'static str>,
    },
    /// VERSION.
    Version {
        /// `request`, `reply` or `keepalive`.
        variant: &'static str,
        /// Reply text (up to the first NUL).
        text: Option<String>,
        /// Body length.
        len: usize,
    },
    /// DEBUG request or reply; the fields are those of the structure.
    Debug(Value),
    /// CHALLENGE.
    Challenge(Value),
    /// RESPONSE.
    Response(Value),
    /// BUSY.
    Busy {
        /// Body length.
        len: usize,
    },
    /// ACKALL.
    AckAll {
        /// Body length.
        len: usize,
    },
    /// PARAMS.
    Params {
        /// Body length.
        len: usize,
    },
    /// Any other packet type.
    Unknown {
        /// Body length.
        len: usize,
        /// The body in hex.
        hex: String,
    },
}

fn data_json(h: &Header, d: &Data) -> JsonBody {
    let subs = d.subpackets(h);
    let subpackets: Vec<JsonSubpacket> = subs
        .iter()
        .map(|(sh, p)| JsonSubpacket {
            seq: sh.seq.0,
            serial: sh.serial.0,
            flags: sh.flags.0,
            flags_text: sh.flags.describe(sh.packet_type),
            cksum: sh.cksum,
            len: p.len(),
        })
        .collect();
    JsonBody::Data {
        len: subpackets.iter().map(|s| s.len).sum(),
        jumbo: subpackets.len() > 1,
        subpacket_count: subpackets.len(),
        subpackets,
    }
}

fn ack_json(a: &Ack, body: &[u8]) -> JsonBody {
    let view = AckView::new_checked(body).ok();
    JsonBody::Ack {
        buffer_space: a.buffer_space,
        max_skew: a.max_skew,
        first_packet: a.first_packet.0,
        previous_packet: a.previous_packet.0,
        serial: a.serial.0,
        reason: a.reason.0,
        reason_name: a.reason.name(),
        n_acks: a.acks.len(),
        acks: soft_ack_map(&a.acks),
        acks_raw: a.acks.clone(),
        pad: view.and_then(|v| v.pad()),
        trailer: a.trailer.as_ref().map(|t| JsonAckTrailer {
            max_mtu: t.max_mtu,
            if_mtu: t.if_mtu,
            rwind: t.rwind,
            jumbo_max: t.jumbo_max,
        }),
        ignored_len: view.map_or(0, |v| v.ignored().len()),
    }
}

fn version_json(v: &Version) -> JsonBody {
    let (variant, len) = match v {
        Version::Request { payload } => ("request", payload.len()),
        Version::Reply { text } => ("reply", text.len()),
        Version::Keepalive { payload } => ("keepalive", payload.len()),
    };
    JsonBody::Version {
        variant,
        text: v.text(),
        len,
    }
}

fn challenge_json(c: &Challenge) -> Value {
    match c {
        Challenge::RxkadV2(c) => serde_json::json!({
            "class": "rxkad", "format": 2, "version": c.version, "nonce": c.nonce,
            "min_level": c.min_level, "spare": c.spare,
        }),
        Challenge::RxkadV1(c) => serde_json::json!({
            "class": "rxkad", "format": 1, "nonce": c.nonce, "level": c.level,
        }),
        Challenge::Opaque(b) => serde_json::json!({
            "class": "opaque", "len": b.len(), "hex": hex(b),
        }),
    }
}

fn response_json(r: &Response) -> Value {
    match r {
        Response::RxkadV2(r) => serde_json::json!({
            "class": "rxkad", "format": 2, "version": r.version, "spare": r.spare,
            "encrypted": hex(&r.encrypted), "kvno": r.kvno, "ticket_len": r.ticket.len(),
            "ticket": hex(&r.ticket),
        }),
        Response::RxkadV1(r) => serde_json::json!({
            "class": "rxkad", "format": 1, "encrypted": hex(&r.encrypted), "kvno": r.kvno,
            "ticket_len": r.ticket.len(), "ticket": hex(&r.ticket),
        }),
        Response::Opaque(b) => serde_json::json!({
            "class": "opaque", "len": b.len(), "hex": hex(b),
        }),
    }
}

fn debug_json(d: &Debug) -> Value {
    match d {
        Debug::Request(r) => serde_json::json!({
            "direction": "request",
            "type": r.kind.0,
            "type_name": debugfmt::request_type_name(r.kind.0),
            "index": r.index,
        }),
        Debug::Reply(DebugReply::BadType) => {
            serde_json::json!({"direction": "reply", "reply": "badtype"})
        }
        Debug::Reply(DebugReply::Unknown(b)) => serde_json::json!({
            "direction": "reply", "reply": "unknown", "len": b.len(), "hex": hex(b),
        }),
        Debug::Reply(r) => debugfmt::reply_json(r),
    }
}

/// The JSON body of a decoded packet. `body` is the captured bytes after the header.
pub fn body_json(h: &Header, b: &Body, body: &[u8]) -> JsonBody {
    match b {
        Body::Data(d) => data_json(h, d),
        Body::Ack(a) => ack_json(a, body),
        Body::Abort(a) => JsonBody::Abort {
            code: a.code.0,
            name: a.code.name(),
        },
        Body::Version(v) => version_json(v),
        Body::Debug(d) => JsonBody::Debug(debug_json(d)),
        Body::Challenge(c) => JsonBody::Challenge(challenge_json(c)),
        Body::Response(r) => JsonBody::Response(response_json(r)),
        Body::Busy(b) => JsonBody::Busy { len: b.len() },
        Body::AckAll(b) => JsonBody::AckAll { len: b.len() },
        Body::Params(b) => JsonBody::Params { len: b.len() },
        Body::Unknown(b) => JsonBody::Unknown {
            len: b.len(),
            hex: hex(b),
        },
    }
}

/// One output object.
#[derive(Debug, Serialize)]
pub struct JsonRecord {
    /// 1-based packet number in the capture.
    pub frame: u64,
    /// RFC 3339 UTC timestamp.
    pub ts: String,
    /// Timestamp in nanoseconds since the Unix epoch.
    pub ts_unix_ns: u64,
    /// UDP source `ip:port`.
    pub src: String,
    /// UDP destination `ip:port`.
    pub dst: String,
    /// UDP payload length on the wire.
    pub len: usize,
    /// Bytes captured, when fewer than `len`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub captured: Option<usize>,
    /// The decode error (the `WireError` text), for an undecodable datagram.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The header, when readable.
    pub header: Option<JsonHeader>,
    /// The decoded body (absent on error).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<JsonBody>,
}

/// Build the JSON object for a record.
pub fn record_json(rec: &Record<'_>) -> JsonRecord {
    let (error, header, body) = match &rec.outcome {
        Outcome::Decoded(p) => (
            None,
            Some(JsonHeader::from(&p.header)),
            Some(body_json(&p.header, &p.body, rec.body_bytes())),
        ),
        Outcome::Failed { header, error } => (
            Some(error.to_string()),
            header.as_ref().map(JsonHeader::from),
            None,
        ),
    };
    JsonRecord {
        frame: rec.frame,
        ts: timefmt::rfc3339(rec.timestamp),
        ts_unix_ns: u64::try_from(rec.timestamp.as_nanos()).unwrap_or(u64::MAX),
        src: rec.src.to_string(),
        dst: rec.dst.to_string(),
        len: rec.wire_len,
        captured: (rec.datagram.len() < rec.wire_len).then_some(rec.datagram.len()),
        error,
        header,
        body,
    }
}

/// Serialise a record as one line of JSON.
pub fn format_record(rec: &Record<'_>) -> String {
    // Serialising these plain structs cannot fail; fall back to a minimal object regardless.
    serde_json::to_string(&record_json(rec))
        .unwrap_or_else(|e| format!("{{\"frame\":{},\"error\":{:?}}}", rec.frame, e.to_string()))
}
