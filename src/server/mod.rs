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

mod body;
mod config;
mod connection;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use http::{Extensions, Request, Response};
use http_body::Body;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::OwnedSemaphorePermit;
use tower_service::Service;

pub use body::{ActiveBody, TimedBody};
pub use config::{
    DEFAULT_BODY_READ_TIMEOUT, DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_HTTP2_KEEP_ALIVE_INTERVAL,
    DEFAULT_HTTP2_KEEP_ALIVE_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CONCURRENT_STREAMS,
    DEFAULT_MAX_CONNECTIONS, ServerConfig, ServerConfigBuilder,
};
pub(crate) use connection::Connections;

use crate::client_addr::ClientAddr;
use crate::error::BoxError;

/// A tower service the server can run: what [`serve`] and `tls::serve_tls` accept. Its
/// requests carry a [`TimedBody`].
pub trait HttpService<B>:
    Service<
        Request<TimedBody>,
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
            Request<TimedBody>,
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

/// Serves `service` on `listener` with the default [`ServerConfig`] until `shutdown`
/// completes; see [`serve_with`].
pub async fn serve<S, B>(
    listener: TcpListener,
    service: S,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()>
where
    S: HttpService<B>,
    B: HttpBody,
{
    serve_with(listener, service, &ServerConfig::default(), shutdown).await
}

/// Serves `service` on `listener` until `shutdown` completes, then lets open connections
/// finish their requests (up to [`SHUTDOWN_GRACE`]).
///
/// Within `config`'s limits: at most `max_connections` open at once (more wait in the listen
/// queue), headers due within the header read timeout (also the time to start the first
/// request, and the idle time between HTTP/1 requests), bodies due within the body read
/// timeout, idle connections closed, HTTP/2 peers pinged. Accept errors (such as running out
/// of file descriptors) are logged and retried after a short pause instead of ending the
/// server. Every request carries the peer's [`ClientAddr`].
pub async fn serve_with<S, B>(
    listener: TcpListener,
    service: S,
    config: &ServerConfig,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()>
where
    S: HttpService<B>,
    B: HttpBody,
{
    let connections = Connections::new(config);
    tokio::pin!(shutdown);
    while let Some((stream, peer, slot)) = accept(&listener, &connections, &mut shutdown).await {
        let connection = connections.connection(slot);
        let service = service.clone();
        let mut extensions = Extensions::new();
        extensions.insert(ClientAddr(peer));
        tokio::spawn(connection.serve(stream, service, extensions));
    }
    drop(listener);
    connections.shutdown().await;
    Ok(())
}

/// The next connection and its slot under the cap, or `None` once `shutdown` completes.
pub(crate) async fn accept<F: Future<Output = ()>>(
    listener: &TcpListener,
    connections: &Connections,
    shutdown: &mut Pin<&mut F>,
) -> Option<(TcpStream, SocketAddr, OwnedSemaphorePermit)> {
    let slot = tokio::select! {
        () = shutdown.as_mut() => return None,
        slot = connections.slot() => slot,
    };
    loop {
        tokio::select! {
            () = shutdown.as_mut() => return None,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    return Some((stream, peer, slot));
                }
                Err(err) => {
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
}
