//! The load generator and bare baseline server behind `cargo xtask loadtest`.
//!
//! * `loadgen bare --cert-out FILE`: a bare hyper + rustls server with kes-server's TLS
//!   settings (the same `kes_server::tls::server_config`, a dev-mode style ECDSA P-256
//!   certificate, "any client certificate" mode, ALPN h2 + http/1.1) that reads every
//!   request's body and answers with a fixed 32-byte JSON body. Prints `ADDR <ip:port>` when
//!   ready.
//! * `loadgen run ...`: drives a kes-server and the bare server with the same client
//!   (keep-alive mTLS connections over HTTP/1.1 and HTTP/2, and a fresh handshake per
//!   request), and prints a Markdown report: requests/s, p50/p99 latency, the ratios to the
//!   bare server, open-loop latency at half of the peak rate, and memory with 10,000 idle
//!   keep-alive connections. Each comparison runs in alternating rounds (bare, generate,
//!   decrypt, bare, …) and reports the median round, so contention from anything else on
//!   the machine hits both servers alike. With `--open-only` it measures only the HTTP/1.1
//!   peaks and the open loop at half of them; `--separate-cores` says the servers and the
//!   generator have cores of their own (xtask's second run): the generator then polls, and
//!   the servers get real-time priority for the open loop.
//!
//! Not a benchmark harness of its own: `cargo xtask loadtest` builds it in release mode,
//! starts `kes-server --dev`, measures start-up time and idle memory, and runs this.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_docs
)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use kes_server::tls::{ClientAuth, ServerCredentials, TlsOptions};
use rustls::ClientConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    match args.first().map(String::as_str) {
        Some("bare") => rt.block_on(bare(&args[1..])),
        Some("run") => rt.block_on(run(Opts::parse(&args[1..]))),
        _ => {
            eprintln!("usage: loadgen bare --cert-out FILE | loadgen run --kes ADDR ...");
            std::process::exit(2);
        }
    }
}

fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

// ---- the bare server -------------------------------------------------------------------------

const BARE_BODY: &[u8; 32] = b"{\"status\":\"ok\",\"v\":\"0123456789\"}";

async fn bare(args: &[String]) {
    let cert_out = PathBuf::from(flag(args, "--cert-out").expect("--cert-out FILE"));
    let creds = kes_policy::dev_server_certificate(&[], time::OffsetDateTime::now_utc()).unwrap();
    std::fs::write(&cert_out, creds.certificate.to_pem()).unwrap();
    let config = kes_server::tls::server_config(&TlsOptions {
        credentials: ServerCredentials::from_generated(&creds).unwrap(),
        client_auth: ClientAuth::RequireAny,
        ca: Vec::new(),
    })
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    println!("ADDR {}", listener.local_addr().unwrap());
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let Ok(Ok(tls)) =
                tokio::time::timeout(Duration::from_secs(5), acceptor.accept(tcp)).await
            else {
                return;
            };
            let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
            let svc = hyper::service::service_fn(|req: hyper::Request<Incoming>| async {
                // Read the request body, as any handler of a POST must (and as kes-server
                // does), then answer.
                let _ = req.into_body().collect().await;
                let mut resp = hyper::Response::new(Full::new(Bytes::from_static(BARE_BODY)));
                resp.headers_mut().insert(
                    "content-type",
                    hyper::header::HeaderValue::from_static("application/json"),
                );
                Ok::<_, std::convert::Infallible>(resp)
            });
            let io = TokioIo::new(tls);
            if h2 {
                let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .timer(TokioTimer::new())
                    .serve_connection(io, svc)
                    .await;
            } else {
                let _ = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(5))
                    .serve_connection(io, svc)
                    .await;
            }
        });
    }
}

// ---- the client ------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Http {
    H1,
    H2,
}

#[derive(Clone)]
struct Target {
    addr: SocketAddr,
    /// The server's process, for its CPU time.
    pid: u32,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

impl Target {
    fn config(&self, http: Http, resumption: bool) -> Arc<ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(&self.ca).unwrap() {
            roots.add(c.unwrap()).unwrap();
        }
        let chain: Vec<_> = CertificateDer::pem_file_iter(&self.cert)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_file(&self.key).unwrap();
        let mut config =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_client_auth_cert(chain, key)
                .unwrap();
        config.alpn_protocols = vec![match http {
            Http::H1 => b"http/1.1".to_vec(),
            Http::H2 => b"h2".to_vec(),
        }];
        if !resumption {
            config.resumption = rustls::client::Resumption::disabled();
        }
        Arc::new(config)
    }
}

enum Sender {
    H1(hyper::client::conn::http1::SendRequest<Full<Bytes>>),
    H2(hyper::client::conn::http2::SendRequest<Full<Bytes>>),
}

struct Conn {
    sender: Sender,
    authority: String,
}

async fn connect(addr: SocketAddr, config: Arc<ClientConfig>) -> Result<Conn, BoxError> {
    let h2 = config.alpn_protocols == [b"h2".to_vec()];
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await?;
    let io = TokioIo::new(tls);
    let sender = if h2 {
        let (s, c) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io).await?;
        tokio::spawn(c);
        Sender::H2(s)
    } else {
        let (s, c) = hyper::client::conn::http1::handshake(io).await?;
        tokio::spawn(c);
        Sender::H1(s)
    };
    Ok(Conn {
        sender,
        authority: format!("localhost:{}", addr.port()),
    })
}

#[derive(Clone)]
struct Req {
    method: &'static str,
    path: String,
    body: Bytes,
}

impl Conn {
    async fn send(&mut self, req: &Req) -> Result<(u16, Bytes), BoxError> {
        let builder = hyper::Request::builder().method(req.method);
        let resp = match &mut self.sender {
            Sender::H1(s) => {
                let r = builder
                    .uri(req.path.as_str())
                    .header("host", self.authority.as_str())
                    .body(Full::new(req.body.clone()))?;
                s.ready().await?;
                s.send_request(r).await?
            }
            Sender::H2(s) => {
                let r = builder
                    .uri(format!("https://{}{}", self.authority, req.path))
                    .body(Full::new(req.body.clone()))?;
                s.ready().await?;
                s.send_request(r).await?
            }
        };
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }
}

// ---- measurements ----------------------------------------------------------------------------

/// The `p` quantile of sorted microsecond samples, in ms (NaN when there are none).
fn pct_ms(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[i.min(sorted.len() - 1)]) / 1000.0
}

/// The machine's stolen CPU time so far (`/proc/stat`, all CPUs), in ms; 0 where unknown.
fn steal_ms() -> f64 {
    std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| {
            let line = s.lines().next()?.to_owned();
            line.split_whitespace().nth(8)?.parse::<u64>().ok()
        })
        // USER_HZ is 100 on Linux.
        .map_or(0.0, |ticks| ticks as f64 * 10.0)
}

#[derive(Debug, Default, Clone)]
struct Stats {
    requests: u64,
    errors: u64,
    seconds: f64,
    /// CPU time the server process used during the measurement (user + system).
    server_cpu: f64,
    /// CPU time this load generator used during the measurement (open loop only).
    gen_cpu: f64,
    /// Latencies in microseconds, sorted.
    lat: Vec<u32>,
    /// Open loop only: the generator's release lag in microseconds, sorted — from a request's
    /// scheduled time until a connection task of the generator took it (its own scheduling,
    /// or all connections busy). Part of the latency; shows how much of a tail is waiting on
    /// the generator's side.
    lag: Vec<u32>,
    /// Open loop only: CPU time the hypervisor took from this VM's vCPUs during the
    /// measurement (`steal` in `/proc/stat`, both CPUs, 10 ms ticks), in ms. A vCPU that is
    /// descheduled by the host stops the server or the generator outright, and every request
    /// scheduled in that time waits for it.
    steal_ms: f64,
    /// Open loop on a core of its own only (`None` elsewhere): the generator's freezes.
    frozen: Option<Frozen>,
    /// Open loop with a polling pacer: (scheduled time, latency) per answered request, for
    /// [`Frozen`].
    samples: Vec<(Instant, u32)>,
}

/// The stretches in which the generator's thread did not run for more than [`FREEZE`] (its
/// pacer polls the clock every few microseconds, so a longer gap means the thread or its vCPU
/// was stopped).
#[derive(Debug, Clone)]
struct Frozen {
    times: usize,
    ms: f64,
    /// Latencies of the requests that were not scheduled inside a freeze, sorted.
    lat_outside: Vec<u32>,
}

impl Frozen {
    /// Summarises `freezes` (in time order) over the answered requests in `samples`.
    fn new(freezes: &[(Instant, Instant)], samples: Vec<(Instant, u32)>) -> Self {
        let inside = |t: Instant| {
            let i = freezes.partition_point(|(_, end)| *end < t);
            freezes.get(i).is_some_and(|(begin, _)| *begin <= t)
        };
        let mut lat_outside: Vec<u32> = samples
            .into_iter()
            .filter(|(at, _)| !inside(*at))
            .map(|(_, lat)| lat)
            .collect();
        lat_outside.sort_unstable();
        Self {
            times: freezes.len(),
            ms: freezes
                .iter()
                .fold(0.0, |ms, (a, b)| ms + (*b - *a).as_secs_f64() * 1e3),
            lat_outside,
        }
    }
}

/// A gap in the spinning pacer's clock reads that counts as the generator being frozen.
const FREEZE: Duration = Duration::from_millis(1);

impl Stats {
    fn rps(&self) -> f64 {
        self.requests as f64 / self.seconds
    }

    /// p99 of the release lag in ms, `–` for closed loops.
    fn lag_p99(&self) -> String {
        if self.lag.is_empty() {
            return "–".to_owned();
        }
        format!("{:.2}", self.lag_ms(0.99))
    }

    fn lag_ms(&self, p: f64) -> f64 {
        pct_ms(&self.lag, p)
    }

    /// Server CPU time per request, in microseconds.
    fn cpu_us(&self) -> f64 {
        self.server_cpu * 1e6 / self.requests.max(1) as f64
    }

    fn pct(&self, p: f64) -> f64 {
        pct_ms(&self.lat, p)
    }

    /// The round with the median throughput (its latencies come with it).
    fn median(mut rounds: Vec<Stats>) -> Stats {
        rounds.sort_by(|a, b| a.rps().total_cmp(&b.rps()));
        let mid = rounds.len() / 2;
        rounds.swap_remove(mid)
    }

    fn merge(parts: Vec<Stats>, seconds: f64) -> Stats {
        let mut all = Stats {
            seconds,
            ..Stats::default()
        };
        for p in parts {
            all.requests += p.requests;
            all.errors += p.errors;
            all.lat.extend(p.lat);
            all.lag.extend(p.lag);
            all.samples.extend(p.samples);
        }
        all.lat.sort_unstable();
        all.lag.sort_unstable();
        all
    }
}

/// `conns` workers each send `req` back to back (closed loop) on one keep-alive connection,
/// or on a fresh connection per request when `fresh`.
async fn closed_loop(
    target: &Target,
    http: Http,
    req: &Req,
    conns: usize,
    fresh: bool,
    warmup: Duration,
    measure: Duration,
) -> Stats {
    let config = target.config(http, false);
    let start = Instant::now() + Duration::from_millis(200);
    let from = start + warmup;
    let until = from + measure;
    let pid = target.pid;
    let cpu = tokio::spawn(async move {
        tokio::time::sleep_until(from.into()).await;
        let before = cpu_seconds(pid);
        tokio::time::sleep_until(until.into()).await;
        cpu_seconds(pid) - before
    });
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let (config, req, addr) = (config.clone(), req.clone(), target.addr);
        tasks.push(tokio::spawn(async move {
            let mut stats = Stats::default();
            let mut conn = None;
            tokio::time::sleep_until(start.into()).await;
            loop {
                let t0 = Instant::now();
                if t0 >= until {
                    break;
                }
                if conn.is_none() || fresh {
                    conn = connect(addr, config.clone()).await.ok();
                }
                let ok = match conn.as_mut() {
                    Some(c) => matches!(c.send(&req).await, Ok((200, _))),
                    None => false,
                };
                let done = Instant::now();
                if !ok {
                    conn = None;
                }
                if t0 >= from && done <= until {
                    if ok {
                        stats.requests += 1;
                        stats
                            .lat
                            .push(u32::try_from((done - t0).as_micros()).unwrap_or(u32::MAX));
                    } else {
                        stats.errors += 1;
                    }
                }
            }
            stats
        }));
    }
    let mut parts = Vec::new();
    for t in tasks {
        parts.push(t.await.unwrap());
    }
    let mut stats = Stats::merge(parts, measure.as_secs_f64());
    stats.server_cpu = cpu.await.unwrap();
    stats
}

/// User + system CPU time of process `pid` so far, in seconds (`/proc/PID/stat`).
fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name (which may contain spaces) start at field 3.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
        .sum();
    // USER_HZ is 100 on Linux.
    ticks as f64 / 100.0
}

/// Open loop: requests are released at `rate` per second at exact times and `conns`
/// keep-alive connections take them in turn. A request's latency counts from its scheduled
/// time, so when all connections are busy the wait is charged too (no coordinated
/// omission).
///
/// The generator must stay well below its own capacity here, or its own queue is what gets
/// measured, so the connections run on one thread with a single-threaded runtime (no work
/// stealing, no wake-ups between worker threads). Who releases the requests:
/// * on shared cores, a pacer thread that sleeps until the next request is due (at least
///   [`PACER_TICK`]) and releases what is due when it wakes, so a request may start up to
///   ~0.1 ms after its time; that is charged to the latency too;
/// * with a core of its own (`spin`), a task on the runtime that looks at the clock between
///   two polls of the sockets and never sleeps: no request waits for a thread to wake up,
///   and a gap of more than [`FREEZE`] between two looks means the generator itself was not
///   running (preempted, or its vCPU stopped). Those stretches are reported, and the latency
///   is also given without the requests scheduled inside them.
async fn open_loop(
    target: &Target,
    http: Http,
    req: &Req,
    conns: usize,
    rate: f64,
    measure: Duration,
    spin: bool,
) -> Stats {
    let run = OpenLoop {
        config: target.config(http, false),
        addr: target.addr,
        pid: target.pid,
        req: req.clone(),
        conns,
        rate,
        measure,
        spin,
    };
    let thread = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(open_loop_local(run))
    });
    tokio::task::spawn_blocking(move || thread.join().unwrap())
        .await
        .unwrap()
}

/// Where the open loop's pacer runs.
enum Pacer {
    /// A task on the generator's runtime that polls the clock (`--separate-cores`).
    Task(tokio::task::JoinHandle<Vec<(Instant, Instant)>>),
    /// A thread that sleeps until the next request is due.
    Thread(std::thread::JoinHandle<()>),
}

/// Shortest time the pacer sleeps: it wakes at most 10,000 times a second.
const PACER_TICK: Duration = Duration::from_micros(100);

/// One open-loop measurement, moved to the generator's own thread.
struct OpenLoop {
    config: Arc<ClientConfig>,
    addr: SocketAddr,
    /// The server's process, for its CPU time.
    pid: u32,
    req: Req,
    conns: usize,
    rate: f64,
    measure: Duration,
    /// Poll the clock instead of sleeping (the generator has a core of its own).
    spin: bool,
}

async fn open_loop_local(run: OpenLoop) -> Stats {
    let OpenLoop {
        config,
        addr,
        pid,
        req,
        conns,
        rate,
        measure,
        spin,
    } = run;
    // Connect first (handshakes are not what this measures), then start the clock.
    let mut ready = Vec::new();
    for _ in 0..conns {
        ready.push(connect(addr, config.clone()).await.ok());
    }
    let steal_before = steal_ms();
    let start = Instant::now() + Duration::from_millis(100);
    let until = start + measure;
    let cpu = tokio::spawn(async move {
        tokio::time::sleep_until(start.into()).await;
        let me = std::process::id();
        let before = (cpu_seconds(pid), cpu_seconds(me));
        tokio::time::sleep_until(until.into()).await;
        (cpu_seconds(pid) - before.0, cpu_seconds(me) - before.1)
    });
    let (tx, rx) = async_channel::unbounded::<Instant>();
    let interval = Duration::from_secs_f64(1.0 / rate);
    // Releases every request whose time has come; `None` once the schedule is done.
    let mut k: u32 = 0;
    let mut release = move |now: Instant| -> Option<Instant> {
        let mut due = start + interval * k;
        while due <= now {
            if due >= until || tx.try_send(due).is_err() {
                return None;
            }
            k += 1;
            due = start + interval * k;
        }
        (due < until).then_some(due)
    };
    let pacer = if spin {
        // A core of its own: poll instead of sleeping. `yield_now` lets the runtime poll its
        // sockets (epoll with a zero timeout) between two looks at the clock, so no request
        // waits for a thread to wake up.
        Pacer::Task(tokio::spawn(async move {
            let mut freezes = Vec::new();
            let mut last = Instant::now();
            loop {
                let now = Instant::now();
                if now - last > FREEZE {
                    freezes.push((last, now));
                }
                last = now;
                if release(now).is_none() {
                    return freezes;
                }
                tokio::task::yield_now().await;
            }
        }))
    } else {
        Pacer::Thread(std::thread::spawn(move || {
            while let Some(due) = release(Instant::now()) {
                std::thread::sleep(
                    due.saturating_duration_since(Instant::now())
                        .max(PACER_TICK),
                );
            }
        }))
    };
    let mut tasks = Vec::new();
    for conn in ready {
        let (config, req, rx) = (config.clone(), req.clone(), rx.clone());
        tasks.push(tokio::spawn(async move {
            let mut stats = Stats::default();
            let mut conn = conn;
            while let Ok(scheduled) = rx.recv().await {
                let taken = Instant::now() - scheduled;
                stats
                    .lag
                    .push(u32::try_from(taken.as_micros()).unwrap_or(u32::MAX));
                let ok = match conn.as_mut() {
                    Some(c) => matches!(c.send(&req).await, Ok((200, _))),
                    None => false,
                };
                if ok {
                    stats.requests += 1;
                    let lat = Instant::now() - scheduled;
                    let lat = u32::try_from(lat.as_micros()).unwrap_or(u32::MAX);
                    stats.lat.push(lat);
                    if spin {
                        // Only a polling pacer measures freezes to match them against.
                        stats.samples.push((scheduled, lat));
                    }
                } else {
                    stats.errors += 1;
                    conn = connect(addr, config.clone()).await.ok();
                }
            }
            stats
        }));
    }
    drop(rx);
    let mut parts = Vec::new();
    for t in tasks {
        parts.push(t.await.unwrap());
    }
    let mut stats = Stats::merge(parts, measure.as_secs_f64());
    let samples = std::mem::take(&mut stats.samples);
    stats.frozen = match pacer {
        Pacer::Task(t) => Some(Frozen::new(&t.await.unwrap(), samples)),
        Pacer::Thread(t) => {
            t.join().unwrap();
            None
        }
    };
    stats.steal_ms = steal_ms() - steal_before;
    (stats.server_cpu, stats.gen_cpu) = cpu.await.unwrap();
    stats
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

/// Opens `n` keep-alive connections (one request each) and keeps them open.
async fn open_idle(target: &Target, n: usize) -> (Vec<Conn>, usize, Duration) {
    let config = target.config(Http::H1, false);
    let sem = Arc::new(tokio::sync::Semaphore::new(32));
    let version = Req {
        method: "GET",
        path: "/version".into(),
        body: Bytes::new(),
    };
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..n {
        let (config, sem, version, addr) =
            (config.clone(), sem.clone(), version.clone(), target.addr);
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire().await.unwrap();
            let mut c = connect(addr, config).await.ok()?;
            matches!(c.send(&version).await, Ok((200, _))).then_some(c)
        }));
    }
    let mut conns = Vec::new();
    for t in tasks {
        if let Some(c) = t.await.unwrap() {
            conns.push(c);
        }
    }
    let failed = n - conns.len();
    (conns, failed, start.elapsed())
}

// ---- the run -----------------------------------------------------------------------------------

struct Opts {
    kes: Target,
    kes_pid: u32,
    bare: Target,
    bare_pid: u32,
    ready_ms: String,
    bare_ready_ms: String,
    idle_rss_kb: u64,
    bare_idle_rss_kb: u64,
    conns: usize,
    warmup: Duration,
    measure: Duration,
    idle_conns: usize,
    rounds: usize,
    /// Only the HTTP/1.1 peaks and the open loop at half of them (the run on separate cores).
    open_only: bool,
    /// The servers run on a core of their own (`taskset`), the generator on another.
    separate: bool,
}

impl Opts {
    fn parse(args: &[String]) -> Self {
        let get = |n: &str| {
            flag(args, n)
                .unwrap_or_else(|| panic!("missing {n}"))
                .to_owned()
        };
        let num = |n: &str, d: u64| flag(args, n).map_or(d, |v| v.parse().unwrap());
        let client = |prefix: &str, addr: String| Target {
            addr: addr.parse().unwrap(),
            pid: num(&format!("--{prefix}-pid"), 0) as u32,
            ca: PathBuf::from(get(&format!("--{prefix}-ca"))),
            cert: PathBuf::from(get("--cert")),
            key: PathBuf::from(get("--key")),
        };
        Self {
            kes: client("kes", get("--kes")),
            kes_pid: num("--kes-pid", 0) as u32,
            bare: client("bare", get("--bare")),
            bare_pid: num("--bare-pid", 0) as u32,
            ready_ms: get("--ready-ms"),
            bare_ready_ms: get("--bare-ready-ms"),
            idle_rss_kb: num("--idle-rss-kb", 0),
            bare_idle_rss_kb: num("--bare-idle-rss-kb", 0),
            conns: num("--conns", 16) as usize,
            warmup: Duration::from_secs(num("--warmup", 1)),
            measure: Duration::from_secs(num("--seconds", 3)),
            rounds: num("--rounds", 5).max(1) as usize,
            idle_conns: num("--idle-conns", 10_000) as usize,
            open_only: args.iter().any(|a| a == "--open-only"),
            separate: args.iter().any(|a| a == "--separate-cores"),
        }
    }
}

/// Open loops against the bare server (at `bare_rate`) and kes-server's generate and decrypt
/// (both at `kes_rate`) in `o.rounds` rotating rounds; per workload the round with the median
/// p99.
async fn open_rounds(
    o: &Opts,
    (bare_req, generate, decrypt): (&Req, &Req, &Req),
    bare_rate: f64,
    kes_rate: f64,
    label: &str,
) -> (Stats, Stats, Stats, Vec<(&'static str, Stats)>) {
    let n = o.conns;
    let m = o.measure;
    let mut all: Vec<(usize, Stats)> = Vec::new();
    for round in 0..o.rounds {
        step(&format!("{label}, round {}/{}", round + 1, o.rounds));
        for k in 0..3 {
            let (i, target, req, rate) = match (k + round) % 3 {
                0 => (0, &o.bare, bare_req, bare_rate),
                1 => (1, &o.kes, generate, kes_rate),
                _ => (2, &o.kes, decrypt, kes_rate),
            };
            let s = open_loop(target, Http::H1, req, n, rate, m, o.separate).await;
            step(&format!(
                "  {}: p99 {:.2} ms, generator lag p99 {:.2} ms, CPU use: server {:.0} %, generator {:.0} %",
                WORKLOADS[i],
                s.pct(0.99),
                s.lag_ms(0.99),
                s.server_cpu * 100.0 / s.seconds,
                s.gen_cpu * 100.0 / s.seconds,
            ));
            all.push((i, s));
        }
    }
    // Per workload the round with the median p99 (a copy for the summary; every round stays
    // in the list).
    let [b, g, d] = [0, 1, 2].map(|i| {
        let mut mine: Vec<&Stats> = all
            .iter()
            .filter(|(w, _)| *w == i)
            .map(|(_, s)| s)
            .collect();
        mine.sort_by(|a, b| a.pct(0.99).total_cmp(&b.pct(0.99)));
        mine[mine.len() / 2].clone()
    });
    (
        b,
        g,
        d,
        all.into_iter().map(|(i, s)| (WORKLOADS[i], s)).collect(),
    )
}

/// The open-loop workloads, in the order of [`open_rounds`]'s index.
const WORKLOADS: [&str; 3] = ["bare server", "generate", "decrypt"];

/// Closed loops over HTTP/1.1 against the bare server and kes-server's generate (a fresh
/// connection per request when `fresh`) in `o.rounds` rounds; the first workload alternates
/// (with fresh connections every connection leaves a TIME_WAIT socket behind, and the second
/// workload of a round finds more of them). Per workload the median round.
async fn bare_vs_generate(
    o: &Opts,
    (bare_req, generate): (&Req, &Req),
    fresh: bool,
    label: &str,
) -> [Stats; 2] {
    let (w, m, n) = (o.warmup, o.measure, o.conns);
    let mut rounds: [Vec<Stats>; 2] = Default::default();
    for round in 0..o.rounds {
        step(&format!("{label}, round {}/{}", round + 1, o.rounds));
        for k in 0..2 {
            let (i, target, req) = if (k + round) % 2 == 0 {
                (0, &o.bare, bare_req)
            } else {
                (1, &o.kes, generate)
            };
            rounds[i].push(closed_loop(target, Http::H1, req, n, fresh, w, m).await);
        }
        round_line(&rounds, &["generate"]);
    }
    rounds.map(Stats::median)
}

/// The HTTP/1.1 peaks (closed loop, rotating rounds, median), then the open loop at half of
/// them, and a report of its own; xtask's run with the servers on a core of their own, or
/// (`--latency-only`) on the shared cores.
///
/// On their own core the servers also get real-time priority for the open loop when the
/// system allows it (`chrt -f 1`, root or CAP_SYS_NICE): that reserves the core the way an
/// isolated CPU would. Without it the VM's own kernel threads (DAMON's `kdamond` runs 4–6 ms
/// bursts) and other processes preempt the servers, and those waits, not the servers, set
/// the p99. The peaks are measured before, at normal priority.
async fn open_only(o: &Opts, (bare_req, generate, decrypt): (&Req, &Req, &Req)) {
    let place = if o.separate {
        "separate cores"
    } else {
        "shared cores"
    };
    let [pb, pg] =
        bare_vs_generate(o, (bare_req, generate), false, &format!("{place}: peaks")).await;
    let reserved = o.separate && [o.kes_pid, o.bare_pid].iter().all(|&pid| reserve_core(pid));
    let (b, g, d, rounds) = open_rounds(
        o,
        (bare_req, generate, decrypt),
        pb.rps() / 2.0,
        pg.rps() / 2.0,
        &format!("{place}: half of peak (open loop)"),
    )
    .await;
    println!();
    if o.separate {
        println!(
            "Servers on CPU 1 with one tokio worker each{}, the generator on CPU 0 (`taskset`), \
             polling instead of sleeping:",
            if reserved {
                " and real-time priority for the open loop (`chrt -f 1`)"
            } else {
                " (real-time priority not permitted: kernel threads and other processes may \
                 preempt them)"
            }
        );
    } else {
        println!("Servers and generator on the machine's shared cores:");
    }
    println!();
    println!(
        "| workload | requests/s | p50 (ms) | p99 (ms) | generator lag p99 (ms) | server CPU per request (µs) | server CPU use |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (name, s) in [
        ("bare server, HTTP/1.1, keep-alive (peak)", &pb),
        ("generate, HTTP/1.1, keep-alive (peak)", &pg),
    ] {
        println!(
            "| {name} | {:.0} | {:.2} | {:.2} | – | {:.1} | {:.0} % |",
            s.rps(),
            s.pct(0.5),
            s.pct(0.99),
            s.cpu_us(),
            s.cpu_us() * s.rps() / 1e4
        );
    }
    for (name, s) in [
        ("bare server at half its peak, open loop", &b),
        ("generate at half its peak, open loop", &g),
        ("decrypt at half generate's peak, open loop", &d),
    ] {
        println!(
            "| {name} | {:.0} | {:.2} | {:.2} | {} | {:.1} | {:.0} % |",
            s.rps(),
            s.pct(0.5),
            s.pct(0.99),
            s.lag_p99(),
            s.cpu_us(),
            s.server_cpu * 100.0 / s.seconds
        );
    }
    println!();
    print_rounds(&rounds);
    println!();
    if !o.separate {
        println!("{}", shared_p99_line(g.pct(0.99), d.pct(0.99), b.pct(0.99)));
        return;
    }
    for (what, p99) in [("generate", g.pct(0.99)), ("decrypt", d.pct(0.99))] {
        let verdict = if p99 <= 2.0 { "PASS" } else { "MISS" };
        println!("- {verdict} {what} p99 ≤ 2 ms at half of peak ({place}, median round)");
    }
}

/// Gives every thread of `pid` real-time priority 1 (`chrt -a -f -p 1`); false where that is
/// not permitted.
fn reserve_core(pid: u32) -> bool {
    let ok = std::process::Command::new("chrt")
        .args(["-a", "-f", "-p", "1", &pid.to_string()])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    step(&format!("real-time priority for process {pid}: {ok}"));
    ok
}

/// Every open-loop round, in the order they ran.
fn print_rounds(rounds: &[(&str, Stats)]) {
    println!(
        "| open-loop round | p99 (ms) | p99 without generator freezes (ms) | generator lag p99 (ms) | generator frozen (times, ms) | steal (ms) | server CPU use |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (name, s) in rounds {
        let frozen = match &s.frozen {
            None => ("–".to_owned(), "not measured".to_owned()),
            Some(f) => (
                format!("{:.2}", pct_ms(&f.lat_outside, 0.99)),
                format!("{}, {:.1}", f.times, f.ms),
            ),
        };
        println!(
            "| {name} | {:.2} | {} | {} | {} | {:.0} | {:.0} % |",
            s.pct(0.99),
            frozen.0,
            s.lag_p99(),
            frozen.1,
            s.steal_ms,
            s.server_cpu * 100.0 / s.seconds
        );
    }
}

fn step(what: &str) {
    eprintln!("loadgen: {what}");
}

/// Prints the latest round of a comparison, to tell the spread within a run from that between
/// runs: `rounds[0]` is the bare server, `rounds[1..]` the workloads named in `names`.
fn round_line(rounds: &[Vec<Stats>], names: &[&str]) {
    let Some(bare) = rounds.first().and_then(|r| r.last()) else {
        return;
    };
    let mut line = format!("  bare {:.0}/s {:.1} µs", bare.rps(), bare.cpu_us());
    let mut ratios = Vec::new();
    for (name, workload) in names.iter().zip(&rounds[1..]) {
        let Some(s) = workload.last() else {
            return;
        };
        line.push_str(&format!(", {name} {:.0}/s {:.1} µs", s.rps(), s.cpu_us()));
        ratios.push(format!("{:.2}", s.rps() / bare.rps().max(1.0)));
    }
    let label = if ratios.len() == 1 { "ratio" } else { "ratios" };
    step(&format!("{line} ({label} {})", ratios.join(" / ")));
}

async fn run(o: Opts) {
    let admin = Target::config(&o.kes, Http::H1, false);
    let mut c = connect(o.kes.addr, admin).await.unwrap();
    let create = Req {
        method: "POST",
        path: "/v1/key/create/loadtest".into(),
        body: Bytes::new(),
    };
    let (status, _) = c.send(&create).await.unwrap();
    assert!(status == 200 || status == 400, "create: {status}");
    // MinIO sends its context as associated data with every request.
    let context = "eyJidWNrZXQiOiJidWNrZXQvb2JqZWN0In0="; // {"bucket":"bucket/object"}
    let generate = Req {
        method: "POST",
        path: "/v1/key/generate/loadtest".into(),
        body: Bytes::from(format!("{{\"context\":\"{context}\"}}")),
    };
    let (status, dek) = c.send(&generate).await.unwrap();
    assert_eq!(status, 200);
    let dek = String::from_utf8(dek.to_vec()).unwrap();
    let ciphertext = dek
        .split("\"ciphertext\":\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned();
    let decrypt = Req {
        method: "POST",
        path: "/v1/key/decrypt/loadtest".into(),
        body: Bytes::from(format!(
            "{{\"ciphertext\":\"{ciphertext}\",\"context\":\"{context}\"}}"
        )),
    };
    let bare_req = Req {
        method: "POST",
        path: "/v1/key/generate/loadtest".into(),
        body: generate.body.clone(),
    };
    drop(c);

    let (w, m, n) = (o.warmup, o.measure, o.conns);
    if o.open_only {
        open_only(&o, (&bare_req, &generate, &decrypt)).await;
        return;
    }
    let mut rows: Vec<(String, Stats)> = Vec::new();
    let mut peak = std::collections::HashMap::new();
    // The machine is shared by the servers and this generator (and maybe other work): the
    // workloads of one comparison run in alternating rounds and the median round counts.
    for http in [Http::H1, Http::H2] {
        let tag = match http {
            Http::H1 => "HTTP/1.1",
            Http::H2 => "HTTP/2",
        };
        let mut rounds: [Vec<Stats>; 3] = Default::default();
        for round in 0..o.rounds {
            step(&format!(
                "{tag} keep-alive, round {}/{}",
                round + 1,
                o.rounds
            ));
            // Rotate the order, so no workload always runs right after another.
            for k in 0..3 {
                match (k + round) % 3 {
                    0 => {
                        rounds[0].push(closed_loop(&o.bare, http, &bare_req, n, false, w, m).await)
                    }
                    1 => rounds[1].push(closed_loop(&o.kes, http, &generate, n, false, w, m).await),
                    _ => rounds[2].push(closed_loop(&o.kes, http, &decrypt, n, false, w, m).await),
                }
            }
            round_line(&rounds, &["generate", "decrypt"]);
        }
        let [bare, gen_stats, dec] = rounds.map(Stats::median);
        peak.insert((tag, "bare"), bare.rps());
        peak.insert((tag, "generate"), gen_stats.rps());
        rows.push((format!("bare server, {tag}, keep-alive"), bare));
        rows.push((format!("generate, {tag}, keep-alive"), gen_stats));
        rows.push((format!("decrypt, {tag}, keep-alive"), dec));
    }
    let [fresh_bare, fresh_kes] =
        bare_vs_generate(&o, (&bare_req, &generate), true, "fresh handshakes").await;
    rows.push((
        "bare server, new TLS connection per request".into(),
        fresh_bare,
    ));
    rows.push(("generate, new TLS connection per request".into(), fresh_kes));

    // Open loop at half of the peak, in rotating rounds like the comparisons above; the
    // round with the median p99 counts (one scheduling hiccup of the shared machine should
    // not decide, nor should the luckiest round).
    let (half_bare, half_gen, half_dec, open_all) = open_rounds(
        &o,
        (&bare_req, &generate, &decrypt),
        peak[&("HTTP/1.1", "bare")] / 2.0,
        peak[&("HTTP/1.1", "generate")] / 2.0,
        "half of peak (open loop)",
    )
    .await;
    rows.push(("bare server at half its peak, HTTP/1.1".into(), half_bare));
    rows.push(("generate at half its peak, HTTP/1.1".into(), half_gen));
    rows.push(("decrypt at half generate's peak, HTTP/1.1".into(), half_dec));

    step(&format!("{} idle keep-alive connections", o.idle_conns));
    let before = rss_kb(o.kes_pid);
    let (idle, failed, took) = open_idle(&o.kes, o.idle_conns).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let with_idle = rss_kb(o.kes_pid);
    let opened = idle.len();
    drop(idle);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kb(o.kes_pid);
    let bare_rss_now = rss_kb(o.bare_pid);
    let (bare_idle, bare_failed, _) = open_idle(&o.bare, o.idle_conns).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let bare_with_idle = rss_kb(o.bare_pid);
    let bare_opened = bare_idle.len();
    drop(bare_idle);

    // ---- report ----
    let get = |name: &str| &rows.iter().find(|(n, _)| n == name).unwrap().1;
    println!(
        "| workload | requests/s | p50 (ms) | p99 (ms) | generator lag p99 (ms) | server CPU per request (µs) | errors |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (name, s) in &rows {
        let cpu = if s.server_cpu > 0.0 {
            format!("{:.1}", s.cpu_us())
        } else {
            "–".to_owned()
        };
        println!(
            "| {name} | {:.0} | {:.2} | {:.2} | {} | {cpu} | {} |",
            s.rps(),
            s.pct(0.50),
            s.pct(0.99),
            s.lag_p99(),
            s.errors
        );
    }
    println!();
    print_rounds(&open_all);
    println!();
    println!(
        "| ratio (kes-server / bare server) | requests/s | bare CPU / kes CPU per request | target |"
    );
    println!("|---|---:|---:|---|");
    let ratio = |a: &str, b: &str| get(a).rps() / get(b).rps();
    let cpu_ratio = |a: &str, b: &str| get(b).cpu_us() / get(a).cpu_us();
    let mut verdicts = Vec::new();
    for (tag, label) in [("HTTP/1.1", "HTTP/1.1"), ("HTTP/2", "HTTP/2")] {
        for op in ["generate", "decrypt"] {
            let (a, b) = (
                format!("{op}, {tag}, keep-alive"),
                format!("bare server, {tag}, keep-alive"),
            );
            let r = ratio(&a, &b);
            println!(
                "| {op} {label} | {r:.2} | {:.2} | ≥ 0.85 |",
                cpu_ratio(&a, &b)
            );
            verdicts.push((format!("{op} {label} ≥ 0.85× bare"), r >= 0.85));
        }
    }
    let (a, b) = (
        "generate, new TLS connection per request",
        "bare server, new TLS connection per request",
    );
    let r = ratio(a, b);
    println!(
        "| fresh handshakes | {r:.2} | {:.2} | ≥ 0.9 |",
        cpu_ratio(a, b)
    );
    verdicts.push(("fresh handshakes ≥ 0.9× bare".into(), r >= 0.9));
    println!();
    println!("| memory and start-up | kes-server | bare server |");
    println!("|---|---:|---:|");
    println!(
        "| start to ready | {} ms | {} ms |",
        o.ready_ms, o.bare_ready_ms
    );
    println!(
        "| RSS idle after start | {:.1} MB | {:.1} MB |",
        o.idle_rss_kb as f64 / 1024.0,
        o.bare_idle_rss_kb as f64 / 1024.0
    );
    println!(
        "| RSS before the idle connections (after the load) | {:.1} MB | {:.1} MB |",
        before as f64 / 1024.0,
        bare_rss_now as f64 / 1024.0
    );
    println!(
        "| RSS with {opened} idle keep-alive connections ({failed} failed, opened in {:.1} s; bare: {bare_opened}, {bare_failed} failed) | {:.1} MB | {:.1} MB |",
        took.as_secs_f64(),
        with_idle as f64 / 1024.0,
        bare_with_idle as f64 / 1024.0
    );
    println!(
        "| RSS 2 s after closing them | {:.1} MB | |",
        after as f64 / 1024.0
    );
    verdicts.push((
        "idle RSS ≤ 20 MB".into(),
        o.idle_rss_kb > 0 && o.idle_rss_kb <= 20 * 1024,
    ));
    println!();
    for (what, ok) in &verdicts {
        println!("- {} {what}", if *ok { "PASS" } else { "MISS" });
    }
    println!(
        "{}",
        shared_p99_line(
            get("generate at half its peak, HTTP/1.1").pct(0.99),
            get("decrypt at half generate's peak, HTTP/1.1").pct(0.99),
            get("bare server at half its peak, HTTP/1.1").pct(0.99),
        )
    );
}

/// The report's line for the open loop on the shared cores. Not a verdict: there the servers,
/// the generator and the VM's kernel threads take turns on two vCPUs, and the bare server
/// misses 2 ms as well (`docs/decisions.md`, "Load test"); the target is judged on the run
/// with the servers on a core of their own.
fn shared_p99_line(generate: f64, decrypt: f64, bare: f64) -> String {
    format!(
        "- INFO p99 at half of peak on the shared cores (median round; not a target, see \
         docs/decisions.md): generate {generate:.2} ms, decrypt {decrypt:.2} ms, bare server \
         {bare:.2} ms"
    )
}
