//! [`AuthError`]: why a request was not authenticated, and its rejection.

use std::borrow::Cow;
use std::fmt;

use crate::error::{ErrorCode, Rejection};
use crate::mcp::Challenge;

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
            Self::Missing => challenge.authentication_required(),
            Self::InvalidRequest(why) => {
                Rejection::new(ErrorCode::BadRequest, format!("Invalid request: {why}."))
                    .with_www_authenticate(challenge.header(Some(("invalid_request", why)), None))
            }
            Self::InvalidToken(why) => Rejection::new(
                ErrorCode::Unauthorized,
                format!("Invalid credential: {why}."),
            )
            .with_www_authenticate(challenge.header(Some(("invalid_token", why)), None)),
            Self::InsufficientScope(scopes) => challenge.insufficient_scope(scopes),
        }
    }
}
