//! Hostile review of the observability layer (request ids, access log, metrics): each test
//! states a promise of `mcp_bastion::observe` and replays an input that broke it when the
//! review was written (marked "Was:"); all pass since the fixes.

mod common;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::{Ready, ready};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use mcp_bastion::auth::AuthLayer;
use mcp_bastion::cache::ContextCacheLayer;
use mcp_bastion::client_addr::ClientAddr;
use mcp_bastion::context::{
    ContextEntry, ContextId, SourceError, SourceRequest, StaticSource, source_fn,
};
use mcp_bastion::error::{ErrorCode, Rejection};
use mcp_bastion::mcp::Endpoint;
use mcp_bastion::policy::{Policy, PolicyHandle};
use mcp_bastion::stack::Stack;
use serde_json::{Value, json};
use tower::{Service, ServiceExt};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context as LayerContext, SubscriberExt};

type Body = Full<Bytes>;
type Events = Arc<Mutex<Vec<BTreeMap<String, String>>>>;

// ---------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------

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
    let subscriber = tracing_subscriber::registry().with(Capture(Arc::clone(&events)));
    keep_callsites_interesting();
    (events, tracing::subscriber::set_default(subscriber))
}

/// What a formatting subscriber wrote, as the demo's stderr would hold it.
#[derive(Clone, Default)]
struct Written(Arc<Mutex<Vec<u8>>>);

impl Written {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Written {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The demo's JSON log format (`examples/server.rs`), with this filter, into a buffer.
fn json_logs(filter: &str) -> (Written, tracing::subscriber::DefaultGuard) {
    let written = Written::default();
    let sink = written.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(move || sink.clone())
        .fmt_fields(mcp_bastion::observe::JsonLines)
        .event_format(mcp_bastion::observe::JsonLines)
        .finish();
    keep_callsites_interesting();
    (written, tracing::subscriber::set_default(subscriber))
}

/// The demo's `--log-format pretty` (the default text formatter), with this filter.
fn text_logs(filter: &str) -> (Written, tracing::subscriber::DefaultGuard) {
    let written = Written::default();
    let sink = written.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .finish();
    keep_callsites_interesting();
    (written, tracing::subscriber::set_default(subscriber))
}

const POLICY: &str = r#"
    roles = ["admin", "developer", "guest"]
    [[rules]]
    id = "obs-hostile-docs"
    effect = "allow"
    roles = ["developer", "guest"]
    actions = ["read", "list"]
    contexts = ["docs/**"]
    [[rules]]
    id = "obs-hostile-upstream"
    effect = "allow"
    roles = ["developer"]
    actions = ["read", "write", "call"]
    paths = ["/upstream/**"]
"#;

fn policy(toml: &str) -> PolicyHandle {
    PolicyHandle::new(Policy::from_toml(toml).unwrap())
}

fn docs() -> StaticSource {
    StaticSource::new().with_context(
        ContextId::parse("docs/a").unwrap(),
        ContextEntry::text("note", "text", "hello"),
    )
}

/// The recommended stack over `docs()` with the seed's API keys.
fn stack() -> impl Service<
    Request<Body>,
    Response = Response<impl http_body::Body<Data = Bytes, Error: std::fmt::Debug>>,
    Error: std::fmt::Debug,
> + Clone {
    Stack::new(Endpoint::default())
        .auth(AuthLayer::builder().api_keys(common::seed_keys()))
        .policy(policy(POLICY))
        .serve_source(docs())
        .unwrap()
}

fn get(path: &str, key: &str, id: &str) -> Request<Body> {
    let mut request = Request::get(path)
        .header(header::AUTHORIZATION, format!("Bearer {key}"))
        .header("x-request-id", id)
        .body(Body::default())
        .unwrap();
    request
        .extensions_mut()
        .insert(ClientAddr("192.0.2.7:5000".parse().unwrap()));
    request
}

fn rpc(body: &str, key: &str, id: &str, version: &str) -> Request<Body> {
    let mut request = Request::post("/mcp")
        .header(header::AUTHORIZATION, format!("Bearer {key}"))
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream")
        .header("mcp-protocol-version", version)
        .header("x-request-id", id)
        .body(Body::from(body.to_owned()))
        .unwrap();
    request
        .extensions_mut()
        .insert(ClientAddr("192.0.2.7:5000".parse().unwrap()));
    request
}

async fn send<S, B>(service: &S, request: Request<Body>) -> (StatusCode, String, String)
where
    S: Service<Request<Body>, Response = Response<B>, Error: std::fmt::Debug> + Clone,
    B: http_body::Body<Data = Bytes, Error: std::fmt::Debug>,
{
    let response = service.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let id = response
        .headers()
        .get("x-request-id")
        .map(|id| id.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, id, String::from_utf8_lossy(&bytes).into_owned())
}

/// An inner service (behind `Stack::service`) that answers with `answer(request)`.
#[derive(Clone)]
struct Inner<F>(F);

impl<F, B> Service<Request<B>> for Inner<F>
where
    F: Fn(&Request<B>) -> Response<Body>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Ready<Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        ready(Ok((self.0)(&request)))
    }
}

/// Caller-chosen text as the access log may show it: no control characters (nor the
/// Unicode line and paragraph separators or bidi overrides that act like them in viewers),
/// at most 256 bytes (plus the ellipsis).
fn assert_printable(what: &str, value: &str) {
    let bad = value.chars().find(|c| {
        c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    });
    let shown: String = value.chars().take(64).collect();
    assert!(bad.is_none(), "{what} carries {bad:?}: {shown:?}...");
    assert!(
        value.len() <= 256 + '…'.len_utf8(),
        "{what} is {} bytes long: {shown:?}...",
        value.len()
    );
}

#[cfg(feature = "metrics")]
fn scrape() -> String {
    use mcp_bastion::observe::{MetricsService, install_prometheus};
    static HANDLE: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> =
        std::sync::OnceLock::new();
    let handle = HANDLE.get_or_init(|| install_prometheus().expect("the only recorder"));
    // On a thread without a runtime, the service renders at once (within one it renders on
    // the blocking pool).
    let response = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                futures_lite_block(
                    MetricsService::new(handle.clone())
                        .call(Request::get("/metrics").body(()).unwrap()),
                )
            })
            .join()
            .unwrap()
    })
    .unwrap();
    let bytes = futures_lite_block(response.into_body().collect())
        .unwrap()
        .to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// Installs the recorder (if not yet) so that the requests that follow are counted.
#[cfg(feature = "metrics")]
fn recorder() {
    let _ = scrape();
}

/// Polls a future that is ready at once (the metrics service outside a runtime).
#[cfg(feature = "metrics")]
fn futures_lite_block<F: std::future::Future>(future: F) -> F::Output {
    let waker = std::task::Waker::noop();
    let mut cx = Context::from_waker(waker);
    let mut future = std::pin::pin!(future);
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the metrics service answers at once"),
    }
}

// ---------------------------------------------------------------------------------------
// 1. Text-format log forging through the policy's DEBUG decision log
// ---------------------------------------------------------------------------------------

/// `policy::decide::log` writes `target = %decision.target` and `subject = %decision.subject`
/// with `Display`: the text formatter (`--log-format pretty`) prints them raw, so a tool
/// name (or resource URI) with a newline starts a line of the caller's choosing, e.g. a
/// forged access-log line for another principal. The access log sanitises the same name;
/// the decision log, one line above it, does not.
#[tokio::test]
async fn policy_decision_log_cannot_forge_text_lines() {
    let (written, _guard) = text_logs("debug");
    let forged = "FORGED 2026-01-01T00:00:00.000000Z  INFO mcp_bastion::access: request request_id=\"x\" principal=\"ApiKey:adminUser\" status=200 ending=Complete";
    let call = json!({
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": { "name": format!("t\n{forged}\n"), "arguments": {} }
    });
    let (status, _, _) = send(
        &stack(),
        rpc(
            &call.to_string(),
            "user-guest-token",
            "forge-1",
            "2025-11-25",
        ),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let text = written.text();
    assert!(text.contains("policy decision"), "{text}");
    let injected: Vec<&str> = text.lines().filter(|l| l.starts_with("FORGED")).collect();
    assert!(
        injected.is_empty(),
        "a caller-chosen line in the text log: {injected:#?}\n--- log ---\n{text}"
    );
}

// ---------------------------------------------------------------------------------------
// 2. url.path and http.request.method: raw, unbounded, on the event and on the span
// ---------------------------------------------------------------------------------------

/// The path and the method are caller-chosen text, yet the access log and the `request`
/// span quote them whole and raw (`%`): `http` accepts UTF-8 in paths, so C1 controls
/// (U+0085 NEL), U+2028 and bidi overrides reach both the JSON and the text log (Python's
/// `splitlines`, many log shippers and viewers break the record there), and a 64 KiB path
/// or method is logged twice per line (fields and span) on every line of the request.
/// Verified against the demo over HTTP/1.1 (hyper passes raw UTF-8 request targets).
#[tokio::test]
async fn path_and_method_are_printable_and_bounded_in_the_access_log() {
    let (events, _guard) = capture();
    let path = format!("/context/a\u{85}b\u{2028}c\u{202e}d/{}", "p".repeat(20_000));
    let mut long_path = get(&path, "user-dev-token", "path-1");
    *long_path.uri_mut() = path.parse().unwrap();
    let _ = send(&stack(), long_path).await;
    let mut long_method = get("/context/docs/a", "user-dev-token", "method-1");
    *long_method.method_mut() = Method::from_bytes(&[b'A'; 5000]).unwrap();
    let _ = send(&stack(), long_method).await;

    let events = events.lock().unwrap();
    assert_eq!(events.len(), 2, "{events:#?}");
    assert_printable("url.path", &events[0]["url.path"]);
    assert_printable("http.request.method", &events[1]["http.request.method"]);
}

/// The same through the demo's JSON format: one request with a 20 KB path yields a 40 KB
/// access line (the path in the fields and again in the span), and the raw NEL/LS
/// characters split the record for any line reader that honours Unicode line breaks.
#[tokio::test]
async fn one_hostile_path_does_not_make_a_huge_or_broken_json_line() {
    let (written, _guard) = json_logs("info");
    let path = format!("/x\u{85}y/{}", "p".repeat(20_000));
    let mut request = get("/", "user-dev-token", "json-path-1");
    *request.uri_mut() = path.parse().unwrap();
    let _ = send(&stack(), request).await;
    let text = written.text();
    let access = text
        .lines()
        .find(|l| l.contains("mcp_bastion::access"))
        .expect("an access line");
    assert!(
        access.len() < 4096,
        "one request, one {} byte access line",
        access.len()
    );
    assert!(
        !access.contains('\u{85}'),
        "a raw NEL inside the JSON line: Python's str.splitlines() cuts the record in two"
    );
}

// ---------------------------------------------------------------------------------------
// 3. The principal (a JWT subject) is quoted raw and whole
// ---------------------------------------------------------------------------------------

/// `principal` is `Principal::identity()`, i.e. `Jwt:<sub>`: a token's subject is any
/// non-empty string (user names and e-mails chosen at sign-up often end up there), and the
/// access log quotes it without `printable` — control characters and kilobytes included.
#[cfg(feature = "jwt")]
#[tokio::test]
async fn jwt_subject_is_printable_and_bounded_in_the_access_log() {
    use mcp_bastion::auth::{Algorithm, JwtAuthenticator, JwtKey};
    use std::time::{SystemTime, UNIX_EPOCH};
    let secret = b"observe-hostile-secret-0123456789abcdef";
    let jwt = JwtAuthenticator::builder()
        .key(JwtKey::hmac(secret, &[Algorithm::HS256]).unwrap())
        .issuer("obs-hostile")
        .audience("urn:obs-hostile")
        .build()
        .unwrap();
    let service = Stack::new(Endpoint::default())
        .auth(AuthLayer::builder().authenticator(jwt))
        .policy(policy(POLICY))
        .serve_source(docs())
        .unwrap();
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600;
    let subject = format!("mallory\u{85}\u{1b}[2J\u{202e}{}", "m".repeat(2000));
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"sub": subject, "iss": "obs-hostile", "aud": "urn:obs-hostile", "exp": exp}),
        &jsonwebtoken::EncodingKey::from_secret(secret),
    )
    .unwrap();
    let (events, _guard) = capture();
    let _ = send(&service, get("/context/docs/a", &token, "jwt-1")).await;
    let events = events.lock().unwrap();
    assert_eq!(events.len(), 1, "{events:#?}");
    assert!(
        events[0]["principal"].starts_with("Jwt:mallory"),
        "{events:#?}"
    );
    assert_printable("principal", &events[0]["principal"]);
}

// ---------------------------------------------------------------------------------------
// 4. printable() stops at char::is_control
// ---------------------------------------------------------------------------------------

/// `printable` replaces `char::is_control` (Unicode Cc) only. U+2028 LINE SEPARATOR and
/// U+2029 PARAGRAPH SEPARATOR (Zl/Zp: line breaks for JavaScript viewers, `splitlines`,
/// many log UIs) and the bidi overrides U+202E/U+2066.. (Cf: reorder what an operator
/// reads, "Trojan Source" style) pass into `mcp.method.name` and `target`.
#[tokio::test]
async fn sanitised_fields_also_drop_unicode_line_breaks_and_bidi_overrides() {
    let (events, _guard) = capture();
    let call = json!({
        "jsonrpc": "2.0", "id": 1,
        "method": "tools/call\u{2028}status=200",
        "params": { "name": "tool\u{2029}ok\u{202e}nimda", "arguments": {} }
    });
    let _ = send(
        &stack(),
        rpc(&call.to_string(), "user-dev-token", "bidi-1", "2025-11-25"),
    )
    .await;
    let call = json!({
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": { "name": "tool\u{2028}ok\u{2066}x", "arguments": {} }
    });
    let _ = send(
        &stack(),
        rpc(&call.to_string(), "user-dev-token", "bidi-2", "2025-11-25"),
    )
    .await;
    let events = events.lock().unwrap();
    assert_eq!(events.len(), 2, "{events:#?}");
    for event in events.iter() {
        assert_printable("mcp.method.name", &event["mcp.method.name"]);
        assert_printable("mcp.target", &event["mcp.target"]);
    }
}

// ---------------------------------------------------------------------------------------
// 5. The request id vanishes from WARN/ERROR lines under a common filter
// ---------------------------------------------------------------------------------------

/// The `request` span is an INFO span of target `mcp_bastion::observe::service`. A
/// production filter that keeps the access log and warnings only
/// (`RUST_LOG=warn,mcp_bastion::access=info`) disables the span, and with it the request id
/// on every WARN/ERROR line of the request — the lines one most needs to correlate ("context
/// source failed", "inner service failed", "panic while serving a request").
#[tokio::test]
async fn error_lines_carry_the_request_id_under_a_warn_filter() {
    for filter in ["info", "warn,mcp_bastion::access=info"] {
        let failure = source_failure_line(filter).await;
        assert!(
            failure.contains("corr-5"),
            "with RUST_LOG={filter}, the ERROR line of request corr-5 does not name it:\n{failure}"
        );
    }
}

/// The "context source failed" line of request `corr-5`, under `filter`.
async fn source_failure_line(filter: &str) -> String {
    let (written, _guard) = json_logs(filter);
    let source = source_fn(|_id: ContextId, _request: SourceRequest| async move {
        Err::<ContextEntry, _>(SourceError::Internal("database on fire".into()))
    });
    let service = Stack::new(Endpoint::default())
        .auth(AuthLayer::builder().api_keys(common::seed_keys()))
        .policy(policy(POLICY))
        .serve_source(source)
        .unwrap();
    let (status, id, _) = send(&service, get("/context/docs/a", "user-dev-token", "corr-5")).await;
    assert_eq!(
        (status, id.as_str()),
        (StatusCode::INTERNAL_SERVER_ERROR, "corr-5")
    );
    let text = written.text();
    text.lines()
        .find(|l| l.contains("context source failed"))
        .unwrap_or_else(|| panic!("the ERROR line is logged\n{text}"))
        .to_owned()
}

// ---------------------------------------------------------------------------------------
// 6. The deciding rule of a denial is an allow rule
// ---------------------------------------------------------------------------------------

/// `RequestFacts` keeps the first rule recorded. In a JSON-RPC batch the first call is
/// allowed by rule A and a later one denied by default: the request is refused (403) and
/// the access log — and `mcp_policy_denials_total{rule=...}` — name the *allow* rule A as
/// the denier. (Denials after the source's labels, `Recheck::refusal` and `recheck_reads`,
/// record no rule at all, so the allow rule stays there too.)
#[tokio::test]
async fn a_batch_denial_is_not_blamed_on_the_rule_that_allowed_its_first_call() {
    #[cfg(feature = "metrics")]
    recorder();
    let (events, _guard) = capture();
    let batch = json!([
        {"jsonrpc": "2.0", "id": 1, "method": "resources/read", "params": {"uri": "ctx://docs/a"}},
        {"jsonrpc": "2.0", "id": 2, "method": "resources/read", "params": {"uri": "ctx://secret/x"}}
    ]);
    let (status, _, _) = send(
        &stack(),
        rpc(
            &batch.to_string(),
            "user-guest-token",
            "batch-6",
            "2025-03-26",
        ),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let events = events.lock().unwrap();
    assert_eq!(events[0]["error.code"], "FORBIDDEN", "{events:#?}");
    assert_ne!(
        events[0]["rule"], "obs-hostile-docs",
        "the access log blames the allow rule for a denial: {events:#?}"
    );
    #[cfg(feature = "metrics")]
    {
        let text = scrape();
        assert!(
            !text.contains("mcp_policy_denials_total{rule=\"obs-hostile-docs\"}"),
            "an allow rule counted as a denying rule:\n{}",
            text.lines()
                .filter(|l| l.contains("policy_denials"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

// ---------------------------------------------------------------------------------------
// 7. quota: an unbounded label (and raw log text) from any Rejection's details
// ---------------------------------------------------------------------------------------

/// `Answer::of` takes `quota` from `details.quota` of *any* `Rejection` on the answer, and
/// `metrics::finished` turns it into a label of `mcp_rate_limited_total`. Behind
/// `Stack::service`, an inner server (an rmcp server, a proxy relaying an upstream's 429
/// detail, a handler echoing a tenant or API name) answering with `Rejection::into_response`
/// mints one series per distinct value: the recorder keeps every series for the life of the
/// process (memory) and every scrape renders them all (Prometheus cardinality). The same
/// value is written raw into the access log's `quota` field.
#[cfg(feature = "metrics")]
#[tokio::test]
async fn quota_labels_come_from_configuration_only() {
    recorder();
    let inner = Inner(|request: &Request<_>| {
        let tenant = request
            .headers()
            .get("x-tenant")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_owned();
        Rejection::new(ErrorCode::RateLimited, "upstream says slow down")
            .with_details(json!({ "quota": format!("obs-forged-{tenant}\u{85}") }))
            .into_response(mcp_bastion::error::Dialect::Rest)
    });
    let service = Stack::new(Endpoint::default())
        .auth(AuthLayer::builder().api_keys(common::seed_keys()))
        .policy(policy(POLICY))
        .service(inner)
        .unwrap();
    let (events, _guard) = capture();
    for tenant in 0..40 {
        let mut request = get("/upstream/x", "user-dev-token", &format!("q-{tenant}"));
        request
            .headers_mut()
            .insert("x-tenant", tenant.to_string().parse().unwrap());
        let (status, _, _) = send(&service, request).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    }
    let text = scrape();
    let series = text
        .lines()
        .filter(|l| l.starts_with("mcp_rate_limited_total{quota=\"obs-forged-"))
        .count();
    assert_eq!(
        series, 0,
        "{series} label values of mcp_rate_limited_total minted by the inner service"
    );
    let events = events.lock().unwrap();
    assert_printable("quota", &events[0]["quota"]);
}

// ---------------------------------------------------------------------------------------
// 8. The envelope re-renders any answer that carries a Rejection, even a 200 with data
// ---------------------------------------------------------------------------------------

/// `normalise` re-renders every response carrying a `Rejection` extension when there is a
/// request id — and with the observe layer there always is. An inner service that answers
/// 200 with its own body (a batch of results, one of which failed) and attaches the
/// `Rejection` of the failed item so that the access log and metrics see the error code
/// loses its whole body: the caller gets `{"code","message","requestId"}` with status 200
/// instead of the other items' results. Before the envelope change a 2xx passed untouched.
#[tokio::test]
async fn a_2xx_answer_with_a_rejection_keeps_its_body() {
    let body = r#"{"results":[{"id":"a","status":200,"context":{"x":1}},{"id":"b","status":404}]}"#;
    let inner = Inner(move |_request: &Request<_>| {
        let mut response = Response::new(Body::from(body));
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
        response
            .extensions_mut()
            .insert(Rejection::not_found("item b not found"));
        response
    });
    let service = Stack::new(Endpoint::default())
        .auth(AuthLayer::builder().api_keys(common::seed_keys()))
        .policy(policy(POLICY))
        .service(inner)
        .unwrap();
    let (status, _, text) = send(&service, get("/upstream/batch", "user-dev-token", "env-8")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(text, body, "the inner 200's body was replaced");
}

/// The same for a JSON-RPC batch answered by an inner MCP server: two calls, the second
/// failed, the `Rejection` of the failure attached. The client receives one error object
/// instead of the array, and the first call's result is gone.
#[tokio::test]
async fn a_json_rpc_batch_with_a_rejection_keeps_every_answer() {
    let answers = r#"[{"jsonrpc":"2.0","id":1,"result":{}},{"jsonrpc":"2.0","id":2,"error":{"code":-32601,"message":"Method not found"}}]"#;
    let inner = Inner(move |_request: &Request<_>| {
        let mut response = Response::new(Body::from(answers));
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
        response.extensions_mut().insert(
            Rejection::new(ErrorCode::NotFound, "Method not found").with_status(StatusCode::OK),
        );
        response
    });
    let service = Stack::new(Endpoint::default())
        .auth(AuthLayer::builder().api_keys(common::seed_keys()))
        .policy(policy(POLICY))
        .service(inner)
        .unwrap();
    let batch =
        r#"[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2,"method":"ping"}]"#;
    let (status, _, text) = send(
        &service,
        rpc(batch, "user-dev-token", "env-8b", "2025-03-26"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let body: Value = serde_json::from_str(&text).unwrap();
    assert!(
        body.as_array().is_some_and(|a| a.len() == 2),
        "the batch answer lost its items: {body}"
    );
}

// ---------------------------------------------------------------------------------------
// 9. Cached "not found" answers carry no request id (and no error code)
// ---------------------------------------------------------------------------------------

/// With `cache_not_found`, a 404 is stored and served from the entry (`from_entry`): the
/// stored body was rendered without a request id, and the served answer has no `Rejection`
/// extension, so `normalise` passes it through (JSON, no rejection): the envelope quotes no
/// `requestId` and the access log says `error.code="-"` for a 404.
#[tokio::test]
async fn cached_not_found_envelopes_quote_the_request_id() {
    let cache = ContextCacheLayer::builder()
        .cache_not_found(Duration::from_secs(60))
        .build()
        .unwrap();
    let service = Stack::new(Endpoint::default())
        .auth(AuthLayer::builder().api_keys(common::seed_keys()))
        .policy(policy(POLICY))
        .cache(cache)
        .serve_source(docs())
        .unwrap();
    let (events, _guard) = capture();
    for id in ["nf-1", "nf-2"] {
        let (status, echoed, text) =
            send(&service, get("/context/docs/missing", "user-dev-token", id)).await;
        assert_eq!((status, echoed.as_str()), (StatusCode::NOT_FOUND, id));
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["requestId"], id, "envelope of {id}: {body}");
    }
    let events = events.lock().unwrap();
    for event in events.iter() {
        assert_eq!(event["error.code"], "NOT_FOUND", "{events:#?}");
    }
}

// ---------------------------------------------------------------------------------------
// 10. HEAD answers are logged as cut off
// ---------------------------------------------------------------------------------------

/// A HEAD answer's body is never polled by hyper; every HEAD answer with a body (all error
/// envelopes: 401, 403, 404, 405, 429 ...) is dropped unread, and the access log says
/// `ending=CutOff` (client went away) for an answer that was sent whole. Seen on the demo:
/// `curl -I` without a key logs `"status":401,...,"ending":"CutOff"`.
#[tokio::test]
async fn a_head_answer_sent_whole_is_not_logged_as_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (events, _guard) = capture();
    let service = Stack::new(Endpoint::default())
        .auth(AuthLayer::builder().api_keys(common::seed_keys()))
        .policy(policy(POLICY))
        .serve_source(docs())
        .unwrap();
    let server = common::spawn_service(service).await;
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(
            b"HEAD /context/docs/a HTTP/1.1\r\nHost: 127.0.0.1\r\nx-request-id: head-10\r\nConnection: close\r\n\r\n",
        )
        .await
        .unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    assert!(
        answer.starts_with(b"HTTP/1.1 401"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    for _ in 0..100 {
        if !events.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let events = events.lock().unwrap();
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0]["status"], "401");
    assert_eq!(events[0]["ending"], "Complete", "{events:#?}");
}

/// A body that sends one 1000-byte chunk, then never ends (a stream the client leaves).
struct Dribble(bool);

impl http_body::Body for Dribble {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        if std::mem::replace(&mut self.0, true) {
            Poll::Pending
        } else {
            Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::from(vec![
                b'x';
                1000
            ])))))
        }
    }
}

#[derive(Clone)]
struct Streaming;

impl<B> Service<Request<B>> for Streaming {
    type Response = Response<Dribble>;
    type Error = Infallible;
    type Future = Ready<Result<Response<Dribble>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<B>) -> Self::Future {
        let mut response = Response::new(Dribble(false));
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, "text/event-stream".parse().unwrap());
        ready(Ok(response))
    }
}

/// `AccessLog`'s `Drop` writes `bytes = 0`: the count `ObservedBody` kept is not passed on,
/// so an answer cut off mid-stream (client disconnect, HTTP/2 reset) is logged as having
/// sent nothing, however much it sent — the one number an investigation of a leak needs.
#[tokio::test]
async fn a_cut_off_answer_logs_the_bytes_it_sent() {
    let service = Stack::new(Endpoint::default())
        .auth(AuthLayer::builder().api_keys(common::seed_keys()))
        .policy(policy(POLICY))
        .service(Streaming)
        .unwrap();
    let (events, _guard) = capture();
    let response = service
        .oneshot(get("/upstream/stream", "user-dev-token", "cut-10b"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    let frame = body.frame().await.unwrap().unwrap();
    assert_eq!(frame.into_data().unwrap().len(), 1000);
    drop(body); // the client goes away
    let events = events.lock().unwrap();
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0]["ending"], "CutOff");
    assert_eq!(events[0]["bytes"], "1000", "{events:#?}");
}

// ---------------------------------------------------------------------------------------
// 11. The access log's `target` field collides with the JSON formatter's `target`
// ---------------------------------------------------------------------------------------

/// The access event has a field named `target` (what the request acts on). With the JSON
/// formatter's `flatten_event(true)` (a common setting: fields at the top level) every
/// access line carries two `"target"` keys — the caller's resource URI and the event's
/// target `mcp_bastion::access`. Strict ingesters (Elasticsearch/OpenSearch) reject the
/// document, first-wins parsers route it by the caller's text.
#[tokio::test]
async fn access_lines_have_no_duplicate_keys_when_flattened() {
    let written = Written::default();
    let sink = written.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || sink.clone())
        .json()
        .flatten_event(true)
        .finish();
    keep_callsites_interesting();
    let _guard = tracing::subscriber::set_default(subscriber);
    let _ = send(
        &stack(),
        get("/context/docs/a", "user-dev-token", "flat-11"),
    )
    .await;
    let text = written.text();
    let access = text
        .lines()
        .find(|l| l.contains("mcp_bastion::access"))
        .expect("an access line");
    assert_eq!(
        access.matches("\"target\":").count(),
        1,
        "duplicate keys in {access}"
    );
}

// ---------------------------------------------------------------------------------------
// 12. mcp_shed_total counts what was not shed
// ---------------------------------------------------------------------------------------

/// `metrics::finished` counts every `UNAVAILABLE` as shed. A context source that is down
/// (`SourceError::Unavailable`, 503) or a rate-limit store that is down (`StoreFailure::Deny`)
/// is not load shedding, yet each such answer raises `mcp_shed_total` and fires the
/// shedding alert of ops/prometheus/alerts.yml while nothing was shed.
#[cfg(feature = "metrics")]
#[tokio::test]
async fn a_source_outage_is_not_counted_as_shedding() {
    recorder();
    let shed = || {
        scrape()
            .lines()
            .find(|l| l.starts_with("mcp_shed_total "))
            .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let source = source_fn(|_id: ContextId, _request: SourceRequest| async move {
        Err::<ContextEntry, _>(SourceError::Unavailable("replica down".into()))
    });
    let service = Stack::new(Endpoint::default())
        .auth(AuthLayer::builder().api_keys(common::seed_keys()))
        .policy(policy(POLICY))
        .serve_source(source)
        .unwrap();
    let before = shed();
    for n in 0..5 {
        let (status, _, _) = send(
            &service,
            get("/context/docs/a", "user-dev-token", &format!("shed-{n}")),
        )
        .await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    }
    let after = shed();
    assert!(
        (after - before).abs() < 0.5,
        "mcp_shed_total rose by {} with nothing shed",
        after - before
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
