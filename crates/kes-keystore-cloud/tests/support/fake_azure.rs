//! `FakeKeyVault`: a fake of the Azure Key Vault secrets REST API (`api-version=7.4`) and of
//! the Microsoft Entra ID token endpoints in front of it, written from Microsoft's public API
//! reference:
//! * `POST /<tenant>/oauth2/v2.0/token` (client credentials): `client_id` with
//!   `client_secret`, or with `client_assertion_type=…jwt-bearer` + `client_assertion`
//!   (workload identity); `scope=https://vault.azure.net/.default`. Answer
//!   `{"token_type":"Bearer","expires_in","ext_expires_in","access_token"}`; errors
//!   `{"error","error_description":"AADSTS…"}` (unknown tenant 400, wrong secret 401).
//! * `GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource=…[&client_id=]`
//!   (IMDS): requires `Metadata: true`; numbers as strings; unknown identity 400.
//! * Vault calls need `api-version=7.4` (400 `BadParameter`) and `Authorization: Bearer
//!   <current token>` (401 `Unauthorized` with a `WWW-Authenticate` challenge). Names are
//!   `[0-9a-zA-Z-]{1,127}` (400 `BadParameter`) and case-insensitive; values ≤ 25 KiB.
//!   `PUT secrets/<n>` adds a version (random 32-hex id, `created` in whole seconds);
//!   `GET secrets/<n>[/<version>]` (404 `SecretNotFound`, 403 `SecretDisabled`);
//!   `GET secrets/<n>/versions` and `GET secrets` page with `maxresults` (≤ 25) and a
//!   `nextLink` carrying `$skiptoken`; `DELETE secrets/<n>` soft-deletes — the secret is
//!   "being deleted" for a moment (PUT and purge: 409 `ObjectIsBeingDeleted`), then
//!   "deleted but recoverable" (PUT: 409 `ObjectIsDeletedButRecoverable`);
//!   `DELETE deletedsecrets/<n>` purges (204; 404 `DeletedSecretNotFound`), and the name is
//!   free again a moment later (409 `ObjectIsBeingDeleted` until then).
//! * Throttling on demand: `429 Throttled` with `Retry-After`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::{Value, json};

use super::{FakeRequest, FakeResponse, serve};

pub const TENANT_ID: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
pub const CLIENT_ID: &str = "b2c5a6f0-0d5e-4d0b-9a6e-5b6f2b0f1c11";
pub const CLIENT_SECRET: &str = "fake~client~secret";
pub const FEDERATED_TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.fake-projected-service-account-token.sig";
pub const MI_CLIENT_ID: &str = "5a0e4c73-1f2b-4b6c-8d7e-0a1b2c3d4e5f";
pub const SCOPE: &str = "https://vault.azure.net/.default";
pub const RESOURCE: &str = "https://vault.azure.net";
pub const MAX_VALUE: usize = 25 * 1024;
pub const MAX_RESULTS: usize = 25;

#[derive(Debug, Clone)]
pub struct Version {
    pub id: String,
    pub value: String,
    pub created: i64,
    pub enabled: bool,
    pub nbf: Option<i64>,
    pub exp: Option<i64>,
    pub tags: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Default)]
pub struct Secret {
    /// The name as first created (Key Vault keeps its case).
    pub name: String,
    /// Oldest first.
    pub versions: Vec<Version>,
}

#[derive(Debug, Clone)]
pub struct Deleted {
    pub secret: Secret,
    /// Until then the deletion is still in progress.
    pub deleting_until: Instant,
}

/// The fake's state. Maps are keyed by the lower-cased name.
#[derive(Default)]
pub struct State {
    pub secrets: BTreeMap<String, Secret>,
    pub deleted: HashMap<String, Deleted>,
    /// Names being purged, free again at the instant.
    pub purging: HashMap<String, Instant>,
    pub tokens: Vec<(String, Instant)>,
    pub secret_grants: usize,
    pub federated_grants: usize,
    pub imds_grants: usize,
    pub rejected_tokens: usize,
    /// The next this many vault requests are answered 429 with `Retry-After: retry_after`.
    pub throttle: usize,
    pub retry_after: u64,
    pub throttled: usize,
    /// `METHOD path?query` of every vault request.
    pub log: Vec<String>,
    /// How long a deletion and a purge take.
    pub delete_delay: Duration,
    /// Set: a purge answers 403 (purge protection / no purge permission).
    pub purge_forbidden: bool,
    /// Set: the next PUT of a secret first gets a version with this value, one second older
    /// and tagged for the same name — another server's create that committed first.
    pub sneak_in: Option<String>,
}

/// A running fake.
pub struct FakeKeyVault {
    pub url: String,
    pub state: Arc<Mutex<State>>,
}

impl FakeKeyVault {
    /// Starts the fake; access tokens live `lifetime`.
    pub async fn start(lifetime: Duration) -> FakeKeyVault {
        let state = Arc::new(Mutex::new(State {
            delete_delay: Duration::ZERO,
            retry_after: 1,
            ..State::default()
        }));
        let s = Arc::clone(&state);
        let url_cell: Arc<Mutex<String>> = Arc::new(Mutex::new(String::new()));
        let u = Arc::clone(&url_cell);
        let addr = serve(move |req| {
            let s = Arc::clone(&s);
            let url = u.lock().unwrap().clone();
            async move { handle(&s, &url, lifetime, req) }
        })
        .await;
        let url = format!("http://{addr}");
        *url_cell.lock().unwrap() = url.clone();
        FakeKeyVault { url, state }
    }

    /// Inserts a secret as another client (KES, the portal) would write it: no tags.
    pub fn insert_untagged(&self, name: &str, values: &[&str]) {
        let mut st = self.state.lock().unwrap();
        let created = now_secs() - 100;
        let versions = values
            .iter()
            .enumerate()
            .map(|(i, v)| Version {
                id: random_id(),
                value: (*v).to_owned(),
                created: created + i as i64,
                enabled: true,
                nbf: None,
                exp: None,
                tags: None,
            })
            .collect();
        st.secrets.insert(
            name.to_ascii_lowercase(),
            Secret {
                name: name.to_owned(),
                versions,
            },
        );
    }
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

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn random_id() -> String {
    let mut b = [0u8; 16];
    SystemRandom::new().fill(&mut b).unwrap();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn error(status: u16, code: &str, message: &str) -> FakeResponse {
    super::json(status, json!({"error": {"code": code, "message": message}}))
}

fn conflict(inner: &str, message: &str) -> FakeResponse {
    super::json(
        409,
        json!({"error": {"code": "Conflict", "message": message, "innererror": {"code": inner}}}),
    )
}

fn aad_error(status: u16, error: &str, description: &str) -> FakeResponse {
    super::json(
        status,
        json!({
            "error": error,
            "error_description": format!("{description}\r\nTrace ID: 0000\r\nCorrelation ID: 0000"),
            "error_codes": [7000215],
        }),
    )
}

fn issue(st: &mut State, lifetime: Duration, imds: bool) -> FakeResponse {
    let token = format!("eyJ0eXAiOiJKV1QifQ.fake-{}", st.tokens.len() + 1);
    st.tokens.push((token.clone(), Instant::now() + lifetime));
    let secs = lifetime.as_secs();
    if imds {
        super::json(
            200,
            json!({
                "access_token": token,
                "refresh_token": "",
                "expires_in": secs.to_string(),
                "expires_on": (now_secs() as u64 + secs).to_string(),
                "not_before": now_secs().to_string(),
                "resource": RESOURCE,
                "token_type": "Bearer",
            }),
        )
    } else {
        super::json(
            200,
            json!({"token_type": "Bearer", "expires_in": secs, "ext_expires_in": secs, "access_token": token}),
        )
    }
}

fn attributes(v: &Version) -> Value {
    let mut a = json!({
        "enabled": v.enabled,
        "created": v.created,
        "updated": v.created,
        "recoveryLevel": "Recoverable+Purgeable",
        "recoverableDays": 90,
    });
    if let Some(nbf) = v.nbf {
        a["nbf"] = json!(nbf);
    }
    if let Some(exp) = v.exp {
        a["exp"] = json!(exp);
    }
    a
}

fn item(base: &str, name: &str, v: &Version, with_version: bool) -> Value {
    let id = if with_version {
        format!("{base}/secrets/{name}/{}", v.id)
    } else {
        format!("{base}/secrets/{name}")
    };
    let mut out = json!({"id": id, "attributes": attributes(v)});
    if let Some(tags) = &v.tags {
        out["tags"] = json!(tags);
    }
    out
}

fn bundle(base: &str, name: &str, v: &Version) -> Value {
    let mut out = item(base, name, v, true);
    out["value"] = json!(v.value);
    out
}

/// One page of `items` from `$skiptoken` (an index), with a `nextLink` when more follow.
fn page(
    base: &str,
    path: &str,
    query: &HashMap<String, String>,
    items: Vec<Value>,
) -> FakeResponse {
    let max = query
        .get("maxresults")
        .and_then(|m| m.parse::<usize>().ok())
        .filter(|m| (1..=MAX_RESULTS).contains(m))
        .unwrap_or(MAX_RESULTS);
    let start = query
        .get("$skiptoken")
        .and_then(|t| base64::engine::general_purpose::STANDARD.decode(t).ok())
        .and_then(|t| String::from_utf8(t).ok())
        .and_then(|t| t.parse::<usize>().ok())
        .unwrap_or(0);
    let end = (start + max).min(items.len());
    let mut answer = json!({"value": items.get(start..end).unwrap_or_default()});
    if end < items.len() {
        let token = base64::engine::general_purpose::STANDARD.encode(end.to_string());
        answer["nextLink"] = json!(format!(
            "{base}{path}?api-version=7.4&$skiptoken={}&maxresults={max}",
            token.replace('=', "%3D")
        ));
    } else {
        answer["nextLink"] = Value::Null;
    }
    super::json(200, answer)
}

fn valid_name(n: &str) -> bool {
    !n.is_empty() && n.len() <= 127 && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn handle(state: &Mutex<State>, base: &str, lifetime: Duration, req: FakeRequest) -> FakeResponse {
    let mut st = state.lock().unwrap();
    let (path, query) = req.path.split_once('?').unwrap_or((req.path.as_str(), ""));
    let query = parse_form(query);
    let now = Instant::now();

    // Microsoft Entra ID.
    if let Some(tenant) = path
        .strip_prefix('/')
        .and_then(|p| p.strip_suffix("/oauth2/v2.0/token"))
    {
        if req.method != "POST" {
            return aad_error(405, "invalid_request", "AADSTS900561: POST required.");
        }
        if tenant != TENANT_ID {
            return aad_error(
                400,
                "invalid_request",
                &format!("AADSTS90002: Tenant '{tenant}' not found."),
            );
        }
        let form = parse_form(&String::from_utf8_lossy(&req.body));
        let get = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
        if get("grant_type") != "client_credentials" {
            return aad_error(
                400,
                "unsupported_grant_type",
                "AADSTS70003: unsupported grant type",
            );
        }
        if get("scope") != SCOPE {
            return aad_error(
                400,
                "invalid_scope",
                "AADSTS70011: The provided value for the input parameter 'scope' is not valid.",
            );
        }
        if get("client_id") != CLIENT_ID {
            return aad_error(
                400,
                "unauthorized_client",
                "AADSTS700016: Application not found in the directory.",
            );
        }
        if form.contains_key("client_assertion") {
            if get("client_assertion_type")
                != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
                || get("client_assertion") != FEDERATED_TOKEN
            {
                return aad_error(
                    401,
                    "invalid_client",
                    "AADSTS700211: No matching federated identity record found for presented assertion issuer.",
                );
            }
            st.federated_grants += 1;
        } else {
            if get("client_secret") != CLIENT_SECRET {
                return aad_error(
                    401,
                    "invalid_client",
                    "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.",
                );
            }
            st.secret_grants += 1;
        }
        return issue(&mut st, lifetime, false);
    }

    // IMDS.
    if path == "/metadata/identity/oauth2/token" {
        if req.headers.get("metadata").map(String::as_str) != Some("true") {
            return super::json(
                400,
                json!({"error": "invalid_request", "error_description": "Required metadata header not specified"}),
            );
        }
        if query.get("api-version").map(String::as_str) != Some("2018-02-01")
            || query.get("resource").map(String::as_str) != Some(RESOURCE)
        {
            return super::json(
                400,
                json!({"error": "invalid_request", "error_description": "invalid api-version or resource"}),
            );
        }
        if let Some(id) = query.get("client_id") {
            if id != MI_CLIENT_ID {
                return super::json(
                    400,
                    json!({"error": "invalid_request", "error_description": "Identity not found"}),
                );
            }
        }
        st.imds_grants += 1;
        return issue(&mut st, lifetime, true);
    }

    // The vault.
    st.log.push(format!("{} {}", req.method, req.path));
    if path == "/" || path.is_empty() {
        return error(
            401,
            "Unauthorized",
            "AKV10000: Request is missing a Bearer or PoP token.",
        );
    }
    if query.get("api-version").map(String::as_str) != Some("7.4") {
        return error(
            400,
            "BadParameter",
            "The specified version is not recognized. Consider using the latest supported version (7.4).",
        );
    }
    let token = req
        .headers
        .get("authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_owned();
    if !st.tokens.iter().any(|(t, exp)| *t == token && *exp > now) {
        st.rejected_tokens += 1;
        let message = if token.is_empty() {
            "AKV10000: Request is missing a Bearer or PoP token."
        } else {
            "AKV10022: Invalid audience or the token is expired."
        };
        return error(401, "Unauthorized", message).header(
            "WWW-Authenticate",
            &format!(
                "Bearer authorization=\"https://login.microsoftonline.com/{TENANT_ID}\", resource=\"{RESOURCE}\""
            ),
        );
    }
    if st.throttle > 0 {
        st.throttle -= 1;
        st.throttled += 1;
        let after = st.retry_after.to_string();
        return error(
            429,
            "Throttled",
            "Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached",
        )
        .header("Retry-After", &after);
    }
    // Finish deletions and purges whose time has come.
    st.purging.retain(|_, until| *until > now);

    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (req.method.as_str(), segments.as_slice()) {
        ("GET", ["secrets"]) => {
            let items: Vec<Value> = st
                .secrets
                .values()
                .filter_map(|s| s.versions.last().map(|v| item(base, &s.name, v, false)))
                .collect();
            page(base, "/secrets", &query, items)
        }
        (_, ["secrets", name, ..]) | (_, ["deletedsecrets", name]) if !valid_name(name) => error(
            400,
            "BadParameter",
            &format!("The request URI contains an invalid name: {name}"),
        ),
        ("GET", ["secrets", name, "versions"]) => {
            let Some(secret) = st.secrets.get(&name.to_ascii_lowercase()) else {
                return error(
                    404,
                    "SecretNotFound",
                    &format!("A secret with (name/id) {name} was not found in this key vault."),
                );
            };
            let items: Vec<Value> = secret
                .versions
                .iter()
                .rev()
                .map(|v| item(base, &secret.name, v, true))
                .collect();
            page(base, &format!("/secrets/{name}/versions"), &query, items)
        }
        ("GET", ["secrets", name]) | ("GET", ["secrets", name, _]) => {
            let Some(secret) = st.secrets.get(&name.to_ascii_lowercase()) else {
                return error(
                    404,
                    "SecretNotFound",
                    &format!("A secret with (name/id) {name} was not found in this key vault."),
                );
            };
            let version = match segments.get(2) {
                None => secret.versions.last(),
                Some(id) => secret.versions.iter().find(|v| v.id == *id),
            };
            let Some(version) = version else {
                return error(
                    404,
                    "SecretNotFound",
                    &format!(
                        "A secret with (name/id) {name}/{} was not found in this key vault.",
                        segments[2]
                    ),
                );
            };
            if !version.enabled {
                return super::json(
                    403,
                    json!({"error": {"code": "Forbidden", "message": "Operation get is not allowed on a disabled secret.", "innererror": {"code": "SecretDisabled"}}}),
                );
            }
            super::json(200, bundle(base, &secret.name, version))
        }
        ("PUT", ["secrets", name]) => {
            let key = name.to_ascii_lowercase();
            let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
                return error(400, "BadParameter", "The request body is not valid JSON.");
            };
            let Some(value) = body["value"].as_str() else {
                return error(400, "BadParameter", "Property 'value' is required.");
            };
            if value.len() > MAX_VALUE {
                return error(
                    400,
                    "BadParameter",
                    "The secret value is too long. The maximum length is 25600 bytes.",
                );
            }
            if let Some(d) = st.deleted.get(&key) {
                return if d.deleting_until > now {
                    conflict(
                        "ObjectIsBeingDeleted",
                        &format!("Secret {name} is currently being deleted."),
                    )
                } else {
                    conflict(
                        "ObjectIsDeletedButRecoverable",
                        &format!(
                            "Secret {name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged."
                        ),
                    )
                };
            }
            if st.purging.contains_key(&key) {
                return conflict(
                    "ObjectIsBeingDeleted",
                    &format!("Secret {name} is currently being deleted."),
                );
            }
            let tags: Option<BTreeMap<String, String>> =
                serde_json::from_value(body["tags"].clone()).ok();
            let sneak = st.sneak_in.take().map(|value| Version {
                id: random_id(),
                value,
                created: now_secs() - 1,
                enabled: true,
                nbf: None,
                exp: None,
                tags: tags.clone(),
            });
            let version = Version {
                id: random_id(),
                value: value.to_owned(),
                created: now_secs(),
                enabled: true,
                nbf: None,
                exp: None,
                tags,
            };
            let secret = st.secrets.entry(key).or_insert_with(|| Secret {
                name: (*name).to_owned(),
                versions: Vec::new(),
            });
            secret.versions.extend(sneak);
            secret.versions.push(version.clone());
            let answer = bundle(base, &secret.name, &version);
            super::json(200, answer)
        }
        ("DELETE", ["secrets", name]) => {
            let key = name.to_ascii_lowercase();
            let Some(secret) = st.secrets.remove(&key) else {
                return error(
                    404,
                    "SecretNotFound",
                    &format!("A secret with (name/id) {name} was not found in this key vault."),
                );
            };
            let answer = json!({
                "recoveryId": format!("{base}/deletedsecrets/{}", secret.name),
                "id": format!("{base}/secrets/{}", secret.name),
            });
            let until = now + st.delete_delay;
            st.deleted.insert(
                key,
                Deleted {
                    secret,
                    deleting_until: until,
                },
            );
            super::json(200, answer)
        }
        ("DELETE", ["deletedsecrets", name]) => {
            let key = name.to_ascii_lowercase();
            match st.deleted.get(&key) {
                None => error(
                    404,
                    "DeletedSecretNotFound",
                    &format!("Deleted Secret not found: {name}"),
                ),
                Some(d) if d.deleting_until > now => conflict(
                    "ObjectIsBeingDeleted",
                    &format!("Secret {name} is currently being deleted."),
                ),
                Some(_) if st.purge_forbidden => error(
                    403,
                    "Forbidden",
                    "Operation \"purge\" is not enabled for this vault (purge protection).",
                ),
                Some(_) => {
                    st.deleted.remove(&key);
                    let until = now + st.delete_delay;
                    st.purging.insert(key, until);
                    FakeResponse::new(204, "")
                }
            }
        }
        _ => error(404, "NotFound", "no such route"),
    }
}
