//! `McpService` inside an axum `Router`, beside an ordinary handler, with
//! `ErrorEnvelopeLayer` around everything so axum's own 404/405 answers use the envelope too.
//!
//! ```text
//! cargo run --example axum -- --addr 127.0.0.1:3001
//! curl http://127.0.0.1:3001/health
//! curl http://127.0.0.1:3001/context/public-docs/getting-started
//! curl http://127.0.0.1:3001/nowhere        # {"code":"NOT_FOUND","message":"Not Found"}
//! ```

use axum::Router;
use axum::routing::get;
use mcp_bastion::context::{ContextEntry, ContextId, StaticSource};
use mcp_bastion::envelope::ErrorEnvelopeLayer;
use mcp_bastion::mcp::McpService;

fn addr_from_args() -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == "--addr")
        .and_then(|i| args.get(i + 1).cloned())
        .or_else(|| std::env::var("ADDR").ok())
        .unwrap_or_else(|| "127.0.0.1:3001".to_owned())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let source = StaticSource::new().with_context(
        ContextId::parse("public-docs/getting-started")?,
        ContextEntry::text(
            "markdown",
            "text",
            "# Getting Started\nWelcome to our public documentation!",
        ),
    );
    let mcp = McpService::new(source);

    // `route_service` keeps the full path, which McpService routes on.
    let app = Router::new()
        .route("/health", get(|| async { "ok" }))
        .route_service("/mcp", mcp.clone())
        .route_service("/context", mcp.clone())
        .route_service("/context/{*id}", mcp)
        .layer(ErrorEnvelopeLayer::new());

    let listener = tokio::net::TcpListener::bind(addr_from_args()).await?;
    println!("axum + mcp-bastion on http://{}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
