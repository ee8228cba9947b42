//! `McpClient` against this crate's own server over loopback: the demo stack (API keys, the
//! demo policy and rate limits, the seed's contexts), both HTTP versions, a guest's 403 and
//! 429, and a server that goes away and comes back.
#![cfg(feature = "client")]

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::{StatusCode, Version};
use mcp_bastion::auth::AuthLayer;
use mcp_bastion::client::mcp::Era;
use mcp_bastion::client::{
    CacheOutcome, CircuitBreakerLayer, ClientError, McpClient, McpClientBuilder, RetryLayer,
};
use mcp_bastion::mcp::Endpoint;
use mcp_bastion::policy::{Policy, PolicyHandle};
use mcp_bastion::rate_limit::RateLimitConfig;
use mcp_bastion::stack::Stack;
use tower::ServiceBuilder;

const DEMO_LIMITS: &str = include_str!("../examples/rate_limits.toml");
const DEMO_POLICY: &str = include_str!("../examples/policy.toml");

/// The demo's stack with pages of one entry (so listings need cursors); it records the HTTP
/// version of each request it serves.
async fn demo_server(versions: Arc<Mutex<Vec<Version>>>) -> common::TestServer {
    let stack = Stack::new(Endpoint::builder().page_size(1).build().unwrap())
        .auth(AuthLayer::builder().api_keys(common::seed_keys()))
        .policy(PolicyHandle::new(Policy::from_toml(DEMO_POLICY).unwrap()))
        .rate_limits(
            RateLimitConfig::from_toml(DEMO_LIMITS)
                .unwrap()
                .build()
                .unwrap(),
        )
        .serve_source(common::seed_source())
        .unwrap();
    let service = ServiceBuilder::new()
        .map_request(move |request: http::Request<_>| {
            versions.lock().unwrap().push(request.version());
            request
        })
        .service(stack);
    common::spawn_service(service).await
}

/// A client builder for `server`, sending `token`.
fn client_of(server: &common::TestServer, token: &str) -> McpClientBuilder {
    McpClient::builder(&server.url("")).bearer_token(token)
}

#[tokio::test]
async fn rest_and_mcp_through_the_demo_stack() {
    let versions = Arc::new(Mutex::new(Vec::new()));
    let server = demo_server(Arc::clone(&versions)).await;
    let client = client_of(&server, "user-dev-token").build().unwrap();

    let first = client
        .get_context("project-alpha/dependency-graph")
        .await
        .unwrap();
    assert_eq!(first.envelope.data.content, common::GRAPH);
    assert_eq!(first.envelope.version, "1.0.0");
    assert_eq!(first.etag.as_deref(), Some("\"1.0.0\""));
    assert_eq!(first.cache, Some(CacheOutcome::Miss));
    // The seed's contexts have no lifetime (max-age=0): the next read revalidates.
    let second = client
        .get_context("project-alpha/dependency-graph")
        .await
        .unwrap();
    assert_eq!(second.cache, Some(CacheOutcome::Revalidated));
    assert_eq!(second.envelope, first.envelope);
    // A selection is its own read, with its own ETag and cache entry.
    let nodes = client
        .get_context_selected("project-alpha/dependency-graph", &["/nodes"])
        .await
        .unwrap();
    assert_eq!(nodes.envelope.data.content, r#"[{"id":"A"},{"id":"B"}]"#);
    assert_eq!(
        nodes.envelope.selection.as_ref().map(|s| s.select.clone()),
        Some(vec!["/nodes".to_owned()])
    );
    assert_ne!(nodes.etag, first.etag);
    assert_eq!(nodes.cache, Some(CacheOutcome::Miss));
    let both = client
        .get_context_selected("project-alpha/dependency-graph", &["/nodes/1/id", "/edges"])
        .await
        .unwrap();
    assert_eq!(
        both.envelope.data.content,
        r#"{"/edges":[{"source":"A","target":"B"}],"/nodes/1/id":"B"}"#
    );
    let err = client
        .get_context_selected("project-alpha/dependency-graph", &["/ghost"])
        .await
        .unwrap_err();
    assert_eq!(
        err.server().map(|e| e.status),
        Some(StatusCode::BAD_REQUEST)
    );

    let all = client.list_contexts(None).await.unwrap();
    let ids: Vec<&str> = all.iter().map(|item| item.context_id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "project-alpha/dependency-graph",
            "public-docs/getting-started"
        ]
    );
    let alpha = client.list_contexts(Some("project-alpha/")).await.unwrap();
    assert_eq!(alpha.len(), 1);

    let batch = client
        .batch(&["public-docs/getting-started", "missing/context"])
        .await
        .unwrap();
    assert_eq!(
        batch[0].result.as_ref().unwrap().data.content,
        common::GETTING_STARTED
    );
    let missing = batch[1].result.as_ref().unwrap_err();
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.code.as_deref(), Some("NOT_FOUND"));

    let server_description = client.connect().await.unwrap();
    assert_eq!(server_description.era, Era::Stateless);
    assert_eq!(server_description.protocol_version, "2026-07-28");
    let resources = client.list_resources().await.unwrap();
    assert_eq!(resources.len(), 2, "two pages of one");
    let read = client.read_resource(&resources[0].uri).await.unwrap();
    assert_eq!(read.contents[0].text.as_deref(), Some(common::GRAPH));
    assert_eq!(read.other["resultType"], "complete");
    let err = client
        .read_resource("ctx://missing/context")
        .await
        .unwrap_err();
    assert_eq!(err.server().and_then(|e| e.json_rpc_code), Some(-32602));

    assert!(
        versions
            .lock()
            .unwrap()
            .iter()
            .all(|v| *v == Version::HTTP_11)
    );
}

#[tokio::test]
async fn http2_with_prior_knowledge() {
    let versions = Arc::new(Mutex::new(Vec::new()));
    let server = demo_server(Arc::clone(&versions)).await;
    let client = client_of(&server, "user-dev-token")
        .http2_only()
        .build()
        .unwrap();
    let context = client
        .get_context("public-docs/getting-started")
        .await
        .unwrap();
    assert_eq!(context.envelope.data.content, common::GETTING_STARTED);
    client.connect().await.unwrap();
    let seen = versions.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|v| *v == Version::HTTP_2), "{seen:?}");
}

#[tokio::test]
async fn a_guest_is_refused_a_private_context_and_waits_out_its_rate_limit() {
    let server = demo_server(Arc::default()).await;
    let guest = client_of(&server, "user-guest-token")
        .no_cache()
        .retry(
            RetryLayer::builder()
                .max_attempts(4)
                .max_delay(Duration::from_secs(3))
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let err = guest
        .get_context("project-alpha/dependency-graph")
        .await
        .unwrap_err();
    let refused = err.server().expect("the server's refusal");
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.code.as_deref(), Some("FORBIDDEN"));
    assert!(refused.request_id.is_some(), "{refused:?}");

    // The guest's burst is 10 (one read was spent above), then one per second: the reads past
    // it are answered 429 + Retry-After, which the client waits out, so all succeed.
    let started = Instant::now();
    for _ in 0..11 {
        guest
            .get_context("public-docs/getting-started")
            .await
            .unwrap();
    }
    assert!(started.elapsed() >= Duration::from_secs(1));

    // Without retries, the 429 is returned with its Retry-After.
    let impatient = client_of(&server, "user-guest-token")
        .no_cache()
        .no_retry()
        .build()
        .unwrap();
    let err = impatient
        .get_context("public-docs/getting-started")
        .await
        .unwrap_err();
    let limited = err.server().expect("a 429");
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        limited
            .retry_after
            .is_some_and(|after| after >= Duration::from_secs(1))
    );
}

#[tokio::test]
async fn the_breaker_opens_while_the_server_is_down_and_closes_when_it_is_back() {
    // A port with nothing behind it: connections are refused.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = McpClient::builder(&format!("http://{addr}"))
        .bearer_token("user-dev-token")
        .no_retry()
        .circuit_breaker(
            CircuitBreakerLayer::builder()
                .minimum_calls(3)
                .open_for(Duration::from_millis(200))
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    for _ in 0..3 {
        let err = client
            .get_context("public-docs/getting-started")
            .await
            .unwrap_err();
        assert!(matches!(err, ClientError::Transport(_)), "{err:?}");
    }
    let err = client
        .get_context("public-docs/getting-started")
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::CircuitOpen(_)), "{err:?}");

    // The server comes back on the same port.
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let stack = Stack::new(Endpoint::default())
        .auth(AuthLayer::builder().api_keys(common::seed_keys()))
        .policy(PolicyHandle::new(Policy::from_toml(DEMO_POLICY).unwrap()))
        .serve_source(common::seed_source())
        .unwrap();
    tokio::spawn(mcp_bastion::server::serve(
        listener,
        stack,
        std::future::pending(),
    ));
    tokio::time::sleep(Duration::from_millis(250)).await;
    let context = client
        .get_context("public-docs/getting-started")
        .await
        .unwrap();
    assert_eq!(context.envelope.data.content, common::GETTING_STARTED);
}

#[tokio::test]
async fn connect_to_reaches_the_server_under_another_name() {
    let server = demo_server(Arc::default()).await;
    // Port 1 on localhost has nothing; the URL still names the server in `Host`.
    let client = McpClient::builder("http://localhost:1")
        .connect_to(server.addr)
        .bearer_token("user-dev-token")
        .build()
        .unwrap();
    let context = client
        .get_context("public-docs/getting-started")
        .await
        .unwrap();
    assert_eq!(context.envelope.data.content, common::GETTING_STARTED);
    let refreshed = client
        .refresh_context("public-docs/getting-started")
        .await
        .unwrap();
    assert_eq!(refreshed.cache, Some(CacheOutcome::Revalidated));
}
