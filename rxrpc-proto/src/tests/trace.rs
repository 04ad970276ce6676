//! Reference tracing: every change of a call's holders is a `tracing` event; replaying the
//! events of a whole scenario must show each call's holders rising and falling one at a time
//! and ending at zero with a `free` event (a leak or a double release would break this).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

use super::*;
use crate::wire::AbortCode;

#[derive(Default, Debug, Clone)]
struct Ev {
    endpoint: u64,
    call: u64,
    generation: u64,
    why: String,
    holders: u64,
}

impl Visit for Ev {
    fn record_u64(&mut self, f: &Field, v: u64) {
        match f.name() {
            "endpoint" => self.endpoint = v,
            "call" => self.call = v,
            "generation" => self.generation = v,
            "holders" => self.holders = v,
            _ => {}
        }
    }
    fn record_str(&mut self, f: &Field, v: &str) {
        if f.name() == "why" {
            self.why = v.to_string();
        }
    }
    fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
}

thread_local! {
    /// Where this thread's `rxrpc::call` events go while a test collects them.
    static SINK: std::cell::RefCell<Option<Arc<Mutex<Vec<Ev>>>>> =
        const { std::cell::RefCell::new(None) };
}

/// A global subscriber that hands events to the current thread's sink. Global rather than
/// scoped (`with_default`): tracing caches per-callsite interest process-wide, so with tests
/// running in parallel threads a scoped subscriber can miss callsites another thread
/// registered first.
struct Collect;

impl<S: tracing::Subscriber> Layer<S> for Collect {
    fn on_event(&self, e: &tracing::Event<'_>, _: Context<'_, S>) {
        if e.metadata().target() == "rxrpc::call" {
            SINK.with(|sink| {
                if let Some(v) = sink.borrow().as_ref() {
                    let mut ev = Ev::default();
                    e.record(&mut ev);
                    v.lock().unwrap().push(ev);
                }
            });
        }
    }
}

fn install_global_collector() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let sub = tracing_subscriber::registry().with(Collect);
        // Another test binary setup could have installed one first; then events still flow
        // to it, and the assertion below says so.
        let _ = tracing::subscriber::set_global_default(sub);
    });
}

#[test]
fn brief_reference_trace_balances_to_zero_for_every_call() {
    install_global_collector();
    let events = Arc::new(Mutex::new(Vec::new()));
    SINK.with(|sink| *sink.borrow_mut() = Some(events.clone()));
    {
        let (mut net, cs, ss) = pair(201, 6);
        // A normal call, read to the end on both sides.
        let now = net.now;
        let p = params(&net);
        net.ep(0).begin_call(now, cs, 1, p).unwrap();
        net.ep(0)
            .send(now, cs, 1, Bytes::from_static(b"q"), false)
            .unwrap();
        let mut replied = false;
        let mut done = 0;
        net.run_until(Duration::from_secs(5), |n| {
            let now = n.now;
            while let Some(m) = n.ep(1).recvmsg(now, ss, 100) {
                if m.end_of_data && !replied {
                    n.ep(1)
                        .send(now, ss, m.user_id, Bytes::from_static(b"r"), false)
                        .unwrap();
                    replied = true;
                }
                if m.terminal.is_some() {
                    done += 1;
                }
            }
            while let Some(m) = n.ep(0).recvmsg(now, cs, 100) {
                if m.terminal.is_some() {
                    done += 1;
                }
            }
            done == 2
        });
        // Calls in flight when the client socket closes; a rejected call; a dropped charge.
        for id in 2..5 {
            let p = params(&net);
            net.ep(0).begin_call(now, cs, id, p).unwrap();
            let now = net.now;
            net.ep(0)
                .send(now, cs, id, Bytes::from(vec![0u8; 50_000]), true)
                .unwrap();
        }
        net.run_for(Duration::from_millis(3));
        let now = net.now;
        net.ep(0).close_socket(now, cs);
        net.run_for(Duration::from_millis(50));
        let now = net.now;
        while let Some(m) = net.ep(1).recvmsg(now, ss, 1 << 20) {
            if m.terminal.is_none() {
                let _ = net.ep(1).reject_call(now, ss, m.user_id, AbortCode(9));
            }
        }
        net.run_for(Duration::from_secs(1));
        let now = net.now;
        net.ep(1).shutdown(now).unwrap();
        net.ep(0).shutdown(now).unwrap();
    }
    SINK.with(|sink| *sink.borrow_mut() = None);
    let events = events.lock().unwrap().clone();
    assert!(events.len() > 20, "tracing events were emitted");
    let mut per_call: HashMap<(u64, u64, u64), Vec<Ev>> = HashMap::new();
    // Slots are reused with a new generation; also reuse across the two endpoints is
    // disambiguated by requiring each sequence to start with new-* and end with free.
    for e in events {
        per_call
            .entry((e.endpoint, e.call, e.generation))
            .or_default()
            .push(e);
    }
    for (id, evs) in per_call {
        // Split each slot's history into lives: new-* ... free.
        let mut count: i64 = -1;
        for e in &evs {
            if e.why.starts_with("new-") {
                assert_eq!(count, -1, "{id:?}: created twice without free: {evs:?}");
                count = e.holders as i64;
                continue;
            }
            assert!(count >= 0, "{id:?}: event before creation: {e:?}");
            let expect = if e.why.starts_with("get-") {
                count + 1
            } else if e.why.starts_with("put-") {
                count - 1
            } else {
                count
            };
            assert_eq!(
                e.holders as i64, expect,
                "{id:?}: holders out of balance at {e:?}"
            );
            count = expect;
            if e.why == "free" {
                assert_eq!(count, 0, "{id:?}: freed while held");
                count = -1;
            }
        }
        assert_eq!(count, -1, "{id:?}: never freed: {evs:?}");
    }
}
