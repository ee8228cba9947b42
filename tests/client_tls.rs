//! `McpClient` over `https` (rustls) against this crate's TLS server: HTTP/2 by ALPN, a
//! client certificate as the credential (mTLS), and a server the client cannot verify.
#![cfg(all(feature = "client", feature = "tls"))]

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use common::pki::{Authority, Identity, authority, leaf};
use http::Version;
use mcp_bastion::auth::{AuthLayer, CertMatch, CertificateAuthenticator};
use mcp_bastion::client::{ClientError, McpClient};
use mcp_bastion::envelope::ErrorEnvelopeLayer;
use mcp_bastion::mcp::McpService;
use mcp_bastion::principal::{AuthMethod, Principal};
use mcp_bastion::tls::{ClientCertificates, TlsConfig, serve_tls};
use rcgen::ExtendedKeyUsagePurpose;
use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tower::ServiceBuilder;

/// The seed over TLS for `localhost`, authenticating client certificates whose common name
/// is `indexer`; records the HTTP version of each request.
async fn server(ca: &Authority, versions: Arc<Mutex<Vec<Version>>>) -> SocketAddr {
    let identity = leaf(
        ca,
        &["localhost"],
        "localhost",
        None,
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let tls = TlsConfig::from_pem(identity.cert_pem.as_bytes(), identity.key_pem.as_bytes())
        .unwrap()
        .with_client_ca(ca.cert_pem.as_bytes(), ClientCertificates::Required)
        .unwrap()
        .build()
        .unwrap();
    let certificates = CertificateAuthenticator::new().map(
        CertMatch::CommonName("indexer".into()),
        Principal::new("indexer", AuthMethod::MutualTls).with_role("developer"),
    );
    let service = ServiceBuilder::new()
        .map_request(move |request: http::Request<_>| {
            versions.lock().unwrap().push(request.version());
            request
        })
        .layer(ErrorEnvelopeLayer::new())
        .layer(
            AuthLayer::builder()
                .authenticator(certificates)
                .build()
                .unwrap(),
        )
        .service(McpService::new(common::seed_source()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve_tls(listener, tls, service, std::future::pending()));
    addr
}

fn client_config(ca: &Authority, identity: &Identity) -> Arc<rustls::ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca.cert_pem.as_bytes()).unwrap())
        .unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_client_auth_cert(
        vec![CertificateDer::from_pem_slice(identity.cert_pem.as_bytes()).unwrap()],
        PrivateKeyDer::from_pem_slice(identity.key_pem.as_bytes()).unwrap(),
    )
    .unwrap();
    Arc::new(config)
}

#[tokio::test]
async fn https_with_a_client_certificate_speaks_http2() {
    let ca = authority("client test CA");
    let versions = Arc::new(Mutex::new(Vec::new()));
    let addr = server(&ca, Arc::clone(&versions)).await;
    let indexer = leaf(
        &ca,
        &[],
        "indexer",
        None,
        ExtendedKeyUsagePurpose::ClientAuth,
    );
    let client = McpClient::builder(&format!("https://localhost:{}", addr.port()))
        .tls_config(client_config(&ca, &indexer))
        .connect_to(addr)
        .build()
        .unwrap();
    let context = client
        .get_context("project-alpha/dependency-graph")
        .await
        .unwrap();
    assert_eq!(context.envelope.data.content, common::GRAPH);
    let description = client.connect().await.unwrap();
    assert_eq!(description.protocol_version, "2026-07-28");
    let seen = versions.lock().unwrap().clone();
    assert!(!seen.is_empty());
    assert!(seen.iter().all(|v| *v == Version::HTTP_2), "{seen:?}");
}

#[tokio::test]
async fn a_server_the_client_cannot_verify_is_a_transport_error() {
    let ca = authority("client test CA");
    let addr = server(&ca, Arc::default()).await;
    // The default roots (webpki-roots) do not know the test CA.
    let client = McpClient::builder(&format!("https://localhost:{}", addr.port()))
        .connect_to(addr)
        .no_retry()
        .build()
        .unwrap();
    let err = client
        .get_context("project-alpha/dependency-graph")
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Transport(_)), "{err:?}");
    assert!(err.to_string().contains("certificate"), "{err}");
}
