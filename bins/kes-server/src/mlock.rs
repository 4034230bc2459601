//! Best-effort `mlockall`: keep the process's memory (key material included) out of swap.
//!
//! Uses `MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT`: pages are locked when they are first
//! touched, so locking does not fault in every reserved page (thread stacks, allocator
//! arenas) and the resident size stays what the server actually uses. Kernels without
//! `MCL_ONFAULT` (before Linux 4.4) get `MCL_CURRENT | MCL_FUTURE`. Locking needs
//! `CAP_IPC_LOCK` or a large enough `RLIMIT_MEMLOCK`; without it the server runs unlocked and
//! says so.

use std::fmt;

/// The outcome of [`lock_memory`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MlockStatus {
    /// All current and future pages are locked.
    Locked,
    /// The kernel refused (the reason, e.g. `Operation not permitted`).
    Failed(String),
    /// The platform has no `mlockall`.
    Unsupported,
}

impl fmt::Display for MlockStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MlockStatus::Locked => f.write_str("enabled"),
            MlockStatus::Failed(e) => write!(f, "disabled ({e})"),
            MlockStatus::Unsupported => f.write_str("not supported on this platform"),
        }
    }
}

/// Locks the process's memory, best effort.
pub fn lock_memory() -> MlockStatus {
    imp::lock()
}

#[cfg(any(target_os = "linux", target_os = "android"))]
mod imp {
    use rustix::mm::{MlockAllFlags, mlockall};

    use super::MlockStatus;

    pub(super) fn lock() -> MlockStatus {
        let base = MlockAllFlags::CURRENT | MlockAllFlags::FUTURE;
        match mlockall(base | MlockAllFlags::ONFAULT) {
            Ok(()) => MlockStatus::Locked,
            Err(rustix::io::Errno::INVAL) => match mlockall(base) {
                Ok(()) => MlockStatus::Locked,
                Err(e) => MlockStatus::Failed(std::io::Error::from(e).to_string()),
            },
            Err(e) => MlockStatus::Failed(std::io::Error::from(e).to_string()),
        }
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
mod imp {
    use super::MlockStatus;

    pub(super) fn lock() -> MlockStatus {
        MlockStatus::Unsupported
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display() {
        assert_eq!(MlockStatus::Locked.to_string(), "enabled");
        assert_eq!(
            MlockStatus::Failed("Operation not permitted (os error 1)".into()).to_string(),
            "disabled (Operation not permitted (os error 1))"
        );
    }
}
