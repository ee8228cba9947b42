use std::convert::Infallible;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use tower::{Layer, Service, ServiceExt, service_fn};

use super::*;
use crate::error::{BodyOrEnvelope, Dialect, ErrorCode, Rejection};

type Body = Full<Bytes>;

async fn json_of<B>(response: Response<BodyOrEnvelope<B>>) -> Value
where
    B: http_body::Body<Data = Bytes>,
    B::Error: std::fmt::Debug,
{
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap()
}

fn request(path: &str) -> Request<Body> {
    Request::get(path).body(Body::default()).unwrap()
}

#[tokio::test]
async fn timeouts_overload_and_errors_become_envelopes() {
    let cases: Vec<(tower::BoxError, StatusCode, &str)> = vec![
        (
            Box::new(tower::timeout::error::Elapsed::new()),
            StatusCode::GATEWAY_TIMEOUT,
            "TIMEOUT",
        ),
        (
            Box::new(tower::load_shed::error::Overloaded::new()),
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
        ),
        (
            "database password is hunter2".into(),
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
        ),
    ];
    for (error, status, code) in cases {
        let mut error = Some(error);
        let inner = service_fn(move |_req: Request<Body>| {
            let error = error.take().unwrap();
            async move { Err::<Response<Body>, _>(error) }
        });
        let response = ErrorEnvelopeLayer::new()
            .layer(inner)
            .oneshot(request("/context/x"))
            .await
            .unwrap();
        assert_eq!(response.status(), status);
        let body = json_of(response).await;
        assert_eq!(body["code"], code);
        assert!(
            !body.to_string().contains("hunter2"),
            "internals leaked: {body}"
        );
    }
}

#[tokio::test]
async fn panics_become_500_and_the_service_keeps_serving() {
    let inner = service_fn(|req: Request<Body>| async move {
        assert!(req.uri().path() != "/boom", "secret panic detail");
        Ok::<_, Infallible>(Response::new(Body::from("fine")))
    });
    let mut service = ErrorEnvelopeLayer::new().layer(inner);
    let response = service
        .ready()
        .await
        .unwrap()
        .call(request("/boom"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body = json_of(response).await;
    assert_eq!(
        body,
        json!({"code": "INTERNAL", "message": "internal server error"})
    );
    let response = service
        .ready()
        .await
        .unwrap()
        .call(request("/ok"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_panic_in_call_itself_is_caught() {
    #[derive(Clone)]
    struct PanicsInCall;
    impl Service<Request<Body>> for PanicsInCall {
        type Response = Response<Body>;
        type Error = Infallible;
        type Future = std::future::Ready<Result<Response<Body>, Infallible>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }
        fn call(&mut self, _: Request<Body>) -> Self::Future {
            panic!("synchronous panic")
        }
    }
    let response = ErrorEnvelopeLayer::new()
        .layer(PanicsInCall)
        .oneshot(request("/mcp"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body = json_of(response).await;
    assert_eq!(body["jsonrpc"], "2.0");
    assert_eq!(body["error"]["code"], -32603);
}

#[tokio::test]
async fn plain_error_responses_are_normalised_keeping_headers() {
    let inner = service_fn(|_req: Request<Body>| async {
        let mut response = Response::new(Body::from("Method Not Allowed"));
        *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
        response
            .headers_mut()
            .insert(header::ALLOW, "GET".parse().unwrap());
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
        Ok::<_, Infallible>(response)
    });
    let response = ErrorEnvelopeLayer::new()
        .layer(inner)
        .oneshot(request("/other"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()[header::ALLOW], "GET");
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    assert_eq!(
        response.extensions().get::<Rejection>().unwrap().code(),
        ErrorCode::MethodNotAllowed
    );
    let body = json_of(response).await;
    assert_eq!(
        body,
        json!({"code": "METHOD_NOT_ALLOWED", "message": "Method Not Allowed"})
    );
}

#[tokio::test]
async fn json_and_success_responses_pass_through() {
    let inner = service_fn(|req: Request<Body>| async move {
        let mut response = Response::new(Body::from(
            r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32600,"message":"x"}}"#,
        ));
        if req.uri().path() == "/mcp" {
            *response.status_mut() = StatusCode::BAD_REQUEST;
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
        }
        Ok::<_, Infallible>(response)
    });
    let service = ErrorEnvelopeLayer::new().layer(inner);
    let response = service.clone().oneshot(request("/mcp")).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json_of(response).await["error"]["message"], "x");
    let response = service.oneshot(request("/")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn request_ids_are_quoted_in_envelopes() {
    let inner = service_fn(|_req: Request<Body>| async {
        Ok::<_, Infallible>(
            Rejection::not_found("Context 'x' not found.").into_response(Dialect::Rest),
        )
    });
    let mut req = request("/context/x");
    req.headers_mut()
        .insert("x-request-id", "abc-123".parse().unwrap());
    let response = ErrorEnvelopeLayer::new()
        .layer(inner)
        .oneshot(req)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body = json_of(response).await;
    assert_eq!(body["requestId"], "abc-123");
    assert_eq!(body["code"], "NOT_FOUND");
}

#[tokio::test]
async fn grpc_requests_get_grpc_status() {
    let inner = service_fn(|_req: Request<Body>| async {
        Err::<Response<Body>, _>(tower::BoxError::from("boom"))
    });
    let mut req = request("/pkg.Svc/Method");
    req.headers_mut()
        .insert(header::CONTENT_TYPE, "application/grpc".parse().unwrap());
    let response = ErrorEnvelopeLayer::new()
        .layer(inner)
        .oneshot(req)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["grpc-status"], "13");
}

#[tokio::test]
async fn readiness_errors_are_answered_not_propagated() {
    #[derive(Clone)]
    struct NeverReady;
    impl Service<Request<Body>> for NeverReady {
        type Response = Response<Body>;
        type Error = tower::BoxError;
        type Future = std::future::Ready<Result<Response<Body>, tower::BoxError>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), tower::BoxError>> {
            Poll::Ready(Err("backend gone".into()))
        }
        fn call(&mut self, _: Request<Body>) -> Self::Future {
            unreachable!("never called after a readiness error")
        }
    }
    let response = ErrorEnvelopeLayer::new()
        .layer(NeverReady)
        .oneshot(request("/context/a"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
}
