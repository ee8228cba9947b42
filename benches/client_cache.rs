//! What a hit of the client cache costs (feature `client`): a fresh stored answer for the
//! same credential, versus calling a service that answers at once; and a hit through the
//! whole `McpClient` (bearer, trace context, cache, envelope decoded).
//!
//! ```text
//! cargo bench --bench client_cache --features client
//! ```

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderValue, Request, Response, header};
use http_body_util::{BodyExt, Full};
use mcp_bastion::client::{ClientCacheLayer, McpClient};
use mcp_bastion::error::BoxError;
use tower::{Layer, ServiceExt, service_fn};

type Body = Full<Bytes>;

fn request() -> Request<Body> {
    Request::get("http://127.0.0.1:3000/context/project-alpha/dependency-graph")
        .header(header::AUTHORIZATION, "Bearer user-dev-token")
        .body(Body::default())
        .unwrap()
}

fn client_cache(c: &mut Criterion) {
    let body = Bytes::from_static(br#"{"contextId":"project-alpha/dependency-graph","version":"1.0.0","timestamp":"2026-11-28T06:30:19.118Z","data":{"type":"dependencyGraph","format":"json","content":"{\"nodes\":[{\"id\":\"A\"},{\"id\":\"B\"}]}"}}"#);
    let server = service_fn(move |_: Request<Body>| {
        let body = body.clone();
        async move {
            let mut response = Response::new(Body::new(body.clone()));
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_LENGTH, body.len().into());
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            headers.insert(header::ETAG, HeaderValue::from_static("\"v1\""));
            headers.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, max-age=3600"),
            );
            Ok::<_, BoxError>(response)
        }
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let cached = ClientCacheLayer::builder()
        .build()
        .unwrap()
        .layer(server.clone());
    runtime.block_on(async {
        cached.clone().oneshot(request()).await.unwrap();
    });
    let mut group = c.benchmark_group("client_cache");
    group.bench_function("hit", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let response = cached.clone().oneshot(request()).await.unwrap();
                response.into_body().collect().await.unwrap();
            });
        });
    });
    group.bench_function("no_cache", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let response = server.clone().oneshot(request()).await.unwrap();
                response.into_body().collect().await.unwrap();
            });
        });
    });
    // The ready client on a hit: bearer, trace context, the cache, and decoding the envelope.
    let transport = tower::util::BoxCloneSyncService::new(server.map_response(|response| {
        response.map(|body| body.map_err(|never| match never {}).boxed())
    }));
    let client = McpClient::builder("http://127.0.0.1:3000")
        .bearer_token("user-dev-token")
        .transport(transport)
        .build()
        .unwrap();
    runtime.block_on(async {
        client
            .get_context("project-alpha/dependency-graph")
            .await
            .unwrap();
    });
    group.bench_function("mcp_client_get_context_hit", |b| {
        b.iter(|| {
            runtime.block_on(async {
                client
                    .get_context("project-alpha/dependency-graph")
                    .await
                    .unwrap()
            })
        });
    });
    group.finish();
}

criterion_group!(benches, client_cache);
criterion_main!(benches);
