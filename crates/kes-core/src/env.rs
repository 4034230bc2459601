//! What the runtime shell injects: a clock, process statistics, build information and the
//! optional verifier for TLS-proxy forwarded certificates.
//!
//! The core never reads the system clock or the OS on its own (quinn-proto style): request
//! times arrive in each [`RequestContext`](crate::RequestContext), and the [`Clock`] is only used
//! to measure how long a request took.

use std::time::SystemTime;

/// A wall clock. The shell passes one that reads the system time; tests pass a fixed or
/// manually advanced one.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> SystemTime;
}

/// Process statistics for `/v1/status` and the `kes_system_*` gauges. Every method has a
/// default, so a shell only overrides what it can measure.
pub trait SystemStats: Send + Sync {
    /// Logical CPUs of the machine.
    fn num_cpu(&self) -> u64 {
        std::thread::available_parallelism().map_or(1, |n| n.get() as u64)
    }
    /// Logical CPUs usable by this process.
    fn num_cpu_used(&self) -> u64 {
        self.num_cpu()
    }
    /// Threads of the process (0 = unknown).
    fn num_threads(&self) -> u64 {
        0
    }
    /// Heap bytes in use (0 = unknown).
    fn heap_used(&self) -> u64 {
        0
    }
    /// Heap objects (0 = unknown).
    fn heap_objects(&self) -> u64 {
        0
    }
    /// Stack bytes in use (0 = unknown).
    fn stack_used(&self) -> u64 {
        0
    }
}

/// [`SystemStats`] from the standard library only (CPU counts; memory figures unknown).
#[derive(Debug, Clone, Copy, Default)]
pub struct StdSystemStats;

impl SystemStats for StdSystemStats {}

/// Verifies a client certificate forwarded by a TLS proxy when `tls.auth` is `on` (spec §2.4).
/// The shell implements it with its TLS library's chain verification.
pub trait ForwardedCertVerifier: Send + Sync {
    /// `true` if `cert_der` chains to a trusted root and is valid at `now`.
    fn verify(&self, cert_der: &[u8], now: SystemTime) -> bool;
}

/// Build information reported by `GET /version` and `GET /v1/status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionInfo {
    /// Release version, e.g. `2025-03-12T09-35-18Z` or a semver string.
    pub version: String,
    /// VCS commit hash.
    pub commit: String,
}

impl Default for VersionInfo {
    fn default() -> Self {
        Self {
            version: "<unknown>".to_owned(),
            commit: "<unknown>".to_owned(),
        }
    }
}
