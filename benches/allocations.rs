//! Allocations per request through the whole stack, in memory: a counting global allocator
//! around the system one, and the recommended `Stack` (observe, envelope, overload, address
//! limits, auth with an API key, rate limits, policy, cache) over a `StaticSource`, called
//! with `ServiceExt::oneshot`. A plain program (`harness = false`) printing figures:
//!
//! ```text
//! cargo bench --bench allocations
//! ```
//!
//! Per scenario: allocations and bytes allocated per request (a warm cache hit, a REST
//! listing, an MCP `resources/read` of the 2026-07-28 era), averaged over many requests after
//! a warm-up, and the time per request in memory (with the counting allocator; a figure to
//! compare runs on one machine, not a throughput); no log subscriber (the access log's own
//! cost is `observe_load`'s subject).

use std::alloc::System;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, header};
use http_body_util::{BodyExt, Full};
use mcp_bastion::auth::{ApiKey, ApiKeyStore, AuthLayer};
use mcp_bastion::cache::ContextCacheLayer;
use mcp_bastion::client_addr::ClientAddr;
use mcp_bastion::context::{CacheScope, ContextEntry, ContextId, StaticSource};
use mcp_bastion::mcp::Endpoint;
use mcp_bastion::policy::{Policy, PolicyHandle};
use mcp_bastion::principal::{AuthMethod, Principal};
use mcp_bastion::rate_limit::RateLimitConfig;
use mcp_bastion::stack::Stack;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use tower::ServiceExt;

/// The system allocator, counting (stats_alloc does the `unsafe` wrapping; this crate forbids
/// unsafe code in every target).
#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const KEY: &str = "allocations-admin-key";
const POLICY: &str = include_str!("../examples/policy.toml");
const LIMITS: &str = include_str!("../bench/load_limits.toml");
const REQUESTS: u64 = 20_000;

type Error = Box<dyn std::error::Error>;
/// Makes one scenario's request.
type MakeRequest = Box<dyn Fn() -> Request<Full<Bytes>>>;

fn main() -> Result<(), Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let keys = ApiKeyStore::new([ApiKey::new(
            KEY,
            Principal::new("allocAdmin", AuthMethod::ApiKey).with_role("admin"),
        )?])?;
        let source = StaticSource::new().with_context(
            ContextId::parse("public-docs/getting-started")?,
            ContextEntry::text("markdown", "text", "# Getting Started\nWelcome!")
                .with_cache(Some(Duration::from_secs(3600)), CacheScope::Public),
        );
        let service = Stack::new(Endpoint::default())
            .auth(AuthLayer::builder().api_keys(keys))
            .policy(PolicyHandle::new(Policy::from_toml(POLICY)?))
            .rate_limits(RateLimitConfig::from_toml(LIMITS)?.build()?)
            .cache(ContextCacheLayer::builder().build()?)
            .serve_source(source)?;
        let read = serde_json::json!({
            "jsonrpc": "2.0", "id": 1, "method": "resources/read",
            "params": { "uri": "ctx://public-docs/getting-started", "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {} } }
        })
        .to_string();
        let scenarios: [(&str, MakeRequest); 3] = [
            (
                "rest cache hit",
                Box::new(|| {
                    Request::get("http://127.0.0.1:3000/context/public-docs/getting-started")
                        .header(header::HOST, "127.0.0.1:3000")
                        .header(header::AUTHORIZATION, format!("Bearer {KEY}"))
                        .body(Full::default())
                        .unwrap()
                }),
            ),
            (
                "rest list",
                Box::new(|| {
                    Request::get("http://127.0.0.1:3000/context")
                        .header(header::HOST, "127.0.0.1:3000")
                        .header(header::AUTHORIZATION, format!("Bearer {KEY}"))
                        .body(Full::default())
                        .unwrap()
                }),
            ),
            (
                "mcp resources/read",
                Box::new(move || {
                    Request::post("http://127.0.0.1:3000/mcp")
                        .header(header::HOST, "127.0.0.1:3000")
                        .header(header::AUTHORIZATION, format!("Bearer {KEY}"))
                        .header(header::CONTENT_TYPE, "application/json")
                        .header(header::ACCEPT, "application/json, text/event-stream")
                        .header("mcp-protocol-version", "2026-07-28")
                        .header("mcp-method", "resources/read")
                        .header("mcp-name", "ctx://public-docs/getting-started")
                        .body(Full::from(read.clone()))
                        .unwrap()
                }),
            ),
        ];
        println!("allocations per request through the whole stack ({REQUESTS} requests each):");
        // `cargo bench --bench allocations -- hit` runs the scenarios whose name contains "hit"
        // (for heaptrack, which then sees one scenario only).
        let filter = std::env::args().skip(1).find(|arg| !arg.starts_with("--"));
        for (name, request) in &scenarios {
            if filter.as_deref().is_some_and(|filter| !name.contains(filter)) {
                continue;
            }
            let call = || async {
                let mut request = request();
                request
                    .extensions_mut()
                    .insert(ClientAddr("127.0.0.1:40000".parse().unwrap()));
                let response = service.clone().oneshot(request).await.unwrap();
                assert_eq!(response.status(), 200, "{name}");
                response.into_body().collect().await.unwrap();
            };
            for _ in 0..1_000 {
                call().await;
            }
            let region = Region::new(GLOBAL);
            let started = std::time::Instant::now();
            for _ in 0..REQUESTS {
                call().await;
            }
            let elapsed = started.elapsed();
            let change = region.change();
            #[allow(clippy::cast_precision_loss)]
            let per = |count: usize| count as f64 / REQUESTS as f64;
            println!(
                "  {name:<20} {:>7.1} allocations, {:>6.1} reallocations, {:>8.0} bytes, {:>6.2} µs",
                per(change.allocations),
                per(change.reallocations),
                per(change.bytes_allocated),
                per(usize::try_from(elapsed.as_nanos()).unwrap_or(usize::MAX)) / 1e3
            );
        }
        Ok(())
    })
}
