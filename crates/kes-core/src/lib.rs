//! kes-core: the runtime-free KES server core.
//!
//! Given who is calling, when, and an HTTP request, [`Server::handle`] decides and answers
//! exactly as MinIO KES would: routing with Go `ServeMux` semantics, authentication and
//! policies, every v1 API with KES's bodies and sentinel errors, the key cache, audit and
//! error events, and Prometheus metrics. It does no IO, reads no clock and spawns no task: a
//! runtime shell owns sockets, TLS, timers and files and calls into it (the quinn-proto
//! model). It depends on no async runtime, HTTP stack, TLS library or keystore backend.
//!
//! [`config`] turns the YAML configuration file into a validated model (pure: the caller
//! passes the text and an environment lookup); it is the only module that uses YAML.

mod api;
pub mod config;
pub mod context;
pub mod env;
pub mod error;
pub mod events;
mod handlers;
pub mod http;
mod logs;
pub mod metrics;
mod proxy;
mod router;
pub mod server;

pub use context::{Peer, RequestContext};
pub use env::{Clock, ForwardedCertVerifier, StdSystemStats, SystemStats, VersionInfo};
pub use error::Error;
pub use events::{AuditEvent, ErrorEvent, EventSink, Level, NoopSink};
pub use http::{Body, BodyStream, Headers, Request, Response, RouteInfo, accepts, method_name};
pub use kes_keystore::CacheConfig;
pub use kes_types::AuthMode;
pub use server::{ApiOverride, PolicyOptions, ProxyOptions, Server, ServerEnv, ServerOptions};
