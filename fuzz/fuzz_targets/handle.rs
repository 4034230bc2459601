//! `kes_core::Server::handle` with arbitrary requests: any method, raw path, headers, body and
//! peer. No input may panic, every answer is a KES status (never a 5xx with the in-memory
//! store), and error answers carry KES's JSON body.

#![no_main]

use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, SystemTime};

use kes_core::{
    Clock, Peer, PolicyOptions, Request, RequestContext, Server, ServerEnv, ServerOptions,
};
use kes_keystore::MemKeyStore;
use libfuzzer_sys::fuzz_target;

const ADMIN: &str = "3ecfcdf38fcbe141ae26a1030f81e96b753365a46760ae6b578698a97c59fd22";
const APP: &str = "ea9826089311fe44d7590408ede9150f7c637b6cab0a91ee6fe1aa5d9fb366f6";

struct Fixed;
impl Clock for Fixed {
    fn now(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }
}

/// The in-memory store never waits, so one poll loop with a no-op waker drives a request.
fn ready<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let mut opts = ServerOptions::new(ADMIN, Arc::new(MemKeyStore::new()));
        opts.policies = vec![PolicyOptions::new(
            "app",
            ["/v1/key/*", "/v1/status"],
            ["/v1/key/delete/*"],
            [APP],
        )];
        let server = Server::new(opts, ServerEnv::new(Arc::new(Fixed)), Fixed.now()).unwrap();
        let ctx = RequestContext::new(Peer::Certificate(ADMIN.parse().unwrap()), None, Fixed.now());
        ready(server.handle(ctx, Request::new("PUT", "/v1/key/create/k")));
        server
    })
}

const METHODS: [&str; 6] = ["GET", "PUT", "POST", "DELETE", "HEAD", "PATCH"];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    // `path \n header-name: value \n ... \n\n body`
    let text = String::from_utf8_lossy(rest);
    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let path = lines.next().unwrap_or("/");
    let mut req = Request::new(METHODS[usize::from(selector % 6)], path).with_body(body.as_bytes());
    for line in lines {
        if let Some((n, v)) = line.split_once(':') {
            req = req.with_header(n.trim(), v.trim());
        }
    }
    let peer = match (selector / 6) % 4 {
        0 => Peer::NoCertificate,
        1 => Peer::Certificate(ADMIN.parse().unwrap()),
        2 => Peer::Certificate(APP.parse().unwrap()),
        _ => Peer::Insecure,
    };
    let server = server();
    let r = ready(server.handle(RequestContext::new(peer, None, Fixed.now()), req));
    assert!(r.status < 500, "status {}", r.status);
    if r.status >= 400 && r.header("content-type") == Some("application/json") {
        assert!(r.body_bytes().starts_with(b"{\"message\":"));
    }
});
