//! Per-request cost of `AuthLayer` in front of a trivial service: API key, and JWTs (HS256,
//! RS256, ES256) at first sight (signature verified) and when cached (no signature check).

use std::convert::Infallible;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, Response, header};
use http_body_util::Full;
use jsonwebtoken::{EncodingKey, Header, encode};
use mcp_bastion::auth::{Algorithm, ApiKey, ApiKeyStore, AuthLayer, JwtAuthenticator, JwtKey};
use mcp_bastion::principal::{AuthMethod, Principal};
use tower::{Layer, Service, ServiceExt, service_fn};

const SECRET: &[u8] = b"bench-hmac-secret-of-at-least-32-bytes";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/jwt/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn token(alg: Algorithm) -> String {
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    let claims = serde_json::json!({"sub": "alice", "iss": "i", "aud": "a", "exp": exp, "roles": ["developer"], "scope": "context:read"});
    let key = match alg {
        Algorithm::HS256 => EncodingKey::from_secret(SECRET),
        Algorithm::RS256 => EncodingKey::from_rsa_pem(&fixture("rsa_private.pem")).unwrap(),
        _ => EncodingKey::from_ec_pem(&fixture("ec256_private_pk8.pem")).unwrap(),
    };
    encode(&Header::new(alg), &claims, &key).unwrap()
}

fn jwt(cache: usize) -> JwtAuthenticator {
    JwtAuthenticator::builder()
        .key(JwtKey::hmac(SECRET, &[Algorithm::HS256]).unwrap())
        .key(JwtKey::rsa_pem(&fixture("rsa_public.pem"), &[Algorithm::RS256]).unwrap())
        .key(JwtKey::ec_pem(&fixture("ec256_public.pem"), &[Algorithm::ES256]).unwrap())
        .issuer("i")
        .audience("a")
        .token_cache(cache)
        .build()
        .unwrap()
}

fn bench_layer(c: &mut Criterion, name: &str, layer: &AuthLayer, authorization: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let inner = service_fn(|_req: Request<Full<Bytes>>| async {
        Ok::<_, Infallible>(Response::new(Full::<Bytes>::default()))
    });
    let mut service = layer.layer(inner);
    let value = http::HeaderValue::from_str(authorization).unwrap();
    c.bench_function(name, |b| {
        b.iter(|| {
            let mut request = Request::new(Full::default());
            *request.uri_mut() = http::Uri::from_static("/context/public-docs/getting-started");
            request
                .headers_mut()
                .insert(header::AUTHORIZATION, value.clone());
            let response = runtime
                .block_on(async { service.ready().await.unwrap().call(request).await.unwrap() });
            assert_eq!(response.status(), 200);
        });
    });
}

fn auth(c: &mut Criterion) {
    let keys = ApiKeyStore::new([ApiKey::new(
        "user-dev-token",
        Principal::new("devUser", AuthMethod::ApiKey).with_role("developer"),
    )
    .unwrap()])
    .unwrap();
    bench_layer(
        c,
        "api_key",
        &AuthLayer::builder().api_keys(keys).build().unwrap(),
        "Bearer user-dev-token",
    );
    for (alg, label) in [
        (Algorithm::HS256, "hs256"),
        (Algorithm::RS256, "rs256"),
        (Algorithm::ES256, "es256"),
    ] {
        let authorization = format!("Bearer {}", token(alg));
        let first_sight = AuthLayer::builder().authenticator(jwt(0)).build().unwrap();
        bench_layer(
            c,
            &format!("jwt_{label}_first_sight"),
            &first_sight,
            &authorization,
        );
        let cached = AuthLayer::builder()
            .authenticator(jwt(1024))
            .build()
            .unwrap();
        bench_layer(c, &format!("jwt_{label}_cached"), &cached, &authorization);
    }
}

criterion_group!(benches, auth);
criterion_main!(benches);
