//! Prometheus metrics (feature `metrics`): what the observe layer measures of every request,
//! through the [`metrics`] facade, and [`MetricsService`] to serve them.
//!
//! Names and labels (label values come from fixed sets or from your configuration, never
//! from raw ids or paths, so the number of series stays bounded):
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `mcp_requests_total` | counter | `operation` (MCP method or REST operation, unknown ones `other`), `status` (`2xx` ... `5xx`) |
//! | `mcp_request_duration_seconds` | histogram, 50 µs ... 10 s | `operation` |
//! | `mcp_requests_in_flight` | gauge | |
//! | `mcp_auth_failures_total` | counter | `reason` (`invalid_token`, `missing_credentials`) |
//! | `mcp_policy_denials_total` | counter | `rule` (a deny rule's id, or `default-deny`) |
//! | `mcp_rate_limited_total` | counter | `quota` |
//! | `mcp_shed_total` | counter | |
//! | `mcp_cache_requests_total` | counter | `result` (`hit`, `miss`, `stale`) |
//! | `mcp_context_size_bytes` | histogram, 256 B ... 4 MiB | |
//! | `process_cpu_seconds_total`, `process_resident_memory_bytes`, `process_open_fds` | at scrape (Linux) | |
//!
//! ```
//! # #[cfg(feature = "metrics")] {
//! use mcp_bastion::observe::{MetricsService, install_prometheus};
//!
//! let handle = install_prometheus()?;
//! // Serve it on a listener of its own (or nest it in your router).
//! let metrics = MetricsService::new(handle);
//! # let _ = metrics;
//! # }
//! # Ok::<(), mcp_bastion::error::ConfigError>(())
//! ```

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tower_service::Service;

use crate::error::ConfigError;

/// Requests answered.
pub const REQUESTS: &str = "mcp_requests_total";
/// Time from the request to the end of its answer.
pub const DURATION: &str = "mcp_request_duration_seconds";
/// Requests being answered.
pub const IN_FLIGHT: &str = "mcp_requests_in_flight";
/// Refused credentials and requests without one where one is needed.
pub const AUTH_FAILURES: &str = "mcp_auth_failures_total";
/// Requests the policy refused.
pub const POLICY_DENIALS: &str = "mcp_policy_denials_total";
/// Requests refused by a rate limit.
pub const RATE_LIMITED: &str = "mcp_rate_limited_total";
/// Requests shed by the overload layer.
pub const SHED: &str = "mcp_shed_total";
/// Context reads answered by the cache, or not.
pub const CACHE: &str = "mcp_cache_requests_total";
/// Size of the contexts served.
pub const CONTEXT_SIZE: &str = "mcp_context_size_bytes";

/// Latency buckets, in seconds.
pub const LATENCY_BUCKETS: [f64; 17] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0,
];
/// Context size buckets, in bytes.
pub const SIZE_BUCKETS: [f64; 9] = [
    256.0,
    1024.0,
    4096.0,
    16_384.0,
    65_536.0,
    262_144.0,
    1_048_576.0,
    2_097_152.0,
    4_194_304.0,
];

/// Operations that are their own label value; any other is `other`.
const OPERATIONS: [&str; 20] = [
    "context.read",
    "context.list",
    "context.batch",
    "initialize",
    "ping",
    "server/discover",
    "resources/list",
    "resources/read",
    "resources/templates/list",
    "resources/subscribe",
    "tools/list",
    "tools/call",
    "prompts/list",
    "prompts/get",
    "completion/complete",
    "logging/setLevel",
    "notifications/initialized",
    "batch",
    "mcp.transport",
    "resource-metadata",
];

/// Installs the Prometheus recorder (with this module's buckets) as the process's metrics
/// recorder, and returns the handle that renders it. Call once, at start-up.
pub fn install_prometheus() -> Result<PrometheusHandle, ConfigError> {
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(DURATION.to_owned()), &LATENCY_BUCKETS)
        .and_then(|b| {
            b.set_buckets_for_metric(Matcher::Full(CONTEXT_SIZE.to_owned()), &SIZE_BUCKETS)
        })
        .map_err(|err| ConfigError::new(format!("metrics buckets: {err}")))?
        .install_recorder()
        .map_err(|err| ConfigError::new(format!("metrics recorder: {err}")))
}

/// A request started.
pub(crate) fn started() {
    gauge!(IN_FLIGHT).increment(1.0);
}

/// What one finished request says, for the metrics.
pub(crate) struct Finished<'a> {
    pub(crate) operation: Option<&'a str>,
    pub(crate) head: bool,
    pub(crate) status: u16,
    pub(crate) error_code: Option<&'static str>,
    pub(crate) invalid_token: bool,
    /// The policy's refusal (recorded by the policy layer).
    pub(crate) denied_by: Option<&'a str>,
    /// The quota that refused (recorded by the rate limiter, from configuration).
    pub(crate) limited_by: Option<&'a str>,
    /// Shed by the overload layer.
    pub(crate) shed: bool,
    pub(crate) cache: Option<&'a str>,
    pub(crate) bytes: u64,
    pub(crate) duration: Duration,
}

/// A request ended (answered, cut off or failed).
pub(crate) fn finished(request: &Finished<'_>) {
    gauge!(IN_FLIGHT).decrement(1.0);
    let operation = request
        .operation
        .and_then(|op| OPERATIONS.iter().copied().find(|known| *known == op))
        .unwrap_or("other");
    let status = match request.status {
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "none",
    };
    counter!(REQUESTS, "operation" => operation, "status" => status).increment(1);
    histogram!(DURATION, "operation" => operation).record(request.duration.as_secs_f64());
    if request.error_code == Some("UNAUTHORIZED") {
        let reason = if request.invalid_token {
            "invalid_token"
        } else {
            "missing_credentials"
        };
        counter!(AUTH_FAILURES, "reason" => reason).increment(1);
    }
    // Refusals count from what the refusing layer recorded, never from an answer's text.
    if let Some(rule) = request.denied_by {
        counter!(POLICY_DENIALS, "rule" => rule.to_owned()).increment(1);
    }
    if let Some(quota) = request.limited_by {
        counter!(RATE_LIMITED, "quota" => quota.to_owned()).increment(1);
    }
    if request.shed {
        counter!(SHED).increment(1);
    }
    if let Some(cache) = request.cache {
        let result = if cache.contains("fwd=stale") {
            "stale"
        } else if cache.contains("; hit") {
            "hit"
        } else {
            "miss"
        };
        counter!(CACHE, "result" => result).increment(1);
    }
    // A context served: a successful read with a body (not HEAD, not a JSON-RPC error).
    let read = matches!(operation, "context.read" | "resources/read");
    if read && request.status == 200 && !request.head && request.error_code.is_none() {
        #[allow(clippy::cast_precision_loss)] // sizes far below 2^52
        histogram!(CONTEXT_SIZE).record(request.bytes as f64);
    }
}

/// Answers `GET /metrics` (any path, in fact: mount it where you like) with the Prometheus
/// text format: the recorder's metrics and the process's CPU time, memory and open files.
/// Serve it on a listener of its own, or behind your own guard: it is not authenticated.
#[derive(Debug, Clone)]
pub struct MetricsService {
    handle: PrometheusHandle,
}

impl MetricsService {
    /// Serves what `handle` renders.
    pub fn new(handle: PrometheusHandle) -> Self {
        Self { handle }
    }
}

impl<B> Service<Request<B>> for MetricsService {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        if request.method() != Method::GET && request.method() != Method::HEAD {
            let mut refused = Response::new(Full::default());
            *refused.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
            refused
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return ready(Ok(refused));
        }
        let mut text = self.handle.render();
        text.push_str(&process_metrics());
        let mut response = Response::new(Full::from(text));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        );
        ready(Ok(response))
    }
}

/// The process's CPU seconds, resident memory and open files, from `/proc` (Linux; empty
/// elsewhere).
fn process_metrics() -> String {
    use std::fmt::Write as _;
    let mut text = String::new();
    // Fields 14 and 15 of /proc/self/stat (after the parenthesised name): user and system
    // time in clock ticks, which the kernel reports at USER_HZ = 100 on every architecture.
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat")
        && let Some((_, after_name)) = stat.rsplit_once(')')
    {
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
        if let (Some(user), Some(system)) = (ticks(11), ticks(12)) {
            #[allow(clippy::cast_precision_loss)]
            let seconds = (user + system) as f64 / 100.0;
            let _ = write!(
                text,
                "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total {seconds}\n"
            );
        }
    }
    if let Ok(status) = std::fs::read_to_string("/proc/self/status")
        && let Some(kib) = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
    {
        let _ = write!(
            text,
            "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes {}\n",
            kib * 1024
        );
    }
    if let Ok(entries) = std::fs::read_dir("/proc/self/fd") {
        let _ = write!(
            text,
            "# TYPE process_open_fds gauge\nprocess_open_fds {}\n",
            entries.count()
        );
    }
    text
}
