//! Connections: admitted under the connection cap, served with hyper (HTTP/1.1 and HTTP/2),
//! closed when idle, and all ended gracefully together on shutdown.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use http::{Extensions, Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::Instant;
use tower::ServiceExt;

use super::body::TimedBody;
use super::config::ServerConfig;
use super::{ActiveBody, HttpBody, HttpService, SHUTDOWN_GRACE};

/// Every connection of one server: the cap, the shutdown signal and the shared settings.
pub(crate) struct Connections {
    builder: auto::Builder<TokioExecutor>,
    config: Arc<ServerConfig>,
    slots: Arc<Semaphore>,
    shutdown: watch::Sender<bool>,
}

/// One connection's share of [`Connections`], owned by the connection's task; its slot is
/// free again when it is dropped.
pub(crate) struct Connection {
    builder: auto::Builder<TokioExecutor>,
    config: Arc<ServerConfig>,
    shutdown: watch::Receiver<bool>,
    _slot: OwnedSemaphorePermit,
}

impl Connections {
    pub(crate) fn new(config: &ServerConfig) -> Self {
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(config.header_read_timeout);
        builder
            .http2()
            .timer(TokioTimer::new())
            .keep_alive_interval(config.http2_keep_alive_interval)
            .keep_alive_timeout(config.http2_keep_alive_timeout)
            .max_concurrent_streams(config.max_concurrent_streams);
        Self {
            builder,
            config: Arc::new(config.clone()),
            slots: Arc::new(Semaphore::new(config.max_connections)),
            shutdown: watch::Sender::new(false),
        }
    }

    /// Waits for a free connection slot (the connection cap).
    pub(crate) async fn slot(&self) -> OwnedSemaphorePermit {
        Arc::clone(&self.slots)
            .acquire_owned()
            .await
            .expect("the semaphore is never closed")
    }

    /// A handle for a new connection's task, holding `slot`.
    pub(crate) fn connection(&self, slot: OwnedSemaphorePermit) -> Connection {
        Connection {
            builder: self.builder.clone(),
            config: Arc::clone(&self.config),
            shutdown: self.shutdown.subscribe(),
            _slot: slot,
        }
    }

    /// Signals every connection to finish and waits (up to [`SHUTDOWN_GRACE`]) until all
    /// slots are free again.
    pub(crate) async fn shutdown(self) {
        self.shutdown.send_replace(true);
        let all = u32::try_from(self.config.max_connections).unwrap_or(u32::MAX);
        if tokio::time::timeout(SHUTDOWN_GRACE, self.slots.acquire_many(all))
            .await
            .is_err()
        {
            tracing::warn!("connections still open after the shutdown grace period");
        }
    }
}

/// What the idle watch needs to know about a connection's requests.
#[derive(Debug)]
pub(crate) struct Activity {
    in_flight: AtomicUsize,
    served: AtomicUsize,
    last: std::sync::Mutex<Instant>,
}

/// Marks a request (and its response body) in flight while alive.
#[derive(Debug)]
pub(crate) struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        *self
            .0
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Instant::now();
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Activity {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            in_flight: AtomicUsize::new(0),
            served: AtomicUsize::new(0),
            last: std::sync::Mutex::new(Instant::now()),
        })
    }

    fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.served.fetch_add(1, Ordering::AcqRel);
        InFlight(Arc::clone(self))
    }

    /// Completes once the connection has been idle too long: no request yet within the
    /// header read timeout, or none in flight for the idle timeout.
    async fn idle(&self, config: &ServerConfig) {
        loop {
            let busy = self.in_flight.load(Ordering::Acquire) > 0;
            let allowed: Duration = if self.served.load(Ordering::Acquire) == 0 {
                config.header_read_timeout
            } else {
                config.idle_timeout
            };
            let last = *self
                .last
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let deadline = if busy {
                Instant::now() + allowed
            } else {
                last + allowed
            };
            tokio::time::sleep_until(deadline).await;
            let still_idle = self.in_flight.load(Ordering::Acquire) == 0
                && *self
                    .last
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    == last;
            if !busy && still_idle {
                return;
            }
        }
    }
}

impl Connection {
    /// Serves one connection until it closes, goes idle, or shutdown asks it to. Every
    /// request gets a clone of `extensions` (the client address, a client certificate).
    pub(crate) async fn serve<I, S, B>(mut self, io: I, service: S, extensions: Extensions)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
        S: HttpService<B>,
        B: HttpBody,
    {
        let activity = Activity::new();
        let body_timeout = self.config.body_read_timeout;
        let tracker = Arc::clone(&activity);
        let service = service
            .map_request(move |request: Request<Incoming>| {
                let mut request = request.map(|body| TimedBody::new(body, body_timeout));
                request.extensions_mut().extend(extensions.clone());
                request
            })
            .map_future(move |future| {
                let in_flight = tracker.begin();
                async move {
                    future.await.map(|response: Response<B>| {
                        response.map(|body| ActiveBody::new(body, in_flight))
                    })
                }
            });
        let connection = self
            .builder
            .serve_connection_with_upgrades(TokioIo::new(io), TowerToHyperService::new(service));
        tokio::pin!(connection);
        let mut closing = false;
        loop {
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(err) = result {
                        tracing::debug!(error = %err, "connection ended with an error");
                    }
                    return;
                }
                () = activity.idle(&self.config), if !closing => {
                    tracing::debug!("closing an idle connection");
                    connection.as_mut().graceful_shutdown();
                    closing = true;
                }
                _ = self.shutdown.changed(), if !closing => {
                    connection.as_mut().graceful_shutdown();
                    closing = true;
                }
            }
        }
    }
}
