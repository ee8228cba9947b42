use std::time::Duration;

use http::{HeaderValue, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};

use super::*;

async fn body_json(response: http::Response<FullBody>) -> Value {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn rest_envelope_has_the_seed_shape() {
    let rejection = Rejection::new(
        ErrorCode::Forbidden,
        "Not authorized to access this context.",
    )
    .with_details(json!({"contextId": "project-alpha/dependency-graph"}));
    let response = rejection.to_response(Dialect::Rest, Some("req-1"));
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    assert_eq!(
        body_json(response).await,
        json!({
            "code": "FORBIDDEN",
            "message": "Not authorized to access this context.",
            "details": {"contextId": "project-alpha/dependency-graph"},
            "requestId": "req-1"
        })
    );
}

#[tokio::test]
async fn json_rpc_envelope_carries_id_code_and_stable_code() {
    let plain = Rejection::new(ErrorCode::Unauthorized, "Authentication required.");
    let body = body_json(plain.to_response(Dialect::JsonRpc, Some("r"))).await;
    assert_eq!(
        body,
        json!({"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Authentication required.",
            "data":{"code":"UNAUTHORIZED","requestId":"r"}}})
    );
    let precise = Rejection::bad_request("Resource not found").with_json_rpc(JsonRpcError {
        id: json!(5),
        code: jsonrpc::RESOURCE_NOT_FOUND,
        data: Some(json!({"uri": "ctx://x"})),
    });
    let body = body_json(precise.to_response(Dialect::JsonRpc, None)).await;
    assert_eq!(body["id"], 5);
    assert_eq!(body["error"]["code"], -32002);
    assert_eq!(body["error"]["data"], json!({"uri": "ctx://x"}));
}

#[test]
fn grpc_is_trailers_only_with_status_and_encoded_message() {
    let response = Rejection::new(ErrorCode::RateLimited, "quota 100% used\n")
        .to_response(Dialect::Grpc, None);
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/grpc");
    assert_eq!(response.headers()["grpc-status"], "8");
    assert_eq!(response.headers()["grpc-message"], "quota 100%25 used%0A");
    let codes = [
        (ErrorCode::Unauthorized, "16"),
        (ErrorCode::Forbidden, "7"),
        (ErrorCode::Unavailable, "14"),
        (ErrorCode::Timeout, "4"),
        (ErrorCode::Internal, "13"),
    ];
    for (code, expected) in codes {
        let response = Rejection::new(code, "x").to_response(Dialect::Grpc, None);
        assert_eq!(response.headers()["grpc-status"], expected, "{code}");
    }
}

#[test]
fn headers_ride_along() {
    let response = Rejection::new(ErrorCode::RateLimited, "slow down")
        .with_retry_after(Duration::from_millis(1500))
        .with_www_authenticate(HeaderValue::from_static("Bearer"))
        .into_response(Dialect::Rest);
    assert_eq!(response.headers()[header::RETRY_AFTER], "2");
    assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
    assert_eq!(
        response.extensions().get::<Rejection>().unwrap().code(),
        ErrorCode::RateLimited
    );
    let response = Rejection::method_not_allowed("GET, HEAD").into_response(Dialect::Rest);
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()[header::ALLOW], "GET, HEAD");
}

#[test]
fn status_mapping_round_trips_for_every_code() {
    let codes = [
        ErrorCode::BadRequest,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::NotAcceptable,
        ErrorCode::PayloadTooLarge,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::RateLimited,
        ErrorCode::Internal,
        ErrorCode::BadGateway,
        ErrorCode::Unavailable,
        ErrorCode::Timeout,
    ];
    for code in codes {
        assert_eq!(ErrorCode::from_status(code.status()), code, "{code}");
        assert!(!(-32099..=-32020).contains(&code.json_rpc_code()));
    }
    assert_eq!(
        ErrorCode::from_status(StatusCode::IM_A_TEAPOT),
        ErrorCode::BadRequest
    );
    assert_eq!(
        ErrorCode::from_status(StatusCode::NOT_IMPLEMENTED),
        ErrorCode::Internal
    );
    assert_eq!(Rejection::not_found("gone").to_string(), "not_found: gone");
}
