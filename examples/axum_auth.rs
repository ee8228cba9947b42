//! An axum application with the MCP endpoint behind the whole stack, mounted by one call
//! (`Stack::mount`, feature `axum`): `/mcp`, `/context/...` and the RFC 9728 documents are
//! served and protected, `/whoami` is one of your own handlers behind the same
//! authentication and policy (it reads the caller as `Extension<Principal>`), `/health` stays
//! public, and an unknown path is a 404 for everybody.
//!
//! ```text
//! cargo run --example axum_auth --features axum -- --addr 127.0.0.1:3001
//! curl -i http://127.0.0.1:3001/health                                 # 200 ok
//! curl -i http://127.0.0.1:3001/nowhere                                # 404 NOT_FOUND
//! curl -i http://127.0.0.1:3001/context/public-docs/getting-started   # 401, WWW-Authenticate names the metadata
//! curl -i http://127.0.0.1:3001/.well-known/oauth-protected-resource/mcp   # 200, public
//! curl -i -H 'Authorization: Bearer user-dev-token' http://127.0.0.1:3001/context/public-docs/getting-started
//! curl -i -H 'Authorization: Bearer user-dev-token' http://127.0.0.1:3001/whoami   # devUser (developer)
//! curl -i -H 'Authorization: Bearer user-guest-token' http://127.0.0.1:3001/whoami # 403: the policy grants it to developers
//! ```

#[path = "support/seed_keys.rs"]
mod seed_keys;

use std::net::SocketAddr;

use axum::routing::get;
use axum::{Extension, Router};
use mcp_bastion::auth::AuthLayer;
use mcp_bastion::context::{ContextEntry, ContextId, StaticSource};
use mcp_bastion::envelope::ErrorEnvelopeLayer;
use mcp_bastion::mcp::{Endpoint, ResourceMetadata};
use mcp_bastion::policy::{Policy, PolicyHandle};
use mcp_bastion::principal::Principal;
use mcp_bastion::stack::Stack;

/// Guests and developers read every context; only developers may ask who they are.
const POLICY: &str = r#"
roles = ["developer", "guest"]

[[rules]]
id = "readers"
effect = "allow"
roles = ["developer", "guest"]
actions = ["read", "list"]
contexts = ["**"]

[[rules]]
id = "whoami"
effect = "allow"
roles = ["developer"]
actions = ["read"]
paths = ["/whoami"]
"#;

fn addr_from_args() -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == "--addr")
        .and_then(|i| args.get(i + 1).cloned())
        .or_else(|| std::env::var("ADDR").ok())
        .unwrap_or_else(|| "127.0.0.1:3001".to_owned())
}

/// One of your own handlers, behind the stack: the caller authentication found.
async fn whoami(Extension(caller): Extension<Principal>) -> String {
    let roles: Vec<&str> = caller.roles.iter().map(String::as_str).collect();
    format!("{} ({})\n", caller.subject, roles.join(", "))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listener = tokio::net::TcpListener::bind(addr_from_args()).await?;
    let addr = listener.local_addr()?;
    let endpoint = Endpoint::builder()
        .loopback_port(addr.port())
        .resource_metadata(ResourceMetadata::new(&format!("http://{addr}/mcp"))?)
        .build()?;
    let keys = seed_keys::seed_keys()?;
    let source = StaticSource::new().with_context(
        ContextId::parse("public-docs/getting-started")?,
        ContextEntry::text("markdown", "text", "# Getting Started\nWelcome!"),
    );
    // The envelope outside the router turns axum's own 404 and 405 into envelopes too.
    let envelope = ErrorEnvelopeLayer::for_endpoint(&endpoint);

    let protected = Router::new().route("/whoami", get(whoami));
    let app = Stack::new(endpoint)
        .auth(AuthLayer::builder().api_keys(keys))
        .policy(PolicyHandle::new(Policy::from_toml(POLICY)?))
        .mount(protected, source)?
        .route("/health", get(|| async { "ok\n" }))
        .layer(envelope);

    println!("axum + mcp-bastion on http://{addr} (MCP at /mcp, REST under /context)");
    // With connect info, the stack knows each client's address (per-address quotas,
    // failed-authentication lockouts, `client_ip` policy conditions).
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
