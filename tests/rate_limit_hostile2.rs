//! Hostile review of the rate limits, part 2: attacks on the mechanisms added by the fixes of
//! the first review (the failed-authentication reservation, the unit spent before a body is
//! read, the hash-map store, principal identities and the new configuration checks). Each
//! test asserts what the contract of `mcp_bastion::rate_limit` promises; the ones marked
//! "Was:" failed when they were written; they pass since the fixes.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use mcp_bastion::auth::{AuthError, AuthLayer, Credentials, Verdict};
use mcp_bastion::client_addr::ClientAddr;
use mcp_bastion::mcp::{Endpoint, McpService};
use mcp_bastion::overload::OverloadLayer;
use mcp_bastion::policy::{Policy, PolicyHandle};
use mcp_bastion::principal::{AuthMethod, Principal};
use mcp_bastion::rate_limit::{QuotaConfig, RATELIMIT, RateLimitConfig, RateLimits};
use mcp_bastion::stack::{Stack, StackService};
use serde_json::{Value, json};
use tower::{Service, ServiceExt};

type Body = Full<Bytes>;

const POLICY: &str = r#"
roles = ["admin", "developer", "guest"]
[[rules]]
id = "everyone-reads"
effect = "allow"
roles = ["admin", "developer", "guest"]
actions = ["read", "list"]
contexts = ["**"]
"#;

fn policy() -> PolicyHandle {
    PolicyHandle::new(Policy::from_toml(POLICY).unwrap())
}

/// The demo's stack (seed keys `user-guest-token`, `user-dev-token`, `user-admin-token`)
/// over `limits`.
fn stack(limits: RateLimits) -> StackService<McpService<mcp_bastion::context::StaticSource>> {
    Stack::new(Endpoint::default())
        .auth(AuthLayer::builder().api_keys(common::seed_keys()))
        .policy(policy())
        .rate_limits(limits)
        .serve_source(common::seed_source())
        .unwrap()
}

fn peer(addr: &str) -> ClientAddr {
    ClientAddr(addr.parse::<SocketAddr>().unwrap())
}

fn get_from(path: &str, token: Option<&str>, from: &str) -> Request<Body> {
    let mut builder = Request::get(path);
    if let Some(token) = token {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let mut request = builder.body(Body::default()).unwrap();
    request.extensions_mut().insert(peer(from));
    request
}

/// A gRPC call (any method: the limits and authentication run before any routing).
fn grpc_from(token: &str, from: &str) -> Request<Body> {
    let mut request = Request::post("/ctx.v1.Contexts/Get")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/grpc")
        .header(header::TE, "trailers")
        .body(Body::default())
        .unwrap();
    request.extensions_mut().insert(peer(from));
    request
}

fn json_rpc_from(token: &str, from: &str, message: &Value) -> Request<Body> {
    let mut request = Request::post("/mcp")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .body(Body::from(message.to_string()))
        .unwrap();
    request.extensions_mut().insert(peer(from));
    request
}

async fn send<S, B>(service: &S, request: Request<Body>) -> (StatusCode, http::HeaderMap, Value)
where
    S: Service<Request<Body>, Response = Response<B>, Error: std::fmt::Debug> + Clone,
    B: http_body::Body<Data = Bytes, Error: std::fmt::Debug>,
{
    let response = service.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    (
        parts.status,
        parts.headers,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn fields(headers: &http::HeaderMap, name: &http::HeaderName) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

fn grpc_status(headers: &http::HeaderMap) -> Option<String> {
    headers
        .get("grpc-status")
        .map(|v| v.to_str().unwrap().to_owned())
}

const READ: &str = "/context/public-docs/getting-started";

// ---------------------------------------------------------------------------------------
// The failed-authentication reservation
// ---------------------------------------------------------------------------------------

/// The reservation is kept only when the answer is HTTP 401 with `invalid_token`. A gRPC
/// refusal is a trailers-only response: HTTP 200 with `grpc-status: 16` (UNAUTHENTICATED),
/// and the same `WWW-Authenticate: Bearer error="invalid_token"`. The dialect is chosen by
/// the client alone (`Content-Type: application/grpc`, on any path), so every guess sent
/// as gRPC gets its unit back: the failed-authentication limit never locks, and the answer
/// (16 or not) still says whether the credential is valid.
///
/// Was: 20 of 20 gRPC guesses are checked with a failed-auth burst of 3; the address is
/// never refused.
#[tokio::test(start_paused = true)]
async fn grpc_guesses_count_as_failed_authentications() {
    let limits = RateLimitConfig::default()
        .quota("guest", 60, 60, 10)
        .default_quota("guest")
        .failed_auth(QuotaConfig::new(6, 60).burst(3))
        .build()
        .unwrap();
    let service = stack(limits);
    let from = "192.0.2.21:1";
    let mut checked = 0;
    let mut statuses = Vec::new();
    for n in 0..20 {
        let (status, headers, _) = send(&service, grpc_from(&format!("guess-{n:04}"), from)).await;
        let grpc = grpc_status(&headers);
        if grpc.as_deref() == Some("16") {
            checked += 1;
            assert!(
                fields(&headers, &header::WWW_AUTHENTICATE)[0].contains("invalid_token"),
                "the refusal names the refused credential"
            );
        }
        statuses.push((status.as_u16(), grpc));
    }
    assert!(
        checked <= 3,
        "failed-auth burst 3, yet {checked} gRPC guesses were checked (HTTP status, grpc-status): {statuses:?}"
    );
    // And the address is locked for everyone, whatever the dialect.
    let (status, _, _) = send(&service, get_from(READ, Some("user-dev-token"), from)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

/// An authenticator that needs I/O (token introspection, as in the first review): valid
/// tokens are `valid-*`, accepted after `delay`.
fn introspection(delay: Duration) -> impl Fn(&Credentials<'_>) -> Verdict + Clone {
    move |credentials: &Credentials<'_>| {
        let Some(token) = credentials.bearer() else {
            return Verdict::NotMine;
        };
        let valid = token
            .strip_prefix("valid-")
            .map(|user| Principal::new(user, AuthMethod::ApiKey).with_role("developer"));
        Verdict::Pending(Box::pin(async move {
            tokio::time::sleep(delay).await;
            valid.ok_or_else(|| AuthError::invalid_token("unknown token"))
        }))
    }
}

/// "A limit of failed authentications": a valid credential is no failure. With an
/// authenticator that needs I/O, each request holds a failed-auth unit while it is
/// authenticated, so an address (an office NAT, a proxy, one busy client) with more valid
/// requests in flight than the failed-auth burst is refused 429, without a single failure.
///
/// Was: 10 concurrent requests with valid tokens from one address, failed-auth burst 3:
/// 7 are refused 429.
#[tokio::test(start_paused = true)]
async fn valid_credentials_in_flight_are_not_refused_as_failures() {
    let limits = RateLimitConfig::default()
        .quota("developer", 600, 60, 100)
        .default_quota("developer")
        .failed_auth(QuotaConfig::new(6, 60).burst(3))
        .build()
        .unwrap();
    let service = Stack::new(Endpoint::default())
        .auth(AuthLayer::builder().authenticator(introspection(Duration::from_millis(50))))
        .policy(policy())
        .rate_limits(limits)
        .serve_source(common::seed_source())
        .unwrap();
    let requests = (0..10).map(|n| {
        let service = service.clone();
        let request = get_from(READ, Some(&format!("valid-user{n}")), "192.0.2.22:1");
        async move { send(&service, request).await.0 }
    });
    let statuses = futures_util::future::join_all(requests).await;
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(
        refused, 0,
        "no credential failed, yet {refused} of 10 valid requests were refused: {statuses:?}"
    );
}

/// A reservation that is never settled stays spent: a request whose future is dropped
/// while it is authenticated (the stack's own deadline, a client that disconnects) counts
/// as a failed authentication. A slow introspection endpoint (or JWKS) thus turns into a
/// lockout of every address whose requests timed out, which lasts past the outage.
///
/// Was: after three valid requests that hit the 1 s deadline (504), a valid request from
/// the same address is refused 429 once the authenticator is fast again.
#[tokio::test(start_paused = true)]
async fn requests_cut_off_during_authentication_are_not_failures() {
    let slow = Arc::new(AtomicUsize::new(1));
    let switch = Arc::clone(&slow);
    let authenticator = move |credentials: &Credentials<'_>| {
        let delay = if switch.load(Ordering::SeqCst) == 1 {
            Duration::from_secs(10)
        } else {
            Duration::from_millis(1)
        };
        introspection(delay)(credentials)
    };
    let limits = RateLimitConfig::default()
        .quota("developer", 600, 60, 100)
        .default_quota("developer")
        .failed_auth(QuotaConfig::new(6, 60).burst(3))
        .build()
        .unwrap();
    let service = Stack::new(Endpoint::default())
        .auth(AuthLayer::builder().authenticator(authenticator))
        .policy(policy())
        .rate_limits(limits)
        .overload(
            OverloadLayer::builder()
                .timeout(Duration::from_secs(1))
                .build()
                .unwrap(),
        )
        .serve_source(common::seed_source())
        .unwrap();
    let from = "192.0.2.23:1";
    for _ in 0..3 {
        let (status, _, _) = send(&service, get_from(READ, Some("valid-alice"), from)).await;
        assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "the outage");
    }
    // The introspection endpoint is back.
    slow.store(0, Ordering::SeqCst);
    let (status, _, body) = send(&service, get_from(READ, Some("valid-alice"), from)).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "three timed-out valid requests locked the address out: {body}"
    );
}

// ---------------------------------------------------------------------------------------
// The unit spent before the body
// ---------------------------------------------------------------------------------------

/// A JSON-RPC request whose cost is in its body spends one unit before the body is read and
/// keeps it when the rest is refused. The 429 for the rest says `Retry-After` for the rest
/// alone (`cost - 1` units), so a client that waits exactly that long finds `cost - 1`
/// units, spends one on the next attempt and is refused again: a client that obeys
/// `Retry-After` never gets through, and each 429 eats the unit that just came back.
///
/// Was: a list (cost 5) with 4 units left is refused six times in a row, each time
/// after waiting the `Retry-After` it was given (1 s).
#[tokio::test(start_paused = true)]
async fn a_costly_request_retried_after_retry_after_gets_through() {
    let limits = RateLimitConfig::default()
        .quota("guest", 60, 60, 10)
        .default_quota("guest")
        .build()
        .unwrap();
    let service = stack(limits);
    let from = "192.0.2.24:1";
    for _ in 0..6 {
        let (status, _, _) = send(&service, get_from(READ, Some("user-guest-token"), from)).await;
        assert_eq!(status, StatusCode::OK);
    }
    let list = json!({"jsonrpc": "2.0", "id": "l-1", "method": "resources/list"});
    let mut attempts = Vec::new();
    for _ in 0..6 {
        let (status, headers, body) =
            send(&service, json_rpc_from("user-guest-token", from, &list)).await;
        if status == StatusCode::OK {
            return;
        }
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
        assert_eq!(body["id"], "l-1", "refused after the body was read: {body}");
        let wait: u64 = headers[header::RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        attempts.push((wait, fields(&headers, &RATELIMIT)));
        tokio::time::advance(Duration::from_secs(wait)).await;
    }
    panic!(
        "a client that waits the Retry-After it is given is refused forever (Retry-After, RateLimit): {attempts:?}"
    );
}

// ---------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------

/// `rules[].principals` takes identities `"<method>:<subject>"` and the check accepts the
/// method `Anonymous`, but an anonymous caller is never matched against the rules (it is
/// charged the `default` quota by address). A rule meant to give anonymous callers a
/// smaller quota than the default is accepted and silently gives them the default.
///
/// Was: `principals = ["Anonymous:anonymous"]` builds, and anonymous callers get the
/// default quota (burst 10) instead of the rule's (burst 1).
#[tokio::test(start_paused = true)]
async fn a_rule_naming_the_anonymous_identity_is_refused_or_applies() {
    let config = RateLimitConfig::from_toml(
        r#"
        default = "member"
        [quotas.member]
        requests = 600
        window_seconds = 60
        burst = 10
        [quotas.anonymous]
        requests = 6
        window_seconds = 60
        burst = 1
        [[rules]]
        quota = "anonymous"
        principals = ["Anonymous:anonymous"]
        "#,
    )
    .unwrap();
    let limits = match config.build() {
        Err(err) => {
            assert!(err.message().contains("rules[0].principals"), "{err}");
            return;
        }
        Ok(limits) => limits,
    };
    let service = Stack::new(Endpoint::default())
        .auth(AuthLayer::builder().allow_anonymous(true))
        .policy(PolicyHandle::new(
            Policy::from_toml(
                r#"
                roles = []
                [[rules]]
                id = "open"
                effect = "allow"
                roles = ["*"]
                actions = ["read", "list"]
                contexts = ["**"]
                "#,
            )
            .unwrap(),
        ))
        .rate_limits(limits)
        .serve_source(common::seed_source())
        .unwrap();
    let (status, headers, body) = send(&service, get_from(READ, None, "192.0.2.25:1")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        fields(&headers, &mcp_bastion::rate_limit::RATELIMIT_POLICY),
        ["\"anonymous\";q=6;w=60"],
        "the rule for anonymous callers is accepted and ignored"
    );
}

/// `ipv6_prefix` accepts 65 to 128, finer than the /64 one host owns: the module says a
/// finer key "would let it rotate addresses". With 128 every address of a host's /64 is a
/// fresh per-address and failed-auth bucket, and the failed-auth limit is void for IPv6.
///
/// Was: `ipv6_prefix = 128` builds; 20 addresses of one /64 get 60 checked guesses with
/// a failed-auth burst of 3.
#[tokio::test(start_paused = true)]
async fn an_ipv6_prefix_finer_than_a_host_is_refused() {
    let config = RateLimitConfig::default()
        .quota("guest", 60, 60, 10)
        .default_quota("guest")
        .failed_auth(QuotaConfig::new(6, 60).burst(3))
        .ipv6_prefix(128);
    let limits = match config.build() {
        Err(err) => {
            assert!(err.message().contains("ipv6_prefix"), "{err}");
            return;
        }
        Ok(limits) => limits,
    };
    let service = stack(limits);
    let mut checked = 0;
    for host in 1..=20u32 {
        let from = format!("[2001:db8:cccc:1::{host:x}]:1");
        for _ in 0..3 {
            if send(&service, get_from(READ, Some("guess-guess"), &from))
                .await
                .0
                == StatusCode::UNAUTHORIZED
            {
                checked += 1;
            }
        }
    }
    assert!(
        checked <= 3,
        "one /64 had {checked} credentials checked with a failed-auth burst of 3"
    );
}

// ---------------------------------------------------------------------------------------
// What held up (kept as regression tests)
// ---------------------------------------------------------------------------------------

/// Guesses in the other dialects and methods keep their unit: `HEAD` (no body, same 401),
/// JSON-RPC on `POST /mcp` (401 with a JSON-RPC error), and REST; a valid request in
/// between gives its own unit back (once) and does not give back a guess's.
#[tokio::test(start_paused = true)]
async fn head_and_json_rpc_guesses_keep_their_unit() {
    let limits = RateLimitConfig::default()
        .quota("guest", 60, 60, 10)
        .default_quota("guest")
        .failed_auth(QuotaConfig::new(6, 60).burst(3))
        .build()
        .unwrap();
    let service = stack(limits);
    let from = "192.0.2.26:1";
    let head = {
        let mut request = get_from(READ, Some("guess-head"), from);
        *request.method_mut() = http::Method::HEAD;
        request
    };
    let (status, _, _) = send(&service, head).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    for _ in 0..3 {
        let (status, _, _) = send(&service, get_from(READ, Some("user-dev-token"), from)).await;
        assert_eq!(status, StatusCode::OK);
    }
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});
    let (status, _, body) = send(&service, json_rpc_from("guess-rpc", from, &ping)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, _, _) = send(&service, get_from(READ, Some("guess-rest"), from)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = send(&service, get_from(READ, Some("user-dev-token"), from)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "three failures lock");
}
