//! What `ObserveLayer` costs one request, in memory (no sockets, no other layers, so the
//! figure does not drift with the machine's load the way a throughput run does): the layer
//! over a service that answers at once, with no subscriber, with the crate's `JsonLines`
//! format, and with `tracing-subscriber`'s own JSON format (both writing to a sink), and,
//! with feature `metrics`, the Prometheus recorder installed for every variant.
//!
//! ```text
//! cargo bench --bench observe --features metrics
//! ```

use std::convert::Infallible;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use mcp_bastion::observe::{JsonLines, ObserveLayer};
use tower::{Layer, ServiceExt, service_fn};

type Body = Full<Bytes>;

fn one_request(runtime: &tokio::runtime::Runtime) {
    let service = ObserveLayer::new().layer(service_fn(|_: Request<Body>| async {
        Ok::<_, Infallible>(Response::new(Body::from("{\"ok\":true}")))
    }));
    let request = Request::get("/context/public-docs/getting-started")
        .header("x-request-id", "bench-request-1")
        .body(Body::default())
        .unwrap();
    runtime.block_on(async {
        let response = service.oneshot(request).await.unwrap();
        response.into_body().collect().await.unwrap();
    });
}

fn observe(c: &mut Criterion) {
    #[cfg(feature = "metrics")]
    let _metrics = mcp_bastion::observe::install_prometheus().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("observe_request");
    group.bench_function("no_subscriber", |b| b.iter(|| one_request(&runtime)));
    let json_lines = tracing_subscriber::fmt()
        .fmt_fields(JsonLines)
        .event_format(JsonLines)
        .with_writer(std::io::sink)
        .finish();
    tracing::subscriber::with_default(json_lines, || {
        group.bench_function("json_lines", |b| b.iter(|| one_request(&runtime)));
    });
    let tracing_json = tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .with_writer(std::io::sink)
        .finish();
    tracing::subscriber::with_default(tracing_json, || {
        group.bench_function("tracing_subscriber_json", |b| {
            b.iter(|| one_request(&runtime));
        });
    });
    group.finish();
}

criterion_group!(benches, observe);
criterion_main!(benches);
