//! [`CertificateAuthenticator`]: verified TLS client certificates to principals (feature `tls`).

use serde_json::Value;

use super::authenticator::{Authenticator, Credentials, Verdict};
use super::error::AuthError;
use crate::principal::{AuthMethod, Principal};
use crate::tls::PeerCertificate;

/// Which identity of a client certificate a rule matches.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CertMatch {
    /// The subject common name, exactly.
    CommonName(String),
    /// A DNS subject alternative name, exactly (case-insensitive).
    DnsName(String),
    /// A URI subject alternative name, exactly (e.g. a SPIFFE ID
    /// `spiffe://example.org/ns/prod/sa/indexer`).
    Uri(String),
    /// A URI subject alternative name under this prefix, on a path-segment boundary (e.g.
    /// every workload of `spiffe://example.org/ns/prod/`). The URI must equal the prefix, or
    /// the prefix must end with `/`, or the URI must continue with `/` right after it: so
    /// `spiffe://example.org/ns/prod` matches `spiffe://example.org/ns/prod/sa/indexer` but
    /// not `spiffe://example.org/ns/prod-evil/sa/indexer`.
    UriPrefix(String),
}

impl CertMatch {
    /// The certificate identity this rule matches, if any.
    fn find<'c>(&self, cert: &'c PeerCertificate) -> Option<&'c str> {
        match self {
            Self::CommonName(cn) => cert.common_name().filter(|c| c == cn),
            Self::DnsName(name) => cert
                .dns_names()
                .iter()
                .find(|d| d.eq_ignore_ascii_case(name))
                .map(String::as_str),
            Self::Uri(uri) => cert.uris().iter().find(|u| *u == uri).map(String::as_str),
            Self::UriPrefix(prefix) => cert
                .uris()
                .iter()
                .find(|u| under_prefix(u, prefix))
                .map(String::as_str),
        }
    }
}

/// Whether `uri` is `prefix` or lies under it, on a path-segment boundary.
fn under_prefix(uri: &str, prefix: &str) -> bool {
    uri.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || prefix.ends_with('/') || rest.starts_with('/'))
}

/// Maps the verified client certificate of a mutual-TLS connection (see
/// [`serve_tls`](crate::tls::serve_tls)) to a principal by configured rules, first match
/// wins. The principal gets the certificate's identities as attributes (`cert.cn`,
/// `cert.dns`, `cert.uris`, `cert.matched`). A certificate no rule maps is refused (401);
/// a connection without a certificate is left to the other authenticators.
///
/// A request with a mapped certificate **and** a credential header (`Authorization`, an API
/// key header, …) presents two identities and is refused (400 `invalid_request`, "more than
/// one credential"); when that header credential is invalid or unknown, the refusal is 401
/// `invalid_token`, so a garbage token never rides in on a valid certificate. To use client
/// certificates only as a transport check (mutual TLS required by
/// [`TlsConfig::with_client_ca`](crate::tls::TlsConfig::with_client_ca)) while tokens name
/// the caller, do not add a `CertificateAuthenticator`.
///
/// ```
/// use mcp_bastion::auth::{CertMatch, CertificateAuthenticator};
/// use mcp_bastion::principal::{AuthMethod, Principal};
///
/// let certificates = CertificateAuthenticator::new()
///     .map(CertMatch::Uri("spiffe://example.org/ns/prod/sa/indexer".into()),
///          Principal::new("indexer", AuthMethod::MutualTls).with_role("developer"))
///     .map(CertMatch::CommonName("ops-console".into()),
///          Principal::new("ops", AuthMethod::MutualTls).with_role("admin"));
/// # let _ = certificates;
/// ```
#[derive(Debug, Clone, Default)]
pub struct CertificateAuthenticator {
    rules: Vec<(CertMatch, Principal)>,
}

impl CertificateAuthenticator {
    /// No rules yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a rule.
    #[must_use]
    pub fn map(mut self, matcher: CertMatch, principal: Principal) -> Self {
        self.rules.push((matcher, principal));
        self
    }
}

impl Authenticator for CertificateAuthenticator {
    fn authenticate(&self, credentials: &Credentials<'_>) -> Verdict {
        let Some(cert) = credentials.extensions().get::<PeerCertificate>() else {
            return Verdict::NotMine;
        };
        for (matcher, principal) in &self.rules {
            if let Some(matched) = matcher.find(cert) {
                if credentials.has_header_credential() {
                    // Never accept next to another credential: that one may be garbage.
                    return Verdict::Reject(AuthError::InvalidRequest(
                        "more than one credential (a client certificate and a credential header)"
                            .into(),
                    ));
                }
                let mut principal = principal.clone();
                principal.auth_method = AuthMethod::MutualTls;
                let attributes = &mut principal.attributes;
                if let Some(cn) = cert.common_name() {
                    attributes.insert("cert.cn".into(), Value::from(cn));
                }
                attributes.insert("cert.dns".into(), Value::from(cert.dns_names().to_vec()));
                attributes.insert("cert.uris".into(), Value::from(cert.uris().to_vec()));
                attributes.insert("cert.matched".into(), Value::from(matched));
                return Verdict::Accept(principal);
            }
        }
        Verdict::Reject(AuthError::invalid_token(
            "client certificate is not mapped to a principal",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn certificate(uris: &[&str]) -> PeerCertificate {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        for uri in uris {
            params
                .subject_alt_names
                .push(rcgen::SanType::URI((*uri).try_into().unwrap()));
        }
        let cert = params.self_signed(&key).unwrap();
        PeerCertificate::from_der(cert.der()).unwrap()
    }

    #[test]
    fn uri_prefixes_match_on_a_segment_boundary() {
        let cases = [
            ("spiffe://x/ns/prod", "spiffe://x/ns/prod", true),
            ("spiffe://x/ns/prod", "spiffe://x/ns/prod/sa/indexer", true),
            ("spiffe://x/ns/prod/", "spiffe://x/ns/prod/sa/indexer", true),
            (
                "spiffe://x/ns/prod",
                "spiffe://x/ns/prod-evil/sa/indexer",
                false,
            ),
            ("spiffe://x/ns/prod", "spiffe://x/ns/production", false),
            ("spiffe://x/ns/prod/", "spiffe://x/ns/prod", false),
            ("spiffe://x/ns/prod", "spiffe://x/ns", false),
        ];
        for (prefix, uri, matches) in cases {
            let rule = CertMatch::UriPrefix(prefix.into());
            assert_eq!(
                rule.find(&certificate(&[uri])).is_some(),
                matches,
                "{prefix} vs {uri}"
            );
        }
        // The first URI under the prefix is the one matched.
        let cert = certificate(&["spiffe://x/ns/prod-evil/sa/a", "spiffe://x/ns/prod/sa/b"]);
        assert_eq!(
            CertMatch::UriPrefix("spiffe://x/ns/prod".into()).find(&cert),
            Some("spiffe://x/ns/prod/sa/b")
        );
    }
}
