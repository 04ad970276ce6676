//! A generated server and a generated client over loopback (the `XT_` test package of
//! `idl/xdrtest.xg`): results, application errors, every RXGEN_* abort the dispatcher sends,
//! split calls in both directions, `multi`, and that no OUT arguments are ever sent after an
//! error.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use rxrpc::{AbortCode, Call, Completion, RxEndpoint, ServiceId};
use rxrpc_afs::xdrtest::{self, xt};
use rxrpc_xdr::rx::{CallContext, RpcClient, RpcError, ServerCall};
use rxrpc_xdr::{DecodeErrorKind, FixedChars, XdrString};

const XT_SERVICE: ServiceId = ServiceId(4711);

async fn within<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .expect("no result after 30 s")
}

#[derive(Debug, Default)]
struct Impl;

impl xt::Service for Impl {
    async fn echo(
        &self,
        _call: &CallContext,
        input: xdrtest::XtAll,
    ) -> Result<xdrtest::XtAll, AbortCode> {
        Ok(input)
    }

    async fn nothing(&self, _call: &CallContext) -> Result<(), AbortCode> {
        Ok(())
    }

    async fn count(
        &self,
        _call: &CallContext,
        name: XdrString,
        counter: i32,
    ) -> Result<xt::CountOut, AbortCode> {
        Ok(xt::CountOut {
            counter: counter + 1,
            doubled: counter * 2,
            history: vec![name.len() as i32, counter],
        })
    }

    async fn fail(&self, _call: &CallContext, code: i32) -> Result<XdrString, AbortCode> {
        if code == 0 {
            return Ok("not secret".into());
        }
        Err(AbortCode(code))
    }

    async fn long(&self, _call: &CallContext, len: u32) -> Result<XdrString, AbortCode> {
        Ok("a".repeat(len as usize).into())
    }

    async fn sink(&self, call: &mut ServerCall, length: u32) -> Result<u32, AbortCode> {
        let data = call.read_exact(length as usize).await?;
        Ok(data.iter().map(|&b| u32::from(b)).sum())
    }

    async fn source(&self, call: &mut ServerCall, length: u32) -> Result<u32, AbortCode> {
        let data: Vec<u8> = (0..length).map(|i| (i % 251) as u8).collect();
        call.write_u32(length).await?;
        call.write_all(&data).await?;
        Ok(data.iter().map(|&b| u32::from(b)).sum())
    }

    async fn ping(&self, _call: &CallContext, seq: i32) -> Result<i32, AbortCode> {
        Ok(seq)
    }
}

async fn server() -> (RxEndpoint, SocketAddr) {
    let ep = RxEndpoint::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let listener = ep.listen(&[XT_SERVICE], 8).await.unwrap();
    tokio::spawn(xt::serve(listener, Impl));
    let addr = ep.local_addr();
    (ep, addr)
}

async fn client(addr: SocketAddr) -> (RxEndpoint, xt::Client) {
    let ep = RxEndpoint::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let c = xt::Client::new(&ep, addr, XT_SERVICE);
    (ep, c)
}

/// A raw call: send `req`, return the first thing received (data or the completion).
async fn raw(ep: &RxEndpoint, addr: SocketAddr, req: &[u8]) -> Result<Bytes, Completion> {
    let call: Call = ep.call(addr, XT_SERVICE).open().await.unwrap();
    call.send_last(Bytes::copy_from_slice(req)).await.unwrap();
    match call.recv().await {
        Ok(Some(b)) => Ok(b),
        Ok(None) => Ok(Bytes::new()),
        Err(e) => Err(e.completion().expect("a completed call")),
    }
}

fn abort_of(r: Result<Bytes, Completion>) -> AbortCode {
    match r {
        Err(Completion::RemoteAbort(c)) => c,
        other => panic!("expected a remote abort, got {other:?}"),
    }
}

fn sample() -> xdrtest::XtAll {
    let mut a = xdrtest::XtAll::default();
    a.prims.i = -7;
    a.prims.uh = u64::MAX;
    a.prims.s = -3;
    a.prims.c = -1;
    a.prims.b = true;
    a.prims.f = 1.5;
    a.prims.color = xdrtest::XtColor::Blue;
    a.prims.uuid.node = [1, 2, 3, 4, 5, -6];
    a.arrays.name = "name".into();
    a.arrays.chars = FixedChars::new("chars").unwrap();
    a.arrays.many[39] = 39;
    a.arrays.big_bytes[0] = 0xff;
    a.arrays.names = vec!["a".into(), "bb".into()];
    a.arrays.blobs = vec![vec![1, 2, 3]];
    a.arrays.colors = vec![xdrtest::XtColor::Red, xdrtest::XtColor::Green];
    a.list = Some(Box::new(xdrtest::XtNode {
        value: 1,
        next: Some(Box::new(xdrtest::XtNode {
            value: 2,
            next: None,
        })),
    }));
    a.maybe = Some(Box::new(a.prims.clone()));
    a.by_int = xdrtest::XtByInt::XtNeg("text".into());
    a.by_enum = xdrtest::XtByEnum::Red(xdrtest::XtNode::default());
    a.by_bool = xdrtest::XtByBool::True(5);
    a.strict = xdrtest::XtStrict::Case7(Box::new(a.arrays.clone()).as_ref().clone());
    a
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_and_errors() {
    within(async {
        let (_sep, addr) = server().await;
        let (_cep, c) = client(addr).await;
        let v = sample();
        assert_eq!(c.echo(&v).await.unwrap(), v);
        c.nothing().await.unwrap();
        let out = c.count("abc", 20).await.unwrap();
        assert_eq!(
            out,
            xt::CountOut {
                counter: 21,
                doubled: 40,
                history: vec![3, 20]
            }
        );
        assert_eq!(c.fail(0).await.unwrap(), "not secret");
        // An application error code becomes the abort code.
        match c.fail(12345).await {
            Err(RpcError::Aborted(code)) => assert_eq!(code.0, 12345),
            other => panic!("{other:?}"),
        }
        assert_eq!(c.long(32).await.unwrap().len(), 32);
        // A result over its bound: RXGEN_SS_MARSHAL.
        match c.long(33).await {
            Err(e) => assert_eq!(e.abort_code(), Some(AbortCode::RXGEN_SS_MARSHAL)),
            other => panic!("{other:?}"),
        }
        // An argument over its bound never leaves the client.
        match c.count("x".repeat(33), 1).await {
            Err(RpcError::Marshal(e)) => {
                assert_eq!(e.path(), ["XT_Count.name"]);
                assert_eq!(RpcError::Marshal(e).code(), AbortCode::RXGEN_CC_MARSHAL.0);
            }
            other => panic!("{other:?}"),
        }
        // Many calls at once.
        let mut tasks = Vec::new();
        for i in 0..32 {
            let c = c.clone();
            tasks.push(tokio::spawn(async move { c.ping(i).await.unwrap() }));
        }
        for (i, t) in tasks.into_iter().enumerate() {
            assert_eq!(t.await.unwrap(), i as i32);
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatcher_aborts() {
    within(async {
        let (_sep, addr) = server().await;
        let ep = RxEndpoint::bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let op = |n: u32| n.to_be_bytes().to_vec();
        // Unknown opcode.
        assert_eq!(
            abort_of(raw(&ep, addr, &op(999)).await),
            AbortCode::RXGEN_OPCODE
        );
        // Too short for an opcode.
        assert_eq!(
            abort_of(raw(&ep, addr, &[0, 0]).await),
            AbortCode::RXGEN_DECODE
        );
        // Truncated arguments.
        let mut req = op(xt::opcodes::ECHO);
        req.extend_from_slice(&[0, 0, 0, 1]);
        assert_eq!(
            abort_of(raw(&ep, addr, &req).await),
            AbortCode::RXGEN_SS_UNMARSHAL
        );
        // Trailing bytes after the arguments.
        let mut req = op(xt::opcodes::NOTHING);
        req.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(
            abort_of(raw(&ep, addr, &req).await),
            AbortCode::RXGEN_SS_UNMARSHAL
        );
        // A string over its declared bound (33 > XT_NAME).
        let mut req = op(xt::opcodes::COUNT);
        req.extend_from_slice(&33u32.to_be_bytes());
        req.extend_from_slice(&[b'x'; 36]);
        req.extend_from_slice(&[0, 0, 0, 1]);
        assert_eq!(
            abort_of(raw(&ep, addr, &req).await),
            AbortCode::RXGEN_SS_UNMARSHAL
        );
        // Arguments that end early (zeros are a valid start of an xt_all).
        let mut req = op(xt::opcodes::ECHO);
        req.extend_from_slice(&[0; 4 * 80]);
        assert_eq!(
            abort_of(raw(&ep, addr, &req).await),
            AbortCode::RXGEN_SS_UNMARSHAL
        );
        // An error: the abort comes first, no OUT data at all (OPENAFS-SA-2019-001).
        let mut req = op(xt::opcodes::FAIL);
        req.extend_from_slice(&77i32.to_be_bytes());
        assert_eq!(abort_of(raw(&ep, addr, &req).await), AbortCode(77));
        // And the success path of the same procedure sends its string.
        let mut req = op(xt::opcodes::FAIL);
        req.extend_from_slice(&0i32.to_be_bytes());
        let reply = raw(&ep, addr, &req).await.unwrap();
        assert_eq!(&reply[..4], &[0, 0, 0, 10]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_and_multi() {
    within(async {
        let (_sep, addr) = server().await;
        let (_cep, c) = client(addr).await;
        // Client to server.
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
        let mut s = c.start_sink(data.len() as u32).await.unwrap();
        for chunk in data.chunks(7000) {
            s.write_all(chunk).await.unwrap();
        }
        let sum = c.end_sink(s).await.unwrap();
        assert_eq!(sum, data.iter().map(|&b| u32::from(b)).sum::<u32>());
        // Server to client.
        let mut s = c.start_source(50_000).await.unwrap();
        let n = s.read_u32().await.unwrap();
        assert_eq!(n, 50_000);
        let got = s.read_exact(n as usize).await.unwrap();
        assert_eq!(got[250], 250);
        assert_eq!(got[251], 0);
        let sum = c.end_source(s).await.unwrap();
        assert_eq!(sum, got.iter().map(|&b| u32::from(b)).sum::<u32>());
        // Multi: the normal stub and the split pair.
        assert_eq!(c.ping(5).await.unwrap(), 5);
        let s = c.start_ping(6).await.unwrap();
        assert_eq!(c.end_ping(s).await.unwrap(), 6);
        // A sink that gets fewer bytes than announced: the server's read fails, and it
        // answers RXGEN_SS_UNMARSHAL.
        let mut s = c.start_sink(10).await.unwrap();
        s.write_all(&[1, 2, 3]).await.unwrap();
        match c.end_sink(s).await {
            Err(e) => assert_eq!(e.abort_code(), Some(AbortCode::RXGEN_SS_UNMARSHAL)),
            Ok(v) => panic!("{v}"),
        }
    })
    .await;
}

/// A hand-written server that answers `XT_Nothing` with junk: the generated client reports
/// an unmarshal error and aborts the call with RXGEN_CC_UNMARSHAL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_rejects_bad_replies() {
    within(async {
        let sep = RxEndpoint::bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let listener = sep.listen(&[XT_SERVICE], 4).await.unwrap();
        let addr = sep.local_addr();
        tokio::spawn(async move {
            while let Ok(incoming) = listener.accept().await {
                let call = incoming.into_call();
                tokio::spawn(async move {
                    let _ = call.recv_to_end(1 << 16).await;
                    let _ = call.send_last(Bytes::from_static(&[0, 0, 0, 9])).await;
                    let _ = call.completion().await;
                });
            }
        });
        let (_cep, c) = client(addr).await;
        match c.nothing().await {
            Err(RpcError::Unmarshal(e)) => {
                assert_eq!(e.kind(), &DecodeErrorKind::TrailingBytes { count: 4 })
            }
            other => panic!("{other:?}"),
        }
        match c.ping(1).await {
            Ok(9) => {}
            other => panic!("{other:?}"),
        }
        match c.fail(0).await {
            Err(RpcError::Unmarshal(e)) => {
                assert!(matches!(e.kind(), DecodeErrorKind::UnexpectedEnd { .. }));
                assert_eq!(e.path(), ["XT_Fail.secret"]);
            }
            other => panic!("{other:?}"),
        }
        // The raw runtime client with its own decode.
        let raw = RpcClient::new(c.rpc().endpoint(), addr, XT_SERVICE);
        let v = raw.call(1, |_| Ok(()), |d| d.u32()).await.unwrap();
        assert_eq!(v, 9);
    })
    .await;
}
