use super::McpClient;

#[test]
fn the_builder_refuses_what_cannot_work() {
    let refused = |builder: super::McpClientBuilder| builder.build().unwrap_err().to_string();
    assert!(refused(McpClient::builder("ftp://example.com")).contains("scheme"));
    assert!(refused(McpClient::builder("not a url")).contains("not a URL"));
    assert!(refused(McpClient::builder("/relative")).contains("scheme"));
    assert!(refused(McpClient::builder("http://user:secret@example.com")).contains("credentials"));
    assert!(refused(McpClient::builder("http://example.com/?a=1")).contains("query"));
    let base = || McpClient::builder("http://127.0.0.1:3000");
    assert!(refused(base().mcp_path("mcp")).contains("mcp_path"));
    assert!(refused(base().rest_prefix("/a b")).contains("rest_prefix"));
    assert!(refused(base().timeout(std::time::Duration::ZERO)).contains("timeouts"));
    assert!(refused(base().max_response_bytes(0)).contains("max_response_bytes"));
    assert!(refused(base().bearer_token("two words")).contains("bearer token"));
}

#[test]
fn paths_join_the_base_and_the_token_stays_out_of_debug_output() {
    let builder = McpClient::builder("https://example.com/api/").bearer_token("secret-token");
    assert!(!format!("{builder:?}").contains("secret-token"));
    let client = builder.mcp_path("/v1/mcp").build().unwrap();
    let shown = format!("{client:?}");
    assert!(shown.contains("https://example.com/api/v1/mcp"), "{shown}");
    assert!(shown.contains("https://example.com/api/context"), "{shown}");
    assert!(!shown.contains("secret-token"));
}

/// Spawned tasks and axum handlers need `Send` futures.
fn spawnable<T: Send + 'static>(_: T) {}

#[test]
fn every_call_can_be_spawned() {
    let client = McpClient::builder("http://127.0.0.1:1").build().unwrap();
    let c = client.clone();
    spawnable(async move {
        super::transport::exchange(
            &c.inner.service,
            http::Request::new(super::RequestBody::default()),
            std::time::Duration::from_secs(1),
            1,
        )
        .await
    });
    let c = client.clone();
    spawnable(async move { c.get_context("a").await });
    let c = client.clone();
    spawnable(async move { c.batch(&["a"]).await });
    let c = client.clone();
    spawnable(async move { c.list_page(None, None).await });
    let c = client.clone();
    spawnable(async move { c.list_contexts(None).await });
    let c = client.clone();
    spawnable(async move { c.connect().await });
    let c = client.clone();
    spawnable(async move { c.resources_page(None).await });
    let c = client.clone();
    spawnable(async move { c.list_resources().await });
    spawnable(async move { client.read_resource("x").await });
}
