use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use tower::{Service, ServiceExt};

use super::*;
use crate::auth::{ApiKey, ApiKeyStore, AuthLayer};
use crate::client_addr::{ClientAddr, TrustedProxies};
use crate::context::{ContextEntry, ContextId, StaticSource};
use crate::mcp::Endpoint;
use crate::policy::{Policy, PolicyHandle};
use crate::principal::{AuthMethod, Principal};
use crate::stack::Stack;

type Body = Full<Bytes>;

const POLICY: &str = r#"
roles = ["admin", "developer", "guest", "intern"]
[[rules]]
id = "everyone-reads"
effect = "allow"
roles = ["admin", "developer", "guest", "intern"]
actions = ["read", "list"]
contexts = ["**"]
"#;

fn limits() -> RateLimits {
    RateLimitConfig::from_toml(
        r#"
        default = "guest"
        [quotas.guest]
        requests = 60
        window_seconds = 60
        burst = 10
        [quotas.developer]
        requests = 600
        window_seconds = 60
        burst = 50
        [[rules]]
        quota = "developer"
        roles = ["developer"]
        [exempt]
        roles = ["admin"]
        [failed_auth]
        requests = 6
        window_seconds = 60
        burst = 3
        "#,
    )
    .unwrap()
    .build()
    .unwrap()
}

fn source() -> StaticSource {
    (0..12).fold(StaticSource::new(), |source, n| {
        source.with_context(
            ContextId::parse(&format!("docs/{n}")).unwrap(),
            ContextEntry::text("note", "text", format!("note {n}")),
        )
    })
}

fn stack(
    limits: RateLimits,
) -> impl Service<
    Request<Body>,
    Response = Response<impl http_body::Body<Data = Bytes, Error: std::fmt::Debug>>,
    Error: std::fmt::Debug,
> + Clone {
    let user = |id: &str, role: &str| Principal::new(id, AuthMethod::ApiKey).with_role(role);
    let keys = ApiKeyStore::new([
        ApiKey::new("admin-token-0123456789", user("admin", "admin")).unwrap(),
        ApiKey::new("dev-token-0123456789ab", user("dev", "developer")).unwrap(),
        ApiKey::new("guest-token-0123456789", user("guest", "guest")).unwrap(),
        ApiKey::new("guest2-token-012345678", user("guest2", "guest")).unwrap(),
        ApiKey::new("intern-token-012345678", user("intern", "intern")).unwrap(),
    ])
    .unwrap();
    Stack::new(Endpoint::default())
        .auth(AuthLayer::builder().api_keys(keys))
        .policy(PolicyHandle::new(Policy::from_toml(POLICY).unwrap()))
        .rate_limits(limits)
        .trusted_proxies(TrustedProxies::new(["10.0.0.0/8"]).unwrap())
        .serve_source(source())
        .unwrap()
}

fn peer(addr: &str) -> ClientAddr {
    ClientAddr(addr.parse::<SocketAddr>().unwrap())
}

fn get(path: &str, token: &str) -> Request<Body> {
    let mut request = Request::get(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::default())
        .unwrap();
    request.extensions_mut().insert(peer("203.0.113.7:40000"));
    request
}

fn rpc(body: &Value, version: &str, token: &str) -> Request<Body> {
    let mut request = Request::post("/mcp")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream")
        .header("mcp-protocol-version", version)
        .body(Body::from(body.to_string()))
        .unwrap();
    request.extensions_mut().insert(peer("203.0.113.7:40000"));
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
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (parts.status, parts.headers, json)
}

fn ratelimit(headers: &http::HeaderMap) -> Vec<String> {
    headers
        .get_all(RATELIMIT)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_guest_spends_its_burst_then_gets_429_with_the_fields_and_recovers() {
    let service = stack(limits());
    for n in 0..10 {
        let (status, headers, _) =
            send(&service, get("/context/docs/1", "guest-token-0123456789")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[RATELIMIT_POLICY], "\"guest\";q=60;w=60");
        assert_eq!(
            ratelimit(&headers),
            [format!("\"guest\";r={};t={}", 9 - n, n + 1)]
        );
    }
    let (status, headers, body) =
        send(&service, get("/context/docs/1", "guest-token-0123456789")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["code"], "RATE_LIMITED");
    assert_eq!(body["details"]["quota"], "guest");
    assert_eq!(headers[header::RETRY_AFTER], "1");
    assert_eq!(headers[RATELIMIT_POLICY], "\"guest\";q=60;w=60");
    // Nothing left; the whole burst back in 10 s.
    assert_eq!(ratelimit(&headers), ["\"guest\";r=0;t=10"]);
    // Another guest has a bucket of its own; so does the developer.
    let (status, _, _) = send(&service, get("/context/docs/1", "guest2-token-012345678")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, headers, _) =
        send(&service, get("/context/docs/1", "dev-token-0123456789ab")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ratelimit(&headers), ["\"developer\";r=49;t=1"]);
    // One unit a second comes back.
    tokio::time::advance(Duration::from_secs(1)).await;
    let (status, _, _) = send(&service, get("/context/docs/1", "guest-token-0123456789")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = send(&service, get("/context/docs/1", "guest-token-0123456789")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test(start_paused = true)]
async fn admins_are_exempt_and_unknown_roles_get_the_default_quota() {
    let service = stack(limits());
    for _ in 0..30 {
        let (status, headers, _) =
            send(&service, get("/context/docs/1", "admin-token-0123456789")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(headers.get(RATELIMIT).is_none(), "exempt: no fields");
    }
    let (_, headers, _) = send(&service, get("/context/docs/1", "intern-token-012345678")).await;
    assert_eq!(headers[RATELIMIT_POLICY], "\"guest\";q=60;w=60");
}

#[tokio::test(start_paused = true)]
async fn lists_cost_five_and_a_batch_one_per_id() {
    let service = stack(limits());
    let token = "guest-token-0123456789";
    let (status, headers, _) = send(&service, get("/context", token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ratelimit(&headers), ["\"guest\";r=5;t=5"]);
    let batch = |ids: Vec<String>| {
        let mut request = Request::post("/context")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(json!({ "ids": ids }).to_string()))
            .unwrap();
        request.extensions_mut().insert(peer("203.0.113.7:1"));
        request
    };
    let (status, headers, _) = send(&service, batch(vec!["docs/1".into(), "docs/2".into()])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ratelimit(&headers), ["\"guest\";r=3;t=7"]);
    // Four ids when three units are left: refused as a whole.
    let four = (0..4).map(|n| format!("docs/{n}")).collect();
    let (status, _, body) = send(&service, batch(four)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    // Eleven ids can never fit a burst of ten: 413, not a retry.
    let eleven = (0..11).map(|n| format!("docs/{n}")).collect();
    let (status, headers, body) = send(&service, batch(eleven)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(headers.get(header::RETRY_AFTER).is_none());
    assert_eq!(body["details"]["cost"], 11);
}

#[tokio::test(start_paused = true)]
async fn json_rpc_answers_with_the_request_id_and_a_batch_is_charged_whole() {
    let service = stack(limits());
    let token = "guest-token-0123456789";
    let read = |id: u32| json!({"jsonrpc": "2.0", "id": id, "method": "resources/read", "params": {"uri": "ctx://docs/1"}});
    // A batch of 8 (2025-03-26 allows batches): charged 8 before any call runs.
    let batch = Value::Array((0..8).map(read).collect());
    let (status, headers, body) = send(&service, rpc(&batch, "2025-03-26", token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(ratelimit(&headers), ["\"guest\";r=2;t=8"]);
    // A list costs 5 > 2 left: refused with its id once its body is read; the unit spent
    // before the body goes back, so Retry-After is the wait for all 5.
    let list = json!({"jsonrpc": "2.0", "id": "l-1", "method": "resources/list"});
    let (status, headers, body) = send(&service, rpc(&list, "2025-11-25", token)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["id"], "l-1");
    assert_eq!(body["error"]["data"]["code"], "RATE_LIMITED");
    assert_eq!(headers[header::RETRY_AFTER], "3");
    assert_eq!(ratelimit(&headers), ["\"guest\";r=2;t=8"]);
    // A batch of 3 with 2 left: one error for the whole batch, none of its calls ran.
    let batch = Value::Array((0..3).map(read).collect());
    let (status, headers, body) = send(&service, rpc(&batch, "2025-03-26", token)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["id"], Value::Null);
    assert_eq!(body["error"]["data"]["code"], "RATE_LIMITED");
    assert_eq!(ratelimit(&headers), ["\"guest\";r=2;t=8"]);
    // The refusals spent nothing: two reads pass.
    for left in [1, 0] {
        let (status, headers, _) = send(&service, rpc(&read(9), "2025-11-25", token)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            ratelimit(&headers),
            [format!("\"guest\";r={left};t={}", 10 - left)]
        );
    }
}

#[tokio::test(start_paused = true)]
async fn grpc_is_refused_with_resource_exhausted() {
    let limits = RateLimitConfig::default()
        .quota("guest", 1, 60, 1)
        .default_quota("guest")
        .build()
        .unwrap();
    let layer = RateLimitLayer::new(&limits);
    let inner = tower::service_fn(|_: Request<_>| async {
        Ok::<_, std::convert::Infallible>(Response::new(Body::default()))
    });
    let service = tower::Layer::layer(&layer, inner);
    let grpc = || {
        let mut request = Request::post("/pkg.Svc/Method")
            .header(header::CONTENT_TYPE, "application/grpc")
            .body(Body::default())
            .unwrap();
        request
            .extensions_mut()
            .insert(Principal::new("alice", AuthMethod::ApiKey));
        request
    };
    assert_eq!(
        service.clone().oneshot(grpc()).await.unwrap().status(),
        StatusCode::OK
    );
    let refused = service.clone().oneshot(grpc()).await.unwrap();
    assert_eq!(refused.headers()["grpc-status"], "8");
    assert!(refused.headers().contains_key(header::RETRY_AFTER));
}

#[tokio::test(start_paused = true)]
async fn anonymous_callers_are_keyed_by_address_and_spoofed_forwarding_changes_nothing() {
    let limits = RateLimitConfig::default()
        .quota("anonymous", 60, 60, 2)
        .default_quota("anonymous")
        .build()
        .unwrap();
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
                actions = ["read"]
                contexts = ["**"]
                "#,
            )
            .unwrap(),
        ))
        .rate_limits(limits)
        .serve_source(source())
        .unwrap();
    let from = |addr: &str, xff: &str| {
        let mut request = Request::get("/context/docs/1")
            .header("x-forwarded-for", xff)
            .body(Body::default())
            .unwrap();
        request.extensions_mut().insert(peer(addr));
        request
    };
    for n in 0..2 {
        let (status, _, body) =
            send(&service, from("198.51.100.1:1", &format!("10.9.9.{n}"))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    // No trusted proxies: a new X-Forwarded-For is no new bucket.
    let (status, _, _) = send(&service, from("198.51.100.1:2", "192.0.2.77")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // Another address is another bucket; an IPv6 /64 is one bucket.
    let (status, _, _) = send(&service, from("198.51.100.2:1", "")).await;
    assert_eq!(status, StatusCode::OK);
    for host in ["[2001:db8:1:2::1]:1", "[2001:db8:1:2::2]:1"] {
        let (status, _, _) = send(&service, from(host, "")).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, _, _) = send(&service, from("[2001:db8:1:2:ffff::9]:1", "")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test(start_paused = true)]
async fn failed_authentications_lock_out_an_address_before_its_credentials_are_checked() {
    let service = stack(limits());
    let from = |addr: &str, token: Option<&str>| {
        let mut builder = Request::get("/context/docs/1");
        if let Some(token) = token {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let mut request = builder.body(Body::default()).unwrap();
        request.extensions_mut().insert(peer(addr));
        request
    };
    // Asking without credentials (discovery) is not a failure.
    for _ in 0..5 {
        let (status, _, _) = send(&service, from("192.0.2.1:1", None)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    for _ in 0..3 {
        let (status, _, _) = send(&service, from("192.0.2.1:1", Some("wrong-token-guess"))).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // Burst of 3 failures spent: even a valid key from that address waits.
    let (status, headers, body) = send(
        &service,
        from("192.0.2.1:2", Some("dev-token-0123456789ab")),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(headers[RATELIMIT_POLICY], "\"failed-auth\";q=6;w=60");
    assert_eq!(headers[header::RETRY_AFTER], "10");
    // Another address is unaffected.
    let (status, _, _) = send(
        &service,
        from("192.0.2.2:1", Some("dev-token-0123456789ab")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    tokio::time::advance(Duration::from_secs(10)).await;
    let (status, _, _) = send(
        &service,
        from("192.0.2.1:2", Some("dev-token-0123456789ab")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(start_paused = true)]
async fn per_address_quota_applies_before_authentication_and_joins_the_fields() {
    let limits = RateLimitConfig::default()
        .quota("guest", 60, 60, 10)
        .default_quota("guest")
        .per_address(QuotaConfig::new(120, 60).burst(3))
        .build()
        .unwrap();
    let service = stack(limits);
    let (status, headers, _) =
        send(&service, get("/context/docs/1", "guest-token-0123456789")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        ratelimit(&headers),
        ["\"guest\";r=9;t=1", "\"per-address\";r=2;t=1"]
    );
    for _ in 0..2 {
        let _ = send(&service, get("/context/docs/1", "dev-token-0123456789ab")).await;
    }
    // Anyone from that address, authenticated or not, is now refused before auth runs.
    let (status, headers, _) = send(&service, get("/context/docs/1", "nonsense")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(headers[RATELIMIT_POLICY], "\"per-address\";q=120;w=60");
}

#[tokio::test(start_paused = true)]
async fn clones_share_one_bucket() {
    let service = stack(limits());
    let mut answers = Vec::new();
    for _ in 0..11 {
        // A fresh clone each time, as axum makes one per request.
        let clone = service.clone();
        answers.push(
            send(&clone, get("/context/docs/1", "guest-token-0123456789"))
                .await
                .0,
        );
    }
    assert_eq!(answers.iter().filter(|s| **s == StatusCode::OK).count(), 10);
    assert_eq!(answers[10], StatusCode::TOO_MANY_REQUESTS);
}

#[test]
fn invalid_configuration_names_the_field() {
    let err = |toml: &str| {
        RateLimitConfig::from_toml(toml)
            .and_then(RateLimitConfig::build)
            .unwrap_err()
            .message()
            .to_owned()
    };
    assert!(err("[quotas.guest]\nrequests = 1\nwindow_seconds = 60").contains("default"));
    let e = err("default = \"gust\"\n[quotas.guest]\nrequests = 1\nwindow_seconds = 60");
    assert!(e.contains("default") && e.contains("gust"), "{e}");
    let e = err("default = \"guest\"\n[quotas.guest]\nrequests = 0\nwindow_seconds = 60");
    assert!(e.contains("quotas.guest.requests"), "{e}");
    let e =
        err("default = \"guest\"\n[quotas.guest]\nrequests = 1\nwindow_seconds = 60\nburst = 0");
    assert!(e.contains("quotas.guest.burst"), "{e}");
    let e = err(
        "default = \"guest\"\n[quotas.guest]\nrequests = 1\nwindow_seconds = 60\n[[rules]]\nquota = \"dev\"\nroles = [\"x\"]",
    );
    assert!(e.contains("rules[0].quota") && e.contains("dev"), "{e}");
    let e = err(
        "default = \"guest\"\n[quotas.guest]\nrequests = 1\nwindow_seconds = 60\n[[rules]]\nquota = \"guest\"",
    );
    assert!(e.contains("rules[0]"), "{e}");
    let e = err("[quotas.guest]\nrequests = 1\nwindow_seconds = 60\nburstt = 3");
    assert!(e.contains("burstt"), "{e}");
    let e = err("[costs]\nlist = 100000");
    assert!(e.contains("costs.list"), "{e}");
    let e = err("[failed_auth]\nrequests = 1\nwindow_seconds = 0");
    assert!(e.contains("failed_auth.window_seconds"), "{e}");
    let e =
        err("default = \"per-address\"\n[quotas.per-address]\nrequests = 1\nwindow_seconds = 1");
    assert!(e.contains("reserved"), "{e}");
    let e = err("max_keys = 0");
    assert!(e.contains("max_keys"), "{e}");
}

#[test]
fn rules_match_principals_roles_and_attributes_first_match_wins() {
    let limits = RateLimitConfig::default()
        .quota("guest", 60, 60, 10)
        .quota("team", 300, 60, 30)
        .quota("vip", 6000, 60, 100)
        .rule(QuotaRule::principal("vip", "Jwt:carol"))
        .rule(QuotaRule::attribute("team", "team", "search"))
        .rule(QuotaRule::role("team", "developer"))
        .default_quota("guest")
        .exempt_principal("Jwt:backup-job")
        .build()
        .unwrap();
    let name = |p: Principal| limits.quota_of(&p).map(|q| q.name().to_owned());
    let p = |s: &str| Principal::new(s, AuthMethod::Jwt);
    assert_eq!(
        name(p("carol").with_role("developer")).as_deref(),
        Some("vip")
    );
    assert_eq!(
        name(p("dan").with_attribute("team", "search")).as_deref(),
        Some("team")
    );
    assert_eq!(
        name(p("dan").with_attribute("team", "other")).as_deref(),
        Some("guest")
    );
    assert_eq!(
        name(p("erin").with_role("developer")).as_deref(),
        Some("team")
    );
    assert_eq!(name(p("backup-job").with_role("developer")), None);
}

#[tokio::test(start_paused = true)]
async fn malformed_requests_are_charged_too() {
    let service = stack(limits());
    for n in 0..10 {
        let (status, headers, _) =
            send(&service, get("/context/a/../b", "guest-token-0123456789")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            ratelimit(&headers)[0],
            format!("\"guest\";r={};t={}", 9 - n, n + 1)
        );
    }
    let (status, _, _) = send(&service, get("/context/a/../b", "guest-token-0123456789")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test(start_paused = true)]
async fn a_caller_with_nothing_left_is_refused_before_its_body_is_read() {
    /// A body that never arrives.
    struct Never;
    impl http_body::Body for Never {
        type Data = Bytes;
        type Error = std::convert::Infallible;
        fn poll_frame(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
            std::task::Poll::Pending
        }
    }
    let limits = RateLimitConfig::default()
        .quota("guest", 60, 60, 1)
        .default_quota("guest")
        .build()
        .unwrap();
    let inner = tower::service_fn(|_: Request<_>| async {
        Ok::<_, std::convert::Infallible>(Response::new(Body::default()))
    });
    let service = tower::Layer::layer(&RateLimitLayer::new(&limits), inner);
    let post = || {
        let mut request = Request::post("/mcp")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json, text/event-stream")
            .body(Never)
            .unwrap();
        request
            .extensions_mut()
            .insert(Principal::new("alice", AuthMethod::ApiKey));
        request
    };
    let get = Request::get("/context/docs/1")
        .extension(Principal::new("alice", AuthMethod::ApiKey))
        .body(Never)
        .unwrap();
    assert_eq!(
        service.clone().oneshot(get).await.unwrap().status(),
        StatusCode::OK
    );
    let answer = tokio::time::timeout(Duration::from_secs(5), service.clone().oneshot(post()))
        .await
        .expect("refused without waiting for the body")
        .unwrap();
    assert_eq!(answer.status(), StatusCode::TOO_MANY_REQUESTS);
}
