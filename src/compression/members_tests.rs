//! Request bodies of several gzip members (RFC 1952 §2.2), in both dialects.

use bytes::Bytes;
use http::{Request, StatusCode, header};
use http_body_util::Full;
use serde_json::Value;

use super::CompressionConfig;
use super::tests::{TOKEN, read_request, rpc, send, stack};
use crate::client_addr::ClientAddr;

type Body = Full<Bytes>;

/// One gzip member of `bytes`, however short.
async fn gzip(bytes: &[u8]) -> Bytes {
    crate::coding::encode(
        crate::coding::Coding::Gzip,
        crate::compression::CompressionLevel::Default,
        bytes,
    )
    .await
}

/// `text` split in three and each part gzipped on its own: a body of three gzip members.
async fn gzip_members(text: &str) -> Bytes {
    let (a, rest) = text.split_at(text.len() / 3);
    let (b, c) = rest.split_at(rest.len() / 2);
    let mut body = Vec::new();
    for part in [a, b, c] {
        body.extend_from_slice(&gzip(part.as_bytes()).await);
    }
    Bytes::from(body)
}

#[tokio::test]
async fn gzip_bodies_of_several_members_are_decoded_whole_in_both_dialects() {
    let service = stack(CompressionConfig::default(), false);
    // JSON-RPC: only the last member closes the object; the first alone is no request.
    let read = read_request("docs/small");
    let body = gzip_members(&read).await;
    let first_member_only = gzip(&read.as_bytes()[..read.len() / 3]).await;
    assert!(body.starts_with(&first_member_only));
    let response = send(&service, rpc(body, Some("gzip"))).await;
    assert_eq!(response.status(), StatusCode::OK);
    let json: Value = serde_json::from_slice(response.body()).unwrap();
    assert_eq!(json["result"]["contents"][0]["text"], "hello", "{json}");
    // REST batch read.
    let batch = r#"{"ids":["docs/small","docs/page-01"]}"#;
    let mut request = Request::post("/context")
        .header(header::AUTHORIZATION, TOKEN)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_ENCODING, "gzip")
        .body(Body::new(gzip_members(batch).await))
        .unwrap();
    request
        .extensions_mut()
        .insert(ClientAddr("192.0.2.8:4000".parse().unwrap()));
    let response = send(&service, request).await;
    assert_eq!(response.status(), StatusCode::OK);
    let text = String::from_utf8(response.body().to_vec()).unwrap();
    assert!(
        text.contains("docs/small") && text.contains("docs/page-01"),
        "{text}"
    );
    // Garbage after a good member is refused, never ignored.
    let mut trailing = gzip(read.as_bytes()).await.to_vec();
    trailing.extend_from_slice(b"trailing garbage");
    let response = send(&service, rpc(Bytes::from(trailing), Some("gzip"))).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let json: Value = serde_json::from_slice(response.body()).unwrap();
    assert_eq!(json["jsonrpc"], "2.0");
    // The decoded limit counts every member: 70 members of 1 KiB each pass 64 KiB.
    let mut many = Vec::new();
    for _ in 0..70 {
        many.extend_from_slice(&gzip(&[b' '; 1024]).await);
    }
    let response = send(&service, rpc(Bytes::from(many), Some("gzip"))).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
}
