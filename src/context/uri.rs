//! Mapping between MCP resource URIs and [`ContextId`]s.

use std::fmt;

use super::id::{ContextId, InvalidContextId};
use crate::error::ConfigError;

/// Maps resource URIs to context ids and back.
///
/// The default scheme maps `ctx://project-alpha/dependency-graph` to the id
/// `project-alpha/dependency-graph`. Further schemes map to an id prefix:
/// with `with_scheme("test", "test")`, `test://static-text` is the id `test/static-text`.
/// Both directions round-trip: `to_uri(to_id(uri)) == uri` for every URI `to_id` accepts
/// (scheme names are case-insensitive and printed in lower case), and
/// `to_id(to_uri(id)) == id` for every id.
///
/// ```
/// use mcp_bastion::context::{ContextId, ResourceUriMapping};
///
/// let mapping = ResourceUriMapping::default().with_scheme("test", "test")?;
/// let id = mapping.to_id("test://static-text")?;
/// assert_eq!(id.as_str(), "test/static-text");
/// assert_eq!(mapping.to_uri(&id), "test://static-text");
/// assert_eq!(mapping.to_uri(&ContextId::parse("docs/a")?), "ctx://docs/a");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceUriMapping {
    default_scheme: String,
    /// Extra schemes and the id prefix each maps to, longest prefix first.
    prefixed: Vec<(String, String)>,
}

impl Default for ResourceUriMapping {
    fn default() -> Self {
        Self {
            default_scheme: "ctx".to_owned(),
            prefixed: Vec::new(),
        }
    }
}

/// Why a URI does not name a context.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidResourceUri {
    /// The URI has no `scheme://`.
    MissingScheme,
    /// No mapping exists for this scheme.
    UnknownScheme(String),
    /// The URI has a query or fragment, which no context id has.
    QueryOrFragment,
    /// The URI is a non-canonical spelling; the canonical one is given.
    NonCanonical(String),
    /// The part after `scheme://` is not a valid context id.
    Id(InvalidContextId),
}

impl fmt::Display for InvalidResourceUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingScheme => f.write_str("resource uri has no 'scheme://' part"),
            Self::UnknownScheme(scheme) => {
                write!(f, "resource uri scheme {scheme:?} is not served here")
            }
            Self::QueryOrFragment => f.write_str("resource uri has a query or fragment"),
            Self::NonCanonical(canonical) => {
                write!(f, "resource uri is not canonical; use {canonical:?}")
            }
            Self::Id(err) => write!(f, "resource uri path is invalid: {err}"),
        }
    }
}

impl std::error::Error for InvalidResourceUri {}

fn validate_scheme(scheme: &str) -> Result<String, ConfigError> {
    let mut bytes = scheme.bytes();
    let valid = bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    if valid {
        Ok(scheme.to_ascii_lowercase())
    } else {
        Err(ConfigError::new(format!(
            "uri scheme {scheme:?} is not a valid scheme (a letter, then letters, digits, '+', '-' or '.')"
        )))
    }
}

impl ResourceUriMapping {
    /// A mapping whose default scheme is `scheme` (mapping the whole id).
    pub fn new(scheme: &str) -> Result<Self, ConfigError> {
        Ok(Self {
            default_scheme: validate_scheme(scheme)?,
            prefixed: Vec::new(),
        })
    }

    /// Adds a scheme that maps `scheme://rest` to the id `id_prefix/rest`.
    pub fn with_scheme(mut self, scheme: &str, id_prefix: &str) -> Result<Self, ConfigError> {
        let scheme = validate_scheme(scheme)?;
        ContextId::parse(id_prefix).map_err(|err| {
            ConfigError::new(format!(
                "id prefix {id_prefix:?} for scheme {scheme:?}: {err}"
            ))
        })?;
        let taken = scheme == self.default_scheme
            || self
                .prefixed
                .iter()
                .any(|(s, p)| *s == scheme || p == id_prefix);
        if taken {
            return Err(ConfigError::new(format!(
                "uri scheme {scheme:?} or id prefix {id_prefix:?} is already mapped"
            )));
        }
        self.prefixed.push((scheme, id_prefix.to_owned()));
        self.prefixed
            .sort_by_key(|(_, prefix)| std::cmp::Reverse(prefix.len()));
        Ok(self)
    }

    /// The default scheme, e.g. `ctx`.
    pub fn default_scheme(&self) -> &str {
        &self.default_scheme
    }

    /// The rule claiming `id`: the scheme and the part of the id after its prefix.
    fn rule_for<'a>(&'a self, id: &'a str) -> (&'a str, &'a str) {
        for (scheme, prefix) in &self.prefixed {
            if let Some(rest) = id
                .strip_prefix(prefix.as_str())
                .and_then(|r| r.strip_prefix('/'))
            {
                return (scheme, rest);
            }
        }
        (&self.default_scheme, id)
    }

    /// The canonical URI of `id`.
    pub fn to_uri(&self, id: &ContextId) -> String {
        let (scheme, rest) = self.rule_for(id.as_str());
        format!("{scheme}://{rest}")
    }

    /// The id a URI names. The path is percent-decoded exactly once, then validated.
    pub fn to_id(&self, uri: &str) -> Result<ContextId, InvalidResourceUri> {
        let (scheme, rest) = uri
            .split_once("://")
            .ok_or(InvalidResourceUri::MissingScheme)?;
        if rest.contains(['?', '#']) {
            return Err(InvalidResourceUri::QueryOrFragment);
        }
        if scheme.eq_ignore_ascii_case(&self.default_scheme) {
            let id = ContextId::from_percent_encoded(rest).map_err(InvalidResourceUri::Id)?;
            // An id under another scheme's prefix has exactly one spelling: that scheme's.
            return self.canonical_under(id, scheme);
        }
        let (_, prefix) = self
            .prefixed
            .iter()
            .find(|(s, _)| scheme.eq_ignore_ascii_case(s))
            .ok_or_else(|| InvalidResourceUri::UnknownScheme(scheme.to_owned()))?;
        let tail = ContextId::from_percent_encoded(rest).map_err(InvalidResourceUri::Id)?;
        let id = ContextId::parse(&format!("{prefix}/{tail}")).map_err(InvalidResourceUri::Id)?;
        // A longer prefix may claim the joined id (e.g. `a` and `a/b`): insist on its spelling.
        self.canonical_under(id, scheme)
    }

    /// `id` if its canonical URI uses `scheme`, else the canonical spelling as an error.
    fn canonical_under(
        &self,
        id: ContextId,
        scheme: &str,
    ) -> Result<ContextId, InvalidResourceUri> {
        let (canonical_scheme, _) = self.rule_for(id.as_str());
        if canonical_scheme.eq_ignore_ascii_case(scheme) {
            Ok(id)
        } else {
            Err(InvalidResourceUri::NonCanonical(self.to_uri(&id)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping() -> ResourceUriMapping {
        ResourceUriMapping::default()
            .with_scheme("test", "test")
            .unwrap()
            .with_scheme("deep", "test/deep")
            .unwrap()
    }

    #[test]
    fn round_trips_both_ways() {
        let mapping = mapping();
        for uri in [
            "ctx://project-alpha/dependency-graph",
            "ctx://test",
            "test://static-text",
            "test://template/7/data",
            "deep://x",
        ] {
            let id = mapping.to_id(uri).unwrap();
            assert_eq!(mapping.to_uri(&id), uri);
            assert_eq!(mapping.to_id(&mapping.to_uri(&id)).unwrap(), id);
        }
        assert_eq!(mapping.to_id("TEST://a").unwrap().as_str(), "test/a");
    }

    #[test]
    fn refuses_other_spellings_and_bad_input() {
        let mapping = mapping();
        assert_eq!(
            mapping.to_id("ctx://test/a"),
            Err(InvalidResourceUri::NonCanonical("test://a".into()))
        );
        assert_eq!(
            mapping.to_id("test://deep/x"),
            Err(InvalidResourceUri::NonCanonical("deep://x".into()))
        );
        assert_eq!(
            mapping.to_id("file:///etc/passwd"),
            Err(InvalidResourceUri::UnknownScheme("file".into()))
        );
        assert_eq!(
            mapping.to_id("no-scheme"),
            Err(InvalidResourceUri::MissingScheme)
        );
        assert_eq!(
            mapping.to_id("ctx://a?b"),
            Err(InvalidResourceUri::QueryOrFragment)
        );
        assert!(matches!(
            mapping.to_id("ctx://a/%2e%2e/b"),
            Err(InvalidResourceUri::Id(InvalidContextId::DotSegment {
                index: 2
            }))
        ));
        assert!(matches!(
            mapping.to_id("ctx://"),
            Err(InvalidResourceUri::Id(_))
        ));
    }

    #[test]
    fn configuration_is_validated() {
        assert!(ResourceUriMapping::new("1bad").is_err());
        assert!(ResourceUriMapping::new("").is_err());
        assert!(
            ResourceUriMapping::default()
                .with_scheme("ctx", "x")
                .is_err()
        );
        assert!(
            ResourceUriMapping::default()
                .with_scheme("t", "..")
                .is_err()
        );
        let err = ResourceUriMapping::default()
            .with_scheme("a", "p")
            .unwrap()
            .with_scheme("b", "p")
            .unwrap_err();
        assert!(err.to_string().contains("already mapped"));
    }
}
