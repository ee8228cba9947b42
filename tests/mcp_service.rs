//! `McpService` behind `ErrorEnvelopeLayer`, driven in memory with `oneshot`: REST, both MCP
//! eras, and bad input of every kind.
#![allow(clippy::needless_pass_by_value)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use mcp_bastion::context::{
    CacheScope, ContextEntry, ContextId, ContextSource, ResourceTemplate, SourceError,
    SourceRequest, Target, source_fn,
};
use mcp_bastion::envelope::ErrorEnvelopeLayer;
use mcp_bastion::mcp::{Endpoint, McpService};
use mcp_bastion::principal::{AuthMethod, Principal};
use serde_json::{Value, json};
use tower::{Service, ServiceBuilder, ServiceExt};

type Body = Full<Bytes>;

fn stack<S: ContextSource>(
    source: S,
    config: Endpoint,
) -> impl Service<
    Request<Body>,
    Response = Response<impl http_body::Body<Data = Bytes, Error: std::fmt::Debug>>,
    Error = std::convert::Infallible,
> + Clone {
    ServiceBuilder::new()
        .layer(ErrorEnvelopeLayer::new())
        .service(McpService::with_endpoint(source, config))
}

fn seed() -> impl Service<
    Request<Body>,
    Response = Response<impl http_body::Body<Data = Bytes, Error: std::fmt::Debug>>,
    Error = std::convert::Infallible,
> + Clone {
    let source = common::seed_source()
        .with_context(
            ContextId::parse("blobs/logo.bin").unwrap(),
            ContextEntry::binary("image", "binary", vec![0u8, 1, 2, 255])
                .with_cache(Some(Duration::from_secs(300)), CacheScope::Public),
        )
        .with_template(ResourceTemplate::new(
            "ctx://builds/{id}/status",
            "build-status",
        ));
    stack(source, Endpoint::default())
}

struct Reply {
    status: StatusCode,
    headers: http::HeaderMap,
    body: Bytes,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|err| {
            panic!(
                "not JSON ({err}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

async fn send<S, B>(service: S, request: Request<Body>) -> Reply
where
    S: Service<Request<Body>, Response = Response<B>, Error = std::convert::Infallible>,
    B: http_body::Body<Data = Bytes, Error: std::fmt::Debug>,
{
    let response = service.oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

fn get(path: &str) -> Request<Body> {
    Request::get(path).body(Body::default()).unwrap()
}

fn legacy(body: &Value) -> Request<Body> {
    legacy_with(body, Some("2025-11-25"))
}

fn legacy_with(body: &Value, version: Option<&str>) -> Request<Body> {
    let mut builder = Request::post("/mcp")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream");
    if let Some(version) = version {
        builder = builder.header("mcp-protocol-version", version);
    }
    builder
        .body(Body::from(serde_json::to_vec(body).unwrap()))
        .unwrap()
}

fn modern(method: &str, name: Option<&str>, mut params: Value) -> Request<Body> {
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {}
    });
    let body = json!({"jsonrpc":"2.0","id":1,"method":method,"params":params});
    let mut builder = Request::post("/mcp")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", method);
    if let Some(name) = name {
        builder = builder.header("mcp-name", name);
    }
    builder
        .body(Body::from(serde_json::to_vec(&body).unwrap()))
        .unwrap()
}

fn rpc(id: i64, method: &str, params: Value) -> Value {
    json!({"jsonrpc":"2.0","id":id,"method":method,"params":params})
}

// ---------------------------------------------------------------- REST

#[tokio::test]
async fn rest_read_answers_the_seed_envelope() {
    let reply = send(seed(), get("/context/project-alpha/dependency-graph")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.headers[header::CONTENT_TYPE], "application/json");
    assert_eq!(reply.headers[header::ETAG], "\"1.0.0\"");
    let body = reply.json();
    // The seed's key order, as sent (a parsed map would not tell).
    let text = std::str::from_utf8(&reply.body).unwrap();
    let at = |key: &str| text.find(&format!("\"{key}\":")).unwrap();
    let order = ["contextId", "version", "timestamp", "data"].map(at);
    assert!(order.is_sorted(), "{text}");
    assert_eq!(body.as_object().unwrap().len(), 4);
    assert_eq!(body["contextId"], "project-alpha/dependency-graph");
    assert_eq!(body["version"], "1.0.0");
    assert_eq!(
        body["data"],
        json!({"type": "dependencyGraph", "format": "json", "content": common::GRAPH})
    );
    let timestamp = body["timestamp"].as_str().unwrap();
    assert!(timestamp.parse::<jiff::Timestamp>().is_ok(), "{timestamp}");
}

#[tokio::test]
async fn rest_conditional_head_and_binary() {
    let mut request = get("/context/public-docs/getting-started");
    request
        .headers_mut()
        .insert(header::IF_NONE_MATCH, "\"0\", W/\"1.0.0\"".parse().unwrap());
    let reply = send(seed(), request).await;
    assert_eq!(reply.status, StatusCode::NOT_MODIFIED);
    assert!(reply.body.is_empty());
    assert_eq!(reply.headers[header::ETAG], "\"1.0.0\"");

    let head = Request::head("/context/public-docs/getting-started")
        .body(Body::default())
        .unwrap();
    let reply = send(seed(), head).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.body.is_empty());
    assert!(
        reply.headers[header::CONTENT_LENGTH]
            .to_str()
            .unwrap()
            .parse::<usize>()
            .unwrap()
            > 50
    );

    let reply = send(seed(), get("/context/blobs/logo.bin")).await;
    assert_eq!(reply.headers[header::CACHE_CONTROL], "public, max-age=300");
    let body = reply.json();
    assert_eq!(body["data"]["content"], "AAEC/w==");
    assert_eq!(body["data"]["encoding"], "base64");
}

#[tokio::test]
async fn rest_bad_ids_are_400_with_the_reason() {
    let long = format!("/context/{}", "a".repeat(513));
    for path in [
        "/context/a/../b",
        "/context/a/%2e%2e/b",
        "/context/%2E%2E",
        "/context/a//b",
        "/context/a/",
        "/context/a%00b",
        "/context/a%2",
        "/context/%252e%252e",
        "/context/a%20b",
        long.as_str(),
    ] {
        let reply = send(seed(), get(path)).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{path}");
        let body = reply.json();
        assert_eq!(body["code"], "BAD_REQUEST", "{path}");
        assert!(body["details"]["reason"].is_string(), "{path}: {body}");
    }
}

#[tokio::test]
async fn rest_not_found_method_and_route_errors() {
    let reply = send(seed(), get("/context/project-alpha/nope")).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(
        reply.json(),
        json!({"code": "NOT_FOUND", "message": "Context 'project-alpha/nope' not found."})
    );
    let delete = Request::delete("/context/public-docs/getting-started")
        .body(Body::default())
        .unwrap();
    let reply = send(seed(), delete).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.headers[header::ALLOW], "GET, HEAD");
    assert_eq!(reply.json()["code"], "METHOD_NOT_ALLOWED");
    let reply = send(seed(), get("/nowhere")).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.json()["code"], "NOT_FOUND");
    let reply = send(seed(), get("/context/public-docs/getting-started?evil=1")).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn rest_list_pages_with_opaque_cursors() {
    let service = seed();
    let first = send(service.clone(), get("/context?limit=2")).await.json();
    let ids: Vec<&str> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["contextId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["blobs/logo.bin", "project-alpha/dependency-graph"]);
    let cursor = first["nextCursor"].as_str().unwrap();
    assert!(!cursor.contains('/'), "cursor should be opaque: {cursor}");
    let second = send(
        service.clone(),
        get(&format!("/context?limit=2&cursor={cursor}")),
    )
    .await
    .json();
    assert_eq!(
        second["items"][0]["contextId"],
        "public-docs/getting-started"
    );
    assert!(second.get("nextCursor").is_none());

    let prefixed = send(service.clone(), get("/context?prefix=public-docs%2F"))
        .await
        .json();
    assert_eq!(prefixed["items"].as_array().unwrap().len(), 1);

    for bad in [
        "/context?cursor=!!!",
        "/context?limit=0",
        "/context?limit=1001",
        "/context?limit=x",
        "/context?page=2",
        "/context?limit=1&limit=2",
    ] {
        let reply = send(service.clone(), get(bad)).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(reply.json()["code"], "BAD_REQUEST");
    }
}

fn batch_request(body: &str, content_type: &str) -> Request<Body> {
    Request::post("/context")
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(body.to_owned()))
        .unwrap()
}

#[tokio::test]
async fn rest_batch_reads_each_id() {
    let body = r#"{"ids":["public-docs/getting-started","missing/one","a/../b"]}"#;
    let reply = send(seed(), batch_request(body, "application/json")).await;
    assert_eq!(reply.status, StatusCode::OK);
    let results = reply.json()["results"].clone();
    assert_eq!(results[0]["status"], 200);
    assert_eq!(
        results[0]["context"]["data"]["content"],
        common::GETTING_STARTED
    );
    assert_eq!(results[1]["status"], 404);
    assert_eq!(results[1]["error"]["code"], "NOT_FOUND");
    assert_eq!(results[2]["status"], 400);

    let cases = [
        (r#"{"ids":[]}"#, "application/json", StatusCode::BAD_REQUEST),
        (
            r#"{"ids":[1]}"#,
            "application/json",
            StatusCode::BAD_REQUEST,
        ),
        (
            r#"{"ids":["a"],"x":1}"#,
            "application/json",
            StatusCode::BAD_REQUEST,
        ),
        ("[", "application/json", StatusCode::BAD_REQUEST),
        (
            r#"{"ids":["a"]}"#,
            "text/plain",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
    ];
    for (body, content_type, status) in cases {
        let reply = send(seed(), batch_request(body, content_type)).await;
        assert_eq!(reply.status, status, "{body}");
        assert!(reply.json()["code"].is_string());
    }
    let too_many = json!({"ids": vec!["a"; 101]}).to_string();
    assert_eq!(
        send(seed(), batch_request(&too_many, "application/json"))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    let huge = format!(r#"{{"ids":["{}"]}}"#, "a".repeat(2 * 1024 * 1024));
    let reply = send(seed(), batch_request(&huge, "application/json")).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(reply.json()["code"], "PAYLOAD_TOO_LARGE");
}

#[tokio::test]
async fn sources_see_principal_and_selector_and_failures_do_not_leak() {
    let seen: Arc<Mutex<Vec<SourceRequest>>> = Arc::default();
    let record = Arc::clone(&seen);
    let source = source_fn(move |id: ContextId, request: SourceRequest| {
        record.lock().unwrap().push(request);
        async move {
            match id.as_str() {
                "down" => Err(SourceError::Unavailable("redis at 10.0.0.7 refused".into())),
                "broken" => Err(SourceError::Internal("password=hunter2".into())),
                _ => Ok(ContextEntry::text("note", "text", "ok")),
            }
        }
    })
    .selecting_itself();
    let service = stack(source, Endpoint::default());
    let mut request = get("/context/notes/a?select=%2Fnodes&select=/edges");
    request
        .extensions_mut()
        .insert(Principal::new("devUser", AuthMethod::ApiKey).with_role("developer"));
    request.headers_mut().insert(
        header::AUTHORIZATION,
        "Bearer user-dev-token".parse().unwrap(),
    );
    assert_eq!(send(service.clone(), request).await.status, StatusCode::OK);
    {
        let seen = seen.lock().unwrap();
        let selection = seen[0].selection.as_ref().expect("the selection");
        assert_eq!(
            selection.target(),
            &Target::Pointers(vec!["/edges".into(), "/nodes".into()])
        );
        assert_eq!(seen[0].principal.as_ref().unwrap().subject, "devUser");
        assert!(!format!("{:?}", seen[0]).contains("user-dev-token"));
    }
    let reply = send(service.clone(), get("/context/down")).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(!String::from_utf8_lossy(&reply.body).contains("10.0.0.7"));
    let reply = send(service, get("/context/broken")).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(!String::from_utf8_lossy(&reply.body).contains("hunter2"));
}

#[tokio::test]
async fn foreign_origins_are_refused_everywhere() {
    let mut request = get("/context/public-docs/getting-started");
    request
        .headers_mut()
        .insert(header::ORIGIN, "https://evil.example".parse().unwrap());
    let reply = send(seed(), request).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.json()["code"], "FORBIDDEN");

    let mut request = legacy(&rpc(1, "ping", json!({})));
    request
        .headers_mut()
        .insert(header::ORIGIN, "https://evil.example".parse().unwrap());
    let reply = send(seed(), request).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.json()["jsonrpc"], "2.0");

    let mut request = legacy(&rpc(1, "ping", json!({})));
    request
        .headers_mut()
        .insert(header::ORIGIN, "http://localhost:5173".parse().unwrap());
    assert_eq!(send(seed(), request).await.status, StatusCode::OK);

    let config = Endpoint::builder()
        .allowed_origins(["https://app.example.com"])
        .build()
        .unwrap();
    let mut request = legacy(&rpc(1, "ping", json!({})));
    request
        .headers_mut()
        .insert(header::ORIGIN, "https://app.example.com".parse().unwrap());
    assert_eq!(
        send(stack(common::seed_source(), config), request)
            .await
            .status,
        StatusCode::OK
    );
}

// ---------------------------------------------------------------- MCP, 2025 era

#[tokio::test]
async fn legacy_initialize_negotiates_versions() {
    for (asked, answered) in [
        ("2025-06-18", "2025-06-18"),
        ("2025-03-26", "2025-03-26"),
        ("2025-11-25", "2025-11-25"),
        ("2024-11-05", "2025-11-25"),
        ("2099-01-01", "2025-11-25"),
    ] {
        let body = rpc(
            1,
            "initialize",
            json!({"protocolVersion": asked, "capabilities": {}, "clientInfo": {"name":"t","version":"1"}}),
        );
        let reply = send(seed(), legacy_with(&body, None)).await;
        assert_eq!(reply.status, StatusCode::OK);
        let result = &reply.json()["result"];
        assert_eq!(result["protocolVersion"], answered, "{asked}");
        assert_eq!(result["serverInfo"]["name"], "mcp-bastion");
        assert!(result["capabilities"]["resources"].is_object());
    }
    let reply = send(seed(), legacy_with(&rpc(1, "initialize", json!({})), None)).await;
    assert_eq!(reply.json()["error"]["code"], -32602);
}

#[tokio::test]
async fn legacy_notifications_ping_and_unknown_methods() {
    let note = json!({"jsonrpc":"2.0","method":"notifications/initialized"});
    let reply = send(seed(), legacy(&note)).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED);
    assert!(reply.body.is_empty());
    let reply = send(seed(), legacy(&json!({"jsonrpc":"2.0","id":9,"result":{}}))).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED);

    let reply = send(seed(), legacy(&rpc(2, "ping", json!({})))).await;
    assert_eq!(reply.json(), json!({"jsonrpc":"2.0","id":2,"result":{}}));

    let reply = send(seed(), legacy(&rpc(3, "tools/call", json!({"name":"x"})))).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["error"]["code"], -32601);
    assert_eq!(reply.json()["id"], 3);
}

#[tokio::test]
async fn legacy_resources_list_read_templates() {
    let config = Endpoint::builder().page_size(2).build().unwrap();
    let source = common::seed_source()
        .with_context(
            ContextId::parse("z/last").unwrap(),
            ContextEntry::binary("blob", "binary", vec![9u8, 8]),
        )
        .with_template(
            ResourceTemplate::new("ctx://builds/{id}/status", "build-status")
                .with_mime_type("application/json"),
        );
    let service = stack(source, config);
    let first = send(
        service.clone(),
        legacy(&rpc(1, "resources/list", json!({}))),
    )
    .await
    .json();
    let resources = first["result"]["resources"].as_array().unwrap();
    assert_eq!(resources.len(), 2);
    assert_eq!(resources[0]["uri"], "ctx://project-alpha/dependency-graph");
    assert_eq!(resources[0]["mimeType"], "application/json");
    let cursor = first["result"]["nextCursor"].as_str().unwrap();
    let second = send(
        service.clone(),
        legacy(&rpc(2, "resources/list", json!({"cursor": cursor}))),
    )
    .await
    .json();
    assert_eq!(second["result"]["resources"][0]["uri"], "ctx://z/last");
    assert!(second["result"].get("nextCursor").is_none());
    let bad = send(
        service.clone(),
        legacy(&rpc(3, "resources/list", json!({"cursor": "%%%"}))),
    )
    .await
    .json();
    assert_eq!(bad["error"]["code"], -32602);

    let text = send(
        service.clone(),
        legacy(&rpc(
            4,
            "resources/read",
            json!({"uri": "ctx://public-docs/getting-started"}),
        )),
    )
    .await
    .json();
    assert_eq!(
        text["result"],
        json!({"contents":[{"uri":"ctx://public-docs/getting-started","mimeType":"text/markdown","text":common::GETTING_STARTED}]})
    );
    let blob = send(
        service.clone(),
        legacy(&rpc(5, "resources/read", json!({"uri": "ctx://z/last"}))),
    )
    .await
    .json();
    assert_eq!(blob["result"]["contents"][0]["blob"], "CQg=");

    let missing = send(
        service.clone(),
        legacy(&rpc(6, "resources/read", json!({"uri": "ctx://nope"}))),
    )
    .await;
    assert_eq!(missing.status, StatusCode::OK);
    assert_eq!(
        missing.json(),
        json!({"jsonrpc":"2.0","id":6,"error":{"code":-32002,"message":"Resource not found","data":{"uri":"ctx://nope"}}})
    );
    let foreign = send(
        service.clone(),
        legacy(&rpc(
            7,
            "resources/read",
            json!({"uri": "file:///etc/passwd"}),
        )),
    )
    .await
    .json();
    assert_eq!(foreign["error"]["code"], -32002);
    for uri in [
        json!("ctx://a/../b"),
        json!("ctx://%2e%2e/x"),
        json!("no-scheme"),
        json!(5),
    ] {
        let reply = send(
            service.clone(),
            legacy(&rpc(8, "resources/read", json!({"uri": uri}))),
        )
        .await
        .json();
        assert_eq!(reply["error"]["code"], -32602, "{uri}");
    }

    let templates = send(
        service,
        legacy(&rpc(9, "resources/templates/list", json!({}))),
    )
    .await
    .json();
    assert_eq!(
        templates["result"]["resourceTemplates"],
        json!([{"uriTemplate":"ctx://builds/{id}/status","name":"build-status","mimeType":"application/json"}])
    );
}

#[tokio::test]
async fn legacy_batches_in_2025_03_26() {
    let batch = json!([rpc(1, "ping", json!({})), {"jsonrpc":"2.0","method":"notifications/initialized"}, rpc(2, "resources/read", json!({"uri":"ctx://x"}))]);
    let reply = send(seed(), legacy_with(&batch, None)).await;
    assert_eq!(reply.status, StatusCode::OK);
    let replies = reply.json();
    assert_eq!(replies.as_array().unwrap().len(), 2);
    assert_eq!(replies[0], json!({"jsonrpc":"2.0","id":1,"result":{}}));
    assert_eq!(replies[1]["error"]["code"], -32002);
    let only_notes = json!([{"jsonrpc":"2.0","method":"notifications/initialized"}]);
    assert_eq!(
        send(seed(), legacy_with(&only_notes, None)).await.status,
        StatusCode::ACCEPTED
    );
    let reply = send(seed(), legacy(&batch)).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.json()["error"]["code"], -32600);
}

#[tokio::test]
async fn transport_errors_have_the_right_status() {
    for method in ["GET", "DELETE", "PUT"] {
        let request = Request::builder()
            .method(method)
            .uri("/mcp")
            .body(Body::default())
            .unwrap();
        let reply = send(seed(), request).await;
        assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
        assert_eq!(reply.headers[header::ALLOW], "POST");
        assert_eq!(reply.json()["jsonrpc"], "2.0");
    }
    let body = serde_json::to_vec(&rpc(1, "ping", json!({}))).unwrap();
    let no_accept = Request::post("/mcp")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.clone()))
        .unwrap();
    assert_eq!(
        send(seed(), no_accept).await.status,
        StatusCode::NOT_ACCEPTABLE
    );
    let wrong_type = Request::post("/mcp")
        .header(header::CONTENT_TYPE, "text/plain")
        .header(header::ACCEPT, "application/json, text/event-stream")
        .body(Body::from(body))
        .unwrap();
    assert_eq!(
        send(seed(), wrong_type).await.status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );

    let raw = |bytes: Vec<u8>| {
        Request::post("/mcp")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json, text/event-stream")
            .body(Body::from(bytes))
            .unwrap()
    };
    let reply = send(seed(), raw(b"{\"jsonrpc\":".to_vec())).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.json()["error"]["code"], -32700);
    assert_eq!(reply.json()["id"], Value::Null);
    let reply = send(seed(), raw(vec![b' '; 1024 * 1024 + 1])).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(reply.json()["error"]["data"]["code"], "PAYLOAD_TOO_LARGE");
    let reply = send(seed(), raw(b"\xff\xfe".to_vec())).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
}

// ---------------------------------------------------------------- MCP, 2026-07-28

#[tokio::test]
async fn modern_discover_read_and_cache_hints() {
    let reply = send(seed(), modern("server/discover", None, json!({}))).await;
    assert_eq!(reply.status, StatusCode::OK);
    let result = reply.json()["result"].clone();
    assert_eq!(result["supportedVersions"][0], "2026-07-28");
    assert_eq!(result["resultType"], "complete");
    assert!(result["ttlMs"].is_u64());
    assert!(result["cacheScope"].is_string());
    assert_eq!(
        result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
        "mcp-bastion"
    );

    let reply = send(
        seed(),
        modern(
            "resources/read",
            Some("ctx://blobs/logo.bin"),
            json!({"uri":"ctx://blobs/logo.bin"}),
        ),
    )
    .await;
    let result = reply.json()["result"].clone();
    assert_eq!(result["contents"][0]["blob"], "AAEC/w==");
    assert_eq!(result["ttlMs"], 300_000);
    assert_eq!(result["cacheScope"], "public");

    let reply = send(seed(), modern("resources/list", None, json!({}))).await;
    let result = reply.json()["result"].clone();
    assert_eq!(result["resources"].as_array().unwrap().len(), 3);
    assert_eq!(result["cacheScope"], "private");

    let reply = send(seed(), modern("resources/templates/list", None, json!({}))).await;
    assert_eq!(
        reply.json()["result"]["resourceTemplates"][0]["name"],
        "build-status"
    );
}

#[tokio::test]
async fn modern_errors() {
    let reply = send(
        seed(),
        modern(
            "resources/read",
            Some("ctx://nope"),
            json!({"uri":"ctx://nope"}),
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["error"]["code"], -32602);
    assert_eq!(reply.json()["error"]["data"]["uri"], "ctx://nope");

    for method in ["initialize", "ping", "tools/list", "logging/setLevel"] {
        let reply = send(seed(), modern(method, None, json!({}))).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{method}");
        assert_eq!(reply.json()["error"]["code"], -32601);
        assert_eq!(reply.json()["id"], 1);
    }
    let reply = send(
        seed(),
        modern(
            "resources/read",
            Some("ctx://other"),
            json!({"uri":"ctx://blobs/logo.bin"}),
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.json()["error"]["code"], -32020);
}

// ---------------------------------------------------------------- sessions, hosts, tools

#[tokio::test]
async fn sessions_are_issued_required_and_ended() {
    let config = Endpoint::builder().sessions(true).build().unwrap();
    let service = stack(common::seed_source(), config);
    let init = rpc(
        1,
        "initialize",
        json!({"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}),
    );
    let reply = send(service.clone(), legacy_with(&init, None)).await;
    let session = reply.headers["mcp-session-id"].to_str().unwrap().to_owned();
    assert!(session.len() >= 32 && session.bytes().all(|b| b.is_ascii_graphic()));

    let with_session = |body: &Value, session: &str| {
        let mut request = legacy(body);
        request
            .headers_mut()
            .insert("mcp-session-id", session.parse().unwrap());
        request
    };
    let note = json!({"jsonrpc":"2.0","method":"notifications/initialized"});
    assert_eq!(
        send(service.clone(), with_session(&note, &session))
            .await
            .status,
        StatusCode::ACCEPTED
    );
    let ping = rpc(2, "ping", json!({}));
    assert_eq!(
        send(service.clone(), with_session(&ping, &session))
            .await
            .status,
        StatusCode::OK
    );
    let reply = send(service.clone(), legacy(&ping)).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.json()["jsonrpc"], "2.0");
    assert_eq!(
        send(service.clone(), with_session(&ping, "not-a-session"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    let delete = |session: Option<&str>| {
        let mut builder = Request::delete("/mcp");
        if let Some(session) = session {
            builder = builder.header("mcp-session-id", session);
        }
        builder.body(Body::default()).unwrap()
    };
    assert_eq!(
        send(service.clone(), delete(None)).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        send(service.clone(), delete(Some(&session))).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        send(service.clone(), with_session(&ping, &session))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        send(service.clone(), delete(Some(&session))).await.status,
        StatusCode::NOT_FOUND
    );

    // A failed initialize opens nothing; the stateless era ignores sessions.
    let reply = send(
        service.clone(),
        legacy_with(&rpc(3, "initialize", json!({})), None),
    )
    .await;
    assert!(reply.headers.get("mcp-session-id").is_none());
    let reply = send(service, modern("server/discover", None, json!({}))).await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn foreign_hosts_are_refused() {
    let with_host = |host: &str| {
        let mut request = legacy(&rpc(1, "ping", json!({})));
        request
            .headers_mut()
            .insert(header::HOST, host.parse().unwrap());
        request
    };
    let reply = send(seed(), with_host("evil.example.com")).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.json()["jsonrpc"], "2.0");
    assert_eq!(
        send(seed(), with_host("localhost:3000")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        send(seed(), with_host("127.0.0.1:9")).await.status,
        StatusCode::OK
    );

    let bound = Endpoint::builder().loopback_port(3000).build().unwrap();
    let service = stack(common::seed_source(), bound);
    assert_eq!(
        send(service.clone(), with_host("127.0.0.1:3000"))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        send(service, with_host("127.0.0.1:3001")).await.status,
        StatusCode::FORBIDDEN
    );

    let public = Endpoint::builder()
        .allowed_hosts(["mcp.example.com"])
        .build()
        .unwrap();
    let service = stack(common::seed_source(), public);
    assert_eq!(
        send(service.clone(), with_host("mcp.example.com"))
            .await
            .status,
        StatusCode::OK
    );
    let mut rest = get("/context/public-docs/getting-started");
    rest.headers_mut()
        .insert(header::HOST, "localhost".parse().unwrap());
    let reply = send(service, rest).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.json()["code"], "FORBIDDEN");
}

#[tokio::test]
async fn empty_tool_and_prompt_lists_when_enabled() {
    let config = Endpoint::builder()
        .empty_tool_and_prompt_lists(true)
        .build()
        .unwrap();
    let service = stack(common::seed_source(), config);
    let init = rpc(
        1,
        "initialize",
        json!({"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}),
    );
    let capabilities =
        send(service.clone(), legacy_with(&init, None)).await.json()["result"]["capabilities"]
            .clone();
    assert_eq!(
        capabilities,
        json!({"resources":{},"tools":{},"prompts":{}})
    );
    let tools = send(service.clone(), modern("tools/list", None, json!({})))
        .await
        .json();
    assert_eq!(tools["result"]["tools"], json!([]));
    assert_eq!(tools["result"]["cacheScope"], "public");
    let prompts = send(service.clone(), legacy(&rpc(2, "prompts/list", json!({}))))
        .await
        .json();
    assert_eq!(prompts["result"], json!({"prompts": []}));
    let call = send(
        service.clone(),
        modern("tools/call", Some("x"), json!({"name":"x"})),
    )
    .await;
    assert_eq!(call.status, StatusCode::OK);
    assert_eq!(call.json()["error"]["code"], -32602);
    // Off by default: unknown methods.
    let reply = send(seed(), legacy(&rpc(3, "tools/list", json!({})))).await;
    assert_eq!(reply.json()["error"]["code"], -32601);
}

#[tokio::test]
async fn a_classification_from_a_layer_in_front_is_used_not_redone() {
    use mcp_bastion::mcp::{Endpoint, McpRequest, classify};
    // The body says ping; the classification a layer left says resources/list. The endpoint
    // must answer the classification (it never parses the body a second time).
    let listing = legacy_with(&rpc(4, "resources/list", json!({})), None);
    let listing = classify(&Endpoint::default(), listing).await.unwrap();
    let classified = listing.extensions().get::<McpRequest>().unwrap().clone();
    let mut request = legacy_with(&rpc(4, "ping", json!({})), None);
    request.extensions_mut().insert(classified);
    let reply = send(seed(), request).await.json();
    assert!(reply["result"]["resources"].is_array(), "{reply}");
}

// ---------------------------------------------------------------- batches are bounded

fn read_call(id: i64) -> Value {
    rpc(
        id,
        "resources/read",
        json!({"uri": "ctx://project-alpha/dependency-graph"}),
    )
}

#[tokio::test]
async fn json_rpc_batches_refuse_shared_ids_and_too_many_calls() {
    let shared_id = json!([rpc(1, "resources/list", json!({})), read_call(1)]);
    let reply = send(seed(), legacy_with(&shared_id, None)).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.json()["error"]["code"], -32600);
    // `1` and `"1"` are different ids.
    let distinct = json!([read_call(1), {"jsonrpc":"2.0","id":"1","method":"resources/list"}]);
    let reply = send(seed(), legacy_with(&distinct, None)).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json().as_array().unwrap().len(), 2);

    let many: Vec<Value> = (0..65).map(read_call).collect();
    let reply = send(seed(), legacy_with(&Value::Array(many), None)).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let error = &reply.json()["error"];
    assert_eq!(error["code"], -32600);
    assert!(
        error["message"].as_str().unwrap().contains("at most 64"),
        "{error}"
    );
    let most: Vec<Value> = (0..64).map(read_call).collect();
    let reply = send(seed(), legacy_with(&Value::Array(most), None)).await;
    assert_eq!(reply.json().as_array().unwrap().len(), 64);
}

#[tokio::test]
async fn batch_answers_stop_at_the_response_budget() {
    let endpoint = Endpoint::builder().max_batch_response(600).build().unwrap();
    let service = McpService::with_endpoint(common::seed_source(), endpoint);
    let calls: Vec<Value> = (0..6).map(read_call).collect();
    let reply = send(service.clone(), legacy_with(&Value::Array(calls), None)).await;
    let answers = reply.json();
    let answers = answers.as_array().unwrap();
    assert_eq!(answers.len(), 6, "every call is answered");
    assert!(answers[0]["result"].is_object());
    let last = &answers[5];
    assert_eq!(last["id"], 5);
    assert_eq!(last["error"]["data"]["code"], "PAYLOAD_TOO_LARGE", "{last}");
    assert!(reply.body.len() < 1500, "{}", reply.body.len());

    let ids = json!({"ids": vec!["project-alpha/dependency-graph"; 6]});
    let request = Request::post("/context")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(serde_json::to_vec(&ids).unwrap()))
        .unwrap();
    let reply = send(service, request).await.json();
    let results = reply["results"].as_array().unwrap();
    assert_eq!(results[0]["status"], 200);
    assert_eq!(results[5]["status"], 413);
    assert_eq!(results[5]["error"]["code"], "PAYLOAD_TOO_LARGE");
}

// ---------------------------------------------------------------- cursors

fn as_user(mut request: Request<Body>, subject: &str) -> Request<Body> {
    request
        .extensions_mut()
        .insert(Principal::new(subject, AuthMethod::ApiKey));
    request
}

#[tokio::test]
async fn cursors_are_opaque_and_refused_when_forged_or_foreign() {
    use base64::Engine;
    let service = seed();
    let first = send(service.clone(), as_user(get("/context?limit=2"), "guest"))
        .await
        .json();
    let cursor = first["nextCursor"].as_str().unwrap().to_owned();
    // The position (the last id of the page) does not show in the token.
    let hidden = "project-alpha/dependency-graph";
    for engine in [
        base64::engine::general_purpose::URL_SAFE_NO_PAD,
        base64::engine::general_purpose::STANDARD_NO_PAD,
    ] {
        let encoded = engine.encode(hidden);
        assert!(!cursor.contains(&encoded[..12]), "{cursor}");
    }
    let page = |subject: &'static str, cursor: String| {
        let service = service.clone();
        async move {
            send(
                service,
                as_user(get(&format!("/context?limit=2&cursor={cursor}")), subject),
            )
            .await
        }
    };
    assert_eq!(page("guest", cursor.clone()).await.status, StatusCode::OK);
    // Another caller, a crafted cursor, the pre-HMAC form: all 400.
    let foreign = page("admin", cursor.clone()).await;
    assert_eq!(foreign.status, StatusCode::BAD_REQUEST);
    assert_eq!(foreign.json()["code"], "BAD_REQUEST");
    let crafted = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hidden);
    assert_eq!(page("guest", crafted).await.status, StatusCode::BAD_REQUEST);
    let mut tampered = cursor.clone().into_bytes();
    tampered[20] = if tampered[20] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    assert_eq!(
        page("guest", tampered).await.status,
        StatusCode::BAD_REQUEST
    );
    // A REST cursor is not a resources/list cursor.
    let reply = send(
        service.clone(),
        as_user(
            legacy(&rpc(9, "resources/list", json!({"cursor": cursor}))),
            "guest",
        ),
    )
    .await;
    assert_eq!(reply.json()["error"]["code"], -32602);
}

#[tokio::test]
async fn instances_sharing_a_cursor_secret_accept_each_others_cursors() {
    let secret = [42u8; 32];
    let instance = || {
        let endpoint = Endpoint::builder()
            .cursor_secret(secret)
            .page_size(1)
            .build()
            .unwrap();
        McpService::with_endpoint(common::seed_source(), endpoint)
    };
    let first = send(instance(), get("/context")).await.json();
    let cursor = first["nextCursor"].as_str().unwrap();
    let second = send(instance(), get(&format!("/context?cursor={cursor}"))).await;
    assert_eq!(second.status, StatusCode::OK);
    let other = McpService::with_endpoint(
        common::seed_source(),
        Endpoint::builder().page_size(1).build().unwrap(),
    );
    let refused = send(other, get(&format!("/context?cursor={cursor}"))).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(Endpoint::builder().cursor_secret(b"short").build().is_err());
}
