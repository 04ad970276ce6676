//! The system calls the tokio socket API does not offer: batched send and receive
//! (`sendmmsg`/`recvmmsg`), UDP segmentation offload on send (`UDP_SEGMENT`, "GSO") and
//! coalescing on receive (`UDP_GRO`), and the socket error queue (`IP_RECVERR`,
//! `MSG_ERRQUEUE`) through which the kernel reports ICMP errors and local path-MTU failures.
//!
//! Layer: the runtime glue, below the driver. This module exists because these calls take raw
//! `msghdr` structures with pointers into buffers and control-message areas, which no safe API
//! of the crates already in the tree (std, tokio, mio) exposes; it is the only module of the
//! project that contains `unsafe` code, and every `unsafe` block says why it is sound.
//!
//! Every function is non-blocking (`MSG_DONTWAIT`) and returns `WouldBlock` like tokio's
//! `try_*` calls, so the driver wraps them in
//! [`UdpSocket::try_io`](tokio::net::UdpSocket::try_io) to keep tokio's readiness
//! tracking right. On systems other than Linux the batched calls fall back on one datagram per
//! call through tokio, GSO and GRO are reported unavailable and the error queue is empty.
#![allow(unsafe_code)]

use std::net::SocketAddr;

/// Most datagrams sent or received by one batched call.
pub(crate) const MAX_BATCH: usize = 32;
/// Most segments in one GSO send (the kernel's `UDP_MAX_SEGMENTS` is 64 or more).
pub(crate) const MAX_SEGMENTS: usize = 64;
/// Most payload bytes in one GSO send (an IPv4 datagram is at most 65 535 bytes long).
pub(crate) const MAX_GSO_BYTES: usize = 65_000;

/// Where a reported error came from (`ee_origin`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    /// The local stack (e.g. a datagram larger than the known path MTU).
    Local,
    /// An ICMP message.
    Icmp,
    /// An ICMPv6 message.
    Icmp6,
    /// Anything else (timestamps, zero-copy notifications: not asked for).
    Other(u8),
}

/// One entry of the socket's error queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct QueuedError {
    /// The destination of the datagram that caused the error: the peer.
    pub(crate) dest: Option<SocketAddr>,
    /// The error, as an errno value (`ECONNREFUSED` for a port unreachable, `EMSGSIZE` for
    /// "fragmentation needed"/"packet too big", ...).
    pub(crate) errno: i32,
    /// Where it came from.
    pub(crate) origin: Origin,
    /// `ee_info`: the path MTU for `EMSGSIZE`, otherwise 0.
    pub(crate) info: u32,
    /// The host that reported it (the ICMP sender), when known.
    pub(crate) offender: Option<SocketAddr>,
}

/// One message of a batched send: `count` consecutive buffers to `dest`, sent as one UDP
/// datagram (`segment == 0`, then `count == 1`) or, with GSO, as datagrams of `segment` bytes
/// each (every buffer but the last exactly `segment` long, the last at most that).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OutMsg {
    /// Where to.
    pub(crate) dest: SocketAddr,
    /// Index of the first buffer.
    pub(crate) first: usize,
    /// Number of buffers.
    pub(crate) count: usize,
    /// GSO segment size, or 0 for a plain datagram.
    pub(crate) segment: u16,
}

/// What one received message was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RecvMeta {
    /// Bytes received (several datagrams of `stride` bytes, the last possibly shorter, when
    /// GRO coalesced them).
    pub(crate) len: usize,
    /// The sender.
    pub(crate) from: SocketAddr,
    /// The size of each coalesced datagram (`len` when there was one).
    pub(crate) stride: usize,
}

impl Default for RecvMeta {
    fn default() -> Self {
        RecvMeta {
            len: 0,
            from: SocketAddr::from(([0, 0, 0, 0], 0)),
            stride: 0,
        }
    }
}

/// What a failed send means to the driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SendFailure {
    /// The send buffer is full: wait until the socket is writable.
    WouldBlock,
    /// An error of an earlier datagram (ICMP, perhaps for another peer) that the kernel
    /// reports on this send: read the error queue, then try again.
    Deferred,
    /// The datagram is larger than the path MTU: the error queue has the MTU.
    TooBig,
    /// A transient shortage (memory, interrupted): drop the datagram, the protocol resends.
    Transient,
    /// The send itself failed: the destination is not reachable from here.
    Failed,
}

pub(crate) use imp::*;

#[cfg(target_os = "linux")]
mod imp {
    use std::io;
    use std::mem::{MaybeUninit, size_of, zeroed};
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
    use std::os::fd::AsRawFd;
    use std::ptr;

    use bytes::BytesMut;
    use tokio::net::UdpSocket;

    use super::{MAX_BATCH, Origin, OutMsg, QueuedError, RecvMeta};

    /// Room for one control message with a payload of `T` (`CMSG_SPACE`), in `u64`s so that
    /// a buffer of them is aligned for `cmsghdr`.
    const fn cmsg_words(payload: usize) -> usize {
        let align = size_of::<usize>();
        let hdr = (size_of::<libc::cmsghdr>() + align - 1) & !(align - 1);
        let data = (payload + align - 1) & !(align - 1);
        (hdr + data).div_ceil(8)
    }

    /// Most buffers in one `sendmmsg`.
    const MAX_IOVS: usize = 1024;
    /// Control area of a GSO send: one `UDP_SEGMENT` message (a `u16`).
    const GSO_WORDS: usize = cmsg_words(size_of::<u16>());
    /// Control area of a receive: one `UDP_GRO` message (an `int`), with room to spare for
    /// anything else the kernel adds.
    const GRO_WORDS: usize = cmsg_words(size_of::<libc::c_int>()) + 4;
    /// Control area of an error-queue read: the extended error and the offender's address.
    const ERR_WORDS: usize =
        cmsg_words(size_of::<libc::sock_extended_err>() + size_of::<libc::sockaddr_in6>()) + 8;

    fn setsockopt_int(
        sock: &UdpSocket,
        level: libc::c_int,
        name: libc::c_int,
        value: libc::c_int,
    ) -> io::Result<()> {
        // SAFETY: `value` lives across the call and its size is passed; the fd is open (owned
        // by `sock`, borrowed for the call).
        let rc = unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                level,
                name,
                ptr::from_ref(&value).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// `EMSGSIZE`: the error of a datagram larger than the path MTU.
    pub(crate) const EMSGSIZE: i32 = libc::EMSGSIZE;

    /// Classify the error of a send.
    pub(crate) fn classify_send_error(e: &io::Error) -> super::SendFailure {
        use super::SendFailure;
        if e.kind() == io::ErrorKind::WouldBlock {
            return SendFailure::WouldBlock;
        }
        match e.raw_os_error() {
            Some(libc::EAGAIN) => SendFailure::WouldBlock,
            Some(
                libc::ECONNREFUSED
                | libc::EHOSTUNREACH
                | libc::ENETUNREACH
                | libc::EHOSTDOWN
                | libc::ENONET
                | libc::EPROTO
                | libc::ECONNRESET,
            ) => SendFailure::Deferred,
            Some(libc::EMSGSIZE) => SendFailure::TooBig,
            Some(libc::ENOBUFS | libc::ENOMEM | libc::EINTR) => SendFailure::Transient,
            _ => SendFailure::Failed,
        }
    }

    /// Whether a failed GSO send means the kernel or the device cannot segment at all (rather
    /// than that this one message was unsuitable).
    pub(crate) fn gso_unavailable(e: &io::Error) -> bool {
        matches!(
            e.raw_os_error(),
            Some(libc::EIO | libc::ENOPROTOOPT | libc::EOPNOTSUPP)
        )
    }

    /// Ask for ICMP errors and local errors on the error queue (`IP_RECVERR`, and
    /// `IPV6_RECVERR` on an IPv6 socket, where `IP_RECVERR` covers IPv4-mapped peers).
    pub(crate) fn enable_recverr(sock: &UdpSocket) -> io::Result<()> {
        if sock.local_addr()?.is_ipv6() {
            setsockopt_int(sock, libc::SOL_IPV6, libc::IPV6_RECVERR, 1)?;
            // Best effort: a v6-only socket has no IPv4 side.
            let _ = setsockopt_int(sock, libc::SOL_IP, libc::IP_RECVERR, 1);
            Ok(())
        } else {
            setsockopt_int(sock, libc::SOL_IP, libc::IP_RECVERR, 1)
        }
    }

    /// Whether the kernel knows `UDP_SEGMENT` (Linux 4.18+). The device may still refuse a
    /// segmented send (`EIO` without checksum offload): the driver then stops using it.
    pub(crate) fn gso_supported(sock: &UdpSocket) -> bool {
        let mut value: libc::c_int = 0;
        let mut len = size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: `value` and `len` live across the call; `len` holds the size of `value`.
        let rc = unsafe {
            libc::getsockopt(
                sock.as_raw_fd(),
                libc::SOL_UDP,
                libc::UDP_SEGMENT,
                ptr::from_mut(&mut value).cast(),
                &mut len,
            )
        };
        rc == 0
    }

    /// Ask the kernel to coalesce received datagrams of one flow (`UDP_GRO`, Linux 5.0+).
    pub(crate) fn enable_gro(sock: &UdpSocket) -> bool {
        setsockopt_int(sock, libc::SOL_UDP, libc::UDP_GRO, 1).is_ok()
    }

    /// Write a socket address in the C layout to `out`; returns the length the kernel reads.
    ///
    /// # Safety
    ///
    /// `out` must be valid for writes of a `sockaddr_storage` (it may be uninitialised).
    unsafe fn to_sockaddr(addr: SocketAddr, out: *mut libc::sockaddr_storage) -> libc::socklen_t {
        match addr {
            SocketAddr::V4(a) => {
                let sin = libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: a.port().to_be(),
                    sin_addr: libc::in_addr {
                        s_addr: u32::from_ne_bytes(a.ip().octets()),
                    },
                    sin_zero: [0; 8],
                };
                // SAFETY: `out` is writable (caller) and sockaddr_storage is larger than and
                // aligned for sockaddr_in.
                unsafe { ptr::write(out.cast::<libc::sockaddr_in>(), sin) };
                size_of::<libc::sockaddr_in>() as libc::socklen_t
            }
            SocketAddr::V6(a) => {
                let sin6 = libc::sockaddr_in6 {
                    sin6_family: libc::AF_INET6 as libc::sa_family_t,
                    sin6_port: a.port().to_be(),
                    sin6_flowinfo: a.flowinfo().to_be(),
                    sin6_addr: libc::in6_addr {
                        s6_addr: a.ip().octets(),
                    },
                    sin6_scope_id: a.scope_id(),
                };
                // SAFETY: as above, for sockaddr_in6.
                unsafe { ptr::write(out.cast::<libc::sockaddr_in6>(), sin6) };
                size_of::<libc::sockaddr_in6>() as libc::socklen_t
            }
        }
    }

    /// Read a socket address the kernel wrote: `len` bytes at `p`.
    ///
    /// # Safety
    ///
    /// `p` must point to at least `len` readable bytes.
    unsafe fn from_sockaddr(p: *const u8, len: usize) -> Option<SocketAddr> {
        if len < size_of::<libc::sa_family_t>() {
            return None;
        }
        // SAFETY: at least the family field is readable (checked above); unaligned reads.
        let family = unsafe { ptr::read_unaligned(p.cast::<libc::sa_family_t>()) };
        match libc::c_int::from(family) {
            libc::AF_INET if len >= size_of::<libc::sockaddr_in>() => {
                // SAFETY: `len` covers a whole sockaddr_in.
                let sin = unsafe { ptr::read_unaligned(p.cast::<libc::sockaddr_in>()) };
                let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
                Some(SocketAddrV4::new(ip, u16::from_be(sin.sin_port)).into())
            }
            libc::AF_INET6 if len >= size_of::<libc::sockaddr_in6>() => {
                // SAFETY: `len` covers a whole sockaddr_in6.
                let sin6 = unsafe { ptr::read_unaligned(p.cast::<libc::sockaddr_in6>()) };
                Some(
                    SocketAddrV6::new(
                        Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                        u16::from_be(sin6.sin6_port),
                        u32::from_be(sin6.sin6_flowinfo),
                        sin6.sin6_scope_id,
                    )
                    .into(),
                )
            }
            _ => None,
        }
    }

    /// A `msghdr` over one name, `iovlen` iovecs and a control area (`ctrl_len` bytes).
    fn msghdr(
        name: *mut libc::sockaddr_storage,
        namelen: libc::socklen_t,
        iov: *mut libc::iovec,
        iovlen: usize,
        ctrl: *mut u64,
        ctrl_len: usize,
    ) -> libc::msghdr {
        // SAFETY: all-zero is a valid msghdr (null pointers, zero lengths); this also clears
        // any padding fields the C library's layout has.
        let mut h: libc::msghdr = unsafe { zeroed() };
        h.msg_name = name.cast();
        h.msg_namelen = namelen;
        h.msg_iov = iov;
        h.msg_iovlen = iovlen as _;
        h.msg_control = ctrl.cast();
        h.msg_controllen = ctrl_len as _;
        h
    }

    /// Send `msgs` (buffers taken from `bufs` through `get`) with one `sendmmsg`. Returns how
    /// many messages the kernel took (at least one), or the error of the first one.
    pub(crate) fn send_batch<T>(
        sock: &UdpSocket,
        bufs: &[T],
        get: impl Fn(&T) -> &[u8],
        msgs: &[OutMsg],
    ) -> io::Result<usize> {
        // Scratch areas on the stack, left uninitialised: every entry used is written first
        // (zeroing the whole areas on every call cost more than the system call saved).
        let mut hdrs = [const { MaybeUninit::<libc::mmsghdr>::uninit() }; MAX_BATCH];
        let mut names = [const { MaybeUninit::<libc::sockaddr_storage>::uninit() }; MAX_BATCH];
        let mut ctrl = [[0u64; GSO_WORDS]; MAX_BATCH];
        let mut iovs = [const { MaybeUninit::<libc::iovec>::uninit() }; MAX_IOVS];
        let mut n = 0;
        let mut at = 0;
        for m in msgs.iter().take(MAX_BATCH) {
            let end = m.first.checked_add(m.count).filter(|&e| e <= bufs.len());
            let Some(end) = end else {
                return Err(io::Error::from(io::ErrorKind::InvalidInput));
            };
            if m.count == 0 || at + m.count > MAX_IOVS {
                break;
            }
            let first_iov = at;
            for b in &bufs[m.first..end] {
                let b = get(b);
                iovs[at].write(libc::iovec {
                    iov_base: b.as_ptr().cast_mut().cast(),
                    iov_len: b.len(),
                });
                at += 1;
            }
            let name = names[n].as_mut_ptr();
            // SAFETY: `name` points at a whole (uninitialised) sockaddr_storage slot.
            let namelen = unsafe { to_sockaddr(m.dest, name) };
            let (ctrl_ptr, ctrl_len) = if m.segment != 0 {
                let c = ctrl[n].as_mut_ptr();
                // SAFETY: the area is aligned (u64) and holds CMSG_SPACE(u16) bytes
                // (GSO_WORDS), so the first header and its data fit in it; a msghdr over just
                // that area is enough for CMSG_FIRSTHDR.
                unsafe {
                    let space = libc::CMSG_SPACE(size_of::<u16>() as u32) as usize;
                    let h = msghdr(ptr::null_mut(), 0, ptr::null_mut(), 0, c, space);
                    let cm = libc::CMSG_FIRSTHDR(&h);
                    (*cm).cmsg_level = libc::SOL_UDP;
                    (*cm).cmsg_type = libc::UDP_SEGMENT;
                    (*cm).cmsg_len = libc::CMSG_LEN(size_of::<u16>() as u32) as _;
                    ptr::write_unaligned(libc::CMSG_DATA(cm).cast::<u16>(), m.segment);
                    (c, space)
                }
            } else {
                (ptr::null_mut(), 0)
            };
            let iov = iovs[first_iov].as_mut_ptr();
            hdrs[n].write(libc::mmsghdr {
                msg_hdr: msghdr(name, namelen, iov, m.count, ctrl_ptr, ctrl_len),
                msg_len: 0,
            });
            n += 1;
        }
        if n == 0 {
            return Ok(0);
        }
        // SAFETY: `hdrs[..n]` are initialised and point at names, iovecs and control areas
        // that live until the call returns; the iovecs point into `bufs`, borrowed for the
        // call. The kernel only reads them (and writes `msg_len`).
        let rc = unsafe {
            libc::sendmmsg(
                sock.as_raw_fd(),
                hdrs.as_mut_ptr().cast::<libc::mmsghdr>(),
                n as libc::c_uint,
                libc::MSG_DONTWAIT,
            )
        };
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(rc as usize)
        }
    }

    /// Receive up to `bufs.len()` messages with one `recvmmsg`, each appended to the spare
    /// capacity of its buffer (which must have room for a whole datagram: a longer one is cut).
    /// Returns how many were received; `meta[i]` describes `bufs[i]`'s new bytes.
    /// `recv_batch` returning fewer datagrams than buffers means the receive queue is empty
    /// (recvmmsg with `MSG_DONTWAIT` stops only there).
    pub(crate) const SHORT_BATCH_DRAINS: bool = true;

    pub(crate) fn recv_batch(
        sock: &UdpSocket,
        bufs: &mut [BytesMut],
        meta: &mut [RecvMeta],
    ) -> io::Result<usize> {
        let n = bufs.len().min(meta.len()).min(MAX_BATCH);
        if n == 0 {
            return Ok(0);
        }
        // Uninitialised scratch, as in `send_batch`: the kernel writes names and control
        // messages and says how long they are.
        let mut hdrs = [const { MaybeUninit::<libc::mmsghdr>::uninit() }; MAX_BATCH];
        let mut names = [const { MaybeUninit::<libc::sockaddr_storage>::uninit() }; MAX_BATCH];
        let mut iovs = [const { MaybeUninit::<libc::iovec>::uninit() }; MAX_BATCH];
        let mut ctrl = [const { MaybeUninit::<[u64; GRO_WORDS]>::uninit() }; MAX_BATCH];
        for i in 0..n {
            let spare: &mut [MaybeUninit<u8>] = bufs[i].spare_capacity_mut();
            let iov = iovs[i].write(libc::iovec {
                iov_base: spare.as_mut_ptr().cast(),
                iov_len: spare.len(),
            });
            hdrs[i].write(libc::mmsghdr {
                msg_hdr: msghdr(
                    names[i].as_mut_ptr(),
                    size_of::<libc::sockaddr_storage>() as libc::socklen_t,
                    iov,
                    1,
                    ctrl[i].as_mut_ptr().cast(),
                    size_of::<[u64; GRO_WORDS]>(),
                ),
                msg_len: 0,
            });
        }
        // SAFETY: `hdrs[..n]` are initialised; each points at a name area, one iovec over the
        // spare (writable, possibly uninitialised) capacity of its buffer, and a control area,
        // all alive and not otherwise borrowed until the call returns; no timeout.
        let rc = unsafe {
            libc::recvmmsg(
                sock.as_raw_fd(),
                hdrs.as_mut_ptr().cast::<libc::mmsghdr>(),
                n as libc::c_uint,
                libc::MSG_DONTWAIT,
                ptr::null_mut(),
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        let got = (rc as usize).min(n);
        for i in 0..got {
            // SAFETY: initialised above for every i < n.
            let hdr = unsafe { hdrs[i].assume_init_ref() };
            let h = &hdr.msg_hdr;
            let cap = bufs[i].capacity() - bufs[i].len();
            let len = (hdr.msg_len as usize).min(cap);
            // SAFETY: the kernel initialised the first `len` bytes of the spare capacity
            // (msg_len, capped at the iovec's length).
            unsafe { bufs[i].set_len(bufs[i].len() + len) };
            let namelen = (h.msg_namelen as usize).min(size_of::<libc::sockaddr_storage>());
            // SAFETY: the kernel wrote `namelen` bytes of `names[i]` (capped at its size).
            let from = unsafe { from_sockaddr(names[i].as_ptr().cast(), namelen) };
            let mut stride = len;
            // SAFETY: msg_control/msg_controllen describe the part of `ctrl[i]` the kernel
            // filled; CMSG_NXTHDR stays within it and each header's length is checked before
            // its data is read.
            unsafe {
                let mut c = libc::CMSG_FIRSTHDR(h);
                while !c.is_null() {
                    if (*c).cmsg_level == libc::SOL_UDP
                        && (*c).cmsg_type == libc::UDP_GRO
                        && (*c).cmsg_len as usize
                            >= libc::CMSG_LEN(size_of::<libc::c_int>() as u32) as usize
                    {
                        let s = ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::c_int>());
                        if s > 0 {
                            stride = s as usize;
                        }
                    }
                    c = libc::CMSG_NXTHDR(h, c);
                }
            }
            meta[i] = RecvMeta {
                len,
                from: from.unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0))),
                stride: stride.max(1),
            };
        }
        Ok(got)
    }

    /// Read one entry of the socket's error queue; `WouldBlock` when it is empty.
    pub(crate) fn recv_error(sock: &UdpSocket) -> io::Result<QueuedError> {
        // The datagram that caused the error comes back too; its start is enough.
        let mut data = [0u8; 64];
        let mut iov = libc::iovec {
            iov_base: data.as_mut_ptr().cast(),
            iov_len: data.len(),
        };
        // SAFETY: all-zero is a valid sockaddr_storage and msghdr.
        let mut name: libc::sockaddr_storage = unsafe { zeroed() };
        let mut ctrl = [0u64; ERR_WORDS];
        // SAFETY: as above.
        let mut h: libc::msghdr = unsafe { zeroed() };
        h.msg_name = ptr::from_mut(&mut name).cast();
        h.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        h.msg_iov = &mut iov;
        h.msg_iovlen = 1;
        h.msg_control = ctrl.as_mut_ptr().cast();
        h.msg_controllen = size_of::<[u64; ERR_WORDS]>();
        // SAFETY: the header points at buffers that live until the call returns.
        let rc = unsafe {
            libc::recvmsg(
                sock.as_raw_fd(),
                &mut h,
                libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        let namelen = (h.msg_namelen as usize).min(size_of::<libc::sockaddr_storage>());
        // SAFETY: `name` holds `namelen` bytes the kernel wrote (capped at its size).
        let dest = unsafe { from_sockaddr(ptr::from_ref(&name).cast(), namelen) };
        let mut found = None;
        // SAFETY: the cmsg walk stays within the control length the kernel returned, and
        // each header's length is checked against what is read from its data.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&h);
            while !c.is_null() {
                let level = (*c).cmsg_level;
                let kind = (*c).cmsg_type;
                let is_err = (level == libc::SOL_IP && kind == libc::IP_RECVERR)
                    || (level == libc::SOL_IPV6 && kind == libc::IPV6_RECVERR);
                let hdr = libc::CMSG_LEN(0) as usize;
                let data_len = ((*c).cmsg_len as usize).saturating_sub(hdr);
                if is_err && data_len >= size_of::<libc::sock_extended_err>() {
                    let p = libc::CMSG_DATA(c);
                    let ee = ptr::read_unaligned(p.cast::<libc::sock_extended_err>());
                    let rest = data_len - size_of::<libc::sock_extended_err>();
                    let offender = from_sockaddr(p.add(size_of::<libc::sock_extended_err>()), rest);
                    found = Some(QueuedError {
                        dest,
                        errno: ee.ee_errno as i32,
                        origin: match ee.ee_origin {
                            libc::SO_EE_ORIGIN_LOCAL => Origin::Local,
                            libc::SO_EE_ORIGIN_ICMP => Origin::Icmp,
                            libc::SO_EE_ORIGIN_ICMP6 => Origin::Icmp6,
                            o => Origin::Other(o),
                        },
                        info: ee.ee_info,
                        offender,
                    });
                }
                c = libc::CMSG_NXTHDR(&h, c);
            }
        }
        found.ok_or_else(|| io::Error::other("error queue entry without an extended error"))
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use std::io;

    use bytes::BytesMut;
    use tokio::net::UdpSocket;

    use super::{OutMsg, QueuedError, RecvMeta};

    /// Only reported by the error queue, which this system lacks.
    pub(crate) const EMSGSIZE: i32 = -1;

    /// Classify the error of a send by its kind.
    pub(crate) fn classify_send_error(e: &io::Error) -> super::SendFailure {
        use super::SendFailure;
        match e.kind() {
            io::ErrorKind::WouldBlock => SendFailure::WouldBlock,
            io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionReset => {
                SendFailure::Deferred
            }
            io::ErrorKind::Interrupted | io::ErrorKind::OutOfMemory => SendFailure::Transient,
            _ => SendFailure::Failed,
        }
    }

    pub(crate) fn gso_unavailable(_e: &io::Error) -> bool {
        true
    }

    /// No error queue here: ICMP errors show as errors of the next receive.
    pub(crate) fn enable_recverr(_sock: &UdpSocket) -> io::Result<()> {
        Ok(())
    }

    pub(crate) fn gso_supported(_sock: &UdpSocket) -> bool {
        false
    }

    pub(crate) fn enable_gro(_sock: &UdpSocket) -> bool {
        false
    }

    /// One datagram per call (the driver never builds GSO messages here).
    pub(crate) fn send_batch<T>(
        sock: &UdpSocket,
        bufs: &[T],
        get: impl Fn(&T) -> &[u8],
        msgs: &[OutMsg],
    ) -> io::Result<usize> {
        let Some(m) = msgs.first() else { return Ok(0) };
        let b = bufs
            .get(m.first)
            .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        sock.try_send_to(get(b), m.dest)?;
        Ok(1)
    }

    /// One datagram per call here: a short batch says nothing about the queue.
    pub(crate) const SHORT_BATCH_DRAINS: bool = false;

    pub(crate) fn recv_batch(
        sock: &UdpSocket,
        bufs: &mut [BytesMut],
        meta: &mut [RecvMeta],
    ) -> io::Result<usize> {
        let (Some(b), Some(m)) = (bufs.first_mut(), meta.first_mut()) else {
            return Ok(0);
        };
        let before = b.len();
        let (n, from) = sock.try_recv_buf_from(b)?;
        let n = n.min(b.len() - before);
        *m = RecvMeta {
            len: n,
            from,
            stride: n.max(1),
        };
        Ok(1)
    }

    pub(crate) fn recv_error(_sock: &UdpSocket) -> io::Result<QueuedError> {
        Err(io::ErrorKind::WouldBlock.into())
    }
}
