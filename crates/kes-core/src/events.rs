//! Audit and error events (spec §10.1, §10.2, §4.4 log streams).
//!
//! The core produces one [`AuditEvent`] per request and an [`ErrorEvent`] for every store or
//! crypto failure (and the lower-level diagnostics). Events leave the core in two ways:
//! - through the [`EventSink`] the shell installs (it writes [`AuditEvent::to_text`] to stdout
//!   and [`ErrorEvent::to_text`] to stderr, KES's `slog` text format), filtered by the
//!   configured `log.audit` / `log.error` levels;
//! - as NDJSON lines to live `/v1/log/audit` and `/v1/log/error` subscribers.
//!
//! Events never carry key material: only identities, paths, status codes and messages that the
//! handlers write from fixed texts and store error descriptions.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use time::OffsetDateTime;

/// A log level, as a Go `slog` level number (`DEBUG` −4, `INFO` 0, `WARN` 4, `ERROR` 8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Level(pub i32);

impl Level {
    /// `DEBUG` (−4).
    pub const DEBUG: Self = Self(-4);
    /// `INFO` (0), the default of both logs.
    pub const INFO: Self = Self(0);
    /// `WARN` (4).
    pub const WARN: Self = Self(4);
    /// `ERROR` (8).
    pub const ERROR: Self = Self(8);
    /// `off` in the config: `ERROR+1`, above every event the server emits.
    pub const OFF: Self = Self(9);

    /// Whether an event at `event` level passes a handler set to `self`.
    pub fn enabled(self, event: Self) -> bool {
        event >= self
    }
}

impl std::fmt::Display for Level {
    /// Go `slog.Level.String`: `DEBUG`, `INFO`, `WARN`, `ERROR`, or `NAME±N` in between.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (name, base) = if self.0 < Self::INFO.0 {
            ("DEBUG", Self::DEBUG.0)
        } else if self.0 < Self::WARN.0 {
            ("INFO", Self::INFO.0)
        } else if self.0 < Self::ERROR.0 {
            ("WARN", Self::WARN.0)
        } else {
            ("ERROR", Self::ERROR.0)
        };
        let delta = i64::from(self.0) - i64::from(base);
        if delta == 0 {
            f.write_str(name)
        } else {
            write!(f, "{name}{delta:+}")
        }
    }
}

impl Default for Level {
    fn default() -> Self {
        Self::INFO
    }
}

/// One request as the audit log records it. It borrows from the request it describes (the
/// core builds one per request without copying); [`AuditEvent::into_owned`] detaches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent<'a> {
    /// When the request arrived.
    pub time: SystemTime,
    /// Level of the record (always `INFO` for audit records).
    pub level: Level,
    /// Human-readable summary, e.g. `secret key 'k' created`.
    pub message: Cow<'a, str>,
    /// HTTP method.
    pub method: Cow<'a, str>,
    /// Percent-decoded request path.
    pub path: Cow<'a, str>,
    /// Client IP (the first `X-Forwarded-For` entry for TLS-proxy requests).
    pub ip: Option<IpAddr>,
    /// Client identity, when one could be computed.
    pub identity: Option<Cow<'a, str>>,
    /// Response status code.
    pub status: u16,
    /// Time from arrival until the response was ready.
    pub latency: Duration,
}

/// A diagnostic for the error log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorEvent {
    /// When it happened.
    pub time: SystemTime,
    /// Level: `ERROR` for store/crypto failures, `WARN` for readiness failures, `DEBUG` for
    /// access denials.
    pub level: Level,
    /// The message (e.g. the keystore's error text).
    pub message: String,
    /// HTTP method of the request that caused it.
    pub method: String,
    /// Percent-decoded request path.
    pub path: String,
    /// Client IP.
    pub ip: Option<IpAddr>,
    /// Client identity, when known.
    pub identity: Option<String>,
}

impl AuditEvent<'_> {
    /// The same event owning all its text.
    pub fn into_owned(self) -> AuditEvent<'static> {
        AuditEvent {
            time: self.time,
            level: self.level,
            message: Cow::Owned(self.message.into_owned()),
            method: Cow::Owned(self.method.into_owned()),
            path: Cow::Owned(self.path.into_owned()),
            ip: self.ip,
            identity: self.identity.map(|i| Cow::Owned(i.into_owned())),
            status: self.status,
            latency: self.latency,
        }
    }

    /// The record in KES's `slog` text format (no trailing newline):
    /// `time=… level=INFO msg="…" req.method=PUT req.path=/v1/key/create/k req.ip=1.2.3.4
    /// req.identity=… res.code=200 res.time=1.23ms`.
    pub fn to_text(&self) -> String {
        let mut s = String::with_capacity(192);
        write_prefix(&mut s, self.time, self.level, &self.message);
        write_request_attrs(
            &mut s,
            &self.method,
            &self.path,
            self.ip,
            self.identity.as_deref(),
        );
        let _ = write!(s, " res.code={}", self.status);
        s.push_str(" res.time=");
        push_value(&mut s, &go_duration(self.latency));
        s
    }

    /// The line sent to `/v1/log/audit` subscribers, with its trailing newline:
    /// `{"time":"…","request":{"ip":"…","path":"…","identity":"…"},"response":{"code":200,"time":N}}`
    /// where `response.time` is nanoseconds truncated to microseconds (what the Go SDK decodes).
    pub fn to_json_line(&self) -> String {
        let mut s = String::with_capacity(256);
        s.push_str("{\"time\":");
        push_json_string(&mut s, &rfc3339_nano(self.time));
        s.push_str(",\"request\":{");
        let mut first = true;
        if let Some(ip) = self.ip {
            s.push_str("\"ip\":");
            push_json_string(&mut s, &ip.to_string());
            first = false;
        }
        if !first {
            s.push(',');
        }
        s.push_str("\"path\":");
        push_json_string(&mut s, &self.path);
        if let Some(id) = self.identity.as_deref().filter(|id| !id.is_empty()) {
            s.push_str(",\"identity\":");
            push_json_string(&mut s, id);
        }
        let nanos = self.latency.as_micros().saturating_mul(1000);
        let _ = writeln!(
            s,
            "}},\"response\":{{\"code\":{},\"time\":{}}}}}",
            self.status,
            u64::try_from(nanos).unwrap_or(u64::MAX)
        );
        s
    }
}

impl ErrorEvent {
    /// The record in KES's `slog` text format (no trailing newline):
    /// `time=… level=ERROR msg="…" req.method=… req.path=… req.ip=… req.identity=…`.
    pub fn to_text(&self) -> String {
        let mut s = String::with_capacity(192);
        write_prefix(&mut s, self.time, self.level, &self.message);
        write_request_attrs(
            &mut s,
            &self.method,
            &self.path,
            self.ip,
            self.identity.as_deref(),
        );
        s
    }

    /// The line sent to `/v1/log/error` subscribers, with its trailing newline:
    /// `{"message":"<the text record>"}`.
    pub fn to_json_line(&self) -> String {
        let mut s = String::from("{\"message\":");
        push_json_string(&mut s, &self.to_text());
        s.push_str("}\n");
        s
    }
}

/// Receives the events the core emits. Implementations must be cheap and must not block:
/// they run on the request path.
pub trait EventSink: Send + Sync {
    /// An audit record (already filtered by the `log.audit` level).
    fn audit(&self, ev: &AuditEvent<'_>);
    /// An error-log record (already filtered by the `log.error` level).
    fn error(&self, ev: &ErrorEvent);
}

/// A sink that drops everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopSink;

impl EventSink for NoopSink {
    fn audit(&self, _: &AuditEvent<'_>) {}
    fn error(&self, _: &ErrorEvent) {}
}

fn write_prefix(s: &mut String, time: SystemTime, level: Level, msg: &str) {
    s.push_str("time=");
    s.push_str(&rfc3339_millis(time));
    let _ = write!(s, " level={level} msg=");
    push_value(s, msg);
}

fn write_request_attrs(
    s: &mut String,
    method: &str,
    path: &str,
    ip: Option<IpAddr>,
    identity: Option<&str>,
) {
    s.push_str(" req.method=");
    push_value(s, method);
    s.push_str(" req.path=");
    push_value(s, path);
    if let Some(ip) = ip {
        s.push_str(" req.ip=");
        push_value(s, &ip.to_string());
    }
    s.push_str(" req.identity=");
    push_value(
        s,
        identity.filter(|id| !id.is_empty()).unwrap_or("<unknown>"),
    );
}

/// Appends a `slog` text value: bare when safe, else Go-quoted (`strconv.Quote`).
fn push_value(s: &mut String, v: &str) {
    if needs_quoting(v) {
        go_quote(s, v);
    } else {
        s.push_str(v);
    }
}

/// Go `slog` `needsQuoting`.
fn needs_quoting(v: &str) -> bool {
    if v.is_empty() {
        return true;
    }
    v.chars().any(|c| {
        if c.is_ascii() {
            c != '\\' && (c == ' ' || c == '=' || c == '"' || c.is_ascii_control())
        } else {
            c.is_whitespace() || c.is_control() || c == '\u{fffd}'
        }
    })
}

/// Go `strconv.Quote` (close enough for log text: printable Unicode kept).
fn go_quote(s: &mut String, v: &str) {
    s.push('"');
    for c in v.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            '\u{7}' => s.push_str("\\a"),
            '\u{8}' => s.push_str("\\b"),
            '\u{c}' => s.push_str("\\f"),
            '\u{b}' => s.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(s, "\\x{:02x}", c as u32);
            }
            c if c.is_control() => {
                let _ = write!(s, "\\u{:04x}", c as u32);
            }
            c => s.push(c),
        }
    }
    s.push('"');
}

/// Appends `v` as a JSON string with Go's escaping (`<`, `>`, `&`, U+2028, U+2029 escaped).
pub(crate) fn push_json_string(s: &mut String, v: &str) {
    s.push('"');
    for c in v.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(s, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(s, "\\u{:04x}", c as u32);
            }
            c => s.push(c),
        }
    }
    s.push('"');
}

fn to_utc(t: SystemTime) -> OffsetDateTime {
    OffsetDateTime::from(t)
}

/// `2006-01-02T15:04:05.000Z` (slog's text time format, UTC).
pub(crate) fn rfc3339_millis(t: SystemTime) -> String {
    let t = to_utc(t);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// Go `time.RFC3339Nano` in UTC: fractional seconds with trailing zeros trimmed.
pub(crate) fn rfc3339_nano(t: SystemTime) -> String {
    rfc3339_nano_odt(to_utc(t))
}

/// Go `time.RFC3339Nano` for a date-time, using its offset (`Z` for UTC).
pub(crate) fn rfc3339_nano_odt(t: OffsetDateTime) -> String {
    let mut s = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    let nanos = t.nanosecond();
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    let off = t.offset();
    if off.is_utc() {
        s.push('Z');
    } else {
        let (h, m, _) = off.as_hms();
        let sign = if off.is_negative() { '-' } else { '+' };
        let _ = write!(s, "{sign}{:02}:{:02}", h.unsigned_abs(), m.unsigned_abs());
    }
    s
}

/// Go `time.Duration.String`.
pub(crate) fn go_duration(d: Duration) -> String {
    let u = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    if u == 0 {
        return "0s".to_owned();
    }
    if u < 1_000_000_000 {
        let (unit, prec) = if u < 1_000 {
            ("ns", 0)
        } else if u < 1_000_000 {
            ("µs", 3)
        } else {
            ("ms", 6)
        };
        let (int, frac) = split_frac(u, prec);
        return format!("{int}{frac}{unit}");
    }
    let (secs, frac) = split_frac(u, 9);
    let s = secs % 60;
    let mins = secs / 60;
    if mins == 0 {
        return format!("{s}{frac}s");
    }
    let m = mins % 60;
    let h = mins / 60;
    if h == 0 {
        format!("{m}m{s}{frac}s")
    } else {
        format!("{h}h{m}m{s}{frac}s")
    }
}

/// Splits `v` into `v / 10^prec` and the fraction text (`.123`, trailing zeros trimmed, empty
/// when zero).
fn split_frac(v: u64, prec: u32) -> (u64, String) {
    if prec == 0 {
        return (v, String::new());
    }
    let div = 10u64.pow(prec);
    let frac = v % div;
    if frac == 0 {
        return (v / div, String::new());
    }
    let digits = format!("{frac:0width$}", width = prec as usize);
    (v / div, format!(".{}", digits.trim_end_matches('0')))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64, nanos: u32) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::new(secs, nanos)
    }

    #[test]
    fn go_durations() {
        for (d, want) in [
            (Duration::ZERO, "0s"),
            (Duration::from_nanos(12), "12ns"),
            (Duration::from_nanos(1500), "1.5µs"),
            (Duration::from_micros(1230), "1.23ms"),
            (Duration::from_millis(1), "1ms"),
            (Duration::from_secs(1), "1s"),
            (Duration::from_millis(1500), "1.5s"),
            (Duration::from_secs(90), "1m30s"),
            (Duration::from_secs(3600), "1h0m0s"),
            (Duration::from_secs(3600 + 61), "1h1m1s"),
        ] {
            assert_eq!(go_duration(d), want);
        }
    }

    #[test]
    fn levels_print_as_slog() {
        assert_eq!(Level::INFO.to_string(), "INFO");
        assert_eq!(Level::ERROR.to_string(), "ERROR");
        assert_eq!(Level::OFF.to_string(), "ERROR+1");
        assert_eq!(Level(2).to_string(), "INFO+2");
        assert_eq!(Level(-6).to_string(), "DEBUG-2");
        assert!(Level::INFO.enabled(Level::ERROR));
        assert!(!Level::OFF.enabled(Level::ERROR));
        assert!(!Level::INFO.enabled(Level::DEBUG));
    }

    #[test]
    fn audit_text_and_json() {
        let ev = AuditEvent {
            time: at(1_700_000_000, 123_456_789),
            level: Level::INFO,
            message: "secret key 'k' created".into(),
            method: "PUT".into(),
            path: "/v1/key/create/k".into(),
            ip: Some("1.2.3.4".parse().unwrap()),
            identity: Some("abc".into()),
            status: 200,
            latency: Duration::from_nanos(1_234_567),
        };
        assert_eq!(
            ev.to_text(),
            "time=2023-11-14T22:13:20.123Z level=INFO msg=\"secret key 'k' created\" \
             req.method=PUT req.path=/v1/key/create/k req.ip=1.2.3.4 req.identity=abc \
             res.code=200 res.time=1.234567ms"
        );
        assert_eq!(
            ev.to_json_line(),
            "{\"time\":\"2023-11-14T22:13:20.123456789Z\",\"request\":{\"ip\":\"1.2.3.4\",\
             \"path\":\"/v1/key/create/k\",\"identity\":\"abc\"},\"response\":{\"code\":200,\"time\":1234000}}\n"
        );
        let anon = AuditEvent {
            ip: None,
            identity: None,
            ..ev
        };
        assert!(anon.to_text().contains("req.identity=<unknown>"));
        assert_eq!(
            anon.to_json_line(),
            "{\"time\":\"2023-11-14T22:13:20.123456789Z\",\"request\":{\"path\":\"/v1/key/create/k\"},\
             \"response\":{\"code\":200,\"time\":1234000}}\n"
        );
    }

    #[test]
    fn error_text_quotes_like_slog() {
        let ev = ErrorEvent {
            time: at(0, 0),
            level: Level::ERROR,
            message: "fs: \"disk\" full\n".into(),
            method: "GET".into(),
            path: "/v1/key/describe/a=b".into(),
            ip: None,
            identity: None,
        };
        assert_eq!(
            ev.to_text(),
            "time=1970-01-01T00:00:00.000Z level=ERROR msg=\"fs: \\\"disk\\\" full\\n\" \
             req.method=GET req.path=\"/v1/key/describe/a=b\" req.identity=<unknown>"
        );
        let line = ev.to_json_line();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["message"].as_str().unwrap(), ev.to_text());
        assert!(line.ends_with("}\n"));
    }

    #[test]
    fn json_strings_escape_like_go() {
        let mut s = String::new();
        push_json_string(&mut s, "<a&b>\u{2028}\"\\\u{1}é");
        assert_eq!(s, "\"\\u003ca\\u0026b\\u003e\\u2028\\\"\\\\\\u0001é\"");
    }

    #[test]
    fn rfc3339_formats() {
        assert_eq!(rfc3339_nano(at(0, 0)), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_nano(at(1, 500_000_000)), "1970-01-01T00:00:01.5Z");
        assert_eq!(rfc3339_millis(at(1, 5_000_000)), "1970-01-01T00:00:01.005Z");
    }
}
