//! Prometheus metrics (feature `metrics`): what the observe layer measures of every request,
//! through the [`metrics`] facade, and [`MetricsService`](crate::observe::MetricsService) to serve them.
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
//! | `mcp_source_duration_seconds` | histogram, 50 µs ... 10 s | `operation` (`get`, `list`) |
//! | `mcp_source_errors_total` | counter | `operation`, `kind` (`invalid_request`, `too_large`, `unavailable`, `internal`) |
//!
//! At each scrape, [`MetricsService`](crate::observe::MetricsService) adds what it reads from the process and from the
//! handles you give it:
//!
//! | metric | type | from |
//! |---|---|---|
//! | `mcp_cache_entries`, `mcp_cache_bytes` | gauge | [`with_cache`](crate::observe::MetricsService::with_cache) |
//! | `mcp_cache_evictions_total`, `mcp_cache_joins_total` | counter | [`with_cache`](crate::observe::MetricsService::with_cache) |
//! | `mcp_rate_limit_keys` | gauge | [`with_rate_limits`](crate::observe::MetricsService::with_rate_limits) |
//! | `mcp_rate_limit_evictions_total` | counter, `kind` (`idle`, `active`) | [`with_rate_limits`](crate::observe::MetricsService::with_rate_limits) |
//! | `mcp_log_lines_dropped_total` | counter | [`with_log_writer`](crate::observe::MetricsService::with_log_writer) |
//! | `process_cpu_seconds_total`, `process_resident_memory_bytes`, `process_open_fds` | | `/proc` (Linux) |
//!
//! ```
//! # #[cfg(feature = "metrics")] {
//! use mcp_bastion::observe::{MetricsService, install_prometheus};
//!
//! let handle = install_prometheus()?;
//! // Serve it on a listener of its own (or nest it in your router, behind your own guard).
//! let metrics = MetricsService::new(handle);
//! # let _ = metrics;
//! # }
//! # Ok::<(), mcp_bastion::error::ConfigError>(())
//! ```

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::error::ConfigError;
use crate::facts::KNOWN_OPERATIONS as OPERATIONS;

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
/// Time the source took to answer (cache hits never ask it).
pub const SOURCE_DURATION: &str = "mcp_source_duration_seconds";
/// Source calls that failed.
pub const SOURCE_ERRORS: &str = "mcp_source_errors_total";
/// Cache entries held (at scrape).
pub const CACHE_ENTRIES: &str = "mcp_cache_entries";
/// Cache bytes held (at scrape).
pub const CACHE_BYTES: &str = "mcp_cache_bytes";
/// Cache entries pushed out by the count or byte limit (at scrape).
pub const CACHE_EVICTIONS: &str = "mcp_cache_evictions_total";
/// Cache misses that joined another request's fetch (at scrape).
pub const CACHE_JOINS: &str = "mcp_cache_joins_total";
/// Rate-limit keys tracked (at scrape).
pub const RATE_LIMIT_KEYS: &str = "mcp_rate_limit_keys";
/// Log lines a [`LogWriter`](crate::observe::LogWriter) dropped (at scrape).
pub const LOG_LINES_DROPPED: &str = "mcp_log_lines_dropped_total";
/// Rate-limit keys dropped, by `kind` (at scrape).
pub const RATE_LIMIT_EVICTIONS: &str = "mcp_rate_limit_evictions_total";

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

/// Status classes, the values of the `status` label.
const STATUS_CLASSES: [&str; 5] = ["2xx", "3xx", "4xx", "5xx", "none"];
/// Cache results, the values of the `result` label.
const CACHE_RESULTS: [&str; 3] = ["hit", "miss", "stale"];
/// Source operations, the values of the `operation` label of the source metrics.
const SOURCE_OPERATIONS: [&str; 2] = ["get", "list"];

/// The `operation` label of an operation: its index in [`OPERATIONS`], or one past it for
/// `other`.
fn operation_index(operation: Option<&str>) -> usize {
    operation
        .and_then(|op| OPERATIONS.iter().position(|known| *known == op))
        .unwrap_or(OPERATIONS.len())
}

fn operation_label(index: usize) -> &'static str {
    OPERATIONS.get(index).copied().unwrap_or("other")
}

/// The metrics every request touches, registered once: looking each up by name and labels
/// on every request cost about 5% of the demo's throughput (`benches/observe_load.rs`).
struct Handles {
    in_flight: Gauge,
    /// By operation, then status class.
    requests: Vec<[Counter; STATUS_CLASSES.len()]>,
    /// By operation.
    durations: Vec<Histogram>,
    cache: [Counter; CACHE_RESULTS.len()],
    context_size: Histogram,
    source_durations: [Histogram; SOURCE_OPERATIONS.len()],
}

static HANDLES: OnceLock<Handles> = OnceLock::new();

impl Handles {
    fn register() -> Self {
        let operations = 0..=OPERATIONS.len();
        Self {
            in_flight: gauge!(IN_FLIGHT),
            requests: operations
                .clone()
                .map(|op| STATUS_CLASSES.map(|status| requests(op, status)))
                .collect(),
            durations: operations.map(duration).collect(),
            cache: CACHE_RESULTS.map(cache),
            context_size: histogram!(CONTEXT_SIZE),
            source_durations: SOURCE_OPERATIONS.map(source_duration),
        }
    }
}

fn requests(operation: usize, status: &'static str) -> Counter {
    counter!(REQUESTS, "operation" => operation_label(operation), "status" => status)
}

fn duration(operation: usize) -> Histogram {
    histogram!(DURATION, "operation" => operation_label(operation))
}

fn cache(result: &'static str) -> Counter {
    counter!(CACHE, "result" => result)
}

fn source_duration(operation: &'static str) -> Histogram {
    histogram!(SOURCE_DURATION, "operation" => operation)
}

/// Registers the metrics every request touches with the recorder installed now, so that a
/// request updates them without looking them up. [`install_prometheus`] does it; call it
/// once after installing a recorder of your own (before, requests look their metrics up by
/// name: the same figures, more slowly).
pub fn register_with_recorder() {
    let _ = HANDLES.set(Handles::register());
}

/// How often histograms are drained into their buckets when nobody scrapes.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Installs the Prometheus recorder (with this module's buckets) as the process's metrics
/// recorder, and returns the handle that renders it. Call once, at start-up.
///
/// It also starts a thread that drains the histograms every 5 s: without scrapes their
/// samples would otherwise pile up in memory.
pub fn install_prometheus() -> Result<PrometheusHandle, ConfigError> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(DURATION.to_owned()), &LATENCY_BUCKETS)
        .and_then(|b| {
            b.set_buckets_for_metric(Matcher::Full(SOURCE_DURATION.to_owned()), &LATENCY_BUCKETS)
        })
        .and_then(|b| {
            b.set_buckets_for_metric(Matcher::Full(CONTEXT_SIZE.to_owned()), &SIZE_BUCKETS)
        })
        .map_err(|err| ConfigError::new(format!("metrics buckets: {err}")))?
        .install_recorder()
        .map_err(|err| ConfigError::new(format!("metrics recorder: {err}")))?;
    let upkeep = handle.clone();
    std::thread::Builder::new()
        .name("mcp-metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_INTERVAL);
                upkeep.run_upkeep();
            }
        })
        .map_err(|err| ConfigError::new(format!("metrics upkeep thread: {err}")))?;
    register_with_recorder();
    Ok(handle)
}

/// A request started.
pub(crate) fn started() {
    match HANDLES.get() {
        Some(handles) => handles.in_flight.increment(1.0),
        None => gauge!(IN_FLIGHT).increment(1.0),
    }
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
    let op = operation_index(request.operation);
    let status = match request.status {
        200..=299 => 0,
        300..=399 => 1,
        400..=499 => 2,
        500..=599 => 3,
        _ => 4,
    };
    let seconds = request.duration.as_secs_f64();
    if let Some(handles) = HANDLES.get() {
        handles.in_flight.decrement(1.0);
        handles.requests[op][status].increment(1);
        handles.durations[op].record(seconds);
    } else {
        gauge!(IN_FLIGHT).decrement(1.0);
        requests(op, STATUS_CLASSES[status]).increment(1);
        duration(op).record(seconds);
    }
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
        // Indexes into CACHE_RESULTS.
        let result = match (cache.contains("fwd=stale"), cache.contains("; hit")) {
            (true, _) => 2,
            (false, true) => 0,
            (false, false) => 1,
        };
        match HANDLES.get() {
            Some(handles) => handles.cache[result].increment(1),
            None => self::cache(CACHE_RESULTS[result]).increment(1),
        }
    }
    // A context served: a successful read with a body (not HEAD, not a JSON-RPC error).
    let read = matches!(operation_label(op), "context.read" | "resources/read");
    if read && request.status == 200 && !request.head && request.error_code.is_none() {
        #[allow(clippy::cast_precision_loss)] // sizes far below 2^52
        let bytes = request.bytes as f64;
        match HANDLES.get() {
            Some(handles) => handles.context_size.record(bytes),
            None => histogram!(CONTEXT_SIZE).record(bytes),
        }
    }
}

/// A call to the source ended (`operation`: `get` or `list`).
pub(crate) fn source_answered(
    operation: &'static str,
    duration: Duration,
    error: Option<&crate::context::SourceError>,
) {
    use crate::context::SourceError;
    let seconds = duration.as_secs_f64();
    match (
        HANDLES.get(),
        SOURCE_OPERATIONS.iter().position(|op| *op == operation),
    ) {
        (Some(handles), Some(index)) => handles.source_durations[index].record(seconds),
        _ => source_duration(operation).record(seconds),
    }
    let kind = match error {
        // A missing context, or one still being generated, is an answer, not a failure of
        // the source.
        None | Some(SourceError::NotFound | SourceError::Pending { .. }) => return,
        Some(SourceError::InvalidRequest(_)) => "invalid_request",
        Some(SourceError::TooLarge { .. }) => "too_large",
        Some(SourceError::Unavailable(_)) => "unavailable",
        Some(SourceError::Internal(_)) => "internal",
    };
    counter!(SOURCE_ERRORS, "operation" => operation, "kind" => kind).increment(1);
}
