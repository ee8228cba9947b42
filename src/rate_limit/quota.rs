//! [`Quota`]: how many units a caller may spend per window, and how many at once.

use std::fmt;
use std::num::NonZeroU32;
use std::time::Duration;

use http::HeaderValue;

use crate::error::ConfigError;

/// Longest window a quota may have (one day).
pub const MAX_WINDOW_SECONDS: u32 = 86_400;
/// Longest quota name (it travels in every `RateLimit` header field).
const MAX_NAME_LEN: usize = 64;

/// One quota: `requests` units per `window_seconds`, at most `burst` (≤ `requests`) at once.
///
/// The limit is a GCRA (a leaky bucket without a timer): one unit comes back every
/// `window / requests`, and a caller who was quiet can spend up to `burst` units at once.
/// Its name appears in the `RateLimit-Policy` and `RateLimit` header fields, so it is
/// restricted to `[A-Za-z0-9._-]` (1 to 64 characters).
///
/// ```
/// use mcp_bastion::rate_limit::Quota;
///
/// let guest = Quota::new("guest", 60, 60, 10)?;
/// assert_eq!(guest.policy_header(), "\"guest\";q=60;w=60");
/// # Ok::<(), mcp_bastion::error::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct Quota {
    name: String,
    requests: u32,
    window_seconds: u32,
    burst: u32,
    policy_header: HeaderValue,
    /// Position in the configuration's quota list (which in-process limiter applies it).
    pub(crate) index: usize,
}

impl Quota {
    /// A quota named `name`: `requests` units per `window_seconds` seconds, `burst` at once.
    pub fn new(
        name: &str,
        requests: u32,
        window_seconds: u32,
        burst: u32,
    ) -> Result<Self, ConfigError> {
        Self::checked(name, requests, window_seconds, burst, name)
    }

    /// [`new`](Self::new), naming `field` (e.g. `quotas.guest`) in the error.
    pub(crate) fn checked(
        name: &str,
        requests: u32,
        window_seconds: u32,
        burst: u32,
        field: &str,
    ) -> Result<Self, ConfigError> {
        let valid_name = !name.is_empty()
            && name.len() <= MAX_NAME_LEN
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !valid_name {
            return Err(ConfigError::new(format!(
                "{field}: a quota name is 1 to {MAX_NAME_LEN} characters of [A-Za-z0-9._-], not {name:?}"
            )));
        }
        if requests == 0 {
            return Err(ConfigError::new(format!(
                "{field}.requests must be at least 1"
            )));
        }
        if window_seconds == 0 || window_seconds > MAX_WINDOW_SECONDS {
            return Err(ConfigError::new(format!(
                "{field}.window_seconds must be between 1 and {MAX_WINDOW_SECONDS}"
            )));
        }
        // A burst larger than the window's quota would contradict `q` per `w` (and would
        // let the bucket's arithmetic outgrow the window).
        if burst == 0 || burst > requests {
            return Err(ConfigError::new(format!(
                "{field}.burst must be between 1 and requests ({requests})"
            )));
        }
        let policy_header =
            HeaderValue::from_str(&format!("\"{name}\";q={requests};w={window_seconds}"))
                .map_err(|_| ConfigError::new(format!("{field}: invalid quota name")))?;
        Ok(Self {
            name: name.to_owned(),
            requests,
            window_seconds,
            burst,
            policy_header,
            index: 0,
        })
    }

    /// The quota's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Units per window.
    pub fn requests(&self) -> u32 {
        self.requests
    }

    /// The window, in seconds.
    pub fn window_seconds(&self) -> u32 {
        self.window_seconds
    }

    /// Most units spent at once.
    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// The time one unit takes to come back: `window / requests`.
    pub fn unit_interval(&self) -> Duration {
        Duration::from_secs(u64::from(self.window_seconds)) / self.requests
    }

    /// The time a full burst takes to come back.
    pub fn full_refill(&self) -> Duration {
        self.unit_interval() * self.burst
    }

    /// The `RateLimit-Policy` field value: `"name";q=requests;w=window_seconds`.
    pub fn policy_header(&self) -> &HeaderValue {
        &self.policy_header
    }

    /// The same quota for governor.
    pub(crate) fn gcra(&self) -> governor::Quota {
        let burst = NonZeroU32::new(self.burst).unwrap_or(NonZeroU32::MIN);
        // `unit_interval` is never zero: requests ≤ u32::MAX and window ≥ 1 s.
        governor::Quota::with_period(self.unit_interval().max(Duration::from_nanos(1))).map_or_else(
            || governor::Quota::per_second(burst),
            |q| q.allow_burst(burst),
        )
    }
}

impl fmt::Debug for Quota {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Quota")
            .field("name", &self.name)
            .field("requests", &self.requests)
            .field("window_seconds", &self.window_seconds)
            .field("burst", &self.burst)
            .finish_non_exhaustive()
    }
}

impl PartialEq for Quota {
    fn eq(&self, other: &Self) -> bool {
        (&self.name, self.requests, self.window_seconds, self.burst)
            == (
                &other.name,
                other.requests,
                other.window_seconds,
                other.burst,
            )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_quotas_name_the_field() {
        let err = |r: Result<Quota, ConfigError>| r.unwrap_err().message().to_owned();
        assert!(
            err(Quota::checked("guest", 0, 60, 1, "quotas.guest"))
                .contains("quotas.guest.requests")
        );
        assert!(err(Quota::checked("guest", 1, 0, 1, "quotas.guest")).contains("window_seconds"));
        assert!(
            err(Quota::checked("guest", 1, 90_000, 1, "quotas.guest")).contains("window_seconds")
        );
        assert!(err(Quota::checked("guest", 1, 60, 0, "quotas.guest")).contains("burst"));
        assert!(
            err(Quota::checked("guest", 5, 60, 6, "quotas.guest")).contains("quotas.guest.burst")
        );
        assert!(err(Quota::new("gu\"est", 1, 60, 1)).contains("quota name"));
        assert!(err(Quota::new("", 1, 60, 1)).contains("quota name"));
    }

    #[test]
    fn gcra_parameters_follow_the_quota() {
        let guest = Quota::new("guest", 60, 60, 10).unwrap();
        assert_eq!(guest.unit_interval(), Duration::from_secs(1));
        assert_eq!(guest.full_refill(), Duration::from_secs(10));
        let gcra = guest.gcra();
        assert_eq!(gcra.burst_size().get(), 10);
        assert_eq!(gcra.replenish_interval(), Duration::from_secs(1));
        assert_eq!(guest.policy_header(), "\"guest\";q=60;w=60");
    }
}
