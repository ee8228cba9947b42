//! Shared fixtures for the integration tests: the seed's contexts and a loopback server.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;

pub mod build_history;
pub mod faults;
pub mod pki;

use mcp_bastion::context::{ContextEntry, ContextId, StaticSource};
use mcp_bastion::envelope::ErrorEnvelopeLayer;
use mcp_bastion::mcp::McpService;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tower::ServiceBuilder;

pub const GRAPH: &str =
    r#"{"nodes":[{"id":"A"},{"id":"B"}],"edges":[{"source":"A","target":"B"}]}"#;
pub const GETTING_STARTED: &str = "# Getting Started\nWelcome to our public documentation!";

/// The seed's two contexts.
pub fn seed_source() -> StaticSource {
    StaticSource::new()
        .with_context(
            ContextId::parse("project-alpha/dependency-graph").unwrap(),
            ContextEntry::text("dependencyGraph", "json", GRAPH).with_version("1.0.0"),
        )
        .with_context(
            ContextId::parse("public-docs/getting-started").unwrap(),
            ContextEntry::text("markdown", "text", GETTING_STARTED).with_version("1.0.0"),
        )
}

/// A server on an ephemeral loopback port; stops when dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Stops accepting and waits for open connections to finish.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Serves `McpService` over `source` behind `ErrorEnvelopeLayer` on 127.0.0.1.
pub async fn spawn<S: mcp_bastion::context::ContextSource>(source: S) -> TestServer {
    let service = ServiceBuilder::new()
        .layer(ErrorEnvelopeLayer::new())
        .service(McpService::new(source));
    spawn_service(service).await
}

/// The seed's API keys (`user-admin-token`, `user-dev-token`, `user-guest-token`).
pub fn seed_keys() -> mcp_bastion::auth::ApiKeyStore {
    use mcp_bastion::auth::{ApiKey, ApiKeyStore};
    use mcp_bastion::principal::{AuthMethod, Principal};
    let user = |id: &str, role: &str| Principal::new(id, AuthMethod::ApiKey).with_role(role);
    ApiKeyStore::new([
        ApiKey::new("user-admin-token", user("adminUser", "admin")).unwrap(),
        ApiKey::new("user-dev-token", user("devUser", "developer")).unwrap(),
        ApiKey::new("user-guest-token", user("guestUser", "guest")).unwrap(),
    ])
    .unwrap()
}

/// Serves the seed behind `ErrorEnvelopeLayer` and `auth`.
pub async fn spawn_authenticated(auth: mcp_bastion::auth::AuthLayer) -> TestServer {
    let service = ServiceBuilder::new()
        .layer(ErrorEnvelopeLayer::new())
        .layer(auth)
        .service(McpService::new(seed_source()));
    spawn_service(service).await
}

/// Serves any HTTP service on an ephemeral loopback port.
pub async fn spawn_service<S, B>(service: S) -> TestServer
where
    S: mcp_bastion::server::HttpService<B>,
    B: mcp_bastion::server::HttpBody,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(mcp_bastion::server::serve(listener, service, async {
        let _ = stopped.await;
    }));
    TestServer {
        addr,
        stop: Some(stop),
        task: Some(task),
    }
}
