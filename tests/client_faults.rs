//! `McpClient` against a fault-injecting loopback server: a scripted HTTP/1.1 server that
//! answers each request with the next reply of its script (statuses, `Retry-After`, `304`,
//! garbage, truncated and endless bodies) and records what it was sent.

#![cfg(feature = "client")]

mod common;

use std::time::Duration;

use http::StatusCode;
use mcp_bastion::client::{
    CacheOutcome, CircuitBreakerLayer, ClientCacheLayer, ClientError, McpClient, RetryLayer,
};
use serde_json::json;

use common::faults::{FaultServer, JSON, envelope, ok, reply, unavailable};

/// Quick retries (real time: the socket is real), no cache unless a test adds one.
fn builder(url: &str) -> mcp_bastion::client::McpClientBuilder {
    McpClient::builder(url)
        .retry(
            RetryLayer::builder()
                .base_delay(Duration::from_millis(20))
                .build()
                .unwrap(),
        )
        .no_circuit_breaker()
        .no_cache()
        .timeout(Duration::from_secs(10))
}

#[tokio::test]
async fn two_503s_then_a_200_succeed_after_two_retries() {
    let server = FaultServer::start(vec![unavailable(), unavailable(), ok("third time")]).await;
    let client = builder(&server.url()).build().unwrap();
    let context = client.get_context("docs/a").await.unwrap();
    assert_eq!(context.envelope.data.content, "third time");
    assert_eq!(context.etag.as_deref(), Some("\"v1\""));
    let seen = server.seen();
    assert_eq!(seen.len(), 3);
    assert!(
        seen.iter()
            .all(|s| s.head.starts_with("GET /context/docs/a "))
    );
}

#[tokio::test]
async fn a_400_is_returned_at_once_with_its_envelope_decoded() {
    let server = FaultServer::start(vec![reply(
        400,
        &[JSON, ("x-request-id", "header-id")],
        r#"{"code":"BAD_REQUEST","message":"invalid context id","details":{"id":".."},"requestId":"body-id"}"#,
    )])
    .await;
    server.otherwise(ok("never"));
    let client = builder(&server.url()).build().unwrap();
    let err = client.get_context("bad").await.unwrap_err();
    let ClientError::Server(refused) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(refused.code.as_deref(), Some("BAD_REQUEST"));
    assert_eq!(refused.message, "invalid context id");
    assert_eq!(refused.request_id.as_deref(), Some("body-id"));
    assert_eq!(refused.details, Some(json!({"id":".."})));
    assert_eq!(server.seen().len(), 1, "a 400 is never retried");
}

#[tokio::test]
async fn retry_after_is_waited_for() {
    let server = FaultServer::start(vec![
        reply(
            429,
            &[JSON, ("retry-after", "1")],
            r#"{"code":"RATE_LIMITED","message":"slow down"}"#,
        ),
        ok("after the wait"),
    ])
    .await;
    let client = builder(&server.url()).build().unwrap();
    let context = client.get_context("docs/a").await.unwrap();
    assert_eq!(context.envelope.data.content, "after the wait");
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    let waited = seen[1].at - seen[0].at;
    assert!(waited >= Duration::from_secs(1), "waited only {waited:?}");

    // Without retries the 429 comes back with its Retry-After decoded.
    let server = FaultServer::start(vec![reply(
        429,
        &[JSON, ("retry-after", "7")],
        r#"{"code":"RATE_LIMITED","message":"slow down"}"#,
    )])
    .await;
    let client = builder(&server.url()).no_retry().build().unwrap();
    let err = client.get_context("docs/a").await.unwrap_err();
    let refused = err.server().expect("the server's error");
    assert_eq!(refused.retry_after, Some(Duration::from_secs(7)));
    assert_eq!(refused.code.as_deref(), Some("RATE_LIMITED"));
}

#[tokio::test]
async fn a_non_idempotent_post_is_not_retried() {
    // `initialize` opens a session: not idempotent. The server does not know server/discover
    // (404 -32601), then fails the initialize with a 503: one initialize, no retry.
    let server = FaultServer::start(vec![
        reply(
            404,
            &[JSON],
            r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"Method not found"}}"#,
        ),
        unavailable(),
    ])
    .await;
    server.otherwise(unavailable());
    let client = builder(&server.url()).build().unwrap();
    let err = client.connect().await.unwrap_err();
    assert_eq!(
        err.server().map(|e| e.status),
        Some(StatusCode::SERVICE_UNAVAILABLE)
    );
    let seen = server.seen();
    let initializes = seen
        .iter()
        .filter(|s| s.body.contains("\"initialize\""))
        .count();
    assert_eq!(initializes, 1, "{seen:#?}");
}

#[tokio::test]
async fn the_retry_budget_stops_a_retry_storm() {
    let server = FaultServer::start(Vec::new()).await;
    server.otherwise(unavailable());
    let retry = RetryLayer::builder()
        .max_attempts(5)
        .base_delay(Duration::from_millis(1))
        .max_delay(Duration::from_millis(2))
        // No refill per second and 10% of the calls: a storm of retries is cut short.
        .budget(Duration::from_secs(10), 0, 0.1)
        .build()
        .unwrap();
    let client = builder(&server.url()).retry(retry).build().unwrap();
    for _ in 0..40 {
        assert!(client.get_context("docs/a").await.is_err());
    }
    let sent = server.seen().len();
    // Without a budget: 40 × 5 = 200 requests.
    assert!(
        sent <= 40 + 4 + 10,
        "{sent} requests reached the failing server"
    );
}

#[tokio::test]
async fn the_breaker_opens_fails_fast_half_opens_and_closes() {
    let server = FaultServer::start(Vec::new()).await;
    server.otherwise(unavailable());
    let breaker = CircuitBreakerLayer::builder()
        .minimum_calls(4)
        .failure_ratio(0.5)
        .open_for(Duration::from_millis(300))
        .build()
        .unwrap();
    let client = builder(&server.url())
        .no_retry()
        .circuit_breaker(breaker)
        .build()
        .unwrap();
    for _ in 0..4 {
        let err = client.get_context("docs/a").await.unwrap_err();
        assert!(matches!(err, ClientError::Server(_)), "{err:?}");
    }
    let err = client.get_context("docs/a").await.unwrap_err();
    let ClientError::CircuitOpen(open) = &err else {
        panic!("{err:?}")
    };
    assert!(open.retry_in() <= Duration::from_millis(300));
    assert_eq!(server.seen().len(), 4, "an open circuit sends nothing");

    // The server recovers; after the open period a probe goes through and closes it.
    server.otherwise(ok("back"));
    tokio::time::sleep(Duration::from_millis(350)).await;
    let context = client.get_context("docs/a").await.unwrap();
    assert_eq!(context.envelope.data.content, "back");
    for _ in 0..3 {
        client.get_context("docs/a").await.unwrap();
    }
    assert_eq!(server.seen().len(), 8);
}

#[tokio::test]
async fn a_304_reuses_the_stored_body() {
    let stale = reply(
        200,
        &[
            JSON,
            ("etag", "\"v1\""),
            ("cache-control", "private, max-age=0"),
        ],
        &envelope("kept"),
    );
    let not_modified = reply(
        304,
        &[("etag", "\"v1\""), ("cache-control", "private, max-age=60")],
        "",
    );
    let server = FaultServer::start(vec![stale, not_modified]).await;
    let client = builder(&server.url())
        .cache(ClientCacheLayer::builder().build().unwrap())
        .build()
        .unwrap();
    let first = client.get_context("docs/a").await.unwrap();
    assert_eq!(first.cache, Some(CacheOutcome::Miss));
    let second = client.get_context("docs/a").await.unwrap();
    assert_eq!(second.cache, Some(CacheOutcome::Revalidated));
    assert_eq!(second.envelope.data.content, "kept");
    // The 304 renewed it for 60 s: the third read sends nothing.
    let third = client.get_context("docs/a").await.unwrap();
    assert_eq!(third.cache, Some(CacheOutcome::Fresh));
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1].header("if-none-match").as_deref(), Some("\"v1\""));
}

#[tokio::test]
async fn two_credentials_never_share_a_private_entry() {
    let private = |who: &str| {
        reply(
            200,
            &[
                JSON,
                ("etag", "\"v1\""),
                ("cache-control", "private, max-age=60"),
            ],
            &envelope(who),
        )
    };
    let server = FaultServer::start(vec![private("alice's"), private("bob's")]).await;
    let cache = ClientCacheLayer::builder().build().unwrap();
    let alice = builder(&server.url())
        .cache(cache.clone())
        .bearer_token("alice-token")
        .build()
        .unwrap();
    let bob = builder(&server.url())
        .cache(cache)
        .bearer_token("bob-token")
        .build()
        .unwrap();
    assert_eq!(
        alice
            .get_context("docs/a")
            .await
            .unwrap()
            .envelope
            .data
            .content,
        "alice's"
    );
    let answer = bob.get_context("docs/a").await.unwrap();
    assert_eq!(answer.envelope.data.content, "bob's");
    assert_eq!(answer.cache, Some(CacheOutcome::Miss));
    let again = alice.get_context("docs/a").await.unwrap();
    assert_eq!(
        (again.envelope.data.content.as_ref(), again.cache),
        ("alice's", Some(CacheOutcome::Fresh))
    );
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        seen[0].header("authorization").as_deref(),
        Some("Bearer alice-token")
    );
    assert_eq!(
        seen[1].header("authorization").as_deref(),
        Some("Bearer bob-token")
    );
}
