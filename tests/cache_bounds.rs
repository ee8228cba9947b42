//! The cache's bounds at scale: a byte budget that holds over 100,000 distinct contexts, and
//! one source call for 1,000 concurrent misses of one key.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use mcp_bastion::cache::ContextCacheLayer;
use mcp_bastion::context::{CacheScope, ContextEntry, ContextId, SourceRequest, source_fn};
use mcp_bastion::mcp::McpService;
use tower::{Layer, ServiceExt};

type Body = Full<Bytes>;

fn counted(
    delay: Duration,
) -> (
    impl mcp_bastion::context::ContextSource + Clone,
    Arc<AtomicUsize>,
) {
    let calls = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&calls);
    let source = source_fn(move |id: ContextId, _request: SourceRequest| {
        count.fetch_add(1, Ordering::SeqCst);
        async move {
            tokio::time::sleep(delay).await;
            Ok(ContextEntry::text(
                "note",
                "text",
                format!("{} {}", id.as_str(), "x".repeat(200)),
            )
            .with_cache(Some(Duration::from_secs(600)), CacheScope::Public))
        }
    });
    (source, calls)
}

#[tokio::test]
async fn a_hundred_thousand_contexts_stay_within_16_mib() {
    const BUDGET: usize = 16 * 1024 * 1024;
    let (source, calls) = counted(Duration::ZERO);
    let layer = ContextCacheLayer::builder()
        .max_bytes(BUDGET)
        .max_entries(1_000_000)
        .build()
        .unwrap();
    let handle = layer.handle();
    let service = layer.layer(McpService::new(source));
    let mut most = 0;
    for n in 0..100_000 {
        let request = Request::get(format!("/context/docs/{n}"))
            .body(Body::default())
            .unwrap();
        let response = service.clone().oneshot(request).await.unwrap();
        assert!(response.status().is_success());
        let _ = response.into_body().collect().await.unwrap();
        if n % 1000 == 0 {
            let stats = handle.stats();
            assert!(stats.bytes <= BUDGET as u64, "{stats:?}");
            most = most.max(stats.bytes);
        }
    }
    let stats = handle.stats();
    assert!(stats.bytes <= BUDGET as u64, "{stats:?}");
    assert!(stats.evictions > 0, "{stats:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 100_000);
    println!(
        "100,000 contexts through a 16 MiB cache: {} entries, {} bytes held (most seen {most}), {} evictions",
        stats.entries, stats.bytes, stats.evictions
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_misses_make_one_source_call() {
    let (source, calls) = counted(Duration::from_millis(200));
    let layer = ContextCacheLayer::builder().build().unwrap();
    let handle = layer.handle();
    let service = layer.layer(McpService::new(source));
    let requests = (0..1000).map(|_| {
        let service = service.clone();
        tokio::spawn(async move {
            let request = Request::get("/context/docs/hot")
                .body(Body::default())
                .unwrap();
            let response = service.oneshot(request).await.unwrap();
            let status = response.status();
            let _ = response.into_body().collect().await.unwrap();
            status
        })
    });
    for status in futures_util::future::join_all(requests).await {
        assert!(status.unwrap().is_success());
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    println!(
        "1,000 concurrent misses: {} source call(s), {:?}",
        calls.load(Ordering::SeqCst),
        handle.stats()
    );
}
