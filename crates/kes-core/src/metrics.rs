//! Prometheus metrics with KES's names, types, labels and buckets (spec §10.3), so KES's
//! Grafana dashboard works unchanged.
//!
//! The `prometheus` crate keeps metric names exactly as given (no `_total` suffix is added to
//! counters), which is what KES's dashboard queries.

use std::sync::OnceLock;
use std::time::Duration;

use prometheus::{
    Counter, CounterVec, Encoder as _, Gauge, Histogram, HistogramOpts, IntCounter, Opts, Registry,
};

use crate::env::SystemStats;
use crate::error::Error;

/// The response-time histogram's bucket bounds, in seconds.
pub const RESPONSE_TIME_BUCKETS: [f64; 10] = [0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 3.0, 5.0, 10.0];

/// The metric families of one server.
pub(crate) struct Metrics {
    registry: Registry,
    success: CounterVec,
    error: CounterVec,
    failure: CounterVec,
    active: Gauge,
    response_time: Histogram,
    pub(crate) error_events: IntCounter,
    pub(crate) audit_events: IntCounter,
    /// Counters of the common status codes, resolved once (a `CounterVec` lookup hashes the
    /// label values on every call). Filled on first use, so a code never seen has no sample.
    by_code: [OnceLock<Counter>; COMMON_CODES.len()],
    up_time: Gauge,
    num_cpu: Gauge,
    num_cpu_used: Gauge,
    num_threads: Gauge,
    heap_used: Gauge,
    heap_objects: Gauge,
    stack_used: Gauge,
}

fn gauge(registry: &Registry, name: &str, help: &str) -> Result<Gauge, prometheus::Error> {
    let g = Gauge::with_opts(Opts::new(name, help))?;
    registry.register(Box::new(g.clone()))?;
    Ok(g)
}

fn counter_vec(
    registry: &Registry,
    name: &str,
    help: &str,
) -> Result<CounterVec, prometheus::Error> {
    let c = CounterVec::new(Opts::new(name, help), &["code"])?;
    registry.register(Box::new(c.clone()))?;
    Ok(c)
}

fn int_counter(
    registry: &Registry,
    name: &str,
    help: &str,
) -> Result<IntCounter, prometheus::Error> {
    let c = IntCounter::with_opts(Opts::new(name, help))?;
    registry.register(Box::new(c.clone()))?;
    Ok(c)
}

impl Metrics {
    /// Registers every family in a fresh registry.
    pub(crate) fn new() -> Result<Self, Error> {
        Self::build().map_err(|e| Error::Metrics(e.to_string()))
    }

    fn build() -> Result<Self, prometheus::Error> {
        let r = Registry::new();
        let response_time = Histogram::with_opts(
            HistogramOpts::new(
                "kes_http_response_time",
                "Histogram of request response times spawning from 10ms to 10s.",
            )
            .buckets(RESPONSE_TIME_BUCKETS.to_vec()),
        )?;
        r.register(Box::new(response_time.clone()))?;
        Ok(Self {
            success: counter_vec(
                &r,
                "kes_http_request_success",
                "Number of requests that have been served successfully.",
            )?,
            error: counter_vec(
                &r,
                "kes_http_request_error",
                "Number of request that failed due to some error. (HTTP 4xx status code)",
            )?,
            failure: counter_vec(
                &r,
                "kes_http_request_failure",
                "Number of request that failed due to some internal failure. (HTTP 5xx status code)",
            )?,
            active: gauge(
                &r,
                "kes_http_request_active",
                "Number of active requests that are not finished, yet.",
            )?,
            response_time,
            by_code: Default::default(),
            error_events: int_counter(
                &r,
                "kes_log_error_events",
                "Number of error log events written to error log targets.",
            )?,
            audit_events: int_counter(
                &r,
                "kes_log_audit_events",
                "Number of audit log events written to audit log targets.",
            )?,
            up_time: gauge(
                &r,
                "kes_system_up_time",
                "The time the server has been up and running in seconds.",
            )?,
            num_cpu: gauge(
                &r,
                "kes_system_num_cpu",
                "The number of logical CPUs available on the system. It may be larger than the number of usable CPUs.",
            )?,
            num_cpu_used: gauge(
                &r,
                "kes_system_num_cpu_used",
                "The number of logical CPUs usable by the server. It may be smaller than the number of available CPUs.",
            )?,
            num_threads: gauge(
                &r,
                "kes_system_num_threads",
                "The number of concurrently running threads.",
            )?,
            heap_used: gauge(
                &r,
                "kes_system_mem_heap_used",
                "The number of bytes that are currently allocated on the heap memory.",
            )?,
            heap_objects: gauge(
                &r,
                "kes_system_mem_heap_objects",
                "The number of objects that are currently allocated on the heap memory.",
            )?,
            stack_used: gauge(
                &r,
                "kes_system_mem_stack_used",
                "The number of bytes that are currently used on the stack memory.",
            )?,
            registry: r,
        })
    }

    /// A request to a metered route started.
    pub(crate) fn request_started(&self) {
        self.active.inc();
    }

    /// A request to a metered route ended (answered, or dropped by the shell).
    pub(crate) fn request_ended(&self) {
        self.active.dec();
    }

    /// A request to a metered route was answered with `status` after `latency`.
    pub(crate) fn request_observed(&self, status: u16, latency: Duration) {
        if let Some(family) = self.family(status) {
            match COMMON_CODES.iter().position(|c| *c == status) {
                Some(i) => match self.by_code.get(i) {
                    Some(slot) => slot
                        .get_or_init(|| family.with_label_values(&[&status.to_string()]))
                        .inc(),
                    None => family.with_label_values(&[&status.to_string()]).inc(),
                },
                None => family.with_label_values(&[&status.to_string()]).inc(),
            }
        }
        self.response_time.observe(latency.as_secs_f64());
    }

    fn family(&self, status: u16) -> Option<&CounterVec> {
        match status {
            200..=299 => Some(&self.success),
            400..=499 => Some(&self.error),
            500..=599 => Some(&self.failure),
            _ => None,
        }
    }

    /// Refreshes the system gauges and renders the text exposition format.
    pub(crate) fn render(&self, up_time: Duration, stats: &dyn SystemStats) -> String {
        // Go truncates the uptime to 10 ms.
        let up =
            Duration::from_millis(u64::try_from(up_time.as_millis() / 10 * 10).unwrap_or(u64::MAX));
        self.up_time.set(up.as_secs_f64());
        self.num_cpu.set(stats.num_cpu() as f64);
        self.num_cpu_used.set(stats.num_cpu_used() as f64);
        self.num_threads.set(stats.num_threads() as f64);
        self.heap_used.set(stats.heap_used() as f64);
        self.heap_objects.set(stats.heap_objects() as f64);
        self.stack_used.set(stats.stack_used() as f64);
        let mut buf = Vec::with_capacity(4096);
        // Encoding into a Vec cannot fail for well-formed families.
        let _ = prometheus::TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

/// Status codes whose counters are cached.
const COMMON_CODES: [u16; 11] = [200, 400, 403, 404, 405, 406, 409, 500, 502, 503, 504];

/// The `Content-Type` KES's Go library sends for the text exposition format.
pub const TEXT_CONTENT_TYPE: &str =
    "text/plain; version=0.0.4; charset=utf-8; escaping=underscores";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::StdSystemStats;

    #[test]
    fn families_names_types_and_buckets() {
        let m = Metrics::new().unwrap();
        let text = m.render(Duration::from_millis(12_345), &StdSystemStats);
        // Labelled counters without observations have no samples.
        assert!(!text.contains("kes_http_request_success"), "{text}");
        for name in [
            "# TYPE kes_http_request_active gauge",
            "# TYPE kes_http_response_time histogram",
            "# TYPE kes_log_error_events counter",
            "# TYPE kes_log_audit_events counter",
            "# TYPE kes_system_up_time gauge",
            "kes_system_up_time 12.34\n",
            "# TYPE kes_system_num_cpu gauge",
            "# TYPE kes_system_num_cpu_used gauge",
            "# TYPE kes_system_num_threads gauge",
            "# TYPE kes_system_mem_heap_used gauge",
            "# TYPE kes_system_mem_heap_objects gauge",
            "# TYPE kes_system_mem_stack_used gauge",
        ] {
            assert!(text.contains(name), "missing {name:?} in\n{text}");
        }
        for le in [
            "0.01", "0.05", "0.1", "0.25", "0.5", "1", "1.5", "3", "5", "10", "+Inf",
        ] {
            assert!(
                text.contains(&format!("kes_http_response_time_bucket{{le=\"{le}\"}} 0")),
                "bucket {le}\n{text}"
            );
        }

        for (status, latency) in [
            (200, Duration::from_millis(20)),
            (404, Duration::from_millis(2)),
            (502, Duration::from_secs(2)),
        ] {
            m.request_started();
            m.request_observed(status, latency);
            m.request_ended();
        }
        m.request_started();
        let text = m.render(Duration::ZERO, &StdSystemStats);
        assert!(text.contains("# TYPE kes_http_request_success counter"));
        assert!(
            text.contains("kes_http_request_success{code=\"200\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("kes_http_request_error{code=\"404\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("kes_http_request_failure{code=\"502\"} 1"),
            "{text}"
        );
        assert!(text.contains("kes_http_request_active 1"), "{text}");
        assert!(
            text.contains("kes_http_response_time_bucket{le=\"0.01\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("kes_http_response_time_bucket{le=\"0.05\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("kes_http_response_time_bucket{le=\"3\"} 3"),
            "{text}"
        );
        assert!(text.contains("kes_http_response_time_count 3"), "{text}");
    }
}
