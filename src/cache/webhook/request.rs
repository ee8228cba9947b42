//! The body of a webhook request: which contexts to invalidate.

use serde::{Deserialize, Serialize};

use crate::error::Rejection;

/// What to invalidate: context ids, and id prefixes.
///
/// Deserialized from `{"ids": [...], "prefixes": [...]}`; either member may be absent,
/// any other member is refused.
///
/// ```
/// use mcp_bastion::cache::InvalidationRequest;
///
/// let request: InvalidationRequest = serde_json::from_str(r#"{"prefixes":["docs/"]}"#)?;
/// assert_eq!(request, InvalidationRequest::default().with_prefixes(["docs/"]));
/// assert!(request.ids.is_empty());
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct InvalidationRequest {
    /// Context ids to drop, exactly as the cache names them.
    pub ids: Vec<String>,
    /// Id prefixes, on a segment boundary: `docs` drops `docs` and `docs/a`, not `docsx`;
    /// a prefix naming no segment (`""`, `"/"`) drops nothing. Any invalidation also drops
    /// every cached listing.
    pub prefixes: Vec<String>,
}

impl InvalidationRequest {
    /// Adds these ids.
    ///
    /// ```
    /// use mcp_bastion::cache::InvalidationRequest;
    ///
    /// let request = InvalidationRequest::default().with_ids(["a/b", "a/c"]);
    /// assert_eq!(request.ids, ["a/b", "a/c"]);
    /// ```
    #[must_use]
    pub fn with_ids(mut self, ids: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.ids.extend(ids.into_iter().map(Into::into));
        self
    }

    /// Adds these prefixes.
    ///
    /// ```
    /// use mcp_bastion::cache::InvalidationRequest;
    ///
    /// let request = InvalidationRequest::default().with_prefixes(["docs/"]);
    /// assert_eq!(request.prefixes, ["docs/"]);
    /// ```
    #[must_use]
    pub fn with_prefixes(mut self, prefixes: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.prefixes.extend(prefixes.into_iter().map(Into::into));
        self
    }
}

pub(super) fn parse_request(
    body: &[u8],
    max_keys: usize,
) -> Result<InvalidationRequest, Rejection> {
    // serde would also read a struct from an array (`[["a/b"]]`): only an object is allowed.
    if body.trim_ascii_start().first() != Some(&b'{') {
        return Err(Rejection::bad_request(
            r#"the body must be a JSON object {"ids": [...], "prefixes": [...]}"#,
        ));
    }
    let request: InvalidationRequest = serde_json::from_slice(body).map_err(|err| {
        Rejection::bad_request(format!(
            r#"the body must be {{"ids": [...], "prefixes": [...]}}: {err}"#
        ))
    })?;
    if request.ids.len().saturating_add(request.prefixes.len()) > max_keys {
        return Err(Rejection::bad_request(format!(
            "a request names at most {max_keys} ids and prefixes"
        )));
    }
    Ok(request)
}
