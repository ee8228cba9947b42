//! The [`Authenticator`] extension point and the [`Credentials`] it inspects.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use http::header::{self, HeaderMap};
use http::{Extensions, HeaderName, HeaderValue};

use super::error::AuthError;
use crate::principal::Principal;

/// What an authenticator may look at: the bearer token, the headers and the request
/// extensions (where a TLS layer puts the verified peer certificate).
#[derive(Debug)]
pub struct Credentials<'a> {
    bearer: Option<&'a str>,
    headers: &'a HeaderMap,
    extensions: &'a Extensions,
    header_credential: bool,
}

impl<'a> Credentials<'a> {
    /// Credentials of a request with this bearer token, headers and extensions.
    pub fn new(
        bearer: Option<&'a str>,
        headers: &'a HeaderMap,
        extensions: &'a Extensions,
    ) -> Self {
        Self {
            bearer,
            headers,
            extensions,
            header_credential: headers.contains_key(header::AUTHORIZATION),
        }
    }

    /// Whether any credential header is present (the layer counts every one it knows:
    /// `Authorization`, the API-key header, [`credential_header`](super::AuthLayerBuilder::credential_header)s).
    pub(crate) fn with_header_credential(mut self, present: bool) -> Self {
        self.header_credential = present;
        self
    }

    /// Whether the request carries a credential in a header (`Authorization`, whatever its
    /// scheme, an API-key header, or another header registered with
    /// [`AuthLayerBuilder::credential_header`](super::AuthLayerBuilder::credential_header)).
    ///
    /// An authenticator of a transport identity, such as a client certificate, uses it to
    /// tell a request that presents two credentials: it must then not accept, or a garbage
    /// token would ride in on a valid certificate. `CertificateAuthenticator` (feature `tls`)
    /// refuses such a request (400 `invalid_request`).
    pub fn has_header_credential(&self) -> bool {
        self.header_credential
    }

    /// The token of `Authorization: Bearer <token>`, if any.
    pub fn bearer(&self) -> Option<&'a str> {
        self.bearer
    }

    /// A request header (its first value; the layer refuses a request that repeats a
    /// credential header).
    pub fn header(&self, name: &str) -> Option<&'a HeaderValue> {
        self.headers.get(name)
    }

    /// Whether the request repeats this header.
    pub(crate) fn repeats(&self, name: &HeaderName) -> bool {
        self.headers.get_all(name).iter().nth(1).is_some()
    }

    /// The request extensions.
    pub fn extensions(&self) -> &'a Extensions {
        self.extensions
    }
}

/// A decision that needs I/O (e.g. fetching a JWKS); it resolves to a principal or an error.
pub type PendingAuth = Pin<Box<dyn Future<Output = Result<Principal, AuthError>> + Send>>;

/// An authenticator's answer.
#[non_exhaustive]
pub enum Verdict {
    /// No credential of this authenticator's kind.
    NotMine,
    /// The credential is valid. If another authenticator accepts too, the request presented
    /// more than one credential and is refused (400 `invalid_request`).
    Accept(Principal),
    /// The credential is of this kind and invalid: the request is refused, whatever the other
    /// authenticators say.
    Reject(AuthError),
    /// The credential is of this kind; the decision needs I/O.
    Pending(PendingAuth),
}

impl fmt::Debug for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotMine => f.write_str("NotMine"),
            Self::Accept(principal) => f.debug_tuple("Accept").field(&principal.subject).finish(),
            Self::Reject(err) => f.debug_tuple("Reject").field(err).finish(),
            Self::Pending(_) => f.write_str("Pending"),
        }
    }
}

/// Turns credentials into a [`Principal`]. Implemented by the shipped authenticators and by
/// any `Fn(&Credentials) -> Verdict` closure.
///
/// [`AuthLayer`](super::AuthLayer) asks every authenticator, so the order they are added in
/// does not matter: one `Reject` with [`AuthError::InvalidToken`] refuses the request (401),
/// whatever the others answer; two `Accept`s are two credentials (400); a credential header
/// that no authenticator accepts is refused (401). An authenticator must therefore answer
/// `NotMine` for a credential it does not own (the API-key store does so for a bearer token
/// it does not know, which may be a JWT).
///
/// ```
/// use mcp_bastion::auth::{Credentials, Verdict};
/// use mcp_bastion::principal::{AuthMethod, Principal};
///
/// // Trust a header set by a proxy that already authenticated the caller.
/// let from_proxy = |credentials: &Credentials<'_>| match credentials.header("x-authenticated-user") {
///     Some(user) => match user.to_str() {
///         Ok(user) => Verdict::Accept(Principal::new(user, AuthMethod::ApiKey)),
///         Err(_) => Verdict::NotMine,
///     },
///     None => Verdict::NotMine,
/// };
/// # let _ = mcp_bastion::auth::AuthLayer::builder().authenticator(from_proxy);
/// ```
pub trait Authenticator: Send + Sync + 'static {
    /// Inspects the credentials.
    fn authenticate(&self, credentials: &Credentials<'_>) -> Verdict;
}

impl<F> Authenticator for F
where
    F: Fn(&Credentials<'_>) -> Verdict + Send + Sync + 'static,
{
    fn authenticate(&self, credentials: &Credentials<'_>) -> Verdict {
        self(credentials)
    }
}

/// The `Authorization` header of a request: absent, a bearer token, or another scheme.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Authorization<'a> {
    None,
    Bearer(&'a str),
    Other,
}

/// Reads the `Authorization` header: exactly one, and a bearer token must not be empty.
pub(crate) fn authorization(headers: &HeaderMap) -> Result<Authorization<'_>, AuthError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(Authorization::None);
    };
    if values.next().is_some() {
        return Err(AuthError::InvalidRequest(
            "more than one Authorization header".into(),
        ));
    }
    let value = value
        .to_str()
        .map_err(|_| AuthError::invalid_token("malformed Authorization header"))?;
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Ok(Authorization::Other);
    }
    let token = rest.trim();
    if token.is_empty() {
        return Err(AuthError::invalid_token("empty bearer token"));
    }
    Ok(Authorization::Bearer(token))
}

/// Refuses access tokens in the query string (forbidden by the MCP authorization spec).
pub(crate) fn check_query(query: Option<&str>) -> Result<(), AuthError> {
    let has_token = query.is_some_and(|query| {
        query.split('&').any(|pair| {
            pair.split('=')
                .next()
                .is_some_and(|key| key.eq_ignore_ascii_case("access_token"))
        })
    });
    if has_token {
        Err(AuthError::InvalidRequest(
            "access tokens are accepted only in the Authorization header".into(),
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append(header::AUTHORIZATION, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn reads_the_authorization_header() {
        assert_eq!(authorization(&headers(&[])).unwrap(), Authorization::None);
        assert_eq!(
            authorization(&headers(&["Bearer abc"])).unwrap(),
            Authorization::Bearer("abc")
        );
        assert_eq!(
            authorization(&headers(&["bearer   abc  "])).unwrap(),
            Authorization::Bearer("abc")
        );
        assert_eq!(
            authorization(&headers(&["Basic dXNlcjpwYXNz"])).unwrap(),
            Authorization::Other
        );
        assert!(matches!(
            authorization(&headers(&["Bearer "])),
            Err(AuthError::InvalidToken(_))
        ));
        assert!(matches!(
            authorization(&headers(&["Bearer"])),
            Err(AuthError::InvalidToken(_))
        ));
        assert!(matches!(
            authorization(&headers(&["Bearer a", "Bearer b"])),
            Err(AuthError::InvalidRequest(_))
        ));
    }

    #[test]
    fn refuses_query_tokens() {
        assert!(check_query(None).is_ok());
        assert!(check_query(Some("limit=1&cursor=x")).is_ok());
        assert!(check_query(Some("access_token=abc")).is_err());
        assert!(check_query(Some("a=1&ACCESS_TOKEN")).is_err());
    }
}
