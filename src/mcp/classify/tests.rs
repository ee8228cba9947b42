use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};

use super::*;

fn request(method: &str, uri: &str, body: &str) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream")
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap()
}

async fn classified(
    endpoint: &Endpoint,
    request: Request<Full<Bytes>>,
) -> Result<McpRequest, (u16, String)> {
    match classify(endpoint, request).await {
        Ok(request) => Ok(request.extensions().get::<McpRequest>().cloned().unwrap()),
        Err(response) => {
            let status = response.status().as_u16();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            Err((status, String::from_utf8_lossy(&body).into_owned()))
        }
    }
}

#[tokio::test]
async fn every_operation_is_told_apart() {
    let endpoint = Endpoint::default();
    let operation = |c: McpRequest| (c.dialect, c.operation);
    let read = classified(&endpoint, request("GET", "/context/a/b", ""))
        .await
        .unwrap();
    assert_eq!(
        operation(read),
        (
            Dialect::Rest,
            Operation::ReadContext(ContextId::parse("a/b").unwrap())
        )
    );
    let head = classified(&endpoint, request("HEAD", "/context/a%2Db", ""))
        .await
        .unwrap();
    assert_eq!(
        head.operation,
        Operation::ReadContext(ContextId::parse("a-b").unwrap())
    );
    let list = classified(&endpoint, request("GET", "/context?limit=1", ""))
        .await
        .unwrap();
    assert_eq!(list.operation, Operation::ListContexts);
    let batch = classified(
        &endpoint,
        request("POST", "/context", r#"{"ids":["a","b/c"]}"#),
    )
    .await
    .unwrap();
    assert_eq!(
        batch.operation,
        Operation::BatchRead(vec!["a".into(), "b/c".into()])
    );
    let rpc = classified(
        &endpoint,
        request(
            "POST",
            "/mcp",
            r#"{"jsonrpc":"2.0","id":1,"method":"resources/list"}"#,
        ),
    )
    .await
    .unwrap();
    assert_eq!(rpc.dialect, Dialect::JsonRpc);
    assert_eq!(rpc.rpc().unwrap().messages.len(), 1);
    for method in ["GET", "DELETE"] {
        let transport = classified(&endpoint, request(method, "/mcp", ""))
            .await
            .unwrap();
        assert_eq!(transport.operation, Operation::McpTransport);
    }
    let other = classified(&endpoint, request("GET", "/elsewhere", ""))
        .await
        .unwrap();
    assert_eq!(operation(other), (Dialect::Other, Operation::Other));
    let mut grpc = request("POST", "/ctx.v1.Contexts/Get", "");
    grpc.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    let grpc = classified(&endpoint, grpc).await.unwrap();
    assert_eq!(operation(grpc), (Dialect::Grpc, Operation::Grpc));
}

#[tokio::test]
async fn refusals_come_in_the_dialect_of_the_request() {
    let endpoint = Endpoint::default();
    let cases = [
        (
            request("GET", "/context/a/%2e%2e/b", ""),
            400,
            "BAD_REQUEST",
        ),
        (request("PUT", "/context/a", ""), 405, "METHOD_NOT_ALLOWED"),
        (request("DELETE", "/context", ""), 405, "METHOD_NOT_ALLOWED"),
        (
            request("POST", "/context", r#"{"ids":[]}"#),
            400,
            "1 to 100 ids",
        ),
        (
            request("POST", "/context", r#"{"ids":["a"],"x":1}"#),
            400,
            "must be",
        ),
        (
            request("POST", "/context", r#"{"ids":"#),
            400,
            "not valid JSON",
        ),
        (request("POST", "/mcp", r#"{"jsonrpc":"#), 400, "-32700"),
        (
            request("POST", "/mcp", &"x".repeat(2 * 1024 * 1024)),
            413,
            "-32600",
        ),
    ];
    for (request, status, needle) in cases {
        let uri = request.uri().clone();
        let (seen, body) = classified(&endpoint, request).await.unwrap_err();
        assert_eq!(seen, status, "{uri}: {body}");
        assert!(body.contains(needle), "{uri}: {body}");
    }
    let mut text = request("POST", "/context", "{}");
    text.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    assert_eq!(classified(&endpoint, text).await.unwrap_err().0, 415);
    let mut no_accept = request("POST", "/mcp", "{}");
    no_accept.headers_mut().remove(header::ACCEPT);
    let (status, body) = classified(&endpoint, no_accept).await.unwrap_err();
    assert_eq!(status, 406);
    assert!(body.contains("jsonrpc"), "{body}");
}

#[tokio::test]
async fn hosts_and_origins_are_checked_on_every_path() {
    let endpoint = Endpoint::default();
    for (name, value) in [("host", "evil.example"), ("origin", "http://evil.example")] {
        for path in ["/mcp", "/context/a"] {
            let mut bad = request("GET", path, "");
            bad.headers_mut()
                .insert(name, HeaderValue::from_static(value));
            let (status, body) = classified(&endpoint, bad).await.unwrap_err();
            assert_eq!(status, 403, "{name} on {path}: {body}");
        }
    }
    let mut two_hosts = request("GET", "/context/a", "");
    two_hosts
        .headers_mut()
        .append(header::HOST, HeaderValue::from_static("127.0.0.1"));
    two_hosts
        .headers_mut()
        .append(header::HOST, HeaderValue::from_static("evil.example"));
    assert_eq!(classified(&endpoint, two_hosts).await.unwrap_err().0, 400);
    let mut absolute = request("GET", "http://evil.example/context/a", "");
    absolute
        .headers_mut()
        .insert(header::HOST, HeaderValue::from_static("127.0.0.1"));
    assert_eq!(classified(&endpoint, absolute).await.unwrap_err().0, 403);
    // Other paths behind the layers (a handler of yours under `Stack::mount`) are defended
    // the same way; an allowed host passes.
    let mut elsewhere = request("GET", "/whoami", "");
    elsewhere
        .headers_mut()
        .insert(header::HOST, HeaderValue::from_static("evil.example"));
    assert_eq!(classified(&endpoint, elsewhere).await.unwrap_err().0, 403);
    let mut allowed = request("GET", "/whoami", "");
    allowed
        .headers_mut()
        .insert(header::HOST, HeaderValue::from_static("127.0.0.1"));
    assert!(classified(&endpoint, allowed).await.is_ok());
}

#[tokio::test]
async fn custom_paths_and_an_existing_classification_are_used() {
    let endpoint = Endpoint::builder()
        .mcp_path("/rpc")
        .rest_prefix("/docs")
        .build()
        .unwrap();
    let read = classified(&endpoint, request("GET", "/docs/a", ""))
        .await
        .unwrap();
    assert_eq!(
        read.operation,
        Operation::ReadContext(ContextId::parse("a").unwrap())
    );
    let old = classified(&endpoint, request("GET", "/context/a", ""))
        .await
        .unwrap();
    assert_eq!(old.operation, Operation::Other);
    // A request a layer in front classified is not classified (nor its body read) again.
    let mut request = request("POST", "/rpc", "not json");
    request.extensions_mut().insert(McpRequest {
        dialect: Dialect::Rest,
        operation: Operation::ListContexts,
    });
    let kept = classified(&endpoint, request).await.unwrap();
    assert_eq!(kept.operation, Operation::ListContexts);
}
