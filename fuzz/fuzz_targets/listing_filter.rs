//! `PolicyLayer` filtering the listings of an inner MCP server: a JSON-RPC `resources/list`,
//! `tools/list` or `prompts/list` (alone or in a batch) from a principal in the request
//! extensions, answered by a `service_fn` with a fuzz-built body (JSON or an event stream,
//! matching ids or not, valid or broken listings, any line endings).
//!
//! Invariants: the status is 2xx (filtered) or 502 (refused: what cannot be read is not
//! passed on); read as a client reads it (an event stream split at CR, LF or CRLF), no answer
//! to a listing the request asked for names a resource URI, tool or prompt the policy denies
//! to that principal; and the filter removes only those: each such answer is the inner one
//! without the denied entries.
//!
//! An answer is the one to a listing when its `id` is that request's id as JSON (`1`, not
//! `1.0` or `"1"`); the other ids are generated too, but not checked.
#![no_main]

use std::convert::Infallible;
use std::sync::OnceLock;

use arbitrary::Arbitrary;
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use libfuzzer_sys::fuzz_target;
use mcp_bastion::mcp::{Endpoint, RequestBody};
use mcp_bastion::policy::{Action, Policy, PolicyHandle, PolicyLayer, RequestAttributes, Target};
use mcp_bastion::principal::{AuthMethod, Principal};
use serde_json::{Value, json};
use tokio::runtime::Runtime;
use tower::{Layer, ServiceExt, service_fn};

const POLICY: &str = r#"
roles = ["developer", "guest"]

[[rules]]
id = "developers"
effect = "allow"
roles = ["developer"]
actions = ["read", "list", "call"]
contexts = ["project-alpha/**", "public/**"]
resources = ["https://docs.example/**"]
tools = ["search", "build-*"]
prompts = ["summarise", "review-*"]

[[rules]]
id = "guests"
effect = "allow"
roles = ["guest"]
actions = ["read", "list", "call"]
contexts = ["public/**"]
tools = ["search"]
prompts = ["summarise"]

[[rules]]
id = "no-secrets"
effect = "deny"
roles = ["*"]
actions = ["*"]
contexts = ["**/secret"]
tools = ["*-admin"]
prompts = ["leak*"]
"#;

/// Names and URIs the answers list (or a fuzzed one).
const NAMES: [&str; 16] = [
    "ctx://project-alpha/dependency-graph",
    "ctx://public/readme",
    "ctx://project-alpha/secret",
    "ctx://other/x",
    "CTX://public/readme",
    "https://docs.example/a",
    "https://evil.example/x",
    "search",
    "build-42",
    "db-admin",
    "delete",
    "summarise",
    "review-pr",
    "leak-keys",
    "",
    "ctx://public/%73ecret",
];
const METHODS: [&str; 3] = ["resources/list", "tools/list", "prompts/list"];
const CONTENT_TYPES: [&str; 6] = [
    "application/json",
    "text/event-stream",
    "text/event-stream; charset=utf-8",
    "TEXT/EVENT-STREAM",
    "application/json; charset=utf-8",
    "text/plain",
];
const LINE_ENDINGS: [&str; 3] = ["\n", "\r\n", "\r"];
const PRELUDES: [&str; 5] = [
    "event: message",
    "id: 4",
    ": keep-alive",
    "retry: 100",
    "data:",
];

struct Fixture {
    runtime: Runtime,
    policy: PolicyHandle,
    layer: PolicyLayer,
    endpoint: Endpoint,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let policy = PolicyHandle::new(Policy::from_toml(POLICY).unwrap());
        Fixture {
            runtime: tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap(),
            layer: PolicyLayer::new(policy.clone()),
            policy,
            endpoint: Endpoint::default(),
        }
    })
}

fn principal(choice: u8) -> Principal {
    match choice % 4 {
        0 => Principal::new("dev", AuthMethod::ApiKey).with_role("developer"),
        1 => Principal::new("guest", AuthMethod::ApiKey).with_role("guest"),
        2 => Principal::new("both", AuthMethod::Jwt)
            .with_role("guest")
            .with_role("developer"),
        _ => Principal::anonymous(),
    }
}

#[derive(Arbitrary, Debug)]
enum Name {
    Known(u8),
    Fuzzed(String),
}

#[derive(Arbitrary, Debug)]
struct Item {
    name: Name,
    /// Resources need a `name` besides the `uri`; without it the listing is unreadable.
    has_name: bool,
    extra: Option<(String, String)>,
}

#[derive(Arbitrary, Debug)]
enum AnswerId {
    /// The id of the n-th listing asked for.
    Asked(u8),
    /// That id as a float, or as a string.
    AsFloat(u8),
    AsText(u8),
    Other(i8),
    Absent,
}

#[derive(Arbitrary, Debug)]
enum Payload {
    /// A list result of the kind (resources, tools, prompts) picked.
    List {
        kind: u8,
        items: Vec<Item>,
        next_cursor: Option<String>,
    },
    Error,
    Result(String),
}

#[derive(Arbitrary, Debug)]
struct AnswerMessage {
    id: AnswerId,
    payload: Payload,
    /// Event-stream framing: a line before `data:`, the line ending, and whether to split
    /// the JSON over two `data:` lines.
    prelude: Option<u8>,
    line_ending: u8,
    space_after_colon: bool,
    split_at: Option<u8>,
}

#[derive(Arbitrary, Debug)]
enum Answer {
    Messages {
        messages: Vec<AnswerMessage>,
        /// For JSON: one array instead of the first message alone.
        array: bool,
    },
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
struct Input {
    principal: u8,
    /// The listings asked for (method index each); more than one makes a batch.
    asked: Vec<u8>,
    content_type: u8,
    answer: Answer,
}

fn asked_id(index: usize) -> Value {
    if index % 2 == 0 {
        json!(index + 1)
    } else {
        json!(format!("req-{index}"))
    }
}

fn name_text(name: &Name) -> String {
    match name {
        Name::Known(i) => NAMES[usize::from(*i) % NAMES.len()].to_owned(),
        Name::Fuzzed(text) => text.clone(),
    }
}

fn message_json(message: &AnswerMessage, asked: usize) -> Value {
    let mut object = json!({"jsonrpc": "2.0"});
    let pick = |i: u8| usize::from(i) % asked.max(1);
    match &message.id {
        AnswerId::Asked(i) => object["id"] = asked_id(pick(*i)),
        AnswerId::AsFloat(i) => {
            object["id"] = json!(f64::from(u8::try_from(pick(*i) + 1).unwrap_or(1)))
        }
        AnswerId::AsText(i) => object["id"] = json!(asked_id(pick(*i)).to_string()),
        AnswerId::Other(n) => object["id"] = json!(n),
        AnswerId::Absent => {}
    }
    match &message.payload {
        Payload::List {
            kind,
            items,
            next_cursor,
        } => {
            let kind = usize::from(*kind) % 3;
            let entries: Vec<Value> = items
                .iter()
                .map(|item| {
                    let name = name_text(&item.name);
                    let mut entry = if kind == 0 {
                        let mut entry = json!({ "uri": name });
                        if item.has_name {
                            entry["name"] = json!("entry");
                        }
                        entry
                    } else {
                        json!({ "name": name })
                    };
                    if let Some((key, value)) = &item.extra {
                        entry[key.as_str()] = json!(value);
                    }
                    entry
                })
                .collect();
            let key = ["resources", "tools", "prompts"][kind];
            object["result"] = json!({ key: entries });
            if let Some(cursor) = next_cursor {
                object["result"]["nextCursor"] = json!(cursor);
            }
        }
        Payload::Error => object["error"] = json!({"code": -32603, "message": "upstream"}),
        Payload::Result(text) => object["result"] = json!({ "text": text }),
    }
    object
}

/// The inner server's body for `answer` with this content type.
fn body(answer: &Answer, sse: bool, asked: usize) -> Vec<u8> {
    let (messages, array) = match answer {
        Answer::Raw(bytes) => return bytes.clone(),
        Answer::Messages { messages, array } => (messages, *array),
    };
    if !sse {
        let values: Vec<Value> = messages.iter().map(|m| message_json(m, asked)).collect();
        let document = if array || values.is_empty() {
            Value::Array(values)
        } else {
            values.into_iter().next().unwrap()
        };
        return serde_json::to_vec(&document).unwrap();
    }
    let mut out = String::new();
    for message in messages {
        let ending = LINE_ENDINGS[usize::from(message.line_ending) % LINE_ENDINGS.len()];
        if let Some(prelude) = message.prelude {
            out.push_str(PRELUDES[usize::from(prelude) % PRELUDES.len()]);
            out.push_str(ending);
        }
        let json = serde_json::to_string(&message_json(message, asked)).unwrap();
        let prefix = if message.space_after_colon {
            "data: "
        } else {
            "data:"
        };
        let at = message
            .split_at
            .map(|at| usize::from(at) % json.len())
            .filter(|at| *at > 0 && json.is_char_boundary(*at));
        match at {
            Some(at) => {
                for part in [&json[..at], &json[at..]] {
                    out.push_str(prefix);
                    out.push_str(part);
                    out.push_str(ending);
                }
            }
            None => {
                out.push_str(prefix);
                out.push_str(&json);
                out.push_str(ending);
            }
        }
        out.push_str(ending);
    }
    out.into_bytes()
}

/// The messages an event stream delivers, read as the SSE specification says: lines end at
/// CRLF, LF or CR; `data` fields join with LF; a blank line (or the end) dispatches.
fn sse_messages(bytes: &[u8]) -> Vec<Value> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Vec::new();
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut messages = Vec::new();
    let mut data: Option<String> = None;
    let mut dispatch = |data: &mut Option<String>| {
        if let Some(data) = data.take()
            && let Ok(value) = serde_json::from_str::<Value>(&data)
        {
            messages.push(value);
        }
    };
    let mut rest = text;
    while !rest.is_empty() {
        let end = rest.find(['\r', '\n']).unwrap_or(rest.len());
        let line = &rest[..end];
        rest = &rest[end..];
        rest = rest
            .strip_prefix("\r\n")
            .or_else(|| rest.strip_prefix('\r'))
            .or_else(|| rest.strip_prefix('\n'))
            .unwrap_or(rest);
        if line.is_empty() {
            dispatch(&mut data);
            continue;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        if field == "data" {
            let data = data.get_or_insert_with(String::new);
            if !data.is_empty() {
                data.push('\n');
            }
            data.push_str(value);
        }
    }
    dispatch(&mut data);
    messages
}

/// The messages a client reads from a body with this content type.
fn client_messages(content_type: Option<&HeaderValue>, bytes: &[u8]) -> Vec<Value> {
    let media = content_type.and_then(|v| v.to_str().ok()).map(|v| {
        v.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    });
    let values = if media.as_deref() == Some("text/event-stream") {
        sse_messages(bytes)
    } else {
        serde_json::from_slice::<Value>(bytes).into_iter().collect()
    };
    values
        .into_iter()
        .flat_map(|value| match value {
            Value::Array(items) => items,
            other => vec![other],
        })
        .collect()
}

/// The entries of a listing answer (`None` when the message answers no listing asked for).
fn listing<'a>(message: &'a Value, asked: &[(Value, usize)]) -> Option<(usize, Vec<&'a Value>)> {
    let id = message.get("id")?;
    let (_, kind) = asked.iter().find(|(asked, _)| asked == id)?;
    let key = ["resources", "tools", "prompts"][*kind];
    let entries = message.get("result")?.get(key)?.as_array()?;
    Some((*kind, entries.iter().collect()))
}

fn entry_name(kind: usize, entry: &Value) -> Option<&str> {
    entry.get(if kind == 0 { "uri" } else { "name" })?.as_str()
}

fn allowed(fixture: &Fixture, principal: &Principal, kind: usize, name: &str) -> bool {
    let mut attributes = RequestAttributes::default();
    attributes.method = Some(METHODS[kind].to_owned());
    // The layer's own mapping (of the default endpoint): `ctx://{id}` is the context `{id}`.
    let mapped = fixture.endpoint.uri_mapping().to_id(name).ok();
    let (action, target) = match (kind, &mapped) {
        (0, Some(id)) => (Action::Read, Target::Context(id.as_str())),
        (0, None) => (Action::Read, Target::Resource(name)),
        (1, _) => (Action::Call, Target::Tool(name)),
        _ => (Action::Read, Target::Prompt(name)),
    };
    fixture
        .policy
        .explain(principal, action, target, &attributes)
        .is_allowed()
}

fuzz_target!(|input: Input| {
    let fixture = fixture();
    let principal = principal(input.principal);
    let asked: Vec<(Value, usize)> = input
        .asked
        .iter()
        .take(4)
        .enumerate()
        .map(|(i, method)| (asked_id(i), usize::from(*method) % 3))
        .collect();
    if asked.is_empty() {
        return;
    }
    let calls: Vec<Value> = asked
        .iter()
        .map(|(id, kind)| json!({"jsonrpc": "2.0", "id": id, "method": METHODS[*kind], "params": {}}))
        .collect();
    let request_body = if calls.len() == 1 {
        calls[0].clone()
    } else {
        Value::Array(calls)
    };
    let mut request = Request::post("/mcp")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream")
        .body(Full::from(serde_json::to_vec(&request_body).unwrap()))
        .unwrap();
    request.extensions_mut().insert(principal.clone());

    let content_type = HeaderValue::from_static(
        CONTENT_TYPES[usize::from(input.content_type) % CONTENT_TYPES.len()],
    );
    let sse = content_type.as_bytes().starts_with(b"text/event-stream");
    let inner_body = Bytes::from(body(&input.answer, sse, asked.len()));
    let inner_messages = client_messages(Some(&content_type), &inner_body);
    let answer = (content_type.clone(), inner_body);
    let inner = service_fn(move |_request: Request<RequestBody<Full<Bytes>>>| {
        let (content_type, body) = answer.clone();
        async move {
            let mut response = Response::new(Full::new(body));
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, content_type);
            Ok::<_, Infallible>(response)
        }
    });
    let service = fixture.layer.layer(inner);
    let (status, headers, body) = fixture.runtime.block_on(async move {
        let response = service.oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        (parts.status, parts.headers, body)
    });
    assert!(
        status.is_success() || status == StatusCode::BAD_GATEWAY,
        "status {status}"
    );
    if !status.is_success() {
        return;
    }
    let messages = client_messages(headers.get(header::CONTENT_TYPE), &body);
    for message in &messages {
        let Some((kind, entries)) = listing(message, &asked) else {
            continue;
        };
        for entry in entries {
            if let Some(name) = entry_name(kind, entry) {
                assert!(
                    allowed(fixture, &principal, kind, name),
                    "{principal:?} was shown {name:?}, which the policy denies: {message}"
                );
            }
        }
    }
    // Only denied entries go: each listing answer is the inner one, filtered.
    if messages.len() == inner_messages.len() {
        for (sent, received) in inner_messages.iter().zip(&messages) {
            let (Some((kind, before)), Some((_, after))) =
                (listing(sent, &asked), listing(received, &asked))
            else {
                continue;
            };
            let expected: Vec<&Value> = before
                .into_iter()
                .filter(|entry| {
                    entry_name(kind, entry)
                        .is_some_and(|name| allowed(fixture, &principal, kind, name))
                })
                .collect();
            assert_eq!(expected, after, "the filter removed an allowed entry");
        }
    }
});
