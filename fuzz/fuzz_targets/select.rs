//! Selectors from clients: `Selector::parse` and `Selector::apply` on fuzzed `select`
//! values, limits and contents, and the same values through `McpService` as a REST query.
//!
//! Invariants: nothing panics; an applied selection is never larger than the context (plus
//! the keys naming several pointers); one pointer answers exactly the value
//! `serde_json::Value::pointer` finds; the endpoint never answers 5xx, and refuses (400)
//! exactly the selections the parser or the projection refuse.
#![no_main]

use std::sync::OnceLock;

use arbitrary::Arbitrary;
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use libfuzzer_sys::fuzz_target;
use mcp_bastion::context::{ContextEntry, ContextId, Selector, StaticSource, Target};
use mcp_bastion::mcp::McpService;
use serde_json::Value;
use tokio::runtime::Runtime;
use tower::ServiceExt;

const DOCUMENT: &str = r#"{"builds":[{"id":1,"status":"passed","tags":["a","b"]},{"id":2,"status":"failed"}],"a/b":{"m~n":[0,1,2]},"":"empty key","text":"héllo\nwörld\n"}"#;

fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    })
}

#[derive(Arbitrary, Debug)]
struct Input {
    select: Vec<String>,
    limit: Option<u16>,
    /// Select from this text (as JSON when `json`) instead of the fixed document.
    content: Option<(String, bool)>,
}

fuzz_target!(|input: Input| {
    let entry = match &input.content {
        Some((text, true)) => ContextEntry::text("doc", "json", text.clone()),
        Some((text, false)) => ContextEntry::text("doc", "text", text.clone()),
        None => ContextEntry::text("doc", "json", DOCUMENT),
    };
    let parsed = Selector::parse(
        input.select.iter().map(String::as_str),
        input.limit.map(u64::from),
    );
    let applied = match &parsed {
        Ok(Some(selector)) => Some(selector.apply(&entry)),
        _ => None,
    };
    if let (Ok(Some(selector)), Some(Ok(selected))) = (&parsed, &applied) {
        let keys: usize = match selector.target() {
            Target::Pointers(pointers) if pointers.len() > 1 => {
                pointers
                    .iter()
                    .map(|p| serde_json::to_string(p).unwrap().len() + 2)
                    .sum::<usize>()
                    + 2
            }
            _ => 0,
        };
        assert!(selected.entry.data.content.len() <= entry.data.content.len() + keys);
        assert_ne!(selected.entry.version, entry.version);
        if let (Target::Pointers(pointers), None) = (selector.target(), selector.page())
            && let [pointer] = pointers.as_slice()
            && !pointer.is_empty()
        {
            let document: Value =
                serde_json::from_str(entry.data.content.as_text().unwrap()).unwrap();
            let expected = document
                .pointer(pointer)
                .expect("a selected pointer names a value");
            let got: Value =
                serde_json::from_str(selected.entry.data.content.as_text().unwrap()).unwrap();
            assert_eq!(&got, expected);
        }
    }
    // The same through the endpoint.
    let mut query: Vec<String> = input
        .select
        .iter()
        .map(|value| {
            format!(
                "select={}",
                percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC)
            )
        })
        .collect();
    if let Some(limit) = input.limit {
        query.push(format!("limit={limit}"));
    }
    let uri = format!("/context/doc?{}", query.join("&"));
    let Ok(request) = Request::get(uri).body(Full::<Bytes>::default()) else {
        return;
    };
    let service =
        McpService::new(StaticSource::new().with_context(ContextId::parse("doc").unwrap(), entry));
    runtime().block_on(async {
        let response = match service.oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert!(
            !status.is_server_error(),
            "{status}: {}",
            String::from_utf8_lossy(&body)
        );
        let refused = parsed.is_err() || matches!(applied, Some(Err(_)));
        assert_eq!(
            status == StatusCode::BAD_REQUEST,
            refused,
            "{status} for {input:?}: {}",
            String::from_utf8_lossy(&body)
        );
    });
});
