//! [`McpClient`]: a ready client for an MCP server's REST routes and MCP endpoint, on
//! hyper-util (HTTP/1.1 and HTTP/2, rustls for `https`), with the resilience layers of this
//! module in front of the network: retries, circuit breaker, deadlines, bearer, trace
//! context and the ETag-revalidating cache.
//!
//! ```no_run
//! use mcp_bastion::client::{ClientError, McpClient};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let client = McpClient::builder("http://127.0.0.1:3000")
//!     .bearer_token("user-dev-token")
//!     .build()?;
//!
//! // REST: one context (cached and revalidated by ETag), a listing, a batch.
//! let context = client.get_context("project-alpha/dependency-graph").await?;
//! println!("{} ({:?})", context.envelope.data.content, context.cache);
//! let all = client.list_contexts(Some("project-alpha/")).await?;
//! println!("{} contexts", all.len());
//!
//! // MCP: whichever protocol generation the server speaks.
//! let server = client.connect().await?;
//! println!("speaking {}", server.protocol_version);
//! let resources = client.list_resources().await?;
//! let read = client.read_resource(&resources[0].uri).await?;
//! println!("{:?}", read.contents[0].text);
//!
//! match client.get_context("admin/secrets").await {
//!     Err(ClientError::Server(refused)) => println!("{} {}", refused.status, refused.message),
//!     other => println!("{other:?}"),
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Every answer is read within the response size limit and the call's deadline: a server
//! that sends garbage, too much, or never finishes gives a [`ClientError`], never a panic or
//! unbounded memory.

mod builder;
mod error;
mod model;
mod rest;
mod rpc;
mod sse;
mod transport;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use http::Request;

pub use builder::{
    DEFAULT_ATTEMPT_TIMEOUT, DEFAULT_MAX_LIST_ITEMS, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TIMEOUT,
    McpClientBuilder,
};
pub use error::{ClientError, ServerError};
pub use model::{BatchItem, Context, Era, ReadResult, ResourceContents, ServerDescription};
pub use transport::{HttpService, RequestBody, ResponseBody};

use transport::Answer;

/// A client of an MCP server: REST contexts and MCP resources, through retries, a circuit
/// breaker, deadlines and a cache. Cheap to clone; clones share connections, the cache, the
/// circuit and the negotiated protocol. See the [module documentation](self).
#[derive(Clone)]
pub struct McpClient {
    inner: Arc<Inner>,
}

struct Inner {
    service: HttpService,
    mcp_uri: String,
    rest_uri: String,
    timeout: Duration,
    max_response_bytes: usize,
    max_list_items: usize,
    next_id: AtomicU64,
    /// The negotiated protocol; a lock held across the handshake, so it happens once.
    server: tokio::sync::Mutex<Option<Arc<ServerDescription>>>,
}

impl McpClient {
    /// A builder for a client of the server at `url` (`http://127.0.0.1:3000`, or with a
    /// path prefix: `https://example.com/api`).
    pub fn builder(url: &str) -> McpClientBuilder {
        McpClientBuilder::new(url)
    }

    /// Sends one request and reads its whole answer, within the deadline and size limit.
    async fn send(&self, request: Request<RequestBody>) -> Result<Answer, ClientError> {
        transport::exchange(
            &self.inner.service,
            request,
            self.inner.timeout,
            self.inner.max_response_bytes,
        )
        .await
    }

    /// `call` within the client's deadline, as a whole: a call of several exchanges (a
    /// handshake and then the method, a listing's pages) or one that waits for another
    /// caller's handshake keeps to one deadline, not one per exchange.
    async fn within_deadline<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, ClientError>>,
    ) -> Result<T, ClientError> {
        tokio::time::timeout(self.inner.timeout, call)
            .await
            .unwrap_or(Err(ClientError::Timeout))
    }
}

/// The shortest wait before reading a context still being generated again, whatever the
/// server's retry hint says.
const MIN_PENDING_WAIT: std::time::Duration = std::time::Duration::from_millis(250);

/// Every entry of a paged listing: `page(cursor)` gives one page and the next cursor. At most
/// `max` entries and `max` pages (an empty page counts too), and a cursor handed out twice is
/// an error: a server cannot keep the client listing forever. Cursors are remembered by
/// digest, as each may be as long as an answer.
async fn all_pages<T, F, Fut>(max: usize, mut page: F) -> Result<Vec<T>, ClientError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<(Vec<T>, Option<String>), ClientError>>,
{
    use sha2::{Digest, Sha256};

    let mut items = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut cursor = None;
    let mut pages = 0_usize;
    loop {
        let (entries, next) = page(cursor).await?;
        pages += 1;
        items.extend(entries);
        if items.len() > max {
            return Err(ClientError::invalid(
                http::StatusCode::OK,
                format!("the listing holds more than {max} entries"),
            ));
        }
        let Some(next) = next else {
            return Ok(items);
        };
        if pages >= max {
            return Err(ClientError::invalid(
                http::StatusCode::OK,
                format!("the listing runs to more than {max} pages"),
            ));
        }
        if !seen.insert(<[u8; 32]>::from(Sha256::digest(next.as_bytes()))) {
            return Err(ClientError::invalid(
                http::StatusCode::OK,
                "the server handed out the same cursor twice",
            ));
        }
        cursor = Some(next);
    }
}

impl std::fmt::Debug for McpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpClient")
            .field("mcp", &self.inner.mcp_uri)
            .field("rest", &self.inner.rest_uri)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
