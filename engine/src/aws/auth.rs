//! SigV4 request authentication for the HTTP APIs.
//!
//! With no credentials configured, any signature (or none) is accepted, as AWS emulators
//! do: SDKs always sign, and eddy has no accounts. With `aws_access_key_id` and
//! `aws_secret_access_key` configured, every request must carry an `Authorization:
//! AWS4-HMAC-SHA256 …` header signed with that key, dated within 15 minutes; anything
//! else is refused with the error AWS returns (MissingAuthenticationTokenException,
//! IncompleteSignatureException, UnrecognizedClientException, InvalidSignatureException),
//! HTTP 403. Presigned URLs (signatures in the query string) are not supported.
//!
//! The canonical request is built from the request exactly as sent: the raw path
//! URI-encoded once more (as every AWS service but S3 does), the raw query pairs sorted,
//! the signed headers, and the SHA-256 of the body.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::kinesis::error::{ErrorType, KinesisError};
use super::kinesis::protocol::Protocol;
use super::{AwsApi, MAX_BODY_BYTES};
use crate::config::AwsCredentials;

/// Requests dated further than this from the server's clock are refused, as in AWS.
const MAX_CLOCK_SKEW_SECS: i64 = 15 * 60;
const ALGORITHM: &str = "AWS4-HMAC-SHA256";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthError {
    pub error_type: ErrorType,
    pub message: String,
}

impl AuthError {
    fn new(error_type: ErrorType, message: impl Into<String>) -> Self {
        Self {
            error_type,
            message: message.into(),
        }
    }
}

pub async fn check_signature(
    State(api): State<Arc<AwsApi>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(credentials) = &api.credentials else {
        return next.run(request).await;
    };
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(body) => body,
        Err(err) => {
            return (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body unreadable or over {MAX_BODY_BYTES} bytes: {err}"),
            )
                .into_response()
        }
    };
    let now = chrono::Utc::now().timestamp();
    match verify(credentials, &parts, &body, now) {
        Ok(()) => next.run(Request::from_parts(parts, Body::from(body))).await,
        Err(err) => refuse(&parts, err),
    }
}

/// The error in the shape of the API the request was for: Kinesis (`POST /`) or Lambda.
fn refuse(parts: &Parts, err: AuthError) -> Response {
    if parts.uri.path() == "/" {
        return KinesisError::new(err.error_type, err.message)
            .into_response(Protocol::of(&parts.headers));
    }
    let body = serde_json::json!({ "Type": "User", "message": err.message }).to_string();
    let mut response = (StatusCode::FORBIDDEN, body).into_response();
    response.headers_mut().insert(
        "x-amzn-errortype",
        HeaderValue::from_static(err.error_type.name()),
    );
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    response
}

/// The parts of an `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…,
/// Signature=…` header.
struct Authorization<'a> {
    access_key_id: &'a str,
    /// `date/region/service/aws4_request`
    scope: &'a str,
    date: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

fn parse_authorization(header: &str) -> Result<Authorization<'_>, AuthError> {
    let incomplete = |what: &str| {
        AuthError::new(
            ErrorType::IncompleteSignature,
            format!("Authorization header {what}"),
        )
    };
    let rest = header
        .strip_prefix(ALGORITHM)
        .ok_or_else(|| incomplete("must use AWS4-HMAC-SHA256"))?;
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (key, value) = part
            .trim()
            .split_once('=')
            .ok_or_else(|| incomplete("is malformed"))?;
        match key {
            "Credential" => credential = Some(value),
            "SignedHeaders" => signed_headers = Some(value),
            "Signature" => signature = Some(value),
            _ => {}
        }
    }
    let credential = credential.ok_or_else(|| incomplete("lacks Credential"))?;
    let signed_headers = signed_headers.ok_or_else(|| incomplete("lacks SignedHeaders"))?;
    let signature = signature.ok_or_else(|| incomplete("lacks Signature"))?;
    let (access_key_id, scope) = credential
        .split_once('/')
        .ok_or_else(|| incomplete("has a malformed Credential"))?;
    let scope_parts: Vec<&str> = scope.split('/').collect();
    if scope_parts.len() != 4 || scope_parts[3] != "aws4_request" {
        return Err(incomplete(
            "Credential scope must be date/region/service/aws4_request",
        ));
    }
    Ok(Authorization {
        access_key_id,
        scope,
        date: scope_parts[0],
        signed_headers: signed_headers.split(';').collect(),
        signature,
    })
}

pub fn verify(
    credentials: &AwsCredentials,
    parts: &Parts,
    body: &[u8],
    now_secs: i64,
) -> Result<(), AuthError> {
    let header = parts
        .headers
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .ok_or_else(|| {
            AuthError::new(
                ErrorType::MissingAuthenticationToken,
                "Missing Authentication Token: requests must be signed with SigV4",
            )
        })?;
    let auth = parse_authorization(header)?;
    if auth.access_key_id != credentials.access_key_id {
        return Err(AuthError::new(
            ErrorType::UnrecognizedClient,
            "The security token included in the request is invalid: unknown access key id",
        ));
    }
    let amz_date = header_text(parts, "x-amz-date").ok_or_else(|| {
        AuthError::new(
            ErrorType::IncompleteSignature,
            "the request must carry an X-Amz-Date header",
        )
    })?;
    let signed_at = chrono::NaiveDateTime::parse_from_str(&amz_date, "%Y%m%dT%H%M%SZ")
        .map_err(|_| {
            AuthError::new(
                ErrorType::IncompleteSignature,
                format!("X-Amz-Date {amz_date:?} is not of the form 20150830T123600Z"),
            )
        })?
        .and_utc()
        .timestamp();
    if (now_secs - signed_at).abs() > MAX_CLOCK_SKEW_SECS {
        return Err(AuthError::new(
            ErrorType::InvalidSignature,
            format!("Signature expired: {amz_date} is more than 15 minutes from the server's time"),
        ));
    }
    if !amz_date.starts_with(auth.date) {
        return Err(AuthError::new(
            ErrorType::InvalidSignature,
            "the Credential scope date does not match X-Amz-Date",
        ));
    }
    let canonical = canonical_request(parts, &auth.signed_headers, body);
    let string_to_sign = format!(
        "{ALGORITHM}\n{amz_date}\n{}\n{}",
        auth.scope,
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let scope: Vec<&str> = auth.scope.split('/').collect();
    let mut key = hmac(
        format!("AWS4{}", credentials.secret_access_key).as_bytes(),
        scope[0].as_bytes(),
    );
    for part in &scope[1..] {
        key = hmac(&key, part.as_bytes());
    }
    let expected = hex(&hmac(&key, string_to_sign.as_bytes()));
    if !constant_time_eq(expected.as_bytes(), auth.signature.as_bytes()) {
        return Err(AuthError::new(
            ErrorType::InvalidSignature,
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.",
        ));
    }
    Ok(())
}

fn header_text(parts: &Parts, name: &str) -> Option<String> {
    let values: Vec<&str> = parts
        .headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .collect();
    if values.is_empty() {
        return None;
    }
    Some(
        values
            .iter()
            .map(|value| value.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>()
            .join(","),
    )
}

fn canonical_request(parts: &Parts, signed_headers: &[&str], body: &[u8]) -> String {
    let path = uri_encode(parts.uri.path(), false);
    let mut pairs: Vec<(&str, &str)> = parts
        .uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
        .collect();
    pairs.sort();
    let query = pairs
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect::<Vec<_>>()
        .join("&");
    let mut headers = String::new();
    for name in signed_headers {
        let value = if *name == "host" {
            header_text(parts, "host")
                .or_else(|| parts.uri.authority().map(|a| a.to_string()))
                .unwrap_or_default()
        } else {
            header_text(parts, name).unwrap_or_default()
        };
        headers.push_str(&format!("{name}:{value}\n"));
    }
    let payload_hash = match header_text(parts, "x-amz-content-sha256") {
        Some(hash) => hash,
        None => hex(&Sha256::digest(body)),
    };
    format!(
        "{}\n{path}\n{query}\n{headers}\n{}\n{payload_hash}",
        parts.method.as_str(),
        signed_headers.join(";")
    )
}

/// RFC 3986 encoding as SigV4 wants it: unreserved characters stay, everything else
/// (including `%`, so an already-encoded path is encoded again) becomes `%XX`.
fn uri_encode(text: &str, encode_slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        let keep = byte.is_ascii_alphanumeric()
            || matches!(byte, b'-' | b'_' | b'.' | b'~')
            || (byte == b'/' && !encode_slash);
        if keep {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("hmac takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credentials() -> AwsCredentials {
        AwsCredentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
        }
    }

    fn request(signature: &str) -> Parts {
        let (parts, _) = axum::http::Request::builder()
            .method("GET")
            .uri("/")
            .header("host", "example.amazonaws.com")
            .header("x-amz-date", "20150830T123600Z")
            .header(
                "authorization",
                format!("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature={signature}"),
            )
            .body(())
            .unwrap()
            .into_parts();
        parts
    }

    /// AWS's SigV4 test suite, case `get-vanilla`.
    const VANILLA_SIGNATURE: &str =
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";
    const VANILLA_TIME: i64 = 1_440_938_160; // 2015-08-30T12:36:00Z

    #[test]
    fn accepts_the_aws_test_suite_vanilla_request() {
        assert_eq!(
            verify(
                &credentials(),
                &request(VANILLA_SIGNATURE),
                b"",
                VANILLA_TIME
            ),
            Ok(())
        );
    }

    #[test]
    fn refuses_wrong_signatures_keys_and_times() {
        let mut wrong = VANILLA_SIGNATURE.to_string();
        wrong.replace_range(0..1, "6");
        let err = verify(&credentials(), &request(&wrong), b"", VANILLA_TIME).unwrap_err();
        assert_eq!(err.error_type, ErrorType::InvalidSignature);
        let other_key = AwsCredentials {
            access_key_id: "AKIDOTHER".into(),
            ..credentials()
        };
        let err = verify(&other_key, &request(VANILLA_SIGNATURE), b"", VANILLA_TIME).unwrap_err();
        assert_eq!(err.error_type, ErrorType::UnrecognizedClient);
        let err = verify(
            &credentials(),
            &request(VANILLA_SIGNATURE),
            b"",
            VANILLA_TIME + 3600,
        )
        .unwrap_err();
        assert_eq!(err.error_type, ErrorType::InvalidSignature);
        assert!(err.message.contains("expired"), "{}", err.message);
        let (mut unsigned, _) = axum::http::Request::builder()
            .uri("/")
            .body(())
            .unwrap()
            .into_parts();
        unsigned.headers.remove("authorization");
        let err = verify(&credentials(), &unsigned, b"", VANILLA_TIME).unwrap_err();
        assert_eq!(err.error_type, ErrorType::MissingAuthenticationToken);
        let mut garbled = request(VANILLA_SIGNATURE);
        garbled.headers.insert(
            "authorization",
            HeaderValue::from_static("AWS4-HMAC-SHA256 nonsense"),
        );
        let err = verify(&credentials(), &garbled, b"", VANILLA_TIME).unwrap_err();
        assert_eq!(err.error_type, ErrorType::IncompleteSignature);
    }

    #[test]
    fn paths_are_encoded_again() {
        assert_eq!(uri_encode("/a b/arn%3Ax", false), "/a%20b/arn%253Ax");
    }
}
