//! The demo MCP server: the seed's two contexts over REST and MCP on 127.0.0.1:3000.
//!
//! ```text
//! cargo run --example server                     # 127.0.0.1:3000
//! cargo run --example server -- --addr 127.0.0.1:4000
//! ADDR=127.0.0.1:4000 cargo run --example server
//! ```
//! Logs are JSON lines on stderr (`RUST_LOG` filters them). Ctrl-C shuts down gracefully.

use std::net::SocketAddr;

use mcp_bastion::context::{CacheScope, Context, ContextId, StaticSource};
use mcp_bastion::envelope::ErrorEnvelopeLayer;
use mcp_bastion::mcp::{McpConfig, McpService};
use tower::ServiceBuilder;
use tracing_subscriber::EnvFilter;

const DEFAULT_ADDR: &str = "127.0.0.1:3000";

fn seed_contexts() -> Result<StaticSource, Box<dyn std::error::Error>> {
    let graph = r#"{"nodes":[{"id":"A"},{"id":"B"}],"edges":[{"source":"A","target":"B"}]}"#;
    Ok(StaticSource::new()
        .with_context(
            ContextId::parse("project-alpha/dependency-graph")?,
            Context::text("dependencyGraph", "json", graph)
                .with_version("1.0.0")
                .with_title("Project Alpha dependency graph"),
        )
        .with_context(
            ContextId::parse("public-docs/getting-started")?,
            Context::text(
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

/// `--addr HOST:PORT`, else `$ADDR`, else 127.0.0.1:3000.
fn listen_addr() -> Result<SocketAddr, String> {
    let mut args = std::env::args().skip(1);
    let mut addr = std::env::var("ADDR").ok();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => {
                addr = Some(
                    args.next()
                        .ok_or("--addr needs a value such as 127.0.0.1:3000")?,
                );
            }
            other if other.starts_with("--addr=") => {
                addr = Some(other["--addr=".len()..].to_owned());
            }
            "-h" | "--help" => {
                println!("usage: server [--addr HOST:PORT]   (default {DEFAULT_ADDR}, or $ADDR)");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}; try --help")),
        }
    }
    let addr = addr.unwrap_or_else(|| DEFAULT_ADDR.to_owned());
    addr.parse()
        .map_err(|err| format!("--addr {addr:?} is not HOST:PORT: {err}"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let addr = listen_addr()?;
    // DNS-rebinding defence: on loopback, accept only loopback Host headers for our port.
    let config = if addr.ip().is_loopback() {
        McpConfig::builder().loopback_port(addr.port())
    } else {
        tracing::warn!(%addr, "bound beyond loopback: Host checks are off; set allowed_hosts for production");
        McpConfig::builder().allow_any_host()
    }
    .build()?;
    let service = ServiceBuilder::new()
        .layer(ErrorEnvelopeLayer::new())
        .service(McpService::with_config(seed_contexts()?, config));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tracing::info!(addr = %local, "mcp-bastion demo server listening");
    println!("MCP server running on http://{local} (REST under /context, MCP at /mcp)");
    mcp_bastion::server::serve(listener, service, async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
    })
    .await?;
    Ok(())
}
