//! [`AuthError`]: why a request was not authenticated, and its rejection.

use std::borrow::Cow;
use std::fmt;

use super::metadata::{Challenge, ResourceMetadata};
use crate::error::{ErrorCode, Rejection};

/// Why authentication failed. Descriptions never contain the credential.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthError {
    /// No credential, and anonymous access is off (401, no error code).
    Missing,
    /// The request is malformed: two `Authorization` headers, a token in the query string
    /// (400 `invalid_request`).
    InvalidRequest(Cow<'static, str>),
    /// A credential was presented and is not valid (401 `invalid_token`).
    InvalidToken(Cow<'static, str>),
    /// The credential is valid but lacks scopes; all scopes the request needs are listed
    /// (403 `insufficient_scope`).
    InsufficientScope(Vec<String>),
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing => f.write_str("authentication required"),
            Self::InvalidRequest(why) => write!(f, "invalid request: {why}"),
            Self::InvalidToken(why) => write!(f, "invalid credential: {why}"),
            Self::InsufficientScope(scopes) => {
                write!(f, "insufficient scope: needs {}", scopes.join(" "))
            }
        }
    }
}

impl std::error::Error for AuthError {}

impl AuthError {
    /// An invalid-token error with this description.
    pub fn invalid_token(why: impl Into<Cow<'static, str>>) -> Self {
        Self::InvalidToken(why.into())
    }

    pub(crate) fn rejection(&self, challenge: &Challenge) -> Rejection {
        match self {
            Self::Missing => Rejection::new(ErrorCode::Unauthorized, "Authentication required.")
                .with_www_authenticate(challenge.header(None, None)),
            Self::InvalidRequest(why) => {
                Rejection::new(ErrorCode::BadRequest, format!("Invalid request: {why}."))
                    .with_www_authenticate(challenge.header(Some(("invalid_request", why)), None))
            }
            Self::InvalidToken(why) => Rejection::new(
                ErrorCode::Unauthorized,
                format!("Invalid credential: {why}."),
            )
            .with_www_authenticate(challenge.header(Some(("invalid_token", why)), None)),
            Self::InsufficientScope(scopes) => {
                let scope = scopes.join(" ");
                Rejection::new(
                    ErrorCode::Forbidden,
                    format!("Insufficient scope: this request needs {scope}."),
                )
                .with_www_authenticate(
                    challenge.header(Some(("insufficient_scope", "")), Some(&scope)),
                )
            }
        }
    }
}

/// The 403 `insufficient_scope` rejection naming every scope the request needs, with the
/// challenge the MCP authorization spec asks for (used by the policy layer).
///
/// ```
/// use mcp_bastion::auth::{ResourceMetadata, insufficient_scope};
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
    AuthError::InsufficientScope(scopes.into_iter().map(Into::into).collect())
        .rejection(&Challenge::new(metadata))
}

/// The 401 rejection for a request that reached a decision without any credential, with the
/// `WWW-Authenticate` challenge pointing at the resource metadata.
///
/// ```
/// use mcp_bastion::auth::authentication_required;
///
/// assert_eq!(authentication_required(None).status(), 401);
/// ```
pub fn authentication_required(metadata: Option<&ResourceMetadata>) -> Rejection {
    AuthError::Missing.rejection(&Challenge::new(metadata))
}
