//! `AuthLayer` (API keys, then HS256 JWTs) against fuzzed credential headers: tokens signed
//! with the right or a wrong key, with fuzzed claims, schemes and spacing, API keys valid or
//! near-valid, duplicate headers, query-string tokens and other headers.
//!
//! Invariants: the status is 200, 400, 401 or 403, never 5xx; no response header or body
//! carries a credential (longer than 8 bytes) the client sent; an admitted request reaches
//! the inner service with a principal (not anonymous unless anonymous access is on) and
//! without any credential header.
#![no_main]

use std::convert::Infallible;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use arbitrary::Arbitrary;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use jsonwebtoken::{EncodingKey, Header, encode};
use libfuzzer_sys::fuzz_target;
use mcp_bastion::auth::{
    Algorithm, ApiKey, ApiKeyStore, AuthLayer, JwtAuthenticator, JwtKey, ResourceMetadata,
};
use mcp_bastion::mcp::Endpoint;
use mcp_bastion::principal::{AuthMethod, Principal};
use serde_json::{Map, Value, json};
use tokio::runtime::Runtime;
use tower::{Layer, ServiceExt, service_fn};

const SECRET: &[u8] = b"fuzz-hmac-secret-that-is-long-enough-for-hs256";
const WRONG_SECRET: &[u8] = b"another-hmac-secret-long-enough-for-hs256!!";
const API_KEY: &str = "fuzz-api-key-0123456789abcdef";
const ISSUER: &str = "mcp-bastion-fuzz";
const AUDIENCE: &str = "http://127.0.0.1:3000/mcp";
const PATHS: [&str; 6] = [
    "/mcp",
    "/context/project-alpha/dependency-graph",
    "/context",
    "/.well-known/oauth-protected-resource",
    "/.well-known/oauth-protected-resource/mcp",
    "/other",
];
const SCHEMES: [&str; 6] = ["Bearer", "bearer", "BEARER", "Basic", "Token", ""];
const SEPARATORS: [&str; 4] = [" ", "  ", "\t", ""];
const OTHER_HEADERS: [&str; 8] = [
    "content-type",
    "accept",
    "mcp-protocol-version",
    "x-forwarded-for",
    "cookie",
    "host",
    "x-api-key-2",
    "proxy-authorization",
];

struct Fixture {
    runtime: Runtime,
    strict: AuthLayer,
    anonymous: AuthLayer,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let endpoint = Endpoint::builder()
            .resource_metadata(
                ResourceMetadata::new(AUDIENCE)
                    .unwrap()
                    .with_scopes(["context:read"]),
            )
            .build()
            .unwrap();
        let layer = |anonymous: bool| {
            let keys = ApiKeyStore::new([ApiKey::new(
                API_KEY,
                Principal::new("key-user", AuthMethod::ApiKey).with_role("developer"),
            )
            .unwrap()])
            .unwrap();
            let jwt = JwtAuthenticator::builder()
                .key(JwtKey::hmac(SECRET, &[Algorithm::HS256]).unwrap())
                .issuer(ISSUER)
                .audience(AUDIENCE)
                .build()
                .unwrap();
            AuthLayer::builder()
                .api_keys(keys)
                .authenticator(jwt)
                .endpoint(&endpoint)
                .allow_anonymous(anonymous)
                .build()
                .unwrap()
        };
        Fixture {
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .unwrap(),
            strict: layer(false),
            anonymous: layer(true),
        }
    })
}

#[derive(Arbitrary, Debug)]
enum Signature {
    Right,
    WrongKey,
    Tampered(u8),
    Empty,
    Raw(String),
}

#[derive(Arbitrary, Debug)]
enum Time {
    /// A minute and this many seconds from now.
    Future(u16),
    /// Seconds from now.
    From(i16),
    Missing,
    Raw(i64),
}

#[derive(Arbitrary, Debug)]
enum Subject {
    /// `user-{n}`.
    Known(u8),
    Missing,
    Text(String),
}

#[derive(Arbitrary, Debug)]
struct Token {
    alg: u8,
    kid: Option<String>,
    sub: Subject,
    iss: Result<bool, String>,
    aud: Result<bool, String>,
    exp: Time,
    nbf: Option<Time>,
    roles: Vec<String>,
    scope: Option<String>,
    extra: Option<(String, String)>,
    signature: Signature,
}

#[derive(Arbitrary, Debug)]
enum Credential {
    Jwt(Token),
    ApiKey,
    /// The API key with one byte changed.
    NearKey(u8, u8),
    /// Text after a marker no response would contain by itself.
    Text(String),
    /// Anything; never checked for leaks (it may spell words a response uses).
    Bytes(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
struct Input {
    anonymous: bool,
    path: u8,
    query_token: Option<String>,
    authorization: Option<(u8, u8, Credential)>,
    second_authorization: Option<Credential>,
    api_key: Option<Credential>,
    second_api_key: bool,
    others: Vec<(u8, Vec<u8>)>,
}

fn now() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

fn time(time: &Time) -> Option<Value> {
    match time {
        Time::Missing => None,
        Time::Future(delta) => Some(json!(now() + 60 + i64::from(*delta))),
        Time::From(delta) => Some(json!(now() + i64::from(*delta))),
        Time::Raw(raw) => Some(json!(raw)),
    }
}

fn jwt(token: &Token) -> String {
    let mut claims = Map::new();
    match &token.sub {
        Subject::Known(n) => {
            claims.insert("sub".into(), json!(format!("user-{n}")));
        }
        Subject::Missing => {}
        Subject::Text(sub) => {
            claims.insert("sub".into(), json!(sub));
        }
    }
    match &token.iss {
        Ok(true) => {
            claims.insert("iss".into(), json!(ISSUER));
        }
        Ok(false) => {}
        Err(other) => {
            claims.insert("iss".into(), json!(other));
        }
    }
    match &token.aud {
        Ok(true) => {
            claims.insert("aud".into(), json!(AUDIENCE));
        }
        Ok(false) => {}
        Err(other) => {
            claims.insert("aud".into(), json!([other, AUDIENCE]));
        }
    }
    if let Some(exp) = time(&token.exp) {
        claims.insert("exp".into(), exp);
    }
    if let Some(nbf) = token.nbf.as_ref().and_then(time) {
        claims.insert("nbf".into(), nbf);
    }
    if !token.roles.is_empty() {
        claims.insert("roles".into(), json!(token.roles));
    }
    if let Some(scope) = &token.scope {
        claims.insert("scope".into(), json!(scope));
    }
    if let Some((key, value)) = &token.extra {
        claims.insert(key.clone(), json!(value));
    }
    let alg = [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512][usize::from(token.alg % 3)];
    let mut header = Header::new(alg);
    header.kid.clone_from(&token.kid);
    let key = match token.signature {
        Signature::WrongKey => EncodingKey::from_secret(WRONG_SECRET),
        _ => EncodingKey::from_secret(SECRET),
    };
    let signed = encode(&header, &Value::Object(claims), &key).unwrap();
    let (unsigned, signature) = signed.rsplit_once('.').unwrap();
    match &token.signature {
        Signature::Right | Signature::WrongKey => signed,
        Signature::Tampered(at) => {
            let mut bytes = signature.as_bytes().to_vec();
            let at = usize::from(*at) % bytes.len();
            bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
            format!("{unsigned}.{}", String::from_utf8(bytes).unwrap())
        }
        Signature::Empty => format!("{unsigned}."),
        Signature::Raw(raw) => format!("{unsigned}.{raw}"),
    }
}

/// Starts every fuzzed text credential, so finding it in a response means it was copied.
const MARKER: &str = "cred-Zq7xW";

/// The credential's bytes, and whether a response containing them leaks them.
fn credential(credential: &Credential) -> (Vec<u8>, bool) {
    let secret = !matches!(credential, Credential::Bytes(_));
    let bytes = match credential {
        Credential::Jwt(token) => jwt(token).into_bytes(),
        Credential::ApiKey => API_KEY.as_bytes().to_vec(),
        Credential::NearKey(at, to) => {
            let mut key = API_KEY.as_bytes().to_vec();
            key[usize::from(*at) % API_KEY.len()] = *to;
            key
        }
        Credential::Text(text) => format!("{MARKER}{text}").into_bytes(),
        Credential::Bytes(bytes) => bytes.clone(),
    };
    (bytes, secret)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn percent(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fuzz_target!(|input: Input| {
    let fixture = fixture();
    let mut secrets: Vec<Vec<u8>> = Vec::new();
    let mut uri = PATHS[usize::from(input.path) % PATHS.len()].to_owned();
    if let Some(token) = &input.query_token {
        uri.push_str("?access_token=");
        uri.push_str(&percent(&format!("{MARKER}{token}")));
        secrets.push(format!("{MARKER}{token}").into_bytes());
    }
    let mut request = Request::get(uri).body(Full::<Bytes>::default()).unwrap();
    let headers = request.headers_mut();
    if let Some((scheme, separator, value)) = &input.authorization {
        let (token, secret) = credential(value);
        let mut full = format!(
            "{}{}",
            SCHEMES[usize::from(*scheme) % SCHEMES.len()],
            SEPARATORS[usize::from(*separator) % SEPARATORS.len()]
        )
        .into_bytes();
        full.extend_from_slice(&token);
        if let Ok(value) = HeaderValue::from_bytes(&full) {
            headers.append(http::header::AUTHORIZATION, value);
            if secret {
                secrets.push(token);
                secrets.push(full);
            }
        }
    }
    if let Some(second) = &input.second_authorization {
        let mut full = b"Bearer ".to_vec();
        let (token, secret) = credential(second);
        full.extend_from_slice(&token);
        if let Ok(value) = HeaderValue::from_bytes(&full) {
            headers.append(http::header::AUTHORIZATION, value);
            if secret {
                secrets.push(token);
            }
        }
    }
    if let Some(key) = &input.api_key {
        let (key, secret) = credential(key);
        if let Ok(value) = HeaderValue::from_bytes(&key) {
            if input.second_api_key {
                headers.append("x-api-key", value.clone());
            }
            headers.append("x-api-key", value);
            if secret {
                secrets.push(key);
            }
        }
    }
    for (name, value) in &input.others {
        let name = HeaderName::from_static(OTHER_HEADERS[usize::from(*name) % OTHER_HEADERS.len()]);
        if let Ok(value) = HeaderValue::from_bytes(value) {
            headers.append(name, value);
        }
    }
    let anonymous_allowed = input.anonymous;
    let inner = service_fn(move |request: Request<Full<Bytes>>| async move {
        let principal = request
            .extensions()
            .get::<Principal>()
            .expect("an admitted request carries a principal");
        assert!(
            anonymous_allowed || !principal.is_anonymous(),
            "anonymous admitted while anonymous access is off"
        );
        for name in ["authorization", "x-api-key"] {
            assert!(
                request.headers().get(name).is_none(),
                "the credential header {name} reached the inner service"
            );
        }
        Ok::<_, Infallible>(Response::new(Full::from("inner ok")))
    });
    let layer = if input.anonymous {
        &fixture.anonymous
    } else {
        &fixture.strict
    };
    let service = layer.layer(inner);
    let (status, headers, body) = fixture.runtime.block_on(async move {
        let response = service.oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        (parts.status, parts.headers, body)
    });
    assert!(
        matches!(
            status,
            StatusCode::OK
                | StatusCode::BAD_REQUEST
                | StatusCode::UNAUTHORIZED
                | StatusCode::FORBIDDEN
        ),
        "status {status}"
    );
    for secret in secrets.iter().filter(|s| s.len() > 8) {
        assert!(
            !contains(&body, secret),
            "the body repeats a credential: {:?}",
            String::from_utf8_lossy(&body)
        );
        for (name, value) in &headers {
            assert!(
                !contains(value.as_bytes(), secret),
                "the {name} header repeats a credential: {value:?}"
            );
        }
    }
});
