//! `FakeSecretManager`: a fake of the Google Cloud Secret Manager REST API (v1) and of the
//! OAuth 2 endpoints in front of it, written from Google's public API reference:
//! * `POST /token` (OAuth 2): `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` with an
//!   RS256 `assertion` — the signature is verified with the test service account's public key,
//!   `kid`, `iss`, `aud` (= this endpoint), `scope`, `iat` (±5 min) and `exp` (≤ 1 h) are
//!   checked — or `grant_type=refresh_token` (`authorized_user`). Answer
//!   `{"access_token","expires_in","token_type":"Bearer"}`; errors `{"error","error_description"}`.
//! * `GET /computeMetadata/v1/instance/service-accounts/default/token?scopes=…` (metadata
//!   server): requires `Metadata-Flavor: Google` and no `X-Forwarded-For`.
//! * `/v1/projects/<p>/secrets…` with `Authorization: Bearer <current token>` (else 401
//!   `UNAUTHENTICATED`), only for the fake's project (else 403 `PERMISSION_DENIED`):
//!   create (`POST …/secrets?secretId=`, body `{"replication":{"automatic":{}}}`, 409
//!   `ALREADY_EXISTS`), `:addVersion` (`payload.data` base64 ≤ 64 KiB, `dataCrc32c` checked),
//!   `versions/<n|latest>:access` (404 `NOT_FOUND`, 400 `FAILED_PRECONDITION` for disabled or
//!   destroyed versions), `versions/<n>:destroy`, `GET …/versions` (newest first), `GET
//!   …/secrets` (`pageSize` capped at 100, opaque `pageToken`), `DELETE …/secrets/<id>`.
//!   Unknown JSON fields are rejected (400 `INVALID_ARGUMENT`), as the real API does.
//! * Throttling on demand: `429 RESOURCE_EXHAUSTED`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use ring::signature::{KeyPair, RSA_PKCS1_2048_8192_SHA256, RsaKeyPair, UnparsedPublicKey};
use rustls::pki_types::PrivatePkcs8KeyDer;
use rustls::pki_types::pem::PemObject;
use serde_json::{Value, json};

use super::{FakeRequest, FakeResponse, serve};

pub const PROJECT_ID: &str = "decoded-agency-264617";
pub const PROJECT_NUMBER: &str = "734118203916";
/// The page size cap of `ListSecrets` in the fake (the real one is 25000): forces paging.
pub const MAX_PAGE: usize = 100;
pub const REFRESH_TOKEN: &str = "1//fake-refresh-token";
pub const USER_CLIENT_ID: &str = "fake-user-client.apps.googleusercontent.com";
pub const USER_CLIENT_SECRET: &str = "fake-user-secret";

/// The service account of `tests/data/gcp_credentials.json` (vector 0).
pub struct ServiceAccount {
    pub client_email: String,
    pub client_id: String,
    pub private_key_id: String,
    pub private_key: String,
    /// The vector's `private_key` form with literal `\n` sequences (vector 1).
    pub private_key_escaped: String,
    pub vectors: Vec<Value>,
}

pub fn service_account() -> ServiceAccount {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/gcp_credentials.json"
    ))
    .unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    let vectors = doc["vectors"].as_array().unwrap().clone();
    let v = &vectors[0];
    ServiceAccount {
        client_email: v["client_email"].as_str().unwrap().into(),
        client_id: v["client_id"].as_str().unwrap().into(),
        private_key_id: v["private_key_id"].as_str().unwrap().into(),
        private_key: v["private_key"].as_str().unwrap().into(),
        private_key_escaped: vectors[1]["private_key"].as_str().unwrap().into(),
        vectors,
    }
}

#[derive(Debug, Clone)]
pub struct Version {
    pub data: Vec<u8>,
    /// `ENABLED`, `DISABLED` or `DESTROYED`.
    pub state: &'static str,
}

#[derive(Debug, Clone, Default)]
pub struct Secret {
    /// Version n is at index n-1.
    pub versions: Vec<Version>,
}

/// The fake's state.
#[derive(Default)]
pub struct State {
    pub secrets: BTreeMap<String, Secret>,
    /// token → expiry.
    pub tokens: Vec<(String, Instant)>,
    pub jwt_grants: usize,
    pub refresh_grants: usize,
    pub metadata_grants: usize,
    /// Requests refused for a missing, unknown or expired token.
    pub rejected_tokens: usize,
    /// The next this many Secret Manager requests are answered 429.
    pub throttle: usize,
    pub throttled: usize,
    /// `METHOD path?query` of every Secret Manager request.
    pub log: Vec<String>,
    /// The scope of the last token request.
    pub last_scope: String,
}

/// A running fake.
pub struct FakeSecretManager {
    pub url: String,
    pub state: Arc<Mutex<State>>,
}

impl FakeSecretManager {
    /// Starts the fake; access tokens live `lifetime`.
    pub async fn start(lifetime: Duration) -> FakeSecretManager {
        let state = Arc::new(Mutex::new(State::default()));
        let account = service_account();
        let der = PrivatePkcs8KeyDer::from_pem_slice(account.private_key.as_bytes()).unwrap();
        let key = RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).unwrap();
        let public = key.public_key().as_ref().to_vec();
        let s = Arc::clone(&state);
        let url_cell: Arc<Mutex<String>> = Arc::new(Mutex::new(String::new()));
        let u = Arc::clone(&url_cell);
        let addr = serve(move |req| {
            let s = Arc::clone(&s);
            let public = public.clone();
            let url = u.lock().unwrap().clone();
            async move { handle(&s, &url, &public, lifetime, req) }
        })
        .await;
        let url = format!("http://{addr}");
        *url_cell.lock().unwrap() = url.clone();
        FakeSecretManager { url, state }
    }

    /// The token endpoint.
    pub fn token_url(&self) -> String {
        format!("{}/token", self.url)
    }
}

fn error(code: u16, status: &str, message: &str) -> FakeResponse {
    super::json(
        code,
        json!({"error": {"code": code, "message": message, "status": status}}),
    )
}

fn oauth_error(error: &str, description: &str) -> FakeResponse {
    super::json(
        400,
        json!({"error": error, "error_description": description}),
    )
}

pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `a=b&c=d` (form bodies and query strings).
pub fn parse_form(s: &str) -> HashMap<String, String> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn issue(st: &mut State, lifetime: Duration) -> FakeResponse {
    let token = format!("ya29.fake-{}", st.tokens.len() + 1);
    st.tokens.push((token.clone(), Instant::now() + lifetime));
    super::json(
        200,
        json!({"access_token": token, "expires_in": lifetime.as_secs(), "token_type": "Bearer"}),
    )
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Verifies a JWT-bearer assertion; `Err` is the OAuth error description.
fn verify_assertion(assertion: &str, url: &str, public: &[u8]) -> Result<String, String> {
    let account = service_account();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let parts: Vec<&str> = assertion.split('.').collect();
    if parts.len() != 3 {
        return Err(
            "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe".into(),
        );
    }
    let header: Value = b64
        .decode(parts[0])
        .ok()
        .and_then(|h| serde_json::from_slice(&h).ok())
        .ok_or("Invalid JWT header")?;
    let claims: Value = b64
        .decode(parts[1])
        .ok()
        .and_then(|c| serde_json::from_slice(&c).ok())
        .ok_or("Invalid JWT claims")?;
    let signature = b64.decode(parts[2]).map_err(|_| "Invalid JWT Signature.")?;
    if header["alg"] != "RS256" {
        return Err("Invalid JWT: alg must be RS256".into());
    }
    if header["kid"] != account.private_key_id.as_str() {
        return Err("Invalid JWT Signature.".into());
    }
    let signed = format!("{}.{}", parts[0], parts[1]);
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public)
        .verify(signed.as_bytes(), &signature)
        .map_err(|_| "Invalid JWT Signature.")?;
    if claims["iss"] != account.client_email.as_str() {
        return Err("Invalid JWT: unknown issuer".into());
    }
    if claims["aud"] != format!("{url}/token").as_str() {
        return Err("Invalid JWT: audience does not match the token endpoint".into());
    }
    let (Some(iat), Some(exp)) = (claims["iat"].as_i64(), claims["exp"].as_i64()) else {
        return Err("Invalid JWT: iat and exp are required".into());
    };
    let now = now_secs();
    if (iat - now).abs() > 300 || exp <= now || exp - iat > 3600 {
        return Err(
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim."
                .into(),
        );
    }
    let scope = claims["scope"].as_str().unwrap_or_default();
    if scope.is_empty() {
        return Err("Invalid JWT: no scope".into());
    }
    Ok(scope.to_owned())
}

fn handle(
    state: &Mutex<State>,
    url: &str,
    public: &[u8],
    lifetime: Duration,
    req: FakeRequest,
) -> FakeResponse {
    let mut st = state.lock().unwrap();
    let (path, query) = req.path.split_once('?').unwrap_or((req.path.as_str(), ""));
    let query = parse_form(query);

    if path == "/token" {
        if req.method != "POST"
            || req.headers.get("content-type").map(String::as_str)
                != Some("application/x-www-form-urlencoded")
        {
            return oauth_error("invalid_request", "POST a form");
        }
        let form = parse_form(&String::from_utf8_lossy(&req.body));
        match form.get("grant_type").map(String::as_str) {
            Some("urn:ietf:params:oauth:grant-type:jwt-bearer") => {
                match verify_assertion(form.get("assertion").map_or("", |a| a), url, public) {
                    Ok(scope) => {
                        st.jwt_grants += 1;
                        st.last_scope = scope;
                        return issue(&mut st, lifetime);
                    }
                    Err(e) => return oauth_error("invalid_grant", &e),
                }
            }
            Some("refresh_token") => {
                if form.get("client_id").map(String::as_str) != Some(USER_CLIENT_ID)
                    || form.get("client_secret").map(String::as_str) != Some(USER_CLIENT_SECRET)
                {
                    return super::json(
                        401,
                        json!({"error": "invalid_client", "error_description": "The OAuth client was not found."}),
                    );
                }
                if form.get("refresh_token").map(String::as_str) != Some(REFRESH_TOKEN) {
                    return oauth_error("invalid_grant", "Bad Request");
                }
                st.refresh_grants += 1;
                return issue(&mut st, lifetime);
            }
            _ => return oauth_error("unsupported_grant_type", "Invalid grant_type"),
        }
    }

    if path == "/computeMetadata/v1/instance/service-accounts/default/token" {
        if req.headers.get("metadata-flavor").map(String::as_str) != Some("Google")
            || req.headers.contains_key("x-forwarded-for")
        {
            return FakeResponse::new(403, "Missing Metadata-Flavor:Google header.");
        }
        st.metadata_grants += 1;
        st.last_scope = query.get("scopes").cloned().unwrap_or_default();
        return issue(&mut st, lifetime);
    }

    // Secret Manager.
    st.log.push(req.path.clone());
    let now = Instant::now();
    let token = req
        .headers
        .get("authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_owned();
    if !st.tokens.iter().any(|(t, exp)| *t == token && *exp > now) {
        st.rejected_tokens += 1;
        return error(
            401,
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
        )
        .header("WWW-Authenticate", "Bearer realm=\"https://accounts.google.com/\"");
    }
    if st.throttle > 0 {
        st.throttle -= 1;
        st.throttled += 1;
        return error(
            429,
            "RESOURCE_EXHAUSTED",
            "Quota exceeded for quota metric 'Access requests' and limit 'Access requests per minute per project'.",
        );
    }
    let Some(rest) = path.strip_prefix("/v1/projects/") else {
        return error(404, "NOT_FOUND", "no such route");
    };
    let (project, rest) = rest.split_once('/').unwrap_or((rest, ""));
    let Some(rest) = rest.strip_prefix("secrets") else {
        return error(404, "NOT_FOUND", "no such route");
    };
    if project != PROJECT_ID {
        return error(
            403,
            "PERMISSION_DENIED",
            &format!("Permission denied on resource project {project} (or it may not exist)."),
        );
    }
    let body: Value = if req.body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(&req.body) {
            Ok(v) => v,
            Err(_) => return error(400, "INVALID_ARGUMENT", "Invalid JSON payload received."),
        }
    };
    let secret_name = |id: &str| format!("projects/{PROJECT_NUMBER}/secrets/{id}");
    let valid_id = |id: &str| {
        !id.is_empty()
            && id.len() <= 255
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };

    // The collection.
    if rest.is_empty() {
        return match req.method.as_str() {
            "GET" => {
                let size = query
                    .get("pageSize")
                    .and_then(|s| s.parse::<usize>().ok())
                    .filter(|s| *s > 0)
                    .unwrap_or(MAX_PAGE)
                    .min(MAX_PAGE);
                let after = query.get("pageToken").filter(|t| !t.is_empty()).map(|t| {
                    base64::engine::general_purpose::STANDARD
                        .decode(t)
                        .ok()
                        .and_then(|b| String::from_utf8(b).ok())
                });
                let after = match after {
                    Some(None) => return error(400, "INVALID_ARGUMENT", "Invalid page token."),
                    Some(Some(a)) => Some(a),
                    None => None,
                };
                // Newest-looking order: descending names (the API promises no order).
                let names: Vec<&String> = st
                    .secrets
                    .keys()
                    .rev()
                    .filter(|n| after.as_ref().is_none_or(|a| n.as_str() < a.as_str()))
                    .take(size + 1)
                    .collect();
                let (page, more) = if names.len() > size {
                    (&names[..size], true)
                } else {
                    (&names[..], false)
                };
                let mut answer = json!({
                    "secrets": page.iter().map(|n| json!({
                        "name": secret_name(n),
                        "replication": {"automatic": {}},
                        "createTime": "2024-05-01T10:00:00.000000Z",
                    })).collect::<Vec<_>>(),
                    "totalSize": st.secrets.len(),
                });
                if more {
                    if let Some(last) = page.last() {
                        answer["nextPageToken"] =
                            json!(base64::engine::general_purpose::STANDARD.encode(last));
                    }
                }
                super::json(200, answer)
            }
            "POST" => {
                let Some(id) = query.get("secretId") else {
                    return error(400, "INVALID_ARGUMENT", "secret_id is required");
                };
                if !valid_id(id) {
                    return error(
                        400,
                        "INVALID_ARGUMENT",
                        "Secret ID must be 1-255 characters of letters, numbers, underscores and hyphens.",
                    );
                }
                let Some(obj) = body.as_object() else {
                    return error(400, "INVALID_ARGUMENT", "A Secret is required.");
                };
                if let Some(unknown) = obj.keys().find(|k| {
                    !["replication", "labels", "annotations", "ttl", "expireTime"]
                        .contains(&k.as_str())
                }) {
                    return error(
                        400,
                        "INVALID_ARGUMENT",
                        &format!("Invalid JSON payload received. Unknown name \"{unknown}\""),
                    );
                }
                if body["replication"]["automatic"].is_null()
                    && body["replication"]["userManaged"].is_null()
                {
                    return error(400, "INVALID_ARGUMENT", "Secret.replication is required.");
                }
                if st.secrets.contains_key(id) {
                    return error(
                        409,
                        "ALREADY_EXISTS",
                        &format!("Secret [{}] already exists.", secret_name(id)),
                    );
                }
                st.secrets.insert(id.clone(), Secret::default());
                super::json(
                    200,
                    json!({"name": secret_name(id), "replication": {"automatic": {}}}),
                )
            }
            _ => error(405, "INVALID_ARGUMENT", "method not allowed"),
        };
    }

    let Some(rest) = rest.strip_prefix('/') else {
        return error(404, "NOT_FOUND", "no such route");
    };
    // `<id>`, `<id>:addVersion`, `<id>/versions`, `<id>/versions/<v>:access|:destroy`.
    let (id, tail) = match rest.split_once('/') {
        Some((id, tail)) => (id.to_owned(), Some(tail.to_owned())),
        None => (rest.to_owned(), None),
    };
    let (id, verb) = match id.split_once(':') {
        Some((id, verb)) => (id.to_owned(), Some(verb.to_owned())),
        None => (id, None),
    };
    let Some(secret) = st.secrets.get_mut(&id) else {
        return error(
            404,
            "NOT_FOUND",
            &format!(
                "Secret [{}] not found or has no versions.",
                secret_name(&id)
            ),
        );
    };
    match (req.method.as_str(), verb.as_deref(), tail.as_deref()) {
        ("GET", None, None) => super::json(200, json!({"name": secret_name(&id)})),
        ("DELETE", None, None) => {
            st.secrets.remove(&id);
            super::json(200, json!({}))
        }
        ("POST", Some("addVersion"), None) => {
            let Some(obj) = body.as_object() else {
                return error(400, "INVALID_ARGUMENT", "payload is required");
            };
            if obj.keys().any(|k| k != "payload")
                || body["payload"]
                    .as_object()
                    .is_some_and(|p| p.keys().any(|k| k != "data" && k != "dataCrc32c"))
            {
                return error(
                    400,
                    "INVALID_ARGUMENT",
                    "Invalid JSON payload received. Unknown name",
                );
            }
            let Some(data) = body["payload"]["data"]
                .as_str()
                .and_then(|d| base64::engine::general_purpose::STANDARD.decode(d).ok())
            else {
                return error(400, "INVALID_ARGUMENT", "payload.data must be base64");
            };
            if data.len() > 65536 {
                return error(
                    400,
                    "INVALID_ARGUMENT",
                    "Secret Payload cannot be larger than 64KiB.",
                );
            }
            if let Some(crc) = body["payload"]["dataCrc32c"].as_str() {
                if crc.parse::<u64>().ok()
                    != Some(u64::from(kes_keystore_cloud::gcp::crc32c(&data)))
                {
                    return error(
                        400,
                        "INVALID_ARGUMENT",
                        "Checksum mismatch for the payload data.",
                    );
                }
            }
            secret.versions.push(Version {
                data,
                state: "ENABLED",
            });
            let n = secret.versions.len();
            super::json(
                200,
                json!({"name": format!("{}/versions/{n}", secret_name(&id)), "state": "ENABLED"}),
            )
        }
        ("GET", None, Some("versions")) => {
            let versions: Vec<Value> = secret
                .versions
                .iter()
                .enumerate()
                .rev()
                .map(|(i, v)| {
                    json!({"name": format!("{}/versions/{}", secret_name(&id), i + 1), "state": v.state})
                })
                .collect();
            super::json(
                200,
                json!({"versions": versions, "totalSize": versions.len()}),
            )
        }
        (method, None, Some(tail)) if tail.starts_with("versions/") => {
            let spec = &tail["versions/".len()..];
            let (v, verb) = spec.split_once(':').unwrap_or((spec, ""));
            let index = if v == "latest" {
                secret.versions.iter().rposition(|v| v.state == "ENABLED")
            } else {
                v.parse::<usize>()
                    .ok()
                    .and_then(|n| n.checked_sub(1))
                    .filter(|i| *i < secret.versions.len())
            };
            let version_name = format!("{}/versions/{v}", secret_name(&id));
            let Some(index) = index else {
                return error(
                    404,
                    "NOT_FOUND",
                    &format!("SecretVersion [{version_name}] not found."),
                );
            };
            let version = &mut secret.versions[index];
            match (method, verb) {
                ("GET", "access") => {
                    if version.state != "ENABLED" {
                        return error(
                            400,
                            "FAILED_PRECONDITION",
                            &format!(
                                "SecretVersion [{version_name}] is in {} state.",
                                version.state
                            ),
                        );
                    }
                    super::json(
                        200,
                        json!({
                            "name": version_name,
                            "payload": {
                                "data": base64::engine::general_purpose::STANDARD.encode(&version.data),
                                "dataCrc32c": kes_keystore_cloud::gcp::crc32c(&version.data).to_string(),
                            }
                        }),
                    )
                }
                ("POST", "destroy") => {
                    version.state = "DESTROYED";
                    version.data.clear();
                    super::json(200, json!({"name": version_name, "state": "DESTROYED"}))
                }
                _ => error(404, "NOT_FOUND", "no such route"),
            }
        }
        _ => error(404, "NOT_FOUND", "no such route"),
    }
}
