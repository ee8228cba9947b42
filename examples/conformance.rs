//! The server the official MCP conformance suite runs against (`.ci/conformance`): the
//! suite's fixture resources served by `McpService` behind the crate's layers, open to
//! anonymous callers (the suite sends no credentials).
//!
//! ```text
//! cargo run --example conformance -- --port 3100
//! ```
//!
//! Fixtures: `test://static-text` (text/plain), `test://static-binary` (image/png) and the
//! template `test://template/{id}/data` (JSON naming the id). The `test` scheme maps to the
//! context-id prefix `test/`; the default `ctx` scheme stays available.

use std::net::{Ipv4Addr, SocketAddr};

use base64::Engine;
use mcp_bastion::auth::AuthLayer;
use mcp_bastion::context::{
    ContextEntry, ContextId, ContextMeta, ContextSource, ListRequest, Page, ResourceTemplate,
    ResourceUriMapping, SourceError, SourceRequest, StaticSource,
};
use mcp_bastion::mcp::Endpoint;
use mcp_bastion::policy::{Policy, PolicyHandle};
use mcp_bastion::stack::Stack;

/// Everyone (anonymous included) may read and list everything the fixtures hold, and use
/// the MCP path itself (DELETE ends a session, other methods are calls of the endpoint).
const OPEN_POLICY: &str = r#"
[[rules]]
id = "conformance-open"
effect = "allow"
roles = ["*"]
actions = ["read", "list", "call", "write"]
contexts = ["**"]
resources = ["**"]
tools = ["**"]
prompts = ["**"]
paths = ["/mcp"]
"#;

/// A 1x1 PNG image.
const PNG_1X1: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

/// The suite's fixtures: two static resources and one template.
struct ConformanceSource {
    statics: StaticSource,
}

impl ConformanceSource {
    fn new() -> Result<Self, Box<dyn std::error::Error>> {
        let png = base64::engine::general_purpose::STANDARD.decode(PNG_1X1)?;
        let statics = StaticSource::new()
            .with_context(
                ContextId::parse("test/static-text")?,
                ContextEntry::text(
                    "text",
                    "text",
                    "This is the content of the static text resource.",
                )
                .with_mime_type("text/plain")
                .with_title("Static text"),
            )
            .with_context(
                ContextId::parse("test/static-binary")?,
                ContextEntry::binary("image", "binary", png)
                    .with_mime_type("image/png")
                    .with_title("Static binary"),
            );
        Ok(Self { statics })
    }
}

impl ContextSource for ConformanceSource {
    async fn get(
        &self,
        id: &ContextId,
        request: &SourceRequest,
    ) -> Result<ContextEntry, SourceError> {
        // test://template/{id}/data
        if let ["test", "template", item, "data"] = id.segments().collect::<Vec<_>>()[..] {
            let body = serde_json::json!({
                "id": item,
                "templateTest": true,
                "data": format!("Data for ID: {item}"),
            });
            return Ok(ContextEntry::text("templateData", "json", body.to_string())
                .with_mime_type("application/json"));
        }
        self.statics.get(id, request).await
    }

    async fn list(&self, request: &ListRequest) -> Result<Page<ContextMeta>, SourceError> {
        self.statics.list(request).await
    }

    fn templates(&self) -> Vec<ResourceTemplate> {
        vec![
            ResourceTemplate::new("test://template/{id}/data", "template-data")
                .with_description("Data for an id, substituted into the content")
                .with_mime_type("application/json"),
        ]
    }
}

fn port_from_args() -> Result<u16, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => Ok(3100),
        [flag, port] if flag == "--port" => port
            .parse()
            .map_err(|err| format!("--port {port:?}: {err}")),
        _ => Err("usage: conformance [--port PORT]".to_owned()),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let port = port_from_args()?;
    let endpoint = Endpoint::builder()
        .uri_mapping(ResourceUriMapping::default().with_scheme("test", "test")?)
        .sessions(true)
        .empty_tool_and_prompt_lists(true)
        .loopback_port(port)
        .server_name("mcp-bastion-conformance")
        .build()?;
    // The recommended stack, open to anonymous callers: the suite sends no credentials.
    let service = Stack::new(endpoint)
        .auth(AuthLayer::builder().allow_anonymous(true))
        .policy(PolicyHandle::new(Policy::from_toml(OPEN_POLICY)?))
        .serve_source(ConformanceSource::new()?)?;
    let listener =
        tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await?;
    println!("conformance server on http://127.0.0.1:{port}/mcp");
    mcp_bastion::server::serve(listener, service, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
