//! The shape/validity vectors of `errors.json`, `api_routes.json`,
//! `import_key.json` and `log_streams.json` (copied from the shared vectors).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

use kes_types::dto::{AuditLogEvent, ErrorLogEvent, ImportKeyRequest, KeyAlgorithm};
use kes_types::route::encode_api_list;
use kes_types::{
    ApiDescription, ApiError, AuthMode, DEFAULT_ROUTES, LEGACY_ALIASES, Method, Sentinel, json,
};
use serde_json::Value;

fn load(name: &str) -> Value {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn str_of<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str()
        .unwrap_or_else(|| panic!("{k} missing in {v}"))
}

fn u16_of(v: &Value, k: &str) -> u16 {
    u16::try_from(v[k].as_u64().unwrap()).unwrap()
}

#[test]
fn every_sentinel_has_its_status_and_message() {
    let v = load("errors.json");
    let sentinels = v["sentinels"].as_array().unwrap();
    assert_eq!(sentinels.len(), Sentinel::ALL.len());
    for s in sentinels {
        let name = str_of(s, "name");
        let ours = Sentinel::ALL
            .into_iter()
            .find(|x| x.go_name() == name)
            .unwrap_or_else(|| panic!("no sentinel {name}"));
        assert_eq!(ours.status(), u16_of(s, "status"), "{name}");
        assert_eq!(ours.message(), str_of(s, "message"), "{name}");
        let err = ours.error();
        assert_eq!(
            err,
            ApiError::new(u16_of(s, "status"), str_of(s, "message").to_owned())
        );
        assert_eq!(err.sentinel(), Some(ours));
        // The body carries the message and decodes back to the same error.
        let body = err.to_body();
        let back = ApiError::from_response(err.status, Some("application/json"), &body).unwrap();
        assert_eq!(back, err, "{name}");
    }
}

#[test]
fn legacy_aliases_map_to_sentinels() {
    let v = load("errors.json");
    let aliases = v["legacy_aliases"].as_array().unwrap();
    assert_eq!(aliases.len(), LEGACY_ALIASES.len());
    for a in aliases {
        let status = u16_of(a, "status");
        let message = str_of(a, "message");
        let target = str_of(a, "maps_to");
        let raw = ApiError::new(status, message.to_owned());
        assert_eq!(raw.sentinel(), None, "an alias is not itself a sentinel");
        let mapped = raw.normalize_legacy();
        assert_eq!(mapped.sentinel().unwrap().go_name(), target);
        // Also through the response parser, for both body forms.
        let body = format!("{{\"message\":\"{message}\"}}");
        let parsed =
            ApiError::from_response(status, Some("application/json"), body.as_bytes()).unwrap();
        assert_eq!(parsed.sentinel().unwrap().go_name(), target);
        let body = format!("{{\"error\":\"{message}\"}}");
        let parsed =
            ApiError::from_response(status, Some("application/json"), body.as_bytes()).unwrap();
        assert_eq!(parsed.sentinel().unwrap().go_name(), target);
    }
}

#[test]
fn client_equality() {
    let v = load("errors.json");
    for t in v["client_equality_tests"].as_array().unwrap() {
        let e = ApiError::new(u16_of(t, "status"), str_of(t, "message").to_owned());
        let equals = str_of(t, "equals");
        match Sentinel::ALL.into_iter().find(|s| s.go_name() == equals) {
            Some(s) => {
                assert_eq!(e, s.error());
                assert!(e.is(s));
            }
            None => {
                // NewError(400,"") equals only itself.
                assert_eq!(e, ApiError::new(400, ""));
                assert_eq!(e.sentinel(), None);
                assert_ne!(e, ApiError::key_exists());
            }
        }
    }
    // Same message, other status: not equal.
    assert_ne!(
        ApiError::new(400, "key does not exist"),
        ApiError::key_not_found()
    );
}

#[test]
fn default_route_table() {
    let v = load("api_routes.json");
    let routes = v["routes"].as_array().unwrap();
    assert_eq!(routes.len(), DEFAULT_ROUTES.len());
    for r in routes {
        let path = str_of(r, "path");
        let ours = DEFAULT_ROUTES
            .iter()
            .find(|x| x.path == path)
            .unwrap_or_else(|| panic!("no route {path}"));
        assert_eq!(ours.method.as_str(), str_of(r, "method"), "{path}");
        assert_eq!(ours.max_body, r["max_body"].as_u64().unwrap(), "{path}");
        assert_eq!(
            ours.timeout.as_secs(),
            r["timeout"].as_u64().unwrap(),
            "{path}"
        );
        assert_eq!(ours.timeout.subsec_nanos(), 0);
        assert_eq!(ours.auth.as_str(), str_of(r, "auth"), "{path}");
        if ours.method == Method::Put {
            assert!(ours.method.accepts("POST"));
        }
    }
    let paths: BTreeSet<_> = DEFAULT_ROUTES.iter().map(|r| r.path).collect();
    assert_eq!(paths.len(), DEFAULT_ROUTES.len(), "paths are unique");
    assert_eq!(
        DEFAULT_ROUTES
            .iter()
            .filter(|r| r.auth == AuthMode::Identify)
            .count(),
        1
    );
}

#[test]
fn api_list_response_matches_the_vector() {
    let v = load("api_routes.json");
    let body = encode_api_list(&DEFAULT_ROUTES).unwrap();
    assert_eq!(body.last(), Some(&b'\n'));
    // As a client reads it.
    let listed: Vec<ApiDescription> = json::from_slice(&body).unwrap();
    let want: BTreeSet<(String, String, i64, i64)> = v["routes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                str_of(r, "method").to_owned(),
                str_of(r, "path").to_owned(),
                r["max_body"].as_i64().unwrap(),
                r["timeout"].as_i64().unwrap(),
            )
        })
        .collect();
    let got: BTreeSet<_> = listed
        .into_iter()
        .map(|d| (d.method, d.path, d.max_body, d.timeout))
        .collect();
    assert_eq!(got, want);
    // Exactly four keys per element, in Go's field order.
    let text = String::from_utf8(body).unwrap();
    assert!(
        text.starts_with(
            "[{\"method\":\"GET\",\"path\":\"/version\",\"max_body\":0,\"timeout\":10},"
        )
    );
    assert!(text.contains(
        "{\"method\":\"PUT\",\"path\":\"/v1/key/import/\",\"max_body\":1000000,\"timeout\":15}"
    ));
}

#[test]
fn import_key_vectors() {
    let v = load("import_key.json");
    for (i, t) in v["vectors"].as_array().unwrap().iter().enumerate() {
        let key_len = usize::try_from(t["key_len"].as_u64().unwrap()).unwrap();
        let cipher = str_of(t, "cipher");
        // Built the way the Go SDK sends it.
        let body = format!(
            "{{\"key\":\"{}\",\"cipher\":\"{cipher}\"}}",
            json::encode_base64(&vec![0x5a; key_len])
        );
        let req: ImportKeyRequest = json::from_slice(body.as_bytes()).unwrap();
        let result = req.validate(false);
        if t["should_fail"].as_bool().unwrap() {
            let err = result.unwrap_err();
            assert_eq!(err.status, u16_of(t, "expected_status"), "vector {i}");
            assert_eq!(err.message(), str_of(t, "expected_message"), "vector {i}");
        } else {
            let (alg, key) = result.unwrap_or_else(|e| panic!("vector {i}: {e}"));
            assert_eq!(alg, KeyAlgorithm::from_name(cipher).unwrap());
            assert_eq!(key.expose_secret(), vec![0x5a; key_len]);
        }
    }
}

#[test]
fn audit_stream_lines() {
    let v = load("log_streams.json");
    let lines: Vec<&str> = str_of(&v, "audit_stream_text").lines().collect();
    let expected = v["audit_expected"].as_array().unwrap();
    assert_eq!(lines.len(), expected.len());
    for (line, want) in lines.iter().zip(expected) {
        let ev: AuditLogEvent = json::from_slice(line.as_bytes()).unwrap();
        assert_eq!(ev.time.to_rfc3339().unwrap(), str_of(want, "time"));
        assert_eq!(ev.request.path, str_of(want, "path"));
        assert_eq!(ev.request.identity, str_of(want, "identity"));
        assert_eq!(ev.request.ip, "");
        assert_eq!(u64::from(ev.response.code), want["code"].as_u64().unwrap());
        assert_eq!(ev.response.time, want["response_time_ns"].as_i64().unwrap());
        // Re-encoded compactly in Go's field order, without the empty ip.
        let out = String::from_utf8(json::to_vec(&ev).unwrap()).unwrap();
        let compact = line.replace(", ", ",");
        assert_eq!(out, format!("{compact}\n"));
    }
}

#[test]
fn error_stream_lines() {
    let v = load("log_streams.json");
    let lines: Vec<&str> = str_of(&v, "error_stream_text").lines().collect();
    let expected = v["error_expected"].as_array().unwrap();
    assert_eq!(lines.len(), expected.len());
    for (line, want) in lines.iter().zip(expected) {
        let ev: ErrorLogEvent = json::from_slice(line.as_bytes()).unwrap();
        assert_eq!(ev.message, want.as_str().unwrap());
        assert_eq!(json::to_vec(&ev).unwrap(), format!("{line}\n").into_bytes());
    }
}
