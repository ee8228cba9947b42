//! [`BearerLayer`]: puts `Authorization: Bearer <token>` on every request, from a token the
//! application can replace at any time (a refresh), without locks on the request path.

use std::sync::Arc;
use std::task::{Context, Poll};

use arc_swap::ArcSwap;
use http::{HeaderValue, Request, header};
use tower_layer::Layer;
use tower_service::Service;

use crate::error::ConfigError;

/// Adds the bearer token to each request (replacing an `Authorization` the request had),
/// marked sensitive so that no logger prints it.
///
/// The token lives in a [`BearerToken`] shared by every clone: a task of yours that refreshes
/// the token (before it expires) calls [`BearerToken::replace`], and the next request uses the
/// new one.
///
/// ```
/// use mcp_bastion::client::BearerLayer;
///
/// let layer = BearerLayer::new("user-dev-token")?;
/// let token = layer.token();
/// // Later, from the task that refreshes it:
/// token.replace("a-fresh-token")?;
/// # Ok::<(), mcp_bastion::error::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct BearerLayer {
    token: BearerToken,
}

/// The token a [`BearerLayer`] sends; replace it to refresh.
#[derive(Debug, Clone)]
pub struct BearerToken {
    value: Arc<ArcSwap<HeaderValue>>,
}

/// The header value for `token`, or why it cannot be one.
fn header_value(token: &str) -> Result<HeaderValue, ConfigError> {
    // RFC 6750 b64token: what a bearer token may hold.
    let valid = !token.is_empty()
        && token.len() <= 8192
        && token.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'=')
        });
    if !valid {
        return Err(ConfigError::new(
            "bearer token: 1 to 8192 characters of A-Z a-z 0-9 - . _ ~ + / =",
        ));
    }
    let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|_| ConfigError::new("bearer token: not a header value"))?;
    value.set_sensitive(true);
    Ok(value)
}

impl BearerLayer {
    /// Sends `token` (checked against RFC 6750's token syntax).
    pub fn new(token: &str) -> Result<Self, ConfigError> {
        Ok(Self {
            token: BearerToken {
                value: Arc::new(ArcSwap::from_pointee(header_value(token)?)),
            },
        })
    }

    /// The token this layer sends, to replace it later.
    pub fn token(&self) -> BearerToken {
        self.token.clone()
    }
}

impl BearerToken {
    /// Sends `token` from the next request on; a token that is not valid is refused and the
    /// old one kept.
    pub fn replace(&self, token: &str) -> Result<(), ConfigError> {
        self.value.store(Arc::new(header_value(token)?));
        Ok(())
    }
}

impl<S> Layer<S> for BearerLayer {
    type Service = Bearer<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Bearer {
            inner,
            token: self.token.clone(),
        }
    }
}

/// The service built by [`BearerLayer`].
#[derive(Debug, Clone)]
pub struct Bearer<S> {
    inner: S,
    token: BearerToken,
}

impl<S, B> Service<Request<B>> for Bearer<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let value = HeaderValue::clone(&self.token.value.load());
        request.headers_mut().insert(header::AUTHORIZATION, value);
        self.inner.call(request)
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use tower::{ServiceExt, service_fn};

    use super::*;

    fn echo()
    -> impl Service<Request<()>, Response = Option<HeaderValue>, Error = Infallible> + Clone {
        service_fn(|request: Request<()>| async move {
            Ok::<_, Infallible>(request.headers().get(header::AUTHORIZATION).cloned())
        })
    }

    #[tokio::test]
    async fn the_token_is_sent_sensitive_and_a_replacement_takes_over() {
        let layer = BearerLayer::new("first-token").unwrap();
        let service = layer.layer(echo());
        let sent = service
            .clone()
            .oneshot(Request::new(()))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(sent, "Bearer first-token");
        assert!(sent.is_sensitive());

        layer.token().replace("second.token~").unwrap();
        let mut request = Request::new(());
        request.headers_mut().insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic eA=="),
        );
        let sent = service.oneshot(request).await.unwrap().unwrap();
        assert_eq!(sent, "Bearer second.token~");
    }

    #[test]
    fn a_token_that_could_inject_headers_is_refused() {
        for bad in ["", "a b", "a\r\nX-Admin: 1", "tök", &"a".repeat(8193)] {
            assert!(BearerLayer::new(bad).is_err(), "{bad:?}");
        }
        let layer = BearerLayer::new("good").unwrap();
        assert!(layer.token().replace("bad token").is_err());
    }
}

#[cfg(test)]
mod debug_tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_the_token() {
        let layer = BearerLayer::new("s3cr3t-token-value").unwrap();
        let service = layer.layer(());
        for shown in [
            format!("{layer:?}"),
            format!("{:?}", layer.token()),
            format!("{service:?}"),
            format!("{layer:#?}"),
        ] {
            assert!(!shown.contains("s3cr3t"), "{shown}");
        }
    }
}
