//! The HTTP side of [`McpClient`](super::McpClient): hyper-util's pooled client (HTTP/1.1 and
//! HTTP/2, rustls for `https`), the resilience layers around it, and one exchange under the
//! client's deadline with a bounded body.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Request, Response, StatusCode, Uri, header};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use tower::ServiceExt;
use tower::util::BoxCloneSyncService;
use tower_layer::Layer;

use super::ClientError;
use crate::client::bearer::BearerLayer;
use crate::client::breaker::CircuitBreakerLayer;
use crate::client::cache::{CacheOutcome, ClientCacheLayer};
use crate::client::retry::{CallDeadline, RetryLayer};
use crate::client::trace::TraceparentLayer;
use crate::error::BoxError;

/// The request body every layer can send again (a retry needs a clone).
pub type RequestBody = Full<Bytes>;
/// Any layer's response body.
pub type ResponseBody = BoxBody<Bytes, BoxError>;
/// An HTTP client service as [`McpClient`](super::McpClient) sends through: the assembled
/// stack is one, and so is a transport given to
/// [`McpClientBuilder::transport`](super::McpClientBuilder::transport).
pub type HttpService = BoxCloneSyncService<Request<RequestBody>, Response<ResponseBody>, BoxError>;

/// What the stack is made of; see `McpClientBuilder`.
pub(crate) struct Layers {
    pub(crate) bearer: Option<BearerLayer>,
    pub(crate) traceparent: bool,
    pub(crate) cache: Option<ClientCacheLayer>,
    pub(crate) breaker: Option<CircuitBreakerLayer>,
    pub(crate) retry: Option<RetryLayer>,
    pub(crate) attempt_timeout: Duration,
}

/// hyper-util's client: connections pooled per host, `https` through rustls (HTTP/2 when the
/// server offers it by ALPN), plain `http` as HTTP/1.1, or HTTP/2 only when asked. With
/// `connect_to`, every connection goes to that address whatever the URL's host (which still
/// names the server in `Host` and TLS).
pub(crate) fn hyper_transport(
    tls: &rustls::ClientConfig,
    http2_only: bool,
    connect_to: Option<SocketAddr>,
) -> HttpService {
    use hyper_util::client::legacy::connect::HttpConnector;

    let mut http = HttpConnector::new();
    // The URL's scheme is the TLS connector's business; this one only opens TCP.
    http.enforce_http(false);
    http.set_nodelay(true);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls.clone())
        .https_or_http()
        .enable_all_versions();
    match connect_to {
        None => client_over(https.wrap_connector(http), http2_only),
        Some(addr) => {
            let redirected = tower::util::MapRequest::new(http, move |uri: Uri| {
                Uri::builder()
                    .scheme(uri.scheme_str().unwrap_or("http"))
                    .authority(addr.to_string())
                    .path_and_query("/")
                    .build()
                    .unwrap_or(uri)
            });
            client_over(https.wrap_connector(redirected), http2_only)
        }
    }
}

fn client_over<C>(connector: C, http2_only: bool) -> HttpService
where
    C: tower_service::Service<Uri> + Clone + Send + Sync + 'static,
    C::Response: hyper::rt::Read
        + hyper::rt::Write
        + hyper_util::client::legacy::connect::Connection
        + Unpin
        + Send
        + 'static,
    C::Future: Send + Unpin + 'static,
    C::Error: Into<BoxError>,
{
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::{TokioExecutor, TokioTimer};

    let client: Client<C, RequestBody> = Client::builder(TokioExecutor::new())
        .timer(TokioTimer::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .http2_only(http2_only)
        .build(connector);
    BoxCloneSyncService::new(
        client
            .map_response(|response| response.map(|body| body.map_err(BoxError::from).boxed()))
            .map_err(BoxError::from),
    )
}

/// The transport wrapped in the layers, outermost first: bearer, trace context, cache,
/// breaker, retries, per-attempt deadline. The cache sees the credential (its key) and
/// answers fresh entries even while the circuit is open; the breaker counts each call once,
/// after its retries.
pub(crate) fn stack(transport: HttpService, layers: Layers) -> HttpService {
    let mut service = BoxCloneSyncService::new(
        tower::timeout::TimeoutLayer::new(layers.attempt_timeout).layer(transport),
    );
    if let Some(retry) = layers.retry {
        service = BoxCloneSyncService::new(retry.layer(service));
    }
    if let Some(breaker) = layers.breaker {
        service = BoxCloneSyncService::new(breaker.layer(service));
    }
    if let Some(cache) = layers.cache {
        service = BoxCloneSyncService::new(
            cache
                .layer(service)
                .map_response(|response| response.map(|body| body.map_err(Into::into).boxed())),
        );
    }
    if layers.traceparent {
        service = BoxCloneSyncService::new(TraceparentLayer::new().layer(service));
    }
    if let Some(bearer) = layers.bearer {
        service = BoxCloneSyncService::new(bearer.layer(service));
    }
    service
}

/// A complete answer: status, headers and the whole body (within the limit).
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    pub(crate) cache: Option<CacheOutcome>,
}

impl Answer {
    /// The media type of the answer, lowercased, without parameters.
    pub(crate) fn media_type(&self) -> String {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .map(|media| media.trim().to_ascii_lowercase())
            .unwrap_or_default()
    }
}

/// Sends `request` through `service` and reads the whole answer, all within `deadline`, the
/// body at most `max_bytes` (a longer one is abandoned, never buffered).
pub(crate) async fn exchange(
    service: &HttpService,
    mut request: Request<RequestBody>,
    deadline: Duration,
    max_bytes: usize,
) -> Result<Answer, ClientError> {
    // The retry layer makes no wait the deadline would cut short.
    request
        .extensions_mut()
        .insert(CallDeadline(tokio::time::Instant::now() + deadline));
    let call = async {
        let response = service
            .clone()
            .oneshot(request)
            .await
            .map_err(ClientError::from_service)?;
        let declared = response
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|length| length > max_bytes as u64) {
            return Err(ClientError::TooLarge { limit: max_bytes });
        }
        let (parts, mut body) = response.into_parts();
        // Frame by frame rather than `Limited::collect`: with that future held across an
        // await, rustc cannot prove this function's future `Send` (its `Into<BoxError>` bound
        // becomes higher-ranked), and no call of the client could be spawned.
        let mut read = BytesMut::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|err| {
                ClientError::Transport(format!("reading the answer: {err}").into())
            })?;
            if let Ok(data) = frame.into_data() {
                if data.len() > max_bytes - read.len() {
                    return Err(ClientError::TooLarge { limit: max_bytes });
                }
                read.extend_from_slice(&data);
            }
        }
        Ok(Answer {
            status: parts.status,
            cache: parts.extensions.get::<CacheOutcome>().copied(),
            headers: parts.headers,
            body: read.freeze(),
        })
    };
    tokio::time::timeout(deadline, call)
        .await
        .unwrap_or(Err(ClientError::Timeout))
}
