//! The MCP endpoint: the handshake of whichever protocol generation the server speaks
//! (`server/discover`, else `initialize`), then `resources/list` and `resources/read`, with
//! answers as JSON or as an event stream.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use http::{HeaderName, HeaderValue, Method, Request, StatusCode, header};
use serde_json::{Map, Value, json};

use super::transport::{Answer, RequestBody};
use super::{ClientError, Era, McpClient, ReadResult, ServerDescription, ServerError};
use crate::client::retry::Idempotent;
use crate::mcp::protocol::{
    HEADER_METHOD, HEADER_NAME, HEADER_PROTOCOL_VERSION, HEADER_SESSION_ID, LEGACY_VERSIONS,
    META_CLIENT_CAPABILITIES, META_PENDING, META_PROTOCOL_VERSION, META_SERVER_INFO,
    MODERN_VERSION, RESULT_TYPE_PENDING,
};
use crate::mcp::wire::{Resource, ResourceList};

/// What a POST to the MCP endpoint accepts (Streamable HTTP requires both).
const ACCEPT_BOTH: HeaderValue = HeaderValue::from_static("application/json, text/event-stream");
/// JSON-RPC: method not found; invalid request; invalid params; unsupported protocol version.
const NOT_SPOKEN: [i64; 4] = [-32601, -32600, -32602, -32022];
/// Longest `Mcp-Session-Id` accepted from a server.
const MAX_SESSION_ID_LEN: usize = 1024;

impl McpClient {
    /// Agrees on a protocol with the server, once for all clones: `server/discover`
    /// (2026-07-28, stateless), or the `initialize` handshake (2025-11-25 down to 2025-03-26)
    /// when the server does not speak the stateless generation. Calls that need it connect
    /// by themselves. The handshake (and the wait for another caller's) keeps to the client's
    /// deadline.
    pub async fn connect(&self) -> Result<Arc<ServerDescription>, ClientError> {
        self.within_deadline(self.connect_once()).await
    }

    async fn connect_once(&self) -> Result<Arc<ServerDescription>, ClientError> {
        let mut server = self.inner.server.lock().await;
        if let Some(description) = server.as_ref() {
            return Ok(Arc::clone(description));
        }
        let description = Arc::new(self.handshake().await?);
        *server = Some(Arc::clone(&description));
        Ok(description)
    }

    /// One page of `resources/list`.
    pub async fn resources_page(&self, cursor: Option<&str>) -> Result<ResourceList, ClientError> {
        let mut params = Map::new();
        if let Some(cursor) = cursor {
            params.insert("cursor".into(), Value::from(cursor));
        }
        let result = self.call("resources/list", params, None).await?;
        decode(result, "resources/list")
    }

    /// Every resource, following `nextCursor` (bounded like
    /// [`list_contexts`](Self::list_contexts), all pages within the client's deadline).
    pub async fn list_resources(&self) -> Result<Vec<Resource>, ClientError> {
        self.within_deadline(super::all_pages(
            self.inner.max_list_items,
            |cursor| async move {
                let page = self.resources_page(cursor.as_deref()).await?;
                Ok((page.resources, page.next_cursor))
            },
        ))
        .await
    }

    /// `resources/read` of `uri` (`ctx://project-alpha/dependency-graph`).
    ///
    /// A resource still being generated (a pending result: `resultType: "pending"`, or the
    /// `_meta` key [`META_PENDING`]) is read again after its `retryAfterMs` (at least a
    /// quarter second) while the client's deadline allows; when the next wait would pass it,
    /// the call returns at once with [`ClientError::Server`] carrying the retry hint.
    pub async fn read_resource(&self, uri: &str) -> Result<ReadResult, ClientError> {
        let mut params = Map::new();
        params.insert("uri".into(), Value::from(uri));
        let deadline = tokio::time::Instant::now() + self.inner.timeout;
        self.within_deadline(async {
            loop {
                let result = self
                    .call_once("resources/read", params.clone(), Some(uri))
                    .await?;
                let Some(wait) = pending_wait(&result) else {
                    return decode(result, "resources/read");
                };
                if tokio::time::Instant::now() + wait >= deadline {
                    let mut pending = ServerError::bare(StatusCode::OK, &http::HeaderMap::new());
                    "the resource is still being generated".clone_into(&mut pending.message);
                    pending.retry_after = Some(wait);
                    return Err(ClientError::Server(Box::new(pending)));
                }
                tokio::time::sleep(wait).await;
            }
        })
        .await
    }

    /// A read-only method call: connects first; a stateful session the server forgot (`404`)
    /// is started again once. All of it within the client's deadline.
    async fn call(
        &self,
        method: &str,
        params: Map<String, Value>,
        name: Option<&str>,
    ) -> Result<Value, ClientError> {
        self.within_deadline(self.call_once(method, params, name))
            .await
    }

    async fn call_once(
        &self,
        method: &str,
        params: Map<String, Value>,
        name: Option<&str>,
    ) -> Result<Value, ClientError> {
        let server = self.connect_once().await?;
        let outcome = self.exchange(&server, method, params.clone(), name).await;
        let expired = matches!(
            &server.era,
            Era::Initialized {
                session_id: Some(_),
                ..
            }
        ) && matches!(&outcome, Err(ClientError::Server(e)) if e.status == StatusCode::NOT_FOUND);
        if !expired {
            return outcome;
        }
        {
            let mut current = self.inner.server.lock().await;
            if current.as_ref().is_some_and(|c| Arc::ptr_eq(c, &server)) {
                *current = None;
            }
        }
        let server = self.connect_once().await?;
        self.exchange(&server, method, params, name).await
    }

    async fn handshake(&self) -> Result<ServerDescription, ClientError> {
        let stateless = ServerDescription {
            era: Era::Stateless,
            protocol_version: MODERN_VERSION.to_owned(),
            capabilities: Value::Null,
            server_info: None,
            instructions: None,
        };
        match self
            .exchange(&stateless, "server/discover", Map::new(), None)
            .await
        {
            Ok(result) => {
                let speaks_it = result
                    .get("supportedVersions")
                    .and_then(Value::as_array)
                    .is_some_and(|versions| versions.iter().any(|v| v == MODERN_VERSION));
                if speaks_it {
                    return Ok(ServerDescription {
                        capabilities: result.get("capabilities").cloned().unwrap_or_default(),
                        server_info: result
                            .pointer(&format!("/_meta/{}", META_SERVER_INFO.replace('/', "~1")))
                            .cloned(),
                        instructions: instructions(&result),
                        ..stateless
                    });
                }
            }
            Err(ClientError::Server(refused)) if not_spoken(&refused) => {}
            Err(other) => return Err(other),
        }
        self.initialize().await
    }

    async fn initialize(&self) -> Result<ServerDescription, ClientError> {
        let mut params = Map::new();
        params.insert("protocolVersion".into(), Value::from(LEGACY_VERSIONS[0]));
        params.insert("capabilities".into(), json!({}));
        params.insert(
            "clientInfo".into(),
            json!({ "name": "mcp-bastion", "version": env!("CARGO_PKG_VERSION") }),
        );
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let body = json!({ "jsonrpc": "2.0", "id": id, "method": "initialize", "params": params });
        let request = post(&self.inner.mcp_uri, &body, &[])?;
        let answer = self.send(request).await?;
        let session_id = answer
            .headers
            .get(HEADER_SESSION_ID)
            .map(|value| {
                let bytes = value.as_bytes();
                // Visible ASCII, as the transport specification requires.
                let valid = bytes.len() <= MAX_SESSION_ID_LEN
                    && bytes.iter().all(|b| (0x21..=0x7e).contains(b));
                value
                    .to_str()
                    .ok()
                    .filter(|_| valid)
                    .map(str::to_owned)
                    .ok_or_else(|| ClientError::invalid(answer.status, "invalid Mcp-Session-Id"))
            })
            .transpose()?;
        let result = rpc_result(&answer, id)?;
        let version = result
            .get("protocolVersion")
            .and_then(Value::as_str)
            .and_then(|v| LEGACY_VERSIONS.iter().find(|known| **known == v))
            .ok_or_else(|| {
                ClientError::invalid(
                    answer.status,
                    "initialize: a protocol version this client does not speak",
                )
            })?;
        let description = ServerDescription {
            era: Era::Initialized {
                version: (*version).to_owned(),
                session_id,
            },
            protocol_version: (*version).to_owned(),
            capabilities: result.get("capabilities").cloned().unwrap_or_default(),
            server_info: result.get("serverInfo").cloned(),
            instructions: instructions(&result),
        };
        let notification = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
        let headers = era_headers(&description, "notifications/initialized", None)?;
        let answer = self
            .send(post(&self.inner.mcp_uri, &notification, &headers)?)
            .await?;
        if !answer.status.is_success() {
            return Err(ClientError::Server(Box::new(ServerError::from_rest(
                answer.status,
                &answer.headers,
                &answer.body,
            ))));
        }
        Ok(description)
    }

    /// One JSON-RPC call of a read-only method in the agreed protocol; its `result`.
    async fn exchange(
        &self,
        server: &ServerDescription,
        method: &str,
        mut params: Map<String, Value>,
        name: Option<&str>,
    ) -> Result<Value, ClientError> {
        if server.era == Era::Stateless {
            let meta = params
                .entry("_meta")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(meta) = meta {
                meta.insert(META_PROTOCOL_VERSION.into(), Value::from(MODERN_VERSION));
                meta.insert(META_CLIENT_CAPABILITIES.into(), json!({}));
            }
        }
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let body = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
        let headers = era_headers(server, method, name)?;
        let mut request = post(&self.inner.mcp_uri, &body, &headers)?;
        request.extensions_mut().insert(Idempotent);
        let answer = self.send(request).await?;
        rpc_result(&answer, id)
    }
}

/// Whether a refusal of `server/discover` means "not this protocol generation" (then the
/// client tries `initialize`) rather than "not you" (401, 403, 429: returned as they are).
fn not_spoken(refused: &ServerError) -> bool {
    refused
        .json_rpc_code
        .is_some_and(|code| NOT_SPOKEN.contains(&code))
        || matches!(
            refused.status,
            StatusCode::BAD_REQUEST
                | StatusCode::NOT_FOUND
                | StatusCode::METHOD_NOT_ALLOWED
                | StatusCode::NOT_ACCEPTABLE
                | StatusCode::UNSUPPORTED_MEDIA_TYPE
        )
}

fn instructions(result: &Value) -> Option<String> {
    result
        .get("instructions")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// The headers of a request in the agreed protocol.
fn era_headers(
    server: &ServerDescription,
    method: &str,
    name: Option<&str>,
) -> Result<Vec<(HeaderName, HeaderValue)>, ClientError> {
    let value = |text: &str| {
        HeaderValue::from_str(text).map_err(|_| {
            ClientError::InvalidRequest(format!("{text:?} cannot be sent in a header"))
        })
    };
    let mut headers = vec![(
        HeaderName::from_static(HEADER_PROTOCOL_VERSION),
        value(&server.protocol_version)?,
    )];
    match &server.era {
        Era::Stateless => {
            headers.push((HeaderName::from_static(HEADER_METHOD), value(method)?));
            if let Some(name) = name {
                headers.push((HeaderName::from_static(HEADER_NAME), value(name)?));
            }
        }
        Era::Initialized { session_id, .. } => {
            if let Some(session) = session_id {
                headers.push((HeaderName::from_static(HEADER_SESSION_ID), value(session)?));
            }
        }
    }
    Ok(headers)
}

/// A JSON-RPC POST to the MCP endpoint.
fn post(
    uri: &str,
    body: &Value,
    headers: &[(HeaderName, HeaderValue)],
) -> Result<Request<RequestBody>, ClientError> {
    let bytes =
        serde_json::to_vec(body).map_err(|err| ClientError::InvalidRequest(err.to_string()))?;
    let mut request = Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header(header::ACCEPT, ACCEPT_BOTH)
        .header(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )
        .body(RequestBody::from(bytes))
        .map_err(|err| ClientError::InvalidRequest(format!("{uri}: {err}")))?;
    request.headers_mut().extend(headers.iter().cloned());
    Ok(request)
}

/// The `result` of the JSON-RPC answer to call `id`, from a JSON body or an event stream; its
/// `error` as [`ServerError`].
fn rpc_result(answer: &Answer, id: u64) -> Result<Value, ClientError> {
    let message = match answer.media_type().as_str() {
        "application/json" => serde_json::from_slice::<Value>(&answer.body)
            .ok()
            .filter(|message| answers(message, id)),
        "text/event-stream" => super::sse::data(&answer.body)
            .filter_map(|data| serde_json::from_str::<Value>(&data).ok())
            .find(|message| answers(message, id)),
        _ => None,
    };
    let Some(mut message) = message else {
        if !answer.status.is_success() {
            return Err(ClientError::Server(Box::new(ServerError::from_rest(
                answer.status,
                &answer.headers,
                &answer.body,
            ))));
        }
        return Err(ClientError::invalid(
            answer.status,
            format!(
                "no JSON-RPC answer to call {id} (content type {:?})",
                answer.media_type()
            ),
        ));
    };
    if let Some(error) = message.get("error") {
        return Err(ClientError::Server(Box::new(ServerError::from_rpc(
            answer.status,
            &answer.headers,
            error,
        ))));
    }
    match message.get_mut("result").map(Value::take) {
        Some(result) if answer.status.is_success() => Ok(result),
        _ => Err(ClientError::invalid(
            answer.status,
            "a JSON-RPC answer without a result or error",
        )),
    }
}

/// Whether `message` is the JSON-RPC answer to call `id` (or an error about no call in
/// particular: `id` null, as a server answers a request it could not read).
fn answers(message: &Value, id: u64) -> bool {
    let is_answer = message.get("jsonrpc").and_then(Value::as_str) == Some("2.0")
        && (message.get("result").is_some() || message.get("error").is_some());
    is_answer
        && match message.get("id") {
            Some(Value::Number(number)) => number.as_u64() == Some(id),
            Some(Value::Null) => message.get("error").is_some(),
            _ => false,
        }
}

/// How long to wait before reading again, when `result` says the resource is still being
/// generated.
fn pending_wait(result: &Value) -> Option<std::time::Duration> {
    let marker = result.get("_meta").and_then(|meta| meta.get(META_PENDING));
    let typed = result.get("resultType").and_then(Value::as_str) == Some(RESULT_TYPE_PENDING);
    if marker.is_none() && !typed {
        return None;
    }
    let millis = marker
        .and_then(|marker| marker.get("retryAfterMs"))
        .or_else(|| result.get("retryAfterMs"))
        .and_then(Value::as_u64)
        .unwrap_or(0);
    Some(std::time::Duration::from_millis(millis).max(super::MIN_PENDING_WAIT))
}

fn decode<T: serde::de::DeserializeOwned>(result: Value, method: &str) -> Result<T, ClientError> {
    serde_json::from_value(result)
        .map_err(|err| ClientError::invalid(StatusCode::OK, format!("{method} result: {err}")))
}
