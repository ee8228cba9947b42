//! Who is calling: the [`Principal`] that authentication puts into the request extensions.
//!
//! Downstream code reads it from the extensions (`Extension<Principal>` in axum,
//! `Parts.extensions` in rmcp tools); context sources receive it in
//! [`SourceRequest`](crate::context::SourceRequest), never the caller's credential.
//!
//! ```
//! use mcp_bastion::principal::{AuthMethod, Principal};
//!
//! let principal = Principal::new("devUser", AuthMethod::ApiKey)
//!     .with_role("developer")
//!     .with_scope("context:read");
//! assert!(principal.has_role("developer"));
//! assert!(!principal.is_anonymous());
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use serde_json::Value;

/// How a principal proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthMethod {
    /// No credential; only possible when anonymous access is enabled.
    Anonymous,
    /// A static API key.
    ApiKey,
    /// A signed JSON Web Token (including OAuth 2.1 access tokens).
    Jwt,
    /// A verified TLS client certificate.
    MutualTls,
}

impl AuthMethod {
    /// Every method, in declaration order.
    pub const ALL: [Self; 4] = [Self::Anonymous, Self::ApiKey, Self::Jwt, Self::MutualTls];

    /// The method's name, as [`Principal::identity`] writes it (`"ApiKey"`, `"Jwt"`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Anonymous => "Anonymous",
            Self::ApiKey => "ApiKey",
            Self::Jwt => "Jwt",
            Self::MutualTls => "MutualTls",
        }
    }

    /// Whether `identity` has the form [`Principal::identity`] writes:
    /// `"<method>:<subject>"` with a known method and a non-empty subject.
    ///
    /// ```
    /// use mcp_bastion::principal::AuthMethod;
    ///
    /// assert!(AuthMethod::is_identity("ApiKey:backup-job"));
    /// assert!(!AuthMethod::is_identity("backup-job"));
    /// ```
    pub fn is_identity(identity: &str) -> bool {
        identity.split_once(':').is_some_and(|(method, subject)| {
            !subject.is_empty() && Self::ALL.iter().any(|m| m.as_str() == method)
        })
    }
}

/// An authenticated caller: subject, roles, scopes and attributes.
///
/// The fields are read through [`PrincipalFields`] (`principal.subject`, `principal.roles`);
/// they sit behind an `Arc`, so the clone every authenticated request makes (from the
/// key table or the verified-token cache into the request extensions) copies a pointer, not
/// the sets and maps. Writing a field (`principal.expires_at = ...`) copies them first when
/// the value is shared.
///
/// ```
/// use mcp_bastion::principal::{AuthMethod, Principal};
///
/// let mut principal = Principal::new("devUser", AuthMethod::ApiKey).with_role("developer");
/// let shared = principal.clone();
/// principal.roles.insert("admin".to_owned());
/// assert!(principal.has_role("admin"));
/// assert!(!shared.has_role("admin"));
/// assert_eq!(shared.subject, "devUser");
/// ```
#[derive(Clone, PartialEq)]
pub struct Principal {
    fields: Arc<PrincipalFields>,
}

/// The fields of a [`Principal`], reached through it (`principal.subject`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PrincipalFields {
    /// Stable subject identifier (user id, key id, certificate subject).
    pub subject: String,
    /// RBAC roles.
    pub roles: BTreeSet<String>,
    /// OAuth scopes granted to the credential.
    pub scopes: BTreeSet<String>,
    /// ABAC attributes: token claims, certificate fields or key metadata.
    pub attributes: BTreeMap<String, Value>,
    /// How the caller authenticated.
    pub auth_method: AuthMethod,
    /// When the credential stops being valid, if it expires.
    pub expires_at: Option<SystemTime>,
    /// [`Principal::identity`], written once per value (reset by any write to a field).
    identity: OnceLock<Arc<str>>,
}

impl PartialEq for PrincipalFields {
    fn eq(&self, other: &Self) -> bool {
        self.subject == other.subject
            && self.roles == other.roles
            && self.scopes == other.scopes
            && self.attributes == other.attributes
            && self.auth_method == other.auth_method
            && self.expires_at == other.expires_at
    }
}

impl std::ops::Deref for Principal {
    type Target = PrincipalFields;

    fn deref(&self) -> &PrincipalFields {
        &self.fields
    }
}

impl std::ops::DerefMut for Principal {
    fn deref_mut(&mut self) -> &mut PrincipalFields {
        let fields = Arc::make_mut(&mut self.fields);
        // The caller may change the subject or the method: the identity is written again.
        fields.identity = OnceLock::new();
        fields
    }
}

impl fmt::Debug for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Principal")
            .field("subject", &self.subject)
            .field("roles", &self.roles)
            .field("scopes", &self.scopes)
            .field("attributes", &self.attributes)
            .field("auth_method", &self.auth_method)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

impl Principal {
    /// Who this is, for keying what belongs to one caller (cached entries, sessions,
    /// cursors): the way it authenticated and its subject, so that a subject one
    /// authenticator issues never names another authenticator's caller.
    ///
    /// ```
    /// use mcp_bastion::principal::{AuthMethod, Principal};
    ///
    /// let key = Principal::new("devUser", AuthMethod::ApiKey);
    /// let token = Principal::new("devUser", AuthMethod::Jwt);
    /// assert_ne!(key.identity(), token.identity());
    /// assert_eq!(key.identity(), "ApiKey:devUser");
    /// ```
    pub fn identity(&self) -> &str {
        self.shared_identity_ref()
    }

    /// [`identity`](Self::identity), shared: recording it (the access log's facts) copies
    /// nothing.
    pub(crate) fn shared_identity(&self) -> Arc<str> {
        Arc::clone(self.shared_identity_ref())
    }

    fn shared_identity_ref(&self) -> &Arc<str> {
        self.fields
            .identity
            .get_or_init(|| format!("{}:{}", self.auth_method.as_str(), self.subject).into())
    }

    /// A principal with no roles, scopes or attributes.
    pub fn new(subject: impl Into<String>, auth_method: AuthMethod) -> Self {
        Self {
            fields: Arc::new(PrincipalFields {
                subject: subject.into(),
                roles: BTreeSet::new(),
                scopes: BTreeSet::new(),
                attributes: BTreeMap::new(),
                auth_method,
                expires_at: None,
                identity: OnceLock::new(),
            }),
        }
    }

    /// The anonymous principal: no roles, no scopes.
    pub fn anonymous() -> Self {
        Self::new("anonymous", AuthMethod::Anonymous)
    }

    /// Adds a role.
    #[must_use]
    pub fn with_role(mut self, role: impl Into<String>) -> Self {
        self.roles.insert(role.into());
        self
    }

    /// Adds a scope.
    #[must_use]
    pub fn with_scope(mut self, scope: impl Into<String>) -> Self {
        self.scopes.insert(scope.into());
        self
    }

    /// Sets an attribute.
    #[must_use]
    pub fn with_attribute(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.attributes.insert(name.into(), value.into());
        self
    }

    /// Sets when the credential expires.
    #[must_use]
    pub fn with_expiry(mut self, expires_at: SystemTime) -> Self {
        self.expires_at = Some(expires_at);
        self
    }

    /// Whether the principal holds `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.contains(role)
    }

    /// Whether the principal was granted `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.contains(scope)
    }

    /// Whether this is the anonymous principal.
    pub fn is_anonymous(&self) -> bool {
        self.auth_method == AuthMethod::Anonymous
    }
}
