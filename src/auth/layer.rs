use std::fmt;
use std::sync::Arc;

use http::{HeaderName, Request, header};
use tower_layer::Layer;

use super::api_key::ApiKeyStore;
use super::authenticator::{
    Authenticator, Authorization, Credentials, PendingAuth, Verdict, authorization, check_query,
};
use super::error::AuthError;
use super::service::Auth;
use crate::error::{ConfigError, DialectDetector};
use crate::mcp::{Challenge, Endpoint, ResourceMetadata, ResourceMetadataService};
use crate::principal::Principal;

/// Authenticates every request and puts the caller's [`Principal`] into the request
/// extensions. See the [module documentation](crate::auth).
#[derive(Clone)]
pub struct AuthLayer {
    shared: Arc<AuthShared>,
}

impl fmt::Debug for AuthLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthLayer")
            .field("authenticators", &self.shared.authenticators.len())
            .field("anonymous", &self.shared.anonymous)
            .field("metadata", &self.shared.metadata.is_some())
            .finish_non_exhaustive()
    }
}

impl AuthLayer {
    /// A builder with no authenticator and anonymous access off.
    pub fn builder() -> AuthLayerBuilder {
        AuthLayerBuilder {
            authenticators: Vec::new(),
            credential_headers: vec![header::AUTHORIZATION],
            anonymous: false,
            endpoint: None,
        }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = Auth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Auth::new(inner, Arc::clone(&self.shared))
    }
}

/// Builder of [`AuthLayer`].
#[must_use]
pub struct AuthLayerBuilder {
    authenticators: Vec<Box<dyn Authenticator>>,
    credential_headers: Vec<HeaderName>,
    anonymous: bool,
    endpoint: Option<Endpoint>,
}

impl fmt::Debug for AuthLayerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthLayerBuilder")
            .field("authenticators", &self.authenticators.len())
            .finish_non_exhaustive()
    }
}

impl AuthLayerBuilder {
    /// Adds an authenticator; they are asked in the order added.
    pub fn authenticator(mut self, authenticator: impl Authenticator) -> Self {
        self.authenticators.push(Box::new(authenticator));
        self
    }

    /// Adds API keys (and treats their header as a credential: never logged, never forwarded).
    pub fn api_keys(mut self, store: ApiKeyStore) -> Self {
        self.credential_headers.push(store.header().clone());
        self.authenticator(store)
    }

    /// Treats another header as a credential of a custom authenticator: marked sensitive,
    /// removed before the request goes on.
    pub fn credential_header(mut self, name: HeaderName) -> Self {
        self.credential_headers.push(name);
        self
    }

    /// Lets requests without any credential through as [`Principal::anonymous`] (no roles).
    /// A credential that is present but invalid is still refused.
    pub fn allow_anonymous(mut self, allow: bool) -> Self {
        self.anonymous = allow;
        self
    }

    /// The endpoint this layer guards (default: [`Endpoint::default`]): its paths tell REST,
    /// JSON-RPC and gRPC callers apart for refusals, and its RFC 9728
    /// [`ResourceMetadata`] is served at the well-known routes and named by every 401.
    pub fn endpoint(mut self, endpoint: &Endpoint) -> Self {
        self.endpoint = Some(endpoint.clone());
        self
    }

    /// Builds the layer; refuses a layer that could let no request through.
    pub fn build(self) -> Result<AuthLayer, ConfigError> {
        if self.authenticators.is_empty() && !self.anonymous {
            return Err(ConfigError::new(
                "AuthLayer needs at least one authenticator, or anonymous access",
            ));
        }
        let endpoint = self.endpoint.unwrap_or_default();
        let metadata = endpoint
            .resource_metadata()
            .map(|metadata| (metadata.clone(), ResourceMetadataService::new(metadata)));
        Ok(AuthLayer {
            shared: Arc::new(AuthShared {
                authenticators: self.authenticators,
                credential_headers: self.credential_headers,
                anonymous: self.anonymous,
                metadata,
                challenge: endpoint.challenge().clone(),
                detector: endpoint.dialect_detector().clone(),
            }),
        })
    }
}

/// State shared by every clone of the layer and its services.
pub(crate) struct AuthShared {
    authenticators: Vec<Box<dyn Authenticator>>,
    pub(crate) credential_headers: Vec<HeaderName>,
    anonymous: bool,
    /// The metadata and the service answering its well-known routes.
    pub(crate) metadata: Option<(ResourceMetadata, ResourceMetadataService)>,
    pub(crate) challenge: Challenge,
    pub(crate) detector: DialectDetector,
}

/// The outcome of authentication, when it is known without I/O or not.
pub(crate) enum AuthOutcome {
    Now(Result<Principal, AuthError>),
    Later(PendingAuth),
}

impl AuthShared {
    pub(crate) fn decide<B>(&self, request: &Request<B>) -> AuthOutcome {
        self.try_decide(request)
            .unwrap_or_else(|err| AuthOutcome::Now(Err(err)))
    }

    fn try_decide<B>(&self, request: &Request<B>) -> Result<AuthOutcome, AuthError> {
        check_query(request.uri().query())?;
        let headers = request.headers();
        let authorization = authorization(headers)?;
        for name in &self.credential_headers {
            if headers.get_all(name).iter().nth(1).is_some() {
                return Err(AuthError::InvalidRequest(
                    format!("more than one {name} header").into(),
                ));
            }
        }
        let bearer = match authorization {
            Authorization::Bearer(token) => Some(token),
            Authorization::None | Authorization::Other => None,
        };
        let credentials = Credentials::new(bearer, headers, request.extensions());
        for authenticator in &self.authenticators {
            match authenticator.authenticate(&credentials) {
                Verdict::NotMine => {}
                Verdict::Accept(principal) => return Ok(AuthOutcome::Now(Ok(principal))),
                Verdict::Reject(err) => return Err(err),
                Verdict::Pending(pending) => return Ok(AuthOutcome::Later(pending)),
            }
        }
        let presented = self
            .credential_headers
            .iter()
            .any(|name| headers.contains_key(name));
        if presented {
            Err(AuthError::invalid_token("credential not recognised"))
        } else if self.anonymous {
            Ok(AuthOutcome::Now(Ok(Principal::anonymous())))
        } else {
            Err(AuthError::Missing)
        }
    }
}
