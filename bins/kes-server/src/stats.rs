//! Process statistics for `/v1/status` and the `kes_system_*` gauges, from `/proc/self` on
//! Linux (zero elsewhere).

use kes_core::SystemStats;

/// [`SystemStats`] read from `/proc/self/status`: the thread count and the resident anonymous
/// memory (`RssAnon`, which is the heap for this process: Rust has no garbage-collected heap
/// to report instead).
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcStats;

impl ProcStats {
    fn status_field(name: &str) -> Option<u64> {
        let text = std::fs::read_to_string("/proc/self/status").ok()?;
        parse_status_field(&text, name)
    }
}

fn parse_status_field(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?.strip_prefix(':')?;
        let mut parts = rest.split_whitespace();
        let value: u64 = parts.next()?.parse().ok()?;
        Some(match parts.next() {
            Some("kB") => value.saturating_mul(1024),
            _ => value,
        })
    })
}

impl SystemStats for ProcStats {
    fn num_threads(&self) -> u64 {
        Self::status_field("Threads").unwrap_or(0)
    }

    fn heap_used(&self) -> u64 {
        Self::status_field("RssAnon").unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_status() {
        let text = "Name:\tkes-server\nVmRSS:\t   10240 kB\nRssAnon:\t    4096 kB\nThreads:\t5\n";
        assert_eq!(parse_status_field(text, "Threads"), Some(5));
        assert_eq!(parse_status_field(text, "RssAnon"), Some(4096 * 1024));
        assert_eq!(parse_status_field(text, "Missing"), None);
        assert_eq!(parse_status_field(text, "VmRS"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn reads_this_process() {
        assert!(ProcStats.num_threads() >= 1);
        assert!(ProcStats.heap_used() > 0);
    }
}
