//! `McpClient` against a hostile server and a careless caller: listings that never end,
//! handshakes that eat the deadline, waits longer than the deadline, ids that try to leave the
//! REST prefix, odd statuses and ids, redirects. Each ends in bounded time and memory with a
//! typed error, never a panic, and sends nothing the caller did not mean to send.
#![cfg(feature = "client")]

mod common;

use std::time::{Duration, Instant};

use http::StatusCode;
use mcp_bastion::client::{ClientError, McpClient, McpClientBuilder, RetryLayer};
use serde_json::json;

use common::faults::{FaultServer, JSON, Reply, envelope, ok, reply, slow};

fn builder(server: &FaultServer) -> McpClientBuilder {
    McpClient::builder(&server.url())
        .no_retry()
        .no_circuit_breaker()
        .no_cache()
        .timeout(Duration::from_secs(2))
}

fn json_reply(value: &serde_json::Value) -> Reply {
    reply(200, &[JSON], &value.to_string())
}

fn discover_ok() -> Reply {
    json_reply(&json!({"jsonrpc":"2.0","id":1,
        "result":{"supportedVersions":["2026-07-28"],"capabilities":{"resources":{}}}}))
}

#[tokio::test]
async fn a_listing_of_empty_pages_with_fresh_cursors_ends() {
    // A page holds nothing, and names a new cursor each time: without a bound on the pages,
    // the client lists forever (and remembers every cursor).
    let pages = (0..50)
        .map(|n| json_reply(&json!({"items":[],"nextCursor":format!("c{n}")})))
        .collect();
    let server = FaultServer::start(pages).await;
    let client = builder(&server).max_list_items(10).build().unwrap();
    let err = client.list_contexts(None).await.unwrap_err();
    assert!(
        matches!(err, ClientError::InvalidResponse { .. }),
        "{err:?}"
    );
    assert!(server.seen().len() <= 11, "{} pages", server.seen().len());

    let mut script = vec![discover_ok()];
    script.extend((0..50).map(|n| {
        json_reply(&json!({"jsonrpc":"2.0","id":n + 2,
            "result":{"resources":[],"nextCursor":format!("c{n}")}}))
    }));
    let server = FaultServer::start(script).await;
    let client = builder(&server).max_list_items(10).build().unwrap();
    let err = client.list_resources().await.unwrap_err();
    assert!(
        matches!(err, ClientError::InvalidResponse { .. }),
        "{err:?}"
    );
    assert!(
        server.seen().len() <= 12,
        "{} requests",
        server.seen().len()
    );
}

#[tokio::test]
async fn the_handshake_keeps_to_the_call_deadline() {
    // Each answer comes within the deadline, but the three of the handshake do not.
    let wait = Duration::from_millis(800);
    let server = FaultServer::start(vec![
        slow(
            wait,
            reply(
                404,
                &[JSON],
                r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"no"}}"#,
            ),
        ),
        slow(
            wait,
            json_reply(&json!({"jsonrpc":"2.0","id":2,
                "result":{"protocolVersion":"2025-06-18","capabilities":{}}})),
        ),
        slow(wait, reply(202, &[], "")),
    ])
    .await;
    let client = builder(&server)
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let started = Instant::now();
    let err = client.connect().await.unwrap_err();
    assert!(matches!(err, ClientError::Timeout), "{err:?}");
    assert!(started.elapsed() < Duration::from_millis(1500));

    // Callers queued behind a handshake that never finishes wait no longer than their own
    // deadline, not one deadline per caller before them.
    let server = FaultServer::start(Vec::new()).await;
    server.otherwise(Reply::Endless);
    let client = builder(&server)
        .timeout(Duration::from_secs(1))
        .max_response_bytes(64 * 1024 * 1024)
        .build()
        .unwrap();
    let started = Instant::now();
    let calls = (0..3).map(|_| {
        let client = client.clone();
        tokio::spawn(async move { client.read_resource("ctx://docs/a").await })
    });
    for call in calls.collect::<Vec<_>>() {
        let err = call.await.unwrap().unwrap_err();
        assert!(matches!(err, ClientError::Timeout), "{err:?}");
    }
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_millis(1500), "{elapsed:?}");
}

#[tokio::test]
async fn a_wait_longer_than_the_deadline_returns_the_answer_at_once() {
    // Retry-After 5 s is within the retry layer's maximum, but not within the call's 1 s: the
    // caller gets the 503 and its Retry-After now, not a timeout after a pointless sleep.
    let server = FaultServer::start(vec![reply(
        503,
        &[JSON, ("retry-after", "5")],
        r#"{"code":"UNAVAILABLE","message":"later"}"#,
    )])
    .await;
    server.otherwise(ok("never"));
    let client = builder(&server)
        .retry(RetryLayer::builder().build().unwrap())
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let started = Instant::now();
    let err = client.get_context("docs/a").await.unwrap_err();
    let refused = err.server().unwrap_or_else(|| panic!("{err:?}"));
    assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(refused.retry_after, Some(Duration::from_secs(5)));
    assert!(started.elapsed() < Duration::from_millis(500));
    assert_eq!(server.seen().len(), 1);
}

#[tokio::test]
async fn ids_cannot_leave_the_rest_prefix_or_inject_into_the_request_line() {
    let server = FaultServer::start(Vec::new()).await;
    server.otherwise(ok("x"));
    let client = builder(&server).build().unwrap();
    // Dot segments: a proxy or server that normalises the path would resolve them.
    for id in [
        "..",
        "../admin/secrets",
        "docs/../../metrics",
        "docs/./a",
        ".",
    ] {
        let err = client.get_context(id).await.unwrap_err();
        assert!(
            matches!(err, ClientError::InvalidRequest(_)),
            "{id}: {err:?}"
        );
    }
    assert_eq!(server.seen().len(), 0, "{:#?}", server.seen());

    // Everything else is percent-encoded into one path segment each.
    for (id, path) in [
        ("a?b#c", "/context/a%3Fb%23c"),
        ("a%2Fb", "/context/a%252Fb"),
        ("a b\r\nX-Admin: 1", "/context/a%20b%0D%0AX-Admin%3A%201"),
        ("dé", "/context/d%C3%A9"),
        ("...", "/context/..."),
    ] {
        client.get_context(id).await.unwrap();
        let seen = server.seen();
        let line = seen.last().unwrap().head.lines().next().unwrap().to_owned();
        assert_eq!(line, format!("GET {path} HTTP/1.1"), "{id:?}");
        assert_eq!(seen.last().unwrap().header("x-admin"), None);
    }
}

#[tokio::test]
async fn odd_statuses_ids_and_retry_afters_give_errors_not_panics() {
    for status in [199, 204, 299, 304, 399, 600, 999] {
        let server = FaultServer::start(Vec::new()).await;
        server.otherwise(reply(status, &[JSON, ("retry-after", "x")], "{}"));
        let client = builder(&server).build().unwrap();
        assert!(client.get_context("docs/a").await.is_err(), "{status}");
        assert!(client.list_contexts(None).await.is_err(), "{status}");
        assert!(client.batch(&["docs/a"]).await.is_err(), "{status}");
        assert!(
            client.read_resource("ctx://docs/a").await.is_err(),
            "{status}"
        );
    }
    for after in [
        "99999999999999999999",
        "18446744073709551615",
        "-1",
        "Fri, 31 Dec 9999 23:59:59 GMT",
        "Thu, 01 Jan 1970 00:00:00 GMT",
    ] {
        let server = FaultServer::start(Vec::new()).await;
        server.otherwise(reply(429, &[JSON, ("retry-after", after)], "{}"));
        let client = builder(&server)
            .retry(RetryLayer::builder().build().unwrap())
            .build()
            .unwrap();
        let err = client.get_context("docs/a").await.unwrap_err();
        assert!(err.server().is_some(), "{after}: {err:?}");
        let _ = err.to_string();
    }
    for id in [
        json!("2"),
        json!(2.0),
        json!(18_446_744_073_709_551_615_u64),
        json!(-2),
        json!([2]),
    ] {
        let server = FaultServer::start(vec![
            discover_ok(),
            json_reply(&json!({"jsonrpc":"2.0","id":id,"result":{"resources":[]}})),
        ])
        .await;
        let err = builder(&server)
            .build()
            .unwrap()
            .list_resources()
            .await
            .unwrap_err();
        assert!(
            matches!(err, ClientError::InvalidResponse { .. }),
            "{id}: {err:?}"
        );
    }
    for results in [
        json!([]),
        json!([{"contextId":"docs/a","status":0}]),
        json!([{"contextId":"docs/a","status":200}]),
        json!([{"contextId":"docs/a","status":404,"context":{}}]),
        json!([{"contextId":"docs/a","status":70000}]),
        json!([{"contextId":"docs/b","status":200,"context":serde_json::from_str::<serde_json::Value>(&envelope("b")).unwrap()}]),
    ] {
        let server = FaultServer::start(vec![json_reply(&json!({ "results": results }))]).await;
        let err = builder(&server)
            .build()
            .unwrap()
            .batch(&["docs/a"])
            .await
            .unwrap_err();
        assert!(
            matches!(err, ClientError::InvalidResponse { .. }),
            "{results}: {err:?}"
        );
    }
}

#[tokio::test]
async fn a_redirect_is_not_followed() {
    let server = FaultServer::start(vec![reply(
        307,
        &[("location", "http://attacker.invalid/steal")],
        "",
    )])
    .await;
    let client = builder(&server)
        .bearer_token("s3cr3t-token")
        .build()
        .unwrap();
    let err = client.get_context("docs/a").await.unwrap_err();
    assert_eq!(
        err.server().map(|e| e.status),
        Some(StatusCode::TEMPORARY_REDIRECT)
    );
    assert_eq!(server.seen().len(), 1);
    assert!(!format!("{err} {err:?}").contains("s3cr3t"));
}
