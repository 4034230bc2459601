//! Where events go: audit records to stdout and error records to stderr, one line each in
//! KES's `slog` text format (spec §10.1, §10.2).

use std::io::Write as _;
use std::sync::mpsc::{Receiver, SyncSender};
use std::time::SystemTime;

use kes_core::{AuditEvent, ErrorEvent, EventSink, Level};

/// Writes audit events to stdout and error events to stderr.
///
/// The request path only formats the line and queues it; a dedicated thread writes the
/// queued lines in batches, so a slow console never stalls a request and a busy server makes
/// one `write` per batch instead of one per event. The queue holds [`QUEUE_LINES`] lines;
/// when it is full, requests wait (audit records are not dropped).
#[derive(Debug, Clone)]
pub struct StdioSink {
    tx: SyncSender<Line>,
}

/// Capacity of the [`StdioSink`] queue.
pub const QUEUE_LINES: usize = 16 * 1024;

#[derive(Debug)]
enum Line {
    Out(String),
    Err(String),
}

impl StdioSink {
    /// Starts the writer thread.
    ///
    /// # Errors
    /// The thread could not be spawned.
    pub fn new() -> std::io::Result<Self> {
        let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE_LINES);
        std::thread::Builder::new()
            .name("kes-log-writer".into())
            .spawn(move || writer(&rx))?;
        Ok(Self { tx })
    }
}

fn writer(rx: &Receiver<Line>) {
    let mut out = Vec::with_capacity(64 * 1024);
    let mut err = Vec::new();
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        while let Some(line) = next {
            let (buf, text) = match &line {
                Line::Out(t) => (&mut out, t),
                Line::Err(t) => (&mut err, t),
            };
            buf.extend_from_slice(text.as_bytes());
            buf.push(b'\n');
            next = if out.len() + err.len() < 1 << 20 {
                rx.try_recv().ok()
            } else {
                None
            };
        }
        if !out.is_empty() {
            let mut stdout = std::io::stdout().lock();
            let _ = stdout.write_all(&out).and_then(|()| stdout.flush());
            out.clear();
        }
        if !err.is_empty() {
            let mut stderr = std::io::stderr().lock();
            let _ = stderr.write_all(&err).and_then(|()| stderr.flush());
            err.clear();
        }
    }
}

impl EventSink for StdioSink {
    fn audit(&self, ev: &AuditEvent<'_>) {
        let _ = self.tx.send(Line::Out(ev.to_text()));
    }

    fn error(&self, ev: &ErrorEvent) {
        let _ = self.tx.send(Line::Err(ev.to_text()));
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
    let t = time::OffsetDateTime::from(time);
    let mut s = format!(
        "time={:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z level={level} msg=",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    );
    if needs_quoting(message) {
        quote(&mut s, message);
    } else {
        s.push_str(message);
    }
    s
}

/// Go `slog`'s rule for quoting a text value.
fn needs_quoting(v: &str) -> bool {
    v.is_empty()
        || v.chars().any(|c| {
            if c.is_ascii() {
                c != '\\' && (c == ' ' || c == '=' || c == '"' || c.is_ascii_control())
            } else {
                c.is_whitespace() || c.is_control() || c == '\u{fffd}'
            }
        })
}

fn quote(s: &mut String, v: &str) {
    s.push('"');
    for c in v.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            c if c.is_control() => {
                use std::fmt::Write as _;
                let _ = write!(s, "\\u{:04x}", u32::from(c));
            }
            c => s.push(c),
        }
    }
    s.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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
