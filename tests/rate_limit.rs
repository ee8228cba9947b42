//! Rate limits over real loopback sockets, with the demo's configuration: a guest past its
//! burst gets 429 with the IETF fields while a developer does not; failed authentications
//! lock out the address; the limits hold when axum clones the service per request.

mod common;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use mcp_bastion::auth::AuthLayer;
use mcp_bastion::mcp::Endpoint;
use mcp_bastion::policy::{Policy, PolicyHandle};
use mcp_bastion::rate_limit::{RateLimitConfig, RateLimits};
use mcp_bastion::stack::Stack;

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

const DEMO_LIMITS: &str = include_str!("../examples/rate_limits.toml");
const DEMO_POLICY: &str = include_str!("../examples/policy.toml");

fn demo_limits() -> RateLimits {
    RateLimitConfig::from_toml(DEMO_LIMITS)
        .unwrap()
        .build()
        .unwrap()
}

fn demo_stack(
    limits: RateLimits,
) -> mcp_bastion::stack::StackService<
    mcp_bastion::mcp::McpService<mcp_bastion::context::StaticSource>,
> {
    Stack::new(Endpoint::default())
        .auth(AuthLayer::builder().api_keys(common::seed_keys()))
        .policy(PolicyHandle::new(Policy::from_toml(DEMO_POLICY).unwrap()))
        .rate_limits(limits)
        .serve_source(common::seed_source())
        .unwrap()
}

async fn read(client: &HttpClient, url: String, token: &str) -> (StatusCode, HeaderMap, String) {
    let request = Request::get(url)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Full::default())
        .unwrap();
    let response = client.request(request).await.expect("loopback request");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (
        parts.status,
        parts.headers,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

#[tokio::test]
async fn a_guest_is_limited_while_a_developer_is_not() {
    let server = common::spawn_service(demo_stack(demo_limits())).await;
    let client = client();
    let url = || server.url("/context/public-docs/getting-started");
    let mut guest = Vec::new();
    for _ in 0..12 {
        guest.push(read(&client, url(), "user-guest-token").await);
        let (status, headers, _) = read(&client, url(), "user-dev-token").await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            headers
                .get_all("ratelimit-policy")
                .iter()
                .any(|v| v == "\"developer\";q=600;w=60")
        );
    }
    let ok = guest.iter().filter(|(s, ..)| *s == StatusCode::OK).count();
    // A burst of 10, plus at most one unit refilled while the loop ran (1 per second).
    assert!((10..=11).contains(&ok), "{ok} guest reads passed");
    let (status, headers, body) = guest.last().unwrap();
    assert_eq!(*status, StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    let fields: Vec<_> = headers.get_all("ratelimit").iter().collect();
    assert!(
        fields
            .iter()
            .any(|v| v.to_str().unwrap().starts_with("\"guest\";r=0;t="))
    );
    assert!(body.contains("RATE_LIMITED"), "{body}");
    server.shutdown().await;
}

#[tokio::test]
async fn failed_authentications_lock_out_the_address() {
    let server = common::spawn_service(demo_stack(demo_limits())).await;
    let client = client();
    let url = || server.url("/context/public-docs/getting-started");
    for _ in 0..5 {
        let (status, headers, _) = read(&client, url(), "stolen-guess").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(
            headers[header::WWW_AUTHENTICATE]
                .to_str()
                .unwrap()
                .contains("invalid_token")
        );
    }
    let (status, headers, body) = read(&client, url(), "user-dev-token").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(headers["ratelimit-policy"], "\"failed-auth\";q=10;w=60");
    server.shutdown().await;
}

#[tokio::test]
async fn limits_hold_when_axum_clones_the_service_per_request() {
    let router = axum::Router::new().fallback_service(demo_stack(demo_limits()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    let client = client();
    let url = || format!("http://{addr}/context/public-docs/getting-started");
    let mut statuses = Vec::new();
    for _ in 0..12 {
        statuses.push(read(&client, url(), "user-guest-token").await.0);
    }
    assert!(
        statuses[..10].iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
    assert_eq!(statuses[11], StatusCode::TOO_MANY_REQUESTS, "{statuses:?}");
    server.abort();
}
