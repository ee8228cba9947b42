//! A bare server for load comparisons: answers every request with the bytes the demo server
//! sends for `GET /context/public-docs/getting-started`, through no layer at all.
//!
//! ```text
//! cargo run --release --example bare -- 127.0.0.1:3001
//! ```

use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response, header};
use http_body_util::Full;

const BODY: &str = r##"{"contextId":"public-docs/getting-started","version":"1.0.0","timestamp":"2026-11-27T00:00:00.000Z","data":{"type":"markdown","format":"text","content":"# Getting Started\nWelcome to our public documentation!"}}"##;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3001".to_owned());
    let service = tower::service_fn(|_request: Request<mcp_bastion::server::TimedBody>| async {
        let mut response = Response::new(Full::new(Bytes::from_static(BODY.as_bytes())));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/json"),
        );
        Ok::<_, Infallible>(response)
    });
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("bare server on http://{addr}");
    mcp_bastion::server::serve(listener, service, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
