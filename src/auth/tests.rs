use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use tower::{Layer, ServiceExt, service_fn};

use super::*;
use crate::principal::{AuthMethod, Principal};

type Body = Full<Bytes>;
type Headers<'a> = &'a [(&'static str, &'a str)];

/// What the inner service saw: the principal and whether any credential header reached it.
#[derive(Debug, Clone, Default)]
struct Seen {
    principal: Option<Principal>,
    credential_leaked: bool,
}

fn keys() -> ApiKeyStore {
    ApiKeyStore::new([
        ApiKey::new(
            "user-dev-token",
            Principal::new("devUser", AuthMethod::ApiKey).with_role("developer"),
        )
        .unwrap(),
        ApiKey::new(
            "user-guest-token",
            Principal::new("guestUser", AuthMethod::ApiKey).with_role("guest"),
        )
        .unwrap(),
    ])
    .unwrap()
}

fn metadata() -> ResourceMetadata {
    ResourceMetadata::new("http://127.0.0.1:3000/mcp")
        .unwrap()
        .with_authorization_server("http://127.0.0.1:9000")
        .unwrap()
        .with_scopes(["context:read"])
}

async fn run(
    layer: &AuthLayer,
    request: Request<Body>,
) -> (StatusCode, http::HeaderMap, Value, Seen) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let record = Arc::clone(&seen);
    let inner = service_fn(move |req: Request<Body>| {
        let mut seen = record.lock().unwrap();
        seen.principal = req.extensions().get::<Principal>().cloned();
        seen.credential_leaked = req.headers().contains_key(header::AUTHORIZATION)
            || req.headers().contains_key("x-api-key");
        async { Ok::<_, Infallible>(Response::new(Body::from("{\"ok\":true}"))) }
    });
    let response = layer.layer(inner).oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let seen = seen.lock().unwrap().clone();
    (parts.status, parts.headers, json, seen)
}

fn request(path: &str, headers: &[(&'static str, &str)]) -> Request<Body> {
    let mut builder = Request::get(path);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Body::default()).unwrap()
}

fn layer() -> AuthLayer {
    let endpoint = crate::mcp::Endpoint::builder()
        .resource_metadata(metadata())
        .build()
        .unwrap();
    AuthLayer::builder()
        .api_keys(keys())
        .endpoint(&endpoint)
        .build()
        .unwrap()
}

const CHALLENGE: &str = "Bearer resource_metadata=\"http://127.0.0.1:3000/.well-known/oauth-protected-resource/mcp\", scope=\"context:read\"";

#[tokio::test]
async fn missing_credentials_get_the_challenge() {
    let (status, headers, body, seen) = run(&layer(), request("/context/a", &[])).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers[header::WWW_AUTHENTICATE], CHALLENGE);
    assert_eq!(
        body,
        json!({"code": "UNAUTHORIZED", "message": "Authentication required."})
    );
    assert!(seen.principal.is_none(), "the inner service was not called");

    let (status, _, body, _) = run(&layer(), request("/mcp", &[])).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["jsonrpc"], "2.0");
    assert_eq!(body["error"]["data"]["code"], "UNAUTHORIZED");
}

#[tokio::test]
async fn api_keys_in_bearer_or_header_admit_and_are_stripped() {
    for headers in [
        [("authorization", "Bearer user-dev-token")],
        [("x-api-key", "user-dev-token")],
    ] {
        let (status, _, _, seen) = run(&layer(), request("/context/a", &headers)).await;
        assert_eq!(status, StatusCode::OK);
        let principal = seen.principal.unwrap();
        assert_eq!(principal.subject, "devUser");
        assert!(principal.has_role("developer"));
        assert!(!seen.credential_leaked, "credential forwarded: {headers:?}");
    }
}

#[tokio::test]
async fn bad_credentials_are_refused_with_reasons() {
    let cases: [(Headers<'_>, StatusCode, &str); 7] = [
        (
            &[("authorization", "Bearer user-dev-tokeN")],
            StatusCode::UNAUTHORIZED,
            "invalid_token",
        ),
        (
            &[("x-api-key", "user-dev-tokeN")],
            StatusCode::UNAUTHORIZED,
            "invalid_token",
        ),
        (
            &[("authorization", "Bearer ")],
            StatusCode::UNAUTHORIZED,
            "invalid_token",
        ),
        (
            &[("authorization", "Basic dXNlcjpwYXNz")],
            StatusCode::UNAUTHORIZED,
            "invalid_token",
        ),
        (
            &[
                ("authorization", "Bearer user-dev-token"),
                ("authorization", "Bearer user-guest-token"),
            ],
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            &[
                ("x-api-key", "user-dev-tokeN"),
                ("authorization", "Bearer user-dev-token"),
            ],
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            &[("authorization", "Bearer a.b.c")],
            StatusCode::UNAUTHORIZED,
            "invalid_token",
        ),
    ];
    for (headers, status, error) in cases {
        let (got, response_headers, body, seen) =
            run(&layer(), request("/context/a", headers)).await;
        assert_eq!(got, status, "{headers:?}");
        let challenge = response_headers[header::WWW_AUTHENTICATE].to_str().unwrap();
        assert!(
            challenge.starts_with(&format!("Bearer error=\"{error}\"")),
            "{challenge}"
        );
        assert!(challenge.contains("resource_metadata="), "{challenge}");
        assert!(
            !body.to_string().contains("user-dev-tok"),
            "credential echoed: {body}"
        );
        assert!(seen.principal.is_none());
    }
    let (status, headers, _, _) = run(
        &layer(),
        request("/context/a?access_token=user-dev-token", &[]),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        headers[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .contains("invalid_request")
    );
}

#[tokio::test]
async fn anonymous_access_when_enabled_never_for_bad_credentials() {
    let layer = AuthLayer::builder()
        .api_keys(keys())
        .allow_anonymous(true)
        .build()
        .unwrap();
    let (status, _, _, seen) = run(&layer, request("/context/a", &[])).await;
    assert_eq!(status, StatusCode::OK);
    let principal = seen.principal.unwrap();
    assert!(principal.is_anonymous() && principal.roles.is_empty());
    let (status, _, _, _) = run(
        &layer,
        request("/context/a", &[("authorization", "Bearer nope-nope-nope")]),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        AuthLayer::builder().build().is_err(),
        "a layer that admits nobody is a config error"
    );
}

#[tokio::test]
async fn metadata_is_served_without_authentication() {
    for path in [
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
    ] {
        let (status, headers, body, seen) = run(&layer(), request(path, &[])).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(headers[header::CONTENT_TYPE], "application/json");
        assert_eq!(body["resource"], "http://127.0.0.1:3000/mcp");
        assert_eq!(body["bearer_methods_supported"], json!(["header"]));
        assert!(seen.principal.is_none(), "answered by the layer");
    }
    let post = Request::post("/.well-known/oauth-protected-resource")
        .body(Body::default())
        .unwrap();
    assert_eq!(run(&layer(), post).await.0, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn pending_authenticators_resolve_later() {
    let slow = |credentials: &Credentials<'_>| -> Verdict {
        let Some(token) = credentials.bearer().map(str::to_owned) else {
            return Verdict::NotMine;
        };
        Verdict::Pending(Box::pin(async move {
            tokio::task::yield_now().await;
            if token == "slow-good" {
                Ok(Principal::new("slow", AuthMethod::Jwt))
            } else {
                Err(AuthError::invalid_token("rejected after lookup"))
            }
        }))
    };
    let layer = AuthLayer::builder().authenticator(slow).build().unwrap();
    let (status, _, _, seen) = run(
        &layer,
        request("/x", &[("authorization", "Bearer slow-good")]),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(seen.principal.unwrap().subject, "slow");
    assert!(!seen.credential_leaked);
    let (status, headers, _, _) = run(
        &layer,
        request("/x", &[("authorization", "Bearer slow-bad")]),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        headers[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .contains("rejected after lookup")
    );
}

#[test]
fn insufficient_scope_rejection() {
    let rejection = insufficient_scope(Some(&metadata()), ["context:read", "context:admin"]);
    assert_eq!(rejection.status(), StatusCode::FORBIDDEN);
    let response = rejection.into_response(crate::error::Dialect::Rest);
    assert_eq!(
        response.headers()[header::WWW_AUTHENTICATE],
        "Bearer error=\"insufficient_scope\", resource_metadata=\"http://127.0.0.1:3000/.well-known/oauth-protected-resource/mcp\", scope=\"context:read context:admin\""
    );
}

/// The challenge of a refusal and its status.
async fn refusal(layer: &AuthLayer, headers: Headers<'_>) -> (StatusCode, String) {
    let (status, response_headers, body, seen) = run(layer, request("/context/a", headers)).await;
    assert!(seen.principal.is_none(), "{headers:?} was let through");
    assert!(
        !body.to_string().contains("-token"),
        "credential echoed: {body}"
    );
    let challenge = response_headers
        .get(header::WWW_AUTHENTICATE)
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, challenge)
}

#[tokio::test]
async fn repeated_credential_headers_are_invalid_requests() {
    let unregistered = AuthLayer::builder().authenticator(keys()).build().unwrap();
    let custom = AuthLayer::builder()
        .api_keys(keys())
        .credential_header(http::HeaderName::from_static("x-session"))
        .authenticator(|_: &Credentials<'_>| Verdict::NotMine)
        .build()
        .unwrap();
    let cases: [(&AuthLayer, Headers<'_>); 5] = [
        (
            &layer(),
            &[
                ("x-api-key", "user-dev-token"),
                ("x-api-key", "user-dev-token"),
            ],
        ),
        (
            &layer(),
            &[
                ("x-api-key", "user-dev-token"),
                ("x-api-key", "user-guest-token"),
            ],
        ),
        (
            &layer(),
            &[
                ("x-api-key", "user-dev-tokeN"),
                ("x-api-key", "user-dev-token"),
            ],
        ),
        (
            &unregistered,
            &[
                ("x-api-key", "user-guest-token"),
                ("x-api-key", "user-dev-token"),
            ],
        ),
        (&custom, &[("x-session", "one"), ("x-session", "two")]),
    ];
    for (layer, headers) in cases {
        let (status, challenge) = refusal(layer, headers).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{headers:?}");
        assert!(
            challenge.starts_with("Bearer error=\"invalid_request\""),
            "{headers:?}: {challenge}"
        );
        assert!(challenge.contains("more than one"), "{challenge}");
    }
}

#[tokio::test]
async fn two_credentials_are_an_invalid_request() {
    let cases: [Headers<'_>; 4] = [
        &[
            ("authorization", "Bearer user-dev-token"),
            ("x-api-key", "user-guest-token"),
        ],
        &[
            ("authorization", "Bearer user-dev-token"),
            ("x-api-key", "user-dev-token"),
        ],
        &[
            ("x-api-key", "user-dev-token"),
            ("authorization", "Basic dXNlcjpwYXNz"),
        ],
        &[
            ("x-api-key", "user-dev-token"),
            ("authorization", "Bearer user-guest-tokeN"),
        ],
    ];
    for headers in cases {
        let (status, challenge) = refusal(&layer(), headers).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{headers:?}");
        assert!(
            challenge.starts_with("Bearer error=\"invalid_request\""),
            "{challenge}"
        );
        assert!(
            challenge.contains("more than one credential"),
            "{challenge}"
        );
    }
}

/// Accepts every request carrying `x-authenticated-user` (a proxy's header).
fn from_proxy(credentials: &Credentials<'_>) -> Verdict {
    match credentials.header("x-authenticated-user") {
        Some(_) => Verdict::Accept(Principal::new("proxied", AuthMethod::ApiKey)),
        None => Verdict::NotMine,
    }
}

/// Refuses one revoked key, whoever else accepts it.
fn revoked(credentials: &Credentials<'_>) -> Verdict {
    match credentials.bearer() {
        Some("user-dev-token") => Verdict::Reject(AuthError::invalid_token("revoked")),
        _ => Verdict::NotMine,
    }
}

#[tokio::test]
async fn an_invalid_credential_is_refused_whatever_the_order() {
    for layer in [
        AuthLayer::builder()
            .authenticator(revoked)
            .api_keys(keys())
            .build()
            .unwrap(),
        AuthLayer::builder()
            .api_keys(keys())
            .authenticator(revoked)
            .build()
            .unwrap(),
    ] {
        let (status, challenge) =
            refusal(&layer, &[("authorization", "Bearer user-dev-token")]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(
            challenge.starts_with("Bearer error=\"invalid_token\", error_description=\"revoked"),
            "{challenge}"
        );
        let (status, _, _, seen) = run(
            &layer,
            request(
                "/context/a",
                &[("authorization", "Bearer user-guest-token")],
            ),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(seen.principal.unwrap().subject, "guestUser");
    }
}

#[tokio::test]
async fn custom_credential_headers_count_as_credentials() {
    let proxy = |first: bool| {
        let builder = AuthLayer::builder()
            .credential_header(http::HeaderName::from_static("x-authenticated-user"));
        let builder = if first {
            builder.authenticator(from_proxy).api_keys(keys())
        } else {
            builder.api_keys(keys()).authenticator(from_proxy)
        };
        builder.build().unwrap()
    };
    for layer in [proxy(true), proxy(false)] {
        for headers in [
            &[
                ("x-authenticated-user", "alice"),
                ("authorization", "Bearer garbage-garbage"),
            ][..],
            &[
                ("x-authenticated-user", "alice"),
                ("authorization", "Bearer user-dev-token"),
            ],
            &[
                ("x-authenticated-user", "alice"),
                ("x-api-key", "user-dev-tokeN"),
            ],
        ] {
            let (status, challenge) = refusal(&layer, headers).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{headers:?}");
            assert!(
                challenge.contains("more than one credential"),
                "{challenge}"
            );
        }
        let (status, _, _, seen) = run(
            &layer,
            request("/context/a", &[("x-authenticated-user", "alice")]),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(seen.principal.unwrap().subject, "proxied");
    }
    // Two authenticators accepting one request are two credentials, even when the layer
    // does not know the header of one of them.
    let unregistered = AuthLayer::builder()
        .authenticator(from_proxy)
        .authenticator(keys())
        .build()
        .unwrap();
    let (status, challenge) = refusal(
        &unregistered,
        &[
            ("x-authenticated-user", "alice"),
            ("x-api-key", "user-dev-token"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        challenge.contains("more than one credential"),
        "{challenge}"
    );
    // A store the layer was not told about (`authenticator`, not `api_keys`) cannot count
    // its header, but still never lets a garbage token in next to a valid key (401), nor
    // takes two keys (refused; 400 needs `api_keys`, which registers the header).
    let store_only = AuthLayer::builder().authenticator(keys()).build().unwrap();
    let garbage = [
        ("x-api-key", "user-dev-token"),
        ("authorization", "Bearer garbage-garbage"),
    ];
    assert_eq!(
        refusal(&store_only, &garbage).await.0,
        StatusCode::UNAUTHORIZED
    );
    let two_keys = [
        ("x-api-key", "user-dev-token"),
        ("authorization", "Bearer user-guest-token"),
    ];
    assert!(refusal(&store_only, &two_keys).await.0.is_client_error());
}

#[tokio::test]
async fn a_pending_refusal_beats_an_acceptance() {
    let slow_no = |credentials: &Credentials<'_>| -> Verdict {
        if credentials.bearer().is_none() {
            return Verdict::NotMine;
        }
        Verdict::Pending(Box::pin(async {
            tokio::task::yield_now().await;
            Err(AuthError::invalid_token("rejected after lookup"))
        }))
    };
    for layer in [
        AuthLayer::builder()
            .authenticator(slow_no)
            .api_keys(keys())
            .build()
            .unwrap(),
        AuthLayer::builder()
            .api_keys(keys())
            .authenticator(slow_no)
            .build()
            .unwrap(),
    ] {
        let (status, challenge) =
            refusal(&layer, &[("authorization", "Bearer user-dev-token")]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(challenge.contains("rejected after lookup"), "{challenge}");
    }
}

#[cfg(feature = "tls")]
mod certificates {
    use super::*;
    use crate::tls::PeerCertificate;

    const SPIFFE_ID: &str = "spiffe://example.org/ns/prod/sa/indexer";

    fn certificate(uri: &str) -> PeerCertificate {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .subject_alt_names
            .push(rcgen::SanType::URI(uri.try_into().unwrap()));
        PeerCertificate::from_der(params.self_signed(&key).unwrap().der()).unwrap()
    }

    fn with_certificate(uri: &str, headers: Headers<'_>) -> Request<Body> {
        let mut request = request("/context/a", headers);
        request.extensions_mut().insert(certificate(uri));
        request
    }

    fn layers() -> [AuthLayer; 2] {
        let certificates = || {
            CertificateAuthenticator::new().map(
                CertMatch::UriPrefix("spiffe://example.org/ns/prod".into()),
                Principal::new("indexer", AuthMethod::MutualTls),
            )
        };
        [
            AuthLayer::builder()
                .authenticator(certificates())
                .api_keys(keys())
                .build()
                .unwrap(),
            AuthLayer::builder()
                .api_keys(keys())
                .authenticator(certificates())
                .build()
                .unwrap(),
        ]
    }

    #[tokio::test]
    async fn a_certificate_never_carries_an_invalid_token() {
        for layer in &layers() {
            let (status, _, _, seen) = run(layer, with_certificate(SPIFFE_ID, &[])).await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(seen.principal.unwrap().subject, "indexer");

            for headers in [
                &[("authorization", "Bearer garbage-garbage")][..],
                &[("authorization", "Bearer user-dev-tokeN")],
                &[("authorization", "Basic dXNlcjpwYXNz")],
                &[("x-api-key", "user-dev-tokeN")],
            ] {
                let (status, headers_out, _, seen) =
                    run(layer, with_certificate(SPIFFE_ID, headers)).await;
                assert_eq!(status, StatusCode::UNAUTHORIZED, "{headers:?}");
                assert!(seen.principal.is_none());
                let challenge = headers_out[header::WWW_AUTHENTICATE].to_str().unwrap();
                assert!(
                    challenge.starts_with("Bearer error=\"invalid_token\""),
                    "{challenge}"
                );
            }

            // A valid certificate and a valid key: two identities, refused.
            for headers in [
                &[("authorization", "Bearer user-dev-token")][..],
                &[("x-api-key", "user-dev-token")],
            ] {
                let (status, headers_out, _, seen) =
                    run(layer, with_certificate(SPIFFE_ID, headers)).await;
                assert_eq!(status, StatusCode::BAD_REQUEST, "{headers:?}");
                assert!(seen.principal.is_none());
                let challenge = headers_out[header::WWW_AUTHENTICATE].to_str().unwrap();
                assert!(
                    challenge.contains("more than one credential"),
                    "{challenge}"
                );
            }

            // An unmapped certificate is invalid, whatever comes with it.
            let (status, _, _, _) = run(
                layer,
                with_certificate(
                    "spiffe://example.org/ns/prod-evil/sa/x",
                    &[("authorization", "Bearer user-dev-token")],
                ),
            )
            .await;
            assert_eq!(status, StatusCode::UNAUTHORIZED);
        }
    }
}
