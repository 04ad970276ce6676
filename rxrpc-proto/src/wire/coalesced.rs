//! Splitting a coalesced capture record back into Rx datagrams.
//!
//! A sender using UDP segmentation offload (`UDP_SEGMENT`, as rxrpc's driver does for runs of
//! equal-size datagrams to one peer) hands the kernel one buffer holding several datagrams of
//! one segment size. On the loopback interface nothing segments it before a packet capture
//! sees it, so `tcpdump` on `lo` records one UDP "datagram" that is really several Rx packets
//! back to back. The receiving socket still gets them one by one.
//!
//! [`split_coalesced`] finds such records: every segment starts with an Rx header with the
//! same epoch (one sender, possibly several of its connections) and a known packet type, at
//! multiples of one segment size.

/// The Rx datagrams in one captured UDP payload: the payload itself, or its segments if it is
/// a coalesced run of datagrams (see the module docs). Never empty for a non-empty payload.
///
/// ```
/// use rxrpc_proto::wire::split_coalesced;
/// let mut one = vec![0u8; 40];
/// one[..4].copy_from_slice(&[1, 2, 3, 4]); // the epoch
/// one[20] = 1; // DATA
/// let mut run = one.clone();
/// run.extend_from_slice(&one);
/// run.extend_from_slice(&one[..30]); // a shorter last segment
/// let parts = split_coalesced(&run);
/// assert_eq!(parts.iter().map(|p| p.len()).collect::<Vec<_>>(), [40, 40, 30]);
/// assert_eq!(split_coalesced(&one).len(), 1);
/// ```
pub fn split_coalesced(payload: &[u8]) -> Vec<&[u8]> {
    const HDR: usize = super::HEADER_LEN;
    let Some(epoch) = payload.get(..4) else {
        return vec![payload];
    };
    let header_at = |at: usize| {
        payload.len() - at >= HDR
            && payload.get(at..at + 4) == Some(epoch)
            && payload.get(at + 20).is_some_and(|t| (1..=13).contains(t))
    };
    // The smallest segment size at which every segment starts with a header of the same
    // sender, with at least a header's worth in the last one.
    let segment = (HDR..payload.len()).find(|&s| (s..payload.len()).step_by(s).all(header_at));
    match segment {
        Some(s) => payload.chunks(s).collect(),
        None => vec![payload],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Cid, Epoch, Flags, Header, JUMBO_DATALEN, PacketType, Seq, Serial};

    fn data(seq: u32, len: usize, flags: Flags) -> Vec<u8> {
        let h = Header {
            epoch: Epoch(0x6b0a_8134),
            cid: Cid(0x00c7_d020),
            seq: Seq(seq),
            serial: Serial(seq),
            packet_type: PacketType::DATA,
            flags,
            ..Header::default()
        };
        let mut v = h.to_bytes().to_vec();
        v.extend((0..len).map(|i| (i * 7 + seq as usize) as u8));
        v
    }

    #[test]
    fn a_gso_run_splits_into_its_datagrams() {
        let mut run = Vec::new();
        for s in 1..=3 {
            run.extend(data(s, JUMBO_DATALEN, Flags::empty()));
        }
        run.extend(data(4, 100, Flags::LAST_PACKET));
        let parts = split_coalesced(&run);
        assert_eq!(parts.len(), 4);
        for (i, p) in parts.iter().enumerate() {
            let h = Header::parse(p).unwrap();
            assert_eq!(h.seq, Seq(i as u32 + 1));
        }
    }

    #[test]
    fn single_and_jumbo_datagrams_stay_whole() {
        let one = data(1, 1000, Flags::empty());
        assert_eq!(split_coalesced(&one), vec![&one[..]]);
        // A jumbo packet: subpackets joined by 4-byte jumbo headers, not Rx headers.
        let mut jumbo = data(1, JUMBO_DATALEN, Flags::JUMBO_PACKET);
        jumbo.extend_from_slice(&[0, 0, 0, 0]);
        jumbo.extend((0..JUMBO_DATALEN).map(|i| i as u8));
        assert_eq!(split_coalesced(&jumbo).len(), 1);
        assert_eq!(split_coalesced(&[]).len(), 1);
        assert_eq!(split_coalesced(&[1, 2, 3]).len(), 1);
    }
}
