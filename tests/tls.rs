//! TLS and mutual TLS over loopback with certificates made by rcgen: a client certificate
//! from our CA is mapped to a principal; one from another CA, or none, is refused.
#![cfg(feature = "tls")]

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use common::pki::{Authority, Identity, authority, leaf};
use http::{Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::rt::TokioIo;
use mcp_bastion::auth::{ApiKey, ApiKeyStore, AuthLayer, CertMatch, CertificateAuthenticator};
use mcp_bastion::envelope::ErrorEnvelopeLayer;
use mcp_bastion::principal::{AuthMethod, Principal};
use mcp_bastion::tls::{ClientCertificates, TlsConfig, serve_tls};
use rcgen::ExtendedKeyUsagePurpose;
use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::sync::oneshot;
use tower::{ServiceBuilder, service_fn};

const SPIFFE_ID: &str = "spiffe://example.org/ns/prod/sa/indexer";

/// A server echoing the principal it was handed, behind the envelope and auth layers.
async fn server(ca: &Authority, mode: ClientCertificates) -> (SocketAddr, oneshot::Sender<()>) {
    server_with_keys(ca, mode, None).await
}

/// The same server, also accepting these API keys.
async fn server_with_keys(
    ca: &Authority,
    mode: ClientCertificates,
    keys: Option<ApiKeyStore>,
) -> (SocketAddr, oneshot::Sender<()>) {
    let server_identity = leaf(
        ca,
        &["localhost", "127.0.0.1"],
        "localhost",
        None,
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let tls = TlsConfig::from_pem(
        server_identity.cert_pem.as_bytes(),
        server_identity.key_pem.as_bytes(),
    )
    .unwrap()
    .with_client_ca(ca.cert_pem.as_bytes(), mode)
    .unwrap()
    .build()
    .unwrap();
    let certificates = CertificateAuthenticator::new().map(
        CertMatch::Uri(SPIFFE_ID.into()),
        Principal::new("indexer", AuthMethod::MutualTls).with_role("developer"),
    );
    let auth = AuthLayer::builder().authenticator(certificates);
    let auth = match keys {
        Some(keys) => auth.api_keys(keys),
        None => auth,
    }
    .build()
    .unwrap();
    let echo = service_fn(
        |request: Request<mcp_bastion::server::TimedBody>| async move {
            let principal = request.extensions().get::<Principal>().cloned().unwrap();
            let body = format!(
                "{} {:?} {}",
                principal.subject,
                principal.auth_method,
                principal
                    .attributes
                    .get("cert.matched")
                    .map(ToString::to_string)
                    .unwrap_or_default()
            );
            Ok::<_, Infallible>(Response::new(Full::<Bytes>::from(body)))
        },
    );
    let service = ServiceBuilder::new()
        .layer(ErrorEnvelopeLayer::new())
        .layer(auth)
        .service(echo);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(serve_tls(listener, tls, service, async {
        let _ = stopped.await;
    }));
    (addr, stop)
}

async fn get(
    addr: SocketAddr,
    ca: &Authority,
    client: Option<&Identity>,
) -> Result<(StatusCode, String), mcp_bastion::error::BoxError> {
    get_with(addr, ca, client, None).await
}

/// `get`, with an `Authorization` header.
async fn get_with(
    addr: SocketAddr,
    ca: &Authority,
    client: Option<&Identity>,
    authorization: Option<&str>,
) -> Result<(StatusCode, String), mcp_bastion::error::BoxError> {
    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from_pem_slice(ca.cert_pem.as_bytes())?)?;
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots);
    let config = match client {
        Some(identity) => builder.with_client_auth_cert(
            vec![CertificateDer::from_pem_slice(
                identity.cert_pem.as_bytes(),
            )?],
            PrivateKeyDer::from_pem_slice(identity.key_pem.as_bytes())?,
        )?,
        None => builder.with_no_client_auth(),
    };
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let tls = connector
        .connect(ServerName::try_from("localhost")?, tcp)
        .await?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
    tokio::spawn(connection);
    let mut request = Request::get("/whoami").header(header::HOST, "localhost");
    if let Some(authorization) = authorization {
        request = request.header(header::AUTHORIZATION, authorization);
    }
    let request = request.body(Empty::<Bytes>::new())?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

#[tokio::test]
async fn required_client_certificates() {
    let ca = authority("mcp-bastion test CA");
    let other_ca = authority("someone else's CA");
    let (addr, stop) = server(&ca, ClientCertificates::Required).await;

    let client = leaf(
        &ca,
        &[],
        "indexer",
        Some(SPIFFE_ID),
        ExtendedKeyUsagePurpose::ClientAuth,
    );
    let (status, body) = get(addr, &ca, Some(&client)).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, format!("indexer MutualTls \"{SPIFFE_ID}\""));

    let rogue = leaf(
        &other_ca,
        &[],
        "indexer",
        Some(SPIFFE_ID),
        ExtendedKeyUsagePurpose::ClientAuth,
    );
    assert!(
        get(addr, &ca, Some(&rogue)).await.is_err(),
        "a certificate from another CA must not connect"
    );
    assert!(
        get(addr, &ca, None).await.is_err(),
        "no certificate must not connect"
    );

    // The server is still healthy after refused handshakes.
    assert_eq!(
        get(addr, &ca, Some(&client)).await.unwrap().0,
        StatusCode::OK
    );
    let _ = stop.send(());
}

#[tokio::test]
async fn optional_client_certificates_fall_back_to_other_credentials() {
    let ca = authority("mcp-bastion test CA");
    let (addr, stop) = server(&ca, ClientCertificates::Optional).await;
    let (status, body) = get(addr, &ca, None).await.unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let unmapped = leaf(
        &ca,
        &[],
        "stranger",
        Some("spiffe://example.org/ns/dev/sa/other"),
        ExtendedKeyUsagePurpose::ClientAuth,
    );
    let (status, body) = get(addr, &ca, Some(&unmapped)).await.unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("not mapped"), "{body}");
    let _ = stop.send(());
}

#[tokio::test]
async fn a_client_certificate_never_carries_an_invalid_token() {
    let ca = authority("mcp-bastion test CA");
    let keys = ApiKeyStore::new([ApiKey::new(
        "user-dev-token",
        Principal::new("devUser", AuthMethod::ApiKey),
    )
    .unwrap()])
    .unwrap();
    let (addr, stop) = server_with_keys(&ca, ClientCertificates::Optional, Some(keys)).await;
    let client = leaf(
        &ca,
        &[],
        "indexer",
        Some(SPIFFE_ID),
        ExtendedKeyUsagePurpose::ClientAuth,
    );
    let (status, body) = get_with(addr, &ca, Some(&client), None).await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");

    // A valid certificate and a garbage (or wrong) token: the token is invalid, 401.
    for token in ["Bearer garbage", "Bearer user-dev-tokeN", "Bearer a.b.c"] {
        let (status, body) = get_with(addr, &ca, Some(&client), Some(token))
            .await
            .unwrap();
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{token}: {body}");
        assert!(!body.contains("indexer"), "{body}");
    }
    // A valid certificate and a valid key name two callers: 400.
    let (status, body) = get_with(addr, &ca, Some(&client), Some("Bearer user-dev-token"))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("more than one credential"), "{body}");
    // Without a certificate the key alone is fine.
    let (status, body) = get_with(addr, &ca, None, Some("Bearer user-dev-token"))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    let _ = stop.send(());
}

#[test]
fn bad_tls_configuration_is_an_error() {
    assert!(TlsConfig::from_pem(b"", b"").is_err());
    let ca = authority("ca");
    let identity = leaf(
        &ca,
        &["localhost"],
        "localhost",
        None,
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    assert!(TlsConfig::from_pem(identity.cert_pem.as_bytes(), b"not a key").is_err());
    let config =
        TlsConfig::from_pem(identity.cert_pem.as_bytes(), identity.key_pem.as_bytes()).unwrap();
    assert!(
        config
            .with_client_ca(b"garbage", ClientCertificates::Required)
            .is_err()
    );
}
