//! [`CircuitBreakerLayer`]: stops calling a server that keeps failing, for a while, then
//! tries a few calls before trusting it again.
//!
//! - **Closed**: calls go through; their outcomes are counted over a sliding window. When at
//!   least `minimum_calls` were seen and the share of failures reaches `failure_ratio`, the
//!   circuit opens. A failure is a transport error (the inner service's `Err`) or a `5xx`.
//! - **Open**: calls fail at once with [`CircuitOpen`] (saying when to try again), without
//!   reaching the server, for `open_for`.
//! - **Half-open**: up to `probes` calls go through; one failure opens the circuit again, as
//!   many successes close it.
//!
//! The state is shared by every clone of the layer and of the services it makes; changes are
//! logged at INFO (target `mcp_bastion::client::breaker`).

mod service;
mod state;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tower_layer::Layer;

pub use service::{CircuitBreaker, ResponseFuture};

use crate::error::ConfigError;

/// The error of a call the open circuit refused (the service's error is a `BoxError` holding
/// it, or the inner service's error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CircuitOpen {
    retry_in: Duration,
}

impl CircuitOpen {
    /// About how long until the circuit lets a call through again.
    pub fn retry_in(&self) -> Duration {
        self.retry_in
    }
}

impl std::fmt::Display for CircuitOpen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "circuit open: the server failed too often; retry in {} ms",
            self.retry_in.as_millis()
        )
    }
}

impl std::error::Error for CircuitOpen {}

/// A circuit breaker for a tower HTTP client service. See the [module documentation](self).
///
/// ```
/// use std::time::Duration;
/// use mcp_bastion::client::CircuitBreakerLayer;
///
/// let breaker = CircuitBreakerLayer::builder()
///     .failure_ratio(0.5)
///     .minimum_calls(10)
///     .window(Duration::from_secs(10))
///     .open_for(Duration::from_secs(30))
///     .probes(3)
///     .build()?;
/// # let _ = breaker;
/// # Ok::<(), mcp_bastion::error::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct CircuitBreakerLayer {
    shared: Arc<Shared>,
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) settings: state::Settings,
    pub(crate) circuit: Mutex<state::Tracked>,
}

/// Builds a [`CircuitBreakerLayer`]; [`build`](Self::build) checks the values.
#[derive(Debug, Clone)]
pub struct CircuitBreakerLayerBuilder {
    settings: state::Settings,
}

impl CircuitBreakerLayer {
    /// Defaults: opens at 50% failures over 10 s once 10 calls were seen, stays open 30 s,
    /// closes after 3 successful probes.
    pub fn builder() -> CircuitBreakerLayerBuilder {
        CircuitBreakerLayerBuilder {
            settings: state::Settings {
                failure_ratio: 0.5,
                minimum_calls: 10,
                window: Duration::from_secs(10),
                open_for: Duration::from_secs(30),
                probes: 3,
            },
        }
    }
}

impl CircuitBreakerLayerBuilder {
    /// The share of failed calls that opens the circuit (above 0, at most 1).
    #[must_use]
    pub fn failure_ratio(mut self, ratio: f64) -> Self {
        self.settings.failure_ratio = ratio;
        self
    }

    /// Calls the window must hold before the ratio counts (at least 1).
    #[must_use]
    pub fn minimum_calls(mut self, calls: u32) -> Self {
        self.settings.minimum_calls = calls;
        self
    }

    /// How far back outcomes count (100 ms to 10 minutes).
    #[must_use]
    pub fn window(mut self, window: Duration) -> Self {
        self.settings.window = window;
        self
    }

    /// How long the circuit stays open before probing (10 ms to 1 hour).
    #[must_use]
    pub fn open_for(mut self, open_for: Duration) -> Self {
        self.settings.open_for = open_for;
        self
    }

    /// Calls let through while half-open; as many successes close the circuit (1 to 100).
    #[must_use]
    pub fn probes(mut self, probes: u32) -> Self {
        self.settings.probes = probes;
        self
    }

    /// The layer, or what is wrong with the values.
    pub fn build(self) -> Result<CircuitBreakerLayer, ConfigError> {
        let s = &self.settings;
        if !(s.failure_ratio > 0.0 && s.failure_ratio <= 1.0) {
            return Err(ConfigError::new(
                "circuit breaker: failure_ratio must be above 0 and at most 1",
            ));
        }
        if s.minimum_calls == 0 {
            return Err(ConfigError::new(
                "circuit breaker: minimum_calls must be at least 1",
            ));
        }
        if !(Duration::from_millis(100)..=Duration::from_secs(600)).contains(&s.window) {
            return Err(ConfigError::new(
                "circuit breaker: the window must be 100 ms to 10 minutes",
            ));
        }
        if !(Duration::from_millis(10)..=Duration::from_secs(3600)).contains(&s.open_for) {
            return Err(ConfigError::new(
                "circuit breaker: open_for must be 10 ms to 1 hour",
            ));
        }
        if !(1..=100).contains(&s.probes) {
            return Err(ConfigError::new("circuit breaker: probes must be 1 to 100"));
        }
        Ok(CircuitBreakerLayer {
            shared: Arc::new(Shared {
                settings: self.settings,
                circuit: Mutex::new(state::Tracked::new()),
            }),
        })
    }
}

impl<S> Layer<S> for CircuitBreakerLayer {
    type Service = CircuitBreaker<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CircuitBreaker::new(inner, Arc::clone(&self.shared))
    }
}

#[cfg(test)]
mod tests;
