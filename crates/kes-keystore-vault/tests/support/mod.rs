//! Helpers shared by the integration tests: store configs for RustyVault, and the fake Vault.

// Each test binary uses a different part of this module.
#![allow(dead_code, unreachable_pub)]

pub mod fake_vault;

use std::time::{Duration, Instant};

use kes_keystore_vault::{AppRoleConfig, VaultConfig};
use kes_testpeers::RustyVault;

/// A config for the `kes-kv` mount of `rv` with a fresh AppRole role whose tokens live
/// `token_ttl_secs` seconds; short timeouts so fault tests finish quickly.
pub fn rv_config(rv: &RustyVault, role: &str, token_ttl_secs: u64) -> VaultConfig {
    let creds = rv
        .approle(role, token_ttl_secs)
        .expect("create AppRole role");
    let mut config = VaultConfig::new(rv.endpoint());
    config.engine = RustyVault::KV_MOUNT.to_owned();
    config.approle = Some(AppRoleConfig::new(creds.role_id, creds.secret_id));
    config.timeout = Duration::from_secs(5);
    config.max_retries = 1;
    config.status_ping = Duration::from_secs(1);
    config
}

/// Retries `f` until it returns `Some` or `timeout` passes.
pub async fn eventually<T, F, Fut>(timeout: Duration, mut f: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
