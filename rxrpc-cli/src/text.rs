//! The one-line-per-packet text format, in the spirit of `tcpdump -v`.
//!
//! Layer: output. A line is
//!
//! ```text
//! TIME SRC > DST: TYPE epoch=.. cid=conn:chan call=.. seq=.. serial=.. flags=.. userStatus=..
//!     securityIndex=.. cksum=.. service=.. size=N: BODY
//! ```
//!
//! (on one line) where `size` is the UDP payload length and `BODY` depends on the packet type.
//! A datagram that does not decode prints `ERROR: <WireError>` as its body, after the header
//! when the header itself was readable, or `ERROR size=N: <WireError>` in its place when not.

use std::fmt::Write as _;

use rxrpc_proto::wire::{
    Ack, AckView, Body, Challenge, Data, Debug, DebugReply, Header, PacketType, Response, Version,
};

use crate::debugfmt;
use crate::record::{Outcome, Record};
use crate::timefmt;

/// A packet type's name for output: the upper-case name of a known type, else `typeN`.
pub fn type_name(t: PacketType) -> String {
    match t.0 {
        1..=9 | 13 => t.to_string(),
        n => format!("type{n}"),
    }
}

/// The soft-ACK map as a compact string: `A` for ACK (1), `N` for NACK (0), any other byte
/// value as `[xx]` in hex. Empty maps print as `-`.
pub fn soft_ack_map(acks: &[u8]) -> String {
    if acks.is_empty() {
        return "-".into();
    }
    let mut s = String::with_capacity(acks.len());
    for &a in acks {
        match a {
            0 => s.push('N'),
            1 => s.push('A'),
            x => {
                let _ = write!(s, "[{x:02x}]");
            }
        }
    }
    s
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Every header field as `key=value` pairs.
pub fn header_fields(h: &Header) -> String {
    format!(
        "{ty} epoch={epoch:#010x} cid={cid} call={call} seq={seq} serial={serial} flags={flags} \
         userStatus={us} securityIndex={si} cksum={ck:#06x} service={svc}",
        ty = type_name(h.packet_type),
        epoch = h.epoch.0,
        cid = h.cid,
        call = h.call_number,
        seq = h.seq,
        serial = h.serial,
        flags = h.flags.describe(h.packet_type),
        us = h.user_status,
        si = h.security_index.0,
        ck = h.cksum,
        svc = h.service_id.0,
    )
}

fn data_text(h: &Header, d: &Data) -> String {
    let subs = d.subpackets(h);
    let total: usize = subs.iter().map(|(_, p)| p.len()).sum();
    if subs.len() <= 1 {
        return format!("len={total}");
    }
    let mut s = format!("len={total} jumbo subpackets={}", subs.len());
    for (sh, payload) in &subs {
        let _ = write!(
            s,
            " [seq={} serial={} flags={} len={}",
            sh.seq,
            sh.serial,
            sh.flags.describe(sh.packet_type),
            payload.len()
        );
        if sh.cksum != 0 {
            let _ = write!(s, " cksum={:#06x}", sh.cksum);
        }
        s.push(']');
    }
    s
}

fn ack_text(a: &Ack, body: &[u8]) -> String {
    let reason = match a.reason.name() {
        Some(n) => n.to_string(),
        None => a.reason.0.to_string(),
    };
    let mut s = format!(
        "reason={reason} firstPacket={} previousPacket={} serial={} nAcks={} acks={} \
         bufferSpace={} maxSkew={}",
        a.first_packet,
        a.previous_packet,
        a.serial,
        a.acks.len(),
        soft_ack_map(&a.acks),
        a.buffer_space,
        a.max_skew,
    );
    let view = AckView::new_checked(body).ok();
    if let Some(pad) = view.and_then(|v| v.pad())
        && pad != [0; 3]
    {
        let _ = write!(s, " pad={}", hex(&pad));
    }
    match &a.trailer {
        Some(t) => {
            let _ = write!(
                s,
                " trailer maxMTU={} ifMTU={} rwind={} jumbo_max={}",
                t.max_mtu, t.if_mtu, t.rwind, t.jumbo_max
            );
        }
        None => s.push_str(" no trailer"),
    }
    if let Some(v) = view {
        let ignored = v.ignored().len();
        if ignored > 0 {
            let _ = write!(s, " ignored={ignored}");
        }
    }
    s
}

fn version_text(v: &Version) -> String {
    match v {
        Version::Request { payload } => format!("request len={}", payload.len()),
        Version::Reply { .. } => format!("reply {:?}", v.text().unwrap_or_default()),
        Version::Keepalive { payload } => format!("keepalive len={}", payload.len()),
    }
}

fn challenge_text(c: &Challenge) -> String {
    match c {
        Challenge::RxkadV2(c) => format!(
            "rxkad v2 version={} nonce={:#010x} minLevel={} spare={}",
            c.version, c.nonce, c.min_level, c.spare
        ),
        Challenge::RxkadV1(c) => format!("rxkad v1 nonce={:#010x} level={}", c.nonce, c.level),
        Challenge::Opaque(b) => format!("opaque len={}", b.len()),
    }
}

fn response_text(r: &Response) -> String {
    match r {
        Response::RxkadV2(r) => format!(
            "rxkad v2 version={} spare={} kvno={} ticketLen={}",
            r.version,
            r.spare,
            r.kvno,
            r.ticket.len()
        ),
        Response::RxkadV1(r) => format!("rxkad v1 kvno={} ticketLen={}", r.kvno, r.ticket.len()),
        Response::Opaque(b) => format!("opaque len={}", b.len()),
    }
}

fn debug_text(d: &Debug) -> String {
    match d {
        Debug::Request(r) => format!(
            "request type={} index={}",
            debugfmt::request_type_name(r.kind.0),
            r.index
        ),
        Debug::Reply(DebugReply::BadType) => "reply BADTYPE".to_string(),
        Debug::Reply(DebugReply::Unknown(b)) => format!("reply unknown len={}", b.len()),
        Debug::Reply(r) => format!("reply {}", debugfmt::reply_summary(r)),
    }
}

/// The body part of a decoded packet's line. `body` is the captured bytes after the header
/// (used for what the owned types do not keep, such as ACK pad bytes).
pub fn body_text(h: &Header, b: &Body, body: &[u8]) -> String {
    match b {
        Body::Data(d) => data_text(h, d),
        Body::Ack(a) => ack_text(a, body),
        Body::Abort(a) => {
            let mut s = format!("code={}", a.code);
            if body.len() > 4 {
                let _ = write!(s, " extra={}", body.len() - 4);
            }
            s
        }
        Body::Version(v) => version_text(v),
        Body::Debug(d) => debug_text(d),
        Body::Challenge(c) => challenge_text(c),
        Body::Response(r) => response_text(r),
        Body::Busy(b) | Body::AckAll(b) | Body::Params(b) | Body::Unknown(b) => {
            format!("len={}", b.len())
        }
    }
}

/// The full text line for a record (without the newline).
pub fn format_record(rec: &Record<'_>) -> String {
    let mut s = format!(
        "{} {} > {}: ",
        timefmt::time_of_day(rec.timestamp),
        rec.src,
        rec.dst
    );
    match &rec.outcome {
        Outcome::Decoded(p) => {
            let _ = write!(
                s,
                "{} size={}: {}",
                header_fields(&p.header),
                rec.wire_len,
                body_text(&p.header, &p.body, rec.body_bytes())
            );
        }
        Outcome::Failed {
            header: Some(h),
            error,
        } => {
            let _ = write!(
                s,
                "{} size={}: ERROR: {error}",
                header_fields(h),
                rec.wire_len
            );
        }
        Outcome::Failed {
            header: None,
            error,
        } => {
            let _ = write!(s, "ERROR size={}: {error}", rec.wire_len);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soft_acks() {
        assert_eq!(soft_ack_map(&[1, 1, 0, 0, 1]), "AANNA");
        assert_eq!(soft_ack_map(&[1, 0x80, 0]), "A[80]N");
        assert_eq!(soft_ack_map(&[]), "-");
    }

    #[test]
    fn type_names() {
        assert_eq!(type_name(PacketType::DATA), "DATA");
        assert_eq!(type_name(PacketType(11)), "type11");
        assert_eq!(type_name(PacketType(200)), "type200");
    }
}
