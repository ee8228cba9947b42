//! Hostile review (second round) of the observability changes: OpenTelemetry request spans,
//! the trace context handed to a source, and the `LogWriter`. Each test replays what a
//! hostile client (or an unlucky operator) can do and states the promise it must keep; each
//! failed when the review was written, and passes since the fix committed with it.

mod common;

use std::io::Write as _;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use mcp_bastion::auth::AuthLayer;
use mcp_bastion::context::{ContextEntry, ContextId, SourceRequest, TraceContext, source_fn};
use mcp_bastion::mcp::Endpoint;
use mcp_bastion::observe::LogWriter;
use mcp_bastion::policy::{Policy, PolicyHandle};
use mcp_bastion::stack::Stack;
use tower::{Service, ServiceExt};
use tracing_subscriber::fmt::MakeWriter as _;

type Body = Full<Bytes>;

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// What the source was handed: `(traceparent, tracestate)` of each call.
type Seen = Arc<Mutex<Vec<Option<(String, Option<String>)>>>>;

/// The recommended stack over a source that keeps the trace context it is handed; guests and
/// developers may read `docs/**`, nothing else.
fn stack(
    seen: &Seen,
) -> impl Service<
    Request<Body>,
    Response = http::Response<impl http_body::Body<Data = Bytes, Error: std::fmt::Debug>>,
    Error: std::fmt::Debug,
> + Clone {
    let seen = Arc::clone(seen);
    let source = source_fn(move |_: ContextId, request: SourceRequest| {
        seen.lock().unwrap().push(request.trace.map(|trace| {
            (
                trace.traceparent().to_owned(),
                trace.tracestate().map(str::to_owned),
            )
        }));
        async move { Ok(ContextEntry::text("note", "text", "hello")) }
    });
    let policy = Policy::from_toml(
        r#"
        roles = ["developer", "guest"]
        [[rules]]
        id = "hostile2-docs"
        effect = "allow"
        roles = ["developer", "guest"]
        actions = ["read", "list"]
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

// ---------------------------------------------------------------------------------------
// 1. LogWriterGuard: a stuck output makes the process hang at exit
// ---------------------------------------------------------------------------------------

/// An output that, once written to, does not return until released (a pipe nobody reads:
/// `server 2>&1 | less` paused, a stalled log shipper, a full container log pipe).
#[derive(Clone)]
struct Stuck(Arc<(Mutex<(bool, bool)>, Condvar)>);

impl Stuck {
    fn new() -> Self {
        Self(Arc::new((Mutex::new((false, false)), Condvar::new())))
    }

    fn wait_entered(&self) {
        let (state, wake) = &*self.0;
        let mut state = state.lock().unwrap();
        while !state.0 {
            state = wake.wait(state).unwrap();
        }
    }

    fn release(&self) {
        let (state, wake) = &*self.0;
        state.lock().unwrap().1 = true;
        wake.notify_all();
    }
}

impl std::io::Write for Stuck {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let (state, wake) = &*self.0;
        let mut state = state.lock().unwrap();
        state.0 = true;
        wake.notify_all();
        while !state.1 {
            state = wake.wait(state).unwrap();
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The demo keeps the guard until the end of `main`: after Ctrl-C, dropping it joins the
/// writing thread, which is blocked in `write` for as long as the output is. Reproduced with
/// the demo: stderr into a FIFO nobody reads, some requests, SIGINT: the process stays up
/// (main in `futex_wait`, `mcp-log-writer` in `pipe_write`), a second SIGINT does nothing
/// (tokio owns the handler), only SIGTERM/SIGKILL ends it. `tracing_appender`'s guard
/// gives up after a timeout; this one must too (since the fix: `FLUSH_ON_DROP_TIMEOUT`,
/// the demo exits 2 s after SIGINT).
#[test]
fn dropping_the_guard_does_not_hang_on_a_stuck_output() {
    let output = Stuck::new();
    let (writer, guard) = LogWriter::new(output.clone());
    writer.make_writer().write_all(b"a line\n").unwrap();
    output.wait_entered();
    writer.make_writer().write_all(b"the last line\n").unwrap();

    let (done, dropped) = std::sync::mpsc::channel();
    let dropping = std::thread::spawn(move || {
        drop(guard);
        let _ = done.send(());
    });
    let in_time = dropped.recv_timeout(Duration::from_secs(5)).is_ok();
    output.release();
    dropping.join().unwrap();
    assert!(
        in_time,
        "dropping the LogWriterGuard waited for a stuck output for more than 5 s"
    );
}

// ---------------------------------------------------------------------------------------
// 2. A malformed `tracestate` reaches the source
// ---------------------------------------------------------------------------------------

/// `TraceContext` promises "validated: a malformed tracestate is dropped", and the source
/// forwards it to its own upstreams as a header. Was: only the length, member count and
/// printable ASCII were checked, so a tracestate that is not a list of `key=value` members
/// (no `=`, upper-case or empty keys, duplicate keys, `=` inside a value) was kept and
/// handed on (without an OpenTelemetry layer; with one, the SDK's parser dropped it), and a
/// valid one with a tab as OWS was dropped.
#[test]
fn a_malformed_tracestate_is_dropped() {
    for bad in [
        "not a tracestate",
        "Upper=1",
        "=1",
        "a=",
        "a=1,a=2",
        "a=b=c",
        "_a=1",
        "a=1 ,b",
        "tenant@=1",
        "a=b\tc",
        "a=1,b=2,a=3",
    ] {
        let trace = TraceContext::parse(TRACEPARENT, Some(bad)).unwrap();
        assert_eq!(trace.tracestate(), None, "{bad:?} was kept");
    }
    // What W3C allows is kept: OWS around members, empty members, multi-tenant keys.
    for good in [
        "rojo=00f067aa0ba902b7",
        "rojo=00f067aa0ba902b7, congo=t61rcWkgMzE",
        "a=1,,b=2",
        "tenant@vendor=x y",
        "a=1,\tb=2",
        "a-b_c*d/e=!\"#$%&'()*+-./:;<>?@[\\]^_`{|}~",
    ] {
        let trace = TraceContext::parse(TRACEPARENT, Some(good)).unwrap();
        assert_eq!(trace.tracestate(), Some(good), "{good:?} was dropped");
    }
}

/// The same through the stack: what the source is handed, from the request's headers.
#[tokio::test]
async fn the_source_is_never_handed_a_malformed_tracestate() {
    let seen = Seen::default();
    let request = Request::get("/context/docs/a")
        .header(header::AUTHORIZATION, "Bearer user-guest-token")
        .header("traceparent", TRACEPARENT)
        .header("tracestate", "not a tracestate")
        .body(Body::default())
        .unwrap();
    assert_eq!(send(&stack(&seen), request).await, StatusCode::OK);
    let seen = seen.lock().unwrap();
    let (traceparent, tracestate) = seen[0].clone().expect("a trace context");
    assert_eq!(traceparent, TRACEPARENT);
    assert_eq!(tracestate, None);
}

// ---------------------------------------------------------------------------------------
// 3. OpenTelemetry spans: names and attributes from the client's text, the trace context
//    handed to the source when its span is not recorded, mcp.session.id on initialize,
//    the link of a `_meta`-parented source span, the cache's background refresh
// ---------------------------------------------------------------------------------------

#[cfg(feature = "otel")]
mod spans {
    use super::*;
    use opentelemetry::trace::{SpanKind, TracerProvider as _};
    use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
    use serde_json::json;
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;

    struct Recorded {
        exporter: InMemorySpanExporter,
        _provider: SdkTracerProvider,
        _guard: tracing::subscriber::DefaultGuard,
    }

    impl Recorded {
        fn start() -> Self {
            Self::start_at(tracing_subscriber::filter::LevelFilter::DEBUG)
        }

        /// Spans at `level` and above are recorded (a common `with_filter(LevelFilter::INFO)`
        /// on the OpenTelemetry layer leaves out the crate's DEBUG spans, `source` among them).
        fn start_at(level: tracing_subscriber::filter::LevelFilter) -> Self {
            let exporter = InMemorySpanExporter::default();
            let provider = SdkTracerProvider::builder()
                .with_simple_exporter(exporter.clone())
                .build();
            let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("test"));
            // Logs at DEBUG beside it: the crate's DEBUG spans exist, OpenTelemetry skips them.
            let logs = tracing_subscriber::fmt::layer()
                .with_writer(std::io::sink)
                .with_filter(tracing_subscriber::filter::LevelFilter::DEBUG);
            let subscriber = tracing_subscriber::registry()
                .with(logs)
                .with(layer.with_filter(level));
            let guard = tracing::subscriber::set_default(subscriber);
            tracing::callsite::rebuild_interest_cache();
            Self {
                exporter,
                _provider: provider,
                _guard: guard,
            }
        }

        fn request_spans(&self) -> Vec<SpanData> {
            self.exporter
                .get_finished_spans()
                .unwrap()
                .into_iter()
                .filter(|span| span.span_kind == SpanKind::Server)
                .collect()
        }
    }

    fn rpc(body: &serde_json::Value) -> Request<Body> {
        Request::post("/mcp")
            .header(header::AUTHORIZATION, "Bearer user-guest-token")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-11-25")
            .body(Body::from(body.to_string()))
            .unwrap()
    }

    /// Text a trace backend may index: bounded, without control characters.
    fn assert_tame(what: &str, value: &str, max: usize) {
        let shown: String = value.chars().take(48).collect();
        assert!(
            value.len() <= max,
            "{what} is {} bytes of the client's text: {shown:?}...",
            value.len()
        );
        assert!(
            !value.chars().any(char::is_control),
            "{what} carries control characters: {shown:?}..."
        );
    }

    /// A tool call an inner MCP server answered keeps the conventional `tools/call {name}`.
    #[tokio::test(flavor = "current_thread")]
    async fn an_answered_tool_call_still_names_its_tool() {
        let recorded = Recorded::start();
        let inner = tower::service_fn(|_request: Request<_>| async {
            let body = json!({ "jsonrpc": "2.0", "id": 1, "result": { "content": [] } });
            let mut response = http::Response::new(Body::from(body.to_string()));
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
            Ok::<_, std::convert::Infallible>(response)
        });
        let policy = Policy::from_toml(
            r#"
            roles = ["guest"]
            [[rules]]
            id = "hostile2-weather"
            effect = "allow"
            roles = ["guest"]
            actions = ["call"]
            tools = ["get_weather"]
            "#,
        )
        .unwrap();
        let service = Stack::new(Endpoint::default())
            .auth(AuthLayer::builder().api_keys(common::seed_keys()))
            .policy(PolicyHandle::new(policy))
            .service(inner)
            .unwrap();
        let call = json!({
            "jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": { "name": "get_weather", "arguments": {} }
        });
        assert_eq!(send(&service, rpc(&call)).await, StatusCode::OK);
        let spans = recorded.request_spans();
        assert_eq!(spans.len(), 1);
        assert_eq!(spans[0].name, "tools/call get_weather");
    }

    /// Span names are the index of every trace backend (OpenTelemetry: "low cardinality").
    /// `finish_request` names the request span after `facts.operation()`, which for a
    /// JSON-RPC call is the client's `method` string as sent, and appends the client's tool
    /// or prompt name for `tools/call` / `prompts/get`, even when the call was refused. Any
    /// authenticated client thus mints one span name per request, megabytes long, with
    /// newlines; the `mcp.method.name` and `gen_ai.tool.name` attributes carry the same raw
    /// text (the access log and span fields pass it through `loggable`, the span did not).
    /// Was: a 100 014-byte span name.
    #[tokio::test(flavor = "current_thread")]
    async fn a_clients_method_and_tool_names_do_not_name_the_request_span() {
        let recorded = Recorded::start();
        let seen = Seen::default();
        let service = stack(&seen);
        let long = "x".repeat(100_000);
        for method in [
            format!("evil-1-{long}\nforged"),
            "evil-2".to_owned(),
            "evil-3".to_owned(),
        ] {
            let call = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": {} });
            send(&service, rpc(&call)).await;
        }
        for name in [format!("evil-4-{long}\nforged"), "evil-5".to_owned()] {
            let call = json!({
                "jsonrpc": "2.0", "id": 1, "method": "tools/call",
                "params": { "name": name, "arguments": {} }
            });
            send(&service, rpc(&call)).await;
        }

        let spans = recorded.request_spans();
        assert_eq!(spans.len(), 5);
        for span in &spans {
            assert_tame("the request span's name", &span.name, 160);
            assert!(
                !span.name.contains("evil"),
                "a client chose the span name {:?}",
                span.name.chars().take(48).collect::<String>()
            );
            for attribute in &span.attributes {
                let value = attribute.value.to_string();
                assert_tame(attribute.key.as_str(), &value, 256 + '…'.len_utf8());
            }
        }
    }

    /// `SourceRequest::trace` promises the source "the context of the `source` span (same
    /// trace id, our span as parent)". When the OpenTelemetry layer does not record the
    /// DEBUG `source` span (an INFO filter on it, a usual setting), `continue_in` finds no
    /// context and the source is handed the caller's own context: nothing at all when the
    /// caller sent no `traceparent` (the request span is in a trace; the source's calls are
    /// not), and the caller's span as parent when it did (the source's calls become siblings
    /// of our request span, outside it).
    #[tokio::test(flavor = "current_thread")]
    async fn the_source_continues_our_trace_when_its_own_span_is_not_recorded() {
        let recorded = Recorded::start_at(tracing_subscriber::filter::LevelFilter::INFO);
        let seen = Seen::default();
        let service = stack(&seen);
        let read = |traceparent: Option<&str>| {
            let mut request = Request::get("/context/docs/a")
                .header(header::AUTHORIZATION, "Bearer user-guest-token");
            if let Some(traceparent) = traceparent {
                request = request.header("traceparent", traceparent);
            }
            request.body(Body::default()).unwrap()
        };
        assert_eq!(send(&service, read(None)).await, StatusCode::OK);
        assert_eq!(
            send(&service, read(Some(TRACEPARENT))).await,
            StatusCode::OK
        );

        let spans = recorded.request_spans();
        assert_eq!(spans.len(), 2);
        let seen = seen.lock().unwrap().clone();
        for (span, handed) in spans.iter().zip(&seen) {
            let (traceparent, _) = handed.clone().unwrap_or_else(|| {
                panic!(
                    "the request span is in trace {} but the source was handed no context",
                    span.span_context.trace_id()
                )
            });
            let ours = format!(
                "00-{}-{}-",
                span.span_context.trace_id(),
                span.span_context.span_id()
            );
            assert!(
                traceparent.starts_with(&ours),
                "the source was handed {traceparent}, not a child of our request span {ours}.."
            );
        }
    }

    /// `mcp.session.id` is read from the request's `mcp-session-id` header only: the one
    /// request whose answer issues the session (`initialize`) has none, so the first span
    /// of every session is not found by its session id.
    #[tokio::test(flavor = "current_thread")]
    async fn the_initialize_that_opens_a_session_carries_its_id() {
        let recorded = Recorded::start();
        let service = Stack::new(Endpoint::builder().sessions(true).build().unwrap())
            .auth(AuthLayer::builder().api_keys(common::seed_keys()))
            .policy(PolicyHandle::new(
                Policy::from_toml(
                    r#"
                    roles = ["guest"]
                    [[rules]]
                    id = "hostile2-all"
                    effect = "allow"
                    roles = ["guest"]
                    actions = ["read", "list", "call"]
                    paths = ["/mcp"]
                    "#,
                )
                .unwrap(),
            ))
            .serve_source(mcp_bastion::context::StaticSource::new())
            .unwrap();
        let call = json!({
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25", "capabilities": {},
                "clientInfo": { "name": "hostile", "version": "1" }
            }
        });
        let response = service.clone().oneshot(rpc(&call)).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let issued = response
            .headers()
            .get("mcp-session-id")
            .expect("a session id")
            .to_str()
            .unwrap()
            .to_owned();
        response.into_body().collect().await.unwrap();
        // The requests of the session send it.
        let mut ping = rpc(&json!({ "jsonrpc": "2.0", "id": 2, "method": "ping" }));
        ping.headers_mut()
            .insert("mcp-session-id", issued.parse().unwrap());
        assert_eq!(send(&service, ping).await, StatusCode::OK);

        let spans = recorded.request_spans();
        assert_eq!(spans.len(), 2);
        for span in &spans {
            let attributes: Vec<String> = span
                .attributes
                .iter()
                .filter(|kv| kv.key.as_str() == "mcp.session.id")
                .map(|kv| kv.value.to_string())
                .collect();
            assert_eq!(attributes, std::slice::from_ref(&issued), "{}", span.name);
        }
    }

    /// A 2026-07-28 read with its trace in `_meta`: the `source` span takes the caller's
    /// context as parent and "links to the request span". It linked to whatever span was
    /// current, and behind the cache layer (the demo's stack) that is the `cache` span.
    #[tokio::test(flavor = "current_thread")]
    async fn behind_the_cache_the_source_span_links_to_the_request_span() {
        let recorded = Recorded::start();
        let seen = Seen::default();
        let source = {
            let seen = Arc::clone(&seen);
            source_fn(move |_: ContextId, request: SourceRequest| {
                seen.lock().unwrap().push(
                    request
                        .trace
                        .map(|trace| (trace.traceparent().to_owned(), None)),
                );
                async move { Ok(ContextEntry::text("note", "text", "hello")) }
            })
        };
        let policy = Policy::from_toml(
            r#"
            roles = ["guest"]
            [[rules]]
            id = "hostile2-docs"
            effect = "allow"
            roles = ["guest"]
            actions = ["read"]
            contexts = ["docs/**"]
            "#,
        )
        .unwrap();
        let service = Stack::new(Endpoint::default())
            .auth(AuthLayer::builder().api_keys(common::seed_keys()))
            .policy(PolicyHandle::new(policy))
            .cache(
                mcp_bastion::cache::ContextCacheLayer::builder()
                    .build()
                    .unwrap(),
            )
            .serve_source(source)
            .unwrap();
        let call = json!({
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
            .header(header::AUTHORIZATION, "Bearer user-guest-token")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json, text/event-stream")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "resources/read")
            .header("mcp-name", "ctx://docs/a")
            .body(Body::from(call.to_string()))
            .unwrap();
        assert_eq!(send(&service, request).await, StatusCode::OK);

        let request_span = &recorded.request_spans()[0];
        let spans = recorded.exporter.get_finished_spans().unwrap();
        let source_span = spans.iter().find(|span| span.name == "source").unwrap();
        let linked: Vec<String> = source_span
            .links
            .iter()
            .map(|link| {
                spans
                    .iter()
                    .find(|span| span.span_context.span_id() == link.span_context.span_id())
                    .map_or_else(|| "?".to_owned(), |span| span.name.to_string())
            })
            .collect();
        assert!(
            source_span
                .links
                .iter()
                .any(|link| link.span_context.span_id() == request_span.span_context.span_id()),
            "the source span links to {linked:?}, not to the request span"
        );
        assert_eq!(seen.lock().unwrap().len(), 1);
    }

    /// stale-while-revalidate: a stale hit answers at once and refreshes the entry in a
    /// spawned task. That task ran in no span: its `source` span was the root of a trace of
    /// its own, with nothing tying it to the request that caused it, and the source was
    /// handed that stray trace (and its errors were logged without the request id).
    #[tokio::test(flavor = "current_thread")]
    async fn a_background_refresh_is_tied_to_the_request_that_caused_it() {
        let recorded = Recorded::start();
        let source = source_fn(|_: ContextId, _: SourceRequest| async {
            Ok(ContextEntry::text("note", "text", "hello").with_cache(
                Some(Duration::from_millis(1)),
                mcp_bastion::context::CacheScope::Public,
            ))
        });
        let policy = Policy::from_toml(
            r#"
            roles = ["guest"]
            [[rules]]
            id = "hostile2-docs"
            effect = "allow"
            roles = ["guest"]
            actions = ["read"]
            contexts = ["docs/**"]
            "#,
        )
        .unwrap();
        let cache = mcp_bastion::cache::ContextCacheLayer::builder()
            .stale_while_revalidate(Duration::from_secs(30))
            .build()
            .unwrap();
        let service = Stack::new(Endpoint::default())
            .auth(AuthLayer::builder().api_keys(common::seed_keys()))
            .policy(PolicyHandle::new(policy))
            .cache(cache)
            .serve_source(source)
            .unwrap();
        let read = || {
            Request::get("/context/docs/a")
                .header(header::AUTHORIZATION, "Bearer user-guest-token")
                .header("traceparent", TRACEPARENT)
                .body(Body::default())
                .unwrap()
        };
        assert_eq!(send(&service, read()).await, StatusCode::OK);
        tokio::time::sleep(Duration::from_millis(20)).await;
        // Stale: answered from the cache, refreshed behind.
        assert_eq!(send(&service, read()).await, StatusCode::OK);
        for _ in 0..50 {
            tokio::time::sleep(Duration::from_millis(2)).await;
            let spans = recorded.exporter.get_finished_spans().unwrap();
            if spans.iter().filter(|span| span.name == "source").count() == 2 {
                break;
            }
        }

        let spans = recorded.exporter.get_finished_spans().unwrap();
        let requests = recorded.request_spans();
        assert_eq!(requests.len(), 2);
        let sources: Vec<_> = spans.iter().filter(|span| span.name == "source").collect();
        assert_eq!(sources.len(), 2, "the refresh asked the source");
        let refresh = sources[1];
        // The refresh's trace: its root, found through the parents we recorded.
        let mut root = refresh;
        while let Some(parent) = spans
            .iter()
            .find(|span| span.span_context.span_id() == root.parent_span_id)
        {
            root = parent;
        }
        let caused_by = requests[1].span_context.trace_id();
        let tied = root.span_context.trace_id() == caused_by
            || root
                .links
                .iter()
                .any(|link| link.span_context.trace_id() == caused_by);
        assert!(
            tied,
            "the refresh's source span is in trace {} (root {:?}, links {:?}), apart from the \
             request that caused it",
            refresh.span_context.trace_id(),
            root.name,
            root.links.len()
        );
        // Its log lines carry the request id of the request that caused it.
        let request_id = |span: &SpanData| {
            span.attributes
                .iter()
                .find(|kv| kv.key.as_str() == "request_id")
                .map(|kv| kv.value.to_string())
        };
        assert!(request_id(&requests[1]).is_some());
        assert_eq!(request_id(root), request_id(&requests[1]));
    }
}
