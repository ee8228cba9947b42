//! The REST routes: one context, a listing (cursors followed), a batch read.

use http::{HeaderValue, Method, Request, header};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::de::DeserializeOwned;

use super::transport::{Answer, RequestBody};
use super::{BatchItem, ClientError, Context, McpClient, ServerError};
use crate::client::retry::Idempotent;
use crate::mcp::wire::{BatchResults, ContextEnvelope, ContextListItem, ContextListing};

/// Left as they are in a path segment: RFC 3986 unreserved characters.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

const APPLICATION_JSON: HeaderValue = HeaderValue::from_static("application/json");

impl McpClient {
    /// `GET {rest}/{id}`: the context, from the cache when fresh there, revalidated with its
    /// `ETag` when stale.
    ///
    /// Each `/`-separated segment of `id` is percent-encoded, so an id cannot leave the REST
    /// prefix; an id with a `.` or `..` segment is refused before anything is sent.
    ///
    /// A context still being generated (`202 Accepted`, asynchronous generation) is read
    /// again after the server's `Retry-After` (at least a quarter second), from the same URL
    /// (a `Location` elsewhere is never followed with the credential), while the client's
    /// deadline allows; when the next wait would pass it, the call returns at once with
    /// [`ClientError::Server`] carrying status 202 and the server's `retry_after`.
    pub async fn get_context(&self, id: &str) -> Result<Context, ClientError> {
        self.read_context(id, "", false).await
    }

    /// `GET {rest}/{id}?select=…`: only the parts of a JSON context these RFC 6901 JSON
    /// Pointers name (one pointer: its value; several: an object keyed by pointer), or the
    /// text range `bytes=A-B` / `lines=A-B`; what was selected is in the envelope's
    /// `selection`. Cached, and revalidated, per selection as [`get_context`](Self::get_context) is.
    ///
    /// ```no_run
    /// # async fn run(client: mcp_bastion::client::McpClient) -> Result<(), mcp_bastion::client::ClientError> {
    /// let statuses = client
    ///     .get_context_selected("project-alpha/build-history", &["/builds/0/status", "/builds/499/status"])
    ///     .await?;
    /// println!("{}", statuses.envelope.data.content);
    /// # Ok(()) }
    /// ```
    pub async fn get_context_selected(
        &self,
        id: &str,
        select: &[&str],
    ) -> Result<Context, ClientError> {
        let query: Vec<String> = select
            .iter()
            .map(|value| format!("select={}", utf8_percent_encode(value, SEGMENT)))
            .collect();
        let query = if query.is_empty() {
            String::new()
        } else {
            format!("?{}", query.join("&"))
        };
        self.read_context(id, &query, false).await
    }

    /// Like [`get_context`](Self::get_context), but a stored copy is used only once the
    /// server confirms it is current (`Cache-Control: no-cache`: a conditional request, and
    /// `304 Not Modified` reuses the stored body), however fresh it is.
    pub async fn refresh_context(&self, id: &str) -> Result<Context, ClientError> {
        self.read_context(id, "", true).await
    }

    /// One read, its second request (after a `304` the cache could not use) included, within
    /// the client's deadline.
    async fn read_context(
        &self,
        id: &str,
        query: &str,
        revalidate: bool,
    ) -> Result<Context, ClientError> {
        self.within_deadline(self.read_context_once(id, query, revalidate))
            .await
    }

    async fn read_context_once(
        &self,
        id: &str,
        query: &str,
        revalidate: bool,
    ) -> Result<Context, ClientError> {
        // Sent as they are (percent-encoding them changes nothing: `%2E` is `.`), dot segments
        // would leave the prefix wherever the path is normalised on the way (a proxy, a
        // gateway), with the credential: `../admin`. The server refuses them anyway.
        if id
            .split('/')
            .any(|segment| segment == "." || segment == "..")
        {
            return Err(ClientError::InvalidRequest(format!(
                "context id {:?}: a `.` or `..` segment",
                crate::facts::loggable(id)
            )));
        }
        let path: Vec<String> = id
            .split('/')
            .map(|segment| utf8_percent_encode(segment, SEGMENT).to_string())
            .collect();
        let uri = format!("{}/{}{query}", self.inner.rest_uri, path.join("/"));
        let request = |no_store: bool| {
            let mut request = get(&uri)?;
            let directive = match (no_store, revalidate) {
                (true, _) => Some("no-store"),
                (false, true) => Some("no-cache"),
                (false, false) => None,
            };
            if let Some(directive) = directive {
                request
                    .headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static(directive));
            }
            Ok::<_, ClientError>(request)
        };
        let deadline = tokio::time::Instant::now() + self.inner.timeout;
        let mut answer = self.send(request(false)?).await?;
        loop {
            if answer.status == http::StatusCode::NOT_MODIFIED {
                // A 304 reaches us only when the cache lost the entry it revalidated
                // meanwhile: ask once more, past the cache, for the whole answer.
                answer = self.send(request(true)?).await?;
            }
            if answer.status != http::StatusCode::ACCEPTED {
                break;
            }
            let wait = crate::client::retry::retry_after(&answer.headers)
                .unwrap_or(super::MIN_PENDING_WAIT)
                .max(super::MIN_PENDING_WAIT);
            if tokio::time::Instant::now() + wait >= deadline {
                return Err(ClientError::Server(Box::new(ServerError::from_rest(
                    answer.status,
                    &answer.headers,
                    &answer.body,
                ))));
            }
            tokio::time::sleep(wait).await;
            answer = self.send(request(false)?).await?;
        }
        let envelope: ContextEnvelope<'static> = json_answer(&answer)?;
        Ok(Context {
            etag: answer
                .headers
                .get(header::ETAG)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned),
            cache: answer.cache,
            envelope,
        })
    }

    /// `GET {rest}?prefix=&cursor=`: one page of the listing.
    pub async fn list_page(
        &self,
        prefix: Option<&str>,
        cursor: Option<&str>,
    ) -> Result<ContextListing, ClientError> {
        let mut query = Vec::new();
        if let Some(prefix) = prefix {
            query.push(format!("prefix={}", utf8_percent_encode(prefix, SEGMENT)));
        }
        if let Some(cursor) = cursor {
            query.push(format!("cursor={}", utf8_percent_encode(cursor, SEGMENT)));
        }
        let mut uri = self.inner.rest_uri.clone();
        if !query.is_empty() {
            uri.push('?');
            uri.push_str(&query.join("&"));
        }
        json_answer(&self.send(get(&uri)?).await?)
    }

    /// Every context under `prefix` (all of them with `None`), following `nextCursor` to the
    /// last page. At most `max_list_items` entries and pages, all within the client's
    /// deadline (page with [`list_page`](Self::list_page) for a listing that takes longer): a
    /// longer listing, or a cursor handed out twice, is an error rather than an endless loop.
    pub async fn list_contexts(
        &self,
        prefix: Option<&str>,
    ) -> Result<Vec<ContextListItem>, ClientError> {
        self.within_deadline(super::all_pages(
            self.inner.max_list_items,
            |cursor| async move {
                let page = self.list_page(prefix, cursor.as_deref()).await?;
                Ok((page.items, page.next_cursor))
            },
        ))
        .await
    }

    /// `POST {rest}` with `{"ids":[...]}`: several contexts in one request, each with its own
    /// outcome, in the order asked. The read is idempotent, so it is retried like a `GET`.
    pub async fn batch(&self, ids: &[&str]) -> Result<Vec<BatchItem>, ClientError> {
        let body = serde_json::to_vec(&serde_json::json!({ "ids": ids }))
            .map_err(|err| ClientError::InvalidRequest(err.to_string()))?;
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(&self.inner.rest_uri)
            .header(header::ACCEPT, APPLICATION_JSON)
            .header(header::CONTENT_TYPE, APPLICATION_JSON)
            .body(RequestBody::from(body))
            .map_err(|err| ClientError::InvalidRequest(err.to_string()))?;
        request.extensions_mut().insert(Idempotent);
        let answer = self.send(request).await?;
        let results: BatchResults = json_answer(&answer)?;
        if results.results.len() != ids.len()
            || results
                .results
                .iter()
                .zip(ids)
                .any(|(result, id)| result.context_id != *id)
        {
            return Err(ClientError::invalid(
                answer.status,
                "the batch answer does not match the ids asked for",
            ));
        }
        results
            .results
            .into_iter()
            .map(|result| {
                let outcome = match (result.context, result.error) {
                    (Some(context), None) if (200..300).contains(&result.status) => {
                        Ok(serde_json::from_value(context).map_err(|err| {
                            ClientError::invalid(answer.status, format!("batch entry: {err}"))
                        })?)
                    }
                    (None, error) if !(200..300).contains(&result.status) => {
                        let status = http::StatusCode::from_u16(result.status).map_err(|_| {
                            ClientError::invalid(answer.status, "batch entry: invalid status")
                        })?;
                        let body = error.map(|e| e.to_string()).unwrap_or_default();
                        Err(ServerError::from_rest(
                            status,
                            &http::HeaderMap::new(),
                            body.as_bytes(),
                        ))
                    }
                    _ => {
                        return Err(ClientError::invalid(
                            answer.status,
                            "batch entry: a status that does not match its content",
                        ));
                    }
                };
                Ok(BatchItem {
                    context_id: result.context_id,
                    result: outcome,
                })
            })
            .collect()
    }
}

/// A `GET` of `uri` asking for JSON.
fn get(uri: &str) -> Result<Request<RequestBody>, ClientError> {
    Request::get(uri)
        .header(header::ACCEPT, APPLICATION_JSON)
        .body(RequestBody::default())
        .map_err(|err| ClientError::InvalidRequest(format!("{uri}: {err}")))
}

/// A 2xx JSON answer decoded as `T`; an error status decoded as the server's envelope.
fn json_answer<T: DeserializeOwned>(answer: &Answer) -> Result<T, ClientError> {
    if !answer.status.is_success() {
        return Err(ClientError::Server(Box::new(ServerError::from_rest(
            answer.status,
            &answer.headers,
            &answer.body,
        ))));
    }
    let media = answer.media_type();
    if media != "application/json" && !media.ends_with("+json") {
        return Err(ClientError::invalid(
            answer.status,
            format!("expected application/json, got {media:?}"),
        ));
    }
    serde_json::from_slice(&answer.body)
        .map_err(|err| ClientError::invalid(answer.status, format!("not the expected JSON: {err}")))
}
