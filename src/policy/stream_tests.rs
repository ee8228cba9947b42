//! The policy in front of reads answered as event streams: the labels the source gives a
//! slow context are checked before any of its content is sent.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use tower::{Layer, ServiceExt};

use super::{Policy, PolicyHandle, PolicyLayer};
use crate::context::{ContextEntry, ContextId, ContextSource, SourceRequest, source_fn};
use crate::mcp::{AsyncGeneration, Endpoint, McpService};
use crate::principal::{AuthMethod, Principal};

/// Guests read what is public; the source marks `hr/**` confidential on top.
const POLICY: &str = r#"
roles = ["guest"]
[labels]
"**" = "public"
[[rules]]
id = "public-reads"
effect = "allow"
roles = ["guest"]
actions = ["read"]
contexts = ["**"]
[rules.when]
sensitivity = ["public"]
"#;

/// A source taking a minute for every read.
fn slow_source() -> impl ContextSource {
    source_fn(|id: ContextId, _request: SourceRequest| async move {
        tokio::time::sleep(Duration::from_secs(60)).await;
        let entry = ContextEntry::text("report", "markdown", "secret numbers");
        Ok(if id.as_str().starts_with("hr/") {
            entry.with_label("confidential")
        } else {
            entry
        })
    })
}

fn read(uri: &str, token: Option<&str>) -> Request<Full<Bytes>> {
    let mut params = json!({ "uri": uri });
    if let Some(token) = token {
        params["_meta"] = json!({ "progressToken": token });
    }
    let body = json!({ "jsonrpc": "2.0", "id": 7, "method": "resources/read", "params": params });
    let mut request = Request::post("/mcp")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .body(Full::from(serde_json::to_vec(&body).unwrap()))
        .unwrap();
    request
        .extensions_mut()
        .insert(Principal::new("gus", AuthMethod::ApiKey).with_role("guest"));
    request
}

/// The response's status, content type and body text.
async fn send<S>(service: &S, request: Request<Full<Bytes>>) -> (StatusCode, String, String)
where
    S: tower::Service<
            Request<Full<Bytes>>,
            Response = http::Response<crate::error::BodyOrEnvelope<crate::mcp::ResponseBody>>,
        > + Clone,
    S::Error: std::fmt::Debug,
{
    let response = service.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        content_type,
        String::from_utf8(bytes.to_vec()).unwrap(),
    )
}

/// The message of the last event of a stream.
fn last_event(text: &str) -> Value {
    let data = text
        .split("\n\n")
        .filter(|event| !event.is_empty())
        .last()
        .and_then(|event| event.split_once("data: "))
        .map(|(_, data)| data)
        .unwrap();
    serde_json::from_str(data).unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_slow_label_denied_context_ends_its_stream_with_the_policy_refusal() {
    let endpoint = Endpoint::builder()
        .async_generation(AsyncGeneration::new())
        .build()
        .unwrap();
    let policy = PolicyHandle::new(Policy::from_toml(POLICY).unwrap());
    let service =
        PolicyLayer::new(policy).layer(McpService::with_endpoint(slow_source(), endpoint));

    // Public: the stream ends with the contents.
    let (status, content_type, text) = send(&service, read("ctx://docs/report", Some("a"))).await;
    assert_eq!(
        (status, content_type.as_str()),
        (StatusCode::OK, "text/event-stream")
    );
    assert!(text.contains("notifications/progress"));
    assert_eq!(
        last_event(&text)["result"]["contents"][0]["text"],
        "secret numbers"
    );

    // Confidential by the source's label, learnt only at the end: the error, no content.
    let (status, content_type, text) = send(&service, read("ctx://hr/salaries", Some("b"))).await;
    assert_eq!(
        (status, content_type.as_str()),
        (StatusCode::OK, "text/event-stream")
    );
    assert!(text.contains("notifications/progress"));
    assert!(!text.contains("secret numbers"), "{text}");
    let streamed = last_event(&text);
    assert_eq!(streamed["id"], 7);
    assert!(streamed.get("result").is_none(), "{streamed}");

    // The same read answered whole (pending, then the poll) gets the same refusal.
    let (_, _, pending) = send(&service, read("ctx://hr/salaries", None)).await;
    assert!(pending.contains("\"contents\":[]"), "{pending}");
    let (mut status, mut whole) = (StatusCode::OK, pending);
    for _poll in 0..60 {
        if !whole.contains("\"contents\":[]") {
            break;
        }
        (status, _, whole) = send(&service, read("ctx://hr/salaries", None)).await;
    }
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(!whole.contains("secret numbers"));
    let whole: Value = serde_json::from_str(&whole).unwrap();
    assert_eq!(streamed, whole);
    assert_eq!(streamed["error"]["data"]["code"], "FORBIDDEN", "{streamed}");
}
