//! [`serve`]: run any tower HTTP service on a TCP listener, HTTP/1.1 and HTTP/2, with
//! graceful shutdown.
//!
//! ```no_run
//! use mcp_bastion::context::StaticSource;
//! use mcp_bastion::envelope::ErrorEnvelopeLayer;
//! use mcp_bastion::mcp::McpService;
//! use tower::ServiceBuilder;
//!
//! # #[tokio::main] async fn main() -> std::io::Result<()> {
//! let service = ServiceBuilder::new()
//!     .layer(ErrorEnvelopeLayer::new())
//!     .service(McpService::new(StaticSource::new()));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! mcp_bastion::server::serve(listener, service, async {
//!     let _ = tokio::signal::ctrl_c().await;
//! })
//! .await
//! # }
//! ```

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use http::{Request, Response};
use http_body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;
use tower_service::Service;

use crate::client_addr::ClientAddr;
use crate::error::BoxError;

/// A tower service hyper can serve: what [`serve`] and `tls::serve_tls` accept.
pub trait HttpService<B>:
    Service<
        Request<Incoming>,
        Response = Response<B>,
        Error: Into<BoxError>,
        Future: Send + 'static,
    > + Clone
    + Send
    + 'static
{
}

impl<S, B> HttpService<B> for S where
    S: Service<
            Request<Incoming>,
            Response = Response<B>,
            Error: Into<BoxError>,
            Future: Send + 'static,
        > + Clone
        + Send
        + 'static
{
}

/// A response body hyper can send.
pub trait HttpBody: Body<Data: Send, Error: Into<BoxError>> + Send + 'static {}

impl<B> HttpBody for B where B: Body<Data: Send, Error: Into<BoxError>> + Send + 'static {}

/// How long in-flight connections get to finish after shutdown is signalled.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Serves `service` on `listener` until `shutdown` completes, then lets open connections
/// finish their requests (up to [`SHUTDOWN_GRACE`]).
///
/// Accept errors (such as running out of file descriptors) are logged and retried after a
/// short pause instead of ending the server.
pub async fn serve<S, B>(
    listener: TcpListener,
    service: S,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()>
where
    S: HttpService<B>,
    B: HttpBody,
{
    let connections = Connections::new();
    tokio::pin!(shutdown);
    while let Some((stream, peer)) = accept(&listener, &mut shutdown).await {
        let connection = connections.connection();
        let service = service.clone();
        tokio::spawn(connection.serve(stream, service, peer));
    }
    drop(listener);
    connections.shutdown().await;
    Ok(())
}

/// The next connection, or `None` once `shutdown` completes.
pub(crate) async fn accept<F: Future<Output = ()>>(
    listener: &TcpListener,
    shutdown: &mut Pin<&mut F>,
) -> Option<(TcpStream, SocketAddr)> {
    loop {
        tokio::select! {
            () = shutdown.as_mut() => return None,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    return Some((stream, peer));
                }
                Err(err) => {
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
}

/// HTTP/1.1 + HTTP/2 connections that all end gracefully together.
pub(crate) struct Connections {
    builder: auto::Builder<TokioExecutor>,
    graceful: GracefulShutdown,
}

/// One connection's share of [`Connections`]: owned by the connection's task.
pub(crate) struct Connection {
    builder: auto::Builder<TokioExecutor>,
    watcher: Watcher,
}

impl Connections {
    pub(crate) fn new() -> Self {
        Self {
            builder: auto::Builder::new(TokioExecutor::new()),
            graceful: GracefulShutdown::new(),
        }
    }

    /// A handle for a new connection's task.
    pub(crate) fn connection(&self) -> Connection {
        Connection {
            builder: self.builder.clone(),
            watcher: self.graceful.watcher(),
        }
    }

    /// Signals every connection to finish and waits (up to [`SHUTDOWN_GRACE`]).
    pub(crate) async fn shutdown(self) {
        if tokio::time::timeout(SHUTDOWN_GRACE, self.graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("connections still open after the shutdown grace period");
        }
    }
}

impl Connection {
    /// Serves one connection until it closes or shutdown asks it to.
    pub(crate) async fn serve<I, S, B>(self, io: I, service: S, peer: SocketAddr)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
        S: HttpService<B>,
        B: HttpBody,
    {
        let service = service.map_request(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(ClientAddr(peer));
            request
        });
        let connection = self
            .builder
            .serve_connection_with_upgrades(TokioIo::new(io), TowerToHyperService::new(service));
        if let Err(err) = self.watcher.watch(connection.into_owned()).await {
            tracing::debug!(%peer, error = %err, "connection ended with an error");
        }
    }
}
