//! `GET /v1/metrics`: the Prometheus text exposition parsed into [`Metrics`] (spec §10.3).
//!
//! The rules are the Go SDK's: labelled counters are summed over their labels, the response
//! time histogram keeps its cumulative bucket counts (upper bounds in seconds), and every other
//! family has exactly one sample. Families the server did not send (a labelled counter without
//! observations) are zero.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use crate::error::{Error, Result};

/// A snapshot of a KES server's metrics.
///
/// Serializes with the metric names as keys (as the Go SDK's `Metric` does); durations as
/// nanoseconds, the histogram as `{"<upper bound in ns>": cumulative count}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Metrics {
    /// `kes_http_request_success`: 2xx responses.
    #[serde(rename = "kes_http_request_success")]
    pub request_ok: u64,
    /// `kes_http_request_error`: 4xx responses.
    #[serde(rename = "kes_http_request_error")]
    pub request_err: u64,
    /// `kes_http_request_failure`: 5xx responses.
    #[serde(rename = "kes_http_request_failure")]
    pub request_fail: u64,
    /// `kes_http_request_active`: requests in flight.
    #[serde(rename = "kes_http_request_active")]
    pub request_active: u64,
    /// `kes_log_audit_events`.
    #[serde(rename = "kes_log_audit_events")]
    pub audit_events: u64,
    /// `kes_log_error_events`.
    #[serde(rename = "kes_log_error_events")]
    pub error_events: u64,
    /// `kes_http_response_time`: (upper bound, cumulative count) per finite bucket, ascending.
    #[serde(rename = "kes_http_response_time", serialize_with = "ser_histogram")]
    pub latency_histogram: Vec<(Duration, u64)>,
    /// `kes_system_up_time`.
    #[serde(rename = "kes_system_up_time", serialize_with = "ser_nanos")]
    pub up_time: Duration,
    /// `kes_system_num_cpu`.
    #[serde(rename = "kes_system_num_cpu")]
    pub cpus: u64,
    /// `kes_system_num_cpu_used`.
    #[serde(rename = "kes_system_num_cpu_used")]
    pub usable_cpus: u64,
    /// `kes_system_num_threads`.
    #[serde(rename = "kes_system_num_threads")]
    pub threads: u64,
    /// `kes_system_mem_heap_used`: bytes.
    #[serde(rename = "kes_system_mem_heap_used")]
    pub heap_alloc: u64,
    /// `kes_system_mem_heap_objects`.
    #[serde(rename = "kes_system_mem_heap_objects")]
    pub heap_objects: u64,
    /// `kes_system_mem_stack_used`: bytes.
    #[serde(rename = "kes_system_mem_stack_used")]
    pub stack_alloc: u64,
}

impl Metrics {
    /// All requests answered (`ok + err + fail`).
    pub fn requests(&self) -> u64 {
        self.request_ok
            .saturating_add(self.request_err)
            .saturating_add(self.request_fail)
    }

    /// Parses a Prometheus text exposition (format 0.0.4).
    pub fn parse_text(text: &str) -> Result<Metrics> {
        let mut m = Metrics::default();
        let mut buckets: BTreeMap<u64, (Duration, u64)> = BTreeMap::new();
        let mut singles: BTreeMap<&str, usize> = BTreeMap::new();
        for (no, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let sample = Sample::parse(line)
                .ok_or_else(|| bad(format!("line {}: malformed sample '{line}'", no + 1)))?;
            let name = sample.name;
            let counter = |v: f64| -> Result<u64> { to_u64(v, name) };
            match name {
                "kes_http_request_success" => m.request_ok += counter(sample.value)?,
                "kes_http_request_error" => m.request_err += counter(sample.value)?,
                "kes_http_request_failure" => m.request_fail += counter(sample.value)?,
                "kes_http_response_time_bucket" => {
                    let le = sample
                        .label("le")
                        .ok_or_else(|| bad("histogram bucket without 'le'".into()))?;
                    if le == "+Inf" {
                        continue;
                    }
                    let bound: f64 = le
                        .parse()
                        .map_err(|_| bad(format!("invalid bucket bound '{le}'")))?;
                    let bound = Duration::try_from_secs_f64(bound)
                        .map_err(|_| bad(format!("invalid bucket bound '{le}'")))?;
                    let key = u64::try_from(bound.as_nanos()).unwrap_or(u64::MAX);
                    buckets.insert(key, (bound, counter(sample.value)?));
                }
                "kes_http_request_active"
                | "kes_log_audit_events"
                | "kes_log_error_events"
                | "kes_system_up_time"
                | "kes_system_num_cpu"
                | "kes_system_num_cpu_used"
                | "kes_system_num_threads"
                | "kes_system_mem_heap_used"
                | "kes_system_mem_heap_objects"
                | "kes_system_mem_stack_used" => {
                    let seen = singles.entry(name).or_insert(0);
                    *seen += 1;
                    if *seen > 1 {
                        return Err(bad(format!("metric '{name}' has more than one sample")));
                    }
                    match name {
                        "kes_system_up_time" => {
                            m.up_time = Duration::try_from_secs_f64(sample.value)
                                .map_err(|_| bad(format!("invalid uptime {}", sample.value)))?;
                        }
                        "kes_http_request_active" => m.request_active = counter(sample.value)?,
                        "kes_log_audit_events" => m.audit_events = counter(sample.value)?,
                        "kes_log_error_events" => m.error_events = counter(sample.value)?,
                        "kes_system_num_cpu" => m.cpus = counter(sample.value)?,
                        "kes_system_num_cpu_used" => m.usable_cpus = counter(sample.value)?,
                        "kes_system_num_threads" => m.threads = counter(sample.value)?,
                        "kes_system_mem_heap_used" => m.heap_alloc = counter(sample.value)?,
                        "kes_system_mem_heap_objects" => m.heap_objects = counter(sample.value)?,
                        _ => m.stack_alloc = counter(sample.value)?,
                    }
                }
                // Histogram sum/count and metrics of other exporters are not part of the API.
                _ => {}
            }
        }
        m.latency_histogram = buckets.into_values().collect();
        Ok(m)
    }
}

fn bad(message: String) -> Error {
    Error::InvalidResponse(format!("metrics: {message}"))
}

fn to_u64(v: f64, name: &str) -> Result<u64> {
    if v.is_finite() && v >= 0.0 && v < u64::MAX as f64 {
        Ok(v as u64)
    } else {
        Err(bad(format!("metric '{name}' has invalid value {v}")))
    }
}

/// One sample line: `name{label="value",...} value [timestamp]`.
struct Sample<'a> {
    name: &'a str,
    labels: Vec<(&'a str, String)>,
    value: f64,
}

impl<'a> Sample<'a> {
    fn parse(line: &'a str) -> Option<Sample<'a>> {
        let name_end = line
            .find(|c: char| c == '{' || c.is_whitespace())
            .unwrap_or(line.len());
        let name = line.get(..name_end)?;
        if name.is_empty() {
            return None;
        }
        let mut rest = line.get(name_end..)?;
        let mut labels = Vec::new();
        if let Some(inner) = rest.strip_prefix('{') {
            let mut chars = inner.char_indices().peekable();
            let end;
            // label="value" pairs separated by commas; values may contain escaped characters.
            loop {
                while chars
                    .peek()
                    .is_some_and(|(_, c)| *c == ',' || c.is_whitespace())
                {
                    chars.next();
                }
                let (start, c) = *chars.peek()?;
                if c == '}' {
                    end = Some(start + 1);
                    break;
                }
                let eq = inner.get(start..)?.find('=')? + start;
                let label = inner.get(start..eq)?.trim();
                while chars.peek().is_some_and(|(i, _)| *i <= eq) {
                    chars.next();
                }
                if chars.next().map(|(_, c)| c) != Some('"') {
                    return None;
                }
                let mut value = String::new();
                loop {
                    match chars.next()?.1 {
                        '\\' => match chars.next()?.1 {
                            'n' => value.push('\n'),
                            other => value.push(other),
                        },
                        '"' => break,
                        other => value.push(other),
                    }
                }
                labels.push((label, value));
            }
            rest = inner.get(end?..)?;
        }
        let value = rest.split_whitespace().next()?;
        let value = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            v => v.parse().ok()?,
        };
        Some(Sample {
            name,
            labels,
            value,
        })
    }

    fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(l, _)| *l == name)
            .map(|(_, v)| v.as_str())
    }
}

fn ser_nanos<S: Serializer>(d: &Duration, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn ser_histogram<S: Serializer>(
    h: &[(Duration, u64)],
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    let mut map = s.serialize_map(Some(h.len()))?;
    for (bound, count) in h {
        map.serialize_entry(&bound.as_nanos().to_string(), count)?;
    }
    map.end()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"# HELP kes_http_request_success Number of requests that have been served successfully.
# TYPE kes_http_request_success counter
kes_http_request_success{code="200"} 41
kes_http_request_success{code="204"} 1
# TYPE kes_http_request_error counter
kes_http_request_error{code="400"} 2
kes_http_request_error{code="404"} 3
kes_http_request_active 1
# TYPE kes_http_response_time histogram
kes_http_response_time_bucket{le="0.01"} 40
kes_http_response_time_bucket{le="0.05"} 45
kes_http_response_time_bucket{le="+Inf"} 47
kes_http_response_time_sum 0.3
kes_http_response_time_count 47
kes_log_audit_events 7
kes_log_error_events 0
kes_system_up_time 12.34
kes_system_num_cpu 8
kes_system_num_cpu_used 2
kes_system_num_threads 11
kes_system_mem_heap_used 1.2345e+06
kes_system_mem_heap_objects 500
kes_system_mem_stack_used 65536
go_goroutines{label="with \"quotes\", and commas"} 5
"#;

    #[test]
    fn parses_the_exposition() {
        let m = Metrics::parse_text(SAMPLE).unwrap();
        assert_eq!(m.request_ok, 42);
        assert_eq!(m.request_err, 5);
        assert_eq!(m.request_fail, 0);
        assert_eq!(m.requests(), 47);
        assert_eq!(m.request_active, 1);
        assert_eq!(
            m.latency_histogram,
            vec![
                (Duration::from_millis(10), 40),
                (Duration::from_millis(50), 45)
            ]
        );
        assert_eq!(m.audit_events, 7);
        assert_eq!(m.up_time, Duration::from_millis(12_340));
        assert_eq!((m.cpus, m.usable_cpus, m.threads), (8, 2, 11));
        assert_eq!(m.heap_alloc, 1_234_500);
        assert_eq!(m.stack_alloc, 65536);
        let json = serde_json::to_value(&m).unwrap();
        assert_eq!(json["kes_http_response_time"]["10000000"], 40);
        assert_eq!(json["kes_system_up_time"], 12_340_000_000u64);
    }

    #[test]
    fn rejects_malformed_input() {
        assert!(Metrics::parse_text("kes_system_num_cpu eight").is_err());
        assert!(Metrics::parse_text("kes_system_num_cpu 1\nkes_system_num_cpu 2").is_err());
        assert!(Metrics::parse_text("kes_system_num_cpu -1").is_err());
        assert!(Metrics::parse_text("kes_http_response_time_bucket 3").is_err());
        assert!(Metrics::parse_text("x{a=\"b\" 3").is_err());
        assert_eq!(Metrics::parse_text("").unwrap(), Metrics::default());
    }
}
