//! OAuth 2.0 Protected Resource Metadata (RFC 9728), the service that serves it, and the
//! `WWW-Authenticate` challenges that point to it (RFC 6750, MCP authorization).

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, Uri, header};
use serde_json::json;
use tower_service::Service;

use crate::error::{ConfigError, Dialect, ErrorCode, FullBody, Rejection};

/// Well-known path of the protected resource metadata document.
pub const WELL_KNOWN_PATH: &str = "/.well-known/oauth-protected-resource";

/// What this server tells OAuth clients about itself (RFC 9728): its canonical URI (the
/// audience tokens must carry, RFC 8707), the authorization servers it trusts and the scopes
/// it understands.
///
/// Give it to the [`Endpoint`](super::Endpoint). The document is served by
/// [`AuthLayer`](crate::auth::AuthLayer), without authentication, at
/// `/.well-known/oauth-protected-resource` and at the path-inserted form
/// (`/.well-known/oauth-protected-resource/mcp` for a resource at `/mcp`), or by
/// [`ResourceMetadataService`] wherever a router mounts it.
///
/// ```
/// use mcp_bastion::mcp::ResourceMetadata;
///
/// let metadata = ResourceMetadata::new("https://mcp.example.com/mcp")?
///     .with_authorization_server("https://auth.example.com")?
///     .with_scopes(["context:read", "context:list"]);
/// assert_eq!(
///     metadata.metadata_url(),
///     "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
/// );
/// # Ok::<(), mcp_bastion::error::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceMetadata {
    resource: String,
    origin: String,
    path: String,
    authorization_servers: Vec<String>,
    scopes_supported: Vec<String>,
}

fn parse_absolute(uri: &str, what: &str) -> Result<(String, String), ConfigError> {
    let parsed: Uri = uri
        .parse()
        .map_err(|err| ConfigError::new(format!("{what} {uri:?} is not a URI: {err}")))?;
    let (Some(scheme), Some(authority)) = (parsed.scheme_str(), parsed.authority()) else {
        return Err(ConfigError::new(format!(
            "{what} {uri:?} must be absolute (https://host/path)"
        )));
    };
    if scheme != "https" && scheme != "http" {
        return Err(ConfigError::new(format!(
            "{what} {uri:?} must use https (or http for development)"
        )));
    }
    if parsed.query().is_some() || uri.contains('#') {
        return Err(ConfigError::new(format!(
            "{what} {uri:?} must have no query or fragment"
        )));
    }
    let path = parsed.path().trim_end_matches('/').to_owned();
    Ok((format!("{scheme}://{authority}"), path))
}

impl ResourceMetadata {
    /// Metadata for the resource at `resource`, its canonical URI (e.g.
    /// `https://mcp.example.com/mcp`).
    pub fn new(resource: &str) -> Result<Self, ConfigError> {
        let (origin, path) = parse_absolute(resource, "resource")?;
        Ok(Self {
            resource: format!("{origin}{path}"),
            origin,
            path,
            authorization_servers: Vec::new(),
            scopes_supported: Vec::new(),
        })
    }

    /// Adds an authorization server (its issuer URL) that clients may get tokens from.
    pub fn with_authorization_server(mut self, issuer: &str) -> Result<Self, ConfigError> {
        parse_absolute(issuer, "authorization server")?;
        self.authorization_servers.push(issuer.to_owned());
        Ok(self)
    }

    /// Sets the scopes this resource understands (also the `scope` of 401 challenges).
    ///
    /// This only advertises them: what a request needs is enforced by the policy, per rule
    /// (`scopes = [...]` in [`PolicyLayer`](crate::policy::PolicyLayer)'s rules).
    #[must_use]
    pub fn with_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes_supported = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// The canonical URI of the resource: the audience tokens must name.
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// The scopes this resource understands.
    pub fn scopes_supported(&self) -> &[String] {
        &self.scopes_supported
    }

    /// The URL of the metadata document (path-inserted form, RFC 9728 §3.1).
    pub fn metadata_url(&self) -> String {
        format!("{}{WELL_KNOWN_PATH}{}", self.origin, self.path)
    }

    /// The routes the document is served at, the paths [`is_metadata_path`](Self::is_metadata_path)
    /// accepts: [`WELL_KNOWN_PATH`] (with or without a trailing `/`) and, for a resource with
    /// a path, the path-inserted form (RFC 9728 §3.1; `…/oauth-protected-resource/mcp`).
    ///
    /// ```
    /// use mcp_bastion::mcp::ResourceMetadata;
    ///
    /// let metadata = ResourceMetadata::new("https://mcp.example.com/mcp")?;
    /// let paths = metadata.metadata_paths();
    /// assert_eq!(
    ///     paths,
    ///     [
    ///         "/.well-known/oauth-protected-resource",
    ///         "/.well-known/oauth-protected-resource/",
    ///         "/.well-known/oauth-protected-resource/mcp",
    ///     ]
    /// );
    /// assert!(paths.iter().all(|path| metadata.is_metadata_path(path)));
    /// # Ok::<(), mcp_bastion::error::ConfigError>(())
    /// ```
    pub fn metadata_paths(&self) -> Vec<String> {
        let mut paths = vec![WELL_KNOWN_PATH.to_owned(), format!("{WELL_KNOWN_PATH}/")];
        if !self.path.is_empty() {
            paths.push(format!("{WELL_KNOWN_PATH}{}", self.path));
        }
        paths
    }

    /// Whether `path` is one of the metadata routes.
    pub fn is_metadata_path(&self, path: &str) -> bool {
        path.strip_prefix(WELL_KNOWN_PATH)
            .is_some_and(|rest| rest.is_empty() || rest == "/" || rest == self.path)
    }

    /// The JSON document.
    pub fn document(&self) -> Bytes {
        let document = json!({
            "resource": self.resource,
            "authorization_servers": self.authorization_servers,
            "scopes_supported": self.scopes_supported,
            "bearer_methods_supported": ["header"],
        });
        Bytes::from(serde_json::to_vec(&document).unwrap_or_default())
    }
}

/// Builds `WWW-Authenticate: Bearer ...` values.
#[derive(Debug, Clone, Default)]
pub(crate) struct Challenge {
    resource_metadata: Option<String>,
    scope: Option<String>,
}

impl Challenge {
    pub(crate) fn new(metadata: Option<&ResourceMetadata>) -> Self {
        Self {
            resource_metadata: metadata.map(ResourceMetadata::metadata_url),
            scope: metadata
                .filter(|m| !m.scopes_supported.is_empty())
                .map(|m| m.scopes_supported.join(" ")),
        }
    }

    /// `Bearer [error="…", error_description="…",] resource_metadata="…", scope="…"`.
    pub(crate) fn header(&self, error: Option<(&str, &str)>, scope: Option<&str>) -> HeaderValue {
        let mut parts = Vec::with_capacity(4);
        if let Some((code, description)) = error {
            parts.push(format!("error=\"{code}\""));
            if !description.is_empty() {
                parts.push(format!("error_description=\"{}\"", quote_safe(description)));
            }
        }
        if let Some(url) = &self.resource_metadata {
            parts.push(format!("resource_metadata=\"{}\"", quote_safe(url)));
        }
        if let Some(scope) = scope.or(self.scope.as_deref()) {
            parts.push(format!("scope=\"{}\"", quote_safe(scope)));
        }
        let value = if parts.is_empty() {
            "Bearer".to_owned()
        } else {
            format!("Bearer {}", parts.join(", "))
        };
        HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("Bearer"))
    }
}

impl Challenge {
    /// 401: no credential reached a decision that needs one.
    pub(crate) fn authentication_required(&self) -> Rejection {
        Rejection::new(ErrorCode::Unauthorized, "Authentication required.")
            .with_www_authenticate(self.header(None, None))
    }

    /// 403 `insufficient_scope`, naming every scope the request needs.
    pub(crate) fn insufficient_scope(&self, scopes: &[String]) -> Rejection {
        let scope = scopes.join(" ");
        Rejection::new(
            ErrorCode::Forbidden,
            format!("Insufficient scope: this request needs {scope}."),
        )
        .with_www_authenticate(self.header(Some(("insufficient_scope", "")), Some(&scope)))
    }
}

/// The 403 `insufficient_scope` rejection naming every scope the request needs, with the
/// challenge the MCP authorization spec asks for.
///
/// ```
/// use mcp_bastion::mcp::{ResourceMetadata, insufficient_scope};
///
/// let metadata = ResourceMetadata::new("https://mcp.example.com/mcp")?;
/// let rejection = insufficient_scope(Some(&metadata), ["context:read", "context:admin"]);
/// assert_eq!(rejection.status(), 403);
/// # Ok::<(), mcp_bastion::error::ConfigError>(())
/// ```
pub fn insufficient_scope<I, S>(metadata: Option<&ResourceMetadata>, scopes: I) -> Rejection
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let scopes: Vec<String> = scopes.into_iter().map(Into::into).collect();
    Challenge::new(metadata).insufficient_scope(&scopes)
}

/// The 401 rejection for a request that reached a decision without any credential, with the
/// `WWW-Authenticate` challenge pointing at the resource metadata.
///
/// ```
/// use mcp_bastion::mcp::authentication_required;
///
/// assert_eq!(authentication_required(None).status(), 401);
/// ```
pub fn authentication_required(metadata: Option<&ResourceMetadata>) -> Rejection {
    Challenge::new(metadata).authentication_required()
}

/// Serves the RFC 9728 document of a [`ResourceMetadata`] to `GET` and `HEAD` (405
/// otherwise), for routers that mount the well-known routes themselves.
/// [`AuthLayer`](crate::auth::AuthLayer) answers the same routes with the same service.
///
/// ```
/// use axum::Router;
/// use mcp_bastion::mcp::{ResourceMetadata, ResourceMetadataService};
///
/// let metadata = ResourceMetadata::new("https://mcp.example.com/mcp")?;
/// let service = ResourceMetadataService::new(&metadata);
/// let app: Router = Router::new()
///     .route_service("/.well-known/oauth-protected-resource", service.clone())
///     .route_service("/.well-known/oauth-protected-resource/mcp", service);
/// # let _ = app;
/// # Ok::<(), mcp_bastion::error::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ResourceMetadataService {
    document: Bytes,
}

impl ResourceMetadataService {
    /// The service answering with `metadata`'s document.
    pub fn new(metadata: &ResourceMetadata) -> Self {
        Self {
            document: metadata.document(),
        }
    }

    /// The response to a request with this method.
    pub(crate) fn respond(&self, method: &Method) -> Response<FullBody> {
        if method != Method::GET && method != Method::HEAD {
            return Rejection::method_not_allowed("GET, HEAD").into_response(Dialect::Rest);
        }
        let mut response = Response::new(FullBody::new(self.document.clone()));
        *response.status_mut() = StatusCode::OK;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=3600"),
        );
        response
    }
}

impl<B> Service<Request<B>> for ResourceMetadataService {
    type Response = Response<FullBody>;
    type Error = Infallible;
    type Future = Ready<Result<Response<FullBody>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        ready(Ok(self.respond(request.method())))
    }
}

/// Keeps a value inside a quoted-string: no quotes, backslashes or control characters.
fn quote_safe(value: &str) -> String {
    value
        .chars()
        .filter(|c| *c != '"' && *c != '\\' && !c.is_control())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_routes_and_document() {
        let metadata = ResourceMetadata::new("https://mcp.example.com/mcp")
            .unwrap()
            .with_authorization_server("https://auth.example.com")
            .unwrap()
            .with_scopes(["context:read"]);
        assert!(metadata.is_metadata_path("/.well-known/oauth-protected-resource"));
        assert!(metadata.is_metadata_path("/.well-known/oauth-protected-resource/mcp"));
        assert!(!metadata.is_metadata_path("/.well-known/oauth-protected-resource/other"));
        assert!(!metadata.is_metadata_path("/mcp"));
        let document: serde_json::Value = serde_json::from_slice(&metadata.document()).unwrap();
        assert_eq!(
            document,
            json!({
                "resource": "https://mcp.example.com/mcp",
                "authorization_servers": ["https://auth.example.com"],
                "scopes_supported": ["context:read"],
                "bearer_methods_supported": ["header"],
            })
        );
        let root = ResourceMetadata::new("http://127.0.0.1:3000").unwrap();
        assert_eq!(
            root.metadata_url(),
            "http://127.0.0.1:3000/.well-known/oauth-protected-resource"
        );
    }

    #[test]
    fn bad_uris_are_config_errors() {
        for bad in [
            "/mcp",
            "mcp.example.com",
            "ftp://x/y",
            "https://x/y?q=1",
            "https://x/y#f",
        ] {
            assert!(ResourceMetadata::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn challenges() {
        let metadata = ResourceMetadata::new("https://mcp.example.com/mcp")
            .unwrap()
            .with_scopes(["a", "b"]);
        let challenge = Challenge::new(Some(&metadata));
        assert_eq!(
            challenge.header(None, None),
            "Bearer resource_metadata=\"https://mcp.example.com/.well-known/oauth-protected-resource/mcp\", scope=\"a b\""
        );
        assert_eq!(
            challenge.header(Some(("invalid_token", "the \"token\" expired")), None),
            "Bearer error=\"invalid_token\", error_description=\"the token expired\", resource_metadata=\"https://mcp.example.com/.well-known/oauth-protected-resource/mcp\", scope=\"a b\""
        );
        assert_eq!(Challenge::new(None).header(None, None), "Bearer");
    }
}
