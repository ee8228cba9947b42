//! [`AuthLayer`]: authenticate every caller and hand a [`Principal`](crate::principal::Principal)
//! to everything downstream.
//!
//! Every authenticator is asked, so their order does not matter. A credential that is
//! present but invalid is refused (401 `invalid_token`), even when another credential of the
//! request is valid, and never falls through to anonymous access, which is off unless
//! enabled. Malformed requests get 400 `invalid_request`: an `access_token` in the query
//! string, a repeated credential header (two `Authorization` or two `X-API-Key`), and a
//! request presenting more than one credential (an `Authorization` header and an API-key
//! header; a client certificate mapped by a `CertificateAuthenticator` and a valid token).
//! A client certificate next to an invalid token is 401: the certificate never carries the
//! token in.
//! With [`ResourceMetadata`] in its [`Endpoint`](crate::mcp::Endpoint), the layer serves the RFC 9728 document at
//! `/.well-known/oauth-protected-resource` (and the path-inserted form) without
//! authentication, and every 401 carries
//! `WWW-Authenticate: Bearer resource_metadata="…", scope="…"` as the MCP authorization spec
//! asks.
//!
//! On success the `Principal` is inserted into the request extensions and the credential
//! headers are removed, so the caller's token never reaches a context source or an upstream.
//! Credential headers are marked sensitive, so loggers print them as `Sensitive`.
//!
//! ```
//! use mcp_bastion::auth::{ApiKey, ApiKeyStore, AuthLayer};
//! use mcp_bastion::context::StaticSource;
//! use mcp_bastion::envelope::ErrorEnvelopeLayer;
//! use mcp_bastion::mcp::{Endpoint, McpService, ResourceMetadata};
//! use mcp_bastion::principal::{AuthMethod, Principal};
//! use tower::ServiceBuilder;
//!
//! let keys = ApiKeyStore::new([ApiKey::new(
//!     "user-dev-token",
//!     Principal::new("devUser", AuthMethod::ApiKey).with_role("developer"),
//! )?])?;
//! let endpoint = Endpoint::builder()
//!     .resource_metadata(ResourceMetadata::new("http://127.0.0.1:3000/mcp")?)
//!     .build()?;
//! let auth = AuthLayer::builder().api_keys(keys).endpoint(&endpoint).build()?;
//! let service = ServiceBuilder::new()
//!     .layer(ErrorEnvelopeLayer::for_endpoint(&endpoint))
//!     .layer(auth)
//!     .service(McpService::with_endpoint(StaticSource::new(), endpoint));
//! # let _ = service;
//! # Ok::<(), mcp_bastion::error::ConfigError>(())
//! ```
//!
//! # Tokens: expiry, audience, scopes
//!
//! A JWT (`JwtAuthenticator`, feature `jwt`) must carry `exp`, `iss` and `aud`; without
//! any of them it is 401 `invalid_token`. `exp` and `nbf` are checked with the configured
//! leeway (30 s by default, at most 1 hour); verified tokens are remembered until their
//! `exp`, never longer. `iss` must be one of the configured issuers and `aud` must name the
//! configured audience, which should be this server's canonical URI (the `resource` of its
//! [`ResourceMetadata`]): a token minted for another resource is refused here (RFC 8707, as
//! the MCP authorization spec requires). Scopes (`scope` or `scp`) become
//! [`Principal::scopes`](crate::principal::Principal); this layer does not require any.
//! [`ResourceMetadata::with_scopes`] only advertises scopes (in the RFC 9728 document and a
//! 401's `scope`); the [`PolicyLayer`](crate::policy::PolicyLayer) enforces them per rule
//! (`scopes = ["context:read"]`), refusing a token that lacks one with 403
//! `insufficient_scope` naming every scope the rule needs. API keys carry no expiry or
//! scopes: their principal is what [`ApiKey::new`] was given, until the key is replaced.
//!
//! Downstream code reads the principal from the extensions: in axum with
//! `Extension<Principal>`, in an rmcp tool from the request `Parts` it is handed
//! (`parts.extensions.get::<Principal>()`).
//!
//! ```
//! use axum::{Extension, Router, routing::get};
//! use mcp_bastion::principal::Principal;
//!
//! async fn whoami(Extension(principal): Extension<Principal>) -> String {
//!     format!("{} {:?}", principal.subject, principal.roles)
//! }
//! let app: Router = Router::new().route("/whoami", get(whoami));
//! # let _ = app;
//! ```
//!
//! rmcp's `StreamableHttpService` hands tool handlers the request's HTTP parts, so a tool
//! behind `AuthLayer` finds the principal there (see `tests/rmcp_server_behind_auth.rs`):
//!
//! ```
//! use mcp_bastion::principal::Principal;
//! use rmcp::RoleServer;
//! use rmcp::service::RequestContext;
//!
//! fn caller(context: &RequestContext<RoleServer>) -> Option<&Principal> {
//!     context.extensions.get::<http::request::Parts>()?.extensions.get::<Principal>()
//! }
//! ```

mod api_key;
mod authenticator;
mod error;
mod future;
#[cfg(feature = "jwt")]
mod jwks;
#[cfg(feature = "jwt")]
mod jwt;
mod layer;
#[cfg(feature = "tls")]
mod mtls;
mod service;

pub use crate::mcp::{
    ResourceMetadata, WELL_KNOWN_PATH, authentication_required, insufficient_scope,
};
pub use api_key::{ApiKey, ApiKeyStore, DEFAULT_API_KEY_HEADER};
pub use authenticator::{Authenticator, Credentials, PendingAuth, Verdict};
pub use error::AuthError;
pub use future::ResponseFuture;
/// The JWT signature algorithms, from `jsonwebtoken`: name the ones a [`JwtKey`] may verify.
///
/// ```
/// use mcp_bastion::auth::{Algorithm, JwtKey};
///
/// let key = JwtKey::hmac(b"an-hmac-secret-of-at-least-32-bytes!", &[Algorithm::HS256])?;
/// # let _ = key;
/// # Ok::<(), mcp_bastion::error::ConfigError>(())
/// ```
#[cfg(feature = "jwt")]
#[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
pub use jsonwebtoken::Algorithm;
/// A JSON Web Key, from `jsonwebtoken`: the input of [`JwtKey::from_jwk`] (public keys only;
/// shared secrets go through [`JwtKey::hmac`]).
///
/// ```
/// use mcp_bastion::auth::{Jwk, JwtKey};
///
/// let jwk: Jwk = serde_json::from_str(
///     r#"{"kty":"EC","crv":"P-256","alg":"ES256","kid":"ec-1",
///         "x":"M0yjKShAerO4SzfYaEgx8g8oR55v-iciivHooImVi3o",
///         "y":"R8LF87y9zYYlK1SWmlzwfDp8k5fWwGyFUZ7kzEVTWX4"}"#,
/// )?;
/// let key = JwtKey::from_jwk(&jwk)?;
/// # let _ = key;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[cfg(feature = "jwt")]
#[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
pub use jsonwebtoken::jwk::Jwk;
#[cfg(feature = "jwks")]
#[cfg_attr(docsrs, doc(cfg(feature = "jwks")))]
pub use jwks::JwksUrl;
#[cfg(feature = "jwt")]
#[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
pub use jwks::{DEFAULT_JWKS_MIN_REFRESH, DEFAULT_JWKS_TTL, JwksSource};
#[cfg(feature = "jwt")]
#[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
pub use jwt::{
    ClaimMapping, DEFAULT_TOKEN_CACHE, JwtAuthenticator, JwtAuthenticatorBuilder, JwtKey,
};
pub use layer::{AuthLayer, AuthLayerBuilder};
#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub use mtls::{CertMatch, CertificateAuthenticator};
pub use service::Auth;

#[cfg(test)]
mod tests;
