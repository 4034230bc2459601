//! `FakeCipherTrust`: a fake of the parts of the Thales CipherTrust Manager REST API (v1) that
//! KES uses, written from the public API reference:
//! * `POST /api/v1/auth/tokens` `{"grant_type":"refresh_token","refresh_token","domain"}` →
//!   200 `{"jwt","duration","token_type":"Bearer"}`; an unknown refresh token → 401.
//! * Every other call needs `Authorization: Bearer <jwt>` with a current JWT (401 otherwise;
//!   JWTs expire after `duration` seconds).
//! * `POST /api/v1/vault/secrets` `{"name","dataType","material"}` → 201, 409 if the name
//!   exists, 400 for a missing field or a wrong `dataType`.
//! * `POST /api/v1/vault/secrets/<name>/export?type=name` → 200 `{"material"}`, 404.
//! * `DELETE /api/v1/vault/secrets/<name>?type=name` → 204, 404.
//! * `GET /api/v1/vault/secrets?limit=L&skip=S` → `{"skip","limit","total","resources":[{"name"}]}`
//!   (`limit` at most 1000), in creation order.
//!
//! Errors are `{"code":N,"codeDesc":"…"}`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{FakeRequest, FakeResponse, serve};

/// The fake's state.
#[derive(Default)]
pub struct State {
    /// name → (creation index, material).
    pub secrets: BTreeMap<String, (u64, String)>,
    pub next_index: u64,
    /// jwt → expiry.
    pub jwts: Vec<(String, Instant)>,
    pub logins: usize,
    pub rejected_tokens: usize,
    pub last_domain: String,
}

/// A running fake.
pub struct FakeCipherTrust {
    pub url: String,
    pub state: Arc<Mutex<State>>,
}

impl FakeCipherTrust {
    /// Starts the fake; it accepts `refresh_token` and issues JWTs valid for `lifetime`.
    pub async fn start(refresh_token: &str, lifetime: Duration) -> FakeCipherTrust {
        let state = Arc::new(Mutex::new(State::default()));
        let s = Arc::clone(&state);
        let refresh_token = refresh_token.to_owned();
        let addr = serve(move |req| {
            let s = Arc::clone(&s);
            let refresh_token = refresh_token.clone();
            async move { handle(&s, &refresh_token, lifetime, req) }
        })
        .await;
        FakeCipherTrust {
            url: format!("http://{addr}"),
            state,
        }
    }
}

fn error(status: u16, code: u32, desc: &str) -> FakeResponse {
    super::json(status, json!({"code": code, "codeDesc": desc}))
}

fn handle(
    state: &Mutex<State>,
    refresh_token: &str,
    lifetime: Duration,
    req: FakeRequest,
) -> FakeResponse {
    let mut st = state.lock().unwrap();
    let (path, query) = req.path.split_once('?').unwrap_or((req.path.as_str(), ""));
    if req.method == "POST" && path == "/api/v1/auth/tokens" {
        let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
            return error(400, 1, "invalid JSON");
        };
        if body["grant_type"] != "refresh_token" || body["refresh_token"] != refresh_token {
            return error(401, 11, "Invalid refresh token");
        }
        st.logins += 1;
        st.last_domain = body["domain"].as_str().unwrap_or_default().to_owned();
        let jwt = format!("jwt-{}", st.logins);
        st.jwts.push((jwt.clone(), Instant::now() + lifetime));
        return super::json(
            200,
            json!({"jwt": jwt, "duration": lifetime.as_secs(), "token_type": "Bearer"}),
        );
    }
    if req.method == "GET" && path == "/" {
        return FakeResponse::new(200, "CipherTrust Manager");
    }
    let auth = req
        .headers
        .get("authorization")
        .cloned()
        .unwrap_or_default();
    let now = Instant::now();
    let current = auth
        .strip_prefix("Bearer ")
        .is_some_and(|jwt| st.jwts.iter().any(|(j, exp)| j == jwt && *exp > now));
    if !current {
        st.rejected_tokens += 1;
        return error(401, 10, "Token is expired or invalid");
    }
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (req.method.as_str(), segments.as_slice()) {
        ("POST", ["api", "v1", "vault", "secrets"]) => {
            let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
                return error(400, 1, "invalid JSON");
            };
            let (Some(name), Some(material)) = (body["name"].as_str(), body["material"].as_str())
            else {
                return error(400, 2, "name and material are required");
            };
            if body["dataType"] != "seed" {
                return error(400, 3, "unsupported dataType");
            }
            if st.secrets.contains_key(name) {
                return error(409, 4, "Resource already exists");
            }
            let index = st.next_index;
            st.next_index += 1;
            st.secrets
                .insert(name.to_owned(), (index, material.to_owned()));
            super::json(201, json!({"name": name, "dataType": "seed"}))
        }
        ("POST", ["api", "v1", "vault", "secrets", name, "export"]) if query == "type=name" => {
            let name = decode(name);
            match st.secrets.get(&name) {
                Some((_, material)) => super::json(200, json!({"material": material})),
                None => error(404, 5, "Resource not found"),
            }
        }
        ("DELETE", ["api", "v1", "vault", "secrets", name]) if query == "type=name" => {
            let name = decode(name);
            match st.secrets.remove(&name) {
                Some(_) => FakeResponse::new(204, ""),
                None => error(404, 5, "Resource not found"),
            }
        }
        ("GET", ["api", "v1", "vault", "secrets"]) => {
            let param = |k: &str| {
                query
                    .split('&')
                    .find_map(|p| p.strip_prefix(&format!("{k}=")))
                    .and_then(|v| v.parse::<usize>().ok())
            };
            let limit = param("limit").unwrap_or(10).min(1000);
            let skip = param("skip").unwrap_or(0);
            let mut all: Vec<(&u64, &String)> =
                st.secrets.iter().map(|(n, (i, _))| (i, n)).collect();
            all.sort();
            let resources: Vec<Value> = all
                .iter()
                .skip(skip)
                .take(limit)
                .map(|(_, n)| json!({"name": n, "dataType": "seed"}))
                .collect();
            super::json(
                200,
                json!({"skip": skip, "limit": limit, "total": all.len(), "resources": resources}),
            )
        }
        _ => error(404, 6, "no such route"),
    }
}

/// Percent-decodes a path segment.
pub fn decode(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8_lossy()
        .into_owned()
}
