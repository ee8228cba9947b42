//! `McpClient` against servers that answer garbage: non-JSON, truncated, the wrong content
//! type, too large, endless or stalled bodies, forged JSON-RPC answers. Each gives a typed
//! error within bounded memory and time, never a panic. And a stateful (2025) MCP server that
//! answers over an event stream, scripted.
#![cfg(feature = "client")]

mod common;

use std::time::Duration;

use http::StatusCode;
use mcp_bastion::client::mcp::Era;
use mcp_bastion::client::{ClientError, McpClient};

use common::faults::{FaultServer, JSON, Reply, envelope, reply};

fn client(server: &FaultServer) -> McpClient {
    McpClient::builder(&server.url())
        .no_retry()
        .no_circuit_breaker()
        .max_response_bytes(64 * 1024)
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap()
}

async fn error_for(reply: Reply) -> ClientError {
    let server = FaultServer::start(vec![reply]).await;
    client(&server).get_context("docs/a").await.unwrap_err()
}

#[tokio::test]
async fn non_json_and_the_wrong_shape_are_invalid_responses() {
    for (headers, body) in [
        (&[JSON][..], "this is not json"),
        (&[JSON][..], r#"{"contextId":"docs/a"}"#),
        (&[JSON][..], "[1,2,3]"),
        (
            &[("content-type", "text/html")][..],
            &envelope("html?") as &str,
        ),
        (&[][..], &envelope("no type") as &str),
    ] {
        let err = error_for(reply(200, headers, body)).await;
        assert!(
            matches!(
                err,
                ClientError::InvalidResponse {
                    status: StatusCode::OK,
                    ..
                }
            ),
            "{body}: {err:?}"
        );
        // The message is printable and bounded.
        assert!(err.to_string().len() < 600);
    }
}

#[tokio::test]
async fn a_truncated_body_is_a_transport_error() {
    let raw = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n{\"contextId\":";
    let err = error_for(Reply::Raw(raw.as_bytes().to_vec())).await;
    assert!(matches!(err, ClientError::Transport(_)), "{err:?}");
    // Through the cache (which keeps answers with a Content-Length), the same.
    let server = FaultServer::start(vec![Reply::Raw(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncache-control: max-age=60\r\ncontent-length: 500\r\n\r\n{}"
            .as_bytes()
            .to_vec(),
    )])
    .await;
    let cached = McpClient::builder(&server.url())
        .no_retry()
        .build()
        .unwrap();
    let err = cached.get_context("docs/a").await.unwrap_err();
    assert!(matches!(err, ClientError::Transport(_)), "{err:?}");
}

#[tokio::test]
async fn answers_over_the_limit_are_refused_unread() {
    // Announced too large: refused on its headers.
    let big = "x".repeat(100 * 1024);
    let err = error_for(reply(200, &[JSON], &big)).await;
    assert!(
        matches!(err, ClientError::TooLarge { limit: 65_536 }),
        "{err:?}"
    );
    // An endless chunked body: cut at the limit.
    let err = error_for(Reply::Endless).await;
    assert!(matches!(err, ClientError::TooLarge { .. }), "{err:?}");
}

#[tokio::test]
async fn a_stalled_body_ends_at_the_deadline() {
    let raw = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 10\r\n\r\n{";
    // Scripted replies close their connection; a stall needs one that stays open: a listener
    // of its own that writes half an answer and waits.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut buffer = [0u8; 4096];
        let _ = stream.read(&mut buffer).await;
        let _ = stream.write_all(raw.as_bytes()).await;
        tokio::time::sleep(Duration::from_secs(30)).await;
    });
    let client = McpClient::builder(&format!("http://{addr}"))
        .no_retry()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let err = client.get_context("docs/a").await.unwrap_err();
    assert!(matches!(err, ClientError::Timeout), "{err:?}");
}

#[tokio::test]
async fn an_error_page_that_is_not_an_envelope_keeps_the_status() {
    let err = error_for(reply(
        502,
        &[("content-type", "text/html"), ("retry-after", "garbage")],
        "<html>bad gateway</html>",
    ))
    .await;
    let refused = err.server().expect("a server error");
    assert_eq!(refused.status, StatusCode::BAD_GATEWAY);
    assert_eq!(refused.code, None);
    assert_eq!(refused.message, "Bad Gateway");
    assert_eq!(refused.retry_after, None);
}

#[tokio::test]
async fn a_hostile_error_message_cannot_forge_a_log_line() {
    let message = format!("denied\n2026-01-01 INFO forged line{}", "x".repeat(10_000));
    let body = serde_json::json!({"code":"FORBIDDEN","message":message}).to_string();
    let err = error_for(reply(403, &[JSON], &body)).await;
    let shown = err.to_string();
    assert!(!shown.contains('\n'), "{shown}");
    assert!(shown.len() < 1024);
    // The decoded value is still the server's, for a program to read.
    assert_eq!(err.server().unwrap().message, message);
}

#[tokio::test]
async fn mcp_answers_to_other_calls_or_without_a_result_are_refused() {
    let discover_ok = |id: u64| {
        reply(
            200,
            &[JSON],
            &serde_json::json!({"jsonrpc":"2.0","id":id,
                "result":{"supportedVersions":["2026-07-28"],"capabilities":{"resources":{}}}})
            .to_string(),
        )
    };
    for answer in [
        r#"{"jsonrpc":"2.0","id":999,"result":{"resources":[]}}"#,
        r#"{"jsonrpc":"2.0","id":2}"#,
        r#"{"jsonrpc":"1.0","id":2,"result":{"resources":[]}}"#,
        r#"{"jsonrpc":"2.0","id":2,"result":{"resources":"nope"}}"#,
        "not json at all",
    ] {
        let server = FaultServer::start(vec![discover_ok(1), reply(200, &[JSON], answer)]).await;
        let err = client(&server).list_resources().await.unwrap_err();
        assert!(
            matches!(err, ClientError::InvalidResponse { .. }),
            "{answer}: {err:?}"
        );
    }
}

#[tokio::test]
async fn a_stateful_server_is_initialized_and_read_over_an_event_stream() {
    let sse = |body: &str| {
        reply(
            200,
            &[
                ("content-type", "text/event-stream"),
                ("mcp-session-id", "session-7"),
            ],
            &format!(": keep-alive\n\nevent: message\ndata: {body}\n\n"),
        )
    };
    let server = FaultServer::start(vec![
        // server/discover is not spoken: a 2025 server refuses the unknown version.
        reply(
            400,
            &[JSON],
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Bad Request: Unsupported protocol version"}}"#,
        ),
        sse(r#"{"jsonrpc":"2.0","id":2,"result":{"protocolVersion":"2025-06-18","capabilities":{"resources":{}},"serverInfo":{"name":"old","version":"1"}}}"#),
        reply(202, &[], ""),
        // A notification first, then the answer, over one stream.
        sse(&format!(
            "{}\n\ndata: {}",
            r#"{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"hi"}}"#,
            r#"{"jsonrpc":"2.0","id":3,"result":{"resources":[{"uri":"ctx://docs/a","name":"docs/a"}],"nextCursor":"c1"}}"#
        )),
        sse(r#"{"jsonrpc":"2.0","id":4,"result":{"resources":[{"uri":"ctx://docs/b","name":"docs/b"}]}}"#),
        sse(r##"{"jsonrpc":"2.0","id":5,"result":{"contents":[{"uri":"ctx://docs/a","mimeType":"text/markdown","text":"# A"}]}}"##),
    ])
    .await;
    let client = client(&server);
    let description = client.connect().await.unwrap();
    assert_eq!(
        description.era,
        Era::Initialized {
            version: "2025-06-18".into(),
            session_id: Some("session-7".into())
        }
    );
    let resources = client.list_resources().await.unwrap();
    let uris: Vec<&str> = resources.iter().map(|r| r.uri.as_str()).collect();
    assert_eq!(uris, ["ctx://docs/a", "ctx://docs/b"]);
    let read = client.read_resource("ctx://docs/a").await.unwrap();
    assert_eq!(read.contents[0].text.as_deref(), Some("# A"));

    let seen = server.seen();
    assert_eq!(seen.len(), 6);
    assert_eq!(
        seen[0].header("mcp-protocol-version").as_deref(),
        Some("2026-07-28")
    );
    assert!(seen[1].body.contains("\"initialize\""));
    assert!(seen[2].body.contains("notifications/initialized"));
    for later in &seen[2..] {
        assert_eq!(later.header("mcp-session-id").as_deref(), Some("session-7"));
        assert_eq!(
            later.header("mcp-protocol-version").as_deref(),
            Some("2025-06-18")
        );
        assert_eq!(later.header("mcp-method"), None);
    }
    assert!(seen[4].body.contains(r#""cursor":"c1""#));
}

#[tokio::test]
async fn a_forged_session_id_or_version_is_refused() {
    for (session, version) in [("bad id with spaces", "2025-06-18"), ("ok", "1999-01-01")] {
        let server = FaultServer::start(vec![
            reply(404, &[JSON], r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"no"}}"#),
            reply(
                200,
                &[JSON, ("mcp-session-id", session)],
                &format!(r#"{{"jsonrpc":"2.0","id":2,"result":{{"protocolVersion":"{version}","capabilities":{{}}}}}}"#),
            ),
        ])
        .await;
        let err = client(&server).connect().await.unwrap_err();
        assert!(
            matches!(err, ClientError::InvalidResponse { .. }),
            "{session}: {err:?}"
        );
    }
}
