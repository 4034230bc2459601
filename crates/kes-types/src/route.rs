//! The default route table of a KES server (spec §4.3, `api_routes.json`)
//! as data, and the `GET /v1/api` response.
//!
//! Every route has one method (`PUT` routes also accept `POST`), a body limit,
//! a response deadline and an authentication mode. Paths ending in `/` are
//! prefix routes whose remainder is the resource (a key, policy or identity
//! name, or a list pattern); the others match exactly. The `api:` section of
//! the server config may override timeouts and switch authentication off;
//! the routing itself (percent-decoding, redirects) belongs to the server core.

use std::time::Duration;

use serde::Serialize;

use crate::error::Error;
use crate::json::{self, field, go_deserialize};

/// An HTTP method of a KES route.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Method {
    /// `GET`.
    Get,
    /// `PUT` (routes with this method also accept `POST`).
    Put,
    /// `DELETE`.
    Delete,
}

impl Method {
    /// The method name as sent on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }

    /// Whether a request with `method` is accepted by a route with this
    /// method: equal names, or `POST` for `PUT`. Method names are
    /// case-sensitive, as in HTTP.
    pub fn accepts(self, method: &str) -> bool {
        method == self.as_str() || (self == Method::Put && method == "POST")
    }
}

/// How a route authenticates its caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthMode {
    /// No authentication at all (`/version`).
    None,
    /// Identity from the client certificate, then admin or policy check.
    Verify,
    /// Identity computed if a certificate is present, never rejected
    /// (`/v1/identity/self/describe`, and routes with `skip_auth: true`).
    Identify,
}

impl AuthMode {
    /// The name used in `api_routes.json`: `none`, `verify`, `identify`.
    pub const fn as_str(self) -> &'static str {
        match self {
            AuthMode::None => "none",
            AuthMode::Verify => "verify",
            AuthMode::Identify => "identify",
        }
    }
}

/// Which metrics a route feeds (spec §10.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RouteMetrics {
    /// Not counted.
    None,
    /// The request counters and the response-time histogram.
    Requests,
    /// `kes_log_error_events`.
    ErrorEvents,
    /// `kes_log_audit_events`.
    AuditEvents,
}

/// The API a route serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Api {
    /// `GET /version`.
    Version,
    /// `GET /v1/ready`.
    Ready,
    /// `GET /v1/status`.
    Status,
    /// `GET /v1/metrics`.
    Metrics,
    /// `GET /v1/api`.
    ListApis,
    /// `PUT /v1/key/create/<name>`.
    KeyCreate,
    /// `PUT /v1/key/import/<name>`.
    KeyImport,
    /// `GET /v1/key/describe/<name>`.
    KeyDescribe,
    /// `GET /v1/key/list/<pattern>`.
    KeyList,
    /// `DELETE /v1/key/delete/<name>`.
    KeyDelete,
    /// `PUT /v1/key/generate/<name>`.
    KeyGenerate,
    /// `PUT /v1/key/encrypt/<name>`.
    KeyEncrypt,
    /// `PUT /v1/key/decrypt/<name>`.
    KeyDecrypt,
    /// `PUT /v1/key/hmac/<name>`.
    KeyHmac,
    /// `GET /v1/policy/describe/<name>`.
    PolicyDescribe,
    /// `GET /v1/policy/read/<name>`.
    PolicyRead,
    /// `GET /v1/policy/list/<pattern>`.
    PolicyList,
    /// `GET /v1/identity/describe/<identity>`.
    IdentityDescribe,
    /// `GET /v1/identity/self/describe`.
    IdentitySelfDescribe,
    /// `GET /v1/identity/list/<pattern>`.
    IdentityList,
    /// `GET /v1/log/error`.
    LogError,
    /// `GET /v1/log/audit`.
    LogAudit,
}

/// One route: what the server enforces before a handler runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Route {
    /// The API this route serves.
    pub api: Api,
    /// The route's method.
    pub method: Method,
    /// The route path; ends in `/` for prefix routes.
    pub path: &'static str,
    /// The largest accepted request body in bytes (1 MB = 1 000 000).
    pub max_body: u64,
    /// Deadline for writing the complete response; zero means none.
    pub timeout: Duration,
    /// How the caller is authenticated.
    pub auth: AuthMode,
    /// Which metrics the route feeds.
    pub metrics: RouteMetrics,
}

const MB: u64 = 1_000_000;

const fn route(
    api: Api,
    method: Method,
    path: &'static str,
    max_body: u64,
    timeout_secs: u64,
    auth: AuthMode,
    metrics: RouteMetrics,
) -> Route {
    Route {
        api,
        method,
        path,
        max_body,
        timeout: Duration::from_secs(timeout_secs),
        auth,
        metrics,
    }
}

/// The default route table of the current KES server (spec §4.3).
pub const DEFAULT_ROUTES: [Route; 22] = {
    use AuthMode::{Identify, None as NoAuth, Verify};
    use Method::{Delete, Get, Put};
    use RouteMetrics::{AuditEvents, ErrorEvents, None as NoMetrics, Requests};
    [
        route(Api::Version, Get, "/version", 0, 10, NoAuth, NoMetrics),
        route(Api::Ready, Get, "/v1/ready", 0, 15, Verify, NoMetrics),
        route(Api::Status, Get, "/v1/status", 0, 15, Verify, NoMetrics),
        route(Api::Metrics, Get, "/v1/metrics", 0, 15, Verify, NoMetrics),
        route(Api::ListApis, Get, "/v1/api", 0, 10, Verify, NoMetrics),
        route(
            Api::KeyCreate,
            Put,
            "/v1/key/create/",
            0,
            15,
            Verify,
            Requests,
        ),
        route(
            Api::KeyImport,
            Put,
            "/v1/key/import/",
            MB,
            15,
            Verify,
            Requests,
        ),
        route(
            Api::KeyDescribe,
            Get,
            "/v1/key/describe/",
            0,
            15,
            Verify,
            Requests,
        ),
        route(Api::KeyList, Get, "/v1/key/list/", 0, 15, Verify, Requests),
        route(
            Api::KeyDelete,
            Delete,
            "/v1/key/delete/",
            0,
            15,
            Verify,
            Requests,
        ),
        route(
            Api::KeyGenerate,
            Put,
            "/v1/key/generate/",
            MB,
            15,
            Verify,
            Requests,
        ),
        route(
            Api::KeyEncrypt,
            Put,
            "/v1/key/encrypt/",
            MB,
            15,
            Verify,
            Requests,
        ),
        route(
            Api::KeyDecrypt,
            Put,
            "/v1/key/decrypt/",
            MB,
            15,
            Verify,
            Requests,
        ),
        route(Api::KeyHmac, Put, "/v1/key/hmac/", MB, 15, Verify, Requests),
        route(
            Api::PolicyDescribe,
            Get,
            "/v1/policy/describe/",
            0,
            15,
            Verify,
            Requests,
        ),
        route(
            Api::PolicyRead,
            Get,
            "/v1/policy/read/",
            0,
            15,
            Verify,
            Requests,
        ),
        route(
            Api::PolicyList,
            Get,
            "/v1/policy/list/",
            0,
            15,
            Verify,
            Requests,
        ),
        route(
            Api::IdentityDescribe,
            Get,
            "/v1/identity/describe/",
            0,
            15,
            Verify,
            Requests,
        ),
        route(
            Api::IdentitySelfDescribe,
            Get,
            "/v1/identity/self/describe",
            0,
            15,
            Identify,
            Requests,
        ),
        route(
            Api::IdentityList,
            Get,
            "/v1/identity/list/",
            0,
            15,
            Verify,
            Requests,
        ),
        route(
            Api::LogError,
            Get,
            "/v1/log/error",
            0,
            0,
            Verify,
            ErrorEvents,
        ),
        route(
            Api::LogAudit,
            Get,
            "/v1/log/audit",
            0,
            0,
            Verify,
            AuditEvents,
        ),
    ]
};

/// The routes on which `api.<path>.skip_auth: true` may be set. Upstream
/// documented exactly these four (and enforced them before 2023-10); the
/// current upstream code accepts any route, including decrypt (spec §2.2,
/// a recommendation we follow).
pub const SKIP_AUTH_ALLOWED: [Api; 4] = [Api::Ready, Api::Status, Api::Metrics, Api::ListApis];

impl Api {
    /// Every API, in route-table order.
    pub const ALL: [Api; 22] = {
        let mut all = [Api::Version; 22];
        let mut i = 0;
        while i < 22 {
            all[i] = DEFAULT_ROUTES[i].api;
            i += 1;
        }
        all
    };

    /// This API's default route.
    pub fn default_route(self) -> Route {
        DEFAULT_ROUTES
            .into_iter()
            .find(|r| r.api == self)
            .unwrap_or(DEFAULT_ROUTES[0])
    }

    /// The route path, e.g. `/v1/key/create/`.
    pub fn path(self) -> &'static str {
        self.default_route().path
    }

    /// The API whose route path is exactly `path` (as written in the `api:`
    /// section of the config: prefix routes with their trailing `/`).
    pub fn from_path(path: &str) -> Option<Api> {
        DEFAULT_ROUTES
            .into_iter()
            .find(|r| r.path == path)
            .map(|r| r.api)
    }

    /// Whether the route takes a resource after its path (prefix route).
    pub fn is_prefix(self) -> bool {
        self.path().ends_with('/')
    }

    /// Whether `api.<path>.skip_auth: true` may be set on this route.
    pub fn skip_auth_allowed(self) -> bool {
        SKIP_AUTH_ALLOWED.contains(&self)
    }
}

impl Route {
    /// This route as listed by `GET /v1/api`.
    pub fn describe(&self) -> ApiDescription {
        ApiDescription {
            method: self.method.as_str().to_owned(),
            path: self.path.to_owned(),
            max_body: i64::try_from(self.max_body).unwrap_or(i64::MAX),
            timeout: i64::try_from(self.timeout.as_secs()).unwrap_or(i64::MAX),
        }
    }
}

/// One element of the `GET /v1/api` response:
/// `{"method":"GET","path":"/v1/status","max_body":0,"timeout":15}`.
///
/// `timeout` is in whole seconds (truncated); `PUT` routes are listed as `PUT`
/// although they accept `POST`. Legacy servers also sent `verify_auth`;
/// clients ignore it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ApiDescription {
    /// The HTTP method.
    pub method: String,
    /// The route path.
    pub path: String,
    /// The body limit in bytes.
    pub max_body: i64,
    /// The timeout in whole seconds; 0 means none.
    pub timeout: i64,
}
go_deserialize!(ApiDescription {
    method: "method" => field::value,
    path: "path" => field::value,
    max_body: "max_body" => field::value,
    timeout: "timeout" => field::value,
});

/// Encodes the `GET /v1/api` response body for `routes` (in the given order;
/// KES does not specify one), with Go's trailing newline.
pub fn encode_api_list(routes: &[Route]) -> Result<Vec<u8>, Error> {
    let list: Vec<ApiDescription> = routes.iter().map(Route::describe).collect();
    json::to_vec(&list)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup() {
        for api in Api::ALL {
            assert_eq!(Api::from_path(api.path()), Some(api));
            assert_eq!(api.default_route().api, api);
        }
        assert_eq!(Api::from_path("/v1/key/create"), None);
        assert!(Api::KeyCreate.is_prefix());
        assert!(!Api::IdentitySelfDescribe.is_prefix());
        assert!(Api::Status.skip_auth_allowed());
        assert!(!Api::KeyDecrypt.skip_auth_allowed());
        assert!(Method::Put.accepts("POST"));
        assert!(Method::Put.accepts("PUT"));
        assert!(!Method::Get.accepts("POST"));
        assert!(!Method::Get.accepts("HEAD"));
        assert!(!Method::Get.accepts("get"));
    }

    #[test]
    fn api_list_bytes() {
        let body = encode_api_list(&DEFAULT_ROUTES[..2]).unwrap();
        assert_eq!(
            String::from_utf8(body).unwrap(),
            "[{\"method\":\"GET\",\"path\":\"/version\",\"max_body\":0,\"timeout\":10},\
             {\"method\":\"GET\",\"path\":\"/v1/ready\",\"max_body\":0,\"timeout\":15}]\n"
        );
    }
}
