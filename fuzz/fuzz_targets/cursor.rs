//! Pagination cursors from clients: `McpService` over a `StaticSource` of a few contexts,
//! asked for `GET /context?cursor=…&limit=…` and a JSON-RPC `resources/list` with a fuzzed
//! `params.cursor`.
//!
//! Invariants: never a 5xx; a cursor the server did not hand out in this run (every page of
//! every listing is walked first to collect them) is refused: 400 on REST, a JSON-RPC error
//! on MCP; a cursor it did hand out is honoured (200, a page).
#![no_main]

use std::collections::BTreeSet;
use std::sync::OnceLock;

use arbitrary::Arbitrary;
use bytes::Bytes;
use http::{Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use libfuzzer_sys::fuzz_target;
use mcp_bastion::context::{ContextEntry, ContextId, StaticSource};
use mcp_bastion::mcp::{Endpoint, McpService};
use serde_json::{Value, json};
use tokio::runtime::Runtime;
use tower::ServiceExt;

const IDS: [&str; 5] = [
    "project-alpha/dependency-graph",
    "project-alpha/design",
    "public-docs/getting-started",
    "public-docs/z",
    "zeta",
];
/// The REST limits the cursors are collected for (and a few invalid ones fuzzing may try).
const LIMITS: [&str; 8] = ["1", "2", "3", "4", "5", "0", "-1", "x"];

struct Fixture {
    runtime: Runtime,
    service: McpService<StaticSource>,
    /// Every `nextCursor` the service handed out: in REST listings, in MCP ones, and both.
    rest_cursors: BTreeSet<String>,
    mcp_cursors: BTreeSet<String>,
    handed_out: BTreeSet<String>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let mut source = StaticSource::new();
        for id in IDS {
            source = source.with_context(
                ContextId::parse(id).unwrap(),
                ContextEntry::text("doc", "markdown", format!("# {id}")),
            );
        }
        let endpoint = Endpoint::builder().page_size(2).build().unwrap();
        let service = McpService::with_endpoint(source, endpoint);
        let mut rest_cursors = BTreeSet::new();
        let mut mcp_cursors = BTreeSet::new();
        runtime.block_on(async {
            for limit in &LIMITS[..5] {
                let mut cursor: Option<String> = None;
                loop {
                    let (status, body) = send(&service, rest(cursor.as_deref(), limit)).await;
                    assert_eq!(status, StatusCode::OK, "walking the REST pages");
                    let Some(next) = body["nextCursor"].as_str() else {
                        break;
                    };
                    assert!(rest_cursors.len() < 64, "pagination does not end");
                    rest_cursors.insert(next.to_owned());
                    cursor = Some(next.to_owned());
                }
            }
            let mut cursor: Option<String> = None;
            loop {
                let (status, body) = send(&service, rpc(cursor.as_ref().map(|c| json!(c)))).await;
                assert_eq!(status, StatusCode::OK, "walking the MCP pages");
                let Some(next) = body["result"]["nextCursor"].as_str() else {
                    break;
                };
                assert!(mcp_cursors.len() < 64, "pagination does not end");
                mcp_cursors.insert(next.to_owned());
                cursor = Some(next.to_owned());
            }
        });
        assert!(
            !rest_cursors.is_empty() && !mcp_cursors.is_empty(),
            "5 contexts in pages of 2 need cursors"
        );
        let handed_out = rest_cursors.union(&mcp_cursors).cloned().collect();
        Fixture {
            runtime,
            service,
            rest_cursors,
            mcp_cursors,
            handed_out,
        }
    })
}

fn percent(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn rest(cursor: Option<&str>, limit: &str) -> Request<Full<Bytes>> {
    let mut uri = format!("/context?limit={limit}");
    if let Some(cursor) = cursor {
        uri.push_str("&cursor=");
        uri.push_str(&percent(cursor));
    }
    Request::get(uri).body(Full::default()).unwrap()
}

fn rpc(cursor: Option<Value>) -> Request<Full<Bytes>> {
    let mut params = json!({});
    if let Some(cursor) = cursor {
        params["cursor"] = cursor;
    }
    let body = json!({"jsonrpc": "2.0", "id": 7, "method": "resources/list", "params": params});
    Request::post("/mcp")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream")
        .body(Full::from(serde_json::to_vec(&body).unwrap()))
        .unwrap()
}

async fn send(
    service: &McpService<StaticSource>,
    request: Request<Full<Bytes>>,
) -> (StatusCode, Value) {
    let response = match service.clone().oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

#[derive(Arbitrary, Debug)]
enum Cursor {
    /// One the server handed out, by index.
    HandedOut(u8),
    /// One the server handed out, changed at one byte.
    Changed(u8, u8, u8),
    /// One the server handed out, with text appended.
    Extended(u8, String),
    Text(String),
}

#[derive(Arbitrary, Debug)]
struct Input {
    cursor: Cursor,
    limit: u8,
    /// Send the cursor to MCP as this JSON instead of a string.
    rpc_raw: Option<u8>,
}

fuzz_target!(|input: Input| {
    let fixture = fixture();
    let known: Vec<&String> = fixture.handed_out.iter().collect();
    let pick = |i: u8| known[usize::from(i) % known.len()].clone();
    let cursor = match &input.cursor {
        Cursor::HandedOut(i) => pick(*i),
        Cursor::Changed(i, at, to) => {
            let mut bytes = pick(*i).into_bytes();
            let at = usize::from(*at) % bytes.len();
            bytes[at] = *to;
            String::from_utf8_lossy(&bytes).into_owned()
        }
        Cursor::Extended(i, tail) => format!("{}{tail}", pick(*i)),
        Cursor::Text(text) => text.clone(),
    };
    let handed_out = fixture.handed_out.contains(&cursor);
    let limit = LIMITS[usize::from(input.limit) % LIMITS.len()];
    let valid_limit = limit.parse::<u8>().is_ok_and(|l| l >= 1);
    let rpc_cursor = match input.rpc_raw {
        None => json!(cursor),
        Some(0) => Value::Null,
        Some(1) => json!(7),
        Some(2) => json!([cursor]),
        Some(_) => json!({ "cursor": cursor }),
    };
    // What MCP should do: `null` is no cursor (the first page), other non-strings are errors.
    let rpc_accepts = match &rpc_cursor {
        Value::Null => Some(true),
        Value::String(text) if fixture.mcp_cursors.contains(text) => Some(true),
        Value::String(_) if handed_out => None,
        _ => Some(false),
    };
    fixture.runtime.block_on(async {
        let (status, body) = send(&fixture.service, rest(Some(&cursor), limit)).await;
        assert!(!status.is_server_error(), "REST {status}: {body}");
        if !handed_out {
            assert_eq!(
                status,
                StatusCode::BAD_REQUEST,
                "REST accepted the cursor {cursor:?}, which the server never handed out: {body}"
            );
        } else if valid_limit && fixture.rest_cursors.contains(&cursor) {
            assert_eq!(
                status,
                StatusCode::OK,
                "REST refused its own cursor: {body}"
            );
            assert!(body["items"].is_array());
        }

        let (status, body) = send(&fixture.service, rpc(Some(rpc_cursor))).await;
        assert!(!status.is_server_error(), "MCP {status}: {body}");
        assert_eq!(body["id"], 7, "{body}");
        match rpc_accepts {
            Some(false) => assert!(
                body.get("error").is_some() && body.get("result").is_none(),
                "MCP accepted the cursor {cursor:?}, which the server never handed out: {body}"
            ),
            Some(true) => {
                assert_eq!(status, StatusCode::OK);
                assert!(
                    body["result"]["resources"].is_array(),
                    "MCP refused: {body}"
                );
            }
            // A REST cursor on MCP: either answer is fine.
            None => {}
        }
    });
});
