//! Throughput of the full stack with observability off and on, in one run: a plain program
//! (`harness = false`) printing figures.
//!
//! The stack: `Stack` with the API-key authenticator, the demo's policy, rate limits (the
//! demo's quotas, the admin exempt, failed-authentication reservations; no per-address quota,
//! which would throttle one loopback client), a cache, over a `StaticSource`; served by
//! `server::serve` on 127.0.0.1. `OBSERVE_CLIENTS` (default 32) keep-alive clients send an
//! authenticated MCP `resources/read` (2025-11-25) for `OBSERVE_SECONDS` (default 8) per
//! phase, after a second of warm-up:
//!
//! 1. `off`: no log subscriber, no metrics recorder (the observe layer still gives request ids).
//! 2. `blocking`: JSON logs written synchronously (each request's lines written on the
//!    request's thread, as the demo did before it used a background writer), no metrics.
//! 3. `on`: JSON logs through `tracing_appender::non_blocking` and the Prometheus recorder:
//!    what the demo server does.
//!
//! Logs go to `/dev/null`: the formatting and the writer's path are measured, not a disk.
//!
//! ```text
//! cargo bench --bench observe_load --features metrics
//! OBSERVE_ROUNDS=5 OBSERVE_SECONDS=5 cargo bench --bench observe_load --features metrics
//! ```
//!
//! Each phase runs in a process of its own (the metrics recorder is process-wide), the
//! phases alternate for `OBSERVE_ROUNDS` rounds (default 3), and the medians are compared:
//! this machine's throughput drifts from minute to minute.

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
    let seconds = Duration::from_secs(env("OBSERVE_SECONDS", 8));
    let clients = env("OBSERVE_CLIENTS", 32);
    if let Ok(name) = std::env::var("OBSERVE_PHASE") {
        // One phase in this process (the metrics recorder is process-wide).
        let rate = run_phase(&name, seconds, clients)?;
        println!("RATE {rate}");
        return Ok(());
    }
    // This machine's throughput drifts (a shared VM): phases alternate, each in a fresh
    // process, and the medians are compared.
    let rounds = env("OBSERVE_ROUNDS", 3);
    let phases = ["off", "blocking", "on"];
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); phases.len()];
    for round in 1..=rounds {
        for (i, name) in phases.iter().enumerate() {
            let output = std::process::Command::new(std::env::current_exe()?)
                .arg("--bench")
                .env("OBSERVE_PHASE", name)
                .output()?;
            let text = String::from_utf8_lossy(&output.stdout);
            let rate: f64 = text
                .lines()
                .find_map(|line| line.strip_prefix("RATE "))
                .and_then(|rate| rate.trim().parse().ok())
                .ok_or_else(|| {
                    format!(
                        "phase {name} failed: {text}{}",
                        String::from_utf8_lossy(&output.stderr)
                    )
                })?;
            println!("round {round} {name:>9}: {rate:.0} req/s");
            rates[i].push(rate);
        }
    }
    let median = |values: &mut Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    let [off, blocking, on] = [0, 1, 2].map(|i| median(&mut rates[i]));
    println!(
        "medians: off {off:.0}, blocking {blocking:.0}, on {on:.0} req/s; on / off = {:.3}, blocking / off = {:.3} (metrics recorder in `on`: {})",
        on / off,
        blocking / off,
        cfg!(feature = "metrics")
    );
    Ok(())
}

/// One phase: `off` (no logs, no metrics), `blocking` (JSON logs written on the request's
/// thread), `on` (JSON logs through a background writer, and the Prometheus recorder).
fn run_phase(name: &str, seconds: Duration, clients: u64) -> Result<f64, Error> {
    let json = || {
        tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_env_filter(EnvFilter::new("info"))
    };
    match name {
        "off" => phase(name, None, seconds, clients),
        "blocking" => {
            let logs = json()
                .with_writer(|| {
                    std::fs::OpenOptions::new()
                        .write(true)
                        .open("/dev/null")
                        .expect("/dev/null")
                })
                .finish();
            phase(name, Some(tracing::Dispatch::new(logs)), seconds, clients)
        }
        "on" => {
            #[cfg(feature = "metrics")]
            let _metrics = mcp_bastion::observe::install_prometheus()?;
            let (writer, _flush) = tracing_appender::non_blocking(
                std::fs::OpenOptions::new().write(true).open("/dev/null")?,
            );
            let logs = json().with_writer(writer).finish();
            phase(name, Some(tracing::Dispatch::new(logs)), seconds, clients)
        }
        other => Err(format!("unknown phase {other}").into()),
    }
}

/// Serves the stack and drives it for `seconds`; returns requests per second.
fn phase(
    name: &str,
    logs: Option<tracing::Dispatch>,
    seconds: Duration,
    clients: u64,
) -> Result<f64, Error> {
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
        let done = drive(&client, addr, clients, seconds).await?;
        #[allow(clippy::cast_precision_loss)]
        let rate = done as f64 / seconds.as_secs_f64();
        eprintln!(
            "{name:>9}: {done} requests in {seconds:?} = {rate:.0} req/s ({clients} clients)"
        );
        Ok(rate)
    })
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
