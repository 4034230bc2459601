//! `FakeVault`: a small **fake** of HashiCorp Vault's HTTP API, for what RustyVault lacks.
//!
//! This is a test double, not a Vault: it answers only the endpoints below, the way Vault's
//! public API documentation describes them (paths, methods, status codes, JSON shapes, the
//! `{"errors":[…]}` error body), and nothing else (anything else is 404 "no handler for
//! route"). It keeps everything in memory and is served by hyper on loopback.
//!
//! | endpoint (docs) | fake |
//! |---|---|
//! | `GET sys/health` (`*code` query overrides) | 200, or the `sealedcode`/`uninitcode` given (503/501 by default) |
//! | `GET sys/seal-status` | `{"type":"shamir","initialized","sealed","t","n","progress"}` |
//! | KV v1 `GET/PUT/POST/DELETE <mount>/<path>`, `LIST` or `GET ?list=true` | 200/204; 404 `{"errors":[]}` when missing |
//! | KV v2 `GET <mount>/data/<path>?version=N`, `PUT/POST <mount>/data/<path>` with `options.cas`, `DELETE/LIST <mount>/metadata/<path>` | versions, check-and-set (400 "check-and-set parameter did not match the current version") |
//! | transit `POST <mount>/encrypt/<key>`, `POST <mount>/decrypt/<key>` | `vault:v1:` ciphertexts (the "encryption" is a byte reversal plus XOR: a fake, not cryptography) |
//! | AppRole `PUT/POST auth/<mount>/login {role_id, secret_id}` | an `auth` block; 400 "invalid role or secret ID" |
//! | Kubernetes `PUT/POST auth/<mount>/login {role, jwt}` | an `auth` block; 403 "permission denied" |
//! | `PUT/POST auth/token/renew-self` | extends the token by its TTL |
//!
//! Namespaces: mounts live in a namespace, chosen by the `X-Vault-Namespace` header (none =
//! root). Tokens: every call except health, seal-status and login needs a live token
//! (`X-Vault-Token`), otherwise 403 `{"errors":["permission denied"]}`; tokens expire after
//! their TTL. While sealed, every call except health and seal-status answers 503
//! `{"errors":["Vault is sealed"]}`.
//!
//! Test controls are methods on [`FakeVault`] (not HTTP endpoints): seal/unseal, expire every
//! token, reject the `LIST` method with 405 (like a proxy that does not know it), stall
//! (accept connections but never answer), and a log of the requests.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use serde_json::{Map, Value, json};

type Fields = Map<String, Value>;

enum Mount {
    Kv1(BTreeMap<String, Fields>),
    /// path → versions (index 0 = version 1); `None` = deleted version.
    Kv2(BTreeMap<String, Vec<Option<Fields>>>),
    Transit(Vec<String>),
    AppRole {
        role_id: String,
        secret_id: String,
        ttl: u64,
    },
    Kubernetes {
        role: String,
        jwt: String,
        ttl: u64,
    },
}

struct Token {
    ttl: u64,
    expires: Instant,
}

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// HTTP method.
    pub method: String,
    /// Path including the query.
    pub path: String,
    /// `X-Vault-Namespace`, if sent.
    pub namespace: Option<String>,
    /// Whether `X-Vault-Token` was sent.
    pub token: bool,
}

#[derive(Default)]
struct State {
    mounts: HashMap<(String, String), Mount>,
    tokens: HashMap<String, Token>,
    next_token: u64,
    sealed: bool,
    initialized: bool,
    reject_list_method: bool,
    stall: bool,
    login_without_auth: bool,
    renewals: u64,
    logins: u64,
    seen: Vec<Seen>,
}

/// The fake Vault server (see the module docs). Stops when dropped.
pub struct FakeVault {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeVault {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeVault {
    /// Starts an empty, initialised, unsealed fake on a loopback port.
    pub async fn start() -> FakeVault {
        let state = Arc::new(Mutex::new(State {
            initialized: true,
            ..State::default()
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let served = Arc::clone(&state);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = Arc::clone(&served);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let state = Arc::clone(&state);
                        async move { Ok::<_, std::convert::Infallible>(handle(state, req).await) }
                    });
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, service)
                        .await;
                });
            }
        });
        FakeVault { addr, state, task }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }

    /// Mounts a KV v1 engine at `path` in namespace `ns` ("" = root).
    pub fn mount_kv1(&self, ns: &str, path: &str) {
        self.with(|s| s.mounts.insert(key(ns, path), Mount::Kv1(BTreeMap::new())));
    }

    /// Mounts a KV v2 engine at `path` in namespace `ns`.
    pub fn mount_kv2(&self, ns: &str, path: &str) {
        self.with(|s| s.mounts.insert(key(ns, path), Mount::Kv2(BTreeMap::new())));
    }

    /// Mounts a transit engine at `path` with the named keys.
    pub fn mount_transit(&self, ns: &str, path: &str, keys: &[&str]) {
        let keys = keys.iter().map(|k| (*k).to_owned()).collect();
        self.with(|s| s.mounts.insert(key(ns, path), Mount::Transit(keys)));
    }

    /// Enables AppRole at `auth/<path>` with one role; its tokens live `ttl` seconds.
    pub fn enable_approle(&self, ns: &str, path: &str, role_id: &str, secret_id: &str, ttl: u64) {
        let mount = Mount::AppRole {
            role_id: role_id.to_owned(),
            secret_id: secret_id.to_owned(),
            ttl,
        };
        self.with(|s| s.mounts.insert(key(ns, &format!("auth/{path}")), mount));
    }

    /// Enables Kubernetes auth at `auth/<path>` accepting `jwt` for `role`.
    pub fn enable_kubernetes(&self, ns: &str, path: &str, role: &str, jwt: &str, ttl: u64) {
        let mount = Mount::Kubernetes {
            role: role.to_owned(),
            jwt: jwt.to_owned(),
            ttl,
        };
        self.with(|s| s.mounts.insert(key(ns, &format!("auth/{path}")), mount));
    }

    /// Writes a KV v1 entry directly.
    pub fn put_kv1(&self, ns: &str, mount: &str, path: &str, fields: Value) {
        self.with(|s| match s.mounts.get_mut(&key(ns, mount)) {
            Some(Mount::Kv1(data)) => {
                data.insert(path.to_owned(), fields.as_object().unwrap().clone());
            }
            _ => panic!("no KV v1 mount {mount} in namespace {ns:?}"),
        });
    }

    /// Reads a KV v1 entry directly.
    pub fn kv1(&self, ns: &str, mount: &str, path: &str) -> Option<Value> {
        self.with(|s| match s.mounts.get(&key(ns, mount)) {
            Some(Mount::Kv1(data)) => data.get(path).cloned().map(Value::Object),
            _ => None,
        })
    }

    /// Appends a KV v2 version directly.
    pub fn put_kv2(&self, ns: &str, mount: &str, path: &str, fields: Value) {
        self.with(|s| match s.mounts.get_mut(&key(ns, mount)) {
            Some(Mount::Kv2(data)) => data
                .entry(path.to_owned())
                .or_default()
                .push(Some(fields.as_object().unwrap().clone())),
            _ => panic!("no KV v2 mount {mount} in namespace {ns:?}"),
        });
    }

    /// Reads the versions of a KV v2 entry directly.
    pub fn kv2(&self, ns: &str, mount: &str, path: &str) -> Vec<Option<Value>> {
        self.with(|s| match s.mounts.get(&key(ns, mount)) {
            Some(Mount::Kv2(data)) => data
                .get(path)
                .map(|v| v.iter().map(|f| f.clone().map(Value::Object)).collect())
                .unwrap_or_default(),
            _ => Vec::new(),
        })
    }

    /// Seals or unseals the fake.
    pub fn set_sealed(&self, sealed: bool) {
        self.with(|s| s.sealed = sealed);
    }

    /// Marks the fake (un)initialised.
    pub fn set_initialized(&self, initialized: bool) {
        self.with(|s| s.initialized = initialized);
    }

    /// Expires every token now.
    pub fn expire_tokens(&self) {
        self.with(|s| s.tokens.clear());
    }

    /// Answers the `LIST` method with 405, as a proxy that does not know it would.
    pub fn reject_list_method(&self, reject: bool) {
        self.with(|s| s.reject_list_method = reject);
    }

    /// Accepts requests but never answers them.
    pub fn set_stall(&self, stall: bool) {
        self.with(|s| s.stall = stall);
    }

    /// Answers logins with 200 but without an `auth` block.
    pub fn login_without_auth(&self, on: bool) {
        self.with(|s| s.login_without_auth = on);
    }

    /// Successful `renew-self` calls so far.
    pub fn renewals(&self) -> u64 {
        self.with(|s| s.renewals)
    }

    /// Successful logins so far.
    pub fn logins(&self) -> u64 {
        self.with(|s| s.logins)
    }

    /// The requests seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.with(|s| s.seen.clone())
    }
}

fn key(ns: &str, path: &str) -> (String, String) {
    (
        ns.trim_matches('/').to_owned(),
        path.trim_matches('/').to_owned(),
    )
}

fn reply(status: u16, body: Option<Value>) -> Response<Full<Bytes>> {
    let body = body.map(|v| v.to_string()).unwrap_or_default();
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap();
    resp.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    resp
}

fn errors(status: u16, msgs: &[&str]) -> Response<Full<Bytes>> {
    reply(status, Some(json!({ "errors": msgs })))
}

/// The common envelope of Vault responses.
fn envelope(data: Value, auth: Value) -> Value {
    json!({
        "request_id": "00000000-0000-0000-0000-000000000000",
        "lease_id": "",
        "renewable": false,
        "lease_duration": 0,
        "data": data,
        "wrap_info": null,
        "warnings": null,
        "auth": auth,
    })
}

fn fake_cipher(bytes: &[u8]) -> Vec<u8> {
    bytes.iter().rev().map(|b| b ^ 0x5a).collect()
}

async fn handle(state: Arc<Mutex<State>>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let method = req.method().as_str().to_owned();
    let uri = req.uri().clone();
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let namespace = header("x-vault-namespace");
    let token = header("x-vault-token");
    let query = uri.query().unwrap_or("").to_owned();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let stall = {
        let mut s = state.lock().unwrap();
        s.seen.push(Seen {
            method: method.clone(),
            path: uri.to_string(),
            namespace: namespace.clone(),
            token: token.is_some(),
        });
        s.stall
    };
    if stall {
        std::future::pending::<()>().await;
    }
    let json: Value = if body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => return errors(400, &[&format!("failed to parse JSON input: {e}")]),
        }
    };
    let Some(path) = uri.path().strip_prefix("/v1/") else {
        return errors(404, &["no handler for route"]);
    };
    let path = path.trim_end_matches('/').to_owned();
    let ns = namespace.unwrap_or_default().trim_matches('/').to_owned();
    let mut s = state.lock().unwrap();
    route(&mut s, &method, &path, &query, &ns, token.as_deref(), &json)
}

fn query_code(query: &str, name: &str) -> Option<u16> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .and_then(|(_, v)| v.parse().ok())
}

fn route(
    s: &mut State,
    method: &str,
    path: &str,
    query: &str,
    ns: &str,
    token: Option<&str>,
    body: &Value,
) -> Response<Full<Bytes>> {
    match (method, path) {
        ("GET", "sys/health") => {
            let (code, default) = if !s.initialized {
                (query_code(query, "uninitcode"), 501)
            } else if s.sealed {
                (query_code(query, "sealedcode"), 503)
            } else {
                (Some(200), 200)
            };
            return reply(
                code.unwrap_or(default),
                Some(json!({
                    "initialized": s.initialized, "sealed": s.sealed, "standby": false,
                    "performance_standby": false, "replication_performance_mode": "disabled",
                    "replication_dr_mode": "disabled", "server_time_utc": 0,
                    "version": "fake", "cluster_name": "fake", "cluster_id": "fake"
                })),
            );
        }
        ("GET", "sys/seal-status") => {
            return reply(
                200,
                Some(json!({
                    "type": "shamir", "initialized": s.initialized, "sealed": s.sealed,
                    "t": 1, "n": 1, "progress": 0, "version": "fake"
                })),
            );
        }
        _ => {}
    }
    if s.sealed {
        return errors(503, &["Vault is sealed"]);
    }
    if method == "LIST" && s.reject_list_method {
        return errors(405, &[]);
    }

    // Logins need no token.
    if let Some(mount) = path
        .strip_prefix("auth/")
        .and_then(|p| p.strip_suffix("/login"))
    {
        if matches!(method, "PUT" | "POST") && mount != "token" {
            return login(s, ns, mount, body);
        }
    }

    let now = Instant::now();
    let live = token
        .and_then(|t| s.tokens.get(t))
        .is_some_and(|t| t.expires > now);
    if !live {
        return errors(403, &["permission denied"]);
    }
    if path == "auth/token/renew-self" && matches!(method, "PUT" | "POST") {
        let t = s.tokens.get_mut(token.unwrap_or_default()).unwrap();
        t.expires = now + Duration::from_secs(t.ttl);
        let ttl = t.ttl;
        s.renewals += 1;
        return reply(
            200,
            Some(envelope(
                Value::Null,
                auth_block(token.unwrap_or_default(), ttl),
            )),
        );
    }

    // Longest mount in the namespace that prefixes the path.
    let mut mount_path = None;
    for (k_ns, k_path) in s.mounts.keys() {
        if k_ns == ns
            && (path == k_path || path.starts_with(&format!("{k_path}/")))
            && mount_path
                .as_ref()
                .is_none_or(|m: &String| m.len() < k_path.len())
        {
            mount_path = Some(k_path.clone());
        }
    }
    let Some(mount_path) = mount_path else {
        return errors(
            404,
            &[&format!(
                "no handler for route \"{path}\". route entry not found."
            )],
        );
    };
    let rest = path
        .get(mount_path.len()..)
        .unwrap_or("")
        .trim_start_matches('/')
        .to_owned();
    let list =
        method == "LIST" || (method == "GET" && query.split('&').any(|kv| kv == "list=true"));
    let mount = s.mounts.get_mut(&key(ns, &mount_path)).unwrap();
    match mount {
        Mount::Kv1(data) => kv1(data, method, list, &rest, body),
        Mount::Kv2(data) => kv2(data, method, list, &rest, query, body),
        Mount::Transit(keys) => transit(keys, method, &rest, body),
        Mount::AppRole { .. } | Mount::Kubernetes { .. } => errors(405, &[]),
    }
}

fn auth_block(token: &str, ttl: u64) -> Value {
    json!({
        "client_token": token, "accessor": "fake-accessor", "policies": ["default"],
        "token_policies": ["default"], "metadata": {}, "lease_duration": ttl,
        "renewable": true, "entity_id": "fake-entity", "token_type": "service", "orphan": true
    })
}

fn login(s: &mut State, ns: &str, mount: &str, body: &Value) -> Response<Full<Bytes>> {
    let field = |name: &str| body.get(name).and_then(Value::as_str).unwrap_or("");
    let ttl = match s.mounts.get(&key(ns, &format!("auth/{mount}"))) {
        Some(Mount::AppRole {
            role_id,
            secret_id,
            ttl,
        }) => {
            if field("role_id") != role_id || field("secret_id") != secret_id {
                return errors(400, &["invalid role or secret ID"]);
            }
            *ttl
        }
        Some(Mount::Kubernetes { role, jwt, ttl }) => {
            if field("role") != role || field("jwt") != jwt {
                return errors(403, &["permission denied"]);
            }
            *ttl
        }
        _ => {
            return errors(
                404,
                &[&format!(
                    "no handler for route \"auth/{mount}/login\". route entry not found."
                )],
            );
        }
    };
    if s.login_without_auth {
        return reply(200, Some(envelope(Value::Null, Value::Null)));
    }
    s.next_token += 1;
    s.logins += 1;
    let token = format!("hvs.fake-{}", s.next_token);
    s.tokens.insert(
        token.clone(),
        Token {
            ttl,
            expires: Instant::now() + Duration::from_secs(ttl),
        },
    );
    reply(200, Some(envelope(Value::Null, auth_block(&token, ttl))))
}

fn list_keys<'a>(paths: impl Iterator<Item = &'a String>, dir: &str) -> Response<Full<Bytes>> {
    let prefix = if dir.is_empty() {
        String::new()
    } else {
        format!("{dir}/")
    };
    let mut keys: Vec<String> = paths
        .filter_map(|p| p.strip_prefix(&prefix))
        .map(|rest| match rest.split_once('/') {
            Some((d, _)) => format!("{d}/"),
            None => rest.to_owned(),
        })
        .collect();
    keys.dedup();
    if keys.is_empty() {
        return errors(404, &[]);
    }
    reply(200, Some(envelope(json!({ "keys": keys }), Value::Null)))
}

fn kv1(
    data: &mut BTreeMap<String, Fields>,
    method: &str,
    list: bool,
    path: &str,
    body: &Value,
) -> Response<Full<Bytes>> {
    if list {
        return list_keys(data.keys(), path);
    }
    match method {
        "GET" => match data.get(path) {
            Some(fields) => {
                let mut v = envelope(Value::Object(fields.clone()), Value::Null);
                v["lease_duration"] = json!(2_764_800);
                reply(200, Some(v))
            }
            None => errors(404, &[]),
        },
        "PUT" | "POST" => match body.as_object() {
            Some(fields) => {
                data.insert(path.to_owned(), fields.clone());
                reply(204, None)
            }
            None => errors(400, &["missing data fields"]),
        },
        "DELETE" => {
            data.remove(path);
            reply(204, None)
        }
        _ => errors(405, &[]),
    }
}

fn kv2(
    data: &mut BTreeMap<String, Vec<Option<Fields>>>,
    method: &str,
    list: bool,
    path: &str,
    query: &str,
    body: &Value,
) -> Response<Full<Bytes>> {
    if let Some(meta) = path
        .strip_prefix("metadata")
        .map(|p| p.trim_start_matches('/'))
    {
        if list {
            return list_keys(data.keys(), meta);
        }
        return match method {
            "DELETE" => {
                data.remove(meta);
                reply(204, None)
            }
            _ => errors(405, &[]),
        };
    }
    let Some(entry) = path.strip_prefix("data/") else {
        return errors(
            404,
            &[&format!(
                "no handler for route \"{path}\". route entry not found."
            )],
        );
    };
    match method {
        "GET" => {
            let versions = data.get(entry);
            let wanted = query_code(query, "version")
                .map(usize::from)
                .filter(|v| *v > 0);
            let Some(versions) = versions else {
                return errors(404, &[]);
            };
            let index = wanted.unwrap_or(versions.len());
            let Some(version) = versions.get(index.wrapping_sub(1)) else {
                return errors(404, &[]);
            };
            let metadata = json!({
                "created_time": "2024-01-01T00:00:00Z", "custom_metadata": null,
                "deletion_time": "", "destroyed": false, "version": index
            });
            match version {
                Some(fields) => reply(
                    200,
                    Some(envelope(
                        json!({ "data": fields, "metadata": metadata }),
                        Value::Null,
                    )),
                ),
                // A deleted version: 404 with the metadata, data null.
                None => reply(
                    404,
                    Some(envelope(
                        json!({ "data": null, "metadata": metadata }),
                        Value::Null,
                    )),
                ),
            }
        }
        "PUT" | "POST" => {
            let Some(fields) = body.get("data").and_then(Value::as_object) else {
                return errors(400, &["no data provided"]);
            };
            let current = data.get(entry).map_or(0, Vec::len);
            if let Some(cas) = body.pointer("/options/cas").and_then(Value::as_u64) {
                if cas != current as u64 {
                    return errors(
                        400,
                        &["check-and-set parameter did not match the current version"],
                    );
                }
            }
            let versions = data.entry(entry.to_owned()).or_default();
            versions.push(Some(fields.clone()));
            reply(
                200,
                Some(envelope(
                    json!({ "created_time": "2024-01-01T00:00:00Z", "deletion_time": "",
                            "destroyed": false, "version": versions.len() }),
                    Value::Null,
                )),
            )
        }
        _ => errors(405, &[]),
    }
}

fn transit(keys: &[String], method: &str, path: &str, body: &Value) -> Response<Full<Bytes>> {
    if method != "POST" && method != "PUT" {
        return errors(405, &[]);
    }
    let (op, name) = path.split_once('/').unwrap_or((path, ""));
    if !keys.iter().any(|k| k == name) {
        return errors(400, &["encryption key not found"]);
    }
    match op {
        "encrypt" => {
            let Some(plaintext) = body
                .get("plaintext")
                .and_then(Value::as_str)
                .and_then(|p| BASE64.decode(p).ok())
            else {
                return errors(400, &["invalid request: plaintext is not base64"]);
            };
            let ciphertext = format!("vault:v1:{}", BASE64.encode(fake_cipher(&plaintext)));
            reply(
                200,
                Some(envelope(
                    json!({ "ciphertext": ciphertext, "key_version": 1 }),
                    Value::Null,
                )),
            )
        }
        "decrypt" => {
            let Some(raw) = body
                .get("ciphertext")
                .and_then(Value::as_str)
                .and_then(|c| c.strip_prefix("vault:v1:"))
                .and_then(|c| BASE64.decode(c).ok())
            else {
                return errors(400, &["invalid ciphertext: no prefix"]);
            };
            let plaintext = BASE64.encode(fake_cipher(&raw));
            reply(
                200,
                Some(envelope(json!({ "plaintext": plaintext }), Value::Null)),
            )
        }
        _ => errors(405, &[]),
    }
}
