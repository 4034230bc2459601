//! Connections: TLS handshake, HTTP/1.1 or HTTP/2 (by ALPN) with hyper, timeouts, body
//! limits, and the bridge into [`kes_core::Server::handle`].
//!
//! Timeouts (spec §1.2, §1.5), as Go's `net/http` applies them in KES:
//! * the TLS handshake must finish within [`HttpSettings::handshake_timeout`] (5 s);
//! * HTTP/1.1: once the first byte of a request has arrived (or, on a fresh connection, once
//!   the handshake is done) its header must be complete within
//!   [`HttpSettings::header_timeout`] (5 s), or the connection is closed without a response.
//!   hyper's own header timeout also runs while a keep-alive connection waits for its next
//!   request, so this shell tracks the phases itself (`ConnState`);
//! * a connection without requests in flight for [`HttpSettings::idle_timeout`] (90 s) is
//!   shut down gracefully (HTTP/2: GOAWAY);
//! * every request has its route's deadline ([`kes_core::RouteInfo::timeout`]) for reading the
//!   body, handling it and writing the response; when it passes the stream (HTTP/2) or the
//!   connection (HTTP/1.1) is aborted without an HTTP error, as KES's write deadline does.
//!
//! Bodies are read only up to the route's limit plus one byte: kes-core then answers 400
//! without the rest ever being read.

use std::borrow::Cow;
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use bytes::{Buf, Bytes};
use futures_core::Stream;
use futures_util::task::AtomicWaker;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use kes_core::{Body, BodyStream, Level, Peer, RequestContext, Server};
use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::time::{Instant, Sleep};
use zeroize::Zeroizing;

use crate::sink::error_line;

/// Connection-level timeouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpSettings {
    /// Time for the TLS handshake (Go derives it from the header timeout: 5 s).
    pub handshake_timeout: Duration,
    /// Time from the first byte of a request to the end of its header (Go
    /// `ReadHeaderTimeout`, 5 s). HTTP/1.1 only; HTTP/2 frames its headers itself.
    pub header_timeout: Duration,
    /// Time a connection may stay without a request in flight (Go `IdleTimeout`, 90 s).
    pub idle_timeout: Duration,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            handshake_timeout: Duration::from_secs(5),
            header_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(90),
        }
    }
}

/// What every connection of a listener shares.
pub(crate) struct Listener {
    pub(crate) server: Arc<Server>,
    pub(crate) tls: Arc<ArcSwap<ServerConfig>>,
    pub(crate) settings: HttpSettings,
    pub(crate) shutdown: watch::Receiver<bool>,
    pub(crate) conns: Arc<ConnTracker>,
    /// The current `log.error` level, for errors the shell itself reports.
    pub(crate) error_level: Arc<AtomicI32>,
}

impl Listener {
    fn log_error(&self, level: Level, message: &str) {
        if Level(self.error_level.load(Ordering::Relaxed)).enabled(level) {
            crate::sink::write_stderr(&error_line(SystemTime::now(), level, message));
        }
    }
}

/// Counts open connections, so shutdown can wait for them, and tells the serving ones to
/// shut down.
#[derive(Debug, Default)]
pub(crate) struct ConnTracker {
    open: AtomicUsize,
    closed: Notify,
    /// The connections past their handshake, by registration number.
    serving: Mutex<HashMap<u64, Weak<ConnState>>>,
    next_id: AtomicU64,
    stopping: AtomicBool,
}

impl ConnTracker {
    fn enter(self: &Arc<Self>) -> ConnGuard {
        self.open.fetch_add(1, Ordering::AcqRel);
        ConnGuard(self.clone())
    }

    /// Number of open connections.
    pub(crate) fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// Waits until no connection is open.
    pub(crate) async fn wait_closed(&self) {
        loop {
            let notified = self.closed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.open() == 0 {
                return;
            }
            notified.await;
        }
    }

    fn serving(&self) -> MutexGuard<'_, HashMap<u64, Weak<ConnState>>> {
        self.serving.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a connection for [`ConnTracker::shut_down_all`] until the guard drops. A
    /// connection registered after that call is told at once.
    fn register<'a>(&'a self, state: &Arc<ConnState>) -> Registered<'a> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.serving().insert(id, Arc::downgrade(state));
        if self.stopping.load(Ordering::Acquire) {
            state.wake_driver(EVENT_SHUTDOWN);
        }
        Registered { tracker: self, id }
    }

    /// Tells every serving connection to shut down gracefully (HTTP/2: GOAWAY; HTTP/1.1: close
    /// after the response in flight).
    pub(crate) fn shut_down_all(&self) {
        self.stopping.store(true, Ordering::Release);
        let states: Vec<_> = self.serving().values().filter_map(Weak::upgrade).collect();
        for state in states {
            state.wake_driver(EVENT_SHUTDOWN);
        }
    }
}

/// Removes a connection from [`ConnTracker`]'s registry when dropped.
struct Registered<'a> {
    tracker: &'a ConnTracker,
    id: u64,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.tracker.serving().remove(&self.id);
    }
}

struct ConnGuard(Arc<ConnTracker>);

impl Drop for ConnGuard {
    fn drop(&mut self) {
        if self.0.open.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.closed.notify_waiters();
        }
    }
}

/// Accepts connections until shutdown is signalled; each runs in its own task.
pub(crate) async fn accept_loop(listener: TcpListener, shared: Arc<Listener>) {
    let mut shutdown = shared.shutdown.clone();
    loop {
        tokio::select! {
            biased;
            () = stopped(&mut shutdown) => {
                shared.conns.shut_down_all();
                break;
            }
            accepted = listener.accept() => match accepted {
                Ok((tcp, remote)) => {
                    let _ = tcp.set_nodelay(true);
                    let guard = shared.conns.enter();
                    let shared = shared.clone();
                    tokio::spawn(async move {
                        serve_connection(tcp, remote, &shared).await;
                        drop(guard);
                    });
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
}

async fn serve_connection(tcp: TcpStream, remote: SocketAddr, shared: &Arc<Listener>) {
    let acceptor = tokio_rustls::TlsAcceptor::from(shared.tls.load_full());
    let tls =
        match tokio::time::timeout(shared.settings.handshake_timeout, acceptor.accept(tcp)).await {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => {
                shared.log_error(
                    Level::INFO,
                    &format!("http: TLS handshake error from {remote}: {e}"),
                );
                return;
            }
            Err(_) => {
                shared.log_error(
                    Level::INFO,
                    &format!("http: TLS handshake error from {remote}: timeout"),
                );
                return;
            }
        };
    let (_, session) = tls.get_ref();
    let peer = match session.peer_certificates() {
        Some(chain) => Peer::from_certificates(chain),
        None => Peer::NoCertificate,
    };
    let h2 = session.alpn_protocol() == Some(b"h2");
    let state = Arc::new(ConnState::new(
        if h2 {
            None
        } else {
            Some(shared.settings.header_timeout)
        },
        shared.settings.idle_timeout,
    ));
    let io = TokioIo::new(Tracked {
        inner: tls,
        state: state.clone(),
        write_timer: None,
    });
    let service = Service {
        shared: shared.clone(),
        peer,
        remote,
        conn: state.clone(),
    };
    let _registered = shared.conns.register(&state);
    let result = if h2 {
        let mut builder = hyper::server::conn::http2::Builder::new(StreamExecutor {
            conn: state.clone(),
        });
        builder.timer(TokioTimer::new());
        let conn = builder.serve_connection(io, service);
        drive(conn, &state).await
    } else {
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(None)
            .keep_alive(true);
        let conn = builder.serve_connection(io, service);
        drive(conn, &state).await
    };
    if let Err(e) = result {
        tracing::debug!("connection from {remote} ended: {e}");
    }
}

/// A hyper server connection that can be shut down gracefully.
trait Graceful: Future<Output = Result<(), hyper::Error>> {
    fn shutdown(self: Pin<&mut Self>);
}

impl<I, S> Graceful for hyper::server::conn::http1::Connection<I, S>
where
    S: hyper::service::HttpService<Incoming>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    S::ResBody: HttpBody + 'static,
    <S::ResBody as HttpBody>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn shutdown(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

impl<I, S, E> Graceful for hyper::server::conn::http2::Connection<I, S, E>
where
    S: hyper::service::HttpService<Incoming>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    S::ResBody: HttpBody + 'static,
    <S::ResBody as HttpBody>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    E: hyper::rt::bounds::Http2ServerConnExec<S::Future, S::ResBody>,
{
    fn shutdown(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

/// Runs `conn` and enforces the header and idle timeouts, HTTP/1.1 response deadlines and
/// graceful shutdown.
///
/// The request path does not wake this task: it only updates [`ConnState`]. The driver instead
/// wakes at the next moment a timeout *could* fire, looks at the state, and acts or goes back
/// to sleep. Waiting HTTP/1.1 connections are looked at every header-timeout period, so a
/// header that starts arriving is cut exactly `header_timeout` after its first byte. A request
/// whose deadline comes before the driver's planned wake-up (a route timeout shorter than
/// that period) nudges it, so deadlines are exact too.
async fn drive<C: Graceful>(conn: C, state: &Arc<ConnState>) -> Result<(), hyper::Error> {
    tokio::pin!(conn);
    let mut closing = false;
    // An idle connection's graceful shutdown must end by then (HTTP/2 streams whose client
    // stopped reading the last frames of a response keep it open otherwise).
    let mut forced: Option<Instant> = None;
    let sleep = tokio::time::sleep_until(Instant::now());
    tokio::pin!(sleep);
    let conn_waker = Waker::from(state.clone());
    // One hand-written poll instead of `select!`: the connection is polled first and the
    // driver's own wake-ups (timer, nudge, server shutdown) cost an atomic swap and a timer
    // check per wake, with no futures to re-register on every request.
    std::future::poll_fn(|cx| {
        loop {
            if let Poll::Ready(result) = state.poll_conn(cx, &conn_waker, conn.as_mut()) {
                return Poll::Ready(result);
            }
            let events = state.events.swap(0, Ordering::AcqRel);
            if events & EVENT_SHUTDOWN != 0 && !closing {
                conn.as_mut().shutdown();
                closing = true;
                continue;
            }
            if sleep.as_mut().poll(cx).is_pending() && events & EVENT_NUDGE == 0 {
                return Poll::Pending;
            }
            let now = Instant::now();
            if forced.is_some_and(|at| now >= at) {
                return Poll::Ready(Ok(()));
            }
            match state.check(now, closing) {
                Check::Close => return Poll::Ready(Ok(())), // Go closes without a response.
                Check::Shutdown => {
                    conn.as_mut().shutdown();
                    closing = true;
                    forced = Some(now + IDLE_CLOSE_GRACE);
                }
                // Every planned time is in the future, so the next poll of `sleep` registers
                // the timer instead of firing.
                Check::SleepUntil(at) => sleep.as_mut().reset(forced.map_or(at, |f| at.min(f))),
            }
        }
    })
    .await
}

/// The waker the connection is polled with (see [`ConnState::poll_conn`]).
impl std::task::Wake for ConnState {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Being polled: ask for another poll. Already asked: nothing to do. Idle: wake the
        // task. (A poll that starts after this wake's event sees the event, so a wake that
        // found the connection idle just before a poll began is not lost.)
        if let Err(POLL_IDLE) = self.polling.compare_exchange(
            POLL_RUNNING,
            POLL_AGAIN,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            self.driver.wake();
        }
    }
}

/// How long the graceful shutdown of an idle connection may take before it is closed.
const IDLE_CLOSE_GRACE: Duration = Duration::from_secs(15);

/// Resolves once shutdown has been signalled (or the sender is gone).
async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

/// What the driver does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// The header took too long: drop the connection.
    Close,
    /// Idle for too long: shut down gracefully.
    Shutdown,
    /// Look again at this time.
    SleepUntil(Instant),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No request in flight, nothing received since the last response.
    Idle,
    /// Bytes of a request header have arrived (HTTP/1.1).
    Header,
    /// Requests in flight.
    Busy,
}

#[derive(Debug)]
struct PhaseState {
    phase: Phase,
    since: Instant,
    in_flight: usize,
    /// Deadline of the current HTTP/1.1 response (reading the body, handling, writing).
    write_deadline: Option<Instant>,
    /// When the driver looks next (`None` while it is not sleeping).
    wake_at: Option<Instant>,
    /// HTTP/2: the deadline of the stream whose service was just called, taken by
    /// [`StreamExecutor`] when hyper spawns that stream's task right after.
    stream_deadline: Option<Instant>,
}

/// Driver event: a deadline earlier than the driver's planned wake-up was set.
const EVENT_NUDGE: u8 = 1;
/// Driver event: the server is shutting down.
const EVENT_SHUTDOWN: u8 = 2;

/// [`ConnState::polling`]: the connection is not being polled; its wakes go to the task.
const POLL_IDLE: u8 = 0;
/// [`ConnState::polling`]: being polled.
const POLL_RUNNING: u8 = 1;
/// [`ConnState::polling`]: woken while being polled; poll again before returning.
const POLL_AGAIN: u8 = 2;
/// Polls again at most this often in a row; a future that keeps waking itself is yielding
/// (for example when tokio's cooperative budget is spent, which only returning to the
/// scheduler refills), and polling it again at once would spin.
const MAX_REPOLLS: usize = 2;

/// The timing state of one connection, shared by the IO wrapper, the service and the driver.
#[derive(Debug)]
struct ConnState {
    inner: Mutex<PhaseState>,
    /// The connection task, for [`ConnState::wake_driver`] and the connection's wakes.
    driver: AtomicWaker,
    /// `POLL_*`: whether [`ConnState::poll_conn`] is polling the connection.
    polling: AtomicU8,
    /// `EVENT_*` bits for the driver.
    events: AtomicU8,
    header_timeout: Option<Duration>,
    idle_timeout: Duration,
}

impl ConnState {
    fn new(header_timeout: Option<Duration>, idle_timeout: Duration) -> Self {
        // A fresh HTTP/1.1 connection must send its first header in time (Go arms the header
        // deadline right after the handshake); HTTP/2 starts idle.
        let phase = if header_timeout.is_some() {
            Phase::Header
        } else {
            Phase::Idle
        };
        Self {
            inner: Mutex::new(PhaseState {
                phase,
                since: Instant::now(),
                in_flight: 0,
                write_deadline: None,
                wake_at: None,
                stream_deadline: None,
            }),
            driver: AtomicWaker::new(),
            polling: AtomicU8::new(POLL_IDLE),
            events: AtomicU8::new(0),
            header_timeout,
            idle_timeout,
        }
    }

    fn lock(&self) -> MutexGuard<'_, PhaseState> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn on_read(&self) {
        if self.header_timeout.is_none() {
            return;
        }
        let mut s = self.lock();
        if s.phase == Phase::Idle {
            s.phase = Phase::Header;
            s.since = Instant::now();
        }
    }

    fn request_started(&self, deadline: Option<Instant>) {
        let mut s = self.lock();
        s.in_flight += 1;
        s.phase = Phase::Busy;
        if self.header_timeout.is_none() {
            // HTTP/2 multiplexes: the deadline belongs to the stream task hyper spawns next.
            s.stream_deadline = deadline;
            return;
        }
        // HTTP/1.1 answers one request at a time, so the connection's reads and writes belong
        // to this request until its response is written.
        s.write_deadline = deadline;
        let early = match (deadline, s.wake_at) {
            (Some(d), Some(wake)) => d < wake,
            _ => false,
        };
        drop(s);
        if early {
            self.wake_driver(EVENT_NUDGE);
        }
    }

    /// Sets `event` for the driver and wakes it.
    fn wake_driver(&self, event: u8) {
        self.events.fetch_or(event, Ordering::AcqRel);
        self.driver.wake();
    }

    /// Registers the task, then polls the connection `fut` with `waker` (made from this
    /// state) until it completes or returns pending without having woken itself.
    ///
    /// hyper wakes its own task while that task is being polled: its body channel hands a
    /// request body to the service within the same poll, and the receiver wakes the parked
    /// sender. Passed to tokio, such a wake makes the work-stealing scheduler requeue the
    /// task as a yield and wake a parked worker thread to help — a futex wake and a thread's
    /// round trip for every request with a body when the server is not saturated (measured
    /// in `docs/benchmarks.md`). The connection's waker therefore turns a wake that arrives
    /// during the poll into one more poll right away, and sends any other wake (the socket,
    /// a timer, another thread) to the task.
    fn poll_conn<F: Future>(
        &self,
        cx: &mut Context<'_>,
        waker: &Waker,
        mut fut: Pin<&mut F>,
    ) -> Poll<F::Output> {
        self.driver.register(cx.waker());
        let mut inner = Context::from_waker(waker);
        for _ in 0..=MAX_REPOLLS {
            self.polling.store(POLL_RUNNING, Ordering::Release);
            if let Poll::Ready(out) = fut.as_mut().poll(&mut inner) {
                self.polling.store(POLL_IDLE, Ordering::Release);
                return Poll::Ready(out);
            }
            // A wake that came in while polling left POLL_AGAIN: poll again. Otherwise every
            // later wake sees POLL_IDLE and goes to the task.
            if self
                .polling
                .compare_exchange(POLL_RUNNING, POLL_IDLE, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                return Poll::Pending;
            }
        }
        // Still waking itself: a yield (hyper's fairness budget, tokio's cooperative budget,
        // which only the scheduler refills). Hand it to the scheduler as one.
        self.polling.store(POLL_IDLE, Ordering::Release);
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// The deadline [`ConnState::request_started`] left for the stream hyper spawns now.
    fn take_stream_deadline(&self) -> Option<Instant> {
        self.lock().stream_deadline.take()
    }

    fn request_finished(&self) {
        let mut s = self.lock();
        s.in_flight = s.in_flight.saturating_sub(1);
        if s.in_flight == 0 {
            s.phase = Phase::Idle;
            s.since = Instant::now();
            s.write_deadline = None;
        }
    }

    fn write_deadline(&self) -> Option<Instant> {
        self.lock().write_deadline
    }

    /// The longest the driver may sleep without missing a timeout that starts meanwhile: a
    /// header can start arriving at any moment on HTTP/1.1, and a request can finish (and the
    /// idle time start) at any moment. Every new deadline is at least this far away.
    fn poll_period(&self) -> Duration {
        self.header_timeout
            .map_or(self.idle_timeout, |h| h.min(self.idle_timeout))
    }

    /// What to do at `now`. Once the connection is closing only the header timeout applies.
    fn check(&self, now: Instant, closing: bool) -> Check {
        let mut s = self.lock();
        let check = self.check_locked(&s, now, closing);
        s.wake_at = match check {
            Check::SleepUntil(at) => Some(at),
            Check::Close | Check::Shutdown => None,
        };
        check
    }

    fn check_locked(&self, s: &PhaseState, now: Instant, closing: bool) -> Check {
        match s.phase {
            Phase::Header => match self.header_timeout {
                Some(t) if now >= s.since + t => Check::Close,
                Some(t) => Check::SleepUntil((s.since + t).min(now + self.poll_period())),
                None => Check::SleepUntil(now + self.poll_period()),
            },
            Phase::Idle if !closing && now >= s.since + self.idle_timeout => Check::Shutdown,
            Phase::Idle if !closing => {
                Check::SleepUntil((s.since + self.idle_timeout).min(now + self.poll_period()))
            }
            Phase::Busy => match s.write_deadline {
                Some(d) if now >= d => Check::Close, // KES's write deadline: abort, no answer.
                Some(d) => Check::SleepUntil(d.min(now + self.poll_period())),
                None => Check::SleepUntil(now + self.poll_period()),
            },
            Phase::Idle => Check::SleepUntil(now + self.poll_period()),
        }
    }
}

/// The TLS stream, reporting reads to the [`ConnState`] and enforcing the response write
/// deadline while a write waits for the client.
struct Tracked<S> {
    inner: S,
    state: Arc<ConnState>,
    write_timer: Option<Pin<Box<Sleep>>>,
}

impl<S> Tracked<S> {
    /// Called when a write is pending: fails it once the response deadline has passed.
    fn check_write_deadline(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some(deadline) = self.state.write_deadline() else {
            return Poll::Pending;
        };
        let timer = self
            .write_timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if timer.deadline() != deadline {
            timer.as_mut().reset(deadline);
        }
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "response deadline exceeded",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.state.on_read();
        }
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, buf) {
            Poll::Pending => self.check_write_deadline(cx).map_ok(|()| 0),
            ready => ready,
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write_vectored(cx, bufs) {
            Poll::Pending => self.check_write_deadline(cx).map_ok(|()| 0),
            ready => ready,
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.inner).poll_flush(cx) {
            Poll::Pending => self.check_write_deadline(cx),
            ready => ready,
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Spawns hyper's HTTP/2 stream tasks, each bounded by its route's deadline: when it passes,
/// the task is dropped and h2 resets the stream (`RST_STREAM`), whether the handler is still
/// working or the client stopped reading the response — Go's per-stream write deadline.
///
/// hyper calls the service for a new stream and spawns that stream's task right after, on the
/// connection's task; [`Service::call`] leaves the deadline in the [`ConnState`] in between.
#[derive(Clone)]
struct StreamExecutor {
    conn: Arc<ConnState>,
}

impl<F> hyper::rt::Executor<F> for StreamExecutor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, fut: F) {
        match self.conn.take_stream_deadline() {
            Some(at) => {
                tokio::spawn(async move {
                    let _ = tokio::time::timeout_at(at, fut).await;
                });
            }
            None => {
                tokio::spawn(fut);
            }
        }
    }
}

/// Marks a request as in flight until the response body is done or dropped.
pub(crate) struct InFlight(Arc<ConnState>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.request_finished();
    }
}

/// Why a request was aborted without a response.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Abort {
    /// Reading the request body failed.
    #[error("failed to read request body: {0}")]
    Body(#[source] hyper::Error),
}

#[derive(Clone)]
struct Service {
    shared: Arc<Listener>,
    peer: Peer,
    remote: SocketAddr,
    conn: Arc<ConnState>,
}

impl hyper::service::Service<hyper::Request<Incoming>> for Service {
    type Response = hyper::Response<ResponseBody>;
    type Error = Abort;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Abort>> + Send>>;

    fn call(&self, req: hyper::Request<Incoming>) -> Self::Future {
        // Synchronous part: hyper spawns an HTTP/2 stream's task right after this returns, and
        // the [`StreamExecutor`] needs the route's deadline by then.
        let now = SystemTime::now();
        let start = Instant::now();
        let (parts, body) = req.into_parts();
        let path = request_path(&parts.uri);
        let route = self.shared.server.route(parts.method.as_str(), path);
        self.conn.request_started(route.timeout.map(|t| start + t));
        let in_flight = InFlight(self.conn.clone());
        // Everything but the body is converted here, so the boxed future (one allocation per
        // request) holds only what it needs after the first await.
        let mut request = kes_core::Request {
            method: kes_core::method_name(parts.method.as_str()),
            raw_path: path.to_owned(),
            query: parts.uri.query().map(str::to_owned),
            headers: convert_headers(&parts.headers),
            body: Vec::new(),
        };
        let ctx = RequestContext::new(self.peer.clone(), Some(self.remote), now);
        let server = self.shared.server.clone();
        // The deadline is enforced outside this future: on HTTP/1.1 by the connection
        // driver (which closes the connection), on HTTP/2 by the stream's task (which
        // resets the stream), so it also covers writing the response.
        Box::pin(Exchange {
            stage: Stage::Reading {
                body,
                buf: Vec::new(),
                limit: usize::try_from(route.max_body.saturating_add(1)).unwrap_or(usize::MAX),
                handle: Some(move |body: Vec<u8>| {
                    request.body = body;
                    Server::handle_arc(server, ctx, request)
                }),
            },
            shared: self.shared.clone(),
            in_flight: Some(in_flight),
        })
    }
}

pin_project_lite::pin_project! {
    /// One request as a two-stage future: read the body (at most `max_body + 1` bytes, enough
    /// for kes-core to tell that it is too large without reading the rest), then kes-core's
    /// answer. The stages share their storage, so the boxed future is about the size of
    /// kes-core's own; an `async` block would also keep the request and its context, which
    /// kes-core's future holds already.
    struct Exchange<H, F> {
        #[pin]
        stage: Stage<H, F>,
        shared: Arc<Listener>,
        in_flight: Option<InFlight>,
    }
}

pin_project_lite::pin_project! {
    #[project = StageProj]
    enum Stage<H, F> {
        Reading {
            body: Incoming,
            buf: Vec<u8>,
            limit: usize,
            handle: Option<H>,
        },
        Handling {
            #[pin]
            answer: F,
        },
        Done,
    }
}

impl<H, F> Future for Exchange<H, F>
where
    H: FnOnce(Vec<u8>) -> F,
    F: Future<Output = kes_core::Response>,
{
    type Output = Result<hyper::Response<ResponseBody>, Abort>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.stage.as_mut().project() {
                StageProj::Reading {
                    body,
                    buf,
                    limit,
                    handle,
                } => {
                    if buf.capacity() == 0 {
                        // One allocation of the announced size: growing the buffer would leave
                        // copies of the body (key material on import) in freed memory.
                        if let Some(len) = HttpBody::size_hint(&*body).exact() {
                            buf.reserve_exact(usize::try_from(len).unwrap_or(*limit).min(*limit));
                        }
                    }
                    // `is_end_stream` is true once the announced length has arrived, which
                    // spares the poll that would only report the end.
                    while buf.len() < *limit && !HttpBody::is_end_stream(&*body) {
                        match Pin::new(&mut *body).poll_frame(cx) {
                            Poll::Pending => return Poll::Pending,
                            Poll::Ready(None) => break,
                            Poll::Ready(Some(Err(e))) => {
                                this.stage.set(Stage::Done);
                                return Poll::Ready(Err(Abort::Body(e)));
                            }
                            Poll::Ready(Some(Ok(frame))) => {
                                if let Ok(data) = frame.into_data() {
                                    let take = data.len().min(*limit - buf.len());
                                    buf.extend_from_slice(data.get(..take).unwrap_or_default());
                                }
                            }
                        }
                    }
                    let Some(handle) = handle.take() else {
                        return Poll::Pending;
                    };
                    let answer = handle(std::mem::take(buf));
                    this.stage.set(Stage::Handling { answer });
                }
                StageProj::Handling { answer } => {
                    let Poll::Ready(response) = answer.poll(cx) else {
                        return Poll::Pending;
                    };
                    this.stage.set(Stage::Done);
                    let Some(in_flight) = this.in_flight.take() else {
                        return Poll::Pending;
                    };
                    return Poll::Ready(Ok(to_hyper(this.shared, response, in_flight)));
                }
                // Polled after completion: hyper never does.
                StageProj::Done => return Poll::Pending,
            }
        }
    }
}

/// The request's header fields for kes-core, in one buffer sized up front.
fn convert_headers(headers: &http::HeaderMap) -> kes_core::Headers {
    let bytes = headers
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len())
        .sum();
    let mut out = kes_core::Headers::with_capacity(headers.len(), bytes);
    for (name, value) in headers {
        match value.to_str() {
            Ok(text) => out.push(name.as_str(), text),
            // Bytes above 0x7f, which kes-core would not match anyway: a lossy copy.
            Err(_) => out.push(name.as_str(), &String::from_utf8_lossy(value.as_bytes())),
        }
    }
    out
}

/// The request path as kes-core routes it (`/` for an empty one).
fn request_path(uri: &http::Uri) -> &str {
    match uri.path() {
        "" => "/",
        p => p,
    }
}

/// Whether `v` is what `HeaderValue::from_static` accepts (visible ASCII, space, tab), so
/// that it cannot panic.
fn is_header_text(v: &str) -> bool {
    v.bytes().all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
}

/// The hyper response for kes-core's `response`; `in_flight` ends with its body.
fn to_hyper(
    shared: &Listener,
    response: kes_core::Response,
    in_flight: InFlight,
) -> hyper::Response<ResponseBody> {
    let mut body = ResponseBody {
        kind: Kind::Empty,
        stop: None,
        _in_flight: in_flight,
    };
    let mut empty = false;
    match response.body {
        Body::Empty => empty = true,
        Body::Full(bytes) if bytes.len() <= FRAME_BYTES => body.kind = Kind::Small(Some(bytes)),
        Body::Full(bytes) => {
            body.kind = Kind::Full {
                bytes: Arc::new(bytes),
                pos: 0,
            }
        }
        Body::Stream(stream) => {
            let mut shutdown = shared.shutdown.clone();
            body.kind = Kind::Stream(stream);
            body.stop = Some(Box::pin(async move { stopped(&mut shutdown).await }));
        }
    }
    let mut out = hyper::Response::new(body);
    *out.status_mut() = http::StatusCode::from_u16(response.status)
        .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    let headers = out.headers_mut();
    for (name, value) in response.headers {
        let value = match value {
            // kes-core's fixed values (`application/json`, …) need no copy.
            Cow::Borrowed(v) if is_header_text(v) => http::HeaderValue::from_static(v),
            Cow::Borrowed(v) => match http::HeaderValue::from_str(v) {
                Ok(v) => v,
                Err(_) => continue,
            },
            Cow::Owned(v) => match http::HeaderValue::try_from(v) {
                Ok(v) => v,
                Err(_) => continue,
            },
        };
        headers.append(name, value);
    }
    if empty {
        headers.insert(
            http::header::CONTENT_LENGTH,
            http::HeaderValue::from_static("0"),
        );
    }
    out
}

pub(crate) enum Kind {
    Empty,
    /// A complete body of at most [`FRAME_BYTES`], handed out as one frame (`None` once it
    /// is).
    Small(Option<Zeroizing<Vec<u8>>>),
    /// A larger complete body, handed out in frames of at most [`FRAME_BYTES`] from `pos` on.
    Full {
        bytes: Arc<Zeroizing<Vec<u8>>>,
        pos: usize,
    },
    Stream(BodyStream),
}

/// The largest frame a complete body is handed to hyper in. hyper's HTTP/2 stream task waits
/// for flow-control window before it takes the next frame, so a stream whose client stops
/// reading stays in its task (and under the route's deadline) instead of leaving a whole
/// response in h2's send buffer. HTTP/1.1 coalesces the frames in its write buffer.
pub(crate) const FRAME_BYTES: usize = 4096;

/// A response body: empty, one zeroizing buffer, or a log stream; log streams end at
/// shutdown.
pub(crate) struct ResponseBody {
    kind: Kind,
    stop: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    _in_flight: InFlight,
}

impl HttpBody for ResponseBody {
    type Data = Chunk;
    type Error = Abort;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Chunk>, Abort>>> {
        let this = &mut *self;
        match &mut this.kind {
            Kind::Empty => Poll::Ready(None),
            Kind::Small(bytes) => Poll::Ready(
                bytes
                    .take()
                    .map(|bytes| Ok(Frame::data(Chunk::Whole { bytes, pos: 0 }))),
            ),
            Kind::Full { bytes, pos } => {
                let start = *pos;
                if start >= bytes.len() {
                    return Poll::Ready(None);
                }
                let end = start.saturating_add(FRAME_BYTES).min(bytes.len());
                *pos = end;
                Poll::Ready(Some(Ok(Frame::data(Chunk::Secret {
                    bytes: bytes.clone(),
                    pos: start,
                    end,
                }))))
            }
            Kind::Stream(stream) => {
                if let Some(stop) = this.stop.as_mut() {
                    if stop.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(None);
                    }
                }
                match Pin::new(stream).poll_next(cx) {
                    Poll::Ready(Some(item)) => {
                        Poll::Ready(Some(Ok(Frame::data(Chunk::Plain(Bytes::from(item))))))
                    }
                    Poll::Ready(None) => Poll::Ready(None),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Empty => true,
            Kind::Small(bytes) => bytes.is_none(),
            Kind::Full { bytes, pos } => *pos >= bytes.len(),
            Kind::Stream(_) => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Empty => SizeHint::with_exact(0),
            Kind::Small(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            Kind::Full { bytes, pos } => {
                SizeHint::with_exact(bytes.len().saturating_sub(*pos) as u64)
            }
            Kind::Stream(_) => SizeHint::default(),
        }
    }
}

/// A chunk of response data. Full bodies (which may carry plaintext data keys) stay in their
/// zeroizing buffer until hyper has copied them out; a chunk is the range `pos..end` of it.
pub(crate) enum Chunk {
    /// A whole small body (the usual case: no shared buffer to allocate).
    Whole {
        bytes: Zeroizing<Vec<u8>>,
        pos: usize,
    },
    Secret {
        bytes: Arc<Zeroizing<Vec<u8>>>,
        pos: usize,
        end: usize,
    },
    Plain(Bytes),
}

impl Buf for Chunk {
    fn remaining(&self) -> usize {
        match self {
            Chunk::Whole { bytes, pos } => bytes.len().saturating_sub(*pos),
            Chunk::Secret { pos, end, .. } => end.saturating_sub(*pos),
            Chunk::Plain(b) => b.remaining(),
        }
    }

    fn chunk(&self) -> &[u8] {
        match self {
            Chunk::Whole { bytes, pos } => bytes.get(*pos..).unwrap_or_default(),
            Chunk::Secret { bytes, pos, end } => bytes.get(*pos..*end).unwrap_or_default(),
            Chunk::Plain(b) => b.chunk(),
        }
    }

    fn advance(&mut self, cnt: usize) {
        match self {
            Chunk::Whole { bytes, pos } => *pos = pos.saturating_add(cnt).min(bytes.len()),
            Chunk::Secret { pos, end, .. } => *pos = pos.saturating_add(cnt).min(*end),
            Chunk::Plain(b) => b.advance(cnt.min(b.remaining())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts the wakes of the task that polls the connection.
    #[derive(Default)]
    struct CountWakes(std::sync::atomic::AtomicUsize);
    impl std::task::Wake for CountWakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Wakes itself during its first `n` polls (as hyper's body channel does), then is ready.
    struct WakesItself(usize);
    impl Future for WakesItself {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if self.0 == 0 {
                return Poll::Ready(());
            }
            self.0 -= 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }

    /// The task's wake counter and waker, and a connection's state with its waker.
    fn wakers() -> (Arc<CountWakes>, Waker, Arc<ConnState>, Waker) {
        let task = Arc::new(CountWakes::default());
        let state = Arc::new(ConnState::new(None, Duration::from_secs(90)));
        (
            task.clone(),
            Waker::from(task),
            state.clone(),
            Waker::from(state),
        )
    }

    #[test]
    fn a_wake_during_the_poll_polls_again_without_waking_the_task() {
        let (task, task_waker, state, waker) = wakers();
        let mut cx = Context::from_waker(&task_waker);
        let mut fut = std::pin::pin!(WakesItself(MAX_REPOLLS));
        assert!(state.poll_conn(&mut cx, &waker, fut.as_mut()).is_ready());
        assert_eq!(task.0.load(Ordering::SeqCst), 0, "the task was not woken");
    }

    #[test]
    fn a_future_that_keeps_waking_itself_is_yielded_to_the_scheduler() {
        let (task, task_waker, state, waker) = wakers();
        let mut cx = Context::from_waker(&task_waker);
        let mut fut = std::pin::pin!(WakesItself(usize::MAX));
        assert!(state.poll_conn(&mut cx, &waker, fut.as_mut()).is_pending());
        assert_eq!(
            task.0.load(Ordering::SeqCst),
            1,
            "handed to the scheduler as a yield"
        );
    }

    #[test]
    fn a_wake_between_polls_wakes_the_task() {
        let (task, task_waker, state, waker) = wakers();
        let mut cx = Context::from_waker(&task_waker);
        // Pending without waking itself: the registered waker must reach the task later.
        let mut fut = std::pin::pin!(std::future::pending::<()>());
        let mut stored = None;
        let mut capture = std::pin::pin!(std::future::poll_fn(|cx| {
            stored = Some(cx.waker().clone());
            fut.as_mut().poll(cx)
        }));
        assert!(
            state
                .poll_conn(&mut cx, &waker, capture.as_mut())
                .is_pending()
        );
        assert_eq!(task.0.load(Ordering::SeqCst), 0);
        stored.take().unwrap().wake();
        assert_eq!(
            task.0.load(Ordering::SeqCst),
            1,
            "an outside wake reaches the task"
        );
    }

    #[test]
    fn header_text_is_what_from_static_accepts() {
        for ok in ["application/json", "text/plain; charset=utf-8", "a\tb", ""] {
            assert!(is_header_text(ok), "{ok:?}");
            let _ = http::HeaderValue::from_str(ok).unwrap();
        }
        for bad in ["a\nb", "a\rb", "\u{7f}", "é", "\0"] {
            assert!(!is_header_text(bad), "{bad:?}");
        }
    }

    #[test]
    fn chunk_reads_and_advances() {
        let mut c = Chunk::Secret {
            bytes: Arc::new(Zeroizing::new(b"hello!".to_vec())),
            pos: 0,
            end: 5,
        };
        assert_eq!(c.remaining(), 5);
        c.advance(2);
        assert_eq!(c.chunk(), b"llo");
        c.advance(10);
        assert_eq!(c.remaining(), 0);
        assert_eq!(c.chunk(), b"");
        let mut w = Chunk::Whole {
            bytes: Zeroizing::new(b"hello".to_vec()),
            pos: 0,
        };
        w.advance(3);
        assert_eq!(w.chunk(), b"lo");
        w.advance(9);
        assert_eq!(w.remaining(), 0);
        let mut p = Chunk::Plain(Bytes::from_static(b"ab"));
        p.advance(1);
        assert_eq!(p.chunk(), b"b");
    }

    #[tokio::test(start_paused = true)]
    async fn header_then_busy_then_idle_timeouts() {
        let t5 = Duration::from_secs(5);
        let s = ConnState::new(Some(t5), Duration::from_secs(90));
        let t0 = Instant::now();
        // Fresh HTTP/1.1 connection: the header timeout runs.
        assert_eq!(s.check(t0, false), Check::SleepUntil(t0 + t5));
        assert_eq!(s.check(t0 + t5, false), Check::Close);
        s.request_started(None);
        assert_eq!(s.check(t0 + t5, false), Check::SleepUntil(t0 + 2 * t5));
        tokio::time::advance(Duration::from_secs(1)).await;
        s.request_finished();
        let idle_since = Instant::now();
        // Idle: looked at every 5 s (a header may start any time), shut down after 90 s.
        assert_eq!(
            s.check(idle_since, false),
            Check::SleepUntil(idle_since + t5)
        );
        let late = idle_since + Duration::from_secs(88);
        assert_eq!(
            s.check(late, false),
            Check::SleepUntil(idle_since + Duration::from_secs(90))
        );
        assert_eq!(
            s.check(idle_since + Duration::from_secs(90), false),
            Check::Shutdown
        );
        assert_eq!(
            s.check(idle_since + Duration::from_secs(90), true),
            Check::SleepUntil(idle_since + Duration::from_secs(95))
        );
        // The next request's first bytes start the header timeout again.
        tokio::time::advance(Duration::from_secs(30)).await;
        s.on_read();
        let first_byte = Instant::now();
        assert_eq!(
            s.check(first_byte, false),
            Check::SleepUntil(first_byte + t5)
        );
        assert_eq!(s.check(first_byte + t5, false), Check::Close);
        // Reads while busy change nothing.
        s.request_started(None);
        s.on_read();
        assert_eq!(
            s.check(first_byte + t5, false),
            Check::SleepUntil(first_byte + 2 * t5)
        );
    }

    #[test]
    fn full_bodies_go_out_in_frames() {
        let data: Vec<u8> = (0..FRAME_BYTES * 2 + 10).map(|i| i as u8).collect();
        let mut body = ResponseBody {
            kind: Kind::Full {
                bytes: Arc::new(Zeroizing::new(data.clone())),
                pos: 0,
            },
            stop: None,
            _in_flight: InFlight(Arc::new(ConnState::new(None, Duration::from_secs(90)))),
        };
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let mut out = Vec::new();
        let mut frames = 0;
        assert_eq!(body.size_hint().exact(), Some(data.len() as u64));
        while let Poll::Ready(Some(Ok(frame))) = Pin::new(&mut body).poll_frame(&mut cx) {
            let mut chunk = frame.into_data().ok().unwrap();
            assert!(chunk.remaining() <= FRAME_BYTES);
            while chunk.has_remaining() {
                let n = chunk.chunk().len();
                out.extend_from_slice(chunk.chunk());
                chunk.advance(n);
            }
            frames += 1;
        }
        assert_eq!(frames, 3);
        assert_eq!(out, data);
        assert!(body.is_end_stream());
    }

    #[tokio::test(start_paused = true)]
    async fn http1_deadline_closes_and_nudges_the_driver() {
        let t5 = Duration::from_secs(5);
        let s = ConnState::new(Some(t5), Duration::from_secs(90));
        let t0 = Instant::now();
        s.request_started(None);
        s.request_finished();
        // The driver plans to look again in 5 s; a request with a 300 ms deadline nudges it.
        assert_eq!(s.check(t0, false), Check::SleepUntil(t0 + t5));
        let deadline = t0 + Duration::from_millis(300);
        s.request_started(Some(deadline));
        assert_eq!(s.events.swap(0, Ordering::AcqRel), EVENT_NUDGE);
        assert_eq!(s.check(t0, false), Check::SleepUntil(deadline));
        assert_eq!(s.check(deadline, false), Check::Close);
        // A deadline later than the planned wake-up does not wake the driver.
        s.request_finished();
        assert_eq!(s.check(t0, false), Check::SleepUntil(t0 + t5));
        s.request_started(Some(t0 + Duration::from_secs(15)));
        assert_eq!(s.events.load(Ordering::Acquire), 0);
        // HTTP/2 leaves the deadline to the stream's task.
        let h2 = ConnState::new(None, Duration::from_secs(90));
        h2.request_started(Some(deadline));
        assert_eq!(h2.take_stream_deadline(), Some(deadline));
        assert_eq!(h2.take_stream_deadline(), None);
        assert_eq!(
            h2.check(t0 + t5, false),
            Check::SleepUntil(t0 + t5 + Duration::from_secs(90))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn http2_has_no_header_timeout() {
        let idle = Duration::from_secs(90);
        let s = ConnState::new(None, idle);
        let t0 = Instant::now();
        assert_eq!(s.check(t0, false), Check::SleepUntil(t0 + idle));
        s.on_read();
        assert_eq!(s.check(t0, false), Check::SleepUntil(t0 + idle));
        s.request_started(None);
        s.request_started(None);
        s.request_finished();
        assert_eq!(s.check(t0 + idle, false), Check::SleepUntil(t0 + 2 * idle));
        s.request_finished();
        assert_eq!(s.check(t0 + idle, false), Check::Shutdown);
    }
}
