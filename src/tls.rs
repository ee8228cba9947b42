//! TLS and mutual TLS (feature `tls`): a rustls server configuration from PEM files, an
//! accept loop serving any tower service over TLS, and the verified client certificate of
//! each connection in the request extensions as a [`PeerCertificate`].
//!
//! ```no_run
//! use mcp_bastion::context::StaticSource;
//! use mcp_bastion::mcp::McpService;
//! use mcp_bastion::tls::{ClientCertificates, TlsConfig};
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let tls = TlsConfig::from_pem(&std::fs::read("server.pem")?, &std::fs::read("server.key")?)?
//!     .with_client_ca(&std::fs::read("clients-ca.pem")?, ClientCertificates::Required)?
//!     .build()?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3443").await?;
//! mcp_bastion::tls::serve_tls(listener, tls, McpService::new(StaticSource::new()), std::future::pending()).await?;
//! # Ok(()) }
//! ```

use std::fmt;
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::client_addr::ClientAddr;
use crate::error::ConfigError;
use crate::server::{Connections, HttpBody, HttpService};

/// Longest a TLS handshake may take before the connection is dropped.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether clients must present a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientCertificates {
    /// The handshake fails without a certificate from the configured CA.
    Required,
    /// A certificate is verified when presented; clients without one still connect (and
    /// must authenticate otherwise).
    Optional,
}

/// A rustls server configuration under construction.
#[must_use]
pub struct TlsConfig {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client_ca: Option<(RootCertStore, ClientCertificates)>,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("chain", &self.chain.len())
            .field(
                "client_ca",
                &self
                    .client_ca
                    .as_ref()
                    .map(|(roots, mode)| (roots.len(), mode)),
            )
            .finish_non_exhaustive()
    }
}

fn certificates(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| ConfigError::new(format!("{what}: {err}")))?;
    if certs.is_empty() {
        return Err(ConfigError::new(format!(
            "{what}: no PEM certificate found"
        )));
    }
    Ok(certs)
}

impl TlsConfig {
    /// The server's certificate chain and private key, in PEM.
    pub fn from_pem(cert_chain: &[u8], private_key: &[u8]) -> Result<Self, ConfigError> {
        let chain = certificates(cert_chain, "server certificate")?;
        let key = PrivateKeyDer::from_pem_slice(private_key)
            .map_err(|err| ConfigError::new(format!("server private key: {err}")))?;
        Ok(Self {
            chain,
            key,
            client_ca: None,
        })
    }

    /// Verifies client certificates against these CA certificates (PEM).
    pub fn with_client_ca(
        mut self,
        ca_pem: &[u8],
        mode: ClientCertificates,
    ) -> Result<Self, ConfigError> {
        let mut roots = RootCertStore::empty();
        for cert in certificates(ca_pem, "client CA")? {
            roots
                .add(cert)
                .map_err(|err| ConfigError::new(format!("client CA: {err}")))?;
        }
        self.client_ca = Some((roots, mode));
        Ok(self)
    }

    /// The rustls configuration (TLS 1.2 and 1.3, ALPN `h2` and `http/1.1`).
    pub fn build(self) -> Result<Arc<rustls::ServerConfig>, ConfigError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|err| ConfigError::new(format!("TLS: {err}")))?;
        let builder = match self.client_ca {
            None => builder.with_no_client_auth(),
            Some((roots, mode)) => {
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
                let verifier = match mode {
                    ClientCertificates::Required => verifier,
                    ClientCertificates::Optional => verifier.allow_unauthenticated(),
                };
                let verifier = verifier
                    .build()
                    .map_err(|err| ConfigError::new(format!("client CA: {err}")))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder
            .with_single_cert(self.chain, self.key)
            .map_err(|err| ConfigError::new(format!("server certificate and key: {err}")))?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

/// The verified client certificate of a mutual-TLS connection, in every request's
/// extensions. Cheap to clone.
#[derive(Clone, PartialEq, Eq)]
pub struct PeerCertificate {
    inner: Arc<PeerIdentity>,
}

#[derive(PartialEq, Eq)]
struct PeerIdentity {
    der: Vec<u8>,
    common_name: Option<String>,
    dns_names: Vec<String>,
    uris: Vec<String>,
}

impl fmt::Debug for PeerCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerCertificate")
            .field("common_name", &self.inner.common_name)
            .field("dns_names", &self.inner.dns_names)
            .field("uris", &self.inner.uris)
            .finish_non_exhaustive()
    }
}

impl PeerCertificate {
    /// Reads the identities of a DER certificate (already verified by the TLS handshake).
    pub fn from_der(der: &[u8]) -> Result<Self, ConfigError> {
        let (_, cert) = x509_parser::parse_x509_certificate(der)
            .map_err(|err| ConfigError::new(format!("client certificate: {err}")))?;
        let common_name = cert
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .map(str::to_owned);
        let mut dns_names = Vec::new();
        let mut uris = Vec::new();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                match name {
                    x509_parser::extensions::GeneralName::DNSName(dns) => {
                        dns_names.push((*dns).to_owned());
                    }
                    x509_parser::extensions::GeneralName::URI(uri) => uris.push((*uri).to_owned()),
                    _ => {}
                }
            }
        }
        Ok(Self {
            inner: Arc::new(PeerIdentity {
                der: der.to_vec(),
                common_name,
                dns_names,
                uris,
            }),
        })
    }

    /// The subject common name (CN), if any.
    pub fn common_name(&self) -> Option<&str> {
        self.inner.common_name.as_deref()
    }

    /// DNS subject alternative names.
    pub fn dns_names(&self) -> &[String] {
        &self.inner.dns_names
    }

    /// URI subject alternative names (SPIFFE IDs among them).
    pub fn uris(&self) -> &[String] {
        &self.inner.uris
    }

    /// The certificate, DER-encoded.
    pub fn der(&self) -> &[u8] {
        &self.inner.der
    }
}

/// Serves `service` over TLS on `listener` with the default
/// [`ServerConfig`](crate::server::ServerConfig); see [`serve_tls_with`].
pub async fn serve_tls<S, B>(
    listener: TcpListener,
    config: Arc<rustls::ServerConfig>,
    service: S,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()>
where
    S: HttpService<B>,
    B: HttpBody,
{
    let limits = crate::server::ServerConfig::default();
    serve_tls_with(listener, config, service, &limits, shutdown).await
}

/// Serves `service` over TLS on `listener` until `shutdown` completes, within `limits` (as
/// [`serve_with`](crate::server::serve_with)). Handshakes run on the connection's own task (a
/// slow client never blocks accepting others) and are bounded by [`HANDSHAKE_TIMEOUT`]; a
/// verified client certificate is attached to every request of its connection as a
/// [`PeerCertificate`].
pub async fn serve_tls_with<S, B>(
    listener: TcpListener,
    config: Arc<rustls::ServerConfig>,
    service: S,
    limits: &crate::server::ServerConfig,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()>
where
    S: HttpService<B>,
    B: HttpBody,
{
    let acceptor = TlsAcceptor::from(config);
    let connections = Connections::new(limits);
    tokio::pin!(shutdown);
    while let Some((stream, peer, slot)) =
        crate::server::accept(&listener, &connections, &mut shutdown).await
    {
        let acceptor = acceptor.clone();
        let service = service.clone();
        let connection = connections.connection(slot);
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(err)) => {
                    tracing::debug!(%peer, error = %err, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let mut extensions = http::Extensions::new();
            extensions.insert(ClientAddr(peer));
            if let Some(certificate) = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first())
                .and_then(|leaf| PeerCertificate::from_der(leaf).ok())
            {
                extensions.insert(certificate);
            }
            connection.serve(tls, service, extensions).await;
        });
    }
    drop(listener);
    connections.shutdown().await;
    Ok(())
}
