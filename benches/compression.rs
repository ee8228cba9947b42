//! Compression figures for a large JSON context (a build history of 500 builds, ~140 KB as
//! a REST response): the size per coding and level (printed once), and the cost per request
//! of the two ways a cache could serve it compressed —
//! `on_the_way_out/<coding>`: the cache stores identity bytes and `CompressionLayer`
//! compresses every response (what the stack does), versus
//! `stored_variant/<coding>`: the bytes were compressed once and stored, and each request
//! only passes them through the same layer; `identity` is the floor. `small/*`: the layer's
//! own cost on an answer below the minimum size, against the bare service.
//! `cache_hit/*`: a hit of that context (~184 KB from `McpService`) through
//! `CompressionLayer` → `ContextCacheLayer` → `McpService` with gzip accepted — `before`: the
//! cache sends its identity copy and the layer compresses it on the way out; `after`: the
//! cache sends the variant it stored (`ContextCacheLayer::encoded_variants`).

#[path = "../tests/common/build_history.rs"]
mod build_history;

use std::convert::Infallible;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderValue, Request, Response, header};
use http_body_util::{BodyExt, Full};
use mcp_bastion::compression::{CompressionConfig, CompressionLayer, CompressionLevel};
use tower::{Layer, Service, ServiceExt, service_fn};

type Body = Full<Bytes>;

/// The REST response body `GET /context/project-alpha/build-history` would carry.
fn rest_body() -> Bytes {
    let content = build_history::build_history(500);
    Bytes::from(
        serde_json::json!({
            "contextId": "project-alpha/build-history",
            "version": "42",
            "timestamp": "2026-11-28T09:00:00Z",
            "data": {"type": "buildHistory", "format": "json", "content": content}
        })
        .to_string(),
    )
}

/// A service answering `bytes`, as stored, with `encoding` when they are already encoded.
fn stored(
    bytes: Bytes,
    encoding: Option<&'static str>,
) -> impl Service<Request<Body>, Response = Response<Body>, Error = Infallible, Future: Send> + Clone
{
    service_fn(move |_: Request<Body>| {
        let mut response = Response::new(Body::new(bytes.clone()));
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(header::ETAG, HeaderValue::from_static("\"42\""));
        if let Some(encoding) = encoding {
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
        }
        std::future::ready(Ok(response))
    })
}

fn request(accept: &'static str) -> Request<Body> {
    Request::get("/context/project-alpha/build-history")
        .header(header::ACCEPT_ENCODING, accept)
        .body(Body::default())
        .unwrap()
}

async fn run<S, B>(service: &S, accept: &'static str) -> Bytes
where
    S: Service<Request<Body>, Response = Response<B>> + Clone,
    S::Error: std::fmt::Debug,
    B: http_body::Body<Data = Bytes>,
    B::Error: std::fmt::Debug,
{
    let response = service.clone().oneshot(request(accept)).await.unwrap();
    response.into_body().collect().await.unwrap().to_bytes()
}

fn compression(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let body = rest_body();
    let codings = ["gzip", "br", "zstd"];
    eprintln!("build history (500 builds): identity {} bytes", body.len());
    for (name, level) in [
        ("fastest", CompressionLevel::Fastest),
        ("default", CompressionLevel::Default),
        ("best", CompressionLevel::Best),
    ] {
        let layer = CompressionLayer::new(CompressionConfig::default().level(level));
        let service = layer.layer(stored(body.clone(), None));
        for coding in codings {
            let size = runtime.block_on(run(&service, coding)).len();
            eprintln!("  {coding:>4} level {name:>7}: {size:>6} bytes");
        }
    }

    let layer = CompressionLayer::new(CompressionConfig::default());
    let out = layer.layer(stored(body.clone(), None));
    let mut group = c.benchmark_group("compression");
    group.bench_function("identity", |b| {
        b.iter(|| runtime.block_on(run(&out, "identity")));
    });
    for coding in codings {
        group.bench_function(format!("on_the_way_out/{coding}"), |b| {
            b.iter(|| runtime.block_on(run(&out, coding)));
        });
        let variant = runtime.block_on(run(&out, coding));
        let from_store = layer.layer(stored(variant, Some(coding)));
        group.bench_function(format!("stored_variant/{coding}"), |b| {
            b.iter(|| runtime.block_on(run(&from_store, coding)));
        });
    }
    // The layer's own cost on a small JSON answer it leaves alone (under the minimum size).
    let small = Bytes::from(r#"{"contextId":"docs/a","version":"1","data":{"content":"hi"}}"#);
    let bare = stored(small.clone(), None);
    let through = layer.layer(stored(small, None));
    group.bench_function("small/bare", |b| {
        b.iter(|| runtime.block_on(run(&bare, "gzip, br, zstd")));
    });
    group.bench_function("small/through_layer", |b| {
        b.iter(|| runtime.block_on(run(&through, "gzip, br, zstd")));
    });
    let disabled = CompressionLayer::disabled().layer(stored(
        Bytes::from(r#"{"contextId":"docs/a","version":"1","data":{"content":"hi"}}"#),
        None,
    ));
    group.bench_function("small/disabled_layer", |b| {
        b.iter(|| runtime.block_on(run(&disabled, "gzip, br, zstd")));
    });
    group.bench_function("small/through_layer_identity", |b| {
        b.iter(|| runtime.block_on(run(&through, "identity")));
    });
    group.finish();
}

fn cache_hit(c: &mut Criterion) {
    use mcp_bastion::cache::ContextCacheLayer;
    use mcp_bastion::context::{ContextEntry, ContextId, StaticSource};
    use mcp_bastion::mcp::McpService;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let source = || {
        StaticSource::new().with_context(
            ContextId::parse("project-alpha/build-history").unwrap(),
            ContextEntry::text("buildHistory", "json", build_history::build_history(500))
                .with_version("42"),
        )
    };
    let config = CompressionConfig::default();
    let before = CompressionLayer::new(config).layer(
        ContextCacheLayer::builder()
            .build()
            .unwrap()
            .layer(McpService::new(source())),
    );
    let after = CompressionLayer::new(config).layer(
        ContextCacheLayer::builder()
            .build()
            .unwrap()
            .encoded_variants(config)
            .layer(McpService::new(source())),
    );
    let identity = runtime.block_on(run(&before, "identity"));
    let first = runtime.block_on(run(&after, "gzip"));
    eprintln!(
        "cache hit: identity {} bytes, stored gzip variant {} bytes",
        identity.len(),
        first.len()
    );
    let mut group = c.benchmark_group("cache_hit");
    group.bench_function("before/gzip", |b| {
        b.iter(|| runtime.block_on(run(&before, "gzip")));
    });
    group.bench_function("after/gzip", |b| {
        b.iter(|| runtime.block_on(run(&after, "gzip")));
    });
    group.bench_function("identity", |b| {
        b.iter(|| runtime.block_on(run(&after, "identity")));
    });
    group.finish();
}

criterion_group!(benches, compression, cache_hit);
criterion_main!(benches);
