//! No credential reaches the logs: requests with valid and invalid API keys and JWTs go
//! through the recommended stack with request-header tracing on, every log line is
//! captured at TRACE level, and none contains a token or key.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, header};
use http_body_util::{BodyExt, Full};
use mcp_bastion::auth::AuthLayer;
use mcp_bastion::envelope::ErrorEnvelopeLayer;
use mcp_bastion::mcp::McpService;
use tower::{ServiceBuilder, ServiceExt};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::trace::{DefaultMakeSpan, DefaultOnRequest, TraceLayer};
use tracing::Level;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(feature = "jwt")]
fn jwt_layer() -> (AuthLayer, String, String) {
    use jsonwebtoken::{EncodingKey, Header, encode};
    use mcp_bastion::auth::{Algorithm, JwtAuthenticator, JwtKey};
    let secret = b"logging-test-secret-with-32-bytes!!";
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = |exp: u64| serde_json::json!({"sub": "alice", "iss": "i", "aud": "a", "exp": exp});
    let key = EncodingKey::from_secret(secret);
    let valid = encode(&Header::new(Algorithm::HS256), &claims(now + 600), &key).unwrap();
    let expired = encode(&Header::new(Algorithm::HS256), &claims(now - 600), &key).unwrap();
    let jwt = JwtAuthenticator::builder()
        .key(JwtKey::hmac(secret, &[Algorithm::HS256]).unwrap())
        .issuer("i")
        .audience("a")
        .build()
        .unwrap();
    let layer = AuthLayer::builder()
        .api_keys(common::seed_keys())
        .authenticator(jwt)
        .build()
        .unwrap();
    (layer, valid, expired)
}

#[cfg(not(feature = "jwt"))]
fn jwt_layer() -> (AuthLayer, String, String) {
    let layer = AuthLayer::builder()
        .api_keys(common::seed_keys())
        .build()
        .unwrap();
    (layer, "no.jwt.here".into(), "no.jwt.either".into())
}

#[tokio::test]
async fn no_token_or_key_is_ever_logged() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(Level::TRACE)
        .with_current_span(true)
        .with_span_list(true)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    no_credential_in(&captured).await;
}

/// The same with the crate's own JSON-lines format (the demo's).
#[tokio::test]
async fn no_token_or_key_is_ever_logged_in_json_lines() {
    use mcp_bastion::observe::JsonLines;
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .fmt_fields(JsonLines)
        .event_format(JsonLines)
        .with_max_level(Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    no_credential_in(&captured).await;
}

/// Sends valid and invalid credentials through the stack and checks what was logged.
async fn no_credential_in(captured: &Captured) {
    let (auth, valid_jwt, expired_jwt) = jwt_layer();
    let stack = ServiceBuilder::new()
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
            header::HeaderName::from_static("x-api-key"),
        ]))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(
                    DefaultMakeSpan::new()
                        .level(Level::INFO)
                        .include_headers(true),
                )
                .on_request(DefaultOnRequest::new().level(Level::INFO)),
        )
        .layer(ErrorEnvelopeLayer::new())
        .layer(auth)
        .layer(
            TraceLayer::new_for_http().make_span_with(
                DefaultMakeSpan::new()
                    .level(Level::INFO)
                    .include_headers(true),
            ),
        )
        .service(McpService::new(common::seed_source()));

    let secrets = [
        "user-dev-token",
        "user-guest-token",
        "user-dev-tokeN",
        "wrong-key-of-some-length",
        valid_jwt.as_str(),
        expired_jwt.as_str(),
    ];
    let requests: Vec<(&str, String)> = vec![
        ("authorization", "Bearer user-dev-token".into()),
        ("x-api-key", "user-guest-token".into()),
        ("authorization", "Bearer user-dev-tokeN".into()),
        ("x-api-key", "wrong-key-of-some-length".into()),
        ("authorization", format!("Bearer {valid_jwt}")),
        ("authorization", format!("Bearer {expired_jwt}")),
    ];
    let mut statuses = Vec::new();
    for (name, value) in requests {
        let request = Request::get("/context/public-docs/getting-started")
            .header(name, value)
            .body(Full::<Bytes>::default())
            .unwrap();
        let response = stack.clone().oneshot(request).await.unwrap();
        statuses.push(response.status().as_u16());
        let _ = response.into_body().collect().await;
    }
    let expected_valid_jwt = if cfg!(feature = "jwt") { 200 } else { 401 };
    assert_eq!(statuses, [200, 200, 401, 401, expected_valid_jwt, 401]);

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.lines().count() >= 6,
        "expected request logs, got:\n{logs}"
    );
    assert!(
        logs.contains("Sensitive") || logs.contains("sensitive"),
        "headers were traced:\n{logs}"
    );
    for secret in secrets {
        // The signature part is enough to identify a JWT; check the longest distinctive piece.
        let needle = secret.rsplit('.').next().unwrap_or(secret);
        assert!(
            !logs.contains(needle),
            "secret {needle:?} leaked into the logs:\n{logs}"
        );
    }
}
