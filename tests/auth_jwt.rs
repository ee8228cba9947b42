//! JWT authentication through `AuthLayer`: every algorithm family, every bad-token case the
//! issue lists, JWKS (inline and over HTTP with fetch counting), and the verified-token cache.
#![cfg(feature = "jwt")]

use std::convert::Infallible;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use jsonwebtoken::{EncodingKey, Header, encode};
use mcp_bastion::auth::{
    Algorithm, AuthLayer, ClaimMapping, JwksSource, JwtAuthenticator, JwtKey, ResourceMetadata,
};
use mcp_bastion::principal::Principal;
use serde_json::{Value, json};
use tower::{Layer, ServiceExt, service_fn};

const ISSUER: &str = "mcp-bastion-dev";
const AUDIENCE: &str = "http://127.0.0.1:3000/mcp";
const SECRET: &[u8] = b"test-hmac-secret-that-is-long-enough-for-hs512!";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/jwt/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn claims() -> Value {
    json!({"sub": "alice", "iss": ISSUER, "aud": AUDIENCE, "exp": now() + 600,
           "roles": ["developer"], "scope": "context:read context:list"})
}

fn sign(alg: Algorithm, kid: Option<&str>, claims: &Value) -> String {
    let key = match alg {
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => EncodingKey::from_secret(SECRET),
        Algorithm::RS256
        | Algorithm::RS384
        | Algorithm::RS512
        | Algorithm::PS256
        | Algorithm::PS384
        | Algorithm::PS512 => EncodingKey::from_rsa_pem(&fixture("rsa_private.pem")).unwrap(),
        Algorithm::ES256 => EncodingKey::from_ec_pem(&fixture("ec256_private_pk8.pem")).unwrap(),
        Algorithm::ES384 => EncodingKey::from_ec_pem(&fixture("ec384_private_pk8.pem")).unwrap(),
        Algorithm::EdDSA => EncodingKey::from_ed_pem(&fixture("ed25519_private.pem")).unwrap(),
        other => panic!("no test key for {other:?}"),
    };
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    encode(&header, claims, &key).unwrap()
}

fn all_keys() -> JwtAuthenticator {
    JwtAuthenticator::builder()
        .key(
            JwtKey::hmac(
                SECRET,
                &[Algorithm::HS256, Algorithm::HS384, Algorithm::HS512],
            )
            .unwrap(),
        )
        .key(
            JwtKey::rsa_pem(
                &fixture("rsa_public.pem"),
                &[
                    Algorithm::RS256,
                    Algorithm::RS384,
                    Algorithm::RS512,
                    Algorithm::PS256,
                    Algorithm::PS384,
                    Algorithm::PS512,
                ],
            )
            .unwrap(),
        )
        .key(JwtKey::ec_pem(&fixture("ec256_public.pem"), &[Algorithm::ES256]).unwrap())
        .key(JwtKey::ec_pem(&fixture("ec384_public.pem"), &[Algorithm::ES384]).unwrap())
        .key(JwtKey::ed_pem(&fixture("ed25519_public.pem")).unwrap())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .leeway(Duration::from_secs(5))
        .claims(ClaimMapping::default().attributes(["department"]))
        .build()
        .unwrap()
}

fn layer(jwt: JwtAuthenticator) -> AuthLayer {
    let endpoint = mcp_bastion::mcp::Endpoint::builder()
        .resource_metadata(
            ResourceMetadata::new(AUDIENCE)
                .unwrap()
                .with_scopes(["context:read"]),
        )
        .build()
        .unwrap();
    AuthLayer::builder()
        .authenticator(jwt)
        .endpoint(&endpoint)
        .build()
        .unwrap()
}

async fn call(layer: &AuthLayer, authorization: &str) -> (StatusCode, String, Option<Principal>) {
    let inner = service_fn(|req: Request<Full<Bytes>>| async move {
        let principal = req.extensions().get::<Principal>().cloned();
        let body = serde_json::to_vec(&principal.map(|p| json!({"sub": p.subject, "roles": p.roles, "scopes": p.scopes, "attrs": p.attributes}))).unwrap();
        Ok::<_, Infallible>(Response::new(Full::from(body)))
    });
    let request = Request::get("/context/x")
        .header(header::AUTHORIZATION, authorization)
        .body(Full::default())
        .unwrap();
    let response = layer.layer(inner).oneshot(request).await.unwrap();
    let status = response.status();
    let challenge = response
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body: Value =
        serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes())
            .unwrap_or(Value::Null);
    let principal = body.get("sub").and_then(Value::as_str).map(|sub| {
        let mut p = Principal::new(sub, mcp_bastion::principal::AuthMethod::Jwt);
        for role in body["roles"].as_array().unwrap() {
            p = p.with_role(role.as_str().unwrap());
        }
        for scope in body["scopes"].as_array().unwrap() {
            p = p.with_scope(scope.as_str().unwrap());
        }
        p
    });
    (status, challenge, principal)
}

#[tokio::test]
async fn every_algorithm_family_verifies() {
    let layer = layer(all_keys());
    for alg in [
        Algorithm::HS256,
        Algorithm::HS384,
        Algorithm::HS512,
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ] {
        let (status, challenge, principal) =
            call(&layer, &format!("Bearer {}", sign(alg, None, &claims()))).await;
        assert_eq!(status, StatusCode::OK, "{alg:?}: {challenge}");
        let principal = principal.unwrap();
        assert_eq!(principal.subject, "alice");
        assert!(principal.has_role("developer"));
        assert!(principal.has_scope("context:read") && principal.has_scope("context:list"));
    }
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

#[tokio::test]
async fn bad_tokens_get_401_with_the_challenge() {
    let layer = layer(all_keys());
    let valid = sign(Algorithm::HS256, None, &claims());
    let (head, rest) = valid.split_once('.').unwrap();
    let (payload, signature) = rest.split_once('.').unwrap();
    // Change the first character: the last one of a 32-byte signature carries padding bits,
    // and some replacements of it are not canonical base64 (a different error, 1 run in 16).
    let first = signature.chars().next().unwrap();
    let tampered_signature = format!(
        "{}{}",
        if first == 'A' { 'B' } else { 'A' },
        &signature[1..]
    );

    // RS256 -> HS256 confusion: an HMAC token keyed with the RSA public key's bytes.
    let confused = encode(
        &Header::new(Algorithm::HS256),
        &claims(),
        &EncodingKey::from_secret(&fixture("rsa_public.pem")),
    )
    .unwrap();
    let rsa_only = layer_rsa_only();

    let with = |patch: Value| {
        let mut c = claims();
        for (k, v) in patch.as_object().unwrap() {
            c[k] = v.clone();
        }
        sign(Algorithm::HS256, None, &c)
    };
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "alg none",
            format!(
                "{}.{}.",
                b64(&json!({"alg":"none","typ":"JWT"})),
                b64(&claims())
            ),
            "malformed",
        ),
        ("expired", with(json!({"exp": now() - 120})), "expired"),
        (
            "nbf in the future",
            with(json!({"nbf": now() + 600})),
            "nbf",
        ),
        ("wrong iss", with(json!({"iss": "someone-else"})), "issuer"),
        (
            "wrong aud",
            with(json!({"aud": "http://other.example/mcp"})),
            "aud",
        ),
        (
            "no exp",
            sign(
                Algorithm::HS256,
                None,
                &json!({"sub":"a","iss":ISSUER,"aud":AUDIENCE}),
            ),
            "exp",
        ),
        (
            "tampered signature",
            format!("{head}.{payload}.{tampered_signature}"),
            "signature",
        ),
        (
            "tampered payload",
            format!(
                "{head}.{}.{signature}",
                b64(&json!({"sub":"mallory","iss":ISSUER,"aud":AUDIENCE,"exp":now()+600}))
            ),
            "signature",
        ),
        (
            "bad base64 header",
            format!("!!!.{payload}.{signature}"),
            "",
        ),
        (
            "header not JSON",
            format!(
                "{}.{payload}.{signature}",
                URL_SAFE_NO_PAD.encode(b"not json")
            ),
            // Not a JWT at all, so no authenticator recognises it.
            "not recognised",
        ),
        (
            "payload not JSON",
            format!("{head}.{}.{signature}", URL_SAFE_NO_PAD.encode(b"[")),
            "",
        ),
        (
            "unknown kid",
            sign(Algorithm::ES256, Some("nobody"), &claims()),
            "",
        ),
    ];
    for (name, token, reason) in cases {
        let (status, challenge, principal) = call(&layer, &format!("Bearer {token}")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}");
        assert!(
            challenge.starts_with("Bearer error=\"invalid_token\""),
            "{name}: {challenge}"
        );
        assert!(challenge.contains("resource_metadata=\"http://127.0.0.1:3000/.well-known/oauth-protected-resource/mcp\""), "{name}: {challenge}");
        assert!(challenge.contains(reason), "{name}: {challenge}");
        assert!(
            !challenge.contains(&token[..token.len().min(20)]) || token.len() < 20,
            "{name}: token echoed"
        );
        assert!(principal.is_none(), "{name}");
    }
    let (status, _, _) = call(&rsa_only, &format!("Bearer {confused}")).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "RS256 -> HS256 confusion must fail"
    );
}

#[tokio::test]
async fn huge_times_in_signed_tokens_never_panic() {
    let layer = layer(all_keys());
    let with = |patch: Value| {
        let mut c = claims();
        for (k, v) in patch.as_object().unwrap() {
            c[k] = v.clone();
        }
        sign(Algorithm::HS256, None, &c)
    };
    // 9999-12-31T23:59:59Z: the last expiry accepted, twice (the second from the cache).
    let last = with(json!({"exp": 253_402_300_799u64}));
    for _ in 0..2 {
        let (status, challenge, _) = call(&layer, &format!("Bearer {last}")).await;
        assert_eq!(status, StatusCode::OK, "{challenge}");
    }
    for exp in [
        json!(u64::MAX),
        json!(i64::MAX),
        json!(1_000_000_000_000_000_000u64),
        json!(1e18),
        json!(253_402_300_800u64),
    ] {
        let token = with(json!({ "exp": exp }));
        let (status, challenge, principal) = call(&layer, &format!("Bearer {token}")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "exp {exp}");
        assert!(challenge.contains("exp is out of range"), "{challenge}");
        assert!(principal.is_none());
    }
    // nbf far in the future is simply not yet valid; iat is not read.
    let token = with(json!({"nbf": u64::MAX}));
    let (status, challenge, _) = call(&layer, &format!("Bearer {token}")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge.contains("nbf"), "{challenge}");
    let token = with(json!({"iat": u64::MAX}));
    assert_eq!(
        call(&layer, &format!("Bearer {token}")).await.0,
        StatusCode::OK
    );
}

fn layer_rsa_only() -> AuthLayer {
    layer(
        JwtAuthenticator::builder()
            .key(JwtKey::rsa_pem(&fixture("rsa_public.pem"), &[Algorithm::RS256]).unwrap())
            .issuer(ISSUER)
            .audience(AUDIENCE)
            .build()
            .unwrap(),
    )
}

fn ec_jwk(kid: &str) -> Value {
    // The EC P-256 public key of the fixtures, as a JWK.
    let pem = String::from_utf8(fixture("ec256_public.pem")).unwrap();
    let der = base64::engine::general_purpose::STANDARD
        .decode(
            pem.lines()
                .filter(|l| !l.starts_with("-----"))
                .collect::<String>(),
        )
        .unwrap();
    let point = &der[der.len() - 65..];
    json!({"kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256",
           "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..])})
}

/// The shared secret of the HS* tokens, as an `oct` JWK anyone reading the set could use.
fn oct_jwk(kid: &str) -> Value {
    json!({"kty": "oct", "kid": kid, "alg": "HS256", "k": URL_SAFE_NO_PAD.encode(SECRET)})
}

#[tokio::test]
async fn kid_selects_the_key_and_inline_jwks_works() {
    let jwks = json!({"keys": [
        ec_jwk("ec-1"),
        {"kty": "oct", "kid": "enc", "use": "enc", "alg": "HS256", "k": URL_SAFE_NO_PAD.encode(b"x")}
    ]});
    let jwt = JwtAuthenticator::builder()
        .jwks(JwksSource::inline(&jwks.to_string()).unwrap())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .build()
        .unwrap();
    let layer = layer(jwt);
    let bearer = |kid| format!("Bearer {}", sign(Algorithm::ES256, Some(kid), &claims()));
    assert_eq!(call(&layer, &bearer("ec-1")).await.0, StatusCode::OK);
    assert_eq!(
        call(&layer, &bearer("ec-2")).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert!(JwksSource::inline("{\"keys\": []}").is_err());
    assert!(JwksSource::inline("not json").is_err());
}

/// An HS256 token signed with an `oct` key of a set, and an ES256 token of the same set.
async fn oct_keys_never_verify(jwt: JwtAuthenticator) {
    let layer = layer(jwt);
    for kid in [Some("hmac-1"), None] {
        let forged = sign(Algorithm::HS256, kid, &claims());
        let (status, challenge, principal) = call(&layer, &format!("Bearer {forged}")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{kid:?}");
        assert!(challenge.contains("invalid_token"), "{challenge}");
        assert!(principal.is_none());
    }
    let genuine = sign(Algorithm::ES256, Some("ec-1"), &claims());
    assert_eq!(
        call(&layer, &format!("Bearer {genuine}")).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn shared_secrets_in_inline_and_file_key_sets_are_ignored() {
    let set = json!({"keys": [oct_jwk("hmac-1"), ec_jwk("ec-1")]}).to_string();
    let inline = JwtAuthenticator::builder()
        .jwks(JwksSource::inline(&set).unwrap())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .build()
        .unwrap();
    oct_keys_never_verify(inline).await;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwks.json");
    std::fs::write(&path, &set).unwrap();
    let file = JwtAuthenticator::builder()
        .jwks(JwksSource::file(&path).unwrap())
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .build()
        .unwrap();
    oct_keys_never_verify(file).await;

    // A set of shared secrets only holds no usable key; the error does not echo the secret.
    let secrets = json!({"keys": [oct_jwk("hmac-1")]}).to_string();
    let err = JwksSource::inline(&secrets).unwrap_err().to_string();
    assert!(err.contains("no usable signing key"), "{err}");
    assert!(!err.contains(&URL_SAFE_NO_PAD.encode(SECRET)), "{err}");
    std::fs::write(&path, &secrets).unwrap();
    assert!(JwksSource::file(&path).is_err());
    // Nor does a single JWK make an HMAC key: secrets go through JwtKey::hmac.
    let jwk = serde_json::from_value(oct_jwk("hmac-1")).unwrap();
    assert!(JwtKey::from_jwk(&jwk).is_err());
}

#[tokio::test]
async fn api_keys_and_jwt_side_by_side() {
    use mcp_bastion::auth::{ApiKey, ApiKeyStore};
    let keys = ApiKeyStore::new([
        ApiKey::new(
            "user-dev-token",
            Principal::new("devUser", mcp_bastion::principal::AuthMethod::ApiKey),
        )
        .unwrap(),
        ApiKey::new(
            "dotted.api.key",
            Principal::new("dotted", mcp_bastion::principal::AuthMethod::ApiKey),
        )
        .unwrap(),
    ])
    .unwrap();
    let layer = AuthLayer::builder()
        .api_keys(keys)
        .authenticator(all_keys())
        .build()
        .unwrap();
    assert_eq!(
        call(&layer, "Bearer user-dev-token")
            .await
            .2
            .unwrap()
            .subject,
        "devUser"
    );
    assert_eq!(
        call(
            &layer,
            &format!("Bearer {}", sign(Algorithm::ES256, None, &claims()))
        )
        .await
        .2
        .unwrap()
        .subject,
        "alice"
    );
    assert_eq!(
        call(&layer, "Bearer not-a-key-not-a-jwt").await.0,
        StatusCode::UNAUTHORIZED
    );
    // Every authenticator is asked; a key with two dots is not a JWT, so the JWT
    // authenticator leaves it alone instead of refusing it.
    assert_eq!(
        call(&layer, "Bearer dotted.api.key")
            .await
            .2
            .unwrap()
            .subject,
        "dotted"
    );
}

mod common;

#[cfg(feature = "jwks")]
mod over_http {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A JWKS endpoint on loopback that counts fetches and can be switched to failing.
    struct JwksServer {
        url: String,
        fetches: Arc<AtomicUsize>,
        failing: Arc<std::sync::atomic::AtomicBool>,
    }

    async fn jwks_server(document: Value) -> JwksServer {
        let fetches = Arc::new(AtomicUsize::new(0));
        let failing = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (count, fail) = (Arc::clone(&fetches), Arc::clone(&failing));
        let body = Bytes::from(document.to_string());
        let service = service_fn(move |_req: Request<mcp_bastion::server::TimedBody>| {
            count.fetch_add(1, Ordering::SeqCst);
            let mut response = Response::new(Full::new(body.clone()));
            if fail.load(Ordering::SeqCst) {
                *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            }
            async move { Ok::<_, Infallible>(response) }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        tokio::spawn(mcp_bastion::server::serve(
            listener,
            service,
            std::future::pending(),
        ));
        JwksServer {
            url,
            fetches,
            failing,
        }
    }

    #[tokio::test]
    async fn unknown_kids_fetch_at_most_once_per_interval_and_failures_keep_the_last_set() {
        let server = jwks_server(json!({"keys": [ec_jwk("ec-1")]})).await;
        let jwt = JwtAuthenticator::builder()
            .jwks(JwksSource::url(&server.url).unwrap())
            .jwks_min_refresh_interval(Duration::from_secs(3600))
            .issuer(ISSUER)
            .audience(AUDIENCE)
            .token_cache(0)
            .build()
            .unwrap();
        let layer = layer(jwt);
        let token = sign(Algorithm::ES256, Some("ec-1"), &claims());
        assert_eq!(
            call(&layer, &format!("Bearer {token}")).await.0,
            StatusCode::OK
        );
        assert_eq!(
            server.fetches.load(Ordering::SeqCst),
            1,
            "first use fetches the set"
        );

        // 1,000 tokens naming random unknown kids, many at once: no further fetch in the interval.
        let attempts = (0..1000).map(|i| {
            let layer = layer.clone();
            let token = sign(
                Algorithm::ES256,
                Some(&format!("random-kid-{i}")),
                &claims(),
            );
            tokio::spawn(async move { call(&layer, &format!("Bearer {token}")).await.0 })
        });
        for status in futures_util::future::join_all(attempts).await {
            assert_eq!(status.unwrap(), StatusCode::UNAUTHORIZED);
        }
        assert_eq!(
            server.fetches.load(Ordering::SeqCst),
            1,
            "unknown kids must not stampede the JWKS endpoint"
        );
        assert_eq!(
            call(&layer, &format!("Bearer {token}")).await.0,
            StatusCode::OK
        );
    }

    #[tokio::test]
    async fn shared_secrets_in_a_fetched_key_set_are_ignored() {
        let server = jwks_server(json!({"keys": [oct_jwk("hmac-1"), ec_jwk("ec-1")]})).await;
        let jwt = JwtAuthenticator::builder()
            .jwks(JwksSource::url(&server.url).unwrap())
            .issuer(ISSUER)
            .audience(AUDIENCE)
            .build()
            .unwrap();
        oct_keys_never_verify(jwt).await;
        assert!(server.fetches.load(Ordering::SeqCst) >= 1);
    }

    #[test]
    fn jwks_urls_need_https_except_on_loopback() {
        for url in ["http://idp.example/jwks.json", "http://192.0.2.1/jwks.json"] {
            let err = JwksSource::url(url).err().unwrap().to_string();
            assert!(err.contains("https is required"), "{url}: {err}");
        }
        for url in [
            "https://idp.example/jwks.json",
            "http://127.0.0.1:8080/jwks.json",
            "http://[::1]:8080/jwks.json",
            "http://localhost:8080/jwks.json",
        ] {
            assert!(JwksSource::url(url).is_ok(), "{url}");
        }
    }

    #[tokio::test]
    async fn a_failing_endpoint_keeps_the_last_good_set() {
        let server = jwks_server(json!({"keys": [ec_jwk("ec-1")]})).await;
        let jwt = JwtAuthenticator::builder()
            .jwks(JwksSource::url(&server.url).unwrap())
            .jwks_ttl(Duration::from_millis(1))
            .jwks_min_refresh_interval(Duration::from_millis(1))
            .issuer(ISSUER)
            .audience(AUDIENCE)
            .token_cache(0)
            .build()
            .unwrap();
        let layer = layer(jwt);
        let token = sign(Algorithm::ES256, Some("ec-1"), &claims());
        assert_eq!(
            call(&layer, &format!("Bearer {token}")).await.0,
            StatusCode::OK
        );
        server.failing.store(true, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(
            call(&layer, &format!("Bearer {token}")).await.0,
            StatusCode::OK,
            "last good set kept"
        );
        assert!(
            server.fetches.load(Ordering::SeqCst) >= 2,
            "a refresh was attempted"
        );
        assert!(JwksSource::url("https://idp.example/jwks").is_ok());
        assert!(JwksSource::url("ftp://idp.example/jwks").is_err());
        assert!(JwksSource::url("/relative").is_err());
        assert!(JwksSource::url_with_ca("https://idp.example/jwks", b"not pem").is_err());
    }

    /// The same endpoint over HTTPS, under a private CA.
    #[cfg(feature = "tls")]
    #[tokio::test]
    async fn jwks_over_https_with_a_private_ca() {
        use super::common::pki::{authority, leaf};
        let ca = authority("JWKS test CA");
        let server_identity = leaf(
            &ca,
            &["localhost", "127.0.0.1"],
            "localhost",
            None,
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        );
        let tls = mcp_bastion::tls::TlsConfig::from_pem(
            server_identity.cert_pem.as_bytes(),
            server_identity.key_pem.as_bytes(),
        )
        .unwrap()
        .build()
        .unwrap();
        let body = Bytes::from(json!({"keys": [ec_jwk("ec-1")]}).to_string());
        let service = service_fn(move |_req: Request<mcp_bastion::server::TimedBody>| {
            let body = body.clone();
            async move { Ok::<_, Infallible>(Response::new(Full::new(body))) }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "https://localhost:{}/jwks.json",
            listener.local_addr().unwrap().port()
        );
        tokio::spawn(mcp_bastion::tls::serve_tls(
            listener,
            tls,
            service,
            std::future::pending(),
        ));

        let token = sign(Algorithm::ES256, Some("ec-1"), &claims());
        let trusting = JwtAuthenticator::builder()
            .jwks(JwksSource::url_with_ca(&url, ca.cert_pem.as_bytes()).unwrap())
            .issuer(ISSUER)
            .audience(AUDIENCE)
            .build()
            .unwrap();
        assert_eq!(
            call(&layer(trusting), &format!("Bearer {token}")).await.0,
            StatusCode::OK
        );

        // The public roots do not know our CA: the fetch fails and nothing verifies.
        let public_roots = JwtAuthenticator::builder()
            .jwks(JwksSource::url(&url).unwrap())
            .issuer(ISSUER)
            .audience(AUDIENCE)
            .build()
            .unwrap();
        assert_eq!(
            call(&layer(public_roots), &format!("Bearer {token}"))
                .await
                .0,
            StatusCode::UNAUTHORIZED
        );
    }
}
