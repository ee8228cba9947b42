//! The official Rust SDK's client (rmcp, streamable HTTP) against `McpService` over loopback,
//! in both protocol eras.

mod common;

use rmcp::model::{ErrorCode, ProtocolVersion, ReadResourceRequestParams, ResourceContents};
use rmcp::service::ServiceError;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{ClientLifecycleMode, ClientServiceExt, ServiceExt};

fn text_of(contents: &[ResourceContents]) -> &str {
    match contents {
        [ResourceContents::TextResourceContents { text, .. }] => text,
        other => panic!("expected one text content, got {other:?}"),
    }
}

async fn check_resources<S>(
    client: &rmcp::service::RunningService<rmcp::RoleClient, S>,
    not_found_code: i32,
) where
    S: rmcp::service::Service<rmcp::RoleClient>,
{
    let mut uris: Vec<String> = client
        .list_all_resources()
        .await
        .expect("resources/list")
        .into_iter()
        .map(|resource| resource.uri.clone())
        .collect();
    uris.sort();
    assert_eq!(
        uris,
        [
            "ctx://project-alpha/dependency-graph",
            "ctx://public-docs/getting-started"
        ]
    );

    let read = client
        .read_resource(ReadResourceRequestParams::new(
            "ctx://public-docs/getting-started",
        ))
        .await
        .expect("resources/read");
    assert_eq!(text_of(&read.contents), common::GETTING_STARTED);

    let graph = client
        .read_resource(ReadResourceRequestParams::new(
            "ctx://project-alpha/dependency-graph",
        ))
        .await
        .expect("resources/read graph");
    assert_eq!(text_of(&graph.contents), common::GRAPH);

    let missing = client
        .read_resource(ReadResourceRequestParams::new(
            "ctx://project-alpha/missing",
        ))
        .await
        .expect_err("a missing resource is an error");
    match missing {
        ServiceError::McpError(error) => {
            assert_eq!(error.code, ErrorCode(not_found_code));
            assert_eq!(
                error.data.as_ref().unwrap()["uri"],
                "ctx://project-alpha/missing"
            );
        }
        other => panic!("expected a JSON-RPC error, got {other:?}"),
    }
}

#[tokio::test]
async fn legacy_initialize_list_read_and_not_found() {
    let server = common::spawn(common::seed_source()).await;
    let transport = StreamableHttpClientTransport::from_uri(server.url("/mcp"));
    let client = ().serve(transport).await.expect("initialize handshake");
    let info = client.peer_info().expect("server info after initialize");
    assert_eq!(info.server_info.as_ref().unwrap().name, "mcp-bastion");
    assert_eq!(info.protocol_version, ProtocolVersion::V_2025_11_25);
    assert!(info.capabilities.resources.is_some());
    check_resources(&client, -32002).await;
    client.cancel().await.expect("close client");
    server.shutdown().await;
}

#[tokio::test]
async fn modern_discover_list_read_and_not_found() {
    let server = common::spawn(common::seed_source()).await;
    let transport = StreamableHttpClientTransport::from_uri(server.url("/mcp"));
    let client = ()
        .serve_with_lifecycle(
            transport,
            ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        )
        .await
        .expect("server/discover");
    let info = client.peer_info().expect("server info after discover");
    assert_eq!(info.protocol_version, ProtocolVersion::V_2026_07_28);
    check_resources(&client, -32602).await;
    client.cancel().await.expect("close client");
    server.shutdown().await;
}

#[tokio::test]
async fn authenticated_client_with_a_bearer_key() {
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
    let auth = mcp_bastion::auth::AuthLayer::builder()
        .api_keys(common::seed_keys())
        .build()
        .unwrap();
    let server = common::spawn_authenticated(auth).await;
    let config = StreamableHttpClientTransportConfig::with_uri(server.url("/mcp"))
        .auth_header("user-dev-token");
    let client =
        ().serve(StreamableHttpClientTransport::from_config(config))
            .await
            .expect("authenticated initialize");
    check_resources(&client, -32002).await;
    client.cancel().await.expect("close client");

    let anonymous = ().serve(StreamableHttpClientTransport::from_uri(server.url("/mcp"))).await;
    assert!(anonymous.is_err(), "no credential, no session");
    let config = StreamableHttpClientTransportConfig::with_uri(server.url("/mcp"))
        .auth_header("user-dev-tokeN");
    assert!(
        ().serve(StreamableHttpClientTransport::from_config(config))
            .await
            .is_err()
    );
    server.shutdown().await;
}
