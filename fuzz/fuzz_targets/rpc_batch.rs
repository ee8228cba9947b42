//! JSON-RPC batches through `mcp::classify` with `Endpoint::default()`: arrays of calls with
//! ids from a small pool (so duplicates are common), fuzzed methods and params, responses and
//! notifications mixed in, padded to around the batch limit, with fuzzed MCP headers.
//!
//! Invariants: a batch with two calls sharing an id is refused; a batch of more than
//! `max_rpc_batch()` messages is refused; an accepted batch is a JSON-RPC `McpRequest` with
//! as many messages as the array, in order, and classifying it again gives the same result;
//! every refusal is a 4xx with a JSON-RPC error envelope.
#![no_main]

use std::sync::OnceLock;

use arbitrary::Arbitrary;
use bytes::Bytes;
use http::{HeaderValue, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use libfuzzer_sys::fuzz_target;
use mcp_bastion::mcp::{Endpoint, McpRequest, Operation, RpcMessage, classify};
use serde_json::{Map, Value, json};
use tokio::runtime::Runtime;

const METHODS: [&str; 8] = [
    "resources/list",
    "resources/read",
    "tools/list",
    "tools/call",
    "prompts/get",
    "ping",
    "initialize",
    "notifications/initialized",
];
const VERSIONS: [&str; 5] = ["2025-03-26", "2025-06-18", "2026-07-28", "1999-01-01", ""];
const ACCEPTS: [&str; 4] = [
    "application/json, text/event-stream",
    "*/*",
    "application/json",
    "text/event-stream;q=0.5, application/*",
];
const CONTENT_TYPES: [&str; 3] = [
    "application/json",
    "application/json; charset=utf-8",
    "text/plain",
];

#[derive(Arbitrary, Debug, Clone)]
enum Id {
    Absent,
    Small(u8),
    Text(u8),
    Big(i64),
    Null,
    Float(u8),
    Other(String),
}

#[derive(Arbitrary, Debug, Clone)]
enum Message {
    Call {
        id: Id,
        method: Result<u8, String>,
        target: Option<String>,
        params_not_object: bool,
    },
    Response {
        id: Id,
        error: bool,
    },
    NotObject(i8),
    WrongVersion(Id),
}

#[derive(Arbitrary, Debug)]
struct Input {
    messages: Vec<Message>,
    /// Notifications appended, to reach and pass the batch limit.
    pad: u8,
    version: Option<u8>,
    accept: u8,
    content_type: u8,
}

fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    })
}

fn id_json(id: &Id) -> Option<Value> {
    match id {
        Id::Absent => None,
        Id::Small(n) => Some(json!(n % 4)),
        Id::Text(n) => Some(json!(format!("id-{}", n % 4))),
        Id::Big(n) => Some(json!(n)),
        Id::Null => Some(Value::Null),
        Id::Float(n) => Some(json!(f64::from(*n % 4) + 0.5)),
        Id::Other(text) => Some(json!(text)),
    }
}

fn message_json(message: &Message) -> Value {
    match message {
        Message::Call {
            id,
            method,
            target,
            params_not_object,
        } => {
            let method = match method {
                Ok(i) => METHODS[usize::from(*i) % METHODS.len()].to_owned(),
                Err(other) => other.clone(),
            };
            let mut object = Map::new();
            object.insert("jsonrpc".into(), json!("2.0"));
            if let Some(id) = id_json(id) {
                object.insert("id".into(), id);
            }
            let params = if *params_not_object {
                json!([1, 2])
            } else {
                match target {
                    Some(target) if method == "resources/read" => json!({ "uri": target }),
                    Some(target) => json!({ "name": target }),
                    None => json!({}),
                }
            };
            object.insert("method".into(), json!(method));
            object.insert("params".into(), params);
            Value::Object(object)
        }
        Message::Response { id, error } => {
            let mut object = Map::new();
            object.insert("jsonrpc".into(), json!("2.0"));
            if let Some(id) = id_json(id) {
                object.insert("id".into(), id);
            }
            if *error {
                object.insert("error".into(), json!({"code": -1, "message": "no"}));
            } else {
                object.insert("result".into(), json!({}));
            }
            Value::Object(object)
        }
        Message::NotObject(n) => json!(n),
        Message::WrongVersion(id) => {
            let mut object = json!({"jsonrpc": "1.0", "method": "ping"});
            if let Some(id) = id_json(id) {
                object["id"] = id;
            }
            object
        }
    }
}

/// A call (has a `method`) with an id the classifier accepts (a string or an integer).
fn call_id(message: &Value) -> Option<String> {
    message.get("method")?;
    let id = message.get("id")?;
    let valid = id.is_string() || id.is_i64() || id.is_u64();
    valid.then(|| id.to_string())
}

fn request(input: &Input, body: &[u8]) -> Request<Full<Bytes>> {
    let mut request = Request::post("/mcp")
        .body(Full::from(Bytes::copy_from_slice(body)))
        .unwrap();
    let headers = request.headers_mut();
    headers.insert(
        http::header::ACCEPT,
        HeaderValue::from_static(ACCEPTS[usize::from(input.accept) % ACCEPTS.len()]),
    );
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(
            CONTENT_TYPES[usize::from(input.content_type) % CONTENT_TYPES.len()],
        ),
    );
    if let Some(v) = input.version {
        headers.insert(
            "mcp-protocol-version",
            HeaderValue::from_static(VERSIONS[usize::from(v) % VERSIONS.len()]),
        );
    }
    request
}

/// The classification, or the refusal's status and body.
async fn settle<R, B>(
    outcome: Result<Request<R>, http::Response<B>>,
) -> Result<Option<McpRequest>, (StatusCode, Bytes)>
where
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    match outcome {
        Ok(request) => Ok(request.extensions().get::<McpRequest>().cloned()),
        Err(response) => {
            let status = response.status();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            Err((status, body))
        }
    }
}

fuzz_target!(|input: Input| {
    let endpoint = Endpoint::default();
    let max = endpoint.max_rpc_batch();
    let mut array: Vec<Value> = input.messages.iter().map(message_json).collect();
    let pad = usize::from(input.pad) % (max + 8);
    array.extend(std::iter::repeat_n(
        json!({"jsonrpc": "2.0", "method": "notifications/progress"}),
        pad,
    ));
    let body = serde_json::to_vec(&Value::Array(array.clone())).unwrap();
    let ids: Vec<String> = array.iter().filter_map(call_id).collect();
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    let duplicate_ids = unique.len() != ids.len();

    let (first, second) = runtime().block_on(async {
        let first = classify(&endpoint, request(&input, &body)).await;
        let second = classify(&endpoint, request(&input, &body)).await;
        (settle(first).await, settle(second).await)
    });
    match &first {
        Ok(classified) => {
            let classified = classified.as_ref().expect("classify leaves an McpRequest");
            let Operation::JsonRpc(rpc) = &classified.operation else {
                panic!("a POST to /mcp is JSON-RPC: {classified:?}");
            };
            assert!(
                !duplicate_ids,
                "a batch with duplicate ids was accepted: {ids:?}"
            );
            assert!(array.len() <= max, "{} messages accepted", array.len());
            assert!(rpc.batch);
            assert_eq!(rpc.messages.len(), array.len());
            for (message, sent) in rpc.messages.iter().zip(&array) {
                match message {
                    RpcMessage::Call(call) => {
                        assert_eq!(
                            Some(&call.method),
                            sent["method"].as_str().map(str::to_owned).as_ref()
                        );
                        assert_eq!(call.id.as_ref(), sent.get("id"));
                    }
                    RpcMessage::Response => assert!(sent.get("method").is_none()),
                    _ => {}
                }
            }
            assert_eq!(first, second, "classification is deterministic");
        }
        Err((status, body)) => {
            assert!(status.is_client_error(), "refused with {status}");
            let envelope: Value = serde_json::from_slice(body).expect("a JSON refusal");
            assert_eq!(envelope["jsonrpc"], "2.0", "{envelope}");
            assert!(envelope["error"]["code"].is_i64(), "{envelope}");
            match &second {
                Err((again, _)) => assert_eq!(status, again, "classification is deterministic"),
                Ok(_) => panic!("classification is not deterministic"),
            }
        }
    }
});
