//! Where events go: audit records to stdout and error records to stderr, one line each in
//! KES's `slog` text format (spec §10.1, §10.2).

use std::io::Write as _;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, SystemTime};

use kes_core::{AuditEvent, ErrorEvent, EventSink, Level};

/// Writes audit events to stdout and error events to stderr.
///
/// The request path only formats the line and appends it to a buffer; a dedicated thread
/// writes the buffers every [`FLUSH_INTERVAL`] (sooner when [`WAKE_BYTES`] have piled up).
/// No request waits for the console or wakes a thread per line. When the writer falls
/// [`MAX_BYTES`] behind, requests wait for it: audit records are never dropped.
/// [`StdioSink::flush`] writes what is pending right away (at shutdown, before the banner).
#[derive(Debug, Clone)]
pub struct StdioSink {
    shared: Arc<Shared>,
}

/// How long a line may wait in the buffer.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(20);
/// Buffered bytes that wake the writer early.
pub const WAKE_BYTES: usize = 256 * 1024;
/// Buffered bytes at which requests wait for the writer.
pub const MAX_BYTES: usize = 8 * 1024 * 1024;

#[derive(Debug, Default)]
struct Buffers {
    out: Vec<u8>,
    err: Vec<u8>,
}

#[derive(Debug, Default)]
struct Shared {
    buffers: Mutex<Buffers>,
    /// Signals the writer (enough data) and waiting requests (space again).
    wake: Condvar,
    space: Condvar,
    /// Held while writing, so `flush` and the writer keep lines in order.
    writing: Mutex<()>,
}

impl Shared {
    fn buffers(&self) -> MutexGuard<'_, Buffers> {
        self.buffers.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(&self, err: bool, line: &str) {
        let mut b = self.buffers();
        while b.out.len() + b.err.len() > MAX_BYTES {
            self.wake.notify_one();
            b = self.space.wait(b).unwrap_or_else(|e| e.into_inner());
        }
        let buf = if err { &mut b.err } else { &mut b.out };
        let before = buf.len();
        buf.extend_from_slice(line.as_bytes());
        buf.push(b'\n');
        if err || (before < WAKE_BYTES && buf.len() >= WAKE_BYTES) {
            // Errors go out promptly; they are rare.
            self.wake.notify_one();
        }
    }

    /// Writes what is buffered. Returns whether there was anything.
    fn write_pending(&self, spare: &mut Buffers) -> bool {
        let _writing = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        {
            let mut b = self.buffers();
            std::mem::swap(&mut *b, spare);
        }
        self.space.notify_all();
        let any = !spare.out.is_empty() || !spare.err.is_empty();
        if !spare.err.is_empty() {
            let mut stderr = std::io::stderr().lock();
            let _ = stderr.write_all(&spare.err).and_then(|()| stderr.flush());
            spare.err.clear();
        }
        if !spare.out.is_empty() {
            let mut stdout = std::io::stdout().lock();
            let _ = stdout.write_all(&spare.out).and_then(|()| stdout.flush());
            spare.out.clear();
        }
        any
    }
}

impl StdioSink {
    /// Starts the writer thread.
    ///
    /// # Errors
    /// The thread could not be spawned.
    pub fn new() -> std::io::Result<Self> {
        let shared = Arc::new(Shared::default());
        let weak = Arc::downgrade(&shared);
        std::thread::Builder::new()
            .name("kes-log-writer".into())
            .spawn(move || writer(&weak))?;
        Ok(Self { shared })
    }

    /// Writes every buffered line now.
    pub fn flush(&self) {
        self.shared.write_pending(&mut Buffers::default());
    }
}

/// Writes the buffers until the sink is gone (then once more).
fn writer(shared: &Weak<Shared>) {
    let mut spare = Buffers::default();
    while let Some(shared) = shared.upgrade() {
        {
            let b = shared.buffers();
            if b.out.is_empty() && b.err.is_empty() {
                let _ = shared.wake.wait_timeout(b, FLUSH_INTERVAL);
            }
        }
        if !shared.write_pending(&mut spare) {
            // Nothing came: sleep without holding the sink alive.
            drop(shared);
            std::thread::sleep(FLUSH_INTERVAL);
        } else {
            // Let a burst collect before the next write.
            drop(shared);
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

impl Drop for StdioSink {
    fn drop(&mut self) {
        // The last handle writes what is left (the writer thread may already be asleep).
        if Arc::strong_count(&self.shared) == 1 {
            self.flush();
        }
    }
}

thread_local! {
    /// Each thread formats its lines in one reused buffer: no allocation per line.
    static LINE: std::cell::RefCell<String> = std::cell::RefCell::new(String::with_capacity(256));
}

/// Formats a line with `write` into the thread's buffer and pushes it.
fn push_formatted(shared: &Shared, err: bool, write: impl FnOnce(&mut String)) {
    LINE.with(|cell| match cell.try_borrow_mut() {
        Ok(mut line) => {
            line.clear();
            write(&mut line);
            shared.push(err, &line);
            if line.capacity() > 4096 {
                // One huge line (a long path) should not pin memory in every thread.
                *line = String::with_capacity(256);
            }
        }
        Err(_) => {
            let mut line = String::new();
            write(&mut line);
            shared.push(err, &line);
        }
    });
}

impl EventSink for StdioSink {
    fn audit(&self, ev: &AuditEvent<'_>) {
        push_formatted(&self.shared, false, |line| ev.write_text(line));
    }

    fn error(&self, ev: &ErrorEvent) {
        push_formatted(&self.shared, true, |line| ev.write_text(line));
    }
}

/// Writes `line` and a newline to stdout in one call; errors (a closed pipe) are ignored.
pub fn write_stdout(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(with_newline(line).as_bytes());
    let _ = out.flush();
}

/// Writes `line` and a newline to stderr in one call; errors are ignored.
pub fn write_stderr(line: &str) {
    let mut out = std::io::stderr().lock();
    let _ = out.write_all(with_newline(line).as_bytes());
    let _ = out.flush();
}

fn with_newline(line: &str) -> String {
    let mut s = String::with_capacity(line.len() + 1);
    s.push_str(line);
    s.push('\n');
    s
}

/// An error-log record without request attributes, for errors of the server itself (e.g.
/// `http: TLS handshake error from …`): `time=… level=INFO msg="…"`.
pub fn error_line(time: SystemTime, level: Level, message: &str) -> String {
    let mut s = String::with_capacity(48 + message.len());
    kes_core::events::write_plain_record(&mut s, time, level, message);
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn lines_are_buffered_and_flushed() {
        let sink = StdioSink::new().unwrap();
        sink.shared.push(false, "audit line");
        assert_eq!(sink.shared.buffers().out, b"audit line\n");
        sink.flush();
        assert!(sink.shared.buffers().out.is_empty());
        // The writer thread empties the buffers by itself.
        sink.shared.push(false, "another");
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !sink.shared.buffers().out.is_empty() {
            assert!(std::time::Instant::now() < deadline, "writer did not write");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn error_line_is_slog_text() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert_eq!(
            error_line(
                t,
                Level::INFO,
                "http: TLS handshake error from 1.2.3.4:5: eof"
            ),
            "time=2023-11-14T22:13:20.123Z level=INFO msg=\"http: TLS handshake error from 1.2.3.4:5: eof\""
        );
        assert_eq!(
            error_line(t, Level::WARN, "plain"),
            "time=2023-11-14T22:13:20.123Z level=WARN msg=plain"
        );
        assert!(error_line(t, Level::ERROR, "a\"b\nc").ends_with("msg=\"a\\\"b\\nc\""));
    }
}
