//! [`RateLimitLayer`] (after authentication) and [`AddressLimitLayer`] (before it).

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use tower_layer::Layer;

use super::address::AddressLimitService;
use super::limits::RateLimits;
use super::reservation::InFlight;
use super::service::RateLimitService;
use crate::mcp::Endpoint;

/// What every clone of a rate-limit layer and its services share.
#[derive(Debug)]
pub(crate) struct RateLimitShared {
    pub(crate) limits: RateLimits,
    pub(crate) endpoint: Endpoint,
    /// Whether the missing client address was reported.
    pub(crate) warned_no_address: AtomicBool,
    /// Failed-authentication units held by requests being authenticated.
    pub(crate) in_flight: Arc<InFlight>,
}

impl RateLimitShared {
    fn new(limits: &RateLimits, endpoint: &Endpoint) -> Arc<Self> {
        Arc::new(Self {
            limits: limits.clone(),
            endpoint: endpoint.clone(),
            warned_no_address: AtomicBool::new(false),
            in_flight: Arc::default(),
        })
    }
}

/// Charges each principal's quota what its request costs; place it after
/// [`AuthLayer`](crate::auth::AuthLayer). See the [module documentation](super).
#[derive(Debug, Clone)]
pub struct RateLimitLayer {
    shared: Arc<RateLimitShared>,
}

impl RateLimitLayer {
    /// The layer for `limits` (every clone and every service shares their buckets), for
    /// [`Endpoint::default`] until [`endpoint`](Self::endpoint) says otherwise.
    pub fn new(limits: &RateLimits) -> Self {
        Self {
            shared: RateLimitShared::new(limits, &Endpoint::default()),
        }
    }

    /// The endpoint whose requests are classified (for their cost) and refused in its
    /// dialects.
    #[must_use]
    pub fn endpoint(self, endpoint: &Endpoint) -> Self {
        Self {
            shared: RateLimitShared::new(&self.shared.limits, endpoint),
        }
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimitService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimitService::new(inner, Arc::clone(&self.shared))
    }
}

/// Limits by client address before authentication: the `per_address` quota and the
/// `failed_auth` quota of [`RateLimitConfig`](super::RateLimitConfig); place it after the
/// client address is known and before [`AuthLayer`](crate::auth::AuthLayer). Does nothing
/// when neither is configured. See the [module documentation](super).
#[derive(Debug, Clone)]
pub struct AddressLimitLayer {
    shared: Arc<RateLimitShared>,
}

impl AddressLimitLayer {
    /// The layer for `limits`, answering in [`Endpoint::default`]'s dialects until
    /// [`endpoint`](Self::endpoint) says otherwise.
    pub fn new(limits: &RateLimits) -> Self {
        Self {
            shared: RateLimitShared::new(limits, &Endpoint::default()),
        }
    }

    /// The endpoint whose dialects refusals answer in.
    #[must_use]
    pub fn endpoint(self, endpoint: &Endpoint) -> Self {
        Self {
            shared: RateLimitShared::new(&self.shared.limits, endpoint),
        }
    }
}

impl<S> Layer<S> for AddressLimitLayer {
    type Service = AddressLimitService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AddressLimitService::new(inner, Arc::clone(&self.shared))
    }
}
