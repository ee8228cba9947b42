use std::fmt::Write as _;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use tower::ServiceExt;

use super::*;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;
use hmac::Mac;

const SECRET: &str = "0123456789abcdef0123456789abcdef-test";
const NOW: u64 = 1_700_000_000;

/// The shell one-liner of the `InvalidationWebhook` documentation, verbatim.
const ONE_LINER: &str = r#"t=$(date +%s); body='{"ids":["a/b"]}'; sig=$(printf '%s.%s' "$t" "$body" | openssl dgst -sha256 -hmac "$MCP_WEBHOOK_SECRET" -hex | sed 's/^.* //'); curl -X POST http://127.0.0.1:3000/cache/invalidate -H 'Content-Type: application/json' -H "X-Bastion-Signature: t=$t,v1=$sig" -d "$body""#;

fn fixed_clock() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW)
}

type Calls = Arc<Mutex<Vec<InvalidationRequest>>>;

fn webhook() -> (InvalidationWebhook, Calls) {
    let calls = Calls::default();
    let seen = Arc::clone(&calls);
    let webhook = InvalidationWebhook::new(SECRET, move |request| {
        seen.lock().unwrap().push(request.clone());
        request.ids.len() + request.prefixes.len()
    })
    .unwrap()
    .with_clock(fixed_clock);
    (webhook, calls)
}

fn sign(secret: &str, t: u64, body: &str) -> String {
    WebhookSecret::new(secret).unwrap().sign(t, body.as_bytes())
}

fn request(signature: Option<&str>, body: &str) -> Request<Full<Bytes>> {
    let mut builder = Request::post("/cache/invalidate").header("content-type", "application/json");
    if let Some(signature) = signature {
        builder = builder.header(SIGNATURE_HEADER, signature);
    }
    builder
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap()
}

fn signed(body: &str) -> Request<Full<Bytes>> {
    request(Some(&sign(SECRET, NOW, body)), body)
}

async fn send(
    webhook: &InvalidationWebhook,
    request: Request<Full<Bytes>>,
) -> (StatusCode, HeaderMap, Value) {
    let response = webhook.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (parts.status, parts.headers, json)
}

/// Sends a request that must be refused with `status`; the closure must not be called.
async fn refused(request: Request<Full<Bytes>>, status: StatusCode) -> Value {
    let (webhook, calls) = webhook();
    let (got, _, body) = send(&webhook, request).await;
    assert_eq!(got, status, "{body}");
    assert!(calls.lock().unwrap().is_empty(), "invalidated on a refusal");
    body
}

#[tokio::test]
async fn valid_signature_invalidates() {
    let (webhook, calls) = webhook();
    let body = r#"{"ids":["a/b","a/c"],"prefixes":["docs/"]}"#;
    let (status, headers, json) = send(&webhook, signed(body)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(json, serde_json::json!({ "invalidated": 3 }));
    let calls = calls.lock().unwrap();
    assert_eq!(
        *calls,
        [InvalidationRequest::default()
            .with_ids(["a/b", "a/c"])
            .with_prefixes(["docs/"])]
    );
}

#[tokio::test]
async fn members_may_be_absent_and_parameters_allowed() {
    let (webhook, calls) = webhook();
    let (status, _, json) = send(&webhook, signed("{}")).await;
    assert_eq!(
        (status, json),
        (StatusCode::OK, serde_json::json!({ "invalidated": 0 }))
    );
    let body = r#"{"prefixes":["x/"]}"#;
    let mut request = signed(body);
    request.headers_mut().insert(
        "content-type",
        "Application/JSON; charset=utf-8".parse().unwrap(),
    );
    let (status, _, _) = send(&webhook, request).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(calls.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn wrong_secret_tampered_body_or_timestamp_is_invalid() {
    let body = r#"{"ids":["a/b"]}"#;
    let other = sign("another-secret-of-at-least-32-bytes!", NOW, body);
    let json = refused(request(Some(&other), body), StatusCode::UNAUTHORIZED).await;
    assert_eq!(json["code"], "UNAUTHORIZED");
    assert_eq!(json["message"], "signature invalid");

    let genuine = sign(SECRET, NOW, body);
    let json = refused(
        request(Some(&genuine), r#"{"ids":["a/c"]}"#),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(json["message"], "signature invalid");

    let moved = genuine.replace(&format!("t={NOW}"), &format!("t={}", NOW - 1));
    let json = refused(request(Some(&moved), body), StatusCode::UNAUTHORIZED).await;
    assert_eq!(json["message"], "signature invalid");

    // Leading zeros are a different signed text.
    let padded = genuine.replace("t=", "t=0");
    refused(request(Some(&padded), body), StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn missing_header_is_unauthorized_with_a_challenge() {
    let (webhook, calls) = webhook();
    let (status, headers, json) = send(&webhook, request(None, "{}")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(json["code"], "UNAUTHORIZED");
    assert!(headers.contains_key("www-authenticate"));
    assert!(calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn malformed_headers_are_bad_requests() {
    let body = "{}";
    let good = sign(SECRET, NOW, body);
    let mac = good.split_once(",v1=").unwrap().1.to_owned();
    let cases = [
        format!("t={NOW}"),
        format!("v1={mac}"),
        format!("t={NOW},v1={}", &mac[..63]),
        format!("t={NOW},v1={}", &mac[..62]),
        format!("t={NOW},v1={}zz", &mac[..62]),
        format!("t={NOW},t={NOW},v1={mac}"),
        format!("t={NOW},v1={mac},v1={mac}"),
        format!("t=+{NOW},v1={mac}"),
        format!("t=-1,v1={mac}"),
        format!("t=,v1={mac}"),
        format!("t=99999999999999999999,v1={mac}"),
        format!("t={NOW},v1={mac},"),
        format!("t={NOW};v1={mac}"),
        format!("t={NOW},v 1=x,v1={mac}"),
        String::new(),
        "garbage".to_owned(),
    ];
    for case in cases {
        let json = refused(request(Some(&case), body), StatusCode::BAD_REQUEST).await;
        assert_eq!(json["code"], "BAD_REQUEST", "{case}");
        let message = json["message"].as_str().unwrap();
        assert!(
            message.starts_with("malformed X-Bastion-Signature header"),
            "{case}: {message}"
        );
        assert!(!message.contains(&mac), "{case}: {message}");
    }

    // Two headers, each valid alone.
    let mut twice = request(Some(&good), body);
    twice
        .headers_mut()
        .append(SIGNATURE_HEADER, good.parse().unwrap());
    refused(twice, StatusCode::BAD_REQUEST).await;

    // Tolerated: whitespace around elements, unknown schemes, upper-case hex.
    let (t, v1) = good.split_once(',').unwrap();
    for variant in [
        format!("{t} , {v1}"),
        format!("{v1},v0=abc,{t}"),
        format!("{t},v1={}", mac.to_ascii_uppercase()),
    ] {
        // A fresh memory per variant: the MAC is the same each time.
        let (webhook, _) = webhook();
        let (status, _, json) = send(&webhook, request(Some(&variant), body)).await;
        assert_eq!(status, StatusCode::OK, "{variant}: {json}");
    }
}

#[tokio::test]
async fn timestamps_outside_the_window_are_expired() {
    let body = r#"{"ids":["a/b"]}"#;
    for t in [NOW - 301, NOW + 301, 0, 9_999_999_999_999_999_999] {
        let json = refused(
            request(Some(&sign(SECRET, t, body)), body),
            StatusCode::UNAUTHORIZED,
        )
        .await;
        assert_eq!(json["message"], "signature expired", "t={t}");
    }
    // The edges are inside.
    for t in [NOW - 300, NOW + 300] {
        let (webhook, calls) = webhook();
        let (status, _, _) = send(&webhook, request(Some(&sign(SECRET, t, body)), body)).await;
        assert_eq!(status, StatusCode::OK, "t={t}");
        assert_eq!(calls.lock().unwrap().len(), 1);
    }
    // A narrower window.
    let (webhook, calls) = webhook();
    let webhook = webhook.window(Duration::from_secs(10));
    let (status, _, _) = send(&webhook, request(Some(&sign(SECRET, NOW - 11, body)), body)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn replays_are_refused_across_clones() {
    let (webhook, calls) = webhook();
    let body = r#"{"ids":["a/b"]}"#;
    let (status, _, _) = send(&webhook, signed(body)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, json) = send(&webhook.clone(), signed(body)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(json["message"], "signature already used");
    // Spelled differently, it is still the same signature.
    let signature = sign(SECRET, NOW, body);
    let (t, v1) = signature.split_once(',').unwrap();
    for variant in [
        format!("{v1} , {t}"),
        signature
            .to_ascii_uppercase()
            .replace("T=", "t=")
            .replace("V1=", "v1="),
    ] {
        let (status, _, json) = send(&webhook, request(Some(&variant), body)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{variant}");
        assert_eq!(json["message"], "signature already used");
    }
    assert_eq!(calls.lock().unwrap().len(), 1);
    // Same body, another second: a new signature.
    let again = request(Some(&sign(SECRET, NOW + 1, body)), body);
    assert_eq!(send(&webhook, again).await.0, StatusCode::OK);
}

#[test]
fn seen_forgets_expired_and_survives_a_clock_stepping_back() {
    let header = WebhookSecret::new(SECRET).unwrap().sign(700, b"{}");
    let signature = Signature::parse(header.as_bytes()).unwrap();
    let mut seen = Seen::default();
    assert!(seen.record(&signature, 1000, 300, 10).is_ok());
    assert!(matches!(
        seen.record(&signature, 1000, 300, 10),
        Err(Refused::Signature(WebhookError::Replayed))
    ));
    // One second later it is outside the window: forgotten, and refused as expired.
    assert!(matches!(
        seen.record(&signature, 1001, 300, 10),
        Err(Refused::Signature(WebhookError::Expired))
    ));
    assert!(seen.entries.is_empty());
    // The clock steps back into the window: still refused.
    assert!(matches!(
        seen.record(&signature, 900, 300, 10),
        Err(Refused::Signature(WebhookError::Expired))
    ));
}

#[tokio::test]
async fn a_full_replay_memory_answers_429_never_forgets_early() {
    let (webhook, calls) = webhook();
    let webhook = webhook.replay_capacity(1);
    assert_eq!(
        send(&webhook, signed(r#"{"ids":["a"]}"#)).await.0,
        StatusCode::OK
    );
    let (status, headers, json) = send(&webhook, signed(r#"{"ids":["b"]}"#)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(json["code"], "RATE_LIMITED");
    assert_eq!(headers["retry-after"], "301");
    assert_eq!(calls.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let ids: Vec<String> = (0..10_000).map(|i| format!("context/{i:08}")).collect();
    let body = serde_json::json!({ "ids": ids }).to_string();
    assert!(body.len() > DEFAULT_MAX_BODY_BYTES);
    let json = refused(signed(&body), StatusCode::PAYLOAD_TOO_LARGE).await;
    assert_eq!(json["code"], "PAYLOAD_TOO_LARGE");

    // Declared too large before a byte is read.
    let mut declared = signed("{}");
    declared
        .headers_mut()
        .insert("content-length", "65537".parse().unwrap());
    refused(declared, StatusCode::PAYLOAD_TOO_LARGE).await;

    // A configured limit.
    let (webhook, calls) = webhook();
    let webhook = webhook.max_body_bytes(8);
    let (status, _, _) = send(&webhook, signed(r#"{"ids":["a/b"]}"#)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn bad_bodies_are_bad_requests() {
    let too_many: Vec<String> = (0..=DEFAULT_MAX_KEYS).map(|i| i.to_string()).collect();
    let too_many = serde_json::json!({ "ids": too_many[..600], "prefixes": too_many[600..] });
    for body in [
        "{",
        "not json",
        "[]",
        r#"[["a/b"],["c/"]]"#,
        r#"{"ids":["a"],"extra":1}"#,
        r#"{"ids":["a"],"ids":["b"]}"#,
        r#"{"ids":null}"#,
        r#"{"ids":[1]}"#,
        r#"{"ids":"a/b"}"#,
        &too_many.to_string(),
    ] {
        let json = refused(signed(body), StatusCode::BAD_REQUEST).await;
        assert_eq!(json["code"], "BAD_REQUEST", "{body}");
    }
    // Exactly the limit is fine.
    let (webhook, _) = webhook();
    let webhook = webhook.max_keys(2);
    assert_eq!(
        send(&webhook, signed(r#"{"ids":["a"],"prefixes":["b"]}"#))
            .await
            .0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn other_methods_and_media_types_are_refused() {
    for method in ["GET", "PUT", "DELETE", "HEAD", "OPTIONS"] {
        let mut request = signed("{}");
        *request.method_mut() = method.parse().unwrap();
        let (webhook, calls) = webhook();
        let (status, headers, _) = send(&webhook, request).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
        assert_eq!(headers["allow"], "POST");
        assert!(calls.lock().unwrap().is_empty());
    }
    for media in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let mut request = signed("{}");
        request.headers_mut().remove("content-type");
        if let Some(media) = media {
            request
                .headers_mut()
                .insert("content-type", media.parse().unwrap());
        }
        refused(request, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    }
}

#[test]
fn secrets_never_show() {
    let secret = WebhookSecret::new(SECRET).unwrap();
    assert!(!format!("{secret:?}").contains("0123"));
    let (webhook, _) = webhook();
    assert!(!format!("{webhook:?}").contains("0123"));
    let err = WebhookSecret::new("0123456789").unwrap_err();
    assert!(!err.to_string().contains("0123"), "{err}");
    assert!(InvalidationWebhook::new([0u8; 31], |_| 0).is_err());
    assert!(InvalidationWebhook::new([0u8; 32], |_| 0).is_ok());
}

#[test]
fn verify_signature_is_pure() {
    let secret = WebhookSecret::new(SECRET).unwrap();
    let header = secret.sign(NOW, b"{}");
    let now = fixed_clock();
    for _ in 0..2 {
        assert_eq!(
            verify_signature(&secret, header.as_bytes(), b"{}", now),
            Ok(())
        );
    }
    assert_eq!(
        verify_signature(&secret, b"t=1,v1=00", b"{}", now),
        Err(WebhookError::Malformed("v1 must be 64 hex digits"))
    );
    // Before the epoch counts as 0: expired, never a panic.
    assert_eq!(
        verify_signature(
            &secret,
            header.as_bytes(),
            b"{}",
            UNIX_EPOCH - Duration::from_secs(1)
        ),
        Err(WebhookError::Expired)
    );
    for err in [
        WebhookError::Missing,
        WebhookError::Malformed("x"),
        WebhookError::Invalid,
        WebhookError::Expired,
        WebhookError::Replayed,
    ] {
        let text = err.to_string();
        assert_eq!(
            text,
            text.to_lowercase()
                .replace("x-bastion-signature", "X-Bastion-Signature")
        );
    }
}

/// The one-liner of the `InvalidationWebhook` documentation, run as written: `openssl` computes the
/// signature, and `curl` is replaced by a shell function printing its arguments, which are
/// then sent to the webhook in memory. The docs must quote the same line.
#[tokio::test]
async fn the_documented_shell_one_liner_is_accepted() {
    let docs = include_str!("../webhook.rs");
    assert!(
        docs.contains(&format!("/// {ONE_LINER}\n")),
        "the InvalidationWebhook docs no longer quote the tested one-liner"
    );

    let calls = Calls::default();
    let recorded = Arc::clone(&calls);
    let webhook = InvalidationWebhook::new(SECRET, move |request| {
        recorded.lock().unwrap().push(request.clone());
        request.ids.len()
    })
    .unwrap();

    let openssl = Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    let (headers, body) = if openssl {
        let script = format!("curl() {{ printf '%s\\n' \"$@\"; }}; {ONE_LINER}");
        let output = Command::new("sh")
            .arg("-c")
            .arg(script)
            .env("MCP_WEBHOOK_SECRET", SECRET)
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        let stdout = String::from_utf8(output.stdout).unwrap();
        let args: Vec<&str> = stdout.lines().collect();
        assert_eq!(
            &args[..3],
            ["-X", "POST", "http://127.0.0.1:3000/cache/invalidate"]
        );
        let mut headers = Vec::new();
        let mut body = None;
        for pair in args[3..].chunks(2) {
            match pair {
                ["-H", header] => {
                    let (name, value) = header.split_once(": ").unwrap();
                    headers.push((name.to_owned(), value.to_owned()));
                }
                ["-d", data] => body = Some((*data).to_owned()),
                other => panic!("unexpected curl arguments {other:?}"),
            }
        }
        (headers, body.unwrap())
    } else {
        // No openssl here: what the line computes, step by step, in Rust.
        eprintln!("openssl is not on PATH: checking the one-liner's algorithm in Rust only");
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let body = r#"{"ids":["a/b"]}"#.to_owned();
        (one_liner_in_rust(t, &body), body)
    };

    // Whichever way it was made, the signature is HMAC-SHA256 over "<t>.<body>", in hex.
    let signature = &headers
        .iter()
        .find(|(n, _)| n == "X-Bastion-Signature")
        .unwrap()
        .1;
    let (t, v1) = signature
        .strip_prefix("t=")
        .unwrap()
        .split_once(",v1=")
        .unwrap();
    let expected = hmac_hex(&format!("{t}.{body}"));
    assert_eq!(v1, expected);

    let mut request = Request::post("/cache/invalidate");
    for (name, value) in &headers {
        request = request.header(name, value);
    }
    let request = request.body(Full::new(Bytes::from(body))).unwrap();
    let (status, _, json) = send(&webhook, request).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json, serde_json::json!({ "invalidated": 1 }));
    assert_eq!(
        *calls.lock().unwrap(),
        [InvalidationRequest::default().with_ids(["a/b"])]
    );
}

/// What the one-liner sends, computed in Rust: `sig=$(printf '%s.%s' "$t" "$body" | openssl
/// dgst -sha256 -hmac "$MCP_WEBHOOK_SECRET" -hex | sed 's/^.* //')` is the lower-case hex
/// HMAC-SHA256 of "<t>.<body>" keyed with the secret's bytes.
fn one_liner_in_rust(t: u64, body: &str) -> Vec<(String, String)> {
    vec![
        ("Content-Type".to_owned(), "application/json".to_owned()),
        (
            "X-Bastion-Signature".to_owned(),
            format!("t={t},v1={}", hmac_hex(&format!("{t}.{body}"))),
        ),
    ]
}

fn hmac_hex(text: &str) -> String {
    let mut mac = HmacSha256::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(text.as_bytes());
    let mut hex = String::new();
    for byte in mac.finalize().into_bytes() {
        write!(hex, "{byte:02x}").unwrap();
    }
    hex
}
