//! kes-core benches: `Server::handle` for generate and decrypt (in-memory keystore, warm key
//! cache) next to the kes-crypto floor they wrap, in one run
//! (`cargo bench -p kes-benches --bench core`).
//!
//! * `core/generate/{admin,policy}` and `core/decrypt/{admin,policy}`: a whole request through
//!   the core — routing, authentication, authorisation (admin bypass or a policy match), JSON
//!   decoding, the cached key, the crypto, JSON encoding, metrics and the audit event (to a
//!   no-op sink).
//! * `floor/generate_dek` and `floor/decrypt`: the same crypto calls on a `KeyVersion`.
//!
//! Target: core − floor ≤ 1 µs per request. Results: `docs/benchmarks.md` ("kes-core").
//!
//! The handler futures never wait here (in-memory store, warm cache), so they are polled with
//! a no-op waker: no executor overhead is charged to the core.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    missing_docs
)]

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, SystemTime};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use kes_core::{
    Clock, Peer, PolicyOptions, Request, RequestContext, Server, ServerEnv, ServerOptions,
};
use kes_crypto::{KeyAlgorithm, KeyVersion};
use kes_keystore::MemKeyStore;

const ADMIN: &str = "3ecfcdf38fcbe141ae26a1030f81e96b753365a46760ae6b578698a97c59fd22";
const APP: &str = "ea9826089311fe44d7590408ede9150f7c637b6cab0a91ee6fe1aa5d9fb366f6";
/// The associated data MinIO sends for an SSE-S3 object key.
const CONTEXT: &[u8] = br#"{"my-bucket":"my-bucket/my-object"}"#;

struct FixedClock;
impl Clock for FixedClock {
    fn now(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }
}

/// Polls a future that is expected to be ready without waiting.
fn ready<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

fn b64(bytes: &[u8]) -> String {
    kes_types::json::encode_base64(bytes)
}

fn server() -> Server {
    let mut opts = ServerOptions::new(ADMIN, Arc::new(MemKeyStore::new()));
    opts.policies = vec![PolicyOptions::new(
        "minio",
        [
            "/v1/key/create/minio-*",
            "/v1/key/generate/minio-*",
            "/v1/key/decrypt/minio-*",
            "/v1/key/list/*",
            "/v1/status",
        ],
        ["/v1/key/delete/*"],
        [APP],
    )];
    let now = FixedClock.now();
    let server = Server::new(opts, ServerEnv::new(Arc::new(FixedClock)), now).unwrap();
    let ctx = RequestContext::new(Peer::Certificate(ADMIN.parse().unwrap()), None, now);
    let r = ready(server.handle(ctx, Request::new("PUT", "/v1/key/create/minio-key")));
    assert_eq!(r.status, 200);
    server
}

fn core(c: &mut Criterion) {
    let server = server();
    let now = FixedClock.now();
    let generate = Request::new("POST", "/v1/key/generate/minio-key")
        .with_body(format!("{{\"context\":\"{}\"}}", b64(CONTEXT)));

    // Warm the cache and get a ciphertext to decrypt.
    let admin = RequestContext::new(Peer::Certificate(ADMIN.parse().unwrap()), None, now);
    let app = RequestContext::new(Peer::Certificate(APP.parse().unwrap()), None, now);
    let r = ready(server.handle(admin.clone(), generate.clone()));
    assert_eq!(r.status, 200);
    let v: serde_json::Value = serde_json::from_slice(r.body_bytes()).unwrap();
    let decrypt = Request::new("POST", "/v1/key/decrypt/minio-key").with_body(format!(
        "{{\"ciphertext\":\"{}\",\"context\":\"{}\"}}",
        v["ciphertext"].as_str().unwrap(),
        b64(CONTEXT)
    ));
    assert_eq!(
        ready(server.handle(app.clone(), decrypt.clone())).status,
        200
    );

    let mut g = c.benchmark_group("core");
    for (who, ctx) in [("admin", &admin), ("policy", &app)] {
        for (op, req) in [("generate", &generate), ("decrypt", &decrypt)] {
            g.bench_function(format!("{op}/{who}"), |b| {
                b.iter_batched(
                    || (ctx.clone(), req.clone()),
                    |(ctx, req)| {
                        let r = ready(server.handle(ctx, req));
                        assert_eq!(r.status, 200);
                        r
                    },
                    BatchSize::SmallInput,
                )
            });
        }
    }
    // What a shell pays to learn a route's limits before reading the body.
    g.bench_function("route", |b| {
        b.iter(|| server.route(black_box("POST"), black_box("/v1/key/generate/minio-key")))
    });
    g.finish();

    // The kes-crypto floor: the same operations on a parsed key, no server around them.
    let version = KeyVersion::generate(
        KeyAlgorithm::Aes256,
        time::OffsetDateTime::UNIX_EPOCH,
        ADMIN,
    )
    .unwrap();
    let dek = version.generate_dek(CONTEXT).unwrap();
    let mut g = c.benchmark_group("floor");
    g.bench_function("generate_dek", |b| {
        b.iter(|| version.generate_dek(black_box(CONTEXT)).unwrap())
    });
    g.bench_function("decrypt", |b| {
        b.iter(|| {
            version
                .decrypt(black_box(dek.ciphertext()), black_box(CONTEXT))
                .unwrap()
        })
    });
    g.finish();

    // A noise-robust pairing for shared machines: alternate batches of the core request and
    // its floor and keep each one's fastest batch. Printed as the per-request overhead.
    let batches = 300;
    let per_batch = 200;
    let mut best = [f64::MAX; 4];
    for _ in 0..batches {
        let ops: [&dyn Fn(); 4] = [
            &|| {
                let r = ready(server.handle(admin.clone(), generate.clone()));
                black_box(r);
            },
            &|| {
                black_box((admin.clone(), generate.clone()));
                black_box(version.generate_dek(black_box(CONTEXT)).unwrap());
            },
            &|| {
                let r = ready(server.handle(app.clone(), decrypt.clone()));
                black_box(r);
            },
            &|| {
                black_box((app.clone(), decrypt.clone()));
                black_box(
                    version
                        .decrypt(black_box(dek.ciphertext()), CONTEXT)
                        .unwrap(),
                );
            },
        ];
        for (i, op) in ops.iter().enumerate() {
            let start = std::time::Instant::now();
            for _ in 0..per_batch {
                op();
            }
            let ns = start.elapsed().as_nanos() as f64 / f64::from(per_batch);
            best[i] = best[i].min(ns);
        }
    }
    println!(
        "paired minimum: core generate {:.0} ns vs floor {:.0} ns (+{:.0} ns); core decrypt (policy) {:.0} ns vs floor {:.0} ns (+{:.0} ns)",
        best[0],
        best[1],
        best[0] - best[1],
        best[2],
        best[3],
        best[2] - best[3]
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    targets = core
}
criterion_main!(benches);
