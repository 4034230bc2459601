//! Secrets Manager's JSON 1.1 protocol: request and answer shapes, and AWS error answers.
//!
//! Errors come as JSON (`{"__type":"…#Code","message":"…"}`, real AWS) or — for
//! authentication failures in moto — as XML (`<Code>…</Code><Message>…</Message>`); the
//! `x-amzn-ErrorType` header is a fallback for the code.

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use kes_keystore_cloud::transport::HttpResponse;

/// `CreateSecret` request.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CreateSecret<'a> {
    pub(crate) name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) secret_string: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) secret_binary: Option<&'a str>,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub(crate) kms_key_id: &'a str,
    pub(crate) client_request_token: &'a str,
}

/// `GetSecretValue` / `DescribeSecret` request.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct SecretId<'a> {
    pub(crate) secret_id: &'a str,
}

/// `DeleteSecret` request.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct DeleteSecret<'a> {
    pub(crate) secret_id: &'a str,
    pub(crate) force_delete_without_recovery: bool,
}

/// A `ListSecrets` filter.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Filter<'a> {
    pub(crate) key: &'static str,
    pub(crate) values: [&'a str; 1],
}

/// `ListSecrets` request.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListSecrets<'a> {
    pub(crate) max_results: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) next_token: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) filters: Vec<Filter<'a>>,
}

/// `GetSecretValue` answer (only what we read). The value is zeroized on drop.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct SecretValue {
    #[serde(default)]
    pub(crate) name: Option<String>,
    #[serde(default)]
    pub(crate) secret_string: Option<Zeroizing<String>>,
    #[serde(default)]
    pub(crate) secret_binary: Option<Zeroizing<String>>,
}

/// One entry of a `ListSecrets` answer.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListEntry {
    pub(crate) name: String,
}

/// `ListSecrets` answer.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct SecretList {
    #[serde(default)]
    pub(crate) secret_list: Vec<ListEntry>,
    #[serde(default)]
    pub(crate) next_token: Option<String>,
}

/// An AWS error answer: code (without namespace) and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AwsError {
    pub(crate) status: u16,
    pub(crate) code: String,
    pub(crate) message: String,
}

impl std::fmt::Display for AwsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.code.is_empty(), self.message.is_empty()) {
            (false, false) => write!(f, "{}: {}", self.code, self.message),
            (false, true) => write!(f, "{} (HTTP {})", self.code, self.status),
            (true, false) => write!(f, "HTTP {}: {}", self.status, self.message),
            (true, true) => write!(f, "HTTP {}", self.status),
        }
    }
}

/// What kind of failure an error code is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorKind {
    /// Throttling or a transient server error: retry with backoff.
    Retryable,
    /// The credentials are wrong, unknown or expired.
    Credentials,
    /// The credentials are fine but the IAM policy does not allow the call.
    AccessDenied,
    /// Anything else.
    Other,
}

impl AwsError {
    /// Parses an error answer (JSON, XML, or only a status and header).
    pub(crate) fn parse(response: &HttpResponse) -> AwsError {
        let mut code = String::new();
        let mut message = String::new();
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&response.body) {
            if let Some(t) = v.get("__type").and_then(|t| t.as_str()) {
                code = t.to_owned();
            } else if let Some(t) = v.get("code").and_then(|t| t.as_str()) {
                code = t.to_owned();
            }
            for field in ["message", "Message", "errorMessage"] {
                if let Some(m) = v.get(field).and_then(|m| m.as_str()) {
                    message = m.to_owned();
                    break;
                }
            }
        } else {
            let text = String::from_utf8_lossy(&response.body);
            if let Some(c) = xml_tag(&text, "Code") {
                code = c;
            }
            if let Some(m) = xml_tag(&text, "Message") {
                message = m;
            }
        }
        if code.is_empty() {
            if let Some(h) = response
                .headers
                .get("x-amzn-errortype")
                .and_then(|h| h.to_str().ok())
            {
                code = h.to_owned();
            }
        }
        // `com.amazonaws.secretsmanager#ResourceNotFoundException`, `Code:http://…`
        let code = code.rsplit('#').next().unwrap_or_default();
        let code = code.split(':').next().unwrap_or_default().trim().to_owned();
        if message.is_empty() && code.is_empty() {
            message = response.error_text();
        }
        AwsError {
            status: response.status,
            code,
            message,
        }
    }

    /// Classifies the error.
    pub(crate) fn kind(&self) -> ErrorKind {
        match self.code.as_str() {
            "ThrottlingException"
            | "Throttling"
            | "ThrottledException"
            | "TooManyRequestsException"
            | "RequestLimitExceeded"
            | "RequestThrottled"
            | "RequestThrottledException"
            | "ProvisionedThroughputExceededException"
            | "SlowDown"
            | "EC2ThrottledException"
            | "BandwidthLimitExceeded"
            | "PriorRequestNotComplete"
            | "InternalServiceError"
            | "InternalFailure"
            | "InternalError"
            | "ServiceUnavailable"
            | "RequestTimeout"
            | "RequestTimeoutException" => ErrorKind::Retryable,
            "UnrecognizedClientException"
            | "InvalidClientTokenId"
            | "SignatureDoesNotMatch"
            | "IncompleteSignature"
            | "MissingAuthenticationToken"
            | "InvalidSignatureException"
            | "ExpiredTokenException"
            | "ExpiredToken"
            | "RequestExpired"
            | "AuthFailure" => ErrorKind::Credentials,
            "AccessDeniedException" | "AccessDenied" => ErrorKind::AccessDenied,
            _ if self.status == 429 || (self.status >= 500 && self.status != 501) => {
                ErrorKind::Retryable
            }
            _ => ErrorKind::Other,
        }
    }

    /// `true` for codes that say the (temporary) credentials expired.
    pub(crate) fn is_expired(&self) -> bool {
        matches!(
            self.code.as_str(),
            "ExpiredTokenException" | "ExpiredToken" | "RequestExpired"
        )
    }
}

/// The text of the first `<tag>…</tag>` in `xml`, with the five predefined entities decoded.
pub(crate) fn xml_tag(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open)?.checked_add(open.len())?;
    let rest = xml.get(start..)?;
    let end = rest.find(&close)?;
    let raw = rest.get(..end)?.trim();
    Some(
        raw.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderMap;

    fn answer(status: u16, body: &str) -> HttpResponse {
        HttpResponse {
            status,
            headers: HeaderMap::new(),
            body: Zeroizing::new(body.as_bytes().to_vec()),
        }
    }

    #[test]
    fn json_errors() {
        let e = AwsError::parse(&answer(
            400,
            r#"{"__type":"com.amazonaws.secretsmanager#ResourceNotFoundException","message":"Secrets Manager can't find the specified secret."}"#,
        ));
        assert_eq!(e.code, "ResourceNotFoundException");
        assert_eq!(
            e.message,
            "Secrets Manager can't find the specified secret."
        );
        assert_eq!(e.kind(), ErrorKind::Other);
        let e = AwsError::parse(&answer(
            400,
            r#"{"__type":"ThrottlingException","Message":"Rate exceeded"}"#,
        ));
        assert_eq!(e.kind(), ErrorKind::Retryable);
        assert_eq!(e.to_string(), "ThrottlingException: Rate exceeded");
        let e = AwsError::parse(&answer(
            400,
            r#"{"__type":"UnrecognizedClientException","message":"The security token included in the request is invalid."}"#,
        ));
        assert_eq!(e.kind(), ErrorKind::Credentials);
    }

    #[test]
    fn xml_errors_and_header_fallback() {
        let e = AwsError::parse(&answer(
            403,
            "<?xml version=\"1.0\"?><ErrorResponse><Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match &amp; so on</Message></Error></ErrorResponse>",
        ));
        assert_eq!(e.code, "SignatureDoesNotMatch");
        assert_eq!(
            e.message,
            "The request signature we calculated does not match & so on"
        );
        assert_eq!(e.kind(), ErrorKind::Credentials);

        let mut r = answer(400, "");
        r.headers.insert(
            "x-amzn-errortype",
            http::HeaderValue::from_static("AccessDeniedException:http://internal.amazon.com/"),
        );
        let e = AwsError::parse(&r);
        assert_eq!(e.code, "AccessDeniedException");
        assert_eq!(e.kind(), ErrorKind::AccessDenied);

        let e = AwsError::parse(&answer(503, "<html>down</html>"));
        assert_eq!(e.kind(), ErrorKind::Retryable);
        assert_eq!(e.to_string(), "HTTP 503: <html>down</html>");
        assert_eq!(AwsError::parse(&answer(501, "")).kind(), ErrorKind::Other);
    }

    #[test]
    fn xml_tag_is_total() {
        assert_eq!(xml_tag("<a><B>x</B></a>", "B").as_deref(), Some("x"));
        assert_eq!(xml_tag("<B>x", "B"), None);
        assert_eq!(xml_tag("", "B"), None);
        assert_eq!(xml_tag("</B><B>", "B"), None);
    }
}
