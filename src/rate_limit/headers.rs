//! The IETF rate-limit header fields (draft-ietf-httpapi-ratelimit-headers):
//! `RateLimit-Policy: "guest";q=60;w=60` and `RateLimit: "guest";r=12;t=5`.

use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue};

use super::quota::Quota;

/// `RateLimit-Policy`: the quota (units per window).
pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
/// `RateLimit`: what is left now (`r`) and the seconds until the quota is whole again (`t`).
pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// The two fields one quota adds to a response.
#[derive(Debug, Clone)]
pub(crate) struct QuotaHeaders {
    policy: HeaderValue,
    state: HeaderValue,
}

impl QuotaHeaders {
    /// `remaining` units left; the quota whole again in `reset` (rounded up to seconds).
    pub(crate) fn new(quota: &Quota, remaining: u32, reset: Duration) -> Self {
        let state = crate::header_value::formatted(format_args!(
            "\"{}\";r={remaining};t={}",
            quota.name(),
            seconds(reset)
        ))
        // The name was checked to be a token-safe string when the quota was built.
        .unwrap_or_else(|| HeaderValue::from_static("\"invalid\";r=0;t=0"));
        Self {
            policy: quota.policy_header().clone(),
            state,
        }
    }

    /// Appends both fields (a second quota's fields join the same lists).
    pub(crate) fn append_to(self, headers: &mut HeaderMap) {
        headers.append(RATELIMIT_POLICY, self.policy);
        headers.append(RATELIMIT, self.state);
    }
}

/// Whole seconds, rounded up.
pub(crate) fn seconds(duration: Duration) -> u64 {
    duration
        .as_secs()
        .saturating_add(u64::from(duration.subsec_nanos() > 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_have_the_draft_shape() {
        let guest = Quota::new("guest", 60, 60, 10).unwrap();
        let mut headers = HeaderMap::new();
        QuotaHeaders::new(&guest, 0, Duration::from_millis(4001)).append_to(&mut headers);
        assert_eq!(headers[RATELIMIT_POLICY], "\"guest\";q=60;w=60");
        assert_eq!(headers[RATELIMIT], "\"guest\";r=0;t=5");
        // The longest name with the largest numbers still fits the stack buffer.
        let long = Quota::new(&"n".repeat(64), 60, 60, 10).unwrap();
        let mut headers = HeaderMap::new();
        QuotaHeaders::new(&long, u32::MAX, Duration::MAX).append_to(&mut headers);
        let expected = format!("\"{}\";r={};t={}", "n".repeat(64), u32::MAX, u64::MAX);
        assert_eq!(headers[RATELIMIT], expected.as_str());
        assert_eq!(seconds(Duration::ZERO), 0);
        assert_eq!(seconds(Duration::from_secs(3)), 3);
    }
}
