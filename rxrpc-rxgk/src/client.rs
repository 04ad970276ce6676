//! The client side: credentials that make per-connection state.

use bytes::Bytes;
use rxrpc_proto::security::{ClientSecurity, ConnIdent, ConnSecurity, SecurityLevel};
use rxrpc_proto::wire::{AbortCode, SecurityIndex};

use crate::clock::Clock;
use crate::conn::{RxgkConn, overhead};
use crate::token::RxgkToken;

/// A client's yfs-rxgk credentials ([`ClientSecurity`]): a token (K0 and ticket), optional
/// application data for the RESPONSE, and the clock.
///
/// Connections run at the token's level (the server takes the level sealed in the ticket, and
/// refuses a RESPONSE claiming another).
#[derive(Debug, Clone)]
pub struct RxgkClient {
    token: RxgkToken,
    app_data: Bytes,
    clock: Clock,
}

impl RxgkClient {
    /// Credentials from a token, on the system clock, without application data.
    pub fn new(token: RxgkToken) -> RxgkClient {
        RxgkClient {
            token,
            app_data: Bytes::new(),
            clock: Clock::system(),
        }
    }

    /// Application data to put in every RESPONSE authenticator (at most
    /// [`crate::conn::MAX_APP_DATA`] bytes; the server sees it as
    /// [`rxrpc_proto::security::PeerIdentity::app_data`]).
    pub fn with_app_data(mut self, app_data: impl Into<Bytes>) -> RxgkClient {
        let mut d: Bytes = app_data.into();
        d.truncate(crate::conn::MAX_APP_DATA);
        self.app_data = d;
        self
    }

    /// Use `clock` instead of the system clock.
    pub fn with_clock(mut self, clock: Clock) -> RxgkClient {
        self.clock = clock;
        self
    }

    /// The token.
    pub fn token(&self) -> &RxgkToken {
        &self.token
    }

    /// Make the state of a new client connection (the concrete type, for callers that want
    /// [`RxgkConn`]'s extra methods).
    pub fn new_rxgk_conn(&self, ident: &ConnIdent) -> Result<RxgkConn, AbortCode> {
        if self.token.is_expired(self.clock.now()) {
            return Err(AbortCode::RXGK_EXPIRED);
        }
        Ok(RxgkConn::new_client(
            *ident,
            self.clock.clone(),
            &self.token,
            self.app_data.clone(),
        ))
    }
}

impl ClientSecurity for RxgkClient {
    fn security_index(&self) -> SecurityIndex {
        SecurityIndex::YFS_RXGK
    }

    fn level(&self) -> SecurityLevel {
        self.token.level
    }

    fn data_capacity(&self, max_payload: usize) -> usize {
        max_payload.saturating_sub(overhead(self.token.level, self.token.k0.enctype()))
    }

    fn new_conn(&self, ident: &ConnIdent) -> Result<Box<dyn ConnSecurity>, AbortCode> {
        Ok(Box::new(self.new_rxgk_conn(ident)?))
    }
}
