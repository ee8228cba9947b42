use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use tower::{Layer, Service, ServiceExt};

use super::*;
use crate::context::{
    CacheScope, ContextEntry, ContextId, ContextSource, Selector, SourceError, SourceRequest,
    source_fn,
};
use crate::mcp::{Endpoint, McpService};
use crate::principal::{AuthMethod, Principal};

type Body = Full<Bytes>;

/// A source that counts its calls; `public/…` ids are public for 60 s, `private/…` private
/// for 60 s, `nostore/…` never stored, `slow/…` take 50 ms, `down/…` fail while `DOWN`.
fn counting() -> (
    impl ContextSource + Clone,
    Arc<AtomicUsize>,
    Arc<AtomicBool>,
) {
    let calls = Arc::new(AtomicUsize::new(0));
    let down = Arc::new(AtomicBool::new(false));
    let (count, failing) = (Arc::clone(&calls), Arc::clone(&down));
    let source = source_fn(move |id: ContextId, request: SourceRequest| {
        let count = Arc::clone(&count);
        let failing = Arc::clone(&failing);
        async move {
            let n = count.fetch_add(1, Ordering::SeqCst) + 1;
            if id.starts_with("slow/") {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            if id.starts_with("missing/") {
                return Err(SourceError::NotFound);
            }
            if id.starts_with("down/") && failing.load(Ordering::SeqCst) {
                return Err(SourceError::Unavailable("down".into()));
            }
            let scope = if id.starts_with("public/") || id.starts_with("slow/") {
                CacheScope::Public
            } else if id.starts_with("nostore/") {
                CacheScope::NoStore
            } else {
                CacheScope::Private
            };
            let text = format!(
                "{} call {n} select {:?}",
                id.as_str(),
                request.selection.as_ref().map(Selector::canonical)
            );
            Ok(ContextEntry::text("note", "text", text)
                .with_version(format!("v{n}"))
                .with_cache(Some(Duration::from_secs(60)), scope))
        }
    })
    // The selection reaches the closure, which shows it in the content.
    .selecting_itself();
    (source, calls, down)
}

fn cache(builder: ContextCacheLayerBuilder) -> ContextCacheLayer {
    builder.endpoint(&Endpoint::default()).build().unwrap()
}

fn get(path: &str, subject: Option<&str>) -> Request<Body> {
    let mut request = Request::get(path).body(Body::default()).unwrap();
    if let Some(subject) = subject {
        request
            .extensions_mut()
            .insert(Principal::new(subject, AuthMethod::ApiKey));
    }
    request
}

struct Reply {
    status: StatusCode,
    headers: http::HeaderMap,
    body: String,
}

async fn send<S>(service: &S, request: Request<Body>) -> Reply
where
    S: Service<Request<Body>, Error = std::convert::Infallible> + Clone,
    S::Response: Into<http::Response<crate::error::BodyOrEnvelope<crate::mcp::ResponseBody>>>,
{
    let response: http::Response<_> = service.clone().oneshot(request).await.unwrap().into();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

fn cache_status(reply: &Reply) -> &str {
    reply.headers["cache-status"].to_str().unwrap()
}

#[tokio::test]
async fn a_repeated_read_is_served_from_the_entry() {
    let (source, calls, _) = counting();
    let layer = cache(ContextCacheLayer::builder());
    let service = layer.layer(McpService::new(source));
    let first = send(&service, get("/context/public/a", Some("alice"))).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(cache_status(&first), "mcp-bastion; fwd=miss; stored");
    let second = send(&service, get("/context/public/a", Some("alice"))).await;
    assert_eq!(cache_status(&second), "mcp-bastion; hit");
    assert_eq!(second.body, first.body);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // Authenticated: private to HTTP caches even though the entry is shared.
    let control = second.headers[header::CACHE_CONTROL].to_str().unwrap();
    assert!(control.starts_with("private, max-age="), "{control}");
    let anonymous = send(&service, get("/context/public/a", None)).await;
    let control = anonymous.headers[header::CACHE_CONTROL].to_str().unwrap();
    assert!(control.starts_with("public, max-age="), "{control}");
    let stats = layer.handle().stats();
    assert_eq!((stats.hits, stats.misses, stats.entries), (2, 1, 1));
}

#[tokio::test]
async fn private_entries_stay_with_their_principal_and_projections_stay_apart() {
    let (source, calls, _) = counting();
    let service = cache(ContextCacheLayer::builder()).layer(McpService::new(source));
    let alice = send(&service, get("/context/private/a", Some("alice"))).await;
    let bob = send(&service, get("/context/private/a", Some("bob"))).await;
    assert_eq!(cache_status(&bob), "mcp-bastion; fwd=miss; stored");
    assert_ne!(alice.body, bob.body, "bob got alice's private copy");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let again = send(&service, get("/context/private/a", Some("alice"))).await;
    assert_eq!(again.body, alice.body);
    // Another projection is another entry.
    let selected = send(&service, get("/context/private/a?select=/x", Some("alice"))).await;
    assert_eq!(cache_status(&selected), "mcp-bastion; fwd=miss; stored");
    assert!(selected.body.contains("/x"), "{}", selected.body);
    // Public entries are shared.
    send(&service, get("/context/public/b", Some("alice"))).await;
    let shared = send(&service, get("/context/public/b", Some("bob"))).await;
    assert_eq!(cache_status(&shared), "mcp-bastion; hit");
}

#[tokio::test]
async fn conditional_requests_get_304_from_the_entry() {
    let (source, calls, _) = counting();
    let service = cache(ContextCacheLayer::builder()).layer(McpService::new(source));
    let first = send(&service, get("/context/public/a", None)).await;
    let etag = first.headers[header::ETAG].clone();
    let mut request = get("/context/public/a", None);
    request.headers_mut().insert(header::IF_NONE_MATCH, etag);
    let reply = send(&service, request).await;
    assert_eq!(reply.status, StatusCode::NOT_MODIFIED);
    assert!(reply.body.is_empty());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let mut garbage = get("/context/public/a", None);
    garbage
        .headers_mut()
        .insert(header::IF_MODIFIED_SINCE, "not a date".parse().unwrap());
    assert_eq!(send(&service, garbage).await.status, StatusCode::OK);
    // HEAD from the entry: no body, the length of the one it stands for.
    let head = Request::head("/context/public/a")
        .body(Body::default())
        .unwrap();
    let reply = send(&service, head).await;
    assert!(reply.body.is_empty());
    assert_eq!(
        reply.headers[header::CONTENT_LENGTH].to_str().unwrap(),
        first.body.len().to_string()
    );
}

#[tokio::test(start_paused = true)]
async fn entries_expire_and_no_store_is_never_kept() {
    let (source, calls, _) = counting();
    let service = cache(ContextCacheLayer::builder()).layer(McpService::new(source));
    send(&service, get("/context/public/a", None)).await;
    tokio::time::advance(Duration::from_secs(61)).await;
    let later = send(&service, get("/context/public/a", None)).await;
    assert_eq!(cache_status(&later), "mcp-bastion; fwd=miss; stored");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    for _ in 0..3 {
        let reply = send(&service, get("/context/nostore/a", None)).await;
        assert_eq!(cache_status(&reply), "mcp-bastion; fwd=miss");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 5);
}

#[tokio::test]
async fn the_byte_budget_holds() {
    let (source, _, _) = counting();
    let layer = cache(ContextCacheLayer::builder().max_bytes(8 * 1024));
    let service = layer.layer(McpService::new(source));
    for n in 0..200 {
        send(&service, get(&format!("/context/public/{n}"), None)).await;
        let stats = layer.handle().stats();
        assert!(stats.bytes <= 8 * 1024, "{stats:?}");
    }
    let stats = layer.handle().stats();
    assert!(stats.evictions > 0 && stats.entries > 0, "{stats:?}");
}

#[tokio::test]
async fn concurrent_misses_make_one_source_call() {
    let (source, calls, _) = counting();
    let layer = cache(ContextCacheLayer::builder());
    let service = layer.layer(McpService::new(source));
    let requests = (0..100).map(|_| send(&service, get("/context/slow/a", Some("alice"))));
    let replies = futures_util::future::join_all(requests).await;
    assert!(replies.iter().all(|reply| reply.status == StatusCode::OK));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(layer.handle().stats().joins, 99);
    assert_eq!(layer.shared_for_tests().flights.len(), 0);
}

#[tokio::test]
async fn followers_of_a_cancelled_leader_still_get_an_answer() {
    let (source, calls, _) = counting();
    let service = cache(ContextCacheLayer::builder()).layer(McpService::new(source));
    let leader = tokio::spawn({
        let service = service.clone();
        async move { send(&service, get("/context/slow/a", None)).await }
    });
    tokio::time::sleep(Duration::from_millis(10)).await;
    let follower = tokio::spawn({
        let service = service.clone();
        async move { send(&service, get("/context/slow/a", None)).await }
    });
    tokio::time::sleep(Duration::from_millis(10)).await;
    leader.abort();
    let reply = follower.await.unwrap();
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "the follower asked on its own"
    );
}

#[tokio::test(start_paused = true)]
async fn errors_are_not_values_and_stale_entries_cover_a_failing_source() {
    let (source, calls, down) = counting();
    let layer = cache(ContextCacheLayer::builder().stale_if_error(Duration::from_secs(300)));
    let service = layer.layer(McpService::new(source));
    down.store(true, Ordering::SeqCst);
    let failed = send(&service, get("/context/down/a", None)).await;
    assert_eq!(failed.status, StatusCode::SERVICE_UNAVAILABLE);
    let failed = send(&service, get("/context/down/a", None)).await;
    assert_eq!(
        failed.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "the error was not cached"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    down.store(false, Ordering::SeqCst);
    let good = send(&service, get("/context/down/a", None)).await;
    assert_eq!(good.status, StatusCode::OK);
    tokio::time::advance(Duration::from_secs(120)).await;
    down.store(true, Ordering::SeqCst);
    let stale = send(&service, get("/context/down/a", None)).await;
    assert_eq!(stale.status, StatusCode::OK);
    assert_eq!(cache_status(&stale), "mcp-bastion; hit; fwd=stale");
    assert_eq!(stale.body, good.body);
    assert_eq!(layer.handle().stats().stale, 1);
}

#[tokio::test(start_paused = true)]
async fn stale_while_revalidate_refreshes_once_in_the_background() {
    let (source, calls, _) = counting();
    let layer = cache(ContextCacheLayer::builder().stale_while_revalidate(Duration::from_secs(60)));
    let service = layer.layer(McpService::new(source));
    let first = send(&service, get("/context/public/a", None)).await;
    tokio::time::advance(Duration::from_secs(90)).await;
    for _ in 0..5 {
        let stale = send(&service, get("/context/public/a", None)).await;
        assert_eq!(cache_status(&stale), "mcp-bastion; hit; fwd=stale");
        assert_eq!(stale.body, first.body);
    }
    // Let the one refresh run.
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "one refresh for five stale hits"
    );
    let fresh = send(&service, get("/context/public/a", None)).await;
    assert_eq!(cache_status(&fresh), "mcp-bastion; hit");
    assert_ne!(fresh.body, first.body);
}

fn rpc(id: i64, method: &str, params: &Value, modern: bool) -> Request<Body> {
    let mut params = params.clone();
    let mut builder = Request::post("/mcp")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream");
    if modern {
        params["_meta"] = json!({
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {}
        });
        builder = builder
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", method);
        if let Some(uri) = params.get("uri").and_then(Value::as_str) {
            builder = builder.header("mcp-name", uri);
        }
    } else {
        builder = builder.header("mcp-protocol-version", "2025-11-25");
    }
    let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
    builder
        .body(Body::from(serde_json::to_vec(&body).unwrap()))
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn json_rpc_hits_answer_the_callers_id_and_the_remaining_ttl() {
    let (source, calls, _) = counting();
    let service = cache(ContextCacheLayer::builder()).layer(McpService::new(source));
    let read = json!({"uri": "ctx://public/a"});
    let first = send(&service, rpc(1, "resources/read", &read, false)).await;
    let second = send(&service, rpc(2, "resources/read", &read, false)).await;
    assert_eq!(cache_status(&second), "mcp-bastion; hit");
    let (first, second): (Value, Value) = (
        serde_json::from_str(&first.body).unwrap(),
        serde_json::from_str(&second.body).unwrap(),
    );
    assert_eq!(second["id"], 2);
    assert_eq!(second["result"], first["result"]);
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    let modern = send(&service, rpc(3, "resources/read", &read, true)).await;
    let modern: Value = serde_json::from_str(&modern.body).unwrap();
    assert_eq!(modern["result"]["ttlMs"], 60_000);
    tokio::time::advance(Duration::from_secs(20)).await;
    let later = send(&service, rpc(4, "resources/read", &read, true)).await;
    assert_eq!(cache_status(&later), "mcp-bastion; hit");
    // The stored result is spliced behind a fresh `ttlMs`: one member of that name.
    assert_eq!(later.body.matches("\"ttlMs\"").count(), 1, "{}", later.body);
    let mut later: Value = serde_json::from_str(&later.body).unwrap();
    let without_ttl = |value: &mut Value| value["result"].as_object_mut().unwrap().remove("ttlMs");
    let mut fresh = modern.clone();
    without_ttl(&mut fresh);
    let remaining = without_ttl(&mut later);
    assert_eq!(later["result"], fresh["result"]);
    later["result"]["ttlMs"] = remaining.unwrap();
    assert_eq!(later["id"], 4);
    assert_eq!(later["result"]["ttlMs"], 40_000);
    assert_eq!(later["result"]["cacheScope"], "public");
    // A batch is not cached.
    let batch = Request::post("/mcp")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream")
        .body(Body::from(
            r#"[{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"ctx://public/a"}}]"#,
        ))
        .unwrap();
    let reply = send(&service, batch).await;
    assert!(reply.headers.get("cache-status").is_none());
}

#[tokio::test]
async fn results_that_are_not_complete_are_never_stored() {
    // Asking for input, or still being generated (asynchronous generation), with no hint
    // besides the result itself.
    for result_type in ["input_required", "pending"] {
        let calls = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&calls);
        let inner = tower::service_fn(move |_request: Request<crate::mcp::RequestBody<Body>>| {
            count.fetch_add(1, Ordering::SeqCst);
            async move {
                let body = format!(
                    r#"{{"jsonrpc":"2.0","id":1,"result":{{"resultType":"{result_type}","contents":[],"ttlMs":60000,"cacheScope":"public"}}}}"#
                );
                let mut response = http::Response::new(Body::from(body));
                response
                    .headers_mut()
                    .insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
                Ok::<_, std::convert::Infallible>(response)
            }
        });
        let service = cache(ContextCacheLayer::builder()).layer(inner);
        for _ in 0..2 {
            let request = rpc(1, "resources/read", &json!({"uri": "ctx://public/a"}), true);
            let response = service.clone().oneshot(request).await.unwrap();
            assert_eq!(response.headers()["cache-status"], "mcp-bastion; fwd=miss");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 2, "{result_type}");
    }
}

#[tokio::test]
async fn invalidation_drops_contexts_prefixes_and_listings() {
    let (source, calls, _) = counting();
    let layer = cache(ContextCacheLayer::builder());
    let handle = layer.handle();
    let service = layer.layer(McpService::new(source));
    for path in [
        "/context/public/a",
        "/context/public/a/b",
        "/context/public/ab",
        "/context",
    ] {
        send(&service, get(path, None)).await;
    }
    assert_eq!(handle.stats().entries, 4);
    assert_eq!(
        handle.invalidate("public/ab"),
        2,
        "the context and the listing"
    );
    assert_eq!(handle.invalidate_prefix("public/a"), 2, "a and a/b, not ab");
    assert_eq!(handle.stats().entries, 0);
    send(&service, get("/context/public/a", None)).await;
    assert_eq!(handle.clear(), 1);
    let before = calls.load(Ordering::SeqCst);
    send(&service, get("/context/public/a", None)).await;
    assert_eq!(calls.load(Ordering::SeqCst), before + 1);
}

#[test]
fn settings_are_validated() {
    assert!(ContextCacheLayer::builder().max_entries(0).build().is_err());
    assert!(ContextCacheLayer::builder().max_bytes(0).build().is_err());
    assert!(
        ContextCacheLayer::builder()
            .flight_timeout(Duration::ZERO)
            .build()
            .is_err()
    );
}

#[tokio::test]
async fn a_panicking_source_poisons_nothing() {
    let calls = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&calls);
    let source = source_fn(move |_id: ContextId, _request: SourceRequest| {
        count.fetch_add(1, Ordering::SeqCst);
        async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            panic!("the source broke");
            #[allow(unreachable_code)]
            Ok(ContextEntry::text("note", "text", "never"))
        }
    });
    let layer = cache(ContextCacheLayer::builder());
    let service = tower::ServiceBuilder::new()
        .layer(crate::envelope::ErrorEnvelopeLayer::new())
        .layer(layer.clone())
        .service(McpService::new(source));
    let requests = (0..5).map(|_| service.clone().oneshot(get("/context/public/a", None)));
    for response in futures_util::future::join_all(requests).await {
        assert_eq!(
            response.unwrap().status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
    // Nothing stored, no flight left behind, and the next request asks again.
    assert_eq!(layer.handle().stats().entries, 0);
    assert_eq!(layer.shared_for_tests().flights.len(), 0);
    let before = calls.load(Ordering::SeqCst);
    let response = service
        .clone()
        .oneshot(get("/context/public/a", None))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(calls.load(Ordering::SeqCst), before + 1);
}

#[tokio::test(start_paused = true)]
async fn not_found_is_remembered_only_when_asked_and_briefly() {
    let (source, calls, _) = counting();
    let service = cache(ContextCacheLayer::builder().cache_not_found(Duration::from_secs(10)))
        .layer(McpService::new(source.clone()));
    for _ in 0..2 {
        let reply = send(&service, get("/context/missing/a", None)).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    for id in [1, 2] {
        let read = rpc(
            id,
            "resources/read",
            &json!({"uri": "ctx://missing/a"}),
            false,
        );
        let reply = send(&service, read).await;
        let answer: Value = serde_json::from_str(&reply.body).unwrap();
        assert_eq!(answer["id"], id);
        assert_eq!(answer["error"]["code"], -32002, "{answer}");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    tokio::time::advance(Duration::from_secs(11)).await;
    send(&service, get("/context/missing/a", None)).await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "the negative entry expired"
    );
    // Off by default.
    let plain = cache(ContextCacheLayer::builder()).layer(McpService::new(source));
    for _ in 0..2 {
        send(&plain, get("/context/missing/a", None)).await;
    }
    assert_eq!(calls.load(Ordering::SeqCst), 5);
}

#[tokio::test]
async fn one_subject_under_two_authenticators_is_two_callers() {
    let (source, calls, _) = counting();
    let service = cache(ContextCacheLayer::builder()).layer(McpService::new(source));
    let as_method = |method| {
        let mut request = Request::get("/context/private/a")
            .body(Body::default())
            .unwrap();
        request
            .extensions_mut()
            .insert(Principal::new("devUser", method));
        request
    };
    let key = send(&service, as_method(AuthMethod::ApiKey)).await;
    let token = send(&service, as_method(AuthMethod::Jwt)).await;
    assert_eq!(cache_status(&token), "mcp-bastion; fwd=miss; stored");
    assert_ne!(key.body, token.body);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn a_stale_hit_reads_no_more_body_than_a_miss() {
    let (source, _, _) = counting();
    let layer = cache(ContextCacheLayer::builder().stale_while_revalidate(Duration::from_secs(60)));
    let service = layer.layer(McpService::new(source));
    send(&service, get("/context/public/a", None)).await;
    tokio::time::advance(Duration::from_secs(90)).await;
    let huge = Request::get("/context/public/a")
        .body(Body::from(vec![b'x'; 2 * 1024 * 1024]))
        .unwrap();
    let reply = send(&service, huge).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn no_caller_can_crowd_out_the_others() {
    let (source, _, _) = counting();
    let layer = cache(ContextCacheLayer::builder().max_entries_per_caller(3));
    let service = layer.layer(McpService::new(source));
    for n in 0..5 {
        send(
            &service,
            get(&format!("/context/public/{n}?select=/{n}"), Some("mallory")),
        )
        .await;
    }
    assert_eq!(layer.handle().stats().entries, 3);
    let other = send(&service, get("/context/public/x", Some("alice"))).await;
    assert_eq!(cache_status(&other), "mcp-bastion; fwd=miss; stored");
    // Keys too long to be real requests are not stored at all.
    let pointer = format!("/{}", "a".repeat(500));
    let long = format!("/context/public/y?select={pointer}&select={pointer}b&select={pointer}c");
    let reply = send(&service, get(&long, Some("alice"))).await;
    assert_eq!(cache_status(&reply), "mcp-bastion; fwd=miss");
    assert_eq!(layer.handle().stats().entries, 4);
}

#[tokio::test]
async fn prefixes_that_name_no_segment_drop_nothing() {
    let (source, _, _) = counting();
    let layer = cache(ContextCacheLayer::builder());
    let handle = layer.handle();
    let service = layer.layer(McpService::new(source));
    send(&service, get("/context/public/a", None)).await;
    for prefix in ["", "/", "//"] {
        assert_eq!(handle.invalidate_prefix(prefix), 0, "{prefix:?}");
    }
    assert_eq!(handle.stats().entries, 1);
}

#[tokio::test]
async fn an_answer_fetched_across_an_invalidation_is_not_stored() {
    let (source, _, _) = counting();
    let layer = cache(ContextCacheLayer::builder());
    let handle = layer.handle();
    let service = layer.layer(McpService::new(source));
    let slow = tokio::spawn({
        let service = service.clone();
        async move { send(&service, get("/context/slow/a", None)).await }
    });
    tokio::time::sleep(Duration::from_millis(10)).await;
    handle.invalidate("slow/a");
    let reply = slow.await.unwrap();
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(cache_status(&reply), "mcp-bastion; fwd=miss");
    assert_eq!(handle.stats().entries, 0);
}

#[tokio::test]
async fn stateful_sessions_are_never_answered_from_the_cache() {
    let (source, calls, _) = counting();
    let endpoint = Endpoint::builder().sessions(true).build().unwrap();
    let layer = ContextCacheLayer::builder()
        .endpoint(&endpoint)
        .build()
        .unwrap();
    let service = layer.layer(McpService::with_endpoint(source, endpoint));
    for _ in 0..2 {
        let read = rpc(
            1,
            "resources/read",
            &json!({"uri": "ctx://public/a"}),
            false,
        );
        let reply = send(&service, read).await;
        // No session: the endpoint refuses, every time; nothing comes from the cache.
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        assert!(reply.headers.get("cache-status").is_none());
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

mod selection;
