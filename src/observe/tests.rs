use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use tower::{Service, ServiceExt};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context as LayerContext, SubscriberExt};

use super::*;
use crate::auth::{ApiKey, ApiKeyStore, AuthLayer};
use crate::client_addr::ClientAddr;
use crate::context::{ContextEntry, ContextId, StaticSource};
use crate::mcp::Endpoint;
use crate::policy::{Policy, PolicyHandle};
use crate::principal::{AuthMethod, Principal};
use crate::stack::Stack;

type Body = Full<Bytes>;
type Events = Arc<Mutex<Vec<BTreeMap<String, String>>>>;

/// Keeps the fields of every access-log event.
struct Capture(Events);

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _: LayerContext<'_, S>) {
        if event.metadata().target() == "mcp_bastion::access" {
            let mut fields = BTreeMap::new();
            event.record(&mut Fields(&mut fields));
            self.0.lock().unwrap().push(fields);
        }
    }
}

fn capture() -> (Events, tracing::subscriber::DefaultGuard) {
    let events = Events::default();
    keep_callsites_interesting();
    let subscriber = tracing_subscriber::registry().with(Capture(Arc::clone(&events)));
    (events, tracing::subscriber::set_default(subscriber))
}

fn stack() -> impl Service<
    Request<Body>,
    Response = http::Response<impl http_body::Body<Data = Bytes, Error: std::fmt::Debug>>,
    Error: std::fmt::Debug,
> + Clone {
    let keys = ApiKeyStore::new([ApiKey::new(
        "dev-token-0123456789ab",
        Principal::new("dev", AuthMethod::ApiKey).with_role("developer"),
    )
    .unwrap()])
    .unwrap();
    let policy = Policy::from_toml(
        r#"
        roles = ["developer"]
        [[rules]]
        id = "developers-read"
        effect = "allow"
        roles = ["developer"]
        actions = ["read", "list"]
        contexts = ["docs/**"]
        "#,
    )
    .unwrap();
    let source = StaticSource::new().with_context(
        ContextId::parse("docs/a").unwrap(),
        ContextEntry::text("note", "text", "hello"),
    );
    Stack::new(Endpoint::default())
        .auth(AuthLayer::builder().api_keys(keys))
        .policy(PolicyHandle::new(policy))
        .serve_source(source)
        .unwrap()
}

fn request(method: &str, path: &str, id: Option<&str>, body: &str) -> Request<Body> {
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, "Bearer dev-token-0123456789ab")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25");
    if let Some(id) = id {
        builder = builder.header("x-request-id", id);
    }
    let mut request = builder.body(Body::from(body.to_owned())).unwrap();
    request
        .extensions_mut()
        .insert(ClientAddr("192.0.2.8:4000".parse().unwrap()));
    request
}

async fn send<S, B>(service: &S, request: Request<Body>) -> (StatusCode, String, Value)
where
    S: Service<Request<Body>, Response = http::Response<B>, Error: std::fmt::Debug> + Clone,
    B: http_body::Body<Data = Bytes, Error: std::fmt::Debug>,
{
    let response = service.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let id = response.headers()[X_REQUEST_ID]
        .to_str()
        .unwrap()
        .to_owned();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        id,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn request_ids_are_kept_when_well_formed_and_quoted_in_envelopes() {
    let service = stack();
    let (status, id, _) = send(
        &service,
        request("GET", "/context/docs/a", Some("trace-42"), ""),
    )
    .await;
    assert_eq!((status, id.as_str()), (StatusCode::OK, "trace-42"));
    // A REST refusal quotes the id.
    let (status, id, body) = send(
        &service,
        request("GET", "/context/docs/missing", Some("abc.1"), ""),
    )
    .await;
    assert_eq!((status, id.as_str()), (StatusCode::NOT_FOUND, "abc.1"));
    assert_eq!(body["requestId"], "abc.1");
    // A badly formed one is replaced, never echoed; the envelope quotes the new one.
    let forged = "x\" onmouseover=alert(1)";
    let (status, id, body) = send(
        &service,
        request("GET", "/context/other/x", Some(forged), ""),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_ne!(id, forged);
    assert_eq!(id.len(), 36);
    assert_eq!(body["requestId"], id.as_str());
    // JSON-RPC errors carry it in data.
    let read = r#"{"jsonrpc":"2.0","id":7,"method":"resources/read","params":{"uri":"ctx://docs/missing"}}"#;
    let (_, id, body) = send(&service, request("POST", "/mcp", None, read)).await;
    assert_eq!(body["error"]["data"]["requestId"], id.as_str(), "{body}");
}

#[tokio::test]
async fn one_access_log_event_per_request_with_what_the_layers_learnt() {
    let (events, _guard) = capture();
    let service = stack();
    let read =
        r#"{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"ctx://docs/a"}}"#;
    let (status, id, _) = send(&service, request("POST", "/mcp", Some("rpc-1"), read)).await;
    assert_eq!((status, id.as_str()), (StatusCode::OK, "rpc-1"));
    let (status, _, _) = send(
        &service,
        request("GET", "/context/secret/x", Some("rest-2"), ""),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let mut anonymous = request("GET", "/context/docs/a", Some("anon-3"), "");
    anonymous.headers_mut().remove(header::AUTHORIZATION);
    let (status, _, _) = send(&service, anonymous).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let events = events.lock().unwrap();
    assert_eq!(events.len(), 3, "{events:#?}");
    let rpc = &events[0];
    assert_eq!(rpc["request_id"], "rpc-1");
    assert_eq!(rpc["client"], "192.0.2.8");
    assert_eq!(rpc["principal"], "ApiKey:dev");
    assert_eq!(rpc["mcp.method.name"], "resources/read");
    assert_eq!(rpc["mcp.target"], "ctx://docs/a");
    assert_eq!(rpc["rule"], "developers-read");
    assert_eq!(rpc["status"], "200");
    assert_eq!(rpc["error.code"], "-");
    assert_eq!(rpc["ending"], "Complete");
    assert!(rpc["bytes"].parse::<u64>().unwrap() > 0);
    let denied = &events[1];
    assert_eq!(denied["mcp.method.name"], "context.read");
    assert_eq!(denied["mcp.target"], "secret/x");
    assert_eq!(denied["status"], "403");
    assert_eq!(denied["error.code"], "FORBIDDEN");
    let anonymous = &events[2];
    assert_eq!(anonymous["principal"], "-");
    assert_eq!(anonymous["error.code"], "UNAUTHORIZED");
}

#[tokio::test]
async fn a_request_cut_off_is_still_one_event() {
    let (events, _guard) = capture();
    let service = stack();
    let response = service
        .clone()
        .oneshot(request("GET", "/context/docs/a", Some("gone-1"), ""))
        .await
        .unwrap();
    drop(response);
    let events = events.lock().unwrap();
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0]["ending"], "CutOff");
}

#[cfg(feature = "metrics")]
#[tokio::test]
async fn metrics_count_requests_refusals_and_sizes() {
    use crate::rate_limit::RateLimitConfig;

    static HANDLE: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> =
        std::sync::OnceLock::new();
    let handle = HANDLE.get_or_init(|| install_prometheus().expect("the only recorder"));
    let keys = ApiKeyStore::new([ApiKey::new(
        "metrics-token-0123456789",
        Principal::new("metrics", AuthMethod::ApiKey).with_role("reader"),
    )
    .unwrap()])
    .unwrap();
    let policy = Policy::from_toml(
        r#"
        roles = ["reader"]
        [[rules]]
        id = "metrics-readers"
        effect = "allow"
        roles = ["reader"]
        actions = ["read"]
        contexts = ["**"]
        [[rules]]
        id = "metrics-test-deny"
        effect = "deny"
        roles = ["reader"]
        actions = ["read"]
        contexts = ["secret/**"]
        "#,
    )
    .unwrap();
    let limits = RateLimitConfig::default()
        .quota("metrics-test-quota", 4, 60, 4)
        .default_quota("metrics-test-quota")
        .build()
        .unwrap();
    let source = crate::context::source_fn(|id: ContextId, _| async move {
        match id.as_str() {
            "docs/a" => Ok(ContextEntry::text("note", "text", "x".repeat(3000))),
            _ => Err(crate::context::SourceError::Unavailable("down".into())),
        }
    });
    let cache = crate::cache::ContextCacheLayer::builder().build().unwrap();
    let service = Stack::new(Endpoint::default())
        .auth(AuthLayer::builder().api_keys(keys))
        .policy(PolicyHandle::new(policy))
        .rate_limits(limits.clone())
        .cache(cache.clone())
        .serve_source(source)
        .unwrap();
    let get = |path: &str| {
        let mut request = Request::get(path)
            .header(header::AUTHORIZATION, "Bearer metrics-token-0123456789")
            .body(Body::default())
            .unwrap();
        request
            .extensions_mut()
            .insert(ClientAddr("192.0.2.9:1".parse().unwrap()));
        request
    };
    let mut statuses = Vec::new();
    for path in [
        "/context/docs/a",
        "/context/secret/x",
        "/context/broken/x",
        "/context/docs/a",
        "/context/docs/a",
    ] {
        statuses.push(send(&service, get(path)).await.0);
    }
    assert_eq!(
        statuses,
        [
            StatusCode::OK,
            StatusCode::FORBIDDEN,
            StatusCode::SERVICE_UNAVAILABLE,
            StatusCode::OK,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    let (log_writer, _flush) = crate::observe::LogWriter::new(std::io::sink());
    let mut scrape = MetricsService::new(handle.clone())
        .with_cache(cache.handle())
        .with_rate_limits(limits)
        .with_log_writer(log_writer);
    let head = scrape
        .call(Request::head("/metrics").body(()).unwrap())
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert!(
        head.into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .is_empty()
    );
    let response = scrape
        .call(Request::get("/metrics").body(()).unwrap())
        .await
        .unwrap();
    let text = String::from_utf8(
        response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    let value = |series: &str| {
        text.lines()
            .find(|line| line.starts_with(series))
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no {series} in\n{text}"))
    };
    // Counters of this test's own labels: exactly its requests.
    assert!((value("mcp_policy_denials_total{rule=\"metrics-test-deny\"}") - 1.0).abs() < 1e-9);
    assert!((value("mcp_rate_limited_total{quota=\"metrics-test-quota\"}") - 1.0).abs() < 1e-9);
    assert!(value("mcp_requests_total{operation=\"context.read\",status=\"2xx\"}") >= 2.0);
    assert!(value("mcp_context_size_bytes_count") >= 2.0);
    assert!(value("mcp_context_size_bytes_bucket{le=\"4096\"}") >= 2.0);
    assert!(text.contains(
        "mcp_request_duration_seconds_bucket{operation=\"context.read\",le=\"0.00005\"}"
    ));
    assert!(text.contains("process_resident_memory_bytes "), "{text}");
    // The source: its latency (the hit never asked it) and its failure by kind.
    assert!(value("mcp_source_duration_seconds_count{operation=\"get\"}") >= 2.0);
    assert!(value("mcp_source_errors_total{operation=\"get\",kind=\"unavailable\"}") >= 1.0);
    // Read at scrape time from this test's own cache and limiter: exact.
    assert!((value("mcp_cache_entries ") - 1.0).abs() < 1e-9, "{text}");
    assert!(value("mcp_cache_bytes ") > 3000.0, "{text}");
    assert!(
        (value("mcp_cache_evictions_total ") - 0.0).abs() < 1e-9,
        "{text}"
    );
    assert!((value("mcp_rate_limit_keys ") - 1.0).abs() < 1e-9, "{text}");
    assert!(
        text.contains("mcp_rate_limit_evictions_total{kind=\"active\"} 0"),
        "{text}"
    );
    assert!(text.contains("mcp_log_lines_dropped_total 0"), "{text}");
    // No raw path or id ever becomes a label.
    assert!(
        !text.contains("secret/x") && !text.contains("docs/a"),
        "{text}"
    );
}

/// Every span's name and its ancestors' names.
type SpanLog = Arc<Mutex<Vec<(String, Vec<String>)>>>;

/// Records every span with its ancestors.
struct SpanTree(SpanLog);

impl<S> tracing_subscriber::Layer<S> for SpanTree
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        _: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: LayerContext<'_, S>,
    ) {
        let Some(span) = ctx.span(id) else { return };
        let ancestors = span
            .scope()
            .skip(1)
            .map(|parent| parent.name().to_owned())
            .collect();
        self.0
            .lock()
            .unwrap()
            .push((span.name().to_owned(), ancestors));
    }
}

#[tokio::test]
async fn each_layer_works_in_a_child_span_of_the_request() {
    let spans = SpanLog::default();
    keep_callsites_interesting();
    let subscriber = tracing_subscriber::registry().with(SpanTree(Arc::clone(&spans)));
    let _guard = tracing::subscriber::set_default(subscriber);
    let service = stack();
    let read =
        r#"{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"ctx://docs/a"}}"#;
    let (status, _, _) = send(&service, request("POST", "/mcp", None, read)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = send(&service, request("GET", "/context/docs/a", None, "")).await;
    assert_eq!(status, StatusCode::OK);
    let spans = spans.lock().unwrap();
    for name in ["authenticate", "authorize", "source"] {
        let found: Vec<_> = spans.iter().filter(|(n, _)| n == name).collect();
        assert_eq!(found.len(), 2, "{name}: {spans:?}");
        for (_, ancestors) in found {
            assert!(
                ancestors.iter().any(|a| a == "request"),
                "{name} outside the request: {ancestors:?}"
            );
        }
    }
}

#[tokio::test]
async fn the_source_continues_the_callers_trace() {
    use crate::context::{SourceRequest, TraceContext, source_fn};
    use crate::mcp::McpService;
    use tower::Layer;

    let seen: Arc<Mutex<Vec<Option<TraceContext>>>> = Arc::default();
    let record = Arc::clone(&seen);
    let source = source_fn(move |_id: ContextId, request: SourceRequest| {
        record.lock().unwrap().push(request.trace.clone());
        async { Ok(ContextEntry::text("note", "text", "traced")) }
    });
    let service = ObserveLayer::new().layer(McpService::new(source));
    let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let get = |traceparent: &str| {
        Request::get("/context/docs/a")
            .header("traceparent", traceparent)
            .header("tracestate", "vendor=1")
            .body(Body::default())
            .unwrap()
    };
    let ok = service.clone().oneshot(get(parent)).await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    let ok = service.clone().oneshot(get("00-zz-bad")).await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    // 2026-07-28: the trace context may travel in `params._meta`.
    let read = serde_json::json!({
        "jsonrpc": "2.0", "id": 1, "method": "resources/read",
        "params": {
            "uri": "ctx://docs/a",
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
                "traceparent": parent
            }
        }
    });
    let rpc = Request::post("/mcp")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "resources/read")
        .header("mcp-name", "ctx://docs/a")
        .body(Body::from(read.to_string()))
        .unwrap();
    let answer = service.clone().oneshot(rpc).await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 3, "{seen:?}");
    let first = seen[0]
        .as_ref()
        .expect("a valid traceparent reaches the source");
    assert_eq!(first.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(first.tracestate(), Some("vendor=1"));
    assert!(
        seen[1].is_none(),
        "a malformed traceparent is not passed on"
    );
    assert_eq!(
        seen[2].as_ref().map(TraceContext::parent_id),
        Some("00f067aa0ba902b7")
    );
}

/// Callsite interest is cached process-wide: with only thread-local subscribers, a callsite
/// first seen while another test's subscriber comes and goes can be cached as uninteresting
/// and its events lost. A global subscriber that takes everything (and keeps nothing) keeps
/// every callsite interesting; each test's own subscriber still sees its thread's events.
fn keep_callsites_interesting() {
    static GLOBAL: std::sync::Once = std::sync::Once::new();
    GLOBAL.call_once(|| {
        let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry());
    });
    tracing::callsite::rebuild_interest_cache();
}

#[tokio::test]
async fn every_error_of_a_json_rpc_batch_quotes_the_request_id() {
    let service = stack();
    let batch = r#"[
        {"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"ctx://docs/a"}},
        {"jsonrpc":"2.0","id":2,"method":"resources/read","params":{"uri":"ctx://docs/missing"}}
    ]"#;
    let mut rpc = request("POST", "/mcp", Some("batch-7"), batch);
    rpc.headers_mut()
        .insert("mcp-protocol-version", "2025-03-26".parse().unwrap());
    let (status, id, body) = send(&service, rpc).await;
    assert_eq!((status, id.as_str()), (StatusCode::OK, "batch-7"));
    let answers = body.as_array().expect("a batch answer");
    assert_eq!(answers.len(), 2, "{body}");
    let error = answers
        .iter()
        .find(|answer| answer["id"] == 2)
        .expect("the failed call's answer");
    assert_eq!(error["error"]["data"]["requestId"], "batch-7", "{body}");
    assert!(
        answers
            .iter()
            .any(|answer| answer["id"] == 1 && answer.get("result").is_some())
    );
}
