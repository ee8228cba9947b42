//! The demo MCP server: the seed's two contexts, and a large JSON build history to show
//! selection and pagination, over REST and MCP on 127.0.0.1:3000.
//!
//! ```text
//! cargo run --example server                     # 127.0.0.1:3000
//! cargo run --example server -- --addr 127.0.0.1:4000
//! ADDR=127.0.0.1:4000 cargo run --example server
//! ```
//! Logs are JSON lines on stderr through a non-blocking writer (`--log-format pretty` for
//! text; `RUST_LOG` filters them): one access-log line per request (target
//! `mcp_bastion::access`), every line of a request carrying its request id. Ctrl-C shuts
//! down gracefully. With `--features otel`, `--otlp-endpoint http://127.0.0.1:4318` (or
//! `OTEL_EXPORTER_OTLP_ENDPOINT`) sends every request's spans to an OTLP/HTTP collector.
//!
//! Authentication: the seed's API keys `user-admin-token`, `user-dev-token` and
//! `user-guest-token` (roles admin, developer, guest) as `Authorization: Bearer …` or
//! `X-API-Key`. With `MCP_JWT_SECRET` set (32+ bytes), HS256 JWTs are accepted too: issuer
//! `MCP_JWT_ISSUER` (default `mcp-bastion-dev`), audience `MCP_JWT_AUDIENCE` (default
//! `http://<addr>/mcp`), roles from the `roles` claim, scopes from `scope`. RFC 9728 metadata
//! is served at `/.well-known/oauth-protected-resource/mcp`.
//!
//! Caching: reads are cached behind the policy (16 MiB); with `MCP_WEBHOOK_SECRET` set (32+
//! bytes) a signed `POST /cache/invalidate` drops entries.
//!
//! Rate limits: `examples/rate_limits.toml` (guest 60/min burst 10, developer 600/min burst
//! 50, admin exempt; per client address 1200/min; 5 failed authentications then 1 per 6 s),
//! or `--rate-limits FILE`. Over the quota: 429 with `Retry-After`, `RateLimit-Policy` and
//! `RateLimit`.
//!
//! Slow contexts: `project-alpha/impact-report` takes about 3 s to generate; reads wait 2 s,
//! then get `202 Accepted` with `Retry-After` and `Location` (asynchronous generation).
//!
//! Authorization: `examples/policy.toml` (the seed's rules: `project-alpha/**` for admin and
//! developer, everything else for guest, developer, admin), or `--policy FILE`, reloaded on
//! SIGHUP and when the file changes.

use std::net::SocketAddr;

#[path = "support/impact.rs"]
mod impact;
#[path = "support/seed_keys.rs"]
mod seed_keys;

use mcp_bastion::auth::{AuthLayer, AuthLayerBuilder};
use mcp_bastion::cache::ContextCacheLayer;
use mcp_bastion::context::{CacheScope, ContextEntry, ContextId, StaticSource};
use mcp_bastion::mcp::{AsyncGeneration, Endpoint, ResourceMetadata};
use mcp_bastion::overload::OverloadLayer;
use mcp_bastion::policy::{Policy, PolicyHandle};
use mcp_bastion::rate_limit::{RateLimitConfig, RateLimits};
use mcp_bastion::server::ServerConfig;
use mcp_bastion::stack::Stack;
use tracing_subscriber::EnvFilter;

const DEFAULT_ADDR: &str = "127.0.0.1:3000";

#[path = "support/build_history.rs"]
mod build_history;

fn seed_contexts() -> Result<StaticSource, Box<dyn std::error::Error>> {
    let graph = r#"{"nodes":[{"id":"A"},{"id":"B"}],"edges":[{"source":"A","target":"B"}]}"#;
    Ok(StaticSource::new()
        .with_context(
            ContextId::parse("project-alpha/dependency-graph")?,
            ContextEntry::text("dependencyGraph", "json", graph)
                .with_version("1.0.0")
                .with_title("Project Alpha dependency graph"),
        )
        .with_context(
            ContextId::parse("project-alpha/build-history")?,
            ContextEntry::text("buildHistory", "json", build_history::build_history())
                .with_version("1.0.0")
                .with_title(format!(
                    "Project Alpha build history ({} builds)",
                    build_history::BUILDS
                )),
        )
        .with_context(
            ContextId::parse("public-docs/getting-started")?,
            ContextEntry::text(
                "markdown",
                "text",
                "# Getting Started\nWelcome to our public documentation!",
            )
            .with_version("1.0.0")
            .with_title("Getting started")
            .with_cache(
                Some(std::time::Duration::from_secs(300)),
                CacheScope::Public,
            ),
        ))
}

/// The canonical URI of the demo's MCP endpoint: the audience its JWTs must name.
fn resource(args: &Args) -> String {
    let scheme = if args.tls_cert.is_some() {
        "https"
    } else {
        "http"
    };
    std::env::var("MCP_JWT_AUDIENCE").unwrap_or_else(|_| format!("{scheme}://{}/mcp", args.addr))
}

/// The seed's three API keys, plus HS256 JWTs when `MCP_JWT_SECRET` is set.
fn auth(args: &Args) -> Result<AuthLayerBuilder, Box<dyn std::error::Error>> {
    let keys = seed_keys::seed_keys()?;
    #[cfg_attr(not(feature = "jwt"), allow(unused_mut))]
    let mut builder = AuthLayer::builder().api_keys(keys);
    #[cfg(feature = "jwt")]
    if let Ok(secret) = std::env::var("MCP_JWT_SECRET") {
        let issuer =
            std::env::var("MCP_JWT_ISSUER").unwrap_or_else(|_| "mcp-bastion-dev".to_owned());
        let jwt = mcp_bastion::auth::JwtAuthenticator::builder()
            .key(mcp_bastion::auth::JwtKey::hmac(
                secret.as_bytes(),
                &[mcp_bastion::auth::Algorithm::HS256],
            )?)
            .issuer(&issuer)
            .audience(resource(args))
            .build()?;
        tracing::info!(%issuer, audience = %resource(args), "HS256 JWTs accepted");
        builder = builder.authenticator(jwt);
    }
    #[cfg(not(feature = "tls"))]
    let _ = &args.client_ca; // --client-ca is refused later, with --tls-cert, without the feature
    #[cfg(feature = "tls")]
    if args.client_ca.is_some() {
        use mcp_bastion::auth::{CertMatch, CertificateAuthenticator};
        use mcp_bastion::principal::{AuthMethod, Principal};
        let by_common_name = ["admin", "developer", "guest"].into_iter().fold(
            CertificateAuthenticator::new(),
            |certificates, role| {
                certificates.map(
                    CertMatch::CommonName(role.to_owned()),
                    Principal::new(format!("{role}-certificate"), AuthMethod::MutualTls)
                        .with_role(role),
                )
            },
        );
        builder = builder.authenticator(by_common_name);
    }
    Ok(builder)
}

/// The seed's policy, embedded so that the server runs from anywhere.
const DEFAULT_POLICY: &str = include_str!("policy.toml");

/// The policy from `--policy FILE` (reloaded on SIGHUP and on change) or the embedded default.
fn policy(args: &Args) -> Result<PolicyHandle, Box<dyn std::error::Error>> {
    let handle = match &args.policy {
        Some(path) => PolicyHandle::new(Policy::from_file(path)?),
        None => PolicyHandle::new(Policy::from_toml(DEFAULT_POLICY)?),
    };
    if let Some(path) = args.policy.clone() {
        watch_policy(handle.clone(), path);
    }
    Ok(handle)
}

/// The demo's rate limits, embedded so that the server runs from anywhere.
const DEFAULT_RATE_LIMITS: &str = include_str!("rate_limits.toml");

/// The rate limits from `--rate-limits FILE` or the embedded default.
fn rate_limits(args: &Args) -> Result<RateLimits, Box<dyn std::error::Error>> {
    let text = match &args.rate_limits {
        Some(path) => {
            std::fs::read_to_string(path).map_err(|err| format!("--rate-limits {path}: {err}"))?
        }
        None => DEFAULT_RATE_LIMITS.to_owned(),
    };
    Ok(RateLimitConfig::from_toml(&text)?.build()?)
}

/// Reloads the policy file on SIGHUP and when its modification time changes.
fn watch_policy(handle: PolicyHandle, path: String) {
    let modified = |path: &str| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    tokio::spawn(async move {
        let mut last = modified(&path);
        #[cfg(unix)]
        let mut hangup =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        loop {
            #[cfg(unix)]
            let signalled = async {
                match hangup.as_mut() {
                    Some(signal) => signal.recv().await,
                    None => std::future::pending().await,
                }
            };
            #[cfg(not(unix))]
            let signalled = std::future::pending::<Option<()>>();
            let reason = tokio::select! {
                _ = signalled => "SIGHUP",
                () = tokio::time::sleep(std::time::Duration::from_secs(2)) => {
                    let now = modified(&path);
                    if now == last {
                        continue;
                    }
                    last = now;
                    "file changed"
                }
            };
            match handle.reload_file(&path) {
                Ok(()) => tracing::info!(%path, reason, "policy reloaded"),
                Err(err) => {
                    tracing::warn!(%path, reason, error = %err, "policy reload refused; keeping the old policy");
                }
            }
        }
    });
}

/// Prometheus metrics on a listener of their own (`--metrics-addr`, default 127.0.0.1:9100),
/// so a scrape never competes with the MCP listener and is never exposed with it.
#[cfg(feature = "metrics")]
async fn serve_metrics(
    args: &Args,
    cache: mcp_bastion::cache::CacheHandle,
    limits: RateLimits,
    log_writer: mcp_bastion::observe::LogWriter,
) -> Result<(), Box<dyn std::error::Error>> {
    let handle = mcp_bastion::observe::install_prometheus()?;
    let listener = tokio::net::TcpListener::bind(args.metrics_addr).await?;
    tracing::info!(addr = %listener.local_addr()?, "Prometheus metrics at /metrics");
    let service = mcp_bastion::observe::MetricsService::new(handle)
        .with_cache(cache)
        .with_rate_limits(limits)
        .with_log_writer(log_writer);
    tokio::spawn(mcp_bastion::server::serve(
        listener,
        service,
        std::future::pending(),
    ));
    Ok(())
}

/// What must live until the end of `main`: the log writer's flush, the span exporter.
struct Telemetry {
    _logs: mcp_bastion::observe::LogWriterGuard,
    /// For the metrics: the lines it had to drop.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    log_writer: mcp_bastion::observe::LogWriter,
    #[cfg(feature = "otel")]
    traces: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        // Send the spans still in the exporter's batch before the process ends.
        #[cfg(feature = "otel")]
        if let Some(traces) = self.traces.take() {
            let _ = traces.shutdown();
        }
    }
}

/// Logs (JSON lines or text on stderr) and, with feature `otel`, spans over OTLP/HTTP to
/// `--otlp-endpoint` (or `$OTEL_EXPORTER_OTLP_ENDPOINT`).
fn init_telemetry(args: &Args) -> Result<Telemetry, Box<dyn std::error::Error>> {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    // Logs go through a background writer: a slow terminal or pipe never holds a request.
    // Lines past its bound are dropped (and counted), never waited for.
    let (writer, logs_guard) = mcp_bastion::observe::LogWriter::new(std::io::stderr());
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt::layer().with_writer(writer.clone());
    let logs = if args.pretty_logs {
        logs.boxed()
    } else {
        // One JSON object a line; the request span's fields (its request id) on each.
        use mcp_bastion::observe::JsonLines;
        logs.fmt_fields(JsonLines).event_format(JsonLines).boxed()
    };
    let registry = tracing_subscriber::registry().with(logs.with_filter(filter));
    #[cfg(feature = "otel")]
    {
        use opentelemetry::trace::TracerProvider as _;
        use opentelemetry_otlp::WithExportConfig as _;
        let endpoint = args
            .otlp_endpoint
            .clone()
            .or_else(|| std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").ok());
        let Some(endpoint) = endpoint else {
            registry.init();
            return Ok(Telemetry {
                _logs: logs_guard,
                log_writer: writer.clone(),
                traces: None,
            });
        };
        let url = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(&url)
            .build()?;
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(
                opentelemetry_sdk::Resource::builder()
                    .with_service_name("mcp-bastion-demo")
                    .build(),
            )
            .build();
        // Every span of the crate (authenticate, authorize, cache, source, serialize are at
        // DEBUG), whatever RUST_LOG says about the logs.
        let spans = tracing_subscriber::filter::Targets::new()
            .with_target("mcp_bastion", tracing::Level::DEBUG)
            .with_default(tracing::Level::INFO);
        let traces = tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("mcp-bastion"))
            .with_filter(spans);
        registry.with(traces).init();
        tracing::info!(%url, "exporting spans over OTLP/HTTP");
        Ok(Telemetry {
            _logs: logs_guard,
            log_writer: writer.clone(),
            traces: Some(provider),
        })
    }
    #[cfg(not(feature = "otel"))]
    {
        if args.otlp_endpoint.is_some() {
            return Err("--otlp-endpoint needs the `otel` feature: cargo run --example server --features otel -- ...".into());
        }
        registry.init();
        Ok(Telemetry {
            _logs: logs_guard,
            log_writer: writer,
        })
    }
}

/// Command line: `--addr HOST:PORT` (else `$ADDR`, else 127.0.0.1:3000) and, with feature
/// `tls`, `--tls-cert FILE --tls-key FILE [--client-ca FILE]`.
#[derive(Debug)]
struct Args {
    addr: SocketAddr,
    tls_cert: Option<String>,
    tls_key: Option<String>,
    client_ca: Option<String>,
    policy: Option<String>,
    rate_limits: Option<String>,
    pretty_logs: bool,
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    metrics_addr: SocketAddr,
    otlp_endpoint: Option<String>,
}

const USAGE: &str =
    "usage: server [--addr HOST:PORT] [--policy FILE] [--rate-limits FILE] [--log-format json|pretty] [--metrics-addr HOST:PORT] [--otlp-endpoint URL] [--tls-cert FILE --tls-key FILE [--client-ca FILE]]
  --addr       listen address (default 127.0.0.1:3000, or $ADDR)
  --policy     TOML policy file (default: examples/policy.toml, embedded); reloaded on SIGHUP
               and when the file changes; an invalid new policy is refused
  --rate-limits TOML rate limits (default: examples/rate_limits.toml, embedded)
  --log-format json (default: one JSON object a line) or pretty (text for a terminal)
  --metrics-addr with feature metrics: Prometheus metrics at /metrics on this address
               (default 127.0.0.1:9100)
  --otlp-endpoint with feature otel: send spans over OTLP/HTTP to this collector (e.g.
               http://127.0.0.1:4318; default $OTEL_EXPORTER_OTLP_ENDPOINT, else none)
  --tls-cert   serve HTTPS with this PEM certificate chain (feature tls)
  --tls-key    the PEM private key of --tls-cert
  --client-ca  accept client certificates from this CA (mutual TLS); a certificate whose
               CN is admin, developer or guest authenticates with that role";

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let mut addr = std::env::var("ADDR").ok();
    let (mut tls_cert, mut tls_key, mut client_ca, mut policy) = (None, None, None, None);
    let (mut rate_limits, mut otlp_endpoint) = (None, None);
    let mut pretty_logs = false;
    let mut metrics_addr = SocketAddr::from(([127, 0, 0, 1], 9100));
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag.to_owned(), Some(value.to_owned())),
            None => (arg.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or(format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--addr" => addr = Some(value()?),
            "--tls-cert" => tls_cert = Some(value()?),
            "--tls-key" => tls_key = Some(value()?),
            "--client-ca" => client_ca = Some(value()?),
            "--policy" => policy = Some(value()?),
            "--rate-limits" => rate_limits = Some(value()?),
            "--otlp-endpoint" => otlp_endpoint = Some(value()?),
            "--metrics-addr" => {
                let value = value()?;
                metrics_addr = value
                    .parse()
                    .map_err(|err| format!("--metrics-addr {value:?} is not HOST:PORT: {err}"))?;
            }
            "--log-format" => {
                pretty_logs = match value()?.as_str() {
                    "json" => false,
                    "pretty" => true,
                    other => return Err(format!("--log-format {other:?}: json or pretty")),
                }
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    if tls_cert.is_some() != tls_key.is_some() || (client_ca.is_some() && tls_cert.is_none()) {
        return Err(format!(
            "--tls-cert and --tls-key go together; --client-ca needs both\n{USAGE}"
        ));
    }
    let addr = addr.unwrap_or_else(|| DEFAULT_ADDR.to_owned());
    let addr = addr
        .parse()
        .map_err(|err| format!("--addr {addr:?} is not HOST:PORT: {err}"))?;
    Ok(Args {
        addr,
        tls_cert,
        tls_key,
        client_ca,
        policy,
        rate_limits,
        pretty_logs,
        metrics_addr,
        otlp_endpoint,
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let telemetry = init_telemetry(&args)?;
    let addr = args.addr;
    // DNS-rebinding defence: on loopback, accept only loopback Host headers for our port.
    let endpoint = if addr.ip().is_loopback() {
        Endpoint::builder().loopback_port(addr.port())
    } else {
        tracing::warn!(%addr, "bound beyond loopback: Host checks are off; set allowed_hosts for production");
        Endpoint::builder().allow_any_host()
    }
    .resource_metadata(ResourceMetadata::new(&resource(&args))?.with_scopes(["context:read"]))
    // Reads slower than 2 s become background jobs answered 202 + Retry-After + Location.
    .async_generation(AsyncGeneration::new())
    .build()?;
    // The recommended stack from the one endpoint description: envelope, load shedding,
    // client address, limits by address, authentication, rate limit by principal, policy,
    // cache, then the endpoint.
    // Repeated reads come from the cache (behind the policy); MCP_WEBHOOK_SECRET (32+ bytes)
    // turns on the signed invalidation webhook at POST /cache/invalidate.
    let cache = ContextCacheLayer::builder()
        .max_bytes(16 * 1024 * 1024)
        .stale_while_revalidate(std::time::Duration::from_secs(30))
        .build()?;
    // At most 1024 requests at once (one more gets 503 + Retry-After at once); 30 s each.
    let overload = OverloadLayer::builder()
        .max_concurrent(mcp_bastion::overload::DEFAULT_MAX_CONCURRENT)
        .timeout(mcp_bastion::overload::DEFAULT_TIMEOUT)
        .build()?;
    let quotas = rate_limits(&args)?;
    let mut stack = Stack::new(endpoint)
        .overload(overload)
        .auth(auth(&args)?)
        .policy(policy(&args)?)
        .rate_limits(quotas.clone())
        .cache(cache.clone());
    if let Ok(secret) = std::env::var("MCP_WEBHOOK_SECRET") {
        stack = stack.invalidation_webhook(cache.handle().webhook(secret)?);
        tracing::info!("cache invalidation webhook at POST /cache/invalidate");
    }
    // With feature `compression`: gzip, br or zstd responses (JSON and text of 1 KiB or more)
    // and compressed request bodies, decoded within the 1 MiB body limit.
    #[cfg(feature = "compression")]
    let stack = stack.compression(mcp_bastion::compression::CompressionConfig::default());
    let service = stack.serve_source(impact::WithImpactReport(seed_contexts()?))?;
    // Connection limits: header, body and idle timeouts, HTTP/2 pings, a connection cap
    // (the safe defaults, spelled out so they are easy to find and change).
    let limits = ServerConfig::builder()
        .header_read_timeout(mcp_bastion::server::DEFAULT_HEADER_READ_TIMEOUT)
        .body_read_timeout(mcp_bastion::server::DEFAULT_BODY_READ_TIMEOUT)
        .idle_timeout(mcp_bastion::server::DEFAULT_IDLE_TIMEOUT)
        .max_connections(mcp_bastion::server::DEFAULT_MAX_CONNECTIONS)
        .build()?;
    #[cfg(feature = "metrics")]
    serve_metrics(&args, cache.handle(), quotas, telemetry.log_writer.clone()).await?;
    #[cfg(not(feature = "metrics"))]
    let _ = (quotas, &telemetry);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
    };
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        #[cfg(feature = "tls")]
        {
            use mcp_bastion::tls::{ClientCertificates, TlsConfig};
            let mut tls = TlsConfig::from_pem(&std::fs::read(cert)?, &std::fs::read(key)?)?;
            if let Some(ca) = &args.client_ca {
                tls = tls.with_client_ca(&std::fs::read(ca)?, ClientCertificates::Optional)?;
            }
            tracing::info!(addr = %local, mtls = args.client_ca.is_some(), "mcp-bastion demo server listening (TLS)");
            println!("MCP server running on https://{local} (REST under /context, MCP at /mcp)");
            mcp_bastion::tls::serve_tls_with(listener, tls.build()?, service, &limits, shutdown)
                .await?;
            return Ok(());
        }
        #[cfg(not(feature = "tls"))]
        {
            let _ = (cert, key);
            return Err(
                "TLS needs the `tls` feature: cargo run --example server --features tls -- ..."
                    .into(),
            );
        }
    }
    tracing::info!(addr = %local, "mcp-bastion demo server listening");
    println!("MCP server running on http://{local} (REST under /context, MCP at /mcp)");
    mcp_bastion::server::serve_with(listener, service, &limits, shutdown).await?;
    Ok(())
}
