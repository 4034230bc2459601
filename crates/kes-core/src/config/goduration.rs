//! Go's duration syntax (`time.ParseDuration`, `Duration.String`), which
//! every duration in a KES config file uses: `5m0s`, `30s`, `1h`, `500ms`,
//! `1.5h`, `-2s`; a bare `0` is the only unit-less value.

/// Parses `text` as Go's `time.ParseDuration` does, returning nanoseconds
/// (negative values are valid here; the caller decides). The error strings
/// are Go's.
pub(crate) fn parse(text: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration {}", quote(text));
    let mut s = text.as_bytes();
    let mut neg = false;
    if let Some((&c, rest)) = s.split_first() {
        if c == b'-' || c == b'+' {
            neg = c == b'-';
            s = rest;
        }
    }
    if s == b"0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    const LIMIT: u64 = 1 << 63;
    let mut total: u64 = 0;
    while let Some(&first) = s.first() {
        if !(first == b'.' || first.is_ascii_digit()) {
            return Err(invalid());
        }
        // Integer part.
        let int_len = s.iter().take_while(|c| c.is_ascii_digit()).count();
        let (int_digits, rest) = s.split_at(int_len);
        let mut v: u64 = 0;
        for &d in int_digits {
            if v > (LIMIT - 1) / 10 {
                return Err(invalid());
            }
            v = v * 10 + u64::from(d - b'0');
            if v > LIMIT {
                return Err(invalid());
            }
        }
        s = rest;
        let pre = int_len > 0;
        // Fraction part.
        let mut frac: u64 = 0;
        let mut scale: f64 = 1.0;
        let mut post = false;
        if s.first() == Some(&b'.') {
            s = s.get(1..).unwrap_or_default();
            let frac_len = s.iter().take_while(|c| c.is_ascii_digit()).count();
            let (frac_digits, rest) = s.split_at(frac_len);
            let mut overflow = false;
            for &d in frac_digits {
                if overflow {
                    continue;
                }
                if frac > (LIMIT - 1) / 10 {
                    overflow = true;
                    continue;
                }
                let y = frac * 10 + u64::from(d - b'0');
                if y > LIMIT {
                    overflow = true;
                    continue;
                }
                frac = y;
                scale *= 10.0;
            }
            s = rest;
            post = frac_len > 0;
        }
        if !pre && !post {
            return Err(invalid());
        }
        // Unit.
        let unit_len = s
            .iter()
            .take_while(|&&c| !(c == b'.' || c.is_ascii_digit()))
            .count();
        if unit_len == 0 {
            return Err(format!("time: missing unit in duration {}", quote(text)));
        }
        let (unit_bytes, rest) = s.split_at(unit_len);
        s = rest;
        let unit_text = String::from_utf8_lossy(unit_bytes);
        let unit: u64 = match unit_bytes {
            b"ns" => 1,
            b"us" | b"\xc2\xb5s" | b"\xce\xbcs" => 1_000, // us, µs, μs
            b"ms" => 1_000_000,
            b"s" => 1_000_000_000,
            b"m" => 60_000_000_000,
            b"h" => 3_600_000_000_000,
            _ => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    quote(&unit_text),
                    quote(text)
                ));
            }
        };
        if v > LIMIT / unit {
            return Err(invalid());
        }
        v *= unit;
        if frac > 0 {
            // Go computes this in float64 too.
            v += (frac as f64 * (unit as f64 / scale)) as u64;
            if v > LIMIT {
                return Err(invalid());
            }
        }
        total = total.checked_add(v).ok_or_else(invalid)?;
        if total > LIMIT {
            return Err(invalid());
        }
    }
    if neg {
        // total <= 2^63, so the negation fits.
        return Ok((total as i128).wrapping_neg() as i64);
    }
    i64::try_from(total).map_err(|_| invalid())
}

/// Go's `time.quote`: double quotes, `"` and `\` escaped, bytes of
/// non-ASCII or control characters as `\xHH`.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if !c.is_ascii() || (c as u32) < 0x20 {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("\\x{b:02x}"));
            }
        } else {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
    }
    out.push('"');
    out
}

/// Formats nanoseconds as Go's `Duration.String` (`1h2m3.5s`, `1.5ms`,
/// `0s`, `-2s`), for messages that quote a duration as KES does.
pub(crate) fn format(nanos: i64) -> String {
    let mut out = String::new();
    if nanos < 0 {
        out.push('-');
    }
    crate::events::write_go_duration_nanos(&mut out, nanos.unsigned_abs());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    #[test]
    fn parses_like_go() {
        let ok = [
            ("0", 0),
            ("-0", 0),
            ("+0", 0),
            ("5s", 5 * S),
            ("30s", 30 * S),
            ("5m0s", 300 * S),
            ("1h", 3600 * S),
            ("1.5h", 5400 * S),
            ("500ms", S / 2),
            ("1us", 1_000),
            ("1\u{b5}s", 1_000),
            ("1\u{3bc}s", 1_000),
            ("7ns", 7),
            (".5s", S / 2),
            ("1.s", S),
            ("-2s", -2 * S),
            ("1h2m3s4ms5us6ns", 3_723_004_005_006),
            ("2562047h47m16.854775807s", i64::MAX),
            ("-2562047h47m16.854775808s", i64::MIN),
        ];
        for (text, want) in ok {
            assert_eq!(parse(text), Ok(want), "{text}");
        }
        let bad = [
            ("", "time: invalid duration \"\""),
            ("5", "time: missing unit in duration \"5\""),
            ("0.0", "time: missing unit in duration \"0.0\""),
            ("5x", "time: unknown unit \"x\" in duration \"5x\""),
            ("5 s", "time: unknown unit \" s\" in duration \"5 s\""),
            ("s", "time: invalid duration \"s\""),
            (".s", "time: invalid duration \".s\""),
            ("-", "time: invalid duration \"-\""),
            (
                "1é",
                "time: unknown unit \"\\xc3\\xa9\" in duration \"1\\xc3\\xa9\"",
            ),
            (
                "2562047h47m16.854775808s",
                "time: invalid duration \"2562047h47m16.854775808s\"",
            ),
            (
                "9999999999999999999h",
                "time: invalid duration \"9999999999999999999h\"",
            ),
            (" 5s", "time: invalid duration \" 5s\""),
        ];
        for (text, want) in bad {
            assert_eq!(parse(text), Err(want.to_owned()), "{text:?}");
        }
    }

    #[test]
    fn formats_like_go() {
        let cases = [
            (0, "0s"),
            (1, "1ns"),
            (1_100, "1.1\u{b5}s"),
            (2_200_000, "2.2ms"),
            (S, "1s"),
            (S + S / 2, "1.5s"),
            (300 * S, "5m0s"),
            (3600 * S, "1h0m0s"),
            (3_723_004_005_006, "1h2m3.004005006s"),
            (-5 * 60 * S, "-5m0s"),
            (i64::MIN, "-2562047h47m16.854775808s"),
        ];
        for (n, want) in cases {
            assert_eq!(format(n), want, "{n}");
        }
    }
}
