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
use std::net::{IpAddr, Ipv4Addr};
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
        self.write_text(&mut s);
        s
    }

    /// Appends the record [`AuditEvent::to_text`] returns to `s`, without allocating when `s`
    /// has room (sinks reuse one buffer for every line).
    pub fn write_text(&self, s: &mut String) {
        write_prefix(s, self.time, self.level, &self.message);
        write_request_attrs(
            s,
            &self.method,
            &self.path,
            self.ip,
            self.identity.as_deref(),
        );
        s.push_str(" res.code=");
        push_uint(s, u64::from(self.status));
        // A Go duration never needs quoting: digits, `.`, `h`, `m`, `s`, `µ`, `n`.
        s.push_str(" res.time=");
        write_go_duration(s, self.latency);
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
        self.write_text(&mut s);
        s
    }

    /// Appends the record [`ErrorEvent::to_text`] returns to `s`.
    pub fn write_text(&self, s: &mut String) {
        write_prefix(s, self.time, self.level, &self.message);
        write_request_attrs(
            s,
            &self.method,
            &self.path,
            self.ip,
            self.identity.as_deref(),
        );
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

/// Appends a `slog` text record with only `time`, `level` and `msg`
/// (`time=… level=INFO msg="…"`), for messages of the shell that belong to no request, such as
/// TLS handshake errors.
pub fn write_plain_record(s: &mut String, time: SystemTime, level: Level, msg: &str) {
    write_prefix(s, time, level, msg);
}

fn write_prefix(s: &mut String, time: SystemTime, level: Level, msg: &str) {
    s.push_str("time=");
    push_rfc3339_millis(s, time);
    s.push_str(" level=");
    match level {
        Level::DEBUG => s.push_str("DEBUG"),
        Level::INFO => s.push_str("INFO"),
        Level::WARN => s.push_str("WARN"),
        Level::ERROR => s.push_str("ERROR"),
        other => {
            let _ = write!(s, "{other}");
        }
    }
    s.push_str(" msg=");
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
        // An IP address never needs quoting (digits, hex letters, `.` and `:`).
        s.push_str(" req.ip=");
        match ip {
            IpAddr::V4(v4) => push_ipv4(s, v4),
            IpAddr::V6(v6) => {
                let _ = write!(s, "{v6}");
            }
        }
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

/// The ASCII bytes that make `slog` quote a value: space, `=`, `"` and the control characters.
static QUOTE_ASCII: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 128 {
        table[b] =
            b < 0x20 || b == 0x7f || b == b' ' as usize || b == b'=' as usize || b == b'"' as usize;
        b += 1;
    }
    table
};

/// Go `slog` `needsQuoting`.
fn needs_quoting(v: &str) -> bool {
    if v.is_empty() {
        return true;
    }
    if v.is_ascii() {
        return v.bytes().any(|b| QUOTE_ASCII[usize::from(b)]);
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
    // Printable ASCII without `"` or `\` (e.g. `http request`) is quoted as is.
    if v.bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
    {
        s.reserve(v.len() + 2);
        s.push('"');
        s.push_str(v);
        s.push('"');
        return;
    }
    go_quote_chars(s, v);
}

/// [`go_quote`] character by character.
fn go_quote_chars(s: &mut String, v: &str) {
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
#[cfg(test)]
pub(crate) fn rfc3339_millis(t: SystemTime) -> String {
    let mut s = String::with_capacity(24);
    push_rfc3339_millis(&mut s, t);
    s
}

/// Appends `2006-01-02T15:04:05.000Z` (slog's text time format, UTC) to `s`.
pub(crate) fn push_rfc3339_millis(s: &mut String, t: SystemTime) {
    let t = to_utc(t);
    match u16::try_from(t.year()) {
        Ok(year) if year <= 9999 => {
            push_2(s, (year / 100) as u8);
            push_2(s, (year % 100) as u8);
        }
        _ => {
            let _ = write!(s, "{:04}", t.year());
        }
    }
    s.push('-');
    push_2(s, u8::from(t.month()));
    s.push('-');
    push_2(s, t.day());
    s.push('T');
    push_2(s, t.hour());
    s.push(':');
    push_2(s, t.minute());
    s.push(':');
    push_2(s, t.second());
    s.push('.');
    let ms = t.millisecond();
    s.push(char::from(b'0' + (ms / 100 % 10) as u8));
    push_2(s, (ms % 100) as u8);
    s.push('Z');
}

/// Appends `ip` in dotted decimal, as its `Display` does, without the formatting machinery
/// (one per audit line).
fn push_ipv4(s: &mut String, ip: Ipv4Addr) {
    for (i, octet) in ip.octets().into_iter().enumerate() {
        if i > 0 {
            s.push('.');
        }
        if octet >= 100 {
            s.push(char::from(b'0' + octet / 100));
        }
        if octet >= 10 {
            s.push(char::from(b'0' + octet / 10 % 10));
        }
        s.push(char::from(b'0' + octet % 10));
    }
}

/// Appends `v` (below 100) as two digits.
fn push_2(s: &mut String, v: u8) {
    s.push(char::from(b'0' + v / 10 % 10));
    s.push(char::from(b'0' + v % 10));
}

/// Appends `v` in decimal.
fn push_uint(s: &mut String, v: u64) {
    let mut buf = [0u8; 20];
    let mut n = v;
    let mut start = buf.len();
    for slot in buf.iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        start -= 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &b in buf.get(start..).unwrap_or_default() {
        s.push(char::from(b));
    }
}

/// Appends `frac` (a fraction of `10^digits`) as `.ddd` without trailing zeros; nothing
/// when it is zero.
fn push_fraction(s: &mut String, mut frac: u64, mut digits: u32) {
    if frac == 0 {
        return;
    }
    while frac % 10 == 0 {
        frac /= 10;
        digits -= 1;
    }
    s.push('.');
    let width = digits;
    let mut len = 1;
    let mut n = frac / 10;
    while n > 0 {
        len += 1;
        n /= 10;
    }
    for _ in len..width {
        s.push('0');
    }
    push_uint(s, frac);
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
#[cfg(test)]
pub(crate) fn go_duration(d: Duration) -> String {
    let mut s = String::with_capacity(16);
    write_go_duration(&mut s, d);
    s
}

/// Appends Go's `time.Duration.String` of `d` to `s` (durations above Go's `int64` range are
/// clamped to it).
pub(crate) fn write_go_duration(s: &mut String, d: Duration) {
    let u = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    write_go_duration_nanos(s, u);
}

/// Go's `time.Duration.String` for `u` nanoseconds (non-negative).
pub(crate) fn write_go_duration_nanos(s: &mut String, u: u64) {
    if u == 0 {
        s.push_str("0s");
        return;
    }
    if u < 1_000_000_000 {
        let (unit, prec, div) = if u < 1_000 {
            ("ns", 0, 1)
        } else if u < 1_000_000 {
            ("µs", 3, 1_000)
        } else {
            ("ms", 6, 1_000_000)
        };
        push_uint(s, u / div);
        push_fraction(s, u % div, prec);
        s.push_str(unit);
        return;
    }
    let secs = u / 1_000_000_000;
    let mins = secs / 60;
    let h = mins / 60;
    if h > 0 {
        push_uint(s, h);
        s.push('h');
    }
    if mins > 0 {
        push_uint(s, mins % 60);
        s.push('m');
    }
    push_uint(s, secs % 60);
    push_fraction(s, u % 1_000_000_000, 9);
    s.push('s');
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

    /// The reference the allocation-free writers must match: `format!` over the `time`
    /// crate's fields, and Go's duration rules spelled out with strings.
    fn reference_millis(t: SystemTime) -> String {
        let t = OffsetDateTime::from(t);
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

    fn reference_duration(u: u64) -> String {
        fn frac(v: u64, prec: u32) -> String {
            let f = v % 10u64.pow(prec);
            if prec == 0 || f == 0 {
                return String::new();
            }
            let digits = format!("{f:0width$}", width = prec as usize);
            format!(".{}", digits.trim_end_matches('0'))
        }
        match u {
            0 => "0s".to_owned(),
            1..=999 => format!("{u}ns"),
            1_000..=999_999 => format!("{}{}µs", u / 1_000, frac(u, 3)),
            1_000_000..=999_999_999 => format!("{}{}ms", u / 1_000_000, frac(u, 6)),
            _ => {
                let secs = u / 1_000_000_000;
                let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
                let f = frac(u, 9);
                if h > 0 {
                    format!("{h}h{m}m{s}{f}s")
                } else if secs >= 60 {
                    format!("{m}m{s}{f}s")
                } else {
                    format!("{s}{f}s")
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn fast_writers_match_the_reference(
            secs in 0u64..253_402_300_799, // up to 9999-12-31T23:59:59Z
            nanos in 0u32..1_000_000_000,
            dur in proptest::prop_oneof![0u64..2_000_000_000, proptest::num::u64::ANY],
        ) {
            let t = at(secs, nanos);
            proptest::prop_assert_eq!(rfc3339_millis(t), reference_millis(t));
            let mut s = String::new();
            write_go_duration_nanos(&mut s, dur);
            proptest::prop_assert_eq!(s, reference_duration(dur));
        }

        #[test]
        fn ipv4_writer_matches_display(octets in proptest::prelude::any::<[u8; 4]>()) {
            let ip = Ipv4Addr::from(octets);
            let mut s = String::new();
            push_ipv4(&mut s, ip);
            proptest::prop_assert_eq!(s, ip.to_string());
        }

        #[test]
        fn quoting_fast_path_matches_the_general_one(v in "[ -~]{0,24}|[\\PC\\t\\n\\x01]{0,12}") {
            let mut fast = String::new();
            go_quote(&mut fast, &v);
            let mut general = String::new();
            go_quote_chars(&mut general, &v);
            proptest::prop_assert_eq!(fast, general);
        }
    }
}
