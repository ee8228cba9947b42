//! Classification of MCP JSON-RPC POSTs: structured requests (the shapes real clients send,
//! with fuzzed headers, ids, methods and `_meta`) and raw bodies. No panics; every rejection is
//! a 4xx with a JSON-RPC envelope; accepted requests re-classify identically after a
//! round-trip through JSON.
#![no_main]

use arbitrary::Arbitrary;
use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use mcp_bastion::error::Dialect;
use mcp_bastion::mcp::protocol::Era;
use mcp_bastion::mcp::{RpcMessage, check_post_headers, classify_rpc};
use serde_json::{Map, Value, json};

const METHODS: [&str; 10] = [
    "initialize",
    "ping",
    "server/discover",
    "resources/list",
    "resources/read",
    "resources/templates/list",
    "tools/call",
    "prompts/get",
    "notifications/initialized",
    "Resources/Read",
];
const VERSIONS: [&str; 6] = [
    "2026-07-28",
    "2025-11-25",
    "2025-06-18",
    "2025-03-26",
    "2024-11-05",
    "",
];

#[derive(Arbitrary, Debug)]
enum Id {
    None,
    Int(i64),
    Text(String),
    Float(f64),
    Null,
}

#[derive(Arbitrary, Debug)]
struct Call {
    id: Id,
    method: Result<u8, String>,
    uri_or_name: Option<String>,
    meta_version: Option<u8>,
    meta_caps: bool,
    jsonrpc_ok: bool,
}

#[derive(Arbitrary, Debug)]
enum Body {
    One(Call),
    Batch(Vec<Call>),
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
struct Input {
    version_header: Option<u8>,
    method_header: Option<Result<u8, String>>,
    name_header: Option<String>,
    accept: Option<String>,
    content_type: Option<String>,
    body: Body,
}

fn pick(choice: &Result<u8, String>, table: &[&str]) -> String {
    match choice {
        Ok(i) => table[usize::from(*i) % table.len()].to_owned(),
        Err(s) => s.clone(),
    }
}

fn call_json(call: &Call) -> Value {
    let method = pick(&call.method, &METHODS);
    let mut params = Map::new();
    if let Some(target) = &call.uri_or_name {
        let key = if method == "resources/read" {
            "uri"
        } else {
            "name"
        };
        params.insert(key.into(), Value::from(target.as_str()));
    }
    let mut meta = Map::new();
    if let Some(v) = call.meta_version {
        meta.insert(
            "io.modelcontextprotocol/protocolVersion".into(),
            Value::from(VERSIONS[usize::from(v) % VERSIONS.len()]),
        );
    }
    if call.meta_caps {
        meta.insert(
            "io.modelcontextprotocol/clientCapabilities".into(),
            json!({}),
        );
    }
    if !meta.is_empty() {
        params.insert("_meta".into(), Value::Object(meta));
    }
    let mut object = Map::new();
    object.insert(
        "jsonrpc".into(),
        Value::from(if call.jsonrpc_ok { "2.0" } else { "1.0" }),
    );
    match &call.id {
        Id::None => {}
        Id::Int(i) => {
            object.insert("id".into(), Value::from(*i));
        }
        Id::Text(s) => {
            object.insert("id".into(), Value::from(s.as_str()));
        }
        Id::Float(f) => {
            object.insert("id".into(), json!(f));
        }
        Id::Null => {
            object.insert("id".into(), Value::Null);
        }
    }
    object.insert("method".into(), Value::from(method));
    object.insert("params".into(), Value::Object(params));
    Value::Object(object)
}

fn insert(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

fuzz_target!(|input: Input| {
    let mut headers = HeaderMap::new();
    if let Some(v) = input.version_header {
        insert(
            &mut headers,
            "mcp-protocol-version",
            VERSIONS[usize::from(v) % VERSIONS.len()],
        );
    }
    if let Some(m) = &input.method_header {
        insert(&mut headers, "mcp-method", &pick(m, &METHODS));
    }
    if let Some(n) = &input.name_header {
        insert(&mut headers, "mcp-name", n);
    }
    if let Some(a) = &input.accept {
        insert(&mut headers, "accept", a);
    }
    if let Some(c) = &input.content_type {
        insert(&mut headers, "content-type", c);
    }
    if let Err(rejection) = check_post_headers(&headers) {
        assert!(rejection.status().is_client_error());
    }
    let body = match &input.body {
        Body::One(call) => serde_json::to_vec(&call_json(call)).unwrap(),
        Body::Batch(calls) => {
            serde_json::to_vec(&Value::Array(calls.iter().map(call_json).collect())).unwrap()
        }
        Body::Raw(bytes) => bytes.clone(),
    };
    match classify_rpc(&headers, &body) {
        Err(rejection) => {
            assert!(rejection.status().is_client_error(), "{rejection}");
            let envelope = rejection.json_rpc_body(None);
            assert_eq!(envelope["jsonrpc"], "2.0");
            assert!(envelope["error"]["code"].is_i64());
            let response = rejection.into_response(Dialect::JsonRpc);
            assert!(response.status().is_client_error());
        }
        Ok(request) => {
            if request.era == Era::Modern {
                assert_eq!(request.version, "2026-07-28");
                assert!(!request.batch);
            }
            // Round trip: the accepted calls, re-encoded, classify to the same request.
            let calls: Vec<Value> = request
                .messages
                .iter()
                .filter_map(|m| match m {
                    RpcMessage::Call(call) => {
                        let mut object =
                            json!({"jsonrpc": "2.0", "method": call.method, "params": call.params});
                        if let Some(id) = &call.id {
                            object["id"] = id.clone();
                        }
                        Some(object)
                    }
                    _ => None,
                })
                .collect();
            if calls.len() == request.messages.len() {
                let again = if request.batch {
                    Value::Array(calls)
                } else {
                    calls.into_iter().next().unwrap()
                };
                let again = classify_rpc(&headers, &serde_json::to_vec(&again).unwrap()).unwrap();
                assert_eq!(again, request);
            }
        }
    }
});
