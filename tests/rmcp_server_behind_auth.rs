//! The crate's layers in front of an MCP server we did not write: the official SDK's
//! `StreamableHttpService` behind `ErrorEnvelopeLayer` + `AuthLayer`. Its tool reads the
//! `Principal` from the HTTP parts rmcp hands to handlers, and the official client calls it
//! with a bearer key.

mod common;

use std::sync::Arc;

use mcp_bastion::auth::AuthLayer;
use mcp_bastion::envelope::ErrorEnvelopeLayer;
use mcp_bastion::principal::Principal;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{MaybeSendFuture, RequestContext};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};
use tower::ServiceBuilder;

/// One tool, `whoami`, answering with the caller's subject and roles.
#[derive(Clone)]
struct WhoAmI;

impl ServerHandler for WhoAmI {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<ListToolsResult, ErrorData>> + MaybeSendFuture + '_ {
        let schema = Arc::new(serde_json::Map::from_iter([(
            "type".to_owned(),
            serde_json::json!("object"),
        )]));
        std::future::ready(Ok(ListToolsResult::with_all_items(vec![Tool::new(
            "whoami",
            "The caller's principal",
            schema,
        )])))
    }

    fn call_tool(
        &self,
        _request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<CallToolResponse, ErrorData>> + MaybeSendFuture + '_ {
        // rmcp hands tools the request's HTTP parts; AuthLayer put the Principal there.
        let principal = context
            .extensions
            .get::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<Principal>())
            .map(|p| format!("{} {:?}", p.subject, p.roles));
        std::future::ready(match principal {
            Some(text) => Ok(CallToolResult::success(vec![ContentBlock::text(text)]).into()),
            None => Err(ErrorData::internal_error("no principal", None)),
        })
    }
}

#[tokio::test]
async fn rmcp_tools_read_the_principal() {
    let rmcp_service = StreamableHttpService::new(
        || Ok(WhoAmI),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default(),
    );
    let auth = AuthLayer::builder()
        .api_keys(common::seed_keys())
        .build()
        .unwrap();
    let service = ServiceBuilder::new()
        .layer(ErrorEnvelopeLayer::new())
        .layer(auth)
        .service(rmcp_service);
    let server = common::spawn_service(service).await;

    let config = StreamableHttpClientTransportConfig::with_uri(server.url("/mcp"))
        .auth_header("user-dev-token");
    let client =
        ().serve(StreamableHttpClientTransport::from_config(config))
            .await
            .expect("initialize through AuthLayer");
    let result = client
        .call_tool(CallToolRequestParams::new("whoami"))
        .await
        .expect("tools/call");
    let text = serde_json::to_value(&result.content).unwrap()[0]["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(text, "devUser {\"developer\"}");
    client.cancel().await.unwrap();

    let refused = ().serve(StreamableHttpClientTransport::from_uri(server.url("/mcp"))).await;
    assert!(refused.is_err(), "no key, no MCP session");
    server.shutdown().await;
}

#[tokio::test]
async fn policy_filters_and_guards_the_tools_of_an_rmcp_server() {
    use mcp_bastion::policy::{Policy, PolicyHandle, PolicyLayer};
    let rmcp_service = StreamableHttpService::new(
        || Ok(WhoAmI),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default(),
    );
    let policy = Policy::from_toml(
        r#"
        roles = ["admin", "developer", "guest"]
        [[rules]]
        id = "developers-ask-who-they-are"
        effect = "allow"
        roles = ["developer"]
        actions = ["call"]
        tools = ["whoami"]
        "#,
    )
    .unwrap();
    let service = ServiceBuilder::new()
        .layer(ErrorEnvelopeLayer::new())
        .layer(
            AuthLayer::builder()
                .api_keys(common::seed_keys())
                .build()
                .unwrap(),
        )
        .layer(PolicyLayer::new(PolicyHandle::new(policy)))
        .service(rmcp_service);
    let server = common::spawn_service(service).await;
    let config = StreamableHttpClientTransportConfig::with_uri(server.url("/mcp"))
        .auth_header("user-dev-token");
    let client =
        ().serve(StreamableHttpClientTransport::from_config(config))
            .await
            .expect("initialize");
    // rmcp answers over SSE; the listing is filtered all the same.
    let tools: Vec<String> = client
        .list_all_tools()
        .await
        .expect("tools/list")
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    assert_eq!(tools, ["whoami"]);
    assert!(
        client
            .call_tool(CallToolRequestParams::new("whoami"))
            .await
            .is_ok()
    );
    let denied = client
        .call_tool(CallToolRequestParams::new("deploy-production"))
        .await;
    assert!(
        denied.is_err(),
        "a tool the policy does not grant is refused before the server sees it"
    );
    client.cancel().await.unwrap();
    server.shutdown().await;
}
