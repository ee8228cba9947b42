//! The endpoint's selected reads: REST and both MCP eras, cursors, ETags, refusals.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http::{Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::context::{ContextEntry, ContextId, SourceRequest, StaticSource, source_fn};
use crate::mcp::McpService;
use crate::principal::{AuthMethod, Principal};

fn builds() -> String {
    let builds: Vec<Value> = (0..25)
        .map(|n| json!({"id": n, "status": if n % 3 == 0 { "failed" } else { "passed" }}))
        .collect();
    json!({"project": "alpha", "builds": builds}).to_string()
}

fn service() -> McpService<StaticSource> {
    let id = |text| ContextId::parse(text).unwrap();
    McpService::new(
        StaticSource::new()
            .with_context(
                id("alpha/builds"),
                ContextEntry::text("buildHistory", "json", builds()).with_version("7"),
            )
            .with_context(
                id("docs/readme"),
                ContextEntry::text("markdown", "text", "# A\nline 2\nline 3\n"),
            ),
    )
}

struct Reply {
    status: StatusCode,
    headers: http::HeaderMap,
    body: Value,
}

async fn send(service: &McpService<StaticSource>, request: Request<Full<Bytes>>) -> Reply {
    let response = service.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

fn get(path: &str, subject: Option<&str>) -> Request<Full<Bytes>> {
    let mut request = Request::get(path).body(Full::default()).unwrap();
    if let Some(subject) = subject {
        request
            .extensions_mut()
            .insert(Principal::new(subject, AuthMethod::ApiKey));
    }
    request
}

fn read(params: &Value, modern: bool) -> Request<Full<Bytes>> {
    let mut params = params.clone();
    let mut builder = Request::post("/mcp")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream");
    if modern {
        let meta = params
            .as_object_mut()
            .unwrap()
            .entry("_meta")
            .or_insert_with(|| json!({}));
        meta["io.modelcontextprotocol/protocolVersion"] = json!("2026-07-28");
        meta["io.modelcontextprotocol/clientCapabilities"] = json!({});
        builder = builder
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "resources/read")
            .header("mcp-name", params["uri"].as_str().unwrap());
    } else {
        builder = builder.header("mcp-protocol-version", "2025-11-25");
    }
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "resources/read", "params": params});
    builder
        .body(Full::from(serde_json::to_vec(&body).unwrap()))
        .unwrap()
}

#[tokio::test]
async fn rest_pages_walk_an_array_with_sealed_cursors() {
    let service = service();
    let mut path = "/context/alpha/builds?select=/builds&limit=10".to_owned();
    let mut ids = Vec::new();
    let mut etags = Vec::new();
    for _ in 0..5 {
        let reply = send(&service, get(&path, Some("alice"))).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert_eq!(reply.body["data"]["format"], "json");
        let page: Vec<Value> =
            serde_json::from_str(reply.body["data"]["content"].as_str().unwrap()).unwrap();
        ids.extend(page.iter().map(|build| build["id"].as_u64().unwrap()));
        let selection = &reply.body["selection"];
        assert_eq!(selection["select"], json!(["/builds"]));
        assert_eq!(
            (selection["limit"].clone(), selection["total"].clone()),
            (json!(10), json!(25))
        );
        etags.push(reply.headers[header::ETAG].clone());
        let Some(cursor) = selection["nextCursor"].as_str() else {
            break;
        };
        assert!(
            !cursor.contains("10") || cursor.len() > 20,
            "opaque: {cursor}"
        );
        path = format!("/context/alpha/builds?select=/builds&limit=10&cursor={cursor}");
    }
    assert_eq!(ids, (0..25).collect::<Vec<_>>());
    assert_eq!(etags.len(), 3);
    assert!(
        etags
            .iter()
            .all(|etag| etag.to_str().unwrap().starts_with("\"7.s"))
    );
    assert_ne!(etags[0], etags[1]);
    // A cursor is alice's, for this selection: bob, another pointer, a tampered one fail.
    let first = send(
        &service,
        get(
            "/context/alpha/builds?select=/builds&limit=10",
            Some("alice"),
        ),
    )
    .await;
    let cursor = first.body["selection"]["nextCursor"]
        .as_str()
        .unwrap()
        .to_owned();
    for (path, subject) in [
        (
            format!("/context/alpha/builds?select=/builds&limit=10&cursor={cursor}"),
            "bob",
        ),
        (
            format!("/context/alpha/builds?select=/project&limit=10&cursor={cursor}"),
            "alice",
        ),
        (
            format!("/context/alpha/builds?select=/builds&limit=10&cursor={cursor}x"),
            "alice",
        ),
        (
            "/context/alpha/builds?select=/builds&cursor=AAAA".to_owned(),
            "alice",
        ),
    ] {
        let reply = send(&service, get(&path, Some(subject))).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(reply.body["details"]["select"], "cursor", "{}", reply.body);
    }
    // Another page size keeps the position.
    let reply = send(
        &service,
        get(
            &format!("/context/alpha/builds?select=/builds&limit=2&cursor={cursor}"),
            Some("alice"),
        ),
    )
    .await;
    assert_eq!(
        reply.body["data"]["content"],
        r#"[{"id":10,"status":"passed"},{"id":11,"status":"passed"}]"#
    );
}

#[tokio::test]
async fn rest_selections_answer_and_refuse_in_the_rest_envelope() {
    let service = service();
    let reply = send(
        &service,
        get(
            "/context/alpha/builds?select=/project&select=/builds/0",
            None,
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let content: Value =
        serde_json::from_str(reply.body["data"]["content"].as_str().unwrap()).unwrap();
    assert_eq!(
        content,
        json!({"/project": "alpha", "/builds/0": {"id": 0, "status": "failed"}})
    );
    assert_eq!(reply.body["data"]["type"], "buildHistory");
    let whole = send(&service, get("/context/alpha/builds", None)).await;
    assert!(whole.body.get("selection").is_none());
    assert_eq!(whole.headers[header::ETAG], "\"7\"");
    // 304 for a selection's own ETag, 200 for the whole's.
    for (tag, status) in [
        (
            reply.headers[header::ETAG].clone(),
            StatusCode::NOT_MODIFIED,
        ),
        (whole.headers[header::ETAG].clone(), StatusCode::OK),
    ] {
        let mut request = get(
            "/context/alpha/builds?select=/builds/0&select=/project",
            None,
        );
        request.headers_mut().insert(header::IF_NONE_MATCH, tag);
        assert_eq!(send(&service, request).await.status, status);
    }
    let lines = send(
        &service,
        get("/context/docs/readme?select=lines%3D2-3", None),
    )
    .await;
    assert_eq!(lines.body["data"]["content"], "line 2\nline 3\n");
    assert_eq!(
        lines.body["selection"],
        json!({"select": ["lines=2-3"], "total": 3})
    );
    for (query, culprit) in [
        ("?select=/builds/99", Some("/builds/99")),
        ("?select=/builds/-", Some("/builds/-")),
        ("?select=/builds/01", Some("/builds/01")),
        ("?select=/a~2", Some("/a~2")),
        ("?select=/project&limit=5", Some("/project")),
        ("?select=lines%3D9-", None),
        ("?select=bytes%3D999999-", Some("bytes=999999-")),
        ("?select=/a&select=/b&limit=5", None),
        ("?limit=1001", None),
        ("?limit=-1", None),
        ("?limit=1&limit=2", None),
        ("?selekt=/a", None),
    ] {
        let reply = send(
            &service,
            get(&format!("/context/alpha/builds{query}"), None),
        )
        .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(reply.body["code"], "BAD_REQUEST", "{query}");
        if let Some(culprit) = culprit {
            assert_eq!(
                reply.body["details"]["select"], culprit,
                "{query}: {}",
                reply.body
            );
            assert!(reply.body["message"].as_str().unwrap().contains(culprit));
        }
    }
    let reply = send(&service, get("/context/docs/readme?select=/a", None)).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(
        reply.body["message"].as_str().unwrap().contains("JSON"),
        "{}",
        reply.body
    );
    // HEAD: the selection's length, no body.
    let length = |reply: &Reply| {
        reply.headers[header::CONTENT_LENGTH]
            .to_str()
            .unwrap()
            .parse::<usize>()
            .unwrap()
    };
    let mut head = get("/context/alpha/builds?select=/project", None);
    *head.method_mut() = http::Method::HEAD;
    let selected = send(&service, head).await;
    let mut head = get("/context/alpha/builds", None);
    *head.method_mut() = http::Method::HEAD;
    let whole = send(&service, head).await;
    assert_eq!(selected.status, StatusCode::OK);
    assert!(length(&selected) * 4 < length(&whole));
}

#[tokio::test]
async fn mcp_reads_select_in_both_eras() {
    let service = service();
    for modern in [false, true] {
        let reply = send(
            &service,
            read(
                &json!({"uri": "ctx://alpha/builds", "select": "/builds", "limit": 20}),
                modern,
            ),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK);
        let contents = &reply.body["result"]["contents"][0];
        assert_eq!(contents["mimeType"], "application/json");
        let page: Vec<Value> = serde_json::from_str(contents["text"].as_str().unwrap()).unwrap();
        assert_eq!(page.len(), 20);
        let selection = &contents["_meta"]["io.github.mcp-bastion/selection"];
        assert_eq!(selection["total"], 25);
        let cursor = selection["nextCursor"].as_str().unwrap();
        // The next page, the cursor in `_meta` this time.
        let next = json!({"uri": "ctx://alpha/builds", "select": "/builds", "limit": 20,
                          "_meta": {"io.github.mcp-bastion/cursor": cursor}});
        let reply = send(&service, read(&next, modern)).await;
        let contents = &reply.body["result"]["contents"][0];
        let page: Vec<Value> = serde_json::from_str(contents["text"].as_str().unwrap()).unwrap();
        assert_eq!(page.len(), 5, "{}", reply.body);
        assert!(
            contents["_meta"]["io.github.mcp-bastion/selection"]
                .get("nextCursor")
                .is_none()
        );
        // `null` is no selection.
        let null =
            json!({"uri": "ctx://alpha/builds", "select": null, "limit": null, "cursor": null});
        let reply = send(&service, read(&null, modern)).await;
        assert_eq!(reply.body["result"]["contents"][0]["text"], builds());
        // Several pointers through `_meta`.
        let meta = json!({"uri": "ctx://alpha/builds", "_meta": {"io.github.mcp-bastion/select": ["/project", "/builds/1/id"]}});
        let reply = send(&service, read(&meta, modern)).await;
        let text = reply.body["result"]["contents"][0]["text"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap(),
            json!({"/project": "alpha", "/builds/1/id": 1})
        );
        // Refusals: -32602 naming the part at fault, in an HTTP 200.
        for (params, culprit) in [
            (
                json!({"uri": "ctx://alpha/builds", "select": "/ghost"}),
                json!("/ghost"),
            ),
            (
                json!({"uri": "ctx://alpha/builds", "select": "ghost"}),
                json!("ghost"),
            ),
            (
                json!({"uri": "ctx://alpha/builds", "select": 5}),
                Value::Null,
            ),
            (
                json!({"uri": "ctx://alpha/builds", "limit": "5"}),
                Value::Null,
            ),
            (
                json!({"uri": "ctx://alpha/builds", "select": "/a", "_meta": {"io.github.mcp-bastion/select": "/b"}}),
                Value::Null,
            ),
            (
                json!({"uri": "ctx://alpha/builds", "select": "/builds", "cursor": "forged"}),
                json!("cursor"),
            ),
            (
                json!({"uri": "ctx://docs/readme", "select": "/x"}),
                Value::Null,
            ),
        ] {
            let reply = send(&service, read(&params, modern)).await;
            assert_eq!(reply.status, StatusCode::OK, "{params}");
            let error = &reply.body["error"];
            assert_eq!(error["code"], -32602, "{params}: {}", reply.body);
            assert!(
                error["message"]
                    .as_str()
                    .unwrap()
                    .starts_with("Invalid params: invalid"),
                "{error}"
            );
            assert_eq!(
                error["data"].get("select").cloned().unwrap_or(Value::Null),
                culprit,
                "{params}"
            );
        }
    }
}

#[tokio::test]
async fn a_cursor_of_a_changed_context_is_refused() {
    let version = Arc::new(AtomicUsize::new(1));
    let current = Arc::clone(&version);
    let service = McpService::new(source_fn(move |_id: ContextId, _request: SourceRequest| {
        let version = current.load(Ordering::SeqCst);
        async move {
            Ok(ContextEntry::text("list", "json", "[1,2,3,4]").with_version(format!("v{version}")))
        }
    }));
    let first = service
        .clone()
        .oneshot(get("/context/a?limit=2", None))
        .await
        .unwrap();
    let body: Value =
        serde_json::from_slice(&first.into_body().collect().await.unwrap().to_bytes()).unwrap();
    let cursor = body["selection"]["nextCursor"].as_str().unwrap().to_owned();
    assert_eq!(body["data"]["content"], "[1,2]");
    version.store(2, Ordering::SeqCst);
    let reply = service
        .oneshot(get(&format!("/context/a?limit=2&cursor={cursor}"), None))
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::BAD_REQUEST);
    let body: Value =
        serde_json::from_slice(&reply.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("changed"),
        "{body}"
    );
}
