//! [`ClaimMapping`]: how verified claims become a [`Principal`].

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::auth::AuthError;
use crate::principal::{AuthMethod, Principal};

/// Where roles, scopes and attributes are read from in the claims. Paths may be nested with
/// `.` (e.g. `realm_access.roles`); every listed path is read and the results merged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimMapping {
    subject: String,
    roles: Vec<String>,
    scopes: Vec<String>,
    attributes: Vec<String>,
}

impl Default for ClaimMapping {
    fn default() -> Self {
        Self {
            subject: "sub".into(),
            roles: vec!["roles".into(), "realm_access.roles".into()],
            scopes: vec!["scope".into(), "scp".into()],
            attributes: Vec::new(),
        }
    }
}

impl ClaimMapping {
    /// The claim holding the subject (default `sub`).
    #[must_use]
    pub fn subject(mut self, path: impl Into<String>) -> Self {
        self.subject = path.into();
        self
    }

    /// Claims holding roles: arrays of strings, or a space-separated string
    /// (default `roles`, `realm_access.roles`).
    #[must_use]
    pub fn roles<I, S>(mut self, paths: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.roles = paths.into_iter().map(Into::into).collect();
        self
    }

    /// Claims holding scopes: a space-separated `scope` string or an `scp` array
    /// (default `scope`, `scp`).
    #[must_use]
    pub fn scopes<I, S>(mut self, paths: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = paths.into_iter().map(Into::into).collect();
        self
    }

    /// Claims copied into the principal's attributes, under their full path.
    #[must_use]
    pub fn attributes<I, S>(mut self, paths: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.attributes = paths.into_iter().map(Into::into).collect();
        self
    }

    pub(super) fn principal(&self, claims: &Value) -> Result<Principal, AuthError> {
        let subject = lookup(claims, &self.subject)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| AuthError::invalid_token("token has no subject"))?;
        let mut principal = Principal::new(subject, AuthMethod::Jwt);
        principal.roles = strings(claims, &self.roles);
        principal.scopes = strings(claims, &self.scopes);
        principal.attributes = self
            .attributes
            .iter()
            .filter_map(|path| lookup(claims, path).map(|v| (path.clone(), v.clone())))
            .collect::<BTreeMap<_, _>>();
        if let Some(exp) = claims.get("exp") {
            principal.expires_at = Some(expiry(exp)?);
        }
        Ok(principal)
    }
}

/// The last instant a token may name: 9999-12-31T23:59:59Z. A time past it is no real
/// expiry, and it is representable as a `SystemTime` on every platform.
const MAX_NUMERIC_DATE: u64 = 253_402_300_799;

/// The `exp` claim as a time, read as `jsonwebtoken` validated it (seconds since the epoch,
/// an integer, or a fraction rounded). A time past [`MAX_NUMERIC_DATE`] is refused rather
/// than clamped: a token that says it never expires is not one we accept.
fn expiry(exp: &Value) -> Result<SystemTime, AuthError> {
    let since_epoch = match exp.as_u64() {
        Some(seconds) => Some(Duration::from_secs(seconds)),
        None => exp
            .as_f64()
            .and_then(|seconds| Duration::try_from_secs_f64(seconds.round()).ok()),
    };
    since_epoch
        .filter(|since_epoch| since_epoch.as_secs() <= MAX_NUMERIC_DATE)
        .and_then(|since_epoch| UNIX_EPOCH.checked_add(since_epoch))
        .ok_or_else(|| AuthError::invalid_token("exp is out of range"))
}

fn lookup<'v>(claims: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.')
        .try_fold(claims, |value, key| value.get(key))
}

fn strings(claims: &Value, paths: &[String]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for value in paths.iter().filter_map(|path| lookup(claims, path)) {
        match value {
            Value::String(joined) => out.extend(joined.split_whitespace().map(str::to_owned)),
            Value::Array(items) => {
                out.extend(items.iter().filter_map(Value::as_str).map(str::to_owned));
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_mapping() {
        let claims = serde_json::json!({
            "sub": "alice", "exp": 2_000_000_000u64,
            "roles": ["developer"], "realm_access": {"roles": ["admin"]},
            "scope": "context:read context:list", "scp": ["tools:call"],
            "department": "eng"
        });
        let principal = ClaimMapping::default()
            .attributes(["department", "missing"])
            .principal(&claims)
            .unwrap();
        assert_eq!(principal.subject, "alice");
        assert_eq!(
            principal.roles,
            ["admin", "developer"].map(String::from).into()
        );
        assert_eq!(
            principal.scopes,
            ["context:list", "context:read", "tools:call"]
                .map(String::from)
                .into()
        );
        assert_eq!(principal.attributes["department"], "eng");
        assert!(!principal.attributes.contains_key("missing"));
        assert!(
            ClaimMapping::default()
                .principal(&serde_json::json!({"sub": ""}))
                .is_err()
        );
    }

    #[test]
    fn expiry_never_overflows() {
        let mapping = ClaimMapping::default();
        let expires = |exp: Value| {
            mapping
                .principal(&serde_json::json!({"sub": "a", "exp": exp}))
                .map(|principal| principal.expires_at)
        };
        assert_eq!(
            expires(Value::from(MAX_NUMERIC_DATE)).unwrap(),
            Some(UNIX_EPOCH + Duration::from_secs(MAX_NUMERIC_DATE))
        );
        assert_eq!(
            expires(serde_json::json!(2_000_000_000.4)).unwrap(),
            Some(UNIX_EPOCH + Duration::from_secs(2_000_000_000))
        );
        for exp in [
            Value::from(u64::MAX),
            Value::from(MAX_NUMERIC_DATE + 1),
            Value::from(1_000_000_000_000_000_000u64),
            serde_json::json!(1e18),
            serde_json::json!(1.8e19),
            serde_json::json!(-1),
            serde_json::json!("2000000000"),
        ] {
            assert!(
                matches!(expires(exp.clone()), Err(AuthError::InvalidToken(_))),
                "{exp}"
            );
        }
    }
}
