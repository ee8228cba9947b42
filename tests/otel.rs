//! OpenTelemetry (feature `otel`): the spans of a request, as the SDK's in-memory exporter
//! receives them, join the caller's trace, nest as documented, and the source sees a
//! context whose parent is our span.
#![cfg(feature = "otel")]

mod common;

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use mcp_bastion::auth::AuthLayer;
use mcp_bastion::context::{ContextEntry, ContextId, SourceError, SourceRequest, source_fn};
use mcp_bastion::mcp::Endpoint;
use mcp_bastion::policy::{Policy, PolicyHandle};
use mcp_bastion::stack::Stack;
use opentelemetry::trace::{SpanId, SpanKind, Status, TraceId, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use serde_json::json;
use tower::{Service, ServiceExt};
use tracing_subscriber::layer::SubscriberExt;

type Body = Full<Bytes>;

const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// Spans end up here; the guard keeps the subscriber for this (current-thread) test.
struct Recorded {
    exporter: InMemorySpanExporter,
    _provider: SdkTracerProvider,
    _guard: tracing::subscriber::DefaultGuard,
}

impl Recorded {
    fn start() -> Self {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("test"));
        let subscriber = tracing_subscriber::registry()
            .with(tracing_subscriber::filter::LevelFilter::DEBUG)
            .with(layer);
        let guard = tracing::subscriber::set_default(subscriber);
        tracing::callsite::rebuild_interest_cache();
        Self {
            exporter,
            _provider: provider,
            _guard: guard,
        }
    }

    fn spans(&self) -> Vec<SpanData> {
        self.exporter.get_finished_spans().unwrap()
    }

    fn named(&self, name: &str) -> SpanData {
        let spans = self.spans();
        spans
            .iter()
            .find(|span| span.name == name)
            .unwrap_or_else(|| {
                let names: Vec<_> = spans.iter().map(|span| span.name.to_string()).collect();
                panic!("no span {name:?} among {names:?}")
            })
            .clone()
    }
}

fn attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.to_string())
}

/// The ancestors of `span` among the recorded spans, nearest first, by name.
fn ancestors(spans: &[SpanData], span: &SpanData) -> Vec<String> {
    let mut names = Vec::new();
    let mut parent = span.parent_span_id;
    while let Some(next) = spans.iter().find(|s| s.span_context.span_id() == parent) {
        names.push(next.name.to_string());
        parent = next.parent_span_id;
    }
    names
}

/// A source that keeps the trace context it was handed.
type Seen = Arc<Mutex<Vec<Option<String>>>>;

fn stack(
    seen: &Seen,
) -> impl Service<
    Request<Body>,
    Response = http::Response<impl http_body::Body<Data = Bytes, Error: std::fmt::Debug>>,
    Error: std::fmt::Debug,
> + Clone {
    let seen = Arc::clone(seen);
    let source = source_fn(move |id: ContextId, request: SourceRequest| {
        seen.lock()
            .unwrap()
            .push(request.trace.map(|trace| trace.traceparent().to_owned()));
        async move {
            if id.as_str() == "docs/broken" {
                return Err(SourceError::Unavailable("upstream down".into()));
            }
            Ok(ContextEntry::text("note", "text", "hello"))
        }
    });
    let policy = Policy::from_toml(
        r#"
        roles = ["developer"]
        [[rules]]
        id = "otel-docs"
        effect = "allow"
        roles = ["developer"]
        actions = ["read"]
        contexts = ["docs/**"]
        "#,
    )
    .unwrap();
    Stack::new(Endpoint::default())
        .auth(AuthLayer::builder().api_keys(common::seed_keys()))
        .policy(PolicyHandle::new(policy))
        .serve_source(source)
        .unwrap()
}

fn rest(path: &str) -> http::request::Builder {
    Request::get(path).header(header::AUTHORIZATION, "Bearer user-dev-token")
}

async fn send<S, B>(service: &S, request: Request<Body>) -> StatusCode
where
    S: Service<Request<Body>, Response = http::Response<B>, Error: std::fmt::Debug> + Clone,
    B: http_body::Body<Data = Bytes, Error: std::fmt::Debug>,
{
    let response = service.clone().oneshot(request).await.unwrap();
    let status = response.status();
    response.into_body().collect().await.unwrap();
    status
}

#[tokio::test(flavor = "current_thread")]
async fn a_rest_read_joins_the_callers_trace_and_the_source_continues_it() {
    let recorded = Recorded::start();
    let seen = Seen::default();
    let request = rest("/context/docs/a")
        .header("traceparent", TRACEPARENT)
        .header("tracestate", "rojo=00f067aa0ba902b7")
        .body(Body::default())
        .unwrap();
    assert_eq!(send(&stack(&seen), request).await, StatusCode::OK);

    let spans = recorded.spans();
    let request_span = recorded.named("context.read");
    let context = &request_span.span_context;
    assert_eq!(context.trace_id(), TraceId::from_hex(CALLER_TRACE).unwrap());
    assert_eq!(
        request_span.parent_span_id,
        SpanId::from_hex(CALLER_SPAN).unwrap()
    );
    assert!(request_span.parent_span_is_remote);
    assert_eq!(request_span.span_kind, SpanKind::Server);
    assert_eq!(context.trace_state().get("rojo"), Some("00f067aa0ba902b7"));
    assert_eq!(
        attribute(&request_span, "http.response.status_code").as_deref(),
        Some("200")
    );
    assert_eq!(
        attribute(&request_span, "mcp_bastion.context_id").as_deref(),
        Some("docs/a")
    );

    // Every span of the request is in the caller's trace, under the request span.
    for name in ["authenticate", "authorize", "source", "serialize"] {
        let span = recorded.named(name);
        assert_eq!(span.span_context.trace_id(), context.trace_id(), "{name}");
        assert!(
            ancestors(&spans, &span).contains(&"context.read".to_owned()),
            "{name} is not under the request span: {:?}",
            ancestors(&spans, &span)
        );
    }
    // The source was handed our source span as the parent of its own calls.
    let source_span = recorded.named("source");
    let expected = format!(
        "00-{CALLER_TRACE}-{}-01",
        source_span.span_context.span_id()
    );
    assert_eq!(seen.lock().unwrap().as_slice(), &[Some(expected)]);
}

#[tokio::test(flavor = "current_thread")]
async fn without_a_traceparent_a_new_trace_starts_and_the_source_is_in_it() {
    let recorded = Recorded::start();
    let seen = Seen::default();
    let request = rest("/context/docs/a").body(Body::default()).unwrap();
    assert_eq!(send(&stack(&seen), request).await, StatusCode::OK);

    let request_span = recorded.named("context.read");
    assert_eq!(request_span.parent_span_id, SpanId::INVALID);
    let trace_id = request_span.span_context.trace_id();
    assert_ne!(trace_id, TraceId::from_hex(CALLER_TRACE).unwrap());
    let source_span = recorded.named("source");
    assert_eq!(source_span.span_context.trace_id(), trace_id);
    let handed = seen.lock().unwrap()[0].clone().unwrap();
    assert!(handed.starts_with(&format!("00-{trace_id}-")), "{handed}");
}

#[tokio::test(flavor = "current_thread")]
async fn a_forged_traceparent_is_not_joined() {
    let recorded = Recorded::start();
    let seen = Seen::default();
    // Uppercase hex, an all-zero trace id, a version-00 context with extra fields.
    for forged in [
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
    ] {
        let request = rest("/context/docs/a")
            .header("traceparent", forged)
            .body(Body::default())
            .unwrap();
        assert_eq!(send(&stack(&seen), request).await, StatusCode::OK);
    }
    for span in recorded
        .spans()
        .iter()
        .filter(|span| span.name == "context.read")
    {
        assert_eq!(span.parent_span_id, SpanId::INVALID);
        assert_ne!(
            span.span_context.trace_id(),
            TraceId::from_hex(CALLER_TRACE).unwrap()
        );
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_2026_read_carries_its_trace_in_meta_and_the_source_span_takes_it() {
    let recorded = Recorded::start();
    let seen = Seen::default();
    let body = json!({
        "jsonrpc": "2.0", "id": 7, "method": "resources/read",
        "params": {
            "uri": "ctx://docs/a",
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
                "traceparent": TRACEPARENT,
            }
        }
    });
    let request = Request::post("/mcp")
        .header(header::AUTHORIZATION, "Bearer user-dev-token")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "resources/read")
        .header("mcp-name", "ctx://docs/a")
        .body(Body::from(body.to_string()))
        .unwrap();
    assert_eq!(send(&stack(&seen), request).await, StatusCode::OK);

    let request_span = recorded.named("resources/read");
    assert_eq!(
        attribute(&request_span, "mcp.method.name").as_deref(),
        Some("resources/read")
    );
    assert_eq!(
        attribute(&request_span, "mcp.resource.uri").as_deref(),
        Some("ctx://docs/a")
    );
    // The request span started before the body was read: the source span joins the
    // caller's trace and links back to the request span.
    let source_span = recorded.named("source");
    assert_eq!(
        source_span.span_context.trace_id(),
        TraceId::from_hex(CALLER_TRACE).unwrap()
    );
    assert_eq!(
        source_span.parent_span_id,
        SpanId::from_hex(CALLER_SPAN).unwrap()
    );
    assert!(
        source_span
            .links
            .iter()
            .any(|link| link.span_context == request_span.span_context),
        "the source span links to the request span"
    );
    let expected = format!(
        "00-{CALLER_TRACE}-{}-01",
        source_span.span_context.span_id()
    );
    assert_eq!(seen.lock().unwrap().as_slice(), &[Some(expected)]);
}

#[tokio::test(flavor = "current_thread")]
async fn a_failing_source_marks_the_request_span_as_an_error() {
    let recorded = Recorded::start();
    let seen = Seen::default();
    let request = rest("/context/docs/broken").body(Body::default()).unwrap();
    let status = send(&stack(&seen), request).await;
    assert!(status.is_server_error(), "{status}");

    let request_span = recorded.named("context.read");
    assert!(
        matches!(request_span.status, Status::Error { .. }),
        "{:?}",
        request_span.status
    );
    assert!(attribute(&request_span, "error.type").is_some());
}
