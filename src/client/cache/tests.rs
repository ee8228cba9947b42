//! The client cache against an in-memory server that honours `If-None-Match`, in paused time.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use tower::{Layer, ServiceExt, service_fn};

use super::*;
use crate::error::BoxError;

type Body = Full<Bytes>;

/// What the server saw of each request: its `If-None-Match`, if any.
type Seen = Arc<Mutex<Vec<Option<String>>>>;

/// A server answering `body_for(credential)` with an ETag and `cache_control`; 304 when the
/// request's `If-None-Match` matches.
fn server(
    seen: &Seen,
    cache_control: &'static str,
) -> impl tower::Service<Request<Body>, Response = Response<Body>, Error = BoxError, Future = impl Send>
+ Clone
+ Send
+ 'static {
    let seen = Arc::clone(seen);
    service_fn(move |request: Request<Body>| {
        let seen = Arc::clone(&seen);
        async move {
            let who = request
                .headers()
                .get(header::AUTHORIZATION)
                .map_or("anyone", |value| value.to_str().unwrap())
                .to_owned();
            let condition = request
                .headers()
                .get(header::IF_NONE_MATCH)
                .map(|value| value.to_str().unwrap().to_owned());
            seen.lock().unwrap().push(condition.clone());
            let etag = format!("\"{}\"", who.len());
            let mut response = if condition.as_deref() == Some(etag.as_str()) {
                let mut response = Response::new(Body::default());
                *response.status_mut() = StatusCode::NOT_MODIFIED;
                response
            } else {
                let body = format!("private answer for {who}");
                let mut response = Response::new(Body::from(body.clone()));
                response
                    .headers_mut()
                    .insert(header::CONTENT_LENGTH, body.len().into());
                response
            };
            response
                .headers_mut()
                .insert(header::ETAG, HeaderValue::from_str(&etag).unwrap());
            response.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static(cache_control),
            );
            Ok::<_, BoxError>(response)
        }
    })
}

fn get(token: &str) -> Request<Body> {
    Request::get("http://server/context/docs/a")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::default())
        .unwrap()
}

async fn body<B>(response: Response<B>) -> String
where
    B: http_body::Body<Data = Bytes, Error: std::fmt::Debug>,
{
    String::from_utf8(
        response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap()
}

#[tokio::test(start_paused = true)]
async fn fresh_answers_come_from_memory_and_stale_ones_are_revalidated() {
    let seen = Seen::default();
    let client = ClientCacheLayer::builder()
        .build()
        .unwrap()
        .layer(server(&seen, "private, max-age=60"));
    let first = client.clone().oneshot(get("alice-token")).await.unwrap();
    assert_eq!(body(first).await, "private answer for Bearer alice-token");
    let hit = client.clone().oneshot(get("alice-token")).await.unwrap();
    assert_eq!(hit.status(), StatusCode::OK);
    assert_eq!(body(hit).await, "private answer for Bearer alice-token");
    assert_eq!(seen.lock().unwrap().len(), 1, "the hit sent nothing");

    tokio::time::advance(Duration::from_secs(61)).await;
    let revalidated = client.clone().oneshot(get("alice-token")).await.unwrap();
    assert_eq!(revalidated.status(), StatusCode::OK);
    assert_eq!(
        body(revalidated).await,
        "private answer for Bearer alice-token"
    );
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen, [None, Some("\"18\"".to_owned())]);
}

#[tokio::test(start_paused = true)]
async fn a_304_renews_freshness() {
    let seen = Seen::default();
    let client = ClientCacheLayer::builder()
        .build()
        .unwrap()
        .layer(server(&seen, "max-age=10"));
    let _ = client.clone().oneshot(get("t")).await.unwrap();
    tokio::time::advance(Duration::from_secs(11)).await;
    let _ = client.clone().oneshot(get("t")).await.unwrap();
    // Fresh again for 10 s after the 304.
    let _ = client.clone().oneshot(get("t")).await.unwrap();
    assert_eq!(seen.lock().unwrap().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn two_credentials_never_share_an_entry() {
    let seen = Seen::default();
    let client = ClientCacheLayer::builder()
        .build()
        .unwrap()
        .layer(server(&seen, "public, max-age=60"));
    let alice = client.clone().oneshot(get("alice-token")).await.unwrap();
    let bob = client.clone().oneshot(get("bob-token-x")).await.unwrap();
    assert_eq!(body(alice).await, "private answer for Bearer alice-token");
    assert_eq!(body(bob).await, "private answer for Bearer bob-token-x");
    let anonymous = Request::get("http://server/context/docs/a")
        .body(Body::default())
        .unwrap();
    let anonymous = client.clone().oneshot(anonymous).await.unwrap();
    assert_eq!(body(anonymous).await, "private answer for anyone");
    assert_eq!(seen.lock().unwrap().len(), 3);
}

#[tokio::test(start_paused = true)]
async fn no_store_and_oversized_answers_are_not_kept() {
    let seen = Seen::default();
    let client = ClientCacheLayer::builder()
        .build()
        .unwrap()
        .layer(server(&seen, "no-store"));
    for _ in 0..2 {
        let _ = client.clone().oneshot(get("t")).await.unwrap();
    }
    assert_eq!(seen.lock().unwrap().len(), 2);

    let seen = Seen::default();
    let client = ClientCacheLayer::builder()
        .max_entry_bytes(10)
        .build()
        .unwrap()
        .layer(server(&seen, "max-age=60"));
    for _ in 0..2 {
        let response = client.clone().oneshot(get("t")).await.unwrap();
        assert_eq!(body(response).await, "private answer for Bearer t");
    }
    assert_eq!(seen.lock().unwrap().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_body_longer_than_its_content_length_is_an_error_not_memory() {
    let client = ClientCacheLayer::builder()
        .max_entry_bytes(1024)
        .max_bytes(4096)
        .build()
        .unwrap()
        .layer(service_fn(|_: Request<Body>| async {
            let mut response = Response::new(Body::from(vec![b'x'; 1 << 20]));
            response
                .headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from_static("10"));
            response.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("max-age=60"),
            );
            Ok::<_, BoxError>(response)
        }));
    assert!(client.oneshot(get("t")).await.is_err());
}

#[tokio::test(start_paused = true)]
async fn requests_with_their_own_conditions_and_other_methods_pass_through() {
    let seen = Seen::default();
    let client = ClientCacheLayer::builder()
        .build()
        .unwrap()
        .layer(server(&seen, "max-age=60"));
    let _ = client.clone().oneshot(get("t")).await.unwrap();
    let mut conditional = get("t");
    conditional
        .headers_mut()
        .insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"8\""));
    let answer = client.clone().oneshot(conditional).await.unwrap();
    assert_eq!(answer.status(), StatusCode::NOT_MODIFIED);
    let post = Request::post("http://server/context/docs/a")
        .header(header::AUTHORIZATION, "Bearer t")
        .body(Body::default())
        .unwrap();
    let _ = client.clone().oneshot(post).await.unwrap();
    assert_eq!(seen.lock().unwrap().len(), 3);
}

#[test]
fn the_builder_refuses_nonsense() {
    assert!(ClientCacheLayer::builder().max_entries(0).build().is_err());
    assert!(
        ClientCacheLayer::builder()
            .max_entry_bytes(0)
            .build()
            .is_err()
    );
    assert!(
        ClientCacheLayer::builder()
            .max_bytes(10)
            .max_entry_bytes(11)
            .build()
            .is_err()
    );
}

/// A server answering `body` with `Content-Length: length`, `max-age=60` and `extra` headers;
/// counts the requests it sees.
fn liar(
    calls: &Arc<Mutex<usize>>,
    length: &'static str,
    extra: &'static [(&'static str, &'static str)],
) -> impl tower::Service<Request<Body>, Response = Response<Body>, Error = BoxError, Future = impl Send>
+ Clone
+ Send
+ 'static {
    let calls = Arc::clone(calls);
    service_fn(move |request: Request<Body>| {
        let calls = Arc::clone(&calls);
        async move {
            *calls.lock().unwrap() += 1;
            let tenant = request
                .headers()
                .get("x-tenant")
                .map_or("none", |value| value.to_str().unwrap())
                .to_owned();
            let mut response = Response::new(Body::from(format!("answer for {tenant}")));
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static(length));
            headers.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("max-age=60"),
            );
            for (name, value) in extra {
                headers.insert(*name, HeaderValue::from_static(value));
            }
            Ok::<_, BoxError>(response)
        }
    })
}

#[tokio::test(start_paused = true)]
async fn a_body_shorter_than_its_content_length_is_not_kept() {
    let calls = Arc::new(Mutex::new(0));
    // "answer for none" is 15 bytes; the server promised 100.
    let client = ClientCacheLayer::builder()
        .build()
        .unwrap()
        .layer(liar(&calls, "100", &[]));
    let first = client.clone().oneshot(get("t")).await;
    assert!(first.is_err(), "a truncated answer is an error");
    let _ = client.oneshot(get("t")).await;
    assert_eq!(*calls.lock().unwrap(), 2, "a truncated answer was kept");
}

#[tokio::test(start_paused = true)]
async fn a_body_longer_than_its_content_length_but_within_the_limit_is_an_error() {
    let calls = Arc::new(Mutex::new(0));
    let client = ClientCacheLayer::builder()
        .build()
        .unwrap()
        .layer(liar(&calls, "3", &[]));
    assert!(client.clone().oneshot(get("t")).await.is_err());
    let _ = client.oneshot(get("t")).await;
    assert_eq!(*calls.lock().unwrap(), 2, "an over-long answer was kept");
}

#[tokio::test(start_paused = true)]
async fn an_answer_that_varies_on_a_header_is_not_served_to_another_value() {
    let calls = Arc::new(Mutex::new(0));
    let client = ClientCacheLayer::builder().build().unwrap().layer(liar(
        &calls,
        "18",
        &[("vary", "x-tenant")],
    ));
    let request = |tenant: &'static str| {
        let mut request = get("shared-service-token");
        request
            .headers_mut()
            .insert("x-tenant", HeaderValue::from_static(tenant));
        request
    };
    let a = client.clone().oneshot(request("alice")).await.unwrap();
    assert_eq!(body(a).await, "answer for alice");
    let b = client.oneshot(request("bobby")).await.unwrap();
    assert_eq!(body(b).await, "answer for bobby");
}

#[tokio::test(start_paused = true)]
async fn a_request_asking_for_no_cache_reaches_the_server() {
    let calls = Arc::new(Mutex::new(0));
    let client = ClientCacheLayer::builder()
        .build()
        .unwrap()
        .layer(liar(&calls, "15", &[]));
    client.clone().oneshot(get("t")).await.unwrap();
    for (name, value) in [
        ("cache-control", "no-cache"),
        ("cache-control", "max-age=0"),
        ("cache-control", "no-store"),
        ("pragma", "no-cache"),
    ] {
        let before = *calls.lock().unwrap();
        let mut request = get("t");
        request
            .headers_mut()
            .insert(name, HeaderValue::from_static(value));
        client.clone().oneshot(request).await.unwrap();
        assert_eq!(*calls.lock().unwrap(), before + 1, "{name}: {value}");
    }
}

#[tokio::test(start_paused = true)]
async fn relative_uris_for_two_hosts_do_not_share_an_entry() {
    let calls = Arc::new(Mutex::new(0));
    let client = ClientCacheLayer::builder()
        .build()
        .unwrap()
        .layer(liar(&calls, "15", &[]));
    for host in ["tenant-a.example", "tenant-b.example"] {
        let request = Request::get("/context/docs/a")
            .header(header::HOST, host)
            .body(Body::default())
            .unwrap();
        client.clone().oneshot(request).await.unwrap();
    }
    assert_eq!(*calls.lock().unwrap(), 2);
}

#[tokio::test(start_paused = true)]
async fn hostile_cache_headers_neither_panic_nor_keep_forever() {
    // Held up: absurd max-age, Age beyond max-age, many and malformed directives.
    let calls = Arc::new(Mutex::new(0));
    let client = ClientCacheLayer::builder().build().unwrap().layer(liar(
        &calls,
        "15",
        &[
            ("cache-control", "max-age=18446744073709551615"),
            ("age", "99999999999999999999999"),
        ],
    ));
    client.clone().oneshot(get("t")).await.unwrap();
    client.clone().oneshot(get("t")).await.unwrap();
    assert_eq!(*calls.lock().unwrap(), 1);
    tokio::time::advance(Duration::from_secs(366 * 24 * 3600)).await;
    client.oneshot(get("t")).await.unwrap();
    assert_eq!(*calls.lock().unwrap(), 2);

    let calls = Arc::new(Mutex::new(0));
    let client =
        ClientCacheLayer::builder()
            .build()
            .unwrap()
            .layer(liar(&calls, "15", &[("age", "120")]));
    client.clone().oneshot(get("t")).await.unwrap();
    client.oneshot(get("t")).await.unwrap();
    assert_eq!(*calls.lock().unwrap(), 2, "Age beyond max-age is stale");
}

#[tokio::test(start_paused = true)]
async fn no_credential_and_an_empty_one_or_duplicates_do_not_share() {
    // Held up: the digest covers every value, in order, and an empty one.
    let seen = Seen::default();
    let client = ClientCacheLayer::builder()
        .build()
        .unwrap()
        .layer(server(&seen, "max-age=60"));
    let bare = Request::get("http://server/context/docs/a")
        .body(Body::default())
        .unwrap();
    client.clone().oneshot(bare).await.unwrap();
    let empty = Request::get("http://server/context/docs/a")
        .header(header::AUTHORIZATION, "")
        .body(Body::default())
        .unwrap();
    client.clone().oneshot(empty).await.unwrap();
    let mut two = get("a");
    two.headers_mut()
        .append(header::AUTHORIZATION, HeaderValue::from_static("Bearer b"));
    client.clone().oneshot(two).await.unwrap();
    client.oneshot(get("a")).await.unwrap();
    assert_eq!(seen.lock().unwrap().len(), 4);
}

/// A server answering from a list: (status, etag, cache-control); notes conditions seen.
fn scripted(
    seen: &Seen,
    answers: Vec<(u16, &'static str, Option<&'static str>)>,
) -> impl tower::Service<Request<Body>, Response = Response<Body>, Error = BoxError, Future = impl Send>
+ Clone
+ Send
+ 'static {
    let seen = Arc::clone(seen);
    let answers = Arc::new(Mutex::new(std::collections::VecDeque::from(answers)));
    service_fn(move |request: Request<Body>| {
        let seen = Arc::clone(&seen);
        let answers = Arc::clone(&answers);
        async move {
            seen.lock().unwrap().push(
                request
                    .headers()
                    .get(header::IF_NONE_MATCH)
                    .map(|value| value.to_str().unwrap().to_owned()),
            );
            let (status, etag, cache_control) = answers.lock().unwrap().pop_front().unwrap();
            let mut response = if status == 200 {
                let mut response = Response::new(Body::from("v1 body"));
                response
                    .headers_mut()
                    .insert(header::CONTENT_LENGTH, HeaderValue::from_static("7"));
                response
            } else {
                Response::new(Body::default())
            };
            *response.status_mut() = StatusCode::from_u16(status).unwrap();
            response
                .headers_mut()
                .insert(header::ETAG, HeaderValue::from_static(etag));
            if let Some(cache_control) = cache_control {
                response.headers_mut().insert(
                    header::CACHE_CONTROL,
                    HeaderValue::from_static(cache_control),
                );
            }
            Ok::<_, BoxError>(response)
        }
    })
}

#[tokio::test(start_paused = true)]
async fn a_304_without_cache_control_keeps_the_stored_lifetime() {
    let seen = Seen::default();
    let client = ClientCacheLayer::builder().build().unwrap().layer(scripted(
        &seen,
        vec![(200, "\"v1\"", Some("max-age=10")), (304, "\"v1\"", None)],
    ));
    let _ = client.clone().oneshot(get("t")).await.unwrap();
    tokio::time::advance(Duration::from_secs(11)).await;
    let revalidated = client.clone().oneshot(get("t")).await.unwrap();
    assert_eq!(body(revalidated).await, "v1 body");
    // Fresh again for the stored max-age: no request.
    let hit = client.clone().oneshot(get("t")).await.unwrap();
    assert_eq!(body(hit).await, "v1 body");
    assert_eq!(seen.lock().unwrap().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_304_for_another_version_or_with_no_store_does_not_keep_the_body() {
    let seen = Seen::default();
    let client = ClientCacheLayer::builder().build().unwrap().layer(scripted(
        &seen,
        vec![
            (200, "\"v1\"", Some("max-age=10")),
            (304, "\"v2\"", Some("max-age=10")),
            (200, "\"v1\"", Some("max-age=10")),
            (304, "\"v1\"", Some("no-store")),
            (200, "\"v1\"", Some("max-age=10")),
        ],
    ));
    let _ = client.clone().oneshot(get("t")).await.unwrap();
    tokio::time::advance(Duration::from_secs(11)).await;
    // The 304 validates another version: not relabelled, the 304 is returned and the entry
    // dropped.
    let other = client.clone().oneshot(get("t")).await.unwrap();
    assert_eq!(other.status(), StatusCode::NOT_MODIFIED);
    let refetched = client.clone().oneshot(get("t")).await.unwrap();
    assert_eq!(body(refetched).await, "v1 body");
    tokio::time::advance(Duration::from_secs(11)).await;
    // A 304 that says no-store: the body serves this answer, then is gone.
    let once = client.clone().oneshot(get("t")).await.unwrap();
    assert_eq!(body(once).await, "v1 body");
    let _ = client.clone().oneshot(get("t")).await.unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        [
            None,
            Some("\"v1\"".to_owned()),
            None,
            Some("\"v1\"".to_owned()),
            None
        ]
    );
}

#[test]
fn a_vary_on_the_keyed_headers_alone_is_kept_any_other_is_not() {
    use super::store::varies_only_on_key;
    let vary = |values: &[&[u8]]| {
        let mut headers = http::HeaderMap::new();
        for value in values {
            headers.append(header::VARY, HeaderValue::from_bytes(value).unwrap());
        }
        varies_only_on_key(&headers)
    };
    assert!(vary(&[]));
    assert!(vary(&[b"authorization, X-API-Key"]));
    assert!(vary(&[b"Authorization", b"cookie,host"]));
    // A compressing server's `Vary: accept-encoding`: the key holds the encoding asked for.
    assert!(vary(&[b"authorization, x-api-key, accept-encoding"]));
    assert!(!vary(&[b"authorization, x-tenant"]));
    assert!(!vary(&[b"authorization", b"accept-language"]));
    assert!(!vary(&[b"*"]));
    assert!(!vary(&[b"authorization\xff"]));
}

#[tokio::test(start_paused = true)]
async fn no_cache_revalidates_a_fresh_entry_and_no_store_leaves_it_alone() {
    let seen = Seen::default();
    let client = ClientCacheLayer::builder()
        .build()
        .unwrap()
        .layer(server(&seen, "private, max-age=600"));
    client.clone().oneshot(get("t")).await.unwrap();
    let with = |name: &'static str, value: &'static str| {
        let mut request = get("t");
        request
            .headers_mut()
            .insert(name, HeaderValue::from_static(value));
        request
    };
    for (name, value) in [
        ("cache-control", "no-cache"),
        ("cache-control", "max-age=0"),
        ("pragma", "no-cache"),
    ] {
        let response = client.clone().oneshot(with(name, value)).await.unwrap();
        assert_eq!(
            response.extensions().get::<CacheOutcome>(),
            Some(&CacheOutcome::Revalidated),
            "{name}: {value}"
        );
        assert_eq!(body(response).await, "private answer for Bearer t");
    }
    let response = client
        .clone()
        .oneshot(with("cache-control", "no-store"))
        .await
        .unwrap();
    assert_eq!(
        response.extensions().get::<CacheOutcome>(),
        Some(&CacheOutcome::Miss)
    );
    let fresh = client.oneshot(get("t")).await.unwrap();
    assert_eq!(
        fresh.extensions().get::<CacheOutcome>(),
        Some(&CacheOutcome::Fresh)
    );
    let conditions = seen.lock().unwrap().clone();
    let etag = Some("\"8\"".to_owned());
    assert_eq!(
        conditions,
        [None, etag.clone(), etag.clone(), etag, None],
        "three revalidations, then no-store without a condition"
    );
}
