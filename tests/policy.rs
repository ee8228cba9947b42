//! PolicyLayer through the recommended stack: the seed's worked example on REST and MCP (both
//! eras), list filtering, scopes, gRPC, reloads, and a property test that enforcement equals
//! the decision function.

mod common;

use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use mcp_bastion::auth::{ApiKey, ApiKeyStore, AuthLayer, ResourceMetadata};
use mcp_bastion::context::{ContextEntry, ContextId, StaticSource};
use mcp_bastion::mcp::Endpoint;
use mcp_bastion::policy::{
    Action, Decision, Policy, PolicyHandle, PolicyLayer, RequestAttributes, Target,
};
use mcp_bastion::principal::{AuthMethod, Principal};
use mcp_bastion::stack::Stack;
use serde_json::{Value, json};
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

type Body = Full<Bytes>;
const SEED_POLICY: &str = include_str!("../examples/policy.toml");
const RESOURCE: &str = "http://127.0.0.1:3000/mcp";

fn stack(
    policy: PolicyHandle,
    keys: ApiKeyStore,
    source: StaticSource,
) -> impl Service<
    Request<Body>,
    Response = Response<impl http_body::Body<Data = Bytes, Error: std::fmt::Debug>>,
    Error = Infallible,
> + Clone {
    let endpoint = Endpoint::builder()
        .resource_metadata(
            ResourceMetadata::new(RESOURCE)
                .unwrap()
                .with_scopes(["context:read"]),
        )
        .build()
        .unwrap();
    Stack::new(endpoint)
        .auth(AuthLayer::builder().api_keys(keys))
        .policy(policy)
        .serve_source(source)
        .unwrap()
}

fn seed_stack() -> impl Service<
    Request<Body>,
    Response = Response<impl http_body::Body<Data = Bytes, Error: std::fmt::Debug>>,
    Error = Infallible,
> + Clone {
    stack(
        PolicyHandle::new(Policy::from_toml(SEED_POLICY).unwrap()),
        common::seed_keys(),
        common::seed_source(),
    )
}

struct Reply {
    status: StatusCode,
    headers: http::HeaderMap,
    body: Value,
    decision: Option<Decision>,
}

async fn send<S, B>(service: S, request: Request<Body>) -> Reply
where
    S: Service<Request<Body>, Response = Response<B>, Error = Infallible>,
    B: http_body::Body<Data = Bytes, Error: std::fmt::Debug>,
{
    let response = service.oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    Reply {
        status: parts.status,
        decision: parts.extensions.get::<Decision>().cloned(),
        headers: parts.headers,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

fn rest(path: &str, token: Option<&str>) -> Request<Body> {
    let mut builder = Request::get(path);
    if let Some(token) = token {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    builder.body(Body::default()).unwrap()
}

fn mcp(token: Option<&str>, modern: bool, method: &str, params: Value) -> Request<Body> {
    let mut params = params;
    let mut builder = Request::post("/mcp")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream");
    if modern {
        params["_meta"] = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}});
        builder = builder
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", method);
        if let Some(uri) = params.get("uri").and_then(Value::as_str) {
            builder = builder.header("mcp-name", uri);
        }
    } else {
        builder = builder.header("mcp-protocol-version", "2025-11-25");
    }
    if let Some(token) = token {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let body = json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params});
    builder.body(Body::from(body.to_string())).unwrap()
}

/// The `key` strings of the objects in a JSON array.
fn strings(list: &Value, key: &str) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|item| item[key].as_str().unwrap().to_owned())
        .collect()
}

/// A REST batch read with a bearer key.
fn batch_read(body: &str, token: &str) -> Request<Body> {
    Request::post("/context")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::from(body.to_owned()))
        .unwrap()
}

#[tokio::test]
async fn the_seed_worked_example_over_rest() {
    let alpha = "/context/project-alpha/dependency-graph";
    let reply = send(seed_stack(), rest(alpha, None)).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.body["code"], "UNAUTHORIZED");
    assert!(reply.headers.contains_key(header::WWW_AUTHENTICATE));

    let reply = send(seed_stack(), rest(alpha, Some("user-guest-token"))).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    // The seed's body, plus the request id the stack gave the request.
    let request_id = reply.headers["x-request-id"].to_str().unwrap();
    assert_eq!(
        reply.body,
        json!({"code": "FORBIDDEN", "message": "Not authorized to access this context.",
               "requestId": request_id})
    );
    let decision = reply.decision.unwrap();
    assert_eq!(
        (decision.subject.as_str(), decision.rule),
        ("guestUser", None)
    );

    let reply = send(seed_stack(), rest(alpha, Some("user-dev-token"))).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["data"]["content"], common::GRAPH);
    assert_eq!(
        reply.decision.unwrap().rule.as_deref(),
        Some("project-alpha-team")
    );

    let reply = send(
        seed_stack(),
        rest(
            "/context/public-docs/getting-started",
            Some("user-guest-token"),
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["data"]["content"], common::GETTING_STARTED);
}

#[tokio::test]
async fn the_seed_worked_example_over_mcp_both_eras() {
    for modern in [false, true] {
        let read = |token| {
            mcp(
                token,
                modern,
                "resources/read",
                json!({"uri": "ctx://project-alpha/dependency-graph"}),
            )
        };
        let reply = send(seed_stack(), read(None)).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "modern={modern}");
        assert!(
            reply.headers[header::WWW_AUTHENTICATE]
                .to_str()
                .unwrap()
                .contains("resource_metadata=")
        );
        assert_eq!(reply.body["jsonrpc"], "2.0");

        let reply = send(seed_stack(), read(Some("user-guest-token"))).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "modern={modern}");
        assert_eq!(reply.body["id"], 7);
        assert_eq!(reply.body["error"]["data"]["code"], "FORBIDDEN");

        let reply = send(seed_stack(), read(Some("user-dev-token"))).await;
        assert_eq!(reply.status, StatusCode::OK, "modern={modern}");
        assert_eq!(reply.body["result"]["contents"][0]["text"], common::GRAPH);

        let docs = mcp(
            Some("user-guest-token"),
            modern,
            "resources/read",
            json!({"uri": "ctx://public-docs/getting-started"}),
        );
        let reply = send(seed_stack(), docs).await;
        assert_eq!(reply.status, StatusCode::OK, "modern={modern}");
        assert_eq!(
            reply.body["result"]["contents"][0]["text"],
            common::GETTING_STARTED
        );

        // A header mismatch is refused before any policy decision (2026-07-28).
        if modern {
            let mut request = read(Some("user-dev-token"));
            request.headers_mut().insert(
                "mcp-name",
                "ctx://public-docs/getting-started".parse().unwrap(),
            );
            let reply = send(seed_stack(), request).await;
            assert_eq!(reply.status, StatusCode::BAD_REQUEST);
            assert_eq!(reply.body["error"]["code"], -32020);
        }
    }
}

#[tokio::test]
async fn listings_never_show_what_may_not_be_read() {
    let guest = Some("user-guest-token");
    let reply = send(seed_stack(), rest("/context", guest)).await;
    let ids = strings(&reply.body["items"], "contextId");
    assert_eq!(ids, ["public-docs/getting-started"]);
    let reply = send(seed_stack(), rest("/context", Some("user-dev-token"))).await;
    assert_eq!(reply.body["items"].as_array().unwrap().len(), 2);

    let batch = batch_read(
        r#"{"ids":["project-alpha/dependency-graph","public-docs/getting-started"]}"#,
        "user-guest-token",
    );
    let reply = send(seed_stack(), batch).await;
    let results = reply.body["results"].as_array().unwrap();
    assert_eq!(results[0]["status"], 403);
    assert!(
        results[0].get("context").is_none(),
        "no content of a denied context"
    );
    assert_eq!(results[1]["status"], 200);

    for modern in [false, true] {
        let reply = send(
            seed_stack(),
            mcp(guest, modern, "resources/list", json!({})),
        )
        .await;
        let uris = strings(&reply.body["result"]["resources"], "uri");
        assert_eq!(
            uris,
            ["ctx://public-docs/getting-started"],
            "modern={modern}"
        );
    }
}

#[tokio::test]
async fn missing_scopes_get_insufficient_scope() {
    let policy = Policy::from_toml(
        r#"
        roles = ["developer"]
        [[rules]]
        id = "scoped"
        effect = "allow"
        roles = ["developer"]
        actions = ["read"]
        contexts = ["**"]
        scopes = ["context:read", "context:admin"]
    "#,
    )
    .unwrap();
    let reply = send(
        stack(
            PolicyHandle::new(policy),
            common::seed_keys(),
            common::seed_source(),
        ),
        rest(
            "/context/public-docs/getting-started",
            Some("user-dev-token"),
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let challenge = reply.headers[header::WWW_AUTHENTICATE].to_str().unwrap();
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );
    assert!(
        challenge.contains("scope=\"context:read context:admin\""),
        "{challenge}"
    );

    let keys = ApiKeyStore::new([ApiKey::new(
        "scoped-dev-token",
        Principal::new("scopedDev", AuthMethod::ApiKey)
            .with_role("developer")
            .with_scope("context:read")
            .with_scope("context:admin"),
    )
    .unwrap()])
    .unwrap();
    let policy = PolicyHandle::new(
        Policy::from_toml(
            r#"
        roles = ["developer"]
        [[rules]]
        id = "scoped"
        effect = "allow"
        roles = ["developer"]
        actions = ["read"]
        contexts = ["**"]
        scopes = ["context:read", "context:admin"]
    "#,
        )
        .unwrap(),
    );
    let reply = send(
        stack(policy, keys, common::seed_source()),
        rest(
            "/context/public-docs/getting-started",
            Some("scoped-dev-token"),
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn reloads_take_effect_and_invalid_ones_are_refused() {
    let handle = PolicyHandle::new(Policy::from_toml(SEED_POLICY).unwrap());
    let service = stack(handle.clone(), common::seed_keys(), common::seed_source());
    let alpha = || {
        rest(
            "/context/project-alpha/dependency-graph",
            Some("user-guest-token"),
        )
    };
    assert_eq!(
        send(service.clone(), alpha()).await.status,
        StatusCode::FORBIDDEN
    );
    handle
        .reload_toml(
            r#"
        roles = ["guest"]
        [[rules]]
        id = "open-house"
        effect = "allow"
        roles = ["guest"]
        actions = ["read"]
        contexts = ["**"]
    "#,
        )
        .unwrap();
    assert_eq!(send(service.clone(), alpha()).await.status, StatusCode::OK);
    let err = handle.reload_toml("roles = [\"guest\"]\n[[rules]]\nid = \"x\"\neffect = \"allow\"\nroles = [\"nobody\"]\nactions = [\"read\"]\ncontexts = [\"**\"]").unwrap_err();
    assert!(err.to_string().contains("unknown role \"nobody\""), "{err}");
    assert_eq!(
        send(service, alpha()).await.status,
        StatusCode::OK,
        "the old policy keeps serving"
    );
}

#[tokio::test]
async fn grpc_methods_are_authorized_by_path() {
    let policy = PolicyHandle::new(
        Policy::from_toml(
            r#"
        roles = ["developer"]
        [[rules]]
        id = "reads"
        effect = "allow"
        roles = ["developer"]
        actions = ["call"]
        grpc = ["/ctx.v1.Contexts/Get*"]
    "#,
        )
        .unwrap(),
    );
    let grpc_server = service_fn(|_req: Request<mcp_bastion::mcp::RequestBody<Body>>| async {
        let mut response = Response::new(Body::default());
        response
            .headers_mut()
            .insert("grpc-status", "0".parse().unwrap());
        Ok::<_, Infallible>(response)
    });
    let service = ServiceBuilder::new()
        .layer(
            AuthLayer::builder()
                .api_keys(common::seed_keys())
                .build()
                .unwrap(),
        )
        .layer(PolicyLayer::new(policy))
        .service(grpc_server);
    let call = |path: &str| {
        Request::post(path)
            .header(header::CONTENT_TYPE, "application/grpc")
            .header(header::AUTHORIZATION, "Bearer user-dev-token")
            .body(Body::default())
            .unwrap()
    };
    let allowed = service
        .clone()
        .oneshot(call("/ctx.v1.Contexts/GetContext"))
        .await
        .unwrap();
    assert_eq!(allowed.headers()["grpc-status"], "0");
    let denied = service
        .oneshot(call("/ctx.v1.Contexts/DeleteContext"))
        .await
        .unwrap();
    assert_eq!(denied.status(), StatusCode::OK);
    assert_eq!(denied.headers()["grpc-status"], "7", "PERMISSION_DENIED");
}

mod property {
    use super::*;
    use proptest::prelude::*;

    const SEGMENTS: [&str; 3] = ["a", "b", "c"];

    fn ids() -> Vec<String> {
        let mut ids = Vec::new();
        for x in SEGMENTS {
            for y in SEGMENTS {
                ids.push(format!("{x}/{y}"));
            }
        }
        ids
    }

    fn pattern() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("**".to_owned()),
            proptest::sample::select(SEGMENTS.to_vec()).prop_map(|x| format!("{x}/**")),
            proptest::sample::select(SEGMENTS.to_vec()).prop_map(|y| format!("*/{y}")),
            (
                proptest::sample::select(SEGMENTS.to_vec()),
                proptest::sample::select(SEGMENTS.to_vec())
            )
                .prop_map(|(x, y)| format!("{x}/{y}")),
        ]
    }

    fn rule() -> impl Strategy<Value = String> {
        (any::<bool>(), proptest::sample::subsequence(vec!["r1", "r2", "r3"], 1..=3), pattern())
            .prop_map(|(allow, roles, pattern)| {
                let roles: Vec<String> = roles.iter().map(|r| format!("\"{r}\"")).collect();
                format!(
                    "effect = \"{}\"\nroles = [{}]\nactions = [\"read\", \"list\"]\ncontexts = [\"{pattern}\"]\n",
                    if allow { "allow" } else { "deny" },
                    roles.join(", ")
                )
            })
    }

    fn policy_text(rules: &[String]) -> String {
        let rules: Vec<String> = rules
            .iter()
            .enumerate()
            .map(|(i, rule)| format!("[[rules]]\nid = \"rule-{i}\"\n{rule}"))
            .collect();
        format!("roles = [\"r1\", \"r2\", \"r3\"]\n{}", rules.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        #[test]
        fn enforcement_equals_the_decision_function(
            rules in proptest::collection::vec(rule(), 0..6),
            roles in proptest::sample::subsequence(vec!["r1", "r2", "r3"], 0..=3),
        ) {
            let text = policy_text(&rules);
            // The stack's deadline needs the time driver, as every server runtime has.
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .unwrap();
            runtime.block_on(async {
                let policy = Policy::from_toml(&text).unwrap();
                let mut principal = Principal::new("p", AuthMethod::ApiKey);
                for role in &roles {
                    principal = principal.with_role(*role);
                }
                let keys = ApiKeyStore::new([ApiKey::new("property-key", principal.clone()).unwrap()]).unwrap();
                let mut source = StaticSource::new();
                for id in ids() {
                    source = source.with_context(ContextId::parse(&id).unwrap(), ContextEntry::text("t", "text", id.clone()));
                }
                let expected: Vec<(String, bool)> = ids()
                    .into_iter()
                    .map(|id| {
                        let allowed = policy.decide(&principal, Action::Read, Target::Context(&id), &RequestAttributes::default()).is_allowed();
                        (id, allowed)
                    })
                    .collect();
                let service = stack(PolicyHandle::new(policy), keys, source);
                for (id, allowed) in &expected {
                    let reply = send(service.clone(), rest(&format!("/context/{id}"), Some("property-key"))).await;
                    prop_assert_eq!(reply.status == StatusCode::OK, *allowed, "{} under\n{}", id, text);
                }
                let listed = send(service.clone(), rest("/context?limit=100", Some("property-key"))).await;
                let listed: Vec<String> = listed.body["items"].as_array().unwrap().iter().map(|i| i["contextId"].as_str().unwrap().to_owned()).collect();
                let readable: Vec<String> = expected.iter().filter(|(_, a)| *a).map(|(id, _)| id.clone()).collect();
                prop_assert_eq!(&listed, &readable, "listing under\n{}", text);
                let mcp_list = send(service, mcp(Some("property-key"), false, "resources/list", json!({}))).await;
                let uris: Vec<String> = mcp_list.body["result"]["resources"].as_array().unwrap().iter().map(|r| r["uri"].as_str().unwrap().trim_start_matches("ctx://").to_owned()).collect();
                prop_assert_eq!(&uris, &readable);
                Ok(())
            })?;
        }
    }
}

#[tokio::test]
async fn labels_from_the_source_are_enforced_too() {
    // The policy labels everything "public"; the source marks one context confidential.
    let source = common::seed_source().with_context(
        ContextId::parse("public-docs/salaries").unwrap(),
        ContextEntry::text("table", "text", "secret numbers").with_label("confidential"),
    );
    let service = stack(
        PolicyHandle::new(Policy::from_toml(SEED_POLICY).unwrap()),
        common::seed_keys(),
        source,
    );
    let guest = Some("user-guest-token");

    let reply = send(
        service.clone(),
        rest("/context/public-docs/salaries", guest),
    )
    .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(!reply.body.to_string().contains("secret numbers"));
    // Selections too, refused or not: which ranges fail must not tell the content's shape.
    for query in [
        "lines%3D1-1",
        "lines%3D9-",
        "bytes%3D0-5",
        "bytes%3D99-",
        "/x",
    ] {
        let path = format!("/context/public-docs/salaries?select={query}");
        let reply = send(service.clone(), rest(&path, guest)).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{query}");
        for modern in [false, true] {
            let params =
                json!({"uri": "ctx://public-docs/salaries", "select": query.replace("%3D", "=")});
            let reply = send(
                service.clone(),
                mcp(guest, modern, "resources/read", params),
            )
            .await;
            assert_eq!(
                reply.status,
                StatusCode::FORBIDDEN,
                "{query} modern={modern}"
            );
        }
    }
    assert_eq!(
        send(
            service.clone(),
            rest("/context/public-docs/getting-started", guest)
        )
        .await
        .status,
        StatusCode::OK
    );

    for modern in [false, true] {
        let read = mcp(
            guest,
            modern,
            "resources/read",
            json!({"uri": "ctx://public-docs/salaries"}),
        );
        let reply = send(service.clone(), read).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "modern={modern}");
        assert!(!reply.body.to_string().contains("secret numbers"));
        let listed = send(
            service.clone(),
            mcp(guest, modern, "resources/list", json!({})),
        )
        .await;
        let uris = strings(&listed.body["result"]["resources"], "uri");
        assert_eq!(
            uris,
            ["ctx://public-docs/getting-started"],
            "modern={modern}"
        );
    }
    let listed = send(service.clone(), rest("/context", guest)).await;
    let ids = strings(&listed.body["items"], "contextId");
    assert_eq!(ids, ["public-docs/getting-started"]);
    let batch = batch_read(r#"{"ids":["public-docs/salaries"]}"#, "user-guest-token");
    let reply = send(service.clone(), batch).await;
    assert_eq!(reply.body["results"][0]["status"], 403);
    assert!(!reply.body.to_string().contains("secret numbers"));

    // A developer is bound by the same label rule ("everything-else" needs public only).
    let reply = send(
        service,
        rest("/context/public-docs/salaries", Some("user-dev-token")),
    )
    .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
}

/// An inner server's listing is filtered only when its answers name the calls exactly: an
/// answer to id `1` sent as `1.0` or `"1"` would pass a loose client's matching unfiltered,
/// so it fails closed; lone-CR event streams are read line by line like any client reads them.
#[tokio::test]
async fn listing_answers_must_name_their_call_exactly() {
    let policy = PolicyHandle::new(
        Policy::from_toml(
            r#"
        roles = ["developer"]
        [[rules]]
        id = "one-tool"
        effect = "allow"
        roles = ["developer"]
        actions = ["call"]
        tools = ["allowed"]
    "#,
        )
        .unwrap(),
    );
    let answer = |body: &'static str, content_type: &'static str| {
        let inner = service_fn(
            move |_req: Request<mcp_bastion::mcp::RequestBody<Body>>| async move {
                let mut response = Response::new(Body::from(body));
                response
                    .headers_mut()
                    .insert(header::CONTENT_TYPE, content_type.parse().unwrap());
                Ok::<_, Infallible>(response)
            },
        );
        ServiceBuilder::new()
            .layer(
                AuthLayer::builder()
                    .api_keys(common::seed_keys())
                    .build()
                    .unwrap(),
            )
            .layer(PolicyLayer::new(policy.clone()))
            .service(inner)
    };
    let list = || {
        Request::post("/mcp")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json, text/event-stream")
            .header(header::AUTHORIZATION, "Bearer user-dev-token")
            .body(Body::from(
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
            ))
            .unwrap()
    };
    let tools = r#"{"tools":[{"name":"allowed"},{"name":"secret"}]}"#;
    for id in ["1.0", "\"1\""] {
        let body: &'static str = Box::leak(
            format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{tools}}}"#).into_boxed_str(),
        );
        let response = answer(body, "application/json")
            .oneshot(list())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_GATEWAY, "id {id}");
        let text = response.into_body().collect().await.unwrap().to_bytes();
        assert!(!String::from_utf8_lossy(&text).contains("secret"));
    }
    let exact: &'static str =
        Box::leak(format!(r#"{{"jsonrpc":"2.0","id":1,"result":{tools}}}"#).into_boxed_str());
    let response = answer(exact, "application/json")
        .oneshot(list())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&text);
    assert!(
        text.contains("allowed") && !text.contains("secret"),
        "{text}"
    );
    let lone_cr: &'static str = Box::leak(
        format!("event: message\rdata: {{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{tools}}}\r\r")
            .into_boxed_str(),
    );
    let response = answer(lone_cr, "text/event-stream")
        .oneshot(list())
        .await
        .unwrap();
    let text = response.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&text);
    assert!(
        text.contains("allowed") && !text.contains("secret"),
        "{text}"
    );
}

#[tokio::test]
async fn a_refused_path_is_not_called_a_context() {
    // Behind the stack an unknown path reaches the policy as a path (default deny): the
    // refusal says so, and nothing about contexts.
    for (path, method) in [("/nowhere", "GET"), ("/admin/reset", "POST")] {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, "Bearer user-dev-token")
            .body(Body::default())
            .unwrap();
        let reply = send(seed_stack(), request).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(
            reply.body["message"], "Not authorized to access this path.",
            "{path}"
        );
        assert_eq!(reply.decision.unwrap().target, format!("path:{path}"));
    }
    // A context keeps its message.
    let reply = send(
        seed_stack(),
        rest(
            "/context/project-alpha/dependency-graph",
            Some("user-guest-token"),
        ),
    )
    .await;
    assert_eq!(
        reply.body["message"],
        "Not authorized to access this context."
    );
}

#[tokio::test]
async fn a_refused_method_without_a_target_is_called_a_method() {
    let request = mcp(
        Some("user-dev-token"),
        false,
        "completion/complete",
        json!({"ref": {"type": "ref/resource", "uri": "ctx://x"}, "argument": {"name": "a", "value": "b"}}),
    );
    let reply = send(seed_stack(), request).await;
    assert_eq!(
        reply.body["error"]["message"], "Not authorized to call this method.",
        "{}",
        reply.body
    );
}
