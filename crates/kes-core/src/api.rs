//! Request processing: routing, method check, authentication and authorisation, the v1
//! handlers, and the bookkeeping every request gets (metrics, audit event).
//!
//! Processing order for a matched route (spec §1.4): method → resource → body limit →
//! authentication/authorisation → handler (name validation first, then work).

use std::borrow::Cow;
use std::future::Future;
use std::net::IpAddr;
use std::ops::Deref;
use std::time::{Duration, SystemTime};

use kes_policy::{Decision, Identity};
use kes_types::ApiError;
use kes_types::route::{Api, AuthMode, Route, RouteMetrics};
use zeroize::Zeroizing;

use crate::events::{AuditEvent, ErrorEvent, Level};
use crate::http::{Body, Request, Response};
use crate::router::{self, Resolution};
use crate::server::{Server, State};
use crate::{Peer, RequestContext, handlers};

/// Everything a handler may look at.
pub(crate) struct Call<'a> {
    pub(crate) server: &'a Server,
    pub(crate) state: &'a State,
    pub(crate) ctx: &'a RequestContext,
    pub(crate) req: &'a Request,
    pub(crate) route: &'a Route,
    /// The request body (zeroized on drop).
    pub(crate) body: &'a [u8],
    /// The percent-decoded path (lossy UTF-8), used for policies and logs.
    pub(crate) path: &'a str,
    /// The percent-decoded resource after the route prefix (lossy UTF-8).
    pub(crate) resource: &'a str,
    /// The caller, once authenticated or identified (borrowed from the context unless a TLS
    /// proxy forwarded it).
    pub(crate) identity: Option<Cow<'a, Identity>>,
    /// Client IP for events.
    pub(crate) ip: Option<IpAddr>,
    /// Audit message override (e.g. `secret key 'k' created`).
    pub(crate) audit_message: Option<String>,
}

impl Call<'_> {
    /// The caller's identity string, empty when unknown.
    pub(crate) fn identity_str(&self) -> &str {
        self.identity.as_deref().map_or("", Identity::as_str)
    }

    /// Emits an error-log event for this request.
    pub(crate) fn log(&self, level: Level, message: impl Into<String>) {
        self.server.emit_error(
            self.state,
            ErrorEvent {
                time: self.ctx.now,
                level,
                message: message.into(),
                method: self.req.method.to_string(),
                path: self.path.to_owned(),
                ip: self.ip,
                identity: self.identity.as_deref().map(|i| i.as_str().to_owned()),
            },
        );
    }
}

/// A handler's result: a response, or a KES error (status + message).
pub(crate) type HandlerResult = Result<Response, ApiError>;

/// Decrements the active-requests gauge when a metered request ends, even if the shell drops
/// the future (timeout, disconnect).
struct ActiveGuard<'a>(Option<&'a Server>);

impl Drop for ActiveGuard<'_> {
    fn drop(&mut self) {
        if let Some(server) = self.0 {
            server.shared.metrics.request_ended();
        }
    }
}

/// Answers one request with the configuration snapshot current at the call.
///
/// A plain function returning an `async move` block rather than an `async fn`: an `async fn`
/// moves its arguments into locals of its state machine, which then holds the request and
/// its context twice (as captured arguments and as locals), and shells box every request's
/// future. `server` is `&Server` or an owner such as `Arc<Server>` ([`Server::handle_arc`]).
/// The test `request_future_stays_small` keeps the future at most 1,008 bytes.
pub(crate) fn handle<S>(
    server: S,
    ctx: RequestContext,
    mut req: Request,
) -> impl Future<Output = Response> + Send
where
    S: Deref<Target = Server> + Send + Sync,
{
    let state = server.state.load_full();
    async move {
        let server = &*server;
        let state = &*state;
        let body = Zeroizing::new(std::mem::take(&mut req.body));
        let remote_ip = ctx.remote_addr.map(|a| a.ip());

        let resolution = router::resolve(&state.patterns, &req.raw_path, req.query.as_deref());
        let (response, audit_path, identity, ip, message, elapsed) = match resolution {
            Resolution::BadRequest => (
                plain(400, "400 Bad Request"),
                Cow::Borrowed(req.raw_path.as_str()),
                None,
                remote_ip,
                None,
                None,
            ),
            Resolution::NotFound => (
                not_found(),
                Cow::Owned(lossy_decoded(&req.raw_path)),
                None,
                remote_ip,
                None,
                None,
            ),
            Resolution::Redirect(location) => (
                redirect(&req.method, location),
                Cow::Owned(lossy_decoded(&req.raw_path)),
                None,
                remote_ip,
                None,
                None,
            ),
            Resolution::Route {
                index,
                path,
                resource,
            } => {
                let Some(route) = state.routes.get(index) else {
                    return not_found();
                };
                let metered = route.metrics == RouteMetrics::Requests;
                let _active = if metered {
                    server.shared.metrics.request_started();
                    ActiveGuard(Some(server))
                } else {
                    ActiveGuard(None)
                };
                let mut call = Call {
                    server,
                    state,
                    ctx: &ctx,
                    req: &req,
                    route,
                    body: &body,
                    path: &path,
                    resource: &resource,
                    identity: None,
                    ip: remote_ip,
                    audit_message: None,
                };
                let response = serve(&mut call)
                    .await
                    .unwrap_or_else(|e| error_response(&e));
                let elapsed = latency(server, ctx.now);
                if metered {
                    server
                        .shared
                        .metrics
                        .request_observed(response.status, elapsed);
                }
                let Call {
                    identity,
                    ip,
                    audit_message,
                    ..
                } = call;
                // A borrowed identity is the peer's own; re-borrow it from the context so that
                // the event does not hold on to the call.
                let identity = match identity {
                    None => None,
                    Some(Cow::Borrowed(_)) => {
                        ctx.peer.identity().map(|i| Cow::Borrowed(i.as_str()))
                    }
                    Some(Cow::Owned(i)) => Some(Cow::Owned(String::from(i))),
                };
                (response, path, identity, ip, audit_message, Some(elapsed))
            }
        };

        server.emit_audit(
            state,
            &AuditEvent {
                time: ctx.now,
                level: Level::INFO,
                message: message.map_or(Cow::Borrowed("http request"), Cow::Owned),
                method: Cow::Borrowed(&req.method),
                path: audit_path,
                ip,
                identity,
                status: response.status,
                latency: elapsed.unwrap_or_else(|| latency(server, ctx.now)),
            },
        );
        response
    }
}

fn latency(server: &Server, start: SystemTime) -> Duration {
    server
        .shared
        .env
        .clock
        .now()
        .duration_since(start)
        .unwrap_or(Duration::ZERO)
}

/// Method check, authentication, authorisation, then the handler.
async fn serve(call: &mut Call<'_>) -> HandlerResult {
    let route = call.route;
    if !route.method.accepts(&call.req.method) {
        let mut response = error_response(&ApiError::method_not_allowed(
            &call.req.method,
            route.method.as_str(),
        ));
        response
            .headers
            .push(("accept", Cow::Borrowed(route.method.as_str())));
        return Ok(response);
    }
    match route.auth {
        AuthMode::Verify => {
            let identity = authenticate(call)?;
            call.identity = Some(identity);
            authorize(call)?;
        }
        AuthMode::Identify => {
            call.identity = authenticate(call).ok();
        }
        _ => {}
    }
    handlers::dispatch(call).await
}

/// The caller's identity (spec §2.1, §2.4), or the 400 KES answers when there is none.
fn authenticate<'a>(call: &mut Call<'a>) -> Result<Cow<'a, Identity>, ApiError> {
    let identity = match &call.ctx.peer {
        Peer::Certificate(identity) => identity,
        Peer::Insecure => return Err(ApiError::tls_required()),
        Peer::NoCertificate => return Err(ApiError::client_certificate_required()),
        Peer::TooManyCertificates => return Err(ApiError::too_many_client_certificates()),
        _ => return Err(ApiError::from_static(400, "invalid client certificate")),
    };
    let Some(proxy) = call.state.proxy.as_ref() else {
        return Ok(Cow::Borrowed(identity));
    };
    if !proxy.identities.contains(identity) {
        return Ok(Cow::Borrowed(identity));
    }
    if let Some(ip) = crate::proxy::forwarded_for(call.req) {
        call.ip = Some(ip);
    }
    let cert = crate::proxy::forwarded_certificate(call.req, &proxy.header)?;
    if let Some(verifier) = &proxy.verifier {
        if !verifier.verify(cert.as_der(), call.ctx.now) {
            return Err(ApiError::from_static(403, ""));
        }
    }
    Ok(Cow::Owned(cert.identity()))
}

/// Admin bypass, then the identity's policy (deny before allow).
fn authorize(call: &Call<'_>) -> Result<(), ApiError> {
    let Some(identity) = call.identity.as_deref() else {
        return Err(ApiError::not_allowed());
    };
    match call
        .state
        .policies
        .authorize(identity, call.state.admin.as_ref(), call.path)
    {
        Decision::Admin | Decision::Allowed { .. } => Ok(()),
        Decision::NoPolicy => {
            call.log(Level::DEBUG, "access denied: identity not found");
            Err(ApiError::not_allowed())
        }
        Decision::Denied { policy } => {
            call.log(
                Level::DEBUG,
                format!("access denied: rejected by policy '{policy}'"),
            );
            Err(ApiError::not_allowed())
        }
        _ => Err(ApiError::not_allowed()),
    }
}

/// The KES error body: `{"message":"…"\n}` with `Content-Type: application/json`.
pub(crate) fn error_response(err: &ApiError) -> Response {
    Response::full(err.status, "application/json", err.to_body())
}

/// Go's `http.Error`: plain text with a trailing newline and `nosniff`.
fn plain(status: u16, text: &str) -> Response {
    let mut r = Response::full(
        status,
        "text/plain; charset=utf-8",
        format!("{text}\n").into_bytes(),
    );
    r.headers
        .push(("x-content-type-options", Cow::Borrowed("nosniff")));
    r
}

/// Go's `http.NotFound`.
fn not_found() -> Response {
    plain(404, "404 page not found")
}

/// Go's `http.Redirect` with 301.
fn redirect(method: &str, location: String) -> Response {
    let mut headers = vec![("location", Cow::Owned(location.clone()))];
    let body = if method == "GET" || method == "HEAD" {
        headers.push(("content-type", Cow::Borrowed("text/html; charset=utf-8")));
        if method == "GET" {
            Body::Full(Zeroizing::new(
                format!(
                    "<a href=\"{}\">Moved Permanently</a>.\n\n",
                    html_escape(&location)
                )
                .into_bytes(),
            ))
        } else {
            Body::Empty
        }
    } else {
        Body::Empty
    };
    Response {
        status: 301,
        headers,
        body,
    }
}

/// Go `html.EscapeString`.
fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\'' => out.push_str("&#39;"),
            '"' => out.push_str("&#34;"),
            c => out.push(c),
        }
    }
    out
}

fn lossy_decoded(raw: &str) -> String {
    String::from_utf8_lossy(&router::percent_decode(raw.as_bytes())).into_owned()
}

impl Server {
    /// Sends an audit event to the sink (level-filtered) and to subscribers.
    pub(crate) fn emit_audit(&self, state: &State, ev: &AuditEvent<'_>) {
        if state.audit_level.enabled(ev.level) {
            self.shared.env.sink.audit(ev);
        }
        let logs = &self.shared.logs.audit;
        if !logs.is_empty() && stream_level(state.audit_level).enabled(ev.level) {
            let n = logs.publish(ev.to_json_line().as_bytes());
            self.shared.metrics.audit_events.inc_by(n);
        }
    }

    /// Sends an error event to the sink (level-filtered) and to subscribers.
    pub(crate) fn emit_error(&self, state: &State, ev: ErrorEvent) {
        if state.error_level.enabled(ev.level) {
            self.shared.env.sink.error(&ev);
        }
        let logs = &self.shared.logs.error;
        if !logs.is_empty() && stream_level(state.error_level).enabled(ev.level) {
            let n = logs.publish(ev.to_json_line().as_bytes());
            self.shared.metrics.error_events.inc_by(n);
        }
    }
}

/// Subscribers asked for events explicitly: they get at least `INFO` and above, even when
/// the configured log is quieter or `off`.
fn stream_level(configured: Level) -> Level {
    configured.min(Level::INFO)
}

#[allow(dead_code)]
fn _uses(_: Api) {}
