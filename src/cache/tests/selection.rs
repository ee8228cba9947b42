//! Selected reads in the cache: every selection its own entry, every spelling of one
//! selection the same entry, refused selections never stored.

use super::*;

/// A public JSON context, projected by the endpoint; counts its reads.
fn json_source() -> (impl ContextSource + Clone, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&calls);
    let source = source_fn(move |_id: ContextId, _request: SourceRequest| {
        count.fetch_add(1, Ordering::SeqCst);
        async move {
            Ok(
                ContextEntry::text("doc", "json", r#"{"a":[1,2,3],"b":"x"}"#)
                    .with_cache(Some(Duration::from_secs(60)), CacheScope::Public),
            )
        }
    });
    (source, calls)
}

fn content(reply: &Reply) -> Value {
    let body: Value = serde_json::from_str(&reply.body).unwrap();
    body.get("data").map_or_else(
        || body["result"]["contents"][0]["text"].clone(),
        |data| data["content"].clone(),
    )
}

#[tokio::test]
async fn rest_selections_never_share_an_entry() {
    let (source, calls) = json_source();
    let layer = cache(ContextCacheLayer::builder());
    let service = layer.layer(McpService::new(source));
    let mut etags = Vec::new();
    for (query, expected) in [
        ("", r#"{"a":[1,2,3],"b":"x"}"#),
        ("?select=/a", "[1,2,3]"),
        ("?select=/b", r#""x""#),
        ("?select=/a&select=/b", r#"{"/a":[1,2,3],"/b":"x"}"#),
        ("?select=/a&limit=2", "[1,2]"),
        ("?select=bytes=0-3", r#"{"a""#),
    ] {
        let reply = send(&service, get(&format!("/context/doc/x{query}"), None)).await;
        assert_eq!(reply.status, StatusCode::OK, "{query}: {}", reply.body);
        assert_eq!(
            cache_status(&reply),
            "mcp-bastion; fwd=miss; stored",
            "{query}"
        );
        assert_eq!(content(&reply), expected, "{query}");
        etags.push(reply.headers[header::ETAG].clone());
    }
    let mut unique = etags.clone();
    unique.dedup();
    assert_eq!(unique.len(), etags.len(), "{etags:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 6);
    // Another spelling of one selection is the same entry.
    let reply = send(
        &service,
        get("/context/doc/x?select=/b&select=%2Fa&select=/b", None),
    )
    .await;
    assert_eq!(cache_status(&reply), "mcp-bastion; hit");
    assert_eq!(content(&reply), r#"{"/a":[1,2,3],"/b":"x"}"#);
    // A conditional request for a selection, answered from its entry.
    let mut request = get("/context/doc/x?select=/a", None);
    request
        .headers_mut()
        .insert(header::IF_NONE_MATCH, etags[1].clone());
    let reply = send(&service, request).await;
    assert_eq!(reply.status, StatusCode::NOT_MODIFIED);
    assert_eq!(cache_status(&reply), "mcp-bastion; hit");
    // Refused selections are answered by the endpoint and never stored.
    let entries = layer.handle().stats().entries;
    for query in [
        "?select=/ghost",
        "?select=nodes",
        "?select=/a&cursor=forged",
        "?limit=0",
    ] {
        for _ in 0..2 {
            let reply = send(&service, get(&format!("/context/doc/x{query}"), None)).await;
            assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{query}");
        }
    }
    assert_eq!(layer.handle().stats().entries, entries);
}

#[tokio::test]
async fn mcp_selections_never_share_an_entry_in_either_era() {
    let (source, calls) = json_source();
    let service = cache(ContextCacheLayer::builder()).layer(McpService::new(source));
    for modern in [false, true] {
        let reads = [
            (json!({"uri": "ctx://doc/x"}), r#"{"a":[1,2,3],"b":"x"}"#),
            (json!({"uri": "ctx://doc/x", "select": "/a"}), "[1,2,3]"),
            (json!({"uri": "ctx://doc/x", "select": ["/b"]}), r#""x""#),
            (
                json!({"uri": "ctx://doc/x", "select": "/a", "limit": 1}),
                "[1]",
            ),
        ];
        for (params, expected) in &reads {
            let reply = send(&service, rpc(1, "resources/read", params, modern)).await;
            assert_eq!(
                cache_status(&reply),
                "mcp-bastion; fwd=miss; stored",
                "{params}"
            );
            assert_eq!(
                content(&reply),
                *expected,
                "{modern} {params}: {}",
                reply.body
            );
        }
        let again = json!({"uri": "ctx://doc/x", "select": ["/b", "/b"]});
        let reply = send(&service, rpc(2, "resources/read", &again, modern)).await;
        assert_eq!(cache_status(&reply), "mcp-bastion; hit");
        assert_eq!(content(&reply), r#""x""#);
    }
    // The legacy `_meta` form keys as the params form does.
    let meta = json!({"uri": "ctx://doc/x", "_meta": {"io.github.mcp-bastion/select": "/a"}});
    let reply = send(&service, rpc(3, "resources/read", &meta, false)).await;
    assert_eq!(cache_status(&reply), "mcp-bastion; hit");
    assert_eq!(content(&reply), "[1,2,3]");
    assert_eq!(calls.load(Ordering::SeqCst), 8);
    // A refused selection: -32602 naming it, not stored.
    let bad = json!({"uri": "ctx://doc/x", "select": "/ghost"});
    for _ in 0..2 {
        let reply = send(&service, rpc(4, "resources/read", &bad, false)).await;
        let body: Value = serde_json::from_str(&reply.body).unwrap();
        assert_eq!(body["error"]["code"], -32602, "{body}");
        assert_eq!(body["error"]["data"]["select"], "/ghost");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 10);
}

/// Hostile review: a page of a public context is shared by every caller, but its
/// `nextCursor` is sealed for the caller who filled the entry; another caller served that
/// page must still be able to follow its cursor, and must not be served pages through a
/// cursor sealed for someone else.
#[tokio::test]
async fn pages_of_a_public_context_carry_cursors_their_reader_can_follow() {
    let (source, _calls) = json_source();
    let service = cache(ContextCacheLayer::builder()).layer(McpService::new(source));
    let first = "/context/doc/x?select=/a&limit=1";
    let cursor_of = |reply: &Reply| -> String {
        let body: Value = serde_json::from_str(&reply.body).unwrap();
        body["selection"]["nextCursor"]
            .as_str()
            .unwrap_or_else(|| panic!("no cursor: {body}"))
            .to_owned()
    };
    let alice = send(&service, get(first, Some("alice"))).await;
    assert_eq!(alice.status, StatusCode::OK, "{}", alice.body);
    let bob = send(&service, get(first, Some("bob"))).await;
    assert_eq!(bob.status, StatusCode::OK, "{}", bob.body);
    assert_eq!(content(&bob), "[1]");
    let next = format!(
        "/context/doc/x?select=/a&limit=1&cursor={}",
        cursor_of(&bob)
    );
    let bob_next = send(&service, get(&next, Some("bob"))).await;
    assert_eq!(bob_next.status, StatusCode::OK, "{}", bob_next.body);
    assert_eq!(content(&bob_next), "[2]");
    // Alice's cursor stays hers, even once bob's page is stored.
    let alice_next = format!(
        "/context/doc/x?select=/a&limit=1&cursor={}",
        cursor_of(&alice)
    );
    let mallory = send(&service, get(&alice_next, Some("mallory"))).await;
    assert_eq!(mallory.status, StatusCode::BAD_REQUEST, "{}", mallory.body);
    let alice_page = send(&service, get(&alice_next, Some("alice"))).await;
    assert_eq!(content(&alice_page), "[2]");
    let mallory = send(&service, get(&alice_next, Some("mallory"))).await;
    assert_eq!(mallory.status, StatusCode::BAD_REQUEST, "{}", mallory.body);
}

/// As above, for `resources/read` pages in both eras.
#[tokio::test]
async fn mcp_pages_of_a_public_context_carry_cursors_their_reader_can_follow() {
    let (source, _calls) = json_source();
    let service = cache(ContextCacheLayer::builder()).layer(McpService::new(source));
    for modern in [false, true] {
        let read = |params: &Value, subject: &str| {
            let mut request = rpc(1, "resources/read", params, modern);
            request
                .extensions_mut()
                .insert(Principal::new(subject, AuthMethod::ApiKey));
            request
        };
        let first = json!({"uri": "ctx://doc/x", "select": "/a", "limit": 1});
        let alice = send(&service, read(&first, "alice")).await;
        assert!(alice.body.contains("nextCursor"), "{}", alice.body);
        let bob = send(&service, read(&first, "bob")).await;
        let body: Value = serde_json::from_str(&bob.body).unwrap();
        let cursor =
            body["result"]["contents"][0]["_meta"]["io.github.mcp-bastion/selection"]["nextCursor"]
                .clone();
        assert!(cursor.is_string(), "{body}");
        let next = json!({"uri": "ctx://doc/x", "select": "/a", "limit": 1, "cursor": cursor});
        let reply = send(&service, read(&next, "bob")).await;
        assert_eq!(content(&reply), "[2]", "{modern}: {}", reply.body);
    }
}
