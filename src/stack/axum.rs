//! [`Stack::mount`]: the endpoint's routes on an axum `Router`, behind the stack (feature
//! `axum`).

use axum::Router;

use super::Stack;
use crate::cache::DEFAULT_WEBHOOK_PATH;
use crate::context::ContextSource;
use crate::error::ConfigError;
use crate::mcp::McpService;

impl Stack {
    /// Mounts [`McpService`] serving `source` on `router` at every route of the endpoint, and
    /// puts this stack in front of those routes and of every route `router` already has.
    ///
    /// The routes: the MCP path (`/mcp`), the REST prefix and what is below it (`/context`,
    /// `/context/{*id}`), the RFC 9728 documents when the endpoint has
    /// [`ResourceMetadata`](crate::mcp::ResourceMetadata) (public: the authentication layer
    /// answers them without credentials, so a client that got a 401 can discover the
    /// authorization server), and the invalidation webhook when one is configured.
    ///
    /// The stack is a route layer (`Router::route_layer`): routes added to the router *after*
    /// `mount` (a `/health` probe) stay public, and a path no route matches stays the router's
    /// 404 for everybody, authenticated or not. Routes added *before* are protected like the
    /// endpoint: authenticated, rate limited, and decided by the policy as paths (grant them
    /// with `paths = ["/whoami"]`); their handlers find the caller as `Extension<Principal>`.
    /// The policy decides your routes on the percent-decoded path, the one your handlers see
    /// (`/users/%61dmin` is `/users/admin`), and refuses spellings that would cross a rule's
    /// boundary (an encoded `/` or `\`, `.` and `..` segments) with 400.
    ///
    /// Mind two things axum does not show the stack. A fallback is not a route: the fallback
    /// of `router`, and of any router nested in it (`Router::nest("/api", inner)` with
    /// `inner.fallback(...)` answers `/api/anything`), stays outside the stack, public; give
    /// protected routers no fallback. Routes of yours under the REST prefix or at the MCP path
    /// are classified as the endpoint's (`/context/admin` is decided as a read of the context
    /// `admin`, not as the path): keep them elsewhere. Serve
    /// the app with `into_make_service_with_connect_info::<SocketAddr>()`, so the stack knows
    /// client addresses (per-address quotas, failed-authentication lockouts, `client_ip`
    /// conditions). Like `Router::route_service`, this panics when `router` already has one of
    /// the endpoint's routes.
    ///
    /// ```
    /// use axum::routing::get;
    /// use axum::{Extension, Router};
    /// use mcp_bastion::auth::{ApiKey, ApiKeyStore, AuthLayer};
    /// use mcp_bastion::context::StaticSource;
    /// use mcp_bastion::envelope::ErrorEnvelopeLayer;
    /// use mcp_bastion::mcp::{Endpoint, ResourceMetadata};
    /// use mcp_bastion::policy::{Policy, PolicyHandle};
    /// use mcp_bastion::principal::{AuthMethod, Principal};
    /// use mcp_bastion::stack::Stack;
    ///
    /// let endpoint = Endpoint::builder()
    ///     .resource_metadata(ResourceMetadata::new("http://127.0.0.1:3000/mcp")?)
    ///     .build()?;
    /// let keys = ApiKeyStore::new([ApiKey::new(
    ///     "user-dev-token",
    ///     Principal::new("devUser", AuthMethod::ApiKey).with_role("developer"),
    /// )?])?;
    /// let policy = PolicyHandle::new(Policy::from_toml(r#"
    ///     roles = ["developer"]
    ///     [[rules]]
    ///     id = "developers"
    ///     effect = "allow"
    ///     roles = ["developer"]
    ///     actions = ["read", "list"]
    ///     contexts = ["**"]
    ///     paths = ["/whoami"]
    /// "#)?);
    /// let envelope = ErrorEnvelopeLayer::for_endpoint(&endpoint);
    /// let protected = Router::new().route(
    ///     "/whoami",
    ///     get(|Extension(caller): Extension<Principal>| async move { caller.identity().to_owned() }),
    /// );
    /// let app: Router = Stack::new(endpoint)
    ///     .auth(AuthLayer::builder().api_keys(keys))
    ///     .policy(policy)
    ///     .mount(protected, StaticSource::new())?
    ///     .route("/health", get(|| async { "ok" }))
    ///     .layer(envelope);
    /// # let _ = app;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn mount<C>(self, router: Router, source: C) -> Result<Router, ConfigError>
    where
        C: ContextSource,
    {
        let endpoint = self.endpoint.clone();
        let webhook = self.webhook.is_some();
        let layer = self.layer()?;
        let mcp = McpService::with_endpoint(source, endpoint.clone());
        let mut paths = vec![
            endpoint.mcp_path().to_owned(),
            endpoint.rest_prefix().to_owned(),
            format!("{}/{{*id}}", endpoint.rest_prefix()),
        ];
        if let Some(metadata) = endpoint.resource_metadata() {
            paths.extend(metadata.metadata_paths());
        }
        if webhook {
            paths.push(DEFAULT_WEBHOOK_PATH.to_owned());
        }
        let mut router = router;
        for path in &paths {
            router = router.route_service(path, mcp.clone());
        }
        Ok(router.route_layer(layer))
    }
}
