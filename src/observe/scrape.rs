//! [`MetricsService`]: the Prometheus scrape endpoint (feature `metrics`).

use std::convert::Infallible;
use std::fmt::Write as _;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use metrics_exporter_prometheus::PrometheusHandle;
use tower_service::Service;

use super::LogWriter;
use crate::cache::CacheHandle;
use crate::metrics::{
    CACHE_BYTES, CACHE_ENTRIES, CACHE_EVICTIONS, CACHE_JOINS, LOG_LINES_DROPPED,
    RATE_LIMIT_EVICTIONS, RATE_LIMIT_KEYS,
};
use crate::rate_limit::RateLimits;

/// Answers `GET /metrics` (any path, in fact: mount it where you like) with the Prometheus
/// text format: the recorder's metrics, the process's CPU time, memory and open files, and
/// the state of the cache and rate limiter you hand it (read at scrape time, so the request
/// path pays nothing for them). Serve it on a listener of its own, or behind your own
/// guard: it is not authenticated.
///
/// ```
/// # #[cfg(feature = "metrics")] {
/// use mcp_bastion::cache::ContextCacheLayer;
/// use mcp_bastion::observe::{MetricsService, install_prometheus};
/// use mcp_bastion::rate_limit::RateLimitConfig;
///
/// let cache = ContextCacheLayer::builder().build()?;
/// let limits = RateLimitConfig::default().build()?;
/// let metrics = MetricsService::new(install_prometheus()?)
///     .with_cache(cache.handle())
///     .with_rate_limits(limits.clone());
/// # let _ = metrics;
/// # }
/// # Ok::<(), mcp_bastion::error::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct MetricsService {
    handle: PrometheusHandle,
    cache: Option<CacheHandle>,
    rate_limits: Option<RateLimits>,
    log_writer: Option<LogWriter>,
    /// Scrapes being rendered, shared by clones.
    rendering: Arc<AtomicUsize>,
}

/// Scrapes rendered at once; one more is answered 503 at once (Prometheus scrapes one
/// target at a time, so more means something else is asking).
pub const MAX_CONCURRENT_SCRAPES: usize = 2;

impl MetricsService {
    /// Serves what `handle` renders.
    pub fn new(handle: PrometheusHandle) -> Self {
        Self {
            handle,
            cache: None,
            rate_limits: None,
            log_writer: None,
            rendering: Arc::default(),
        }
    }

    /// Adds the log lines `writer` dropped (output too slow, or failing) to each scrape.
    #[must_use]
    pub fn with_log_writer(mut self, writer: LogWriter) -> Self {
        self.log_writer = Some(writer);
        self
    }

    /// Adds the cache's entries, bytes, evictions and joined fetches to each scrape.
    #[must_use]
    pub fn with_cache(mut self, cache: CacheHandle) -> Self {
        self.cache = Some(cache);
        self
    }

    /// Adds the rate limiter's tracked keys and evictions to each scrape.
    #[must_use]
    pub fn with_rate_limits(mut self, rate_limits: RateLimits) -> Self {
        self.rate_limits = Some(rate_limits);
        self
    }

    fn render(&self) -> String {
        let mut text = self.handle.render();
        if let Some(cache) = &self.cache {
            let stats = cache.stats();
            sample(&mut text, CACHE_ENTRIES, "gauge", "", stats.entries);
            sample(&mut text, CACHE_BYTES, "gauge", "", stats.bytes);
            sample(&mut text, CACHE_EVICTIONS, "counter", "", stats.evictions);
            sample(&mut text, CACHE_JOINS, "counter", "", stats.joins);
        }
        if let Some(limits) = &self.rate_limits {
            let stats = limits.stats();
            sample(&mut text, RATE_LIMIT_KEYS, "gauge", "", stats.keys as u64);
            let name = RATE_LIMIT_EVICTIONS;
            sample(
                &mut text,
                name,
                "counter",
                "kind=\"idle\"",
                stats.evicted_idle,
            );
            let _ = writeln!(text, "{name}{{kind=\"active\"}} {}", stats.evicted_active);
        }
        if let Some(writer) = &self.log_writer {
            let dropped = writer.dropped_lines();
            sample(&mut text, LOG_LINES_DROPPED, "counter", "", dropped);
        }
        process_metrics(&mut text);
        text
    }
}

/// The future of a scrape.
pub(crate) type ScrapeFuture =
    Pin<Box<dyn Future<Output = Result<Response<Full<Bytes>>, Infallible>> + Send>>;

impl<B> Service<Request<B>> for MetricsService {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = ScrapeFuture;

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
            return Box::pin(std::future::ready(Ok(refused)));
        }
        if request.method() == Method::HEAD {
            // The head of a scrape: nothing to render.
            return Box::pin(std::future::ready(Ok(text_response(Full::default()))));
        }
        let Some(slot) = RenderSlot::take(&self.rendering) else {
            let mut busy = Response::new(Full::default());
            *busy.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            busy.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            return Box::pin(std::future::ready(Ok(busy)));
        };
        let metrics = self.clone();
        Box::pin(async move {
            let _slot = slot;
            // Rendering walks every series and reads /proc: on the blocking pool, so that a
            // scrape never holds a thread that answers requests.
            let text = match tokio::runtime::Handle::try_current() {
                Ok(runtime) => runtime.spawn_blocking(move || metrics.render()).await,
                Err(_) => Ok(metrics.render()),
            };
            let Ok(text) = text else {
                let mut failed = Response::new(Full::default());
                *failed.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                return Ok(failed);
            };
            Ok(text_response(Full::from(text)))
        })
    }
}

/// A scrape's answer: the Prometheus text format.
fn text_response(body: Full<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(body);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// One of the [`MAX_CONCURRENT_SCRAPES`] rendering slots, given back when dropped.
struct RenderSlot(Arc<AtomicUsize>);

impl RenderSlot {
    fn take(rendering: &Arc<AtomicUsize>) -> Option<Self> {
        rendering
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |now| {
                (now < MAX_CONCURRENT_SCRAPES).then_some(now + 1)
            })
            .ok()
            .map(|_| Self(Arc::clone(rendering)))
    }
}

impl Drop for RenderSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One metric with its `# TYPE` line and one sample (`labels` without braces, or empty).
fn sample(text: &mut String, name: &str, kind: &str, labels: &str, value: impl std::fmt::Display) {
    let _ = writeln!(text, "# TYPE {name} {kind}");
    if labels.is_empty() {
        let _ = writeln!(text, "{name} {value}");
    } else {
        let _ = writeln!(text, "{name}{{{labels}}} {value}");
    }
}

/// The process's CPU seconds, resident memory and open files, from `/proc` (Linux; nothing
/// elsewhere).
fn process_metrics(text: &mut String) {
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
            sample(text, "process_cpu_seconds_total", "counter", "", seconds);
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
        sample(
            text,
            "process_resident_memory_bytes",
            "gauge",
            "",
            kib * 1024,
        );
    }
    if let Ok(entries) = std::fs::read_dir("/proc/self/fd") {
        sample(text, "process_open_fds", "gauge", "", entries.count());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_max_concurrent_scrapes_render_at_once() {
        let rendering = Arc::new(AtomicUsize::new(0));
        let held: Vec<RenderSlot> = (0..MAX_CONCURRENT_SCRAPES)
            .map(|_| RenderSlot::take(&rendering).expect("a free slot"))
            .collect();
        assert!(RenderSlot::take(&rendering).is_none());
        drop(held);
        assert_eq!(rendering.load(Ordering::Acquire), 0);
        assert!(RenderSlot::take(&rendering).is_some());
    }
}
