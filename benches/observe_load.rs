//! Throughput of the full stack with observability off and on: a plain program
//! (`harness = false`) printing figures.
//!
//! The stack: `Stack` with the API-key authenticator, the demo's policy, rate limits (the
//! demo's quotas, the admin exempt, failed-authentication reservations; no per-address quota,
//! which would throttle one loopback client), a cache, over a `StaticSource`; served by
//! `server::serve` on 127.0.0.1. `OBSERVE_CLIENTS` (default 32) keep-alive clients in the
//! same process send an authenticated MCP `resources/read` (2025-11-25) for
//! `OBSERVE_SECONDS` (default 4) per phase, after a second of warm-up. The phases
//! (`OBSERVE_PHASES`, default `off,blocking,appender,on`) are described at [`run_phase`].
//! Logs go to `/dev/null`: the formatting and the writer's path are measured, not a disk.
//!
//! ```text
//! cargo bench --bench observe_load --features metrics
//! OBSERVE_ROUNDS=9 OBSERVE_PHASES=off,metrics,lines-sink,lines,on cargo bench --bench observe_load --features metrics
//! ```
//!
//! This machine's speed drifts (a shared VM) between regimes that last tens of seconds, so
//! each phase runs in a process of its own (the metrics recorder is process-wide), the
//! phases alternate for `OBSERVE_ROUNDS` rounds (default 7), and each phase is compared with
//! the `off` of its own round: the report is the median of those ratios, by throughput and
//! by CPU time per request (client and server; at saturation throughput is its inverse, and
//! it does not count time the VM's other tenants take).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use mcp_bastion::auth::{ApiKey, ApiKeyStore, AuthLayer};
use mcp_bastion::cache::ContextCacheLayer;
use mcp_bastion::context::{CacheScope, ContextEntry, ContextId, StaticSource};
use mcp_bastion::mcp::Endpoint;
use mcp_bastion::observe::{JsonLines, LogWriter};
use mcp_bastion::policy::{Policy, PolicyHandle};
use mcp_bastion::principal::{AuthMethod, Principal};
use mcp_bastion::rate_limit::RateLimitConfig;
use mcp_bastion::stack::Stack;
use tracing_subscriber::EnvFilter;

type Error = Box<dyn std::error::Error + Send + Sync>;

const KEY: &str = "observe-load-admin-key";
const POLICY: &str = include_str!("../examples/policy.toml");
const LIMITS: &str = r#"
default = "guest"
[quotas.guest]
requests = 60
window_seconds = 60
burst = 10
[quotas.developer]
requests = 600
window_seconds = 60
burst = 50
[[rules]]
quota = "developer"
roles = ["developer"]
[exempt]
roles = ["admin"]
[failed_auth]
requests = 10
window_seconds = 60
burst = 5
"#;
const READ: &str = r#"{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"ctx://public-docs/getting-started"}}"#;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> Result<(), Error> {
    let seconds = Duration::from_secs(env("OBSERVE_SECONDS", 4));
    let clients = env("OBSERVE_CLIENTS", 32);
    if let Ok(name) = std::env::var("OBSERVE_PHASE") {
        // One phase in this process (the metrics recorder is process-wide).
        let (rate, cpu) = run_phase(&name, seconds, clients)?;
        println!("RATE {rate} CPU {cpu}");
        return Ok(());
    }
    // This machine's speed drifts (a shared VM, in regimes that last tens of seconds):
    // phases alternate in short rounds, each in a fresh process, and each phase is compared
    // with the `off` of its own round; the medians of those ratios are reported.
    let rounds = env("OBSERVE_ROUNDS", 7);
    let phases: Vec<String> = std::env::var("OBSERVE_PHASES")
        .unwrap_or_else(|_| "off,blocking,appender,on".to_owned())
        .split(',')
        .map(str::to_owned)
        .collect();
    if phases.first().map(String::as_str) != Some("off") {
        return Err("OBSERVE_PHASES must start with off".into());
    }
    let mut throughput: Vec<Vec<f64>> = vec![Vec::new(); phases.len()];
    let mut cpu: Vec<Vec<f64>> = vec![Vec::new(); phases.len()];
    for round in 1..=rounds {
        let mut measured = Vec::new();
        for name in &phases {
            let (rate, cpu_per_request, scrape) = run_child(name)?;
            let scrape = scrape.map_or(String::new(), |ms| format!(", slowest scrape {ms:.2} ms"));
            println!(
                "round {round} {name:>11}: {rate:.0} req/s, {cpu_per_request:.2} µs CPU/request{scrape}"
            );
            measured.push((rate, cpu_per_request));
        }
        let (off_rate, off_cpu) = measured[0];
        for (i, (rate, cpu_per_request)) in measured.into_iter().enumerate() {
            throughput[i].push(rate / off_rate);
            // Throughput at saturation is inverse to the CPU each request takes.
            cpu[i].push(off_cpu / cpu_per_request);
        }
    }
    let median = |values: &mut Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    println!(
        "medians of per-round ratios to `off` ({rounds} rounds; metrics recorder: {}):",
        cfg!(feature = "metrics")
    );
    for (i, name) in phases.iter().enumerate().skip(1) {
        println!(
            "{name:>11} / off: throughput {:.3}, by CPU per request {:.3}",
            median(&mut throughput[i]),
            median(&mut cpu[i])
        );
    }
    Ok(())
}

/// Runs one phase in a child process: its throughput, CPU µs per request, and the slowest
/// scrape while it ran (in `on`).
fn run_child(name: &str) -> Result<(f64, f64, Option<f64>), Error> {
    let output = std::process::Command::new(std::env::current_exe()?)
        .arg("--bench")
        .env("OBSERVE_PHASE", name)
        .output()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let scrape = text
        .lines()
        .find_map(|line| line.strip_prefix("SCRAPE "))
        .and_then(|ms| ms.trim().parse().ok());
    text.lines()
        .find_map(|line| line.strip_prefix("RATE "))
        .and_then(|rest| rest.split_once(" CPU "))
        .and_then(|(rate, cpu)| Some((rate.trim().parse().ok()?, cpu.trim().parse().ok()?, scrape)))
        .ok_or_else(|| {
            format!(
                "phase {name} failed: {text}{}",
                String::from_utf8_lossy(&output.stderr)
            )
            .into()
        })
}

/// One phase, by name:
///
/// - `off`: no log subscriber, no metrics recorder (the observe layer still gives ids).
/// - `blocking`: `tracing-subscriber`'s JSON format written synchronously on the request's
///   thread (what the demo did before this crate had an access log).
/// - `appender`: that JSON format through `tracing_appender::non_blocking`, with the
///   Prometheus recorder (the demo's first observability set-up).
/// - `on`: [`JsonLines`] through [`LogWriter`], with the Prometheus recorder: what the demo
///   server does now.
/// - `metrics`: the recorder alone; `lines`: `on` without the recorder; `lines-sink`:
///   [`JsonLines`] formatted and thrown away (the formatting alone).
fn run_phase(name: &str, seconds: Duration, clients: u64) -> Result<(f64, f64), Error> {
    let dev_null = || std::fs::OpenOptions::new().write(true).open("/dev/null");
    let tracing_json = || {
        tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_env_filter(EnvFilter::new("info"))
    };
    let json_lines = || {
        tracing_subscriber::fmt()
            .fmt_fields(JsonLines)
            .event_format(JsonLines)
            .with_env_filter(EnvFilter::new("info"))
    };
    // The recorder, and (in `on`) a scrape every 200 ms while the load runs.
    let recorder = |on: bool| -> Result<Option<Scraper>, Error> {
        #[cfg(feature = "metrics")]
        {
            let handle = mcp_bastion::observe::install_prometheus()?;
            if on {
                return Ok(Some(mcp_bastion::observe::MetricsService::new(handle)));
            }
        }
        let _ = on;
        Ok(None)
    };
    let mut scraper = None;
    let logs = match name {
        "off" => None,
        "metrics" => {
            recorder(false)?;
            None
        }
        "blocking" => {
            let logs = tracing_json()
                .with_writer(move || dev_null().expect("/dev/null"))
                .finish();
            Some(tracing::Dispatch::new(logs))
        }
        "appender" => {
            recorder(false)?;
            let (writer, flush) = tracing_appender::non_blocking(dev_null()?);
            // Written until the process ends.
            std::mem::forget(flush);
            Some(tracing::Dispatch::new(
                tracing_json().with_writer(writer).finish(),
            ))
        }
        "on" | "lines" => {
            if name == "on" {
                scraper = recorder(true)?;
            }
            let (writer, flush) = LogWriter::new(dev_null()?);
            std::mem::forget(flush);
            Some(tracing::Dispatch::new(
                json_lines().with_writer(writer).finish(),
            ))
        }
        "lines-sink" => Some(tracing::Dispatch::new(
            json_lines().with_writer(std::io::sink).finish(),
        )),
        other => return Err(format!("unknown phase {other}").into()),
    };
    phase(name, logs, scraper, seconds, clients)
}

#[cfg(feature = "metrics")]
type Scraper = mcp_bastion::observe::MetricsService;
#[cfg(not(feature = "metrics"))]
type Scraper = ();

/// Scrapes every 200 ms until `stop`; the slowest scrape, in milliseconds.
#[cfg(feature = "metrics")]
async fn scrape_while(scraper: Scraper, stop: Arc<AtomicBool>) -> f64 {
    use tower::ServiceExt as _;
    let mut slowest = Duration::ZERO;
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let started = std::time::Instant::now();
        let response = scraper
            .clone()
            .oneshot(Request::get("/metrics").body(()).expect("a request"))
            .await
            .expect("infallible");
        let _ = response.into_body().collect().await;
        slowest = slowest.max(started.elapsed());
    }
    slowest.as_secs_f64() * 1000.0
}

/// Serves the stack and drives it for `seconds`; returns requests per second.
fn phase(
    name: &str,
    logs: Option<tracing::Dispatch>,
    scraper: Option<Scraper>,
    seconds: Duration,
    clients: u64,
) -> Result<(f64, f64), Error> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if let Some(logs) = logs {
        // Every thread of this phase's runtime logs to this phase's subscriber.
        builder.on_thread_start(move || std::mem::forget(tracing::dispatcher::set_default(&logs)));
    }
    let runtime = builder.build()?;
    runtime.block_on(async move {
        let addr = serve().await?;
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        // Warm-up (connections, cache fill), then the measured window.
        drive(&client, addr, clients, Duration::from_secs(1)).await?;
        let stop = Arc::new(AtomicBool::new(false));
        #[cfg(feature = "metrics")]
        let scrapes = scraper.map(|scraper| tokio::spawn(scrape_while(scraper, Arc::clone(&stop))));
        #[cfg(not(feature = "metrics"))]
        let _ = scraper;
        let cpu_before = cpu_seconds()?;
        let done = drive(&client, addr, clients, seconds).await?;
        let cpu = cpu_seconds()? - cpu_before;
        stop.store(true, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        if let Some(scrapes) = scrapes {
            println!("SCRAPE {:.2}", scrapes.await?);
        }
        #[allow(clippy::cast_precision_loss)]
        let (rate, cpu_per_request) = (
            done as f64 / seconds.as_secs_f64(),
            cpu * 1e6 / done.max(1) as f64,
        );
        eprintln!(
            "{name:>9}: {done} requests in {seconds:?} = {rate:.0} req/s ({clients} clients), {cpu_per_request:.2} µs CPU each"
        );
        Ok((rate, cpu_per_request))
    })
}

/// CPU time (user + system, every thread: runtime, clients, log writer) of this process.
/// Unlike throughput it does not count the time the VM's other tenants take from us.
fn cpu_seconds() -> Result<f64, Error> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    let (_, after_name) = stat.rsplit_once(')').ok_or("no /proc/self/stat")?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks =
        |i: usize| -> Result<f64, Error> { Ok(fields.get(i).ok_or("short stat")?.parse::<f64>()?) };
    // utime and stime, in USER_HZ (100) ticks.
    Ok((ticks(11)? + ticks(12)?) / 100.0)
}

async fn serve() -> Result<SocketAddr, Error> {
    let keys = ApiKeyStore::new([ApiKey::new(
        KEY,
        Principal::new("loadAdmin", AuthMethod::ApiKey).with_role("admin"),
    )?])?;
    let source = StaticSource::new().with_context(
        ContextId::parse("public-docs/getting-started")?,
        ContextEntry::text("markdown", "text", "# Getting Started\nWelcome!")
            .with_cache(Some(Duration::from_secs(300)), CacheScope::Public),
    );
    let service = Stack::new(Endpoint::default())
        .auth(AuthLayer::builder().api_keys(keys))
        .policy(PolicyHandle::new(Policy::from_toml(POLICY)?))
        .rate_limits(RateLimitConfig::from_toml(LIMITS)?.build()?)
        .cache(ContextCacheLayer::builder().build()?)
        .serve_source(source)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(mcp_bastion::server::serve(
        listener,
        service,
        std::future::pending(),
    ));
    Ok(addr)
}

/// `clients` tasks sending back to back for `window`; the number of 200s.
async fn drive(
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    addr: SocketAddr,
    clients: u64,
    window: Duration,
) -> Result<u64, Error> {
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let url = format!("http://{addr}/mcp");
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (client, done, stop, url) = (
                client.clone(),
                Arc::clone(&done),
                Arc::clone(&stop),
                url.clone(),
            );
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let request = Request::post(&url)
                        .header(header::AUTHORIZATION, format!("Bearer {KEY}"))
                        .header(header::CONTENT_TYPE, "application/json")
                        .header(header::ACCEPT, "application/json, text/event-stream")
                        .header("mcp-protocol-version", "2025-11-25")
                        .body(Full::from(READ))?;
                    let response = client.request(request).await?;
                    let ok = response.status() == StatusCode::OK;
                    response.into_body().collect().await?;
                    if !ok {
                        return Err::<(), Error>("a request was refused".into());
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
                Ok(())
            })
        })
        .collect();
    tokio::time::sleep(window).await;
    stop.store(true, Ordering::Relaxed);
    let counted = done.load(Ordering::Relaxed);
    for task in tasks {
        task.await??;
    }
    Ok(counted)
}
