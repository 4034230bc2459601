//! `FakeDsm`: a fake of the Fortanix DSM (SDKMS) REST API calls KES uses, written from the
//! public API reference:
//! * `GET /sys/v1/health` → 204.
//! * `POST /sys/v1/session/auth` with `Authorization: Basic <api key>` → 200
//!   `{"access_token","expires_in","token_type":"Bearer"}`; a wrong key → 401.
//!   `POST /sys/v1/session/terminate` with `Authorization: Bearer <token>` → 204.
//! * `/crypto/v1/*` needs `Authorization: Basic <api key>` (401 otherwise).
//! * `PUT /crypto/v1/keys` `{"name","obj_type":"OPAQUE","value":B64,"key_ops","enabled","group_id"?}`
//!   → 201 with the object, 409 `sobject already exists`; 400 for a bad body or an unknown group.
//! * `POST /crypto/v1/keys/export` `{"name"}` → `{"kid","name","value","enabled"}` (403 unless
//!   the object has the `EXPORT` op), 404 `sobject does not exist`.
//! * `POST /crypto/v1/keys/info` `{"name"}` → the object without its value, 404.
//! * `DELETE /crypto/v1/keys/<kid>` → 204, 404.
//! * `GET /crypto/v1/keys?sort=name:asc&limit=L[&start=S]` → a JSON array of at most `L`
//!   objects (L ≤ 1000) sorted by name, from the first name `>= S` (inclusive, as
//!   documented for `start`).
//!
//! Errors are plain text.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use serde_json::{Value, json};

use super::{FakeRequest, FakeResponse, serve};

pub const API_KEY: &str = "ZmFrZS1hcHA6ZmFrZS1zZWNyZXQ=";
pub const GROUP_ID: &str = "7b3c5e0e-group";

/// One security object.
#[derive(Clone)]
pub struct Sobject {
    pub kid: String,
    pub value: String,
    pub enabled: bool,
    pub group_id: String,
    pub exportable: bool,
}

/// The fake's state.
#[derive(Default)]
pub struct State {
    pub objects: BTreeMap<String, Sobject>,
    pub next_kid: u64,
    pub sessions: Vec<String>,
    pub terminated: Vec<String>,
    pub list_requests: usize,
    pub exports: usize,
}

/// A running fake.
pub struct FakeDsm {
    pub url: String,
    pub state: Arc<Mutex<State>>,
}

impl FakeDsm {
    pub async fn start() -> FakeDsm {
        let state = Arc::new(Mutex::new(State::default()));
        let s = Arc::clone(&state);
        let addr = serve(move |req| {
            let s = Arc::clone(&s);
            async move { handle(&s, req) }
        })
        .await;
        FakeDsm {
            url: format!("http://{addr}"),
            state,
        }
    }
}

fn text(status: u16, body: &str) -> FakeResponse {
    FakeResponse::new(status, body.to_owned())
}

fn handle(state: &Mutex<State>, req: FakeRequest) -> FakeResponse {
    let mut st = state.lock().unwrap();
    let (path, query) = req.path.split_once('?').unwrap_or((req.path.as_str(), ""));
    let auth = req
        .headers
        .get("authorization")
        .cloned()
        .unwrap_or_default();
    let basic_ok = auth == format!("Basic {API_KEY}");
    match (req.method.as_str(), path) {
        ("GET", "/") => return text(200, "Fortanix DSM"),
        ("GET", "/sys/v1/health") => return FakeResponse::new(204, ""),
        ("POST", "/sys/v1/session/auth") => {
            if !basic_ok {
                return text(401, "invalid API key");
            }
            let token = format!("session-{}", st.sessions.len());
            st.sessions.push(token.clone());
            return super::json(
                200,
                json!({"access_token": token, "expires_in": 600, "token_type": "Bearer", "entity_id": "app"}),
            );
        }
        ("POST", "/sys/v1/session/terminate") => {
            let Some(token) = auth.strip_prefix("Bearer ") else {
                return text(401, "bearer token required");
            };
            if !st.sessions.iter().any(|s| s == token) {
                return text(401, "unknown session");
            }
            st.terminated.push(token.to_owned());
            return FakeResponse::new(204, "");
        }
        _ => {}
    }
    if !basic_ok {
        return text(401, "invalid API key");
    }
    let body: Value = serde_json::from_slice(&req.body).unwrap_or_default();
    match (req.method.as_str(), path) {
        ("PUT", "/crypto/v1/keys") => {
            let (Some(name), Some(value)) = (body["name"].as_str(), body["value"].as_str()) else {
                return text(400, "name and value are required");
            };
            if body["obj_type"] != "OPAQUE"
                || base64::engine::general_purpose::STANDARD
                    .decode(value)
                    .is_err()
            {
                return text(400, "invalid object");
            }
            let group_id = body["group_id"].as_str().unwrap_or(GROUP_ID);
            if group_id != GROUP_ID {
                return text(400, "group does not exist");
            }
            if st.objects.contains_key(name) {
                return text(409, "sobject already exists");
            }
            let ops: Vec<&str> = body["key_ops"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            st.next_kid += 1;
            let kid = format!("kid-{:06}", st.next_kid);
            st.objects.insert(
                name.to_owned(),
                Sobject {
                    kid: kid.clone(),
                    value: value.to_owned(),
                    enabled: body["enabled"].as_bool().unwrap_or(true),
                    group_id: group_id.to_owned(),
                    exportable: ops.contains(&"EXPORT"),
                },
            );
            super::json(201, json!({"kid": kid, "name": name, "obj_type": "OPAQUE"}))
        }
        ("POST", "/crypto/v1/keys/export") | ("POST", "/crypto/v1/keys/info") => {
            let name = body["name"].as_str().unwrap_or_default();
            let Some(o) = st.objects.get(name).cloned() else {
                return text(404, "sobject does not exist");
            };
            if path.ends_with("export") {
                if !o.exportable {
                    return text(403, "operation not allowed");
                }
                st.exports += 1;
                super::json(
                    200,
                    json!({"kid": o.kid, "name": name, "value": o.value, "enabled": o.enabled, "group_id": o.group_id}),
                )
            } else {
                super::json(
                    200,
                    json!({"kid": o.kid, "name": name, "enabled": o.enabled, "group_id": o.group_id}),
                )
            }
        }
        ("DELETE", p) if p.starts_with("/crypto/v1/keys/") => {
            let kid = &p["/crypto/v1/keys/".len()..];
            let name = st
                .objects
                .iter()
                .find(|(_, o)| o.kid == kid)
                .map(|(n, _)| n.clone());
            match name {
                Some(n) => {
                    st.objects.remove(&n);
                    FakeResponse::new(204, "")
                }
                None => text(404, "sobject does not exist"),
            }
        }
        ("GET", "/crypto/v1/keys") => {
            st.list_requests += 1;
            let param = |k: &str| {
                query
                    .split('&')
                    .find_map(|p| p.strip_prefix(&format!("{k}=")))
                    .map(super::fake_ciphertrust::decode)
            };
            if param("sort").as_deref() != Some("name:asc") {
                return text(400, "only sort=name:asc is supported by this fake");
            }
            let limit = param("limit")
                .and_then(|l| l.parse::<usize>().ok())
                .unwrap_or(100)
                .min(1000);
            let start = param("start").unwrap_or_default();
            let page: Vec<Value> = st
                .objects
                .range(start..)
                .take(limit)
                .map(|(n, o)| json!({"kid": o.kid, "name": n, "obj_type": "OPAQUE", "enabled": o.enabled}))
                .collect();
            super::json(200, Value::Array(page))
        }
        _ => text(404, "no such route"),
    }
}
