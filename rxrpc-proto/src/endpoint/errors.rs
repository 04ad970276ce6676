//! Transport errors: what the driver learns from the operating system about a peer, outside
//! of any packet: ICMP errors (port or host unreachable, "fragmentation needed"), local
//! path-MTU failures, and send calls that fail.
//!
//! Layer: the call engine's input from the driver, next to `handle_datagram` and
//! `handle_timeout`. Like the Linux implementation (`reference-linux-rxrpc.md`, the error
//! report of a local endpoint), an error is distributed to every live call of the peer: each
//! completes at once with the error instead of waiting for its idle timeout. The one exception
//! is a report carrying a path MTU, which shrinks the packets sent to the peer rather than
//! failing anything.
//!
//! Error numbers are the operating system's `errno` values, as the driver read them; the
//! engine does not interpret them (they differ between systems) and hands them to the
//! application inside the completion.

use std::net::SocketAddr;

use crate::arena::Key;
use crate::call::state::{CallState, Completion, LocalError, NetworkError};
use crate::time::Instant;

use super::Endpoint;

impl Endpoint {
    /// The network reported an error for datagrams sent to `peer`: `errno` as read from the
    /// socket's error queue (e.g. `ECONNREFUSED` for an ICMP port unreachable). Every live
    /// call with `peer` completes with [`Completion::NetworkError`]`(`[`NetworkError::Os`]`(errno))`.
    ///
    /// With `mtu` (an ICMP "fragmentation needed"/"packet too big" or a local `EMSGSIZE`,
    /// carrying the path MTU), no call fails: the report lowers the peer's path MTU instead.
    /// A report about a peer without calls does nothing.
    pub fn handle_transport_error(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        errno: i32,
        mtu: Option<usize>,
    ) {
        self.last_now = self.last_now.max(now);
        if let Some(mtu) = mtu {
            tracing::debug!(%peer, errno, mtu, "path MTU reported");
            // EMSGSIZE / "fragmentation needed": not a failure, a smaller path.
            self.reduce_path_mtu(peer, mtu);
            return;
        }
        tracing::debug!(%peer, errno, "network error reported for peer");
        self.fail_peer_calls(now, peer, Completion::NetworkError(NetworkError::Os(errno)));
    }

    /// Sending a datagram to `peer` failed locally with `errno` (not a full send buffer: a
    /// refusal such as `EPERM` from a firewall or `ENETUNREACH` for want of a route). Every
    /// live call with `peer` completes with
    /// [`Completion::LocalError`]`(`[`LocalError::SendFailed`]`(errno))`.
    pub fn handle_send_error(&mut self, now: Instant, peer: SocketAddr, errno: i32) {
        self.last_now = self.last_now.max(now);
        tracing::debug!(%peer, errno, "send to peer failed");
        self.fail_peer_calls(
            now,
            peer,
            Completion::LocalError(LocalError::SendFailed(errno)),
        );
    }

    /// Complete every live call of `peer` with `completion` (charged calls, which have no
    /// peer yet, are left alone).
    fn fail_peer_calls(&mut self, now: Instant, peer: SocketAddr, completion: Completion) {
        let victims: Vec<Key> = self
            .calls
            .iter()
            .filter(|(_, c)| {
                c.peer == peer && !c.state.is_complete() && c.state != CallState::ServerPrealloc
            })
            .map(|(k, _)| k)
            .collect();
        for key in victims {
            self.complete_call(now, key, completion);
        }
        self.run_attention(now);
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use crate::tests::{Net, SVC};
    use crate::{CallParams, CallState, Completion, LocalError, NetworkError};

    /// A client call whose server never answers fails at once with the reported error, and
    /// the error reaches the application as the call's terminal message.
    #[test]
    fn network_error_completes_the_peers_calls() {
        let mut net = Net::new(2, 11);
        let server = net.addr(1);
        let s = net.ep(0).open_socket();
        let now = net.now;
        for uid in [1, 2] {
            net.ep(0)
                .begin_call(now, s, uid, CallParams::new(server, SVC))
                .unwrap();
            net.ep(0)
                .send(now, s, uid, Bytes::from_static(b"req"), false)
                .unwrap();
        }
        // A call to another peer is not affected.
        let other: std::net::SocketAddr = ([127, 0, 0, 1], 9).into();
        net.ep(0)
            .begin_call(now, s, 3, CallParams::new(other, SVC))
            .unwrap();
        while net.ep(0).poll_transmit().is_some() {}

        net.ep(0).handle_transport_error(now, server, 111, None);
        let refused = Completion::NetworkError(NetworkError::Os(111));
        for uid in [1, 2] {
            assert_eq!(
                net.ep(0).call_state(s, uid),
                Some(CallState::Complete(refused))
            );
            let m = net.ep(0).recv(now, s, uid, 100).unwrap().unwrap();
            assert_eq!(m.terminal, Some(refused));
        }
        assert!(!net.ep(0).call_state(s, 3).unwrap().is_complete());

        // A path-MTU report fails nothing.
        net.ep(0).handle_transport_error(now, other, 90, Some(1280));
        assert!(!net.ep(0).call_state(s, 3).unwrap().is_complete());

        // A local send failure completes the calls of that destination with a local error.
        net.ep(0).handle_send_error(now, other, 1);
        assert_eq!(
            net.ep(0).call_state(s, 3),
            Some(CallState::Complete(Completion::LocalError(
                LocalError::SendFailed(1)
            )))
        );
    }
}
