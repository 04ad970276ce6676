//! Our secured client against the Linux kernel's server: the guest's `krxperf` holds the rxkad
//! key `147:2` and a yfs-rxgk key (`scripts/peers.sh`: `boot.sh --key`, `--rxgk-key`).
//!
//! * rxkad at clear, auth and crypt, with tickets minted by our `rxrpc-rxkad` from the key:
//!   an ECHO of ~100 KB comes back byte for byte;
//! * yfs-rxgk at plain, auth and encrypt with tokens minted by our `rxrpc-rxgk`, and a token
//!   whose byte budget (2^14) forces several key-number changes during a 300 KB ECHO;
//! * refusals by the kernel: a ticket sealed with another key (`RXKADBADTICKET`), an expired
//!   ticket (the kernel ignores the RESPONSE, so the call is never served) and an rxgk token
//!   sealed with another key (`RXGK_SEALEDINCON`). Tampered packets are in
//!   `interop_linux_tamper.rs` (they stop krxperf, so that test runs last).
//!
//! Nothing here is timed (TCG guest). Without a guest the tests print `SKIPPED:` and pass,
//! except under CI or `RXRPC_REQUIRE_PEERS=1`.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{loopback, within};
use rxrpc::AbortCode;
use rxrpc::security::SecurityLevel;
use rxrpc::{Completion, RxEndpoint};
use rxrpc_rxgk::clock::Clock;
use rxrpc_rxgk::krb5::Key;
use rxrpc_rxkad::{DesKey, Lifetime, RxkadClient, mint_token_at};
use rxrpc_testkit::LinuxGuest;

#[path = "common/krxperf_secure.rs"]
mod krx;
use krx::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rxkad_to_kernel_at_each_level_and_refusals() {
    let Some(guest) = LinuxGuest::get() else {
        return;
    };
    let key = guest
        .rxkad_key()
        .expect("peers.sh boots krxperf with an rxkad key");
    within(300, "secured calls to the kernel", async {
        let ep = RxEndpoint::bind(loopback()).await.unwrap();
        for level in [
            SecurityLevel::Plain,
            SecurityLevel::Auth,
            SecurityLevel::Encrypt,
        ] {
            let data = pattern(100_000, level as u32);
            let got = echo(
                &ep,
                guest,
                rxkad(guest, key, level),
                &data,
                Duration::from_secs(30),
            )
            .await
            .unwrap_or_else(|c| panic!("rxkad {level:?} ECHO to the kernel: {c}"));
            assert!(got == data, "rxkad {level:?}: echo differs");
        }
        // A ticket sealed with another key.
        let wrong = [0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10];
        let r = echo(
            &ep,
            guest,
            rxkad(guest, wrong, SecurityLevel::Encrypt),
            b"x",
            Duration::from_secs(30),
        )
        .await;
        assert_eq!(r, Err(Completion::RemoteAbort(AbortCode::RXKADBADTICKET)));
        // An expired ticket (issued two hours ago for ten minutes).
        let start = (Clock::system().now() / 10_000_000).saturating_sub(7200) as u32;
        let token = mint_token_at(
            &DesKey(key),
            1,
            "admin",
            "",
            "",
            Lifetime::Seconds(600),
            None,
            start,
        )
        .unwrap();
        // Our client would refuse to use an expired token itself; a clock set back to the
        // ticket's lifetime lets it through so that the kernel's check is what is tested.
        let clock = Arc::new(rxrpc_rxkad::ManualClock::new(u64::from(start) + 60));
        let r = echo(
            &ep,
            guest,
            Arc::new(RxkadClient::new(token).with_clock(clock)),
            b"x",
            Duration::from_secs(5),
        )
        .await;
        // The kernel treats an expired ticket as a temporary key error and ignores the
        // RESPONSE (no abort), so the call is never served and times out here.
        assert!(
            matches!(
                r,
                Err(Completion::LocalAbort {
                    code: AbortCode::RX_CALL_TIMEOUT,
                    ..
                }) | Err(Completion::RemoteAbort(AbortCode::RXKADEXPIRED))
            ),
            "expired ticket: {r:?}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rxgk_to_kernel_at_each_level_rekeying_and_refusals() {
    let Some(guest) = LinuxGuest::get() else {
        return;
    };
    let Some((kvno, key)) = guest_rxgk_key(guest) else {
        if rxrpc_testkit::peers_required() && guest.rxgk() {
            panic!("the guest has rxgk but no key was given");
        }
        eprintln!("SKIPPED: the guest kernel has no yfs-rxgk");
        return;
    };
    within(300, "secured calls to the kernel", async {
        let ep = RxEndpoint::bind(loopback()).await.unwrap();
        for level in [
            SecurityLevel::Plain,
            SecurityLevel::Auth,
            SecurityLevel::Encrypt,
        ] {
            let data = pattern(100_000, 7 + level as u32);
            let got = echo(
                &ep,
                guest,
                rxgk(kvno, &key, level, 0),
                &data,
                Duration::from_secs(30),
            )
            .await
            .unwrap_or_else(|c| panic!("rxgk {level:?} ECHO to the kernel: {c}"));
            assert!(got == data, "rxgk {level:?}: echo differs");
        }
        // 2^14 bytes per key: a 300 KB echo makes both sides change keys many times.
        let data = pattern(300_000, 99);
        let got = echo(
            &ep,
            guest,
            rxgk(kvno, &key, SecurityLevel::Encrypt, 14),
            &data,
            Duration::from_secs(30),
        )
        .await
        .unwrap_or_else(|c| panic!("rxgk rekeying ECHO to the kernel: {c}"));
        assert!(got == data, "rxgk rekeying: echo differs");
        // A token sealed with a key the kernel does not have under that kvno.
        let other = Key::new(key.enctype(), &vec![0x5a; key.as_bytes().len()]).unwrap();
        let r = echo(
            &ep,
            guest,
            rxgk(kvno, &other, SecurityLevel::Encrypt, 0),
            b"x",
            Duration::from_secs(30),
        )
        .await;
        assert_eq!(
            r,
            Err(Completion::RemoteAbort(AbortCode(1_233_242_883))),
            "RXGK_SEALEDINCON"
        );
    })
    .await;
}
