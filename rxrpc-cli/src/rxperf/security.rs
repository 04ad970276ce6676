//! `--security` for rxperf: which class a client call uses and which classes a server accepts,
//! and where their keys come from.
//!
//! ```text
//! rxperf server --security rxkad:crypt --rxkad-key 0123456789abcdef [--require-security]
//! rxperf client -c rpc --security rxkad:crypt --rxkad-key 0123456789abcdef   # mints a ticket
//! rxperf client -c rpc --security rxkad:auth --rxkad-token token.sh          # a given ticket
//! rxperf server --security rxgk:crypt --rxgk-key 18:1:HEX
//! rxperf client -c send --security rxgk:auth --rxgk-key 18:1:HEX             # mints a token
//! ```
//!
//! On a client the level is the level the calls ask for; on a server it is the lowest level
//! accepted for that class (rxnull stays accepted unless `--require-security`). With a server
//! key, the client mints its own credentials the way OpenAFS's `-localauth` does: an rxkad
//! ticket for `afs` (one hour), or a yfs-rxgk token (one hour).

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use rxrpc::security::{ClientSecurityRef, SecurityLevel, ServerSecurityRef};
use rxrpc_rxgk::krb5::{Enctype, Key};
use rxrpc_rxkad::{DesKey, KeyTable, Lifetime, RxkadClient, RxkadServer, RxkadToken};

/// The security class and level named by `--security`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// rxnull.
    None,
    /// rxkad at a level.
    Rxkad(SecurityLevel),
    /// yfs-rxgk at a level.
    Rxgk(SecurityLevel),
}

impl std::fmt::Display for Class {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rxkad_name = |l: SecurityLevel| match l {
            SecurityLevel::Plain => "clear",
            SecurityLevel::Auth => "auth",
            SecurityLevel::Encrypt => "crypt",
        };
        match self {
            Class::None => f.write_str("none"),
            Class::Rxkad(l) => write!(f, "rxkad:{}", rxkad_name(*l)),
            Class::Rxgk(l) => write!(f, "rxgk:{}", l.name()),
        }
    }
}

fn parse_level(s: &str) -> Result<SecurityLevel, String> {
    match s {
        "clear" | "plain" => Ok(SecurityLevel::Plain),
        "auth" => Ok(SecurityLevel::Auth),
        "crypt" | "encrypt" => Ok(SecurityLevel::Encrypt),
        _ => Err(format!("unknown level {s:?} (clear|auth|crypt)")),
    }
}

/// Parse `none`, `rxkad:LEVEL` or `rxgk:LEVEL`.
pub fn parse_class(s: &str) -> Result<Class, String> {
    match s.split_once(':') {
        None if s == "none" => Ok(Class::None),
        Some(("rxkad", l)) => Ok(Class::Rxkad(parse_level(l)?)),
        Some(("rxgk", l)) => Ok(Class::Rxgk(parse_level(l)?)),
        _ => Err(format!(
            "unknown security {s:?} (none, rxkad:clear|auth|crypt, rxgk:plain|auth|crypt)"
        )),
    }
}

/// Security options shared by `rxperf client` and `rxperf server`.
#[derive(Debug, Clone, Args)]
pub struct SecurityArgs {
    /// Security class: none, rxkad:clear|auth|crypt or rxgk:plain|auth|crypt (client: the
    /// level to call at; server: the lowest level accepted).
    #[arg(long, default_value = "none", value_parser = parse_class)]
    pub security: Class,
    /// rxkad service key (16 hex digits): the server's key, or the key a client mints its
    /// ticket with (like `-localauth`).
    #[arg(long, value_name = "HEX")]
    pub rxkad_key: Option<String>,
    /// Key version number of `--rxkad-key`.
    #[arg(long, default_value_t = 1)]
    pub kvno: u32,
    /// An OpenAFS `KeyFile` (or a server config directory holding one) instead of
    /// `--rxkad-key`; the newest key is used to mint tickets.
    #[arg(long, value_name = "PATH")]
    pub keyfile: Option<PathBuf>,
    /// Client: an rxkad token as `KVNO=`/`SESSION_KEY=`/`TICKET=` lines (`rxkad-ticket mint`).
    #[arg(long, value_name = "FILE")]
    pub rxkad_token: Option<PathBuf>,
    /// yfs-rxgk server key ENCTYPE:KVNO:HEX (server: accepted tokens are sealed with it;
    /// client: mints a token with it).
    #[arg(long, value_name = "E:KVNO:HEX")]
    pub rxgk_key: Option<String>,
    /// Server: refuse calls without security.
    #[arg(long)]
    pub require_security: bool,
}

impl SecurityArgs {
    fn rxkad_keys(&self) -> Result<KeyTable, String> {
        match (&self.rxkad_key, &self.keyfile) {
            (Some(hex), None) => {
                let key = DesKey::from_hex(hex).map_err(|e| format!("--rxkad-key: {e}"))?;
                Ok(KeyTable::from_keys([(self.kvno, key)]))
            }
            (None, Some(p)) => {
                let t = if p.is_dir() {
                    KeyTable::load_dir(p)
                } else {
                    KeyTable::load_file(p)
                };
                let t = t.map_err(|e| format!("{}: {e}", p.display()))?;
                if t.is_empty() {
                    return Err(format!("{}: no rxkad keys", p.display()));
                }
                Ok(t)
            }
            (Some(_), Some(_)) => Err("give --rxkad-key or --keyfile, not both".into()),
            (None, None) => Err("rxkad needs --rxkad-key or --keyfile".into()),
        }
    }

    fn rxgk_key(&self) -> Result<(u32, Key), String> {
        let spec = self
            .rxgk_key
            .as_deref()
            .ok_or("rxgk needs --rxgk-key ENCTYPE:KVNO:HEX")?;
        let mut it = spec.splitn(3, ':');
        let (Some(e), Some(kvno), Some(hex)) = (it.next(), it.next(), it.next()) else {
            return Err(format!("--rxgk-key {spec:?}: want ENCTYPE:KVNO:HEX"));
        };
        let n: u32 = e.parse().map_err(|_| format!("bad enctype {e:?}"))?;
        let enctype = Enctype::from_number(n).ok_or(format!("unsupported enctype {n}"))?;
        let kvno = kvno.parse().map_err(|_| format!("bad kvno {kvno:?}"))?;
        let bytes = rxrpc_rxgk::hex::decode(hex).ok_or("bad hex in --rxgk-key")?;
        let key = Key::new(enctype, &bytes).map_err(|e| format!("--rxgk-key: {e}"))?;
        Ok((kvno, key))
    }

    /// The credentials a client's calls use (`None`: rxnull).
    pub fn client(&self) -> Result<Option<ClientSecurityRef>, String> {
        match self.security {
            Class::None => Ok(None),
            Class::Rxkad(level) => {
                let token = match &self.rxkad_token {
                    Some(p) => {
                        let text = std::fs::read_to_string(p)
                            .map_err(|e| format!("{}: {e}", p.display()))?;
                        RxkadToken::from_assignments(&text, level)
                            .map_err(|e| format!("{}: {e}", p.display()))?
                    }
                    None => {
                        let keys = self.rxkad_keys()?;
                        let (kvno, key) = keys.newest().ok_or("no rxkad key")?;
                        rxrpc_rxkad::mint_token(
                            &key,
                            kvno,
                            "afs",
                            "",
                            "",
                            Lifetime::Seconds(3600),
                            None,
                        )
                        .map_err(|e| format!("minting an rxkad ticket: {e}"))?
                        .with_level(level)
                    }
                };
                Ok(Some(Arc::new(RxkadClient::new(token))))
            }
            Class::Rxgk(level) => {
                let (kvno, key) = self.rxgk_key()?;
                let now = rxrpc_rxgk::clock::Clock::system().now();
                let k0 = Key::random(key.enctype()).map_err(|e| format!("{e}"))?;
                let token = rxrpc_rxgk::token::MintParams::new(kvno, level, k0, now, 3600)
                    .mint(&key)
                    .map_err(|e| format!("minting an rxgk token: {e}"))?;
                Ok(Some(Arc::new(rxrpc_rxgk::RxgkClient::new(token))))
            }
        }
    }

    /// The classes a server accepts besides rxnull.
    pub fn server(&self) -> Result<Vec<ServerSecurityRef>, String> {
        match self.security {
            Class::None => {
                if self.require_security {
                    return Err("--require-security needs --security rxkad:… or rxgk:…".into());
                }
                Ok(Vec::new())
            }
            Class::Rxkad(level) => Ok(vec![Arc::new(RxkadServer::new(
                Arc::new(self.rxkad_keys()?),
                level,
            ))]),
            Class::Rxgk(level) => {
                let (kvno, key) = self.rxgk_key()?;
                Ok(vec![Arc::new(
                    rxrpc_rxgk::RxgkServer::new()
                        .with_key(kvno, key)
                        .with_min_level(level),
                )])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_parse_and_print() {
        for s in [
            "none",
            "rxkad:clear",
            "rxkad:auth",
            "rxkad:crypt",
            "rxgk:auth",
        ] {
            assert_eq!(parse_class(s).unwrap().to_string(), s);
        }
        assert_eq!(
            parse_class("rxgk:crypt").unwrap(),
            Class::Rxgk(SecurityLevel::Encrypt)
        );
        assert!(parse_class("rxkad").is_err());
        assert!(parse_class("kerberos:crypt").is_err());
        assert!(parse_class("rxkad:secret").is_err());
    }
}
