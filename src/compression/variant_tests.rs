//! The cache's stored encoded variants behind the compression layer, in memory: one
//! compression per context and coding however many ask, the stored bytes on every later
//! hit, HEAD and 304, the byte budget, invalidation, and what never gets a variant.

use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode, header};
use serde_json::Value;

use super::CompressionConfig;
use super::tests::{decode, get, read_request, rpc, send, stack_with, vary};
use crate::cache::{CacheHandle, ContextCacheLayer};

const HISTORY: &str = "/context/docs/history";

fn cached(
    config: CompressionConfig,
    max_bytes: usize,
) -> (
    crate::stack::StackService<crate::mcp::McpService<crate::context::StaticSource>>,
    CacheHandle,
) {
    let cache = ContextCacheLayer::builder()
        .max_bytes(max_bytes)
        .build()
        .unwrap();
    let handle = cache.handle();
    (stack_with(config, Some(cache)), handle)
}

fn cache_status(response: &http::Response<Bytes>) -> &str {
    response.headers()["cache-status"].to_str().unwrap()
}

#[tokio::test]
async fn each_coding_is_compressed_once_and_served_from_the_store() {
    let (service, handle) = cached(CompressionConfig::default(), 64 << 20);
    let identity = send(&service, get(HISTORY, None)).await;
    assert_eq!(identity.status(), StatusCode::OK);
    assert_eq!(handle.stats().encoded, 0);
    let identity_bytes = handle.stats().bytes;
    let mut variant_bytes = 0;
    for (n, coding) in ["gzip", "br", "zstd"].into_iter().enumerate() {
        let first = send(&service, get(HISTORY, Some(coding))).await;
        assert_eq!(handle.stats().encoded, n as u64 + 1, "{coding}");
        variant_bytes += first.body().len() as u64;
        for _ in 0..3 {
            let again = send(&service, get(HISTORY, Some(coding))).await;
            assert_eq!(again.status(), StatusCode::OK);
            assert_eq!(cache_status(&again), "mcp-bastion; hit");
            assert_eq!(again.headers()[header::CONTENT_ENCODING], coding);
            assert_eq!(again.headers()[header::ETAG], "W/\"7\"");
            let varies = vary(&again);
            assert_eq!(varies.len(), 1, "{varies:?}");
            assert_eq!(varies[0].matches("accept-encoding").count(), 1);
            assert_eq!(
                again.headers()[header::CONTENT_LENGTH],
                again.body().len().to_string().as_str()
            );
            // The same stored bytes, and no new compression.
            assert!(again.body() == first.body(), "{coding}");
            assert_eq!(handle.stats().encoded, n as u64 + 1, "{coding}");
            assert!(decode(&again).await == identity.body(), "{coding}");
        }
        assert!(first.body().len() < identity.body().len() / 4, "{coding}");
    }
    // The variants are charged to the budget with their entry.
    assert_eq!(handle.stats().bytes, identity_bytes + variant_bytes);
    assert_eq!(handle.stats().entries, 1);
    // The identity copy is still served to those who accept no coding.
    let plain = send(&service, get(HISTORY, None)).await;
    assert!(plain.headers().get(header::CONTENT_ENCODING).is_none());
    assert!(plain.body() == identity.body());
}

#[tokio::test]
async fn the_first_request_in_a_coding_already_gets_the_variant() {
    let (service, handle) = cached(CompressionConfig::default(), 64 << 20);
    let first = send(&service, get(HISTORY, Some("gzip"))).await;
    assert_eq!(cache_status(&first), "mcp-bastion; fwd=miss; stored");
    assert_eq!(first.headers()[header::CONTENT_ENCODING], "gzip");
    assert!(first.headers().get(header::CONTENT_LENGTH).is_some());
    assert_eq!(handle.stats().encoded, 1);
    let second = send(&service, get(HISTORY, Some("gzip"))).await;
    assert!(second.body() == first.body());
    assert_eq!(handle.stats().encoded, 1);
}

#[tokio::test]
async fn concurrent_first_hits_compress_once() {
    let (service, handle) = cached(CompressionConfig::default(), 64 << 20);
    send(&service, get(HISTORY, None)).await;
    let asks = (0..8).map(|_| send(&service, get(HISTORY, Some("br"))));
    let answers = futures_util::future::join_all(asks).await;
    assert_eq!(handle.stats().encoded, 1);
    for answer in &answers {
        assert_eq!(answer.headers()[header::CONTENT_ENCODING], "br");
        assert!(answer.body() == answers[0].body());
    }
}

#[tokio::test]
async fn head_gets_the_variants_headers_and_304_needs_no_compression() {
    let (service, handle) = cached(CompressionConfig::default(), 64 << 20);
    let full = send(&service, get(HISTORY, Some("zstd"))).await;
    let mut head = get(HISTORY, Some("zstd"));
    *head.method_mut() = Method::HEAD;
    let head = send(&service, head).await;
    assert_eq!(head.status(), StatusCode::OK);
    assert!(head.body().is_empty());
    assert_eq!(head.headers()[header::CONTENT_ENCODING], "zstd");
    assert_eq!(head.headers()[header::ETAG], "W/\"7\"");
    assert_eq!(
        head.headers()[header::CONTENT_LENGTH],
        full.body().len().to_string().as_str()
    );
    assert!(vary(&head)[0].contains("accept-encoding"));
    assert_eq!(handle.stats().encoded, 1);
    // A revalidation in a coding not built yet answers 304 without compressing anything.
    let mut revalidate = get(HISTORY, Some("gzip"));
    revalidate
        .headers_mut()
        .insert(header::IF_NONE_MATCH, HeaderValue::from_static("W/\"7\""));
    let response = send(&service, revalidate).await;
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(response.headers()[header::ETAG], "W/\"7\"");
    assert!(response.headers().get(header::CONTENT_ENCODING).is_none());
    assert_eq!(handle.stats().encoded, 1);
    // An authenticated caller's entry stays private, variants included.
    let cache_control = full.headers()[header::CACHE_CONTROL].to_str().unwrap();
    assert!(cache_control.starts_with("private"), "{cache_control}");
}

#[tokio::test]
async fn invalidation_drops_the_variants_with_their_entry() {
    let (service, handle) = cached(CompressionConfig::default(), 64 << 20);
    let before = send(&service, get(HISTORY, Some("gzip"))).await;
    assert_eq!(handle.stats().encoded, 1);
    assert_eq!(handle.invalidate("docs/history"), 1);
    assert_eq!(handle.stats().bytes, 0);
    let after = send(&service, get(HISTORY, Some("gzip"))).await;
    assert_eq!(cache_status(&after), "mcp-bastion; fwd=miss; stored");
    // A new entry: its variant is built again.
    assert_eq!(handle.stats().encoded, 2);
    // The new entry's body (read again: a new timestamp), encoded anew.
    let json: Value = serde_json::from_slice(&decode(&after).await).unwrap();
    assert_eq!(json["contextId"], "docs/history");
    assert_eq!(json["version"], "7");
    assert!(serde_json::from_slice::<Value>(&decode(&before).await).is_ok());
}

#[tokio::test]
async fn a_variant_over_the_budget_is_not_kept() {
    let config = CompressionConfig::default();
    // Room for the identity entry alone.
    let (probe, probe_handle) = cached(config, 64 << 20);
    send(&probe, get(HISTORY, None)).await;
    let entry_cost = probe_handle.stats().bytes;
    let (service, handle) = cached(config, usize::try_from(entry_cost).unwrap() + 100);
    let identity = send(&service, get(HISTORY, None)).await;
    assert_eq!(handle.stats().bytes, entry_cost);
    for _ in 0..2 {
        let response = send(&service, get(HISTORY, Some("gzip"))).await;
        // Compressed on the way out instead, and nothing charged beyond the budget.
        assert_eq!(response.headers()[header::CONTENT_ENCODING], "gzip");
        assert!(response.headers().get(header::CONTENT_LENGTH).is_none());
        assert!(decode(&response).await == identity.body());
        assert_eq!(handle.stats().bytes, entry_cost);
        assert_eq!(handle.stats().entries, 1);
    }
    // Tried once: the entry remembers the variant could not be kept.
    assert_eq!(handle.stats().encoded, 1);
}

#[tokio::test]
async fn listings_and_json_rpc_reads_never_get_a_stored_variant() {
    let (service, handle) = cached(CompressionConfig::default().min_size(64), 64 << 20);
    for _ in 0..2 {
        let listing = send(&service, get("/context?limit=100", Some("zstd"))).await;
        assert_eq!(listing.status(), StatusCode::OK);
        // Compressed on the way out, after the policy filtered it.
        assert_eq!(listing.headers()[header::CONTENT_ENCODING], "zstd");
        let text = String::from_utf8(decode(&listing).await.to_vec()).unwrap();
        assert!(
            text.contains("docs/page-07") && !text.contains("secret"),
            "{text}"
        );
    }
    let mut read = rpc(Bytes::from(read_request("docs/history")), None);
    read.headers_mut()
        .insert(header::ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
    let response = send(&service, read).await;
    assert_eq!(response.status(), StatusCode::OK);
    let json: Value = serde_json::from_slice(&decode(&response).await).unwrap();
    assert_eq!(json["id"], 1);
    assert!(handle.stats().hits + handle.stats().misses >= 3);
    assert_eq!(handle.stats().encoded, 0);
}
