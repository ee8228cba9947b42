//! The demo stack over real loopback sockets: HTTP/1.1 requests, concurrency, a panicking
//! source, garbage on the wire, and graceful shutdown.

mod common;

use bytes::Bytes;
use http::{Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use mcp_bastion::context::{ContextEntry, ContextId, SourceRequest, source_fn};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

async fn fetch(client: &HttpClient, request: Request<Full<Bytes>>) -> (StatusCode, Value) {
    let response = client
        .request(request)
        .await
        .expect("request over loopback");
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    (status, body)
}

#[tokio::test]
async fn rest_and_mcp_over_loopback() {
    let server = common::spawn(common::seed_source()).await;
    let client = client();
    let request = Request::get(server.url("/context/project-alpha/dependency-graph"))
        .body(Full::default())
        .unwrap();
    let (status, body) = fetch(&client, request).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["content"], common::GRAPH);

    let initialize = json!({"jsonrpc":"2.0","id":1,"method":"initialize",
        "params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}});
    let request = Request::post(server.url("/mcp"))
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream")
        .body(Full::from(initialize.to_string()))
        .unwrap();
    let (status, body) = fetch(&client, request).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["result"]["protocolVersion"], "2025-11-25");

    // Many requests at once on several connections.
    let requests = (0..64).map(|i| {
        let client = client.clone();
        let path = if i % 2 == 0 {
            "/context/public-docs/getting-started"
        } else {
            "/context/missing/x"
        };
        let url = server.url(path);
        tokio::spawn(async move {
            let request = Request::get(url).body(Full::default()).unwrap();
            fetch(&client, request).await.0
        })
    });
    let statuses = futures_util::future::join_all(requests).await;
    let ok = statuses
        .iter()
        .filter(|s| *s.as_ref().unwrap() == StatusCode::OK)
        .count();
    let missing = statuses
        .iter()
        .filter(|s| *s.as_ref().unwrap() == StatusCode::NOT_FOUND)
        .count();
    assert_eq!((ok, missing), (32, 32));
    server.shutdown().await;
}

#[tokio::test]
async fn a_panicking_source_gets_500_and_the_server_keeps_serving() {
    let source = source_fn(|id: ContextId, _request: SourceRequest| async move {
        assert!(id.as_str() != "boom", "source bug");
        Ok(ContextEntry::text("note", "text", "fine"))
    });
    let server = common::spawn(source).await;
    let client = client();
    for _ in 0..3 {
        let request = Request::get(server.url("/context/boom"))
            .body(Full::default())
            .unwrap();
        let (status, body) = fetch(&client, request).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            body,
            json!({"code": "INTERNAL", "message": "internal server error"})
        );
        let request = Request::get(server.url("/context/ok"))
            .body(Full::default())
            .unwrap();
        assert_eq!(fetch(&client, request).await.0, StatusCode::OK);
    }
    server.shutdown().await;
}

#[tokio::test]
async fn garbage_on_the_wire_does_not_stop_the_server() {
    let server = common::spawn(common::seed_source()).await;
    for garbage in [
        &b"\x00\x01\x02 not http\r\n\r\n"[..],
        b"GET /context/%zz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"POST /mcp HTTP/1.1\r\nContent-Length: 999999999999999999999\r\n\r\n",
    ] {
        let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        stream.write_all(garbage).await.unwrap();
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            stream.read_to_end(&mut answer),
        )
        .await;
        let text = String::from_utf8_lossy(&answer);
        assert!(text.is_empty() || text.starts_with("HTTP/1.1 4"), "{text}");
    }
    let request = Request::get(server.url("/context/public-docs/getting-started"))
        .body(Full::default())
        .unwrap();
    assert_eq!(fetch(&client(), request).await.0, StatusCode::OK);
    server.shutdown().await;
}
