//! `FakeKeyControl`: a fake of the Entrust KeyControl Vault REST API (1.0) calls KES uses,
//! written from the public API reference:
//! * `POST /vault/1.0/Login/<vault_id>/` `{"username","password"}` → 200
//!   `{"access_token","expires_at"}` (RFC 3339); wrong credentials or vault → 401.
//! * `POST /vault/1.0/Renew/` with `X-Vault-Auth` → 200 with a new token (401 for an expired
//!   one).
//! * Every other call needs a current `X-Vault-Auth` token (401 `{"error":…}` otherwise) and
//!   a known `box_id` (404 `Box not found`).
//! * `GetBox` `{"box_id"}` → 200; `CreateSecret` `{"box_id","name","secret_data"}` → 200, 409
//!   `Secret already exists`; `CheckoutSecret` / `DeleteSecret` `{"box_id","secret_id"}` →
//!   200, 404 `Secret not found`; `ListSecretIds` `{"box_id","max_items","next_token"?}` →
//!   `{"secrets":[{"name","expired"}],"next_token"}` with `next_token` =
//!   base64(`{"box_id","next_ctx":<next name>}`), sorted by name.
//!
//! Errors are `{"error":"…"}`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

use super::{FakeRequest, FakeResponse, serve};

/// The fake's state.
#[derive(Default)]
pub struct State {
    /// name → (secret_data as sent, expired).
    pub secrets: BTreeMap<String, (String, bool)>,
    /// token → expiry.
    pub tokens: Vec<(String, Instant)>,
    pub logins: usize,
    pub renewals: usize,
    pub rejected_tokens: usize,
    /// When set, renewals fail (to test the fallback to a new login).
    pub renew_broken: bool,
}

/// A running fake.
pub struct FakeKeyControl {
    pub url: String,
    pub state: Arc<Mutex<State>>,
}

pub const VAULT_ID: &str = "vault-1";
pub const BOX_ID: &str = "kes-box";
pub const USERNAME: &str = "kes";
pub const PASSWORD: &str = "kes-password";

impl FakeKeyControl {
    /// Starts the fake; tokens live `lifetime`.
    pub async fn start(lifetime: Duration) -> FakeKeyControl {
        let state = Arc::new(Mutex::new(State::default()));
        let s = Arc::clone(&state);
        let addr = serve(move |req| {
            let s = Arc::clone(&s);
            async move { handle(&s, lifetime, req) }
        })
        .await;
        FakeKeyControl {
            url: format!("http://{addr}"),
            state,
        }
    }
}

fn error(status: u16, message: &str) -> FakeResponse {
    super::json(status, json!({"error": message}))
}

fn issue(st: &mut State, lifetime: Duration) -> FakeResponse {
    let token = format!("token-{}-{}", st.logins, st.renewals);
    st.tokens.push((token.clone(), Instant::now() + lifetime));
    let expires = (time::OffsetDateTime::now_utc() + lifetime)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    super::json(200, json!({"access_token": token, "expires_at": expires}))
}

fn handle(state: &Mutex<State>, lifetime: Duration, req: FakeRequest) -> FakeResponse {
    let mut st = state.lock().unwrap();
    if req.method != "POST" {
        return error(405, "method not allowed");
    }
    if req.path == format!("/vault/1.0/Login/{VAULT_ID}/") {
        let body: Value = serde_json::from_slice(&req.body).unwrap_or_default();
        if body["username"] != USERNAME || body["password"] != PASSWORD {
            return error(401, "Invalid username or password");
        }
        st.logins += 1;
        return issue(&mut st, lifetime);
    }
    let now = Instant::now();
    let token = req.headers.get("x-vault-auth").cloned().unwrap_or_default();
    if !st.tokens.iter().any(|(t, exp)| *t == token && *exp > now) {
        st.rejected_tokens += 1;
        return error(401, "Authentication token is invalid or expired");
    }
    if req.path == "/vault/1.0/Renew/" {
        if st.renew_broken {
            return error(403, "Token renewal is not allowed");
        }
        st.renewals += 1;
        return issue(&mut st, lifetime);
    }
    let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
        return error(400, "invalid JSON");
    };
    if body["box_id"] != BOX_ID {
        return error(404, "Box not found");
    }
    let op = req
        .path
        .strip_prefix("/vault/1.0/")
        .and_then(|p| p.strip_suffix('/'))
        .unwrap_or_default();
    match op {
        "GetBox" => super::json(200, json!({"box_id": BOX_ID, "name": BOX_ID})),
        "CreateSecret" => {
            let (Some(name), Some(data)) = (body["name"].as_str(), body["secret_data"].as_str())
            else {
                return error(400, "name and secret_data are required");
            };
            if base64::engine::general_purpose::STANDARD
                .decode(data)
                .is_err()
            {
                return error(400, "secret_data must be base64");
            }
            if st.secrets.contains_key(name) {
                return error(409, "Secret already exists");
            }
            st.secrets.insert(name.to_owned(), (data.to_owned(), false));
            super::json(200, json!({"secret_id": name}))
        }
        "CheckoutSecret" | "DeleteSecret" => {
            let name = body["secret_id"].as_str().unwrap_or_default().to_owned();
            let found = match st.secrets.get(&name) {
                Some((_, true)) | None => None,
                Some((data, false)) => Some(data.clone()),
            };
            match (op, found) {
                (_, None) => error(404, "Secret not found"),
                ("CheckoutSecret", Some(data)) => super::json(200, json!({"secret_data": data})),
                (_, Some(_)) => {
                    st.secrets.remove(&name);
                    super::json(200, json!({}))
                }
            }
        }
        "ListSecretIds" => {
            let max = body["max_items"].as_u64().unwrap_or(100).clamp(1, 1000) as usize;
            let start = body["next_token"]
                .as_str()
                .and_then(|t| base64::engine::general_purpose::STANDARD.decode(t).ok())
                .and_then(|t| serde_json::from_slice::<Value>(&t).ok())
                .and_then(|t| t["next_ctx"].as_str().map(str::to_owned))
                .unwrap_or_default();
            let mut page: Vec<(&String, &(String, bool))> =
                st.secrets.range(start..).take(max + 1).collect();
            let next = if page.len() > max {
                page.pop().map(|(n, _)| {
                    base64::engine::general_purpose::STANDARD
                        .encode(json!({"box_id": BOX_ID, "next_ctx": n}).to_string())
                })
            } else {
                None
            };
            let secrets: Vec<Value> = page
                .iter()
                .map(|(n, (_, expired))| json!({"name": n, "expired": expired}))
                .collect();
            super::json(
                200,
                json!({"secrets": secrets, "next_token": next.unwrap_or_default()}),
            )
        }
        _ => error(404, "no such route"),
    }
}
