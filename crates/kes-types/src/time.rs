//! [`Timestamp`]: a point in time as Go's `time.Time` writes it to JSON.
//!
//! Go writes RFC 3339 with up to nine fractional digits and trailing zeros
//! trimmed (`2024-01-12T10:39:20.886816Z`), `Z` for a zero UTC offset and
//! `±hh:mm` otherwise; the zero time is `0001-01-01T00:00:00Z`. It reads the
//! same form back, with any number of fractional digits.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

use crate::error::Error;

/// A point in time with its UTC offset, encoded as Go encodes `time.Time`.
///
/// [`Timestamp::default`] is Go's zero time, `0001-01-01T00:00:00Z`, which
/// KES sends for keys without metadata.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timestamp(OffsetDateTime);

impl Timestamp {
    /// Go's zero time, `0001-01-01T00:00:00Z`.
    pub const ZERO: Timestamp = Timestamp(
        PrimitiveDateTime::new(
            match Date::from_ordinal_date(1, 1) {
                Ok(d) => d,
                Err(_) => Date::MIN,
            },
            Time::MIDNIGHT,
        )
        .assume_utc(),
    );

    /// Wraps a `time` value.
    pub const fn new(t: OffsetDateTime) -> Self {
        Self(t)
    }

    /// The wrapped `time` value.
    pub const fn get(self) -> OffsetDateTime {
        self.0
    }

    /// Whether this is Go's zero time (an absent `created_at`).
    pub fn is_zero(&self) -> bool {
        *self == Self::ZERO
    }

    /// Formats as Go's `time.RFC3339Nano`; fails outside the years 0–9999.
    pub fn to_rfc3339(&self) -> Result<String, Error> {
        let t = self.0;
        let year = t.year();
        if !(0..=9999).contains(&year) {
            return Err(Error::TimeRange);
        }
        let mut s = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            year,
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
        let offset = t.offset();
        if offset.is_utc() {
            s.push('Z');
        } else {
            let (h, m, _) = offset.as_hms();
            let sign = if offset.is_negative() { '-' } else { '+' };
            s.push_str(&format!(
                "{sign}{:02}:{:02}",
                h.unsigned_abs(),
                m.unsigned_abs()
            ));
        }
        Ok(s)
    }

    /// Parses an RFC 3339 timestamp as Go's `time.Time.UnmarshalJSON` does:
    /// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`.
    pub fn parse_rfc3339(text: &str) -> Result<Self, Error> {
        let bad = || Error::Time(text.to_owned());
        let b = text.as_bytes();
        let digits = |from: usize, len: usize| -> Result<u32, Error> {
            let part = b.get(from..from + len).ok_or_else(bad)?;
            part.iter().try_fold(0u32, |acc, c| {
                if c.is_ascii_digit() {
                    Ok(acc * 10 + u32::from(c - b'0'))
                } else {
                    Err(bad())
                }
            })
        };
        let sep = |at: usize, want: u8| -> Result<(), Error> {
            if b.get(at) == Some(&want) {
                Ok(())
            } else {
                Err(bad())
            }
        };
        let year = digits(0, 4)?;
        sep(4, b'-')?;
        let month = digits(5, 2)?;
        sep(7, b'-')?;
        let day = digits(8, 2)?;
        sep(10, b'T')?;
        let hour = digits(11, 2)?;
        sep(13, b':')?;
        let minute = digits(14, 2)?;
        sep(16, b':')?;
        let second = digits(17, 2)?;
        let mut i = 19;
        let mut nanos = 0u32;
        if b.get(i) == Some(&b'.') {
            let start = i + 1;
            let mut end = start;
            while b.get(end).is_some_and(u8::is_ascii_digit) {
                end += 1;
            }
            if end == start {
                return Err(bad());
            }
            let mut scale = 100_000_000u32;
            for c in b.get(start..end.min(start + 9)).ok_or_else(bad)? {
                nanos += u32::from(c - b'0') * scale;
                scale /= 10;
            }
            i = end;
        }
        let offset = match b.get(i) {
            Some(b'Z') if b.len() == i + 1 => UtcOffset::UTC,
            Some(sign @ (b'+' | b'-')) if b.len() == i + 6 => {
                sep(i + 3, b':')?;
                let oh = digits(i + 1, 2)?;
                let om = digits(i + 4, 2)?;
                if oh > 23 || om > 59 {
                    return Err(bad());
                }
                let (oh, om) = (oh as i8, om as i8);
                let (oh, om) = if *sign == b'-' { (-oh, -om) } else { (oh, om) };
                UtcOffset::from_hms(oh, om, 0).map_err(|_| bad())?
            }
            _ => return Err(bad()),
        };
        let month = Month::try_from(month as u8).map_err(|_| bad())?;
        let date = Date::from_calendar_date(year as i32, month, day as u8).map_err(|_| bad())?;
        let time = Time::from_hms_nano(hour as u8, minute as u8, second as u8, nanos)
            .map_err(|_| bad())?;
        Ok(Self(
            PrimitiveDateTime::new(date, time).assume_offset(offset),
        ))
    }
}

impl Default for Timestamp {
    fn default() -> Self {
        Self::ZERO
    }
}

impl From<OffsetDateTime> for Timestamp {
    fn from(t: OffsetDateTime) -> Self {
        Self(t)
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_rfc3339() {
            Ok(s) => write!(f, "Timestamp({s})"),
            Err(_) => write!(f, "Timestamp({:?})", self.0),
        }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_rfc3339() {
            Ok(s) => f.write_str(&s),
            Err(_) => write!(f, "{}", self.0),
        }
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let text = self.to_rfc3339().map_err(serde::ser::Error::custom)?;
        s.serialize_str(&text)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Timestamp::parse_rfc3339(&text).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn formats_like_go() {
        let cases = [
            (
                datetime!(2024-01-12 10:39:20.886816 UTC),
                "2024-01-12T10:39:20.886816Z",
            ),
            (datetime!(2024-01-12 10:39:20 UTC), "2024-01-12T10:39:20Z"),
            (
                datetime!(2024-01-12 10:39:20.1 +02:00),
                "2024-01-12T10:39:20.1+02:00",
            ),
            (
                datetime!(2024-01-12 10:39:20.000000001 -05:30),
                "2024-01-12T10:39:20.000000001-05:30",
            ),
        ];
        for (t, want) in cases {
            let ts = Timestamp::new(t);
            assert_eq!(ts.to_rfc3339().unwrap(), want);
            assert_eq!(Timestamp::parse_rfc3339(want).unwrap(), ts);
        }
        assert_eq!(
            Timestamp::ZERO.to_rfc3339().unwrap(),
            "0001-01-01T00:00:00Z"
        );
        assert!(Timestamp::default().is_zero());
        assert!(
            Timestamp::new(datetime!(-1-01-01 0:00 UTC))
                .to_rfc3339()
                .is_err()
        );
    }

    #[test]
    fn parses_like_go() {
        let t = Timestamp::parse_rfc3339("2023-03-24T12:37:33.1234567891Z").unwrap();
        assert_eq!(t.get().nanosecond(), 123_456_789);
        assert!(
            Timestamp::parse_rfc3339("0001-01-01T00:00:00Z")
                .unwrap()
                .is_zero()
        );
        for bad in [
            "",
            "2023-03-24",
            "2023-03-24 12:37:33Z",
            "2023-03-24t12:37:33Z",
            "2023-03-24T12:37:33",
            "2023-03-24T12:37:33.Z",
            "2023-02-30T12:37:33Z",
            "2023-03-24T24:00:00Z",
            "2023-03-24T12:37:33+24:00",
            "2023-03-24T12:37:33+0100",
            "2023-03-24T12:37:33Zx",
            "+2023-03-24T12:37:33Z",
        ] {
            assert!(Timestamp::parse_rfc3339(bad).is_err(), "{bad}");
        }
    }
}
