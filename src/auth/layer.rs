use std::fmt;
use std::sync::Arc;

use http::{HeaderName, HeaderValue, Request, header};
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
    pub fn api_keys(self, store: ApiKeyStore) -> Self {
        let header = store.header().clone();
        self.credential_header(header).authenticator(store)
    }

    /// Treats another header as a credential of a custom authenticator: marked sensitive,
    /// removed before the request goes on, refused when repeated, and counted: a request
    /// presenting two credential headers is refused (400 `invalid_request`). Register every
    /// header a custom authenticator reads; the layer counts only the credentials it knows.
    pub fn credential_header(mut self, name: HeaderName) -> Self {
        if !self.credential_headers.contains(&name) {
            self.credential_headers.push(name);
        }
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
        let vary = self
            .credential_headers
            .iter()
            .map(HeaderName::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        let vary = HeaderValue::from_str(&vary)
            .map_err(|_| ConfigError::new("credential header names must be valid header names"))?;
        Ok(AuthLayer {
            shared: Arc::new(AuthShared {
                authenticators: self.authenticators,
                vary,
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
    /// `Vary` for every answer let through: the credential headers.
    pub(crate) vary: HeaderValue,
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
        let mut presented = self
            .credential_headers
            .iter()
            .filter(|name| headers.contains_key(*name));
        let header_credential = presented.next().is_some();
        if presented.next().is_some() {
            return Err(AuthError::InvalidRequest(MORE_THAN_ONE.into()));
        }
        let bearer = match authorization {
            Authorization::Bearer(token) => Some(token),
            Authorization::None | Authorization::Other => None,
        };
        let credentials = Credentials::new(bearer, headers, request.extensions())
            .with_header_credential(header_credential);
        let mut decision = Decision {
            accepted: None,
            accepts: 0,
            refused: None,
            header_credential,
            anonymous: self.anonymous,
        };
        let mut pending = Vec::new();
        for authenticator in &self.authenticators {
            match authenticator.authenticate(&credentials) {
                Verdict::NotMine => {}
                // An invalid credential is refused whatever the other authenticators say.
                Verdict::Reject(err @ AuthError::InvalidToken(_)) => return Err(err),
                Verdict::Accept(principal) => decision.add(Ok(principal)),
                Verdict::Reject(err) => decision.add(Err(err)),
                Verdict::Pending(later) => pending.push(later),
            }
        }
        if pending.is_empty() {
            return Ok(AuthOutcome::Now(decision.finish()));
        }
        Ok(AuthOutcome::Later(Box::pin(async move {
            for outcome in futures_util::future::join_all(pending).await {
                if let Err(err @ AuthError::InvalidToken(_)) = outcome {
                    return Err(err);
                }
                decision.add(outcome);
            }
            decision.finish()
        })))
    }
}

/// Why a request presenting two credentials is refused.
const MORE_THAN_ONE: &str = "more than one credential";

/// The verdicts of every authenticator, short of an invalid credential (which is refused at
/// once).
struct Decision {
    /// The first principal accepted.
    accepted: Option<Principal>,
    /// How many authenticators accepted.
    accepts: usize,
    /// The first refusal other than an invalid credential.
    refused: Option<AuthError>,
    /// Whether a credential header was presented.
    header_credential: bool,
    anonymous: bool,
}

impl Decision {
    fn add(&mut self, outcome: Result<Principal, AuthError>) {
        match outcome {
            Ok(principal) => {
                self.accepts += 1;
                self.accepted.get_or_insert(principal);
            }
            Err(err) => {
                self.refused.get_or_insert(err);
            }
        }
    }

    fn finish(self) -> Result<Principal, AuthError> {
        if self.header_credential && self.accepts == 0 {
            // A credential header no authenticator recognised is an invalid credential, and
            // that beats any other refusal (e.g. a certificate next to a garbage token).
            return Err(AuthError::invalid_token("credential not recognised"));
        }
        if let Some(err) = self.refused {
            return Err(err);
        }
        match (self.accepted, self.accepts) {
            (Some(principal), 1) => Ok(principal),
            (Some(_), _) => Err(AuthError::InvalidRequest(MORE_THAN_ONE.into())),
            (None, _) if self.anonymous => Ok(Principal::anonymous()),
            (None, _) => Err(AuthError::Missing),
        }
    }
}
