//! ContextCacheLayer cost: a REST and a JSON-RPC hit through the cache in front of McpService,
//! the same requests without a cache (every one reaching the source), and the overhead of the
//! cache on a request it cannot store (`no-store`).

use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, header};
use http_body_util::{BodyExt, Full};
use mcp_bastion::cache::ContextCacheLayer;
use mcp_bastion::context::{CacheScope, ContextEntry, ContextId, StaticSource};
use mcp_bastion::mcp::McpService;
use tower::{Layer, Service, ServiceExt};

type Body = Full<Bytes>;

fn source() -> StaticSource {
    let text = "x".repeat(2048);
    StaticSource::new()
        .with_context(
            ContextId::parse("docs/cached").unwrap(),
            ContextEntry::text("note", "text", text.clone())
                .with_cache(Some(Duration::from_secs(3600)), CacheScope::Public),
        )
        .with_context(
            ContextId::parse("docs/nostore").unwrap(),
            ContextEntry::text("note", "text", text).with_cache(None, CacheScope::NoStore),
        )
}

fn rest(id: &str) -> Request<Body> {
    Request::get(format!("/context/{id}"))
        .body(Body::default())
        .unwrap()
}

fn rpc() -> Request<Body> {
    Request::post("/mcp")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .body(Body::from(
            r#"{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"ctx://docs/cached"}}"#,
        ))
        .unwrap()
}

async fn run<S, B>(service: &S, request: Request<Body>) -> usize
where
    S: Service<Request<Body>, Response = http::Response<B>> + Clone,
    S::Error: std::fmt::Debug,
    B: http_body::Body<Data = Bytes>,
    B::Error: std::fmt::Debug,
{
    let response = service.clone().oneshot(request).await.unwrap();
    response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .len()
}

fn cache(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let bare = McpService::new(source());
    let cached = ContextCacheLayer::builder()
        .build()
        .unwrap()
        .layer(McpService::new(source()));
    runtime.block_on(async {
        run(&cached, rest("docs/cached")).await;
        run(&cached, rpc()).await;
    });
    let mut group = c.benchmark_group("cache");
    group.bench_function("rest_hit", |b| {
        b.iter(|| runtime.block_on(run(&cached, rest("docs/cached"))));
    });
    group.bench_function("rest_without_cache", |b| {
        b.iter(|| runtime.block_on(run(&bare, rest("docs/cached"))));
    });
    group.bench_function("rpc_hit", |b| {
        b.iter(|| runtime.block_on(run(&cached, rpc())));
    });
    group.bench_function("rpc_without_cache", |b| {
        b.iter(|| runtime.block_on(run(&bare, rpc())));
    });
    group.bench_function("rest_uncacheable_through_cache", |b| {
        b.iter(|| runtime.block_on(run(&cached, rest("docs/nostore"))));
    });
    group.bench_function("rest_uncacheable_without_cache", |b| {
        b.iter(|| runtime.block_on(run(&bare, rest("docs/nostore"))));
    });
    group.finish();
}

criterion_group!(benches, cache);
criterion_main!(benches);
