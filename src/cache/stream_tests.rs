//! The cache in front of reads answered as event streams: never stored.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, header};
use http_body_util::{BodyExt, Full};
use serde_json::json;
use tower::{Layer, ServiceExt};

use super::ContextCacheLayer;
use crate::context::{CacheScope, ContextEntry, ContextId, SourceRequest, source_fn};
use crate::mcp::{AsyncGeneration, Endpoint, McpService};

fn read(token: Option<&str>) -> Request<Full<Bytes>> {
    let mut params = json!({ "uri": "ctx://public/report" });
    if let Some(token) = token {
        params["_meta"] = json!({ "progressToken": token });
    }
    let body = json!({ "jsonrpc": "2.0", "id": 1, "method": "resources/read", "params": params });
    Request::post("/mcp")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .body(Full::from(serde_json::to_vec(&body).unwrap()))
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_streamed_answer_is_never_stored() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    // Public for a minute: a whole answer would be stored.
    let source = source_fn(move |_id: ContextId, _request: SourceRequest| {
        counted.fetch_add(1, Ordering::SeqCst);
        async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok(ContextEntry::text("note", "text", "ready")
                .with_cache(Some(Duration::from_secs(60)), CacheScope::Public))
        }
    });
    let endpoint = Endpoint::builder()
        .async_generation(AsyncGeneration::new())
        .build()
        .unwrap();
    let layer = ContextCacheLayer::builder()
        .endpoint(&endpoint)
        .build()
        .unwrap();
    let service = layer.layer(McpService::with_endpoint(source, endpoint));

    let streamed = service.clone().oneshot(read(Some("t"))).await.unwrap();
    assert_eq!(
        streamed.headers()[header::CONTENT_TYPE],
        "text/event-stream"
    );
    let status = streamed.headers()["cache-status"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(!status.contains("stored"), "{status}");
    let text = streamed.into_body().collect().await.unwrap().to_bytes();
    assert!(String::from_utf8_lossy(&text).contains("ready"));

    // Nothing kept: the next read asks the source again (and is pending again).
    let whole = service.clone().oneshot(read(None)).await.unwrap();
    let status = whole.headers()["cache-status"].to_str().unwrap().to_owned();
    assert!(!status.contains("hit"), "{status}");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}
