use http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::{Value, json};

use super::*;

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(*name, HeaderValue::from_str(value).unwrap());
    }
    map
}

fn modern_meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {}
    })
}

fn modern_headers(method: &str) -> Vec<(&'static str, String)> {
    vec![
        ("mcp-protocol-version", "2026-07-28".to_owned()),
        ("mcp-method", method.to_owned()),
    ]
}

fn classify(pairs: &[(&'static str, String)], body: &Value) -> Result<RpcRequest, Rejection> {
    let refs: Vec<(&'static str, &str)> = pairs.iter().map(|(n, v)| (*n, v.as_str())).collect();
    classify_rpc(&headers(&refs), &serde_json::to_vec(body).unwrap())
}

/// (HTTP status, JSON-RPC code, id) of a rejection.
fn parts(rejection: &Rejection) -> (StatusCode, i64, Value) {
    let rpc = rejection.json_rpc().expect("a JSON-RPC rejection");
    (rejection.status(), rpc.code, rpc.id.clone())
}

#[test]
fn legacy_request_defaults_to_2025_03_26() {
    let request = classify(&[], &json!({"jsonrpc":"2.0","id":1,"method":"ping"})).unwrap();
    assert_eq!(request.era, Era::Legacy);
    assert_eq!(request.version, "2025-03-26");
    assert!(!request.batch);
}

#[test]
fn legacy_header_versions_are_accepted_and_unknown_ones_refused() {
    for version in LEGACY_VERSIONS {
        let request = classify(
            &[("mcp-protocol-version", version.to_owned())],
            &json!({"jsonrpc":"2.0","id":"a","method":"resources/list"}),
        )
        .unwrap();
        assert_eq!((request.era, request.version), (Era::Legacy, version));
    }
    let err = classify(
        &[("mcp-protocol-version", "1999-01-01".to_owned())],
        &json!({"jsonrpc":"2.0","id":7,"method":"ping"}),
    )
    .unwrap_err();
    assert_eq!(parts(&err), (StatusCode::BAD_REQUEST, -32600, json!(7)));
}

#[test]
fn parse_errors_and_bad_shapes() {
    let err = classify_rpc(&HeaderMap::new(), b"{not json").unwrap_err();
    assert_eq!(parts(&err), (StatusCode::BAD_REQUEST, -32700, Value::Null));
    let cases = [
        (json!(42), Value::Null, -32600),
        (json!("x"), Value::Null, -32600),
        (
            json!({"jsonrpc":"1.0","id":1,"method":"ping"}),
            json!(1),
            -32600,
        ),
        (json!({"id":1,"method":"ping"}), json!(1), -32600),
        (
            json!({"jsonrpc":"2.0","id":null,"method":"ping"}),
            Value::Null,
            -32600,
        ),
        (
            json!({"jsonrpc":"2.0","id":1.5,"method":"ping"}),
            Value::Null,
            -32600,
        ),
        (
            json!({"jsonrpc":"2.0","id":{},"method":"ping"}),
            Value::Null,
            -32600,
        ),
        (json!({"jsonrpc":"2.0","id":1}), json!(1), -32600),
        (
            json!({"jsonrpc":"2.0","id":1,"method":""}),
            json!(1),
            -32600,
        ),
        (json!({"jsonrpc":"2.0","id":1,"method":5}), json!(1), -32600),
        (
            json!({"jsonrpc":"2.0","id":1,"method":"ping","params":[1]}),
            json!(1),
            -32602,
        ),
    ];
    for (body, id, code) in cases {
        let err = classify(&[], &body).unwrap_err();
        assert_eq!(parts(&err), (StatusCode::BAD_REQUEST, code, id), "{body}");
    }
}

#[test]
fn responses_and_notifications_are_recognised() {
    let request = classify(&[], &json!({"jsonrpc":"2.0","id":3,"result":{}})).unwrap();
    assert_eq!(request.messages, vec![RpcMessage::Response]);
    let request = classify(
        &[],
        &json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
    )
    .unwrap();
    let RpcMessage::Call(call) = &request.messages[0] else {
        panic!()
    };
    assert!(call.is_notification());
}

#[test]
fn batches_only_in_2025_03_26() {
    let batch = json!([
        {"jsonrpc":"2.0","id":1,"method":"ping"},
        {"jsonrpc":"2.0","method":"notifications/initialized"}
    ]);
    let request = classify(&[], &batch).unwrap();
    assert!(request.batch);
    assert_eq!(request.messages.len(), 2);
    let err = classify(&[("mcp-protocol-version", "2025-06-18".to_owned())], &batch).unwrap_err();
    assert_eq!(parts(&err).1, -32600);
    let err = classify(&[], &json!([])).unwrap_err();
    assert_eq!(parts(&err).1, -32600);
    let err = classify(&[], &json!([1, 2])).unwrap_err();
    assert_eq!(parts(&err).1, -32600);
    let err = classify(&modern_headers("ping"), &batch).unwrap_err();
    assert_eq!(parts(&err).0, StatusCode::BAD_REQUEST);
}

#[test]
fn targets_are_named() {
    let request = classify(
        &[],
        &json!({"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"ctx://a"}}),
    )
    .unwrap();
    let RpcMessage::Call(call) = &request.messages[0] else {
        panic!()
    };
    assert_eq!(call.target, Some(RpcTarget::Resource("ctx://a".into())));
    let request = classify(
        &[],
        &json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t"}}),
    )
    .unwrap();
    let RpcMessage::Call(call) = &request.messages[0] else {
        panic!()
    };
    assert_eq!(call.target, Some(RpcTarget::Tool("t".into())));
}

#[test]
fn modern_request_passes_every_check() {
    let mut pairs = modern_headers("resources/read");
    pairs.push(("mcp-name", "  ctx://a/b  ".to_owned()));
    let body = json!({"jsonrpc":"2.0","id":1,"method":"resources/read",
        "params":{"uri":"ctx://a/b","_meta": modern_meta()}});
    let request = classify(&pairs, &body).unwrap();
    assert_eq!((request.era, request.version), (Era::Modern, "2026-07-28"));
}

#[test]
fn modern_rules_in_order() {
    let discover = |meta: Value| json!({"jsonrpc":"2.0","id":9,"method":"server/discover","params":{"_meta": meta}});
    // Missing version header on a body that is clearly 2026-07-28.
    let err = classify(
        &[("mcp-method", "server/discover".to_owned())],
        &discover(modern_meta()),
    )
    .unwrap_err();
    assert_eq!(parts(&err), (StatusCode::BAD_REQUEST, -32020, json!(9)));
    // Missing _meta keys: -32602 naming them.
    for meta in [
        json!({}),
        json!({"io.modelcontextprotocol/protocolVersion":"2026-07-28"}),
        json!({"io.modelcontextprotocol/clientCapabilities":{}}),
    ] {
        let err =
            classify(&modern_headers("server/discover"), &discover(meta.clone())).unwrap_err();
        assert_eq!(
            parts(&err),
            (StatusCode::BAD_REQUEST, -32602, json!(9)),
            "{meta}"
        );
    }
    let no_meta = json!({"jsonrpc":"2.0","id":9,"method":"server/discover"});
    assert_eq!(
        parts(&classify(&modern_headers("server/discover"), &no_meta).unwrap_err()).1,
        -32602
    );
    // Header and _meta disagree.
    let mut meta = modern_meta();
    meta["io.modelcontextprotocol/protocolVersion"] = json!("2026-01-01");
    let err = classify(&modern_headers("server/discover"), &discover(meta.clone())).unwrap_err();
    assert_eq!(parts(&err).1, -32020);
    // Both agree on an unsupported version: -32022 with the supported list.
    let pairs = vec![
        ("mcp-protocol-version", "2026-01-01".to_owned()),
        ("mcp-method", "server/discover".to_owned()),
    ];
    let err = classify(&pairs, &discover(meta)).unwrap_err();
    assert_eq!(parts(&err), (StatusCode::BAD_REQUEST, -32022, json!(9)));
    let data = err.json_rpc().unwrap().data.clone().unwrap();
    assert_eq!(data["supported"], json!(["2026-07-28"]));
    assert_eq!(data["requested"], "2026-01-01");
}

#[test]
fn modern_method_and_name_headers_must_match() {
    let body = json!({"jsonrpc":"2.0","id":2,"method":"resources/read",
        "params":{"uri":"ctx://a","_meta": modern_meta()}});
    let cases: Vec<Vec<(&'static str, String)>> = vec![
        // Mcp-Method missing, wrong, wrong case.
        vec![
            ("mcp-protocol-version", "2026-07-28".into()),
            ("mcp-name", "ctx://a".into()),
        ],
        {
            let mut h = modern_headers("resources/list");
            h.push(("mcp-name", "ctx://a".into()));
            h
        },
        {
            let mut h = modern_headers("Resources/Read");
            h.push(("mcp-name", "ctx://a".into()));
            h
        },
        // Mcp-Name missing or different.
        modern_headers("resources/read"),
        {
            let mut h = modern_headers("resources/read");
            h.push(("mcp-name", "ctx://b".into()));
            h
        },
    ];
    for pairs in cases {
        let err = classify(&pairs, &body).unwrap_err();
        assert_eq!(
            parts(&err),
            (StatusCode::BAD_REQUEST, -32020, json!(2)),
            "{pairs:?}"
        );
    }
    // A named method without its name in the body: invalid params.
    let body =
        json!({"jsonrpc":"2.0","id":2,"method":"resources/read","params":{"_meta": modern_meta()}});
    let err = classify(&modern_headers("resources/read"), &body).unwrap_err();
    assert_eq!(parts(&err).1, -32602);
}

#[test]
fn modern_notifications_skip_request_checks() {
    let body = json!({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"_meta": modern_meta()}});
    let request = classify(&[("mcp-protocol-version", "2026-07-28".to_owned())], &body).unwrap();
    assert_eq!(request.era, Era::Modern);
}
