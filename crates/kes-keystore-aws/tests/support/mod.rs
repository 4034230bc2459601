//! Test support: the moto server harness (from kes-testpeers) and a tiny loopback HTTP server for fakes.
#![allow(dead_code, unreachable_pub)]

pub mod moto {
    //! The moto harness of kes-testpeers, and this crate's keystore config for it.

    use kes_keystore_aws::AwsConfig;
    pub use kes_testpeers::moto::{Moto, REGION};

    /// A keystore config for a moto server.
    pub trait MotoConfig {
        /// The server's endpoint with its static credentials, 3 attempts per call.
        fn config(&self) -> AwsConfig;
    }

    impl MotoConfig for Moto {
        fn config(&self) -> AwsConfig {
            let mut config = AwsConfig::new(self.url(), REGION);
            config.set_credentials(self.access_key(), self.secret_key(), "");
            config.max_attempts = 3;
            config
        }
    }
}

pub use kes_testpeers::fake_http::{FakeRequest, FakeResponse, serve};
