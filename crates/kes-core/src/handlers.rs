//! The v1 API handlers (spec §4.4). Each returns the exact KES body or sentinel error.

use std::time::{Duration, SystemTime};

use kes_crypto::{KeyAlgorithm, KeyVersion};
use kes_keystore::Error as StoreError;
use kes_policy::{Identity, names};
use kes_types::ApiError;
use kes_types::Timestamp;
use kes_types::dto::{
    self, DecryptKeyRequest, DescribeIdentityResponse, DescribeKeyResponse, DescribePolicyResponse,
    EncryptKeyRequest, GenerateKeyRequest, HmacRequest, ImportKeyRequest, ListIdentitiesResponse,
    ListKeysResponse, ListPoliciesResponse, ReadPolicyResponse, SelfDescribeIdentityResponse,
    StatusResponse, VersionResponse,
};
use kes_types::json;
use kes_types::route::Api;
use time::OffsetDateTime;

use crate::api::{Call, HandlerResult};
use crate::events::Level;
use crate::http::{Body, BodyStream, Response};

pub(crate) async fn dispatch(call: &mut Call<'_>) -> HandlerResult {
    match call.route.api {
        Api::Version => version(call),
        Api::Ready => ready(call).await,
        Api::Status => status(call).await,
        Api::Metrics => Ok(metrics(call)),
        Api::ListApis => list_apis(call),
        Api::KeyCreate => key_create(call).await,
        // Boxed: the largest handler state, on a rare route; the hot crypto routes then set
        // the size of every request's future.
        Api::KeyImport => Box::pin(key_import(call)).await,
        Api::KeyDescribe => key_describe(call).await,
        Api::KeyList => key_list(call).await,
        Api::KeyDelete => key_delete(call).await,
        Api::KeyGenerate => key_generate(call).await,
        Api::KeyEncrypt => key_encrypt(call).await,
        Api::KeyDecrypt => key_decrypt(call).await,
        Api::KeyHmac => key_hmac(call).await,
        Api::PolicyDescribe => policy_describe(call),
        Api::PolicyRead => policy_read(call),
        Api::PolicyList => policy_list(call),
        Api::IdentityDescribe => identity_describe(call),
        Api::IdentitySelfDescribe => identity_self_describe(call),
        Api::IdentityList => identity_list(call),
        Api::LogError => Ok(log_stream(call, false)),
        Api::LogAudit => Ok(log_stream(call, true)),
        _ => Err(ApiError::from_static(404, "404 page not found")),
    }
}

/// `200 application/json` with `value` encoded as Go's encoder does (trailing newline).
fn reply<T: serde::Serialize>(value: &T) -> HandlerResult {
    json::to_vec(value)
        .map(|b| Response::full(200, "application/json", b))
        .map_err(|_| ApiError::from_static(500, "failed to encode response"))
}

/// `200 application/json` with an object of base64 byte fields, written straight into a
/// buffer of the exact size (no reallocation leaves copies of secret bytes behind, and no
/// intermediate base64 strings exist). The bytes equal Go's encoder output: base64 needs no
/// JSON escaping. Used by the hot crypto routes.
fn reply_b64(fields: &[(&str, &[u8])]) -> Response {
    use base64::Engine as _;
    let b64 = &base64::engine::general_purpose::STANDARD;
    let len = 2 + fields
        .iter()
        .map(|(name, v)| name.len() + 6 + v.len().div_ceil(3) * 4)
        .sum::<usize>();
    let mut out = Vec::with_capacity(len);
    out.push(b'{');
    for (i, (name, value)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'"');
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\":\"");
        let start = out.len();
        out.resize(start + value.len().div_ceil(3) * 4, 0);
        if let Some(dst) = out.get_mut(start..) {
            // The slice has exactly the encoded length, so this cannot fail.
            let _ = b64.encode_slice(value, dst);
        }
        out.push(b'"');
    }
    out.extend_from_slice(b"}\n");
    Response::full(200, "application/json", out)
}

fn to_utc(t: SystemTime) -> OffsetDateTime {
    OffsetDateTime::from(t)
}

fn timestamp(t: SystemTime) -> Timestamp {
    Timestamp::from(to_utc(t))
}

// ---- system ------------------------------------------------------------------------------

fn version(call: &Call<'_>) -> HandlerResult {
    let v = &call.server.shared.env.version;
    reply(&VersionResponse {
        version: v.version.clone(),
        commit: v.commit.clone(),
    })
}

async fn ready(call: &Call<'_>) -> HandlerResult {
    match call.state.cache.status().await {
        Ok(_) => Ok(Response::empty(200)),
        Err(e) => {
            call.log(Level::WARN, format!("key store is not ready: {e}"));
            Err(if e.is_unreachable() {
                ApiError::store_unreachable()
            } else {
                ApiError::store_unavailable()
            })
        }
    }
}

async fn status(call: &Call<'_>) -> HandlerResult {
    let env = &call.server.shared.env;
    let up = call
        .ctx
        .now
        .duration_since(call.server.shared.started_at)
        .unwrap_or(Duration::ZERO);
    let keystore = call.state.cache.status().await;
    if let Err(e) = &keystore {
        call.log(Level::WARN, format!("key store is not reachable: {e}"));
    }
    let mut body = StatusResponse {
        version: env.version.version.clone(),
        os: go_os().to_owned(),
        arch: go_arch().to_owned(),
        // Whole seconds, rounded.
        uptime: (up + Duration::from_millis(500)).as_secs(),
        num_cpu: env.stats.num_cpu(),
        num_cpu_used: env.stats.num_cpu_used(),
        mem_heap_used: env.stats.heap_used(),
        mem_stack_used: env.stats.stack_used(),
        ..StatusResponse::default()
    };
    match keystore {
        // Milliseconds, rounded, at least 1 (what KES sends; spec §4.4).
        Ok(latency) => {
            let ms = (latency + Duration::from_micros(500)).as_millis();
            body.keystore_latency = u64::try_from(ms).unwrap_or(u64::MAX).max(1);
        }
        // Both flags, so the Go SDK can decode the answer (spec §4.4 rec, §14.4).
        Err(e) => {
            body.keystore_unavailable = true;
            body.keystore_unreachable = e.is_unreachable();
        }
    }
    reply(&body)
}

fn metrics(call: &Call<'_>) -> Response {
    let text = call.server.metrics_text(call.ctx.now);
    Response::full(200, crate::metrics::TEXT_CONTENT_TYPE, text.into_bytes())
}

fn list_apis(call: &Call<'_>) -> HandlerResult {
    kes_types::route::encode_api_list(&call.state.routes)
        .map(|b| Response::full(200, "application/json", b))
        .map_err(|_| ApiError::from_static(500, "failed to encode response"))
}

/// Go's `runtime.GOOS` for the platforms Rust names differently.
fn go_os() -> &'static str {
    match std::env::consts::OS {
        "macos" => "darwin",
        other => other,
    }
}

/// Go's `runtime.GOARCH` for the platforms Rust names differently.
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "386",
        "aarch64" => "arm64",
        "powerpc64" => "ppc64",
        "loongarch64" => "loong64",
        other => other,
    }
}

// ---- keys --------------------------------------------------------------------------------

fn check_key_name(name: &str) -> Result<(), ApiError> {
    if names::is_valid_name(name) {
        Ok(())
    } else {
        Err(ApiError::invalid_key_name(name))
    }
}

/// Decodes a JSON body with Go's rules, enforcing the route's body limit.
fn decode<T: serde::de::DeserializeOwned>(call: &Call<'_>, err: ApiError) -> Result<T, ApiError> {
    if u64::try_from(call.body.len()).map_or(true, |n| n > call.route.max_body) {
        return Err(err);
    }
    kes_types::json::from_slice(call.body).map_err(|_| err)
}

/// Maps a keystore read failure (`Get` through the cache) to KES's answer.
fn read_error(call: &Call<'_>, e: &StoreError) -> ApiError {
    match e {
        StoreError::NotFound => ApiError::key_not_found(),
        e => {
            call.log(Level::ERROR, e.to_string());
            ApiError::store_read_failed()
        }
    }
}

async fn get_key(call: &Call<'_>, name: &str) -> Result<std::sync::Arc<KeyVersion>, ApiError> {
    call.state
        .cache
        .get(name)
        .await
        .map_err(|e| read_error(call, &e))
}

async fn store_new_key(call: &mut Call<'_>, name: &str, version: KeyVersion) -> HandlerResult {
    let value = version.encode().map_err(|e| {
        call.log(Level::ERROR, e.to_string());
        ApiError::create_key_internal()
    })?;
    match call.state.cache.create(name, value.as_bytes()).await {
        Ok(()) => {
            call.audit_message = Some(format!("secret key '{name}' created"));
            Ok(Response::empty(200))
        }
        Err(StoreError::Exists) => Err(ApiError::key_exists()),
        Err(e) => {
            call.log(Level::ERROR, e.to_string());
            Err(ApiError::store_create_failed())
        }
    }
}

async fn key_create(call: &mut Call<'_>) -> HandlerResult {
    let name = call.resource.to_owned();
    check_key_name(&name)?;
    let version = KeyVersion::generate(
        call.state.key_algorithm,
        to_utc(call.ctx.now),
        call.identity_str(),
    )
    .map_err(|e| {
        call.log(Level::ERROR, e.to_string());
        ApiError::generate_key_failed()
    })?;
    store_new_key(call, &name, version).await
}

async fn key_import(call: &mut Call<'_>) -> HandlerResult {
    let name = call.resource.to_owned();
    check_key_name(&name)?;
    let req: ImportKeyRequest = decode(call, ApiError::invalid_import_body())?;
    // Cipher, then key size; legacy `bytes`/`algorithm` bodies accepted (spec §4.4 rec).
    let (algorithm, material) = req.validate(false)?;
    let algorithm = match algorithm {
        dto::KeyAlgorithm::ChaCha20 => KeyAlgorithm::ChaCha20,
        _ => KeyAlgorithm::Aes256,
    };
    let key = kes_crypto::SecretKey::from_slice(algorithm, material.expose_secret())
        .map_err(|_| ApiError::invalid_key_size(algorithm.as_str()))?;
    let hmac = kes_crypto::HmacKey::generate().map_err(|e| {
        call.log(Level::ERROR, e.to_string());
        ApiError::create_key_internal()
    })?;
    let version = KeyVersion::new(key, hmac, to_utc(call.ctx.now), call.identity_str());
    store_new_key(call, &name, version).await
}

async fn key_describe(call: &Call<'_>) -> HandlerResult {
    let name = call.resource;
    check_key_name(name)?;
    let key = get_key(call, name).await?;
    reply(&DescribeKeyResponse {
        name: name.to_owned(),
        algorithm: Some(match key.algorithm() {
            KeyAlgorithm::ChaCha20 => dto::KeyAlgorithm::ChaCha20,
            _ => dto::KeyAlgorithm::Aes256,
        }),
        created_at: Timestamp::from(key.created_at),
        created_by: key.created_by.clone(),
    })
}

/// Strips one trailing `*` of a list pattern: `*`/empty = everything, else a prefix.
fn list_prefix(pattern: &str) -> &str {
    pattern.strip_suffix('*').unwrap_or(pattern)
}

fn check_pattern(pattern: &str) -> Result<(), ApiError> {
    if names::is_valid_pattern(pattern) {
        Ok(())
    } else {
        Err(ApiError::invalid_pattern(pattern))
    }
}

async fn key_list(call: &Call<'_>) -> HandlerResult {
    let pattern = call.resource;
    check_pattern(pattern)?;
    let names = call
        .state
        .cache
        .store()
        .list_all(list_prefix(pattern))
        .await
        .map_err(|e| {
            call.log(Level::ERROR, e.to_string());
            ApiError::store_list_failed()
        })?;
    // Every match in one response (spec §4.4 rec): the Go SDK feeds `continue_at` back as a
    // prefix, so a partial page would make it miss keys.
    reply(&ListKeysResponse {
        names,
        continue_at: String::new(),
    })
}

async fn key_delete(call: &mut Call<'_>) -> HandlerResult {
    let name = call.resource.to_owned();
    check_key_name(&name)?;
    match call.state.cache.delete(&name).await {
        Ok(()) => {
            call.audit_message = Some(format!("secret key '{name}' deleted"));
            Ok(Response::empty(200))
        }
        Err(StoreError::NotFound) => Err(ApiError::key_not_found()),
        Err(e) => {
            call.log(Level::ERROR, e.to_string());
            Err(ApiError::store_delete_failed())
        }
    }
}

async fn key_generate(call: &Call<'_>) -> HandlerResult {
    let name = call.resource;
    check_key_name(name)?;
    // The body is optional: only a non-empty body is decoded (Go: Content-Length > 0).
    let req: GenerateKeyRequest = if call.body.is_empty() {
        GenerateKeyRequest::default()
    } else {
        decode(call, ApiError::invalid_request_body())?
    };
    let key = get_key(call, name).await?;
    let dek = key.generate_dek(&req.context).map_err(|e| {
        call.log(Level::ERROR, e.to_string());
        ApiError::generate_key_failed()
    })?;
    Ok(reply_b64(&[
        ("plaintext", dek.plaintext()),
        ("ciphertext", dek.ciphertext()),
    ]))
}

async fn key_encrypt(call: &Call<'_>) -> HandlerResult {
    let name = call.resource;
    check_key_name(name)?;
    let req: EncryptKeyRequest = decode(call, ApiError::invalid_request_body())?;
    let key = get_key(call, name).await?;
    let ciphertext = key
        .encrypt(req.plaintext.expose_secret(), &req.context)
        .map_err(|e| {
            call.log(Level::ERROR, e.to_string());
            ApiError::encrypt_failed()
        })?;
    Ok(reply_b64(&[("ciphertext", &ciphertext)]))
}

async fn key_decrypt(call: &Call<'_>) -> HandlerResult {
    let name = call.resource;
    check_key_name(name)?;
    let req: DecryptKeyRequest = decode(call, ApiError::invalid_request_body())?;
    let key = get_key(call, name).await?;
    let plaintext = key
        .decrypt(&req.ciphertext, &req.context)
        .map_err(|e| match e {
            kes_crypto::Error::NotAuthentic => ApiError::decrypt(),
            e => {
                call.log(Level::ERROR, e.to_string());
                ApiError::decrypt_failed()
            }
        })?;
    Ok(reply_b64(&[("plaintext", &plaintext)]))
}

async fn key_hmac(call: &Call<'_>) -> HandlerResult {
    let name = call.resource;
    check_key_name(name)?;
    let req: HmacRequest = decode(call, ApiError::invalid_request_body())?;
    let key = get_key(call, name).await?;
    let sum = key.hmac(&req.message).map_err(|e| match e {
        kes_crypto::Error::NoHmacKey => ApiError::hmac_not_supported(),
        e => {
            call.log(Level::ERROR, e.to_string());
            ApiError::from_static(500, "failed to compute HMAC")
        }
    })?;
    Ok(reply_b64(&[("hmac", &sum)]))
}

// ---- policies ----------------------------------------------------------------------------

fn check_policy_name(name: &str) -> Result<(), ApiError> {
    if names::is_valid_name(name) {
        Ok(())
    } else {
        Err(ApiError::invalid_policy_name(name))
    }
}

fn policy_describe(call: &Call<'_>) -> HandlerResult {
    let name = call.resource;
    check_policy_name(name)?;
    if call.state.policies.get(name).is_none() {
        return Err(ApiError::policy_not_found());
    }
    reply(&DescribePolicyResponse {
        name: name.to_owned(),
        created_at: timestamp(call.state.created_at),
        created_by: call.state.admin_text.clone(),
    })
}

fn policy_read(call: &Call<'_>) -> HandlerResult {
    let name = call.resource;
    check_policy_name(name)?;
    let Some(policy) = call.state.policies.get(name) else {
        return Err(ApiError::policy_not_found());
    };
    reply(&ReadPolicyResponse {
        name: name.to_owned(),
        allow: dto::rules(policy.allow.iter().map(|p| p.as_str())),
        deny: dto::rules(policy.deny.iter().map(|p| p.as_str())),
        created_at: timestamp(call.state.created_at),
        created_by: call.state.admin_text.clone(),
    })
}

fn policy_list(call: &Call<'_>) -> HandlerResult {
    let pattern = call.resource;
    check_pattern(pattern)?;
    let prefix = list_prefix(pattern);
    let names: Vec<String> = call
        .state
        .policies
        .policies()
        .map(|(n, _)| n)
        .filter(|n| n.starts_with(prefix))
        .map(str::to_owned)
        .collect();
    reply(&ListPoliciesResponse {
        names,
        continue_at: String::new(),
    })
}

// ---- identities --------------------------------------------------------------------------

fn identity_describe(call: &Call<'_>) -> HandlerResult {
    let id = call.resource;
    if !names::is_valid_name(id) {
        return Err(ApiError::invalid_identity(id));
    }
    let state = call.state;
    if id == state.admin_text {
        return reply(&DescribeIdentityResponse {
            admin: true,
            created_at: timestamp(state.created_at),
            ..DescribeIdentityResponse::default()
        });
    }
    let identity = Identity::try_from(id.to_owned()).map_err(|_| ApiError::invalid_identity(id))?;
    match state.policies.policy_of(&identity) {
        Some((policy, _)) => reply(&DescribeIdentityResponse {
            policy: policy.to_owned(),
            created_at: timestamp(state.created_at),
            created_by: state.admin_text.clone(),
            ..DescribeIdentityResponse::default()
        }),
        None => Err(ApiError::identity_not_found()),
    }
}

fn identity_self_describe(call: &Call<'_>) -> HandlerResult {
    let state = call.state;
    let Some(identity) = call.identity.as_deref() else {
        return Err(ApiError::identity_not_found());
    };
    if state.admin.as_ref() == Some(identity) {
        return reply(&SelfDescribeIdentityResponse {
            identity: identity.as_str().to_owned(),
            admin: true,
            created_at: timestamp(state.created_at),
            ..SelfDescribeIdentityResponse::default()
        });
    }
    match state.policies.policy_of(identity) {
        Some((name, policy)) => reply(&SelfDescribeIdentityResponse {
            identity: identity.as_str().to_owned(),
            created_at: timestamp(state.created_at),
            created_by: state.admin_text.clone(),
            policy: name.to_owned(),
            allow: dto::rules(policy.allow.iter().map(|p| p.as_str())),
            deny: dto::rules(policy.deny.iter().map(|p| p.as_str())),
            ..SelfDescribeIdentityResponse::default()
        }),
        None => Err(ApiError::identity_not_found()),
    }
}

fn identity_list(call: &Call<'_>) -> HandlerResult {
    let pattern = call.resource;
    check_pattern(pattern)?;
    let prefix = list_prefix(pattern);
    let state = call.state;
    let mut ids: Vec<String> = state
        .policies
        .identities()
        .map(|(id, _)| id.as_str())
        .chain(std::iter::once(state.admin_text.as_str()))
        .filter(|id| id.starts_with(prefix))
        .map(str::to_owned)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    reply(&ListIdentitiesResponse {
        identities: ids,
        continue_at: String::new(),
    })
}

// ---- logs --------------------------------------------------------------------------------

fn log_stream(call: &Call<'_>, audit: bool) -> Response {
    let logs = &call.server.shared.logs;
    let rx = if audit {
        logs.audit.subscribe()
    } else {
        logs.error.subscribe()
    };
    let mut r = Response::empty(200);
    r.headers.push((
        "content-type",
        std::borrow::Cow::Borrowed("application/x-ndjson"),
    ));
    r.body = Body::Stream(BodyStream::new(rx));
    r
}

#[cfg(test)]
mod tests {
    use kes_types::SecretBytes;
    use kes_types::dto::{
        DecryptKeyResponse, EncryptKeyResponse, GenerateKeyResponse, HmacResponse,
    };

    use super::*;

    fn enc<T: serde::Serialize>(v: &T) -> Vec<u8> {
        json::to_vec(v).unwrap()
    }

    #[test]
    fn reply_b64_equals_the_dto_encoding() {
        for len in [0usize, 1, 2, 3, 31, 32, 33, 76, 1000] {
            let a: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let b: Vec<u8> = (0..len + 5).map(|i| (i * 13) as u8).collect();
            let got = reply_b64(&[("plaintext", &a), ("ciphertext", &b)]);
            let want = enc(&GenerateKeyResponse {
                plaintext: SecretBytes::from_slice(&a),
                ciphertext: b.clone(),
            });
            assert_eq!(got.body_bytes(), want);
            let Body::Full(body) = &got.body else {
                panic!()
            };
            assert_eq!(body.capacity(), body.len(), "exact allocation");
            assert_eq!(
                reply_b64(&[("ciphertext", &b)]).body_bytes(),
                enc(&EncryptKeyResponse {
                    ciphertext: b.clone()
                })
            );
            assert_eq!(
                reply_b64(&[("plaintext", &a)]).body_bytes(),
                enc(&DecryptKeyResponse {
                    plaintext: SecretBytes::from_slice(&a)
                })
            );
            assert_eq!(
                reply_b64(&[("hmac", &a)]).body_bytes(),
                enc(&HmacResponse {
                    hmac: SecretBytes::from_slice(&a)
                })
            );
        }
    }
}
